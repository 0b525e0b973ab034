"""The design calculators against numbers worked by hand (each written out in a comment), against a
simulation of the same pack, and their errors on impossible inputs."""

import dataclasses

import numpy as np
import pytest

from cellbalance.analysis.calculators import (
    balancing_time,
    bleed_resistor,
    draw_cells,
    e_series,
    plot_soc_uncertainty,
    self_discharge_drift,
    soc_uncertainty,
    topology_balancing,
    usable_capacity,
)
from cellbalance.analysis.metrics import usable_capacity_Ah
from cellbalance.cell import Table, get_parameter_set, initial_state
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate

# --- SOC uncertainty -------------------------------------------------------------------------------


def test_soc_uncertainty_of_a_linear_ocv_by_hand(simple_cell):
    # U(z) = 3.0 + 1.2 z: dU/dz = 1.2 V per unit SOC everywhere. A 3 mV error: dz = 0.003 / 1.2 = 0.0025
    # (0.25 %-points), the same for the first-order and the exact interval (the curve is a line).
    r = soc_uncertainty(simple_cell, 0.003, soc=[0.2, 0.5, 0.8])
    np.testing.assert_allclose(r.slope_V, 1.2, rtol=1e-9)
    np.testing.assert_allclose(r.linear, 0.0025, rtol=1e-9)
    np.testing.assert_allclose(r.interval, 0.0025, rtol=1e-9)
    np.testing.assert_allclose(r.ocv_V, [3.24, 3.6, 3.96], rtol=1e-12)
    # at the curve's end the SOC interval stops at 1: at z = 0.999 the upper side is 0.001 wide, the
    # lower side 0.0025, so the worst side is still 0.0025
    assert soc_uncertainty(simple_cell, 0.003, soc=[0.999]).interval[0] == pytest.approx(0.0025, rel=1e-9)


def test_soc_uncertainty_of_a_kinked_ocv_by_hand(simple_cell):
    # OCV through (0, 3.0), (0.5, 3.5), (1, 3.55): slope 1 V below 50 %, 0.1 V above. At z = 0.5 and
    # dV = 10 mV: up, U = 3.51 is reached at z = 0.5 + 0.01/0.1 = 0.6; down, U = 3.49 at z = 0.49.
    # The exact error is max(0.1, 0.01) = 0.1; at z = 0.8 it is 0.1 both ways (the linear estimate too).
    p = dataclasses.replace(simple_cell, ocv=Table.of_soc([0.0, 0.5, 1.0], [3.0, 3.5, 3.55], "ocv"))
    r = soc_uncertainty(p, 0.010, soc=[0.5, 0.8, 0.2])
    np.testing.assert_allclose(r.interval, [0.1, 0.1, 0.01], rtol=1e-9)
    np.testing.assert_allclose(r.linear[1:], [0.1, 0.01], rtol=1e-6)


def test_lfp_plateau_makes_voltage_soc_unreliable():
    # The point of the calculator: with a 2 mV monitor (a good AFE), NMC's SOC is known to better than
    # 1 %-point over 5-95 % SOC; LFP's plateau leaves it uncertain by several %-points on much of the range.
    nmc = soc_uncertainty("nmc_lg_m50", 0.002)
    lfp = soc_uncertainty("lfp_a123_26650", 0.002)
    assert nmc.interval.max() < 0.01
    assert lfp.fraction_above(0.02) > 0.3 and lfp.interval.max() > 0.05
    # the first-order estimate converges to the exact interval as the voltage error shrinks
    small = soc_uncertainty("nmc_lg_m50", 1e-5, soc=[0.3, 0.5, 0.7])
    np.testing.assert_allclose(small.interval, small.linear, rtol=0.05)


def test_soc_uncertainty_plot(tmp_path):
    res = [soc_uncertainty(c, 0.002) for c in ("nmc_lg_m50", "lfp_a123_26650")]
    p = plot_soc_uncertainty(res, tmp_path / "soc.png")
    assert p.stat().st_size > 10_000


# --- balancing time --------------------------------------------------------------------------------


def test_balancing_time_by_hand():
    # 5 % of 300 Ah = 15 Ah. Passive at 0.3 A: 15 / 0.3 = 50 h; heat 15 Ah x 3.7 V = 55.5 Wh.
    r = balancing_time(300, 0.05, 0.3, efficiency=0.9, cell_voltage_V=3.7)
    assert r.charge_Ah == pytest.approx(15.0)
    assert r.passive_h == pytest.approx(50.0)
    assert r.passive_heat_Wh == pytest.approx(55.5)
    # active at 15 A: cell-to-pack 15 / 15 = 1 h, loss (1 - 0.9) x 3.7 x 15 = 5.55 Wh;
    # two cells: the gap closes at (1 + 0.9) x 15 = 28.5 A: 15 / 28.5 = 0.5263 h; the source gives
    # 15 A x 0.5263 h = 7.895 Ah, of which 10 % is lost: 0.7895 Ah x 3.7 V = 2.921 Wh
    a = balancing_time(300, 0.05, 15, efficiency=0.9, cell_voltage_V=3.7)
    assert a.cell_to_pack_h == pytest.approx(1.0)
    assert a.cell_to_pack_loss_Wh == pytest.approx(5.55)
    assert a.cell_to_cell_h == pytest.approx(15 / 28.5)
    assert a.cell_to_cell_loss_Wh == pytest.approx(0.1 * 3.7 * 15 * 15 / 28.5)
    # a duty of 0.5 doubles every time
    assert balancing_time(300, 0.05, 15, efficiency=0.9, duty=0.5).cell_to_cell_h == pytest.approx(2 * 15 / 28.5)
    # a low outlier: passive bleeds the 95 others by 15 Ah each: 95 x 15 x 3.7 = 5272.5 Wh of heat;
    # pack-to-cell loses (1/0.9 - 1) x 3.7 x 15 = 6.1667 Wh
    lo = balancing_time(300, 0.05, 0.3, efficiency=0.9, n_series=96, outlier="low")
    assert lo.passive_heat_Wh == pytest.approx(5272.5)
    assert lo.cell_to_pack_loss_Wh == pytest.approx(3.7 * 15 / 9)


@pytest.mark.parametrize(("kw", "field", "shown"), [
    (dict(current_A=0.0), "current_A", "> 0"),
    (dict(capacity_Ah=-5.0), "capacity_Ah", "> 0"),
    (dict(efficiency=1.2), "efficiency", "<= 1"),
    (dict(imbalance=1.5), "imbalance", "<= 1"),
    (dict(duty=0.0), "duty", "> 0"),
    (dict(current_A=float("nan")), "current_A", "finite"),
])
def test_balancing_time_impossible_inputs(kw, field, shown):
    args = dict(capacity_Ah=300.0, imbalance=0.05, current_A=0.3) | kw
    with pytest.raises(ParameterError) as e:
        balancing_time(**args)
    msg = str(e.value)
    assert f"balancing_time.{field}" in msg and shown in msg and "got" in msg


def test_balancing_time_outlier_name():
    with pytest.raises(ParameterError, match="outlier must be 'high' or 'low'; got 'middle'"):
        balancing_time(300, 0.05, 0.3, outlier="middle")


# --- bleed resistor --------------------------------------------------------------------------------


def test_bleed_resistor_by_hand():
    # 5 % of 100 Ah = 5 Ah = 18000 As in 24 h at V_min = 3.0 V: R <= 3.0 x 86400 / 18000 = 14.4 Ohm.
    # Per cell 1 W at V_max = 4.2 V: R >= 4.2^2 / 1 = 17.64 Ohm -> no resistor meets the time.
    # Per-cell limit 2 W: R >= 8.82 Ohm; pack limit 20 W with 3 channels: R >= 3 x 17.64 / 20 = 2.646 Ohm.
    # E24 values in [8.82, 14.4]: 9.1, 10, 11, 12, 13 -> the largest, 13 Ohm.
    r = bleed_resistor(100, 0.05, 24, v_min_V=3.0, v_max_V=4.2, max_cell_power_W=2.0, max_pack_power_W=20.0,
                       n_series=4)
    assert r.r_max_time_ohm == pytest.approx(14.4)
    assert r.r_min_cell_ohm == pytest.approx(8.82)
    assert r.r_min_pack_ohm == pytest.approx(2.646)
    assert r.channels_on == 3
    assert r.r_ohm == pytest.approx(13.0)
    # 13 Ohm: 3.0/13 = 0.2308 A .. 4.2/13 = 0.3231 A; 4.2^2/13 = 1.357 W per cell, 4.071 W per pack;
    # time 18000 x 13 / 3.0 = 78000 s = 21.67 h (slowest), 18000 x 13 / 4.2 s = 15.48 h (fastest)
    assert r.current_at_v_min_A == pytest.approx(3.0 / 13)
    assert r.cell_power_W == pytest.approx(17.64 / 13)
    assert r.pack_power_W == pytest.approx(3 * 17.64 / 13)
    assert r.time_h == pytest.approx((18000 * 13 / 4.2 / 3600, 78000 / 3600))
    assert r.meets_target and r.within_power
    # 1 W per cell: 17.64 Ohm is the floor, the smallest E24 value above it is 18 Ohm: 18000 x 18 / 3.0 s = 30 h
    slow = bleed_resistor(100, 0.05, 24, v_min_V=3.0, v_max_V=4.2, max_cell_power_W=1.0, n_series=4)
    assert slow.r_ohm == pytest.approx(18.0) and not slow.meets_target and slow.within_power
    assert slow.time_h[1] == pytest.approx(30.0)
    # a given resistor is checked, not replaced: 6.8 Ohm draws 4.2^2/6.8 = 2.594 W > 2 W
    chk = bleed_resistor(100, 0.05, 24, v_min_V=3.0, v_max_V=4.2, max_cell_power_W=2.0, n_series=4, r_ohm=6.8)
    assert chk.r_ohm == 6.8 and not chk.within_power and chk.meets_target


def test_e24_values():
    np.testing.assert_allclose(e_series(8.82, 14.4), [9.1, 10, 11, 12, 13])
    np.testing.assert_allclose(e_series(0.95, 1.25), [1.0, 1.1, 1.2])
    assert e_series(4700, 4700).tolist() == [4700.0]


@pytest.mark.parametrize(("kw", "text"), [
    (dict(capacity_Ah=0.0), "bleed_resistor.capacity_Ah must be > 0"),
    (dict(time_target_h=-1.0), "bleed_resistor.time_target_h must be > 0"),
    (dict(max_cell_power_W=0.0), "bleed_resistor.max_cell_power_W must be > 0"),
    (dict(v_min_V=4.3), "v_max_V (4.2 V) must be >= v_min_V (4.3 V)"),
    (dict(channels_on=5), "channels_on must be <= n_series (4)"),
    (dict(duty=1.5), "bleed_resistor.duty must be > 0 and <= 1"),
])
def test_bleed_resistor_impossible_inputs(kw, text):
    args = dict(capacity_Ah=100.0, imbalance=0.05, time_target_h=24.0, v_min_V=3.0, v_max_V=4.2,
                max_cell_power_W=2.0, n_series=4) | kw
    with pytest.raises(ParameterError, match=text.replace("(", r"\(").replace(")", r"\)")):
        bleed_resistor(**args)


# --- usable capacity -------------------------------------------------------------------------------


def test_usable_capacity_by_hand():
    # Q = 5, 4, 6 Ah at SOC 0.5, 0.5, 0.2: D = 2.5, 2.0, 1.2 (min 1.2, element 2); S = 2.5, 2.0, 4.8
    # (min 2.0, element 1). Now: 1.2 + 2.0 = 3.2 Ah. Perfect passive: min Q = 4 Ah (element 1); the least
    # bleed: (D_g - min D - (Q_g - Q_w))^+ = (2.5 - 1.2 - 1)^+ + (2.0 - 1.2 - 0)^+ + (1.2 - 1.2 - 2)^+
    # = 0.3 + 0.8 + 0 = 1.1 Ah. Lossless active: mean Q = 5 Ah.
    r = usable_capacity([5.0, 4.0, 6.0], [0.5, 0.5, 0.2])
    assert r.now_Ah == pytest.approx(3.2)
    assert (r.first_empty, r.first_full, r.weakest) == (2, 1, 1)
    assert r.passive_Ah == pytest.approx(4.0)
    assert r.bleed_Ah == pytest.approx(1.1)
    assert r.active_Ah == pytest.approx(5.0)
    assert (r.recover_passive_Ah, r.recover_active_Ah) == pytest.approx((0.8, 1.8))
    # eta = 0.8: 0.8 ((5 - u) + (6 - u)) = (u - 4) for u in [4, 5] -> 8.8 - 1.6 u = u - 4 -> u = 12.8/2.6
    # = 4.923 (check u < 5: the 5 Ah element is a donor). At eta -> 0 nothing can move: u -> 4 = min Q.
    assert usable_capacity([5.0, 4.0, 6.0], [0.5, 0.5, 0.2], efficiency=0.8).active_Ah == pytest.approx(12.8 / 2.6)
    assert usable_capacity([5.0, 4.0, 6.0], [0.5, 0.5, 0.2], efficiency=1e-9).active_Ah == pytest.approx(4.0, abs=1e-6)
    # the metrics module's example (three 5 Ah cells at 0.5, 0.6, 0.5): 4.5 Ah of 5 Ah
    assert usable_capacity(5.0, [0.5, 0.6, 0.5]).now_Ah == pytest.approx(4.5)


def test_perfect_passive_bleed_reaches_the_bound():
    # bleeding the least charge of the closed form makes the string's usable capacity min_g Q_g
    rng = np.random.default_rng(3)
    q = 5 * (1 + 0.03 * rng.standard_normal(24))
    z = np.clip(0.5 + 0.05 * rng.standard_normal(24), 0, 1)
    r = usable_capacity(q, z)
    d = q * z
    w = int(np.argmin(q))
    d_after = np.minimum(d, d.min() + q - q[w])
    assert (d - d_after).sum() == pytest.approx(r.bleed_Ah)
    now, ideal = usable_capacity_Ah((d_after / q)[:, None], q[:, None])
    assert now == pytest.approx(r.passive_Ah) and ideal == pytest.approx(q.min())
    # one cell bled less than that and the bound is missed
    k = int(np.argmax(d - d_after))
    d_short = d_after.copy()
    d_short[k] += 0.01
    assert usable_capacity_Ah((d_short / q)[:, None], q[:, None])[0] < r.passive_Ah - 1e-6


def test_usable_capacity_parallel_groups_and_draws():
    # 2s2p: elements of (2 + 3) Ah at SOC 0.4 and (2.5 + 2.5) Ah at 0.6: D = 2, 3; S = 3, 2 -> now 4 Ah,
    # passive 5 Ah, active 5 Ah (equal elements)
    r = usable_capacity([[2.0, 3.0], [2.5, 2.5]], [[0.4, 0.4], [0.6, 0.6]])
    assert (r.now_Ah, r.passive_Ah, r.active_Ah) == pytest.approx((4.0, 5.0, 5.0))
    q, z = draw_cells(96, 5.0, 0.01, 0.5, 0.02, seed=1)
    q2, z2 = draw_cells(96, 5.0, 0.01, 0.5, 0.02, seed=1)
    assert np.array_equal(q, q2) and np.array_equal(z, z2) and q.std() / 5 == pytest.approx(0.01, rel=0.3)


@pytest.mark.parametrize(("q", "z", "eta", "text"), [
    ([5.0, -1.0], [0.5, 0.5], 1.0, "usable_capacity.capacity_Ah must be > 0"),
    ([5.0, 5.0], [0.5, 1.2], 1.0, "usable_capacity.soc must be >= 0 and <= 1"),
    ([5.0, 5.0], [0.5, 0.5], 1.1, "usable_capacity.efficiency must be > 0 and <= 1"),
    ([5.0, 5.0, 5.0], [0.5, 0.5], 1.0, "do not broadcast"),
])
def test_usable_capacity_impossible_inputs(q, z, eta, text):
    with pytest.raises(ParameterError, match=text):
        usable_capacity(q, z, efficiency=eta)


def test_usable_capacity_agrees_with_a_simulated_pack():
    # A 4s1p string of LG M50 cells with given capacities and SOCs, discharged at C/20 until the first cell
    # reaches its cut-off, then charged at C/20 until the first reaches v_max. The calculator says the
    # discharge delivers min_g D_g and the charge then takes min D + min S (the usable capacity). The
    # simulated cells stop at their voltage limits, not at SOC 0 and 1 (OCV(0) = 2.498 V, OCV(1) = 4.193 V,
    # and the IR drop at C/20), so the agreement is stated within 1 % (measured: 0.24 % and 0.27 %).
    p = get_parameter_set("nmc_lg_m50")
    q = np.array([5.0, 4.8, 5.1, 4.9])
    z = np.array([0.5, 0.62, 0.45, 0.55])
    r = usable_capacity(q, z)
    cells = p.compile(4, capacity_Ah=q)
    exp = Experiment(["Discharge at 0.25 A for 40 hours", "Charge at 0.25 A for 40 hours"], period_s=10.0)
    ds = simulate(cells, exp, layout=PackLayout(n_series=4), state=initial_state(cells, soc=z),
                  options=SimulationOptions(record_every=60))
    dur_h = (ds.event_end_s.values - ds.event_start_s.values) / 3600.0
    assert dur_h[0] < 39 and dur_h[1] < 39  # both ended at a cell limit, not by time
    discharged, charged = 0.25 * dur_h
    assert discharged == pytest.approx(r.deliverable_Ah.min(), rel=0.01)
    assert charged == pytest.approx(r.now_Ah, rel=0.01)
    # the cell that reached the cut-off first is the one the calculator named (element 2 empties first)
    k = int(np.searchsorted(ds.time.values, ds.event_end_s.values[0])) - 1
    assert int(np.argmin(ds.soc.values[k, 0])) == r.first_empty == 2


# --- topology --------------------------------------------------------------------------------------


def test_topology_by_hand():
    # path of 4 cells, unit weights: lambda_2 = 2 - 2 cos(pi/4) = 0.585786. A 1 A converter at a 5 %
    # spread gives k = 1 / 0.05 = 20 A per unit SOC; tau = Q / (k lambda_2) = 5 / (20 x 0.585786) = 0.42678 h;
    # 5 % -> 0.5 %: t = tau ln 10 = 0.98271 h
    r = topology_balancing("adjacent", 4, capacity_Ah=5.0, spread0=0.05, target=0.005, max_current_A=1.0)
    lam = 2 - 2 * np.cos(np.pi / 4)
    assert r.gain_A == pytest.approx(20.0)
    assert r.lambda2_unit == pytest.approx(lam, rel=1e-9)
    assert r.tau_h == pytest.approx(5 / (20 * lam), rel=1e-9)
    assert r.time_h == pytest.approx(5 / (20 * lam) * np.log(10), rel=1e-9)
    assert r.edge_current_A == pytest.approx(1.0)
    # ring of 96: lambda_2 = 2 - 2 cos(2 pi/96); a given gain above the limit is reported as saturating
    ring = topology_balancing("ring", 96, capacity_Ah=5.0, spread0=0.05, target=0.005, gain_A=40.0, max_current_A=1.0)
    assert ring.lambda2_unit == pytest.approx(2 - 2 * np.cos(2 * np.pi / 96), rel=1e-9)
    assert ring.edge_current_A == pytest.approx(2.0)
    assert any("saturates" in str(v) for _, v, _ in ring.table())


def test_topology_impossible_inputs():
    with pytest.raises(ParameterError, match="give gain_A"):
        topology_balancing("ring", 8, capacity_Ah=5.0, spread0=0.05, target=0.005)
    with pytest.raises(ParameterError, match=r"topology_balancing\.max_current_A must be > 0"):
        topology_balancing("ring", 8, capacity_Ah=5.0, spread0=0.05, target=0.005, max_current_A=0.0)
    with pytest.raises(ParameterError, match=r"topology_balancing\.capacity_Ah must be > 0"):
        topology_balancing("ring", 8, capacity_Ah=-1.0, spread0=0.05, target=0.005, gain_A=1.0)


# --- self-discharge drift --------------------------------------------------------------------------


def test_self_discharge_drift_by_hand():
    # 1 mA spread on 5 Ah: 0.001 A x 720 h = 0.72 Ah a month = 14.4 %-points of 5 Ah; a 5 %-point limit is
    # reached after 0.05 / 0.144 = 0.3472 months. Balancing 2 h a day must carry 1 mA x 24 / 2 = 12 mA.
    r = self_discharge_drift(5.0, leak_spread_A=0.001, balancing_hours_per_day=2.0)
    assert r.drift_per_month == pytest.approx(0.144)
    assert r.months_to_limit == pytest.approx(0.05 / 0.144)
    assert r.current_A == pytest.approx(0.012)
    # drawn: 2 %/month of 5 Ah is 0.1 Ah / 720 h = 0.1389 mA mean; the spread is that times (max - min) of
    # the seeded lognormal draws
    from cellbalance.pack.variation import Distribution

    d = self_discharge_drift(5.0, rate_pct_per_month=2.0, rate_sigma=0.3, n_series=96, seed=4)
    rel, _ = Distribution(kind="lognormal", mean=1.0, sigma=0.3, low=0.05).draw(np.random.default_rng(4), 96)
    assert d.leak_spread_A == pytest.approx(0.1 / 720 * (rel.max() - rel.min()))


def test_self_discharge_drift_matches_the_drift_study_rate():
    # studies/drift.py: d(spread)/day = (max - min)(i_sd / Q) x 86400 s, "0.5 %-points per day for 1 mA
    # differences on 5 Ah" (0.48): the calculator's monthly figure is 30 days of it
    r = self_discharge_drift(5.0, leak_spread_A=0.001)
    assert r.drift_per_month / 30 == pytest.approx(0.001 / (5 * 3600) * 86400)


@pytest.mark.parametrize(("kw", "text"), [
    (dict(leak_spread_A=0.0), "self_discharge_drift.leak_spread_A must be > 0"),
    (dict(leak_spread_A=0.001, balancing_hours_per_day=25.0), "balancing_hours_per_day must be > 0 and <= 24"),
    (dict(), "give either leak_spread_A or rate_pct_per_month"),
    (dict(rate_pct_per_month=2.0), "needs rate_sigma"),
])
def test_self_discharge_impossible_inputs(kw, text):
    with pytest.raises(ParameterError, match=text):
        self_discharge_drift(5.0, **kw)
