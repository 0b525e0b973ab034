"""Without balancing the SOC spread grows as the self-discharge differences predict."""

import dataclasses

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import Distribution, Variation, preset
from cellbalance.scenarios.experiment import Experiment
from cellbalance.studies.drift import charge_end_index, daily_cycle, plot_drift, run_drift

MONTH_3PCT_A = 5.0 * 0.03 / (30 * 24)  # 3 % of 5 Ah per month [A]


def test_spread_grows_exactly_as_the_self_discharge_spread_predicts(tmp_path):
    """Only self-discharge varies (equal capacities, equal efficiency, no initial spread): the element
    SOCs differ only by -i_sd,i t / Q, so the spread at the end of each charge is exactly
    (max - min of i_sd / Q) * t."""
    p = get_parameter_set("nmc_lg_m50").replace(self_discharge_A=MONTH_3PCT_A)
    lay = PackLayout(n_series=12)
    var = Variation(self_discharge=Distribution(kind="uniform", mean=1.0, sigma=0.4, low=0.0))
    res = run_drift(p, lay, var, days=5, seed=3, period_s=60.0)
    df = res.per_cycle
    assert list(df.cycle) == list(range(6)) and df.exact.all()
    isd = res.pack.self_discharge_A
    q = res.pack.cells.capacity_As
    rate = (isd / q).max() - (isd / q).min()  # spread growth per second
    assert res.predicted_spread_per_day[0] == pytest.approx(rate * 86400, rel=1e-12)
    assert df.soc_spread.values == pytest.approx(rate * df.time_s.values, rel=1e-6, abs=1e-12)
    # charged to the top every cycle; each cycle is about a day
    assert np.all(df.soc_mean.values[1:] > 0.98)
    assert np.diff(df.day.values[1:]) == pytest.approx(np.ones(4), abs=0.05)
    # equal capacities Q: usable = Q (1 - spread), lost linearly, the same amount every cycle
    assert df.usable_Ah.values == pytest.approx(5.0 * (1 - df.soc_spread.values), rel=1e-12)
    assert np.all(np.diff(df.usable_Ah.values) < 0)
    loss = df.lost_per_cycle_Ah.values[2:]
    assert loss == pytest.approx(np.full(loss.size, loss.mean()), rel=1e-3)
    assert plot_drift(res, tmp_path / "drift.png").stat().st_size > 10_000


def test_typical_pack_drifts_with_its_self_discharge_differences():
    """Typical variation, self-discharge spread dominant: after the first charge, each element's SOC
    moves against the pack mean by -(i_sd/Q - mean) * t (up to the efficiency spread), and the
    usable capacity never rises. (Over these five days the capacity spread still dominates: the
    smallest element limits both ends, so the usable capacity stays at its capacity; the spread
    grows all the same.)"""
    p = get_parameter_set("nmc_lg_m50").replace(self_discharge_A=MONTH_3PCT_A)
    lay = PackLayout(n_series=12)
    var = dataclasses.replace(preset("typical"), initial_soc=Distribution(mean=0.0, sigma=0.0),
                              self_discharge=Distribution(kind="lognormal", sigma=0.5, low=0.05))
    res = run_drift(p, lay, var, days=5, seed=4, period_s=60.0)
    df = res.per_cycle
    z = res.element_soc[0, 1:]  # (cycles, Ns) at the ends of charges 1..5
    t = df.time_s.values[1:]
    rate = res.element_sd_rate[0]
    moved = (z[-1] - z[0]) - (z[-1] - z[0]).mean()
    expected = -(rate - rate.mean()) * (t[-1] - t[0])
    assert np.abs(moved - expected).max() < 0.1 * np.ptp(expected)
    assert np.corrcoef(moved, expected)[0, 1] > 0.99
    assert np.all(np.diff(df.usable_Ah.values[1:]) <= 1e-9)
    assert df.soc_spread.values[-1] > df.soc_spread.values[1]


def test_batch_of_packs_and_validation():
    p = get_parameter_set("nmc_lg_m50").replace(self_discharge_A=MONTH_3PCT_A)
    lay = PackLayout(n_series=4, n_packs=2)
    res = run_drift(p, lay, preset("typical"), days=2, seed=0, period_s=60.0)
    df = res.per_cycle
    assert len(df) == 2 * 3 and set(df.pack) == {0, 1} and df.exact.all()
    assert res.element_soc.shape == (2, 3, 4) and res.predicted_spread_per_day.shape == (2,)
    assert res.per_day is res.per_cycle
    with pytest.raises(ParameterError, match="days must be an integer >= 1"):
        run_drift(p, lay, preset("typical"), days=0)
    with pytest.raises(ParameterError, match="depth must be in"):
        daily_cycle(p, depth=1.5)
    lfp = get_parameter_set("lfp_a123_26650")
    assert f"until {lfp.v_max:g} V" in daily_cycle(lfp)[2]
    steps = Experiment(daily_cycle(p)).steps
    assert charge_end_index(steps) == 3  # the CV hold ends the charge
    assert charge_end_index(Experiment(["Discharge at 1C for 1 hour", "Rest for 1 hour"]).steps) == 1
