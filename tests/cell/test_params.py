"""Parameter validation (errors name the field, the value and the allowed range), I/O round trips."""

import numpy as np
import pytest

from cellbalance.cell import (
    CellParameters,
    Table,
    available,
    docv_dsoc,
    get_parameter_set,
    open_circuit_voltage,
    soc_from_ocv,
)
from cellbalance.errors import ParameterError, UnknownNameError


def test_negative_capacity_is_refused(simple_cell):
    with pytest.raises(ParameterError, match=r"capacity_Ah must be > 0.*got -1"):
        simple_cell.replace(capacity_Ah=-1.0)


def test_non_monotone_soc_grid_is_refused():
    with pytest.raises(ParameterError, match=r"soc must be strictly increasing; got 0.5 followed by 0.4"):
        Table.of_soc([0.0, 0.5, 0.4, 1.0], [3.0, 3.5, 3.6, 4.0], "ocv")


def test_ocv_must_cover_unit_interval(simple_cell):
    with pytest.raises(ParameterError, match=r"ocv SOC grid must cover \[0, 1\]; got \[0.1, 1\]"):
        simple_cell.replace(ocv=Table.of_soc([0.1, 1.0], [3.0, 4.2], "ocv"))


def test_ocv_must_increase(simple_cell):
    with pytest.raises(ParameterError, match="must increase strictly with SOC"):
        simple_cell.replace(ocv=Table.of_soc([0.0, 0.5, 1.0], [3.0, 3.0, 4.2], "ocv"))


def test_other_ranges(simple_cell):
    with pytest.raises(ParameterError, match=r"coulombic_efficiency must be > 0 and <= 1.*got 1.2"):
        simple_cell.replace(coulombic_efficiency=1.2)
    with pytest.raises(ParameterError, match=r"r0 must be > 0 everywhere"):
        simple_cell.replace(r0=Table.constant(-0.01, "r0"))
    with pytest.raises(ParameterError, match=r"v_max must be > 2.9"):
        simple_cell.replace(v_max=2.0)
    with pytest.raises(ParameterError, match=r"no field\(s\) \['capacity_ah'\]; closest: \{'capacity_ah': \['capacity_Ah'\]\}"):
        simple_cell.replace(capacity_ah=3.0)
    with pytest.raises(ParameterError, match=r"capacity_Ah must be > 0.*got -2 at index 1"):
        simple_cell.compile(3, capacity_Ah=np.array([2.0, -2.0, 2.0]))


def test_unknown_parameter_set_suggests_the_closest():
    with pytest.raises(UnknownNameError, match=r"Did you mean 'nmc_lg_m50'"):
        get_parameter_set("nmc_lg_m5")
    assert set(available()) >= {"nmc_lg_m50", "lfp_a123_26650", "ecm_example"}


@pytest.mark.parametrize("name", ["nmc_lg_m50", "lfp_a123_26650", "ecm_example"])
def test_toml_round_trip(name, tmp_path):
    p = get_parameter_set(name)
    path = tmp_path / "cell.toml"
    p.to_toml(path)
    q = CellParameters.from_toml(path)
    z = np.linspace(0, 1, 37)
    assert np.allclose(open_circuit_voltage(p, z, 300.0), open_circuit_voltage(q, z, 300.0), rtol=0, atol=1e-12)
    assert np.allclose(p.r0(290.0, -30.0, z), q.r0(290.0, -30.0, z), rtol=1e-12)
    assert q.capacity_Ah == p.capacity_Ah and q.thermal == p.thermal


def test_toml_errors_name_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[cell]\nname = "x"\nsource = "y"\ncapacity_Ah = 2.0\nocv = 3.7\nr0 = 0.01\ncapacty = 3\n')
    with pytest.raises(ParameterError, match=r"unknown key\(s\) \['capacty'\]"):
        CellParameters.from_toml(path)


def test_csv_table(tmp_path, simple_cell):
    f = tmp_path / "ocv.csv"
    f.write_text("soc,value\n0,3.0\n0.5,3.7\n1,4.1\n")
    d = {"name": "c", "source": "s", "capacity_Ah": 1.0, "ocv": {"file": "ocv.csv"}, "r0": 0.01}
    p = CellParameters.from_dict(d, base_dir=tmp_path)
    assert float(open_circuit_voltage(p, 0.25)) == pytest.approx(3.35)
    f.write_text("soc,volts\n0,3.0\n1,4.1\n")
    with pytest.raises(ParameterError, match=r"must have columns 'soc' and 'value'.*found \['soc', 'volts'\]"):
        CellParameters.from_dict(d, base_dir=tmp_path)


@pytest.mark.parametrize("name", ["nmc_lg_m50", "lfp_a123_26650"])
def test_ocv_inverse_and_slope(name):
    p = get_parameter_set(name)
    z = np.array([0.05, 0.3, 0.55, 0.9])
    u = open_circuit_voltage(p, z, 298.15)
    assert np.allclose(soc_from_ocv(p, u, 298.15), z, atol=1e-9)
    slope = docv_dsoc(p, z)
    assert np.all(slope > 0)
    assert np.allclose(slope, (open_circuit_voltage(p, z + 1e-3) - open_circuit_voltage(p, z - 1e-3)) / 2e-3, rtol=0.05)


def test_lfp_is_flat_and_nmc_is_not():
    lfp, nmc = get_parameter_set("lfp_a123_26650"), get_parameter_set("nmc_lg_m50")
    z = np.linspace(0.35, 0.9, 12)
    assert np.median(docv_dsoc(lfp, z)) < 0.1  # V per unit SOC on the plateau (between graphite stages)
    assert np.median(docv_dsoc(nmc, z)) > 0.4
    assert lfp.hysteresis_magnitude.values.max() >= 0.01


def test_resistance_falls_with_temperature():
    p = get_parameter_set("nmc_lg_m50")
    r = p.compile(2)
    from cellbalance.cell import emf_and_r0, initial_state

    s = initial_state(r, temperature_K=np.array([273.15, 313.15]))
    _, r0, _ = emf_and_r0(r, s, 0.0)
    ratio = r0[0] / r0[1]
    expected = np.exp(p.activation_energy_r0_J_per_mol / 8.314462618 * (1 / 273.15 - 1 / 313.15))
    assert ratio == pytest.approx(expected, rel=1e-9)
