"""Side-by-side designs on one pack (issues 12 and 13): active beats passive in capacity recovered
within the same time, every design respects the limits, the firmware rules sit in the same table,
and the estimator is a dimension (true SOC, EKF, Coulomb counting alone)."""

import numpy as np
import pytest

from cellbalance.analysis.comparison import comparison_table
from cellbalance.balancing import ActiveBalancer, ConverterModel, PassiveBalancer, get_topology
from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.control import BleedToLowestSOC, Consensus, FoxBMSVoltage
from cellbalance.estimation import CoulombCounter, EKFEstimator, NoisySensors, PerfectEstimator, VoltageSensor
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.studies.compare import Design, run_comparison


def _pack(ns=16, soc_std=0.04):
    p = get_parameter_set("nmc_lg_m50")
    rng = np.random.default_rng(4)
    cells = p.compile(ns, capacity_Ah=p.capacity_Ah * (1 + 0.02 * rng.standard_normal(ns)))
    soc = 0.55 + soc_std * rng.standard_normal(ns)
    return p, cells, initial_state(cells, soc=soc)


@pytest.mark.slow
def test_active_recovers_more_than_passive_in_the_same_time_and_nothing_breaks_a_limit():
    p, cells, s0 = _pack()
    lay = PackLayout(n_series=16)
    ring = ActiveBalancer(get_topology("ring", 16), ConverterModel(efficiency=0.9, max_current_A=1.0))
    passive = PassiveBalancer(r_bleed_ohm=33.0)
    est = PerfectEstimator(period_s=60.0)
    designs = {
        "none": Design(),
        "passive, bleed to lowest SOC": Design(passive, BleedToLowestSOC(period_s=60.0), est),
        "passive, foxBMS voltage rule": Design(passive, FoxBMSVoltage(period_s=60.0)),
        "active ring, consensus": Design(ring, Consensus(period_s=60.0), est),
    }
    exp = Experiment(["Rest for 90 minutes"], period_s=5.0)
    res = run_comparison(cells, exp, designs, layout=lay, state=s0)
    tab = comparison_table(res, cells.cp[:, 0] / 3600.0,
                           v_min=p.v_min, v_max=p.v_max, t_max_K=p.t_max_K, spread_target=0.01)
    print(tab.to_string())
    assert (tab["limit_violations"] == 0).all()
    act, pas = tab.loc["active ring, consensus"], tab.loc["passive, bleed to lowest SOC"]
    assert act["recovered_Ah"] > pas["recovered_Ah"] > 0.0
    assert act["spread_end_pct"] < pas["spread_end_pct"] < tab.loc["none", "spread_end_pct"]
    assert tab.loc["none", "energy_lost_Wh"] == 0.0 and pas["energy_lost_Wh"] > 0.0
    assert np.isfinite(act["controller_ms_mean"]) and act["controller_ms_max"] >= act["controller_ms_mean"]
    # foxBMS' voltage rule waits 600 s of rest and balances down to its 200 mV threshold: a 4 % SOC
    # spread is well inside it, so it does nothing here (what the firmware ships)
    assert tab.loc["passive, foxBMS voltage rule", "energy_lost_Wh"] == 0.0


@pytest.mark.slow
def test_the_estimator_is_a_dimension_true_soc_ekf_and_coulomb_counting():
    """Bleeding to the lowest SOC on the true SOC, on EKF estimates and on Coulomb counting started
    from a wrong SOC (no rest long enough to recalibrate): the first two reach a small spread, the
    counter balances to its own wrong picture."""
    p, cells, s0 = _pack(8, soc_std=0.008)
    lay = PackLayout(n_series=8)
    passive = PassiveBalancer(r_bleed_ohm=22.0)
    sens = NoisySensors(voltage=VoltageSensor(noise_std_V=0.5e-3), seed=1)
    z_true = s0.soc.reshape(1, 8)
    wrong = np.clip(z_true + np.array([0.03, -0.03] * 4), 0, 1)  # what the counter believes at the start
    designs = {
        "none": Design(),
        "true SOC": Design(passive, BleedToLowestSOC(period_s=60.0), PerfectEstimator(period_s=60.0)),
        "EKF": Design(passive, BleedToLowestSOC(period_s=60.0), EKFEstimator(period_s=10.0, use_commanded_current=True),
                      sens),
        "Coulomb counting": Design(passive, BleedToLowestSOC(period_s=60.0),
                                   CoulombCounter(period_s=10.0, initial_soc=wrong, recalibrate_after_rest_s=None,
                                                  use_commanded_current=True), sens),
    }
    exp = Experiment(["Run US06 for 30 minutes", "Rest for 150 minutes"], period_s=2.0)
    res = run_comparison(cells, exp, designs, layout=lay, state=s0)
    tab = comparison_table(res, cells.cp[:, 0] / 3600.0, v_min=p.v_min, v_max=p.v_max, t_max_K=p.t_max_K)
    print(tab.to_string())
    assert (tab["limit_violations"] == 0).all()
    assert tab.loc["true SOC", "spread_end_pct"] < tab.loc["none", "spread_end_pct"]
    assert tab.loc["EKF", "spread_end_pct"] < tab.loc["none", "spread_end_pct"]
    assert tab.loc["true SOC", "spread_end_pct"] < 1.0 and tab.loc["EKF", "spread_end_pct"] < 1.5
    # the counter balances its own wrong picture: the true spread ends near its 6 %-point belief error
    assert tab.loc["Coulomb counting", "spread_end_pct"] > 3.0
