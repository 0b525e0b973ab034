"""Lifetime by timescale separation (issue 15): the representative-day method against a brute-force run
(every day simulated with the controller in the loop, aging advanced daily), the ordering of the designs
that physics demands, and the bad aging configurations."""

import time
import warnings

import numpy as np
import pytest

from cellbalance.aging import AgingRangeWarning
from cellbalance.balancing import ActiveBalancer, ConverterModel, PassiveBalancer, get_topology
from cellbalance.cell import get_parameter_set
from cellbalance.control import BleedToLowestSOC, Consensus
from cellbalance.errors import ConfigError, ParameterError
from cellbalance.estimation import PerfectEstimator
from cellbalance.io.lifetime_config import LifetimeConfig, run_lifetime_config
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import preset
from cellbalance.studies.compare import Design
from cellbalance.studies.drift import daily_cycle
from cellbalance.studies.lifetime import BRUTE_FORCE, AgingSetup, Stepping, run_lifetime

P = get_parameter_set("nmc_lg_m50")
M50 = "nmc811_grsi_lgm50_5ah_2021"


def _designs(ns, period_s=600.0):
    """No balancing; passive bleed to the lowest SOC; an active ring with SOC consensus (true SOC)."""
    est = PerfectEstimator(period_s=period_s)
    ring = ActiveBalancer(get_topology("ring", ns), ConverterModel(efficiency=0.9, max_current_A=1.0))
    # a bleed step of 0.12 A x 600 s is 0.4 % of 5 Ah: the threshold sits above it (no limit cycle)
    return {"none": Design(),
            "passive": Design(PassiveBalancer(r_bleed_ohm=33.0), BleedToLowestSOC(period_s=period_s, threshold_soc=0.01), est),
            "active": Design(ring, Consensus(period_s=period_s), est)}


def _run(ns, days, stepping, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgingRangeWarning)  # the M50 model is fitted at DOD 1 only
        return run_lifetime(P, PackLayout(ns, 1), preset("typical"), _designs(ns), years=days / 365,
                            aging=AgingSetup(M50, rate_sigma=0.1), cycle=daily_cycle(P), period_s=60.0, seed=1,
                            mean_soc=0.9, stepping=stepping, **kw)


@pytest.mark.slow
def test_representative_days_agree_with_brute_force_after_90_days_and_simulate_far_fewer_days():
    _run(12, 1, BRUTE_FORCE)  # warm-up: the first run of a process loads the compiled kernels (not timed)
    t0 = time.perf_counter()
    ts = _run(12, 90, Stepping())
    t_ts = time.perf_counter() - t0
    t0 = time.perf_counter()
    bf = _run(12, 90, BRUTE_FORCE)
    t_bf = time.perf_counter() - t0
    assert (bf.representative_cycles.values[:, -1] == 90).all()
    days_ts = ts.representative_cycles.values[:, -1]
    # each design: the first day (from the initial state), the days its balancer still converges, then one
    # representative day whenever a cell's capacity has moved by capacity_tol
    assert days_ts.sum() <= 0.1 * 3 * 90, days_ts
    u_ts, u_bf = ts.usable_capacity_Ah.values[:, -1, 0], bf.usable_capacity_Ah.values[:, -1, 0]
    np.testing.assert_allclose(u_ts, u_bf, rtol=0.01)
    np.testing.assert_allclose(ts.capacity_mean_rel.values[:, -1], bf.capacity_mean_rel.values[:, -1], rtol=1e-3)
    s_ts, s_bf = ts.soc_spread.values[:, -1, 0], bf.soc_spread.values[:, -1, 0]
    # without balancing the spread is the drift (several %-points): within 1 % of it; with the consensus it
    # is the controller's residual (0.6 %-point, moving from day to day by +-0.03): within 0.1 %-point
    assert abs(s_ts[0] / s_bf[0] - 1) < 0.01, (s_ts, s_bf)
    np.testing.assert_allclose(s_ts[2], s_bf[2], atol=1e-3)
    # the passive threshold rule limit-cycles (bleed one day, not the next): its spread on one given day is a
    # point of the band it holds (0.8-1.0 %-point here), so the spread at day 90 must lie within 0.1 %-point
    # of the band the brute-force run went through over its last 10 days
    band = bf.interval_soc_spread.values[1, -10:, 0]
    assert band.min() - 1e-3 <= s_ts[1] <= band.max() + 1e-3, (s_ts[1], band)
    # energies over the 90 days: the consensus moves about as much every day: converter loss within 5 % of
    # the brute-force sum; the threshold rule bleeds one day and not the next, and its extrapolated days take
    # the bleed of the representative days (samples of its limit cycle): within 25 %
    np.testing.assert_allclose(ts.energy_converter_loss_Wh.values[2, -1, 0],
                               bf.energy_converter_loss_Wh.values[2, -1, 0], rtol=0.05)
    np.testing.assert_allclose(ts.energy_bleed_Wh.values[1, -1, 0], bf.energy_bleed_Wh.values[1, -1, 0], rtol=0.25)
    print(f"timescale separation {t_ts:.1f} s ({days_ts} days simulated), brute force {t_bf:.1f} s: "
          f"{t_bf / t_ts:.1f}x (days {3 * 90 / days_ts.sum():.1f}x); usable rel err {u_ts / u_bf - 1}; "
          f"spread {s_ts} vs {s_bf}, passive band {band.min():.5f}..{band.max():.5f}")


@pytest.mark.slow
def test_active_keeps_at_least_as_much_as_passive_and_passive_more_than_none_and_bleeds_more_than_active_moves():
    ds = _run(12, 365, Stepping(capacity_tol=0.01, soc_tol=0.01, max_days=60))
    u = ds.usable_capacity_Ah.sel(year=ds.year[-1]).values[:, 0]
    none, passive, active = u
    # active and passive both bring the string to equal SOC, whose usable capacity is the weakest element's
    # (min D + min S = min Q at equal SOC): active >= passive up to the residual spread of each
    ideal = ds.ideal_capacity_Ah.sel(year=ds.year[-1]).values[:, 0]
    assert active >= passive - 0.005 * ideal[2]
    assert passive > none + 0.05 * ideal[1]
    assert (u <= ideal + 1e-9).all()
    # energy: the passive design burns in its bleed resistors more than the active one moves net (the charge
    # the elements give up over each day) and more than the active one loses in its converters
    bleed = ds.energy_bleed_Wh.values[1, -1, 0]
    net = ds.energy_moved_net_Wh.values[2, -1, 0]
    assert bleed > net > 0
    assert bleed > ds.energy_converter_loss_Wh.values[2, -1, 0] > 0
    assert ds.energy_moved_Wh.values[2, -1, 0] >= net
    print(f"usable after 1 year {u}; passive bleed {bleed:.1f} Wh, active moved net {net:.1f} Wh, "
          f"gross {ds.energy_moved_Wh.values[2, -1, 0]:.1f} Wh, converter loss {ds.energy_converter_loss_Wh.values[2, -1, 0]:.1f} Wh")
    assert ds.energy_bleed_Wh.values[2, -1, 0] == 0 and ds.energy_moved_Wh.values[1, -1, 0] == 0


def _cfg(**changes):
    d = {"cell": {"parameter_set": "nmc_lg_m50"}, "pack": {"n_series": 4}, "seed": 2,
         "variation": {"preset": "typical"}, "initial": {"soc": 0.9},
         "duty": {"period_s": 300.0}, "lifetime": {"years": 2 / 365.0, "capacity_tol": 0.5, "soc_tol": 1.0,
                                                   "max_days": 365},
         "design": [{"name": "none", "hardware": "none"}]}
    for k, v in changes.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return d


def test_bad_aging_configuration_gives_one_clear_message():
    with pytest.raises(ValueError, match=r"Unknown aging model 'nmc_kokam'.*allowed: \["):
        LifetimeConfig.model_validate(_cfg(aging={"model": "nmc_kokam"}))
    with pytest.raises(ValueError, match=r"aging.rate_mean\n  Input should be greater than or equal to 0"):
        LifetimeConfig.model_validate(_cfg(aging={"rate_mean": -0.5}))
    with pytest.raises(ParameterError, match=r"rate_scalar.*>= 0"):
        from cellbalance.aging import Stressors, get_aging_model

        m = get_aging_model(M50)
        m.advance(m.initial_state(2), Stressors.constant(days=1, temperature_K=298.15, soc=0.5), rate_scalar=[1, -1])
    cfg = LifetimeConfig.model_validate(_cfg(ambient_C=70.0))
    with pytest.raises(ConfigError, match=r"ambient_C = 70 degC is outside .* \(\[0, 60\] degC\)"):
        run_lifetime_config(cfg)
    cfg = LifetimeConfig.model_validate(_cfg(duty={"discharge_C": 3.0}))
    with pytest.raises(ConfigError, match=r"duty.discharge_C = 3 is above the highest C-rate .* \(2 1/h\)"):
        run_lifetime_config(cfg)


def test_outside_the_fitted_range_warns_naming_the_quantity_and_range():
    cfg = LifetimeConfig.model_validate(_cfg())
    with pytest.warns(AgingRangeWarning, match=r"depth of discharge outside the fitted range \[1, 1\]"):
        ds = run_lifetime_config(cfg)
    assert ds.sizes["year"] == 2 and ds.attrs["days"] == 2


def test_a_pack_drifting_empty_without_balancing_reaches_end_of_life_and_is_retired_not_extrapolated_below_zero():
    # second-life spreads (self-discharge sigma 60 %, efficiency deficit 50 %), 3x the nominal self-discharge;
    # capacity_tol 0.005 (the default when this was written): the brute-force run retires the pack on day 1,090,
    # five days before the end of year 3; capacity_tol 0.02 puts the crossing at day 1,095 (usable 0.2 % high)
    p = P.replace(self_discharge_A=3 * P.self_discharge_A)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgingRangeWarning)
        ds = run_lifetime(p, PackLayout(4, 1), preset("second_life"), {"none": Design()}, years=3,
                          aging=AgingSetup(M50, rate_sigma=0.1), cycle=daily_cycle(p), period_s=300.0, seed=3,
                          mean_soc=0.9, stepping=Stepping(capacity_tol=0.005, soc_tol=0.02, max_days=60),
                          start_date="2027-01-01")
    u = ds.usable_fraction.values[0, :, 0]
    eol = float(ds.eol_years.values[0, 0])
    assert 0 < eol < 3 and str(ds.eol_date.values[0, 0]).startswith(str(2027 + int(eol)))
    assert np.isnan(u[-1]) and (u[np.isfinite(u)] > 0).all()
    # the end of life lies between the last year above 0.8 and the first below it
    k = int(np.flatnonzero(~(u >= 0.8))[0])
    assert ds.year.values[k - 1] <= eol <= ds.year.values[k]
