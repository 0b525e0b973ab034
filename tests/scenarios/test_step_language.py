"""Issue 11: the step language says what it means. 'x N' repeats a drive cycle N times, 'scaled by N' (or
'at Nx current') multiplies its values, 'per cell' says the values are one cell's; PyBaMM's
'(1 minute period)' and 'until A or B' are read."""

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set
from cellbalance.errors import CellBalanceWarning, ConfigError
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.scenarios.profiles import load_drive_cycle
from cellbalance.sim import simulate

P = get_parameter_set("nmc_lg_m50")
US06 = load_drive_cycle("US06")


def test_x_n_repeats_the_cycle():
    """'Run US06 x 2' lasts twice the cycle and draws the same current as one cycle, twice over."""
    exp = Experiment(["Run US06 x 2"], period_s=1.0)
    assert exp.steps[0].duration_s == 2 * US06.duration_s
    ds = simulate(P, exp)
    assert float(ds.event_end_s[0]) == pytest.approx(2 * US06.duration_s, abs=1e-9)
    assert ds.event_reason.values[0] == "duration"
    t = ds.time.values[:-1]
    np.testing.assert_array_equal(ds.pack_current_A.values[:-1, 0], [US06.value_at(s % US06.duration_s) for s in t])


@pytest.mark.parametrize("text", ["Run US06 scaled by 2 for 2 minutes", "Run US06 at 2x current for 2 minutes"])
def test_scaled_by_n_multiplies_the_values(text):
    one = simulate(P, Experiment(["Run US06 for 2 minutes"], period_s=1.0))
    two = simulate(P, Experiment([text], period_s=1.0))
    np.testing.assert_array_equal(two.pack_current_A.values[:-1], 2 * one.pack_current_A.values[:-1])
    assert float(two.event_end_s[0]) == 120.0


def test_per_cell_puts_the_cycle_on_every_cell_of_a_parallel_group():
    """US06 is one cell's current: 'per cell' on a 1s3p pack draws 3 times it, so each (identical) cell
    carries the cycle itself; 'per pack' (the default) puts it on the string."""
    lay = PackLayout(1, 3)
    cell = simulate(P, Experiment(["Run US06 per cell for 2 minutes"], period_s=1.0), layout=lay)
    pack = simulate(P, Experiment(["Run US06 per pack for 2 minutes"], period_s=1.0), layout=lay)
    i = cell.current_A.values[:-1, 0]
    np.testing.assert_allclose(i, np.repeat(pack.pack_current_A.values[:-1, :], 3, axis=1), atol=1e-12)
    np.testing.assert_allclose(cell.pack_current_A.values[:-1, 0], 3 * pack.pack_current_A.values[:-1, 0])


def test_per_cell_power_profile_is_the_power_of_every_cell():
    """A power profile per cell on a 2s1p pack: the pack power is 2 x the (scaled) profile value."""
    lay = PackLayout(2, 1)
    wltc = load_drive_cycle("WLTC")
    ds = simulate(P, Experiment(["Run WLTC per cell scaled by 0.0002 for 1 minute"], period_s=1.0), layout=lay)
    p_pack = ds.pack_current_A.values[:-1, 0] * ds.voltage_V.values[:-1, 0].sum(-1)
    want = [2 * 0.0002 * wltc.value_at(s) for s in ds.time.values[:-1]]
    np.testing.assert_allclose(p_pack, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("text,message", [
    ("Run US06 x 4 for 10 hours", r"either a repeat count \('x N': N times the cycle\) or a duration"),
    ("Run US06 at 2x power for 1 minute", r"US06 is a current profile; write 'at 2x current' or 'scaled by 2'"),
    ("Run US06 x 0", r"repeat count must be > 0"),
    ("Run US06 scaled by 2 scaled by 3", r"scale given twice"),
    ("Run US06 twice", r"cannot read 'twice' after the drive cycle's name"),
    ("Discharge at 1C until 3 V or 3.1 V", r"'3.1 v' is given twice"),
])
def test_unclear_profile_steps_are_refused(text, message):
    with pytest.raises(ConfigError, match=message):
        Experiment([text])


def test_pybamm_period_sets_the_experiment_period_or_warns():
    assert Experiment(["Discharge at 1C for 1 hour (1 minute period)", "Rest for 1 hour (1 minute period)"]) \
        .period_s == 60.0
    with pytest.warns(CellBalanceWarning, match=r"period 60 s differs from the experiment's; every step runs at "
                                                r"the experiment's period_s = 10 s"):
        exp = Experiment(["Discharge at 1C for 1 hour (1 minute period)"], period_s=10.0)
    assert exp.period_s == 10.0 and exp.steps[0].duration_s == 3600.0


def test_pybamm_or_conditions_are_read():
    s = Experiment(["Discharge at 1C until 2.5 V or 45 degC"]).steps[0]
    assert (s.until_voltage_V, s.until_temperature_K) == (2.5, 45 + 273.15)
    s = Experiment(["Run US06 for 10 minutes or until 3 V or until 318.15 K"]).steps[0]
    assert (s.duration_s, s.until_voltage_V, s.until_temperature_K) == (600.0, 3.0, 318.15)
    s = Experiment(["Discharge at 10 A until pack 300 V or 45 degC"]).steps[0]
    assert (s.until_pack_voltage_V, s.until_voltage_V) == (300.0, None)
