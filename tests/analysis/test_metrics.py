"""Pack metrics on hand-made Datasets whose answers are known in closed form."""

import numpy as np
import pytest
import xarray as xr

from cellbalance.analysis.metrics import (
    element_charge_Ah,
    energy_throughput_Wh,
    peak_temperature_K,
    soc_spread,
    summary,
    time_near_limits,
    usable_capacity_Ah,
    usable_capacity_over_time,
)
from cellbalance.cell import get_parameter_set
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate


def make_ds(t, soc, *, n_series, voltage=None, temperature=None, i_pack=None, v_pack=None):
    """A results-shaped Dataset: soc etc. (time, pack, cell); cells ordered (series, parallel)."""
    soc = np.asarray(soc, float)
    nt, B, cpp = soc.shape
    n_par = cpp // n_series
    dims = ("time", "pack", "cell")
    data = {
        "soc": (dims, soc),
        "voltage_V": (dims, np.full(soc.shape, 3.7) if voltage is None else np.asarray(voltage, float)),
        "current_A": (dims, np.zeros(soc.shape)),
        "temperature_K": (dims, np.full(soc.shape, 298.15) if temperature is None else np.asarray(temperature, float)),
        "pack_current_A": (("time", "pack"), np.zeros((nt, B)) if i_pack is None else np.asarray(i_pack, float)),
        "pack_voltage_V": (("time", "pack"), np.full((nt, B), 3.7 * n_series) if v_pack is None else np.asarray(v_pack, float)),
    }
    coords = {"time": np.asarray(t, float), "pack": np.arange(B), "cell": np.arange(cpp),
              "series_index": ("cell", np.repeat(np.arange(n_series), n_par)),
              "parallel_index": ("cell", np.tile(np.arange(n_par), n_series))}
    return xr.Dataset(data, coords=coords)


def test_usable_capacity_closed_form():
    q = np.array([[5.0], [5.0], [4.8]])
    # balanced at the same SOC: usable = the weakest element
    u, ideal = usable_capacity_Ah(np.full((3, 1), 0.5), q)
    assert u == pytest.approx(4.8) and ideal == pytest.approx(4.8)
    # one element 10 %-points high: it fills first, and the weak element empties first
    z = np.array([[0.5], [0.6], [0.5]])
    u, _ = usable_capacity_Ah(z, q)
    assert u == pytest.approx(min(2.5, 3.0, 2.4) + min(2.5, 2.0, 2.4))
    # equal capacities Q and SOCs offset by d: usable = Q (1 - (max - min))
    z = np.array([[0.30], [0.35], [0.32], [0.31]])
    u, ideal = usable_capacity_Ah(z, np.full((4, 1), 5.0))
    assert u == pytest.approx(5.0 * (1 - 0.05)) and ideal == 5.0


def test_usable_capacity_with_parallel_groups_and_the_bound():
    # 2s2p: element 0 holds 0.4*5 + 0.6*4 = 4.4 Ah of 9; element 1 holds 0.5*5 + 0.5*5 = 5 of 10
    z = np.array([[0.4, 0.6], [0.5, 0.5]])
    q = np.array([[5.0, 4.0], [5.0, 5.0]])
    d, s = element_charge_Ah(z, q)
    np.testing.assert_allclose(d, [4.4, 5.0])
    np.testing.assert_allclose(s, [4.6, 5.0])
    u, ideal = usable_capacity_Ah(z, q)
    assert u == pytest.approx(4.4 + 4.6) and ideal == pytest.approx(9.0)
    # usable <= ideal always; equal when every element has the same SOC
    rng = np.random.default_rng(0)
    z = rng.uniform(0, 1, (1000, 8, 3))
    q = rng.uniform(4.5, 5.5, (1000, 8, 3))
    u, ideal = usable_capacity_Ah(z, q)
    assert np.all(u <= ideal + 1e-12)
    u, ideal = usable_capacity_Ah(np.broadcast_to(z[:, :1, :1], z.shape), q)
    np.testing.assert_allclose(u, ideal)
    with pytest.raises(ParameterError, match="do not broadcast"):
        usable_capacity_Ah(np.zeros((3, 2)), np.ones((4, 2)))


def test_soc_spread_usable_over_time_and_peak_temperature():
    # 2 packs of 3s1p, three rows
    soc = np.array([
        [[0.5, 0.5, 0.5], [0.2, 0.4, 0.3]],
        [[0.5, 0.6, 0.5], [0.1, 0.4, 0.3]],
        [[0.5, 0.7, 0.4], [0.1, 0.5, 0.3]],
    ])
    temp = np.full(soc.shape, 300.0)
    temp[1, 0, 2] = 320.0
    temp[2, 1, 0] = 310.0
    ds = make_ds([0, 60, 120], soc, n_series=3, temperature=temp)
    rng_, sd = soc_spread(ds)
    np.testing.assert_allclose(rng_, [[0.0, 0.2], [0.1, 0.3], [0.3, 0.4]])
    np.testing.assert_allclose(sd, soc.std(-1))
    u, ideal = usable_capacity_over_time(ds, 5.0)  # a scalar capacity broadcasts to every cell
    np.testing.assert_allclose(ideal, 5.0)
    np.testing.assert_allclose(u, 5.0 * (1 - rng_))  # equal capacities: Q (1 - spread)
    u2, _ = usable_capacity_over_time(ds, np.full(3, 5.0))  # cells per pack
    u3, _ = usable_capacity_over_time(ds, np.full(6, 5.0))  # all cells
    np.testing.assert_allclose(u2, u)
    np.testing.assert_allclose(u3, u)
    with pytest.raises(ParameterError, match=r"capacity_Ah has 4 values; expected 1, 3 .* or 6"):
        usable_capacity_over_time(ds, np.ones(4))
    np.testing.assert_allclose(peak_temperature_K(ds), [320.0, 310.0])


def test_energy_throughput_charge_and_discharge_separately():
    # +2 A at 10 V for 1 h, then -3 A at 8 V for 2 h (rows are right limits: the last row is unused)
    t = np.arange(0, 3 * 3600 + 1, 1800.0)
    i = np.where(t < 3600, 2.0, -3.0)[:, None]
    v = np.where(t < 3600, 10.0, 8.0)[:, None]
    ds = make_ds(t, np.full((t.size, 1, 1), 0.5), n_series=1, i_pack=i, v_pack=v)
    ch, dis = energy_throughput_Wh(ds)
    assert ch == pytest.approx([20.0]) and dis == pytest.approx([48.0])
    one = make_ds([0.0], np.full((1, 1, 1), 0.5), n_series=1)
    assert energy_throughput_Wh(one)[0].tolist() == [0.0]


def test_time_near_limits():
    # 3s1p, rows every 60 s over 600 s; near a limit: rows 2 and 3 (a cell at 4.195 V) and row 7 (2.505 V)
    t = np.arange(0, 601, 60.0)
    v = np.full((t.size, 1, 3), 3.7)
    v[2, 0, 1] = 4.195
    v[3, 0, 0] = 4.2
    v[7, 0, 2] = 2.505
    v[10, 0, 2] = 2.5  # the last row has no interval after it: it does not count
    ds = make_ds(t, np.full(v.shape, 0.5), n_series=3, voltage=v)
    assert time_near_limits(ds, 2.5, 4.2, 0.01) == pytest.approx([3 * 60 / 600])
    assert time_near_limits(ds, 2.5, 4.2, 0.001) == pytest.approx([1 * 60 / 600])  # only the 4.2 V row
    with pytest.raises(ParameterError, match="margin_V must be >= 0"):
        time_near_limits(ds, 2.5, 4.2, -0.01)


def test_summary_of_a_hand_made_dataset():
    t = np.array([0.0, 3600.0, 7200.0])
    soc = np.array([[[0.5, 0.5]], [[0.4, 0.45]], [[0.3, 0.4]]])  # 2s1p, one pack
    v = np.array([[[3.7, 3.7]], [[3.6, 4.195]], [[3.5, 3.6]]])
    ds = make_ds(t, soc, n_series=2, voltage=v, i_pack=[[-1.0], [-1.0], [0.0]], v_pack=[[7.0], [7.0], [7.0]])
    m = summary(ds, [5.0, 4.0], v_min=2.5, v_max=4.2)
    assert m["SOC spread at start [%]"] == pytest.approx([0.0])
    assert m["SOC spread at end [%]"] == pytest.approx([10.0])
    assert m["SOC std at end [%]"] == pytest.approx([5.0])
    # end: element 0 holds 1.5 of 5 Ah, element 1 1.6 of 4 Ah -> usable 1.5 + min(3.5, 2.4) = 3.9 of ideal 4
    assert m["usable capacity at end [Ah]"] == pytest.approx([3.9])
    assert m["usable capacity at start [Ah]"] == pytest.approx([4.0])
    assert m["ideal capacity [Ah]"] == pytest.approx([4.0])
    assert m["capacity lost to imbalance [%]"] == pytest.approx([2.5])
    assert m["energy charged [Wh]"] == pytest.approx([0.0])
    assert m["energy discharged [Wh]"] == pytest.approx([14.0])
    assert m["peak cell temperature [°C]"] == pytest.approx([25.0])
    assert m["time within 10 mV of a voltage limit [%]"] == pytest.approx([50.0])
    assert all(np.shape(val) == (1,) for val in m.values())
    assert "time within 10 mV of a voltage limit [%]" not in summary(ds, 5.0)


def test_energy_throughput_matches_the_loop_bookkeeping():
    """With every period recorded and steps ending on the grid, the rectangle rule is the loop's own."""
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=3, interconnect_ohm=0.002)
    ds = simulate(p, Experiment(["Discharge at 1C for 10 minutes", "Charge at 0.5C for 10 minutes"], period_s=10.0),
                  layout=lay, options=SimulationOptions(record_every=1))
    ch, dis = energy_throughput_Wh(ds)
    assert ch[0] > 0 and dis[0] > 0
    assert (ch - dis)[0] * 3600 == pytest.approx(float(ds.energy_load_J.values[-1, 0]), rel=1e-12)
    # and the magnitudes are those of the currents: about V * I * t
    assert dis[0] == pytest.approx(3 * 3.6 * 5.0 / 6, rel=0.1)
