"""The loop's slots: sensors -> estimator -> controller -> balancer, each at its own period; held
actions solved with the pack at every plant step; compiled segments for balanced runs."""

import numpy as np
import pytest

import cellbalance.sim.loop as L
from cellbalance.balancing import (
    ActiveBalancer,
    BalancingHardware,
    ConverterModel,
    OpenLoopSchedule,
    PassiveBalancer,
    get_topology,
)
from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.control import BleedAboveMinimum, VoltageDifferenceTransfer
from cellbalance.errors import ConfigError
from cellbalance.estimation import PerfectEstimator
from cellbalance.interfaces import Command, Estimate
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import preset, sample
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate


class CallLog:
    """An estimator or controller that records when it runs and what it was given."""

    def __init__(self, period_s, kind="estimator"):
        self.period_s = period_s
        self.kind = kind
        self.times = []
        self.contexts = []
        self.estimates = []

    def init(self, context):
        self.contexts.append(context)
        return 0

    def step(self, t, measurement, third, state):
        self.times.append(t)
        if self.kind == "estimator":
            ns = measurement.element_voltage_V.shape
            return Estimate(soc=np.full(ns, 0.5)), state + 1
        self.estimates.append(third)
        return Command(), state + 1


def test_estimator_without_controller_runs_at_its_own_period():
    est = CallLog(7.0)
    ds = simulate(get_parameter_set("nmc_lg_m50"), Experiment(["Discharge at 1C for 60 s"], period_s=1.0),
                  estimator=est)
    assert est.times == [float(t) for t in range(0, 60, 7)]
    np.testing.assert_array_equal(ds.estimate_time.values, est.times)
    assert ds.estimated_soc.shape == (len(est.times), 1, 1)


def test_estimator_and_controller_each_run_when_they_should():
    est, ctl = CallLog(1.0), CallLog(60.0, "controller")
    p = get_parameter_set("nmc_lg_m50")
    simulate(p, Experiment(["Run US06 for 300 s"], period_s=1.0), layout=PackLayout(n_series=4),
             estimator=est, controller=ctl)
    assert est.times == [float(t) for t in range(300)]
    assert ctl.times == [0.0, 60.0, 120.0, 180.0, 240.0]
    # the controller sees the estimate made at its own instant (the estimator runs first)
    assert all(isinstance(e, Estimate) for e in ctl.estimates)


def test_periods_not_on_the_plant_grid_run_at_the_next_grid_time():
    ctl = CallLog(25.0, "controller")
    simulate(get_parameter_set("nmc_lg_m50"), Experiment(["Rest for 100 s"], period_s=10.0), controller=ctl)
    assert ctl.times == [0.0, 30.0, 50.0, 80.0]  # due at 0, 25, 50, 75: first grid time at or after


def test_controller_sees_the_nominal_model_not_the_sampled_cells():
    p = get_parameter_set("nmc_lg_m50")
    layout = PackLayout(n_series=8)
    pack = sample(preset("typical"), p, layout, seed=3)
    ctl = CallLog(60.0, "controller")
    simulate(pack.cells, ["Rest for 2 minutes"], layout=layout, state=pack.initial_state, controller=ctl)
    ctx = ctl.contexts[0]
    assert ctx.nominal.cell is p or ctx.nominal.cell == p
    assert ctx.nominal.capacity_As == pytest.approx(p.capacity_Ah * 3600.0)
    true_cap = pack.cells.cp[:, 0] if pack.cells.cp.ndim == 2 else None
    assert true_cap is not None and np.ptp(true_cap) > 0  # the plant's cells do differ...
    assert not any(hasattr(ctx, a) for a in ("cells", "cp", "state"))  # ...and the context does not carry them
    assert ctx.layout == layout


def test_truth_only_for_components_that_declare_it():
    p = get_parameter_set("nmc_lg_m50")
    layout = PackLayout(n_series=3)
    s0 = initial_state(p.compile(3), soc=[0.3, 0.5, 0.7])
    ds = simulate(p.compile(3), Experiment(["Rest for 10 s"], period_s=1.0), layout=layout, state=s0,
                  estimator=PerfectEstimator(period_s=5.0))
    np.testing.assert_allclose(ds.estimated_soc.values[0, 0], [0.3, 0.5, 0.7], rtol=0, atol=1e-12)
    seen = []

    class Peek(CallLog):
        def step(self, t, m, third, state):
            seen.append(m.truth)
            return super().step(t, m, third, state)

    simulate(p.compile(3), Experiment(["Rest for 3 s"], period_s=1.0), layout=layout, state=s0, estimator=Peek(1.0))
    assert seen and all(s is None for s in seen)


def _two_element_sc(period_s=60.0):
    ab = ActiveBalancer(get_topology("switched_capacitor", 2, capacitance_F=1e-3, f_sw_Hz=5e3))
    return ab, OpenLoopSchedule(times_s=[0.0], links_on=np.ones((1, 1, ab.n_edges), bool), period_s=period_s)


def test_switched_capacitor_link_never_moves_charge_uphill_under_a_drive():
    """The link is solved with the pack at every plant step: its current always flows from the
    higher- to the lower-voltage element, with magnitude g |dV|, even though the controller only
    switched it on once (a current held from t = 0 would push charge uphill as the drive swings
    the voltages)."""
    p = get_parameter_set("nmc_lg_m50")
    cells = p.compile(2, r0_scale=np.array([1.0, 1.6]))
    ab, sched = _two_element_sc()
    g = ab.working_graph.weights[0]
    ds = simulate(cells, Experiment(["Run US06 for 20 minutes"], period_s=1.0), layout=PackLayout(n_series=2),
                  state=initial_state(cells, soc=[0.62, 0.6]), controller=sched, balancer=ab)
    v = ds.voltage_V.values[:, 0, :]
    i_link = ds.current_A.values[:, 0, :] - ds.pack_current_A.values[:, 0, None]
    dv = v[:, 0] - v[:, 1]
    assert np.any(dv > 1e-3) and np.any(dv < -1e-3)  # the drive swings the voltage difference both ways
    np.testing.assert_allclose(i_link[:, 1], g * dv, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(i_link[:, 0], -g * dv, rtol=1e-9, atol=1e-12)
    assert np.all(i_link[:, 0] * dv <= 0.0)  # never from the lower- to the higher-voltage element


def test_passive_after_active_and_active_after_passive_leave_no_stale_action():
    p = get_parameter_set("nmc_lg_m50")
    ns = 4
    hw = BalancingHardware(passive=PassiveBalancer(r_bleed_ohm=20.0, pause_to_measure=False),
                           active=ActiveBalancer(get_topology("ring", ns), ConverterModel(efficiency=0.9)))
    m = hw.active.n_edges
    bleed = np.zeros((4, 1, ns))
    bleed[0, 0, 1] = bleed[2, 0, 2] = 1.0
    edges = np.zeros((4, 1, m))
    edges[1, 0, 0] = edges[3, 0, 1] = 0.5
    # passive, active, passive, active: each command sets only its own field
    sched_b = [Command(bleed=bleed[0]), Command(edge_current_A=edges[1]), Command(bleed=bleed[2]),
               Command(edge_current_A=edges[3])]

    class Seq:
        period_s = 60.0

        def init(self, ctx):
            return 0

        def step(self, t, meas, est, k):
            return sched_b[k], k + 1

    cells = p.compile(ns)
    ds = simulate(cells, Experiment(["Rest for 4 minutes"], period_s=1.0), layout=PackLayout(n_series=ns),
                  state=initial_state(cells, soc=0.6), controller=Seq(), balancer=hw)
    i_bal = ds.current_A.values[:, 0, :] - ds.pack_current_A.values[:, 0, None]
    v = ds.voltage_V.values[:, 0, :]
    t = ds.time.values
    for k in range(4):
        rows = (t >= 60 * k) & (t < 60 * (k + 1))
        if k % 2 == 0:  # bleeding only: -V/R on the bleeding element, nothing elsewhere
            on = bleed[k, 0] > 0
            np.testing.assert_allclose(i_bal[rows][:, on], -v[rows][:, on] / 20.0, rtol=1e-12)
            np.testing.assert_allclose(i_bal[rows][:, ~on], 0.0, rtol=0, atol=1e-12)
        else:  # converters only: no bleed current left
            held = ds.balancer_element_current_A.values[k, 0]
            np.testing.assert_allclose(i_bal[rows], np.broadcast_to(held, i_bal[rows].shape), rtol=0, atol=1e-12)
            assert ds.balancer_shunt_S.values[k].max() == 0.0
            assert np.count_nonzero(held) == 2
    assert ds.energy_bleed_J.values[-1, 0] > 0 and ds.energy_converter_loss_J.values[-1, 0] > 0


def test_a_command_the_hardware_cannot_carry_out_is_refused():
    p = get_parameter_set("nmc_lg_m50")
    sched = OpenLoopSchedule(times_s=[0.0], edge_current_A=np.ones((1, 1, 2)), period_s=60.0)
    with pytest.raises(ConfigError, match=r"commanded edge_current_A but the balancer is PassiveBalancer, which "
                                          r"carries out bleed"):
        simulate(p.compile(2), ["Rest for 2 minutes"], layout=PackLayout(n_series=2), controller=sched,
                 balancer=PassiveBalancer())
    with pytest.raises(ConfigError, match="no balancing hardware"):
        simulate(p.compile(2), ["Rest for 2 minutes"], layout=PackLayout(n_series=2),
                 controller=OpenLoopSchedule(times_s=[0.0], bleed=np.ones((1, 1, 2)), period_s=60.0))


def _balanced_case(kind, layout, p):
    pack = sample(preset("typical"), p, layout, seed=11)
    if kind == "passive":
        return pack, BleedAboveMinimum(threshold_V=0.002), PassiveBalancer(r_bleed_ohm=22.0)
    ab = ActiveBalancer(get_topology("ring", layout.n_series), ConverterModel(efficiency=0.88, max_current_A=1.0))
    return pack, VoltageDifferenceTransfer(ab.edges), ab


@pytest.mark.parametrize("kind,layout,every", [
    ("passive", PackLayout(n_series=12), 1),
    ("active", PackLayout(n_series=12), 7),
    ("passive", PackLayout(n_series=6, n_parallel=3, n_packs=2), 5),
    ("active", PackLayout(n_series=6, n_parallel=2, n_packs=3), 1),
])
def test_balanced_runs_in_compiled_segments_equal_the_per_period_loop(monkeypatch, kind, layout, every):
    p = get_parameter_set("nmc_lg_m50")
    pack, ctl, hw = _balanced_case(kind, layout, p)
    exp = Experiment(["Run US06 for 15 minutes", "Rest for 5 minutes", "Charge at 0.5C for 5 minutes"],
                     period_s=1.0)
    opts = SimulationOptions(record_every=every)
    calls = []
    orig = L._try_segment
    monkeypatch.setattr(L, "_try_segment", lambda *a, **kw: calls.append(orig(*a, **kw)) or calls[-1])
    est = PerfectEstimator(period_s=1.0) if layout.n_packs > 1 else None  # slots every period: 1-period segments
    fast = simulate(pack.cells, exp, layout=layout, state=pack.initial_state, controller=ctl, balancer=hw,
                    options=opts, estimator=est)
    assert sum(calls) > 0.9 * 25 * 60  # the compiled segments ran almost every period between controller calls
    monkeypatch.setattr(L, "_try_segment", lambda *a, **kw: 0)
    slow = simulate(pack.cells, exp, layout=layout, state=pack.initial_state, controller=ctl, balancer=hw,
                    options=opts, estimator=est)
    assert fast.sizes == slow.sizes
    held = "balancer_shunt_S" if kind == "passive" else "balancer_element_current_A"
    assert np.abs(fast[held].values).max() > 0  # the balancer acted
    for v in ("soc", "voltage_V", "current_A", "temperature_K", "energy_load_J", "energy_cells_J",
              "energy_bleed_J", "energy_converter_loss_J", held):
        np.testing.assert_allclose(fast[v].values, slow[v].values, rtol=1e-10, atol=1e-10, err_msg=v)
    np.testing.assert_allclose(fast.event_end_s.values, slow.event_end_s.values, rtol=0, atol=1e-9)


def test_a_balanced_run_writes_to_netcdf_as_returned(tmp_path):
    """Every slot log (measurements, estimates, commands, held actions) survives the round trip."""
    import xarray as xr

    p = get_parameter_set("nmc_lg_m50")
    layout = PackLayout(n_series=6)
    ab = ActiveBalancer(get_topology("ring", 6), ConverterModel(efficiency=0.9))
    cells = p.compile(6)
    ds = simulate(cells, Experiment(["Run US06 for 5 minutes"], period_s=1.0), layout=layout,
                  state=initial_state(cells, soc=np.linspace(0.5, 0.6, 6)),
                  estimator=PerfectEstimator(period_s=10.0), controller=VoltageDifferenceTransfer(ab.edges),
                  balancer=ab)
    for v in ("measured_element_voltage_V", "estimated_soc", "estimated_soc_std", "command_edge_current_A",
              "balancer_element_current_A", "balancer_converter_loss_W"):
        assert v in ds
    path = tmp_path / "run.nc"
    ds.to_netcdf(path)
    back = xr.open_dataset(path, decode_times=False)
    for v in ds.variables:
        np.testing.assert_array_equal(back[v].values, ds[v].values, err_msg=v)
    assert back.attrs == ds.attrs
    back.close()


def test_the_supervisor_derates_and_stops_balancing_when_cells_run_hot():
    """Passive bleeding every minute under an hourly thermal supervisor: a pack at 50 degC is derated
    to half (bleed conductance halved from the supervisor's call on), at 60 degC stopped (no bleed
    energy after its first call); the directives are recorded with their reasons."""
    from cellbalance.control.supervisory import ThermalDerating

    p = get_parameter_set("nmc_lg_m50")
    layout = PackLayout(n_series=4)
    cells = p.compile(4)
    hw = PassiveBalancer(r_bleed_ohm=20.0, pause_to_measure=False)
    sup = ThermalDerating(period_s=600.0, derate_from_C=45.0, stop_at_C=55.0)
    out = {}
    for amb_C in (25.0, 50.0, 60.0):
        s0 = initial_state(cells, soc=[0.6, 0.61, 0.62, 0.63], temperature_K=amb_C + 273.15)
        out[amb_C] = simulate(cells, Experiment(["Rest for 30 minutes"], period_s=1.0), layout=layout, state=s0,
                              ambient_K=amb_C + 273.15, controller=BleedAboveMinimum(period_s=60.0, threshold_V=0.0),
                              balancer=hw, supervisor=sup)
    g_full = out[25.0].balancer_shunt_S.values.max()
    assert g_full == pytest.approx(1 / 20.0)
    np.testing.assert_array_equal(out[25.0].supervisor_derate.values, 1.0)
    d50 = out[50.0].supervisor_derate.values
    assert d50[0] == pytest.approx(0.5, abs=0.02)  # 50 degC: halfway between 45 and 55
    assert out[50.0].balancer_shunt_S.values.max() == pytest.approx(g_full * d50[0], rel=1e-12)
    assert "derated" in str(out[50.0].supervisor_reason.values[0])
    assert out[60.0].supervisor_balancing_enabled.values[0] == 0
    assert out[60.0].energy_bleed_J.values[-1, 0] == 0.0
    assert out[25.0].energy_bleed_J.values[-1, 0] > 0.0
    np.testing.assert_array_equal(out[60.0].supervisor_time.values, [0.0, 600.0, 1200.0])


def test_a_segment_that_pauses_for_the_controller_hands_links_to_the_general_loop(monkeypatch):
    """Between controller calls the compiled segment pauses at each call and goes on; when a call
    switches conductance links on (which the segments do not solve) it stops there, the general
    loop runs the periods with the links, and the segments take over again once they are off: the
    run equals the per-period loop throughout."""
    p = get_parameter_set("nmc_lg_m50")
    cells = p.compile(2, r0_scale=np.array([1.0, 1.6]))
    ab = ActiveBalancer(get_topology("switched_capacitor", 2, capacitance_F=1e-3, f_sw_Hz=5e3))
    on = np.array([False, True, False, True, False])[:, None, None] & np.ones((1, 1, ab.n_edges), bool)
    sched = OpenLoopSchedule(times_s=[0.0, 300.0, 480.0, 780.0, 900.0], links_on=on, period_s=60.0)
    run = dict(layout=PackLayout(n_series=2), state=initial_state(cells, soc=[0.62, 0.6]), controller=sched,
               balancer=ab, options=SimulationOptions(record_every=1))
    exp = Experiment(["Run US06 for 20 minutes"], period_s=1.0)
    advanced = []
    orig = L._try_segment
    monkeypatch.setattr(L, "_try_segment", lambda *a, **kw: advanced.append(orig(*a, **kw)) or advanced[-1])
    fast = simulate(cells, exp, **run)
    links_on_s = 180 + 120  # 300-480 s and 780-900 s
    assert 1200 - links_on_s - 10 <= sum(advanced) <= 1200 - links_on_s  # segments ran exactly when the links were off
    monkeypatch.setattr(L, "_try_segment", lambda *a, **kw: 0)
    slow = simulate(cells, exp, **run)
    i_link = fast.current_A.values[:, 0, :] - fast.pack_current_A.values[:, 0, None]
    t = fast.time.values
    assert np.abs(i_link[(t >= 300) & (t < 480)]).max() > 1e-3  # the links carried current while on
    assert np.abs(i_link[(t >= 480) & (t < 780)]).max() == 0.0  # and none while off
    for v in ("soc", "voltage_V", "current_A", "temperature_K", "energy_load_J", "energy_cells_J"):
        np.testing.assert_allclose(fast[v].values, slow[v].values, rtol=1e-10, atol=1e-10, err_msg=v)
