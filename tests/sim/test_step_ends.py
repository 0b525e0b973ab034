"""Issue 11: every step end is reported (reason, cell or element, value reached, limit), a limit the step
does not name warns, nothing is clamped, a pack-voltage cut-off is a pack voltage, and the run-length
limit is a setting whose end warns."""

import warnings

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set
from cellbalance.errors import ConfigError, RunLengthWarning, SimulationError, StepEndWarning
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import preset, sample
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate

P = get_parameter_set("nmc_lg_m50")


def _events(ds):
    return {v[len("event_"):]: ds[v].values for v in ds.data_vars if v.startswith("event_")}


def test_wltc_on_96s2p_ends_at_v_max_naming_the_cell_and_warns():
    """The issue's case: 'Run WLTC for 30 minutes' from SOC 0.8 ended at 172 s in silence. Now the event names
    the cells' limit v_max (which the step does not name), the cell that reached it, and a warning says so."""
    lay = PackLayout(96, 2)
    sp = sample(preset("typical"), P, lay, seed=7, mean_soc=0.8)
    with pytest.warns(StepEndWarning, match=r"step 1 'Run WLTC for 30 minutes' ended after 172\.\d+ s of its 1800 s "
                                            r"in pack 0 .*cell \d+ \(element \d+, position [01]\) rose to 4\.2\d* V: "
                                            r"the cells' limit v_max = 4\.2 V"):
        ds = simulate(sp.cells, Experiment(["Run WLTC for 30 minutes"], period_s=2.0), layout=lay,
                      state=sp.initial_state, ambient_K=sp.ambient_K)
    ev = _events(ds)
    assert list(ev["reason"]) == ["cell limit"] and ev["written"][0] == 0
    assert ev["quantity"][0] == "cell_voltage_V" and ev["limit"][0] == P.v_max and ev["value"][0] >= P.v_max
    assert 170 < ev["end_s"][0] < 175
    # the element named is the one at the top: the highest voltage of the last row before the end (its two
    # parallel cells share that voltage); the cell is one of its two
    k = np.searchsorted(ds.time.values, ev["end_s"][0]) - 1
    assert ev["element"][0] == int(np.argmax(ds.voltage_V.values[k, 0])) // 2
    assert ev["element"][0] == ev["cell"][0] // 2


def test_a_written_cut_off_is_reported_as_one_and_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", StepEndWarning)
        ds = simulate(P, Experiment(["Discharge at 1C until 3.5 V", "Charge at 1C for 10 minutes",
                                     "Hold at 4.2 V until C/20"], period_s=10.0), state=None)
    ev = _events(ds)
    assert list(ev["reason"]) == ["cut-off", "duration", "cut-off"]
    assert list(ev["written"]) == [1, 1, 1]
    assert ev["quantity"][0] == "cell_voltage_V" and abs(ev["value"][0] - 3.5) < 1e-6 and ev["cell"][0] == 0
    assert ev["limit"][1] == 600.0 and np.isnan(ev["value"][1])
    # the hold ends on its taper: the pack current at the end is C/20 = 0.25 A
    assert ev["quantity"][2] == "pack_current_A" and abs(abs(ev["value"][2]) - 0.25) < 1e-6


def test_a_step_that_runs_into_v_min_before_its_duration_warns():
    with pytest.warns(StepEndWarning, match=r"step 1 'Discharge at 2C for 1 hour' ended after \d+\.?\d* s of its "
                                            r"3600 s in pack 0 .*fell to 2\.5\d* V: the cells' limit v_min = 2\.5 V"):
        ds = simulate(P, Experiment(["Discharge at 2C for 1 hour"], period_s=10.0))
    assert ds.event_reason.values[0] == "cell limit"


@pytest.mark.parametrize("step,message", [
    ("Discharge at 1C until 2.0 V", r"cut-off 2 V is outside .* lower limit v_min = 2.5 V would end the step"),
    ("Charge at 1C until 4.5 V", r"cut-off 4.5 V is outside .* upper limit v_max = 4.2 V would end the step"),
    ("Discharge at 1C until 4.5 V", r"cut-off 4.5 V is outside the cells' voltage limits \[2.5, 4.2\] V"),
    ("Run US06 for 1 minute or until 2.0 V", r"cut-off 2 V is outside"),
    ("Rest for 1 minute or until 4.5 V", r"cut-off 4.5 V is outside"),
    ("Hold at 5.0 V until C/20", r"hold voltage 5 V is outside the cells' limits \[2.5, 4.2\] V"),
])
def test_a_cut_off_or_hold_outside_the_cell_limits_is_an_error_not_a_clamp(step, message):
    with pytest.raises(SimulationError, match=message):
        simulate(P, Experiment([step], period_s=10.0))


def test_a_rest_ends_on_its_voltage_cut_off():
    """Before, 'until' on a rest was ignored: the rest after a charge relaxes down through the cut-off."""
    ds = simulate(P, Experiment(["Charge at 1C for 10 minutes", "Rest for 1 hour or until 3.9 V"], period_s=5.0))
    ev = _events(ds)
    assert ev["reason"][1] == "cut-off" and abs(ev["value"][1] - 3.9) < 1e-6
    assert ev["end_s"][1] - ev["start_s"][1] < 3600


def test_a_pack_cut_off_is_the_pack_terminal_voltage():
    """4 identical cells in series with an interconnect: the pack at 14.0 V is each cell at 3.5 V plus the
    busbar drop I R (discharging at 5 A through 10 mOhm: 3.5125 V). Both runs end at the same time."""
    lay = PackLayout(4, interconnect_ohm=0.01)
    pack = simulate(P, Experiment(["Discharge at 5 A until pack 14.0 V"], period_s=10.0), layout=lay)
    cell = simulate(P, Experiment(["Discharge at 5 A until 3.5125 V"], period_s=10.0), layout=lay)
    assert pack.event_reason.values[0] == "cut-off" and pack.event_quantity.values[0] == "pack_voltage_V"
    assert abs(pack.event_value.values[0] - 14.0) < 1e-6 and pack.event_cell.values[0] == -1
    assert abs(float(pack.event_end_s[0]) - float(cell.event_end_s[0])) < 1e-6


def test_a_cell_cut_off_that_looks_like_a_pack_voltage_is_refused_with_the_conversion():
    lay = PackLayout(96)
    with pytest.raises(SimulationError, match=r"looks like a pack voltage: on this 96s pack it is 3.125 V per cell; "
                                              r"write 'until pack 300 V'"):
        simulate(P, Experiment(["Discharge at 1C until 300 V"], period_s=10.0), layout=lay)
    with pytest.raises(SimulationError, match=r"pack cut-off 200 V is outside .* \[240, 403.2\] V"):
        simulate(P, Experiment(["Discharge at 1C until pack 200 V"], period_s=10.0), layout=lay)


def test_a_60_day_rest_runs_60_days_and_a_shorter_limit_warns():
    ds = simulate(P, Experiment(["Rest for 60 days"], period_s=3600.0))
    assert float(ds.time[-1]) == 60 * 86400 and ds.attrs["truncated"] == 0
    assert ds.event_reason.values[0] == "duration"
    with pytest.warns(RunLengthWarning, match=r"run-length limit, 2.592e\+06 s \(30 days\), before every step ended "
                                              r"\(pack 0 in step 1 'Rest for 60 days'\).*max_time_s"):
        ds = simulate(P, Experiment(["Rest for 60 days"], period_s=3600.0),
                      options=SimulationOptions(max_time_s=30 * 86400.0))
    assert float(ds.time[-1]) == 30 * 86400 and ds.attrs["truncated"] == 1
    assert ds.event_reason.values[0] == "run-length limit"


def test_the_default_run_length_limit_comes_from_the_steps():
    exp = Experiment(["Rest for 60 days", "Discharge at 1C until 3 V"])
    assert SimulationOptions().run_length_s(exp) == 90 * 86400.0
    assert SimulationOptions(max_time_s=5.0).run_length_s(exp) == 5.0


@pytest.mark.parametrize("step", ["Discharge at 0 A until 2.5 V", "Charge at 0C until 4.2 V",
                                  "Discharge at 0 W until 3 V"])
def test_a_zero_current_step_to_a_cut_off_is_refused_up_front(step):
    with pytest.raises(ConfigError, match=r"at 0 A \(or 0 W\) draws no current, so no voltage or temperature "
                                          r"cut-off can end it.*'Rest for <time>'"):
        Experiment([step])
    Experiment([step.split(" until")[0] + " for 1 minute"])  # with a duration it is a rest, and allowed


def test_or_conditions_end_on_the_first_one_met():
    """PyBaMM's 'until 2.5 V or 45 degC': a hot cell (20 J/K) reaches 40 degC before 3.0 V at 2C."""
    hot = P.replace(thermal=P.thermal.__class__(heat_capacity_J_per_K=20.0, cooling_W_per_K=0.05))
    ds = simulate(hot, Experiment(["Discharge at 2C until 3.0 V or 40 degC"], period_s=5.0))
    assert ds.event_quantity.values[0] == "cell_temperature_K" and ds.event_reason.values[0] == "cut-off"
    assert abs(ds.event_value.values[0] - 313.15) < 1e-6
    cold = simulate(P, Experiment(["Discharge at 2C until 3.0 V or 40 degC"], period_s=5.0))
    assert cold.event_quantity.values[0] == "cell_voltage_V" and abs(cold.event_value.values[0] - 3.0) < 1e-6


def _limit_run(balanced: str | None, soc, step: str):
    """2s1p, a step that runs into a cell limit; ``balanced``: None, 'converter' (1 A from element 0 to
    element 1, 90 % efficient) or 'bleed1' (33 Ohm on element 1)."""
    from cellbalance.balancing import ActiveBalancer, ConverterModel, OpenLoopSchedule, PassiveBalancer, get_topology
    from cellbalance.cell import initial_state

    cells = P.compile(2)
    kw = {}
    if balanced == "converter":
        kw = dict(balancer=ActiveBalancer(get_topology("adjacent", 2), ConverterModel(efficiency=0.9, max_current_A=2.0)),
                  controller=OpenLoopSchedule(times_s=[0.0], edge_current_A=np.full((1, 1, 1), 1.0), period_s=60.0))
    elif balanced == "bleed1":
        kw = dict(balancer=PassiveBalancer(r_bleed_ohm=33.0, pause_to_measure=False),
                  controller=OpenLoopSchedule(times_s=[0.0], bleed=np.array([[[False, True]]]), period_s=60.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StepEndWarning)
        return simulate(cells, Experiment([step], period_s=1.0), layout=PackLayout(n_series=2),
                        state=initial_state(cells, soc=soc), **kw)


def _stated_current(detail: str, verb: str) -> tuple[int, float]:
    import re

    m = re.search(rf"the balancer was {verb} element (\d+) at ([0-9.]+) A then", detail)
    assert m, detail
    return int(m.group(1)), float(m.group(2))


def test_a_cell_limit_reached_while_the_balancer_charges_that_cell_says_so_with_the_current():
    """The converter pushes charge into element 1 during a charge: element 1 reaches v_max first and the event
    says the balancer was charging it, at the held destination current the results record (eta V0 i / V1 at
    the command instant, ~0.9 A, not the 1 A commanded); the same charge without balancing says nothing of a
    balancer."""
    step = "Charge at 0.5C for 2 hours"
    ds = _limit_run("converter", [0.9, 0.9], step)
    ev = _events(ds)
    assert ev["reason"][0] == "cell limit" and ev["quantity"][0] == "cell_voltage_V" and ev["cell"][0] == 1
    el, i = _stated_current(ev["detail"][0], "charging")
    held = float(ds.balancer_element_current_A.values[-1, 0, 1])
    assert el == 1 and 0.8 < held < 0.95 and i == pytest.approx(held, rel=2e-3)
    plain = _events(_limit_run(None, [0.9, 0.9], step))
    assert plain["reason"][0] == "cell limit" and "balancer" not in plain["detail"][0]


def test_a_cell_that_reaches_v_min_while_bled_is_named_with_its_bleed_current_and_an_unbled_one_is_not():
    """Bleeding element 1 (33 Ohm) in a discharge: when element 1 is the one that reaches v_min, the event
    gives its bleed current V/R at the voltage reached; when element 0 (lower SOC, not bled) reaches it first,
    no balancer is named."""
    step = "Discharge at 0.5C for 3 hours"
    ev = _events(_limit_run("bleed1", [0.2, 0.12], step))
    assert ev["cell"][0] == 1 and ev["limit"][0] == P.v_min
    el, i = _stated_current(ev["detail"][0], "discharging")
    assert el == 1 and i == pytest.approx(ev["value"][0] / 33.0, rel=2e-3)
    other = _events(_limit_run("bleed1", [0.12, 0.2], step))
    assert other["cell"][0] == 0 and "balancer" not in other["detail"][0]


def test_switched_capacitor_links_never_push_the_limit_cell_so_no_balancer_is_named():
    """Links carry charge from the higher element voltage to the lower, so the element that reaches v_max in a
    charge is drained by them, never charged: the event names no balancer. (A sign error in the link term,
    ``+L v`` for ``-L v``, would report the links as charging it.) The links do act: the same charge without
    them ends at another time."""
    from cellbalance.balancing import ActiveBalancer, OpenLoopSchedule, get_topology
    from cellbalance.cell import initial_state

    cells = P.compile(2)
    sc = ActiveBalancer(get_topology("switched_capacitor", 2, capacitance_F=1e-3, f_sw_Hz=1e4))
    kw = dict(balancer=sc, controller=OpenLoopSchedule(times_s=[0.0], links_on=np.ones((1, 1, 1), bool), period_s=60.0))
    step = "Charge at 0.5C for 2 hours"
    runs = []
    for extra in (kw, {}):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StepEndWarning)
            runs.append(_events(simulate(cells, Experiment([step], period_s=1.0), layout=PackLayout(n_series=2),
                                         state=initial_state(cells, soc=[0.92, 0.85]), **extra)))
    linked, plain = runs
    assert linked["quantity"][0] == "cell_voltage_V" and linked["limit"][0] == P.v_max
    assert "balancer" not in linked["detail"][0]
    assert linked["end_s"][0] > plain["end_s"][0] + 1.0  # the links drained the top cell: it got there later
