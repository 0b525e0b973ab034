"""Issue 10, item 5: overrides work for every field of a parameter set, tables included, with the
validation of a parameter file. A new CellParameters field fails test_every_field_has_an_override_case."""

import dataclasses

import numpy as np
import pytest

from cellbalance.cell import CellParameters, get_parameter_set
from cellbalance.errors import CellBalanceWarning, ParameterError

P = get_parameter_set("ecm_example")

# field -> (override as written in TOML, check of the resulting parameter set)
CASES = {
    "name": ("mine", lambda q: q.name == "mine"),
    "source": ("bench test", lambda q: q.source == "bench test"),
    "capacity_Ah": (4.0, lambda q: q.capacity_Ah == 4.0),
    "ocv": ({"soc": [0.0, 0.5, 1.0], "values": [3.0, 3.7, 4.2]},
            lambda q: np.allclose(q.ocv(298.15, 0.0, 0.25), 3.35)),
    "r0": (0.03, lambda q: q.r0.shape == (1, 1, 1) and np.allclose(q.r0(250.0, 5.0, 0.1), 0.03)),
    "rc": ([{"r": 0.01, "c": 2000.0}], lambda q: q.n_rc == 1 and np.allclose(q.rc[0].c(298.15, 0, 0.5), 2000.0)),
    "entropic_coefficient": (1e-4, lambda q: np.allclose(q.entropic_coefficient(298.15, 0, 0.5), 1e-4)),
    "ocv_includes_entropic": (False, lambda q: q.ocv_includes_entropic is False),
    "ocv_reference_temperature_K": (300.0, lambda q: q.ocv_reference_temperature_K == 300.0),
    "activation_energy_r0_J_per_mol": (2e4, lambda q: q.activation_energy_r0_J_per_mol == 2e4),
    "activation_energy_rc_J_per_mol": (2e4, lambda q: q.activation_energy_rc_J_per_mol == 2e4),
    "arrhenius_reference_K": (300.0, lambda q: q.arrhenius_reference_K == 300.0),
    "hysteresis_rate": (5.0, lambda q: q.hysteresis_rate == 5.0),
    "hysteresis_magnitude": ({"soc": [0.0, 1.0], "values": [0.01, 0.02]},
                             lambda q: np.allclose(q.hysteresis_magnitude(298.15, 0, 0.5), 0.015)),
    "hysteresis_instantaneous_V": (0.005, lambda q: q.hysteresis_instantaneous_V == 0.005),
    "hysteresis_current_threshold_A": (0.01, lambda q: q.hysteresis_current_threshold_A == 0.01),
    "coulombic_efficiency": (0.99, lambda q: q.coulombic_efficiency == 0.99),
    "self_discharge_A": (1e-4, lambda q: q.self_discharge_A == 1e-4),
    "thermal": ({"cooling_W_per_K": 2.0}, lambda q: q.thermal.cooling_W_per_K == 2.0
                and q.thermal.heat_capacity_J_per_K == P.thermal.heat_capacity_J_per_K),
    "v_min": (2.8, lambda q: q.v_min == 2.8),
    "v_max": (4.1, lambda q: q.v_max == 4.1),
    "t_max_K": (330.0, lambda q: q.t_max_K == 330.0),
    "initial_soc": (0.3, lambda q: q.initial_soc == 0.3),
    "ambient_K": (290.0, lambda q: q.ambient_K == 290.0),
}


def test_every_field_has_an_override_case():
    assert set(CASES) == {f.name for f in dataclasses.fields(CellParameters)}


@pytest.mark.parametrize("field", sorted(CASES))
def test_override_every_field(field):
    value, check = CASES[field]
    q = P.with_overrides({field: value})
    assert check(q), field
    # and the same through a parameter file's mapping
    d = P.to_dict()
    d[field] = {**d[field], **value} if field == "thermal" else value  # a file gives the whole thermal table
    assert check(CellParameters.from_dict(d)), field


def test_a_table_override_from_a_csv_file(tmp_path):
    (tmp_path / "r0.csv").write_text("soc,value\n0,0.02\n1,0.04\n")
    q = P.with_overrides({"r0": {"file": "r0.csv"}}, base_dir=tmp_path)
    assert np.allclose(q.r0(298.15, 0.0, 0.5), 0.03)


def test_an_override_run_uses_the_value():
    from cellbalance.sim import simulate

    base = simulate(P, ["Discharge at 5 A for 10 s"])
    q = simulate(P.replace(r0=0.05), ["Discharge at 5 A for 10 s"])
    r0 = float(P.r0(298.15, -5.0, float(base.soc[0, 0, 0])))
    assert float(base.voltage_V[0, 0, 0] - q.voltage_V[0, 0, 0]) == pytest.approx(5.0 * (0.05 - r0), rel=1e-9)


@pytest.mark.parametrize("field,value,pattern", [
    ("capacity_Ah", "5", r"cell parameters\.capacity_Ah must be a number; got '5'"),
    ("capacity_Ah", True, r"must be a number; got True"),
    ("capacity_Ah", -1.0, r"capacity_Ah must be > 0 and <= 100000 \(finite\); got -1"),
    ("r0", [0.01, 0.02], r"r0: expected a number \(a constant table\)"),
    ("r0", {"values": [[1, 2], [3]]}, r"values must be a number or a \(nested\) list of numbers of a regular shape"),
    ("r0", {"file": "missing.csv"}, r"missing\.csv: no such file"),
    ("ocv", 3.7, r"ocv.*must cover|ocv must"),
    ("thermal", 5.0, r"thermal must be a table like"),
    ("thermal", {"cooling_W_per_K": "x"}, r"thermal\.cooling_W_per_K must be a number; got 'x'"),
    ("rc", {"r": 1}, r"rc must be a list of"),
    ("ocv_includes_entropic", 1, r"must be true or false; got 1"),
    ("name", 5, r"name must be text; got 5"),
    ("v_max", float("nan"), r"v_max must be > .* got nan"),
])
def test_a_bad_override_names_field_value_and_range(field, value, pattern, tmp_path):
    with pytest.raises(ParameterError, match=pattern):
        P.with_overrides({field: value}, base_dir=tmp_path)


def test_temperatures_below_200_K_warn_as_celsius_slips():
    with pytest.warns(CellBalanceWarning, match=r"t_max_K = 60 K is below 200 K .*60 degC would be 333\.15 K"):
        P.replace(t_max_K=60.0, ambient_K=298.15)
