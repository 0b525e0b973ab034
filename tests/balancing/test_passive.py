"""Passive bleeding: closed form at rest, AFE limits, measurement artefact, energy bookkeeping."""

import numpy as np
import pytest

from cellbalance.balancing.openloop import OpenLoopSchedule
from cellbalance.balancing.passive import PassiveBalancer, grant_channels, measured_voltage
from cellbalance.cell import CellParameters, Table, ThermalParameters, get_parameter_set, initial_state
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate


def linear_cell():
    return CellParameters(name="lin", source="test", capacity_Ah=2.0, ocv=Table.of_soc([0, 1], [3.0, 4.2], "ocv"),
                          r0=Table.constant(0.05, "r0"),
                          thermal=ThermalParameters(heat_capacity_J_per_K=50.0, cooling_W_per_K=0.2))


def test_bleeding_a_cell_at_rest_matches_the_closed_form():
    """Q dz/dt = -V/R_b, V = (a + b z) R_b/(R_b + R0): a + b z decays with tau = Q (R_b + R0) / b."""
    p = linear_cell()
    hw = PassiveBalancer(r_bleed_ohm=10.0, v_max_V=4.2, max_channel_power_W=2.0, pause_to_measure=False)
    sched = OpenLoopSchedule(times_s=[0.0], bleed=np.ones((1, 1, 1), bool), period_s=60.0)
    t_end = 2 * 3600.0
    a, b, q, rb, r0 = 3.0, 1.2, 7200.0, 10.0, 0.05
    tau = q * (rb + r0) / b
    u0 = a + b * 0.9
    z_end = (u0 * np.exp(-t_end / tau) - a) / b
    tt = np.linspace(0, t_end, 200001)
    integral = np.trapezoid(u0 * np.exp(-tt / tau) * rb / (rb + r0) / rb, tt)  # charge removed = int V/R dt
    assert q * (0.9 - z_end) == pytest.approx(integral, rel=1e-9)
    errors = []
    for dt in (1.0, 0.25):
        ds = simulate(p, Experiment([f"Rest for {t_end} s"], period_s=dt), controller=sched,
                      balancer=hw, state=initial_state(p.compile(1), soc=0.9))
        errors.append(abs(ds.soc.values[-1, 0, 0] - z_end))
        assert q * (0.9 - ds.soc.values[-1, 0, 0]) == pytest.approx(integral, rel=2e-5)
    # the bleed current is V(t_k)/R held over the step: first order in dt
    assert errors[0] < 5e-6
    assert 3.0 < errors[0] / errors[1] < 5.0
    # and the recorded current is -V/R_b at every row
    v, i = ds.voltage_V.values[:-1, 0, 0], ds.current_A.values[:-1, 0, 0]
    assert np.allclose(i, -v / rb, rtol=1e-12)
    # energy: everything the cell gave went into the resistor
    assert ds.energy_bleed_J.values[-1, 0] == pytest.approx(-ds.energy_cells_J.values[-1, 0], rel=1e-12)


def test_afe_limits():
    hw = PassiveBalancer(r_bleed_ohm=40.0, max_channels=3, forbid_adjacent=True)
    v = np.array([[4.10, 4.15, 4.12, 4.05, 4.11, 4.14, 4.13]])
    on = grant_channels(np.ones_like(v, bool), v, hw)
    assert on.sum() == 3
    assert not np.any(on[0, 1:] & on[0, :-1])
    assert on[0, 1]  # the highest cell is served first
    hw2 = PassiveBalancer(r_bleed_ohm=40.0, max_pack_power_W=0.9)
    on2 = grant_channels(np.ones_like(v, bool), v, hw2)
    assert (v[on2] ** 2 / 40.0).sum() <= 0.9 and on2.sum() == 2
    with pytest.raises(ParameterError, match=r"dissipates .* W at v_max_V=4.25 V, above max_channel_power_W=0.25 W"):
        PassiveBalancer(r_bleed_ohm=10.0, max_channel_power_W=0.25)


def test_measurement_artefact():
    v = np.full((1, 5), 3.7)
    ib = np.array([[0.0, 0.1, 0.0, 0.0, 0.1]])
    m = measured_voltage(v, ib, 0.05)
    assert m[0, 1] == pytest.approx(3.7 - 2 * 0.05 * 0.1)
    assert m[0, 0] == pytest.approx(3.7 + 0.05 * 0.1) and m[0, 2] == pytest.approx(3.7 + 0.05 * 0.1)
    assert m[0, 3] == pytest.approx(3.7 + 0.05 * 0.1) and m[0, 4] == pytest.approx(3.7 - 0.01)


def test_bleed_during_drive_closes_the_energy_books():
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=6, n_parallel=2)
    rng = np.random.default_rng(5)
    cells = p.compile(lay.n_cells, capacity_Ah=5 * (1 + 0.01 * rng.standard_normal(12)))
    s0 = initial_state(cells, soc=0.7 + 0.03 * rng.standard_normal(12))
    on = np.zeros((3, 1, 6), bool)
    on[1, 0, ::2] = True
    on[2, 0, 1::3] = True
    hw = PassiveBalancer(r_bleed_ohm=20.0, heat_to_cell_fraction=0.3)
    sched = OpenLoopSchedule(times_s=[0.0, 600.0, 1500.0], bleed=on, period_s=10.0)
    ds = simulate(cells, Experiment(["Discharge at 10 W for 20 minutes", "Charge at 3 A for 10 minutes",
                                     "Rest for 10 minutes"], period_s=2.0), layout=lay, state=s0, controller=sched,
                  balancer=hw)
    e = {k: ds[f"energy_{k}_J"].values[-1, 0] for k in ("load", "cells", "bleed", "converter_loss", "interconnect")}
    assert e["bleed"] > 100.0
    assert e["load"] == pytest.approx(e["cells"] + e["bleed"] + e["converter_loss"] + e["interconnect"], rel=1e-9)
    # bleeding elements (1 and 4 between 1500 s and 1800 s) lose charge relative to their neighbours
    r0_, r1_ = np.searchsorted(ds.time.values, [1500.0, 1790.0])
    i_el = ds.current_A.values[r0_ + 5, 0].reshape(6, 2).sum(-1)
    assert i_el[1] < i_el[0] and i_el[4] < i_el[3]
    assert r1_ > r0_


def test_measurement_pause_option():
    v = np.array([[3.7, 3.8, 3.75]])
    on = np.array([[False, True, False]])
    paused = PassiveBalancer(r_bleed_ohm=20.0, sense_resistance_ohm=0.05, pause_fraction=0.1)
    live = PassiveBalancer(r_bleed_ohm=20.0, sense_resistance_ohm=0.05, pause_to_measure=False)
    assert np.array_equal(paused.monitor_reading(v, on), v)  # paused: the true voltage...
    assert paused.conductance_S == pytest.approx(0.9 / 20.0)  # ...at the cost of 10 % of the bleed
    r = live.monitor_reading(v, on)
    ib = 3.8 / 20.0
    assert r[0, 1] == pytest.approx(3.8 - 2 * 0.05 * ib) and r[0, 0] == pytest.approx(3.7 + 0.05 * ib)
    assert live.conductance_S == pytest.approx(1 / 20.0)
