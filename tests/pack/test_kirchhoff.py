"""Parallel groups obey Kirchhoff; a pack of identical cells is one cell scaled."""

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.pack import PackLayout, split_group_current
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate


def test_split_closed_form(rng):
    emf = 3.6 + 0.01 * rng.standard_normal((3, 4, 5))
    r0 = 0.02 * (1 + 0.1 * rng.random((3, 4, 5)))
    ig = rng.uniform(-50, 50, (3, 4))
    i, v = split_group_current(ig, emf, r0)
    assert np.allclose(i.sum(-1), ig, rtol=0, atol=1e-9)
    vt = emf + i * r0
    assert np.abs(vt - v[..., None]).max() < 1e-9


def test_pack_rows_satisfy_kirchhoff_every_step():
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=3, n_parallel=4, n_packs=2)
    rng = np.random.default_rng(3)
    cells = p.compile(lay.n_cells, capacity_Ah=5 * (1 + 0.02 * rng.standard_normal(lay.n_cells)),
                      r0_scale=1 + 0.05 * rng.standard_normal(lay.n_cells))
    s0 = initial_state(cells, soc=0.5 + 0.02 * rng.standard_normal(lay.n_cells))
    ds = simulate(cells, Experiment(["Discharge at 1C for 20 minutes", "Rest for 5 minutes",
                                     "Charge at 0.5C for 10 minutes"], period_s=2.0), layout=lay, state=s0)
    i = ds.current_A.values.reshape(-1, 2, 3, 4)
    v = ds.voltage_V.values.reshape(-1, 2, 3, 4)
    ip = ds.pack_current_A.values
    assert np.abs(i.sum(-1) - ip[:, :, None]).max() < 1e-9
    assert np.abs(v - v[..., :1]).max() < 1e-9
    # cells do not share current equally once they differ
    assert np.ptp(i[10], axis=-1).max() > 0.05


def test_identical_cells_share_equally_and_twice_the_resistance_carries_the_expected_share():
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=1, n_parallel=3)
    cells = p.compile(3, r0_scale=[1.0, 1.0, 2.0], rc_r_scale=[1.0, 1.0, 2.0])
    ds = simulate(cells, Experiment(["Discharge at 15 A for 10 s"], period_s=1.0), layout=lay)
    i0 = ds.current_A.values[0, 0]
    assert i0[0] == pytest.approx(i0[1], rel=1e-12)
    # at t = 0 all cells have the same emf: currents inversely proportional to R0
    r0 = cells.params.r0(298.15, 0.0, 0.5) * np.array([1.0, 1.0, 2.0])
    g = 1 / r0
    assert i0 == pytest.approx(-15.0 * g / g.sum(), rel=1e-12)
    assert i0[2] == pytest.approx(i0[0] / 2, rel=1e-12)


def test_pack_of_identical_cells_is_one_cell_scaled():
    p = get_parameter_set("nmc_lg_m50")
    exp = Experiment(["Discharge at 1C until 3.0 V", "Rest for 10 minutes", "Charge at 0.5C until 4.1 V"], period_s=5.0)
    one = simulate(p, exp)
    lay = PackLayout(n_series=4, n_parallel=3)
    pack = simulate(p, exp, layout=lay)
    assert pack.sizes["time"] == one.sizes["time"]
    assert np.allclose(pack.pack_voltage_V.values[:, 0], 4 * one.voltage_V.values[:, 0, 0], rtol=1e-12)
    assert np.allclose(pack.pack_current_A.values[:, 0], 3 * one.current_A.values[:, 0, 0], rtol=1e-12)
    assert np.allclose(pack.soc.values[:, 0, :], one.soc.values[:, 0, :1], rtol=1e-12)
    assert np.allclose(pack.event_end_s.values, one.event_end_s.values, rtol=1e-9)


def test_capacity_spread_after_one_cc_cycle_matches_closed_form():
    """z_i(t) = z0 + I t / Q_i: after discharge for t_d and charge back, spread follows 1/Q_i exactly."""
    p = get_parameter_set("nmc_lg_m50").replace(self_discharge_A=0.0, coulombic_efficiency=1.0)
    q = np.array([4.9, 5.0, 5.1, 5.05])
    cells = p.compile(4, capacity_Ah=q)
    lay = PackLayout(n_series=4)
    exp = Experiment(["Discharge at 2.5 A for 1 hour", "Charge at 1.25 A for 1 hour"], period_s=10.0)
    ds = simulate(cells, exp, layout=lay, state=initial_state(cells, soc=0.95))
    z_end = ds.soc.values[-1, 0]
    z_mid = ds.soc.values[np.searchsorted(ds.time.values, 3600.0), 0]
    assert z_mid == pytest.approx(0.95 - 2.5 / q, rel=1e-12)
    assert z_end == pytest.approx(0.95 - 1.25 / q, rel=1e-12)
    spread = z_end.max() - z_end.min()
    assert spread == pytest.approx(1.25 * (1 / q.min() - 1 / q.max()), rel=1e-10)


def test_a_batch_of_packs_equals_the_packs_run_one_by_one():
    """Each pack keeps its own step sequence (cut-offs at different times) in one vectorised run."""
    p = get_parameter_set("nmc_lg_m50")
    rng = np.random.default_rng(11)
    B, Ns, Np = 3, 4, 2
    cap = 5 * (1 + 0.03 * rng.standard_normal((B, Ns * Np)))
    z0 = 0.8 + 0.05 * rng.standard_normal((B, Ns * Np))
    exp = Experiment(["Discharge at 2C until 3.4 V", "Rest for 5 minutes", "Charge at 20 W until 4.0 V",
                      "Hold at 4.0 V until C/10"], period_s=3.0)
    lay = PackLayout(n_series=Ns, n_parallel=Np, n_packs=B)
    cells = p.compile(B * Ns * Np, capacity_Ah=cap.reshape(-1))
    batch = simulate(cells, exp, layout=lay, state=initial_state(cells, soc=z0.reshape(-1)))
    ev_pack = batch.event_pack.values
    ends = np.stack([batch.event_end_s.values[ev_pack == b] for b in range(B)])
    assert np.ptp(ends[:, 0]) > 10.0  # the packs really did end their first step at different times
    for b in range(B):
        one_cells = p.compile(Ns * Np, capacity_Ah=cap[b])
        one = simulate(one_cells, exp, layout=PackLayout(n_series=Ns, n_parallel=Np),
                       state=initial_state(one_cells, soc=z0[b]))
        assert np.allclose(one.event_end_s.values, ends[b], rtol=0, atol=1e-6)
        n = min(one.sizes["time"], batch.sizes["time"])
        assert np.allclose(one.soc.values[:n, 0], batch.soc.values[:n, b], rtol=0, atol=1e-12)
        assert np.allclose(one.voltage_V.values[:n, 0], batch.voltage_V.values[:n, b], rtol=0, atol=1e-9)
