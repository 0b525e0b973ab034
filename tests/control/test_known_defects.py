"""Known defects, kept as strict expected failures: each test states the physics that should hold and
fails today; when a change fixes the defect the test passes, xfail(strict=True) turns that into a
failure, and the marker must come off (so the fix is noticed and the test then guards it). Where an option
cures a defect that the default keeps, a plain test beside it shows the cure."""

import warnings

import numpy as np
import pytest

from cellbalance.balancing import ActiveBalancer, ConverterModel, get_topology
from cellbalance.cell import get_parameter_set
from cellbalance.control import MPC, Consensus
from cellbalance.estimation import EKFEstimator, NoisySensors
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import preset, sample
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate


def _us06_hour(soc: float, balanced: bool, limits=None, controller=Consensus):
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=96)
    pack = sample(preset("typical"), p, lay, seed=1, mean_soc=soc)
    extra = {}
    if balanced:
        ring = ActiveBalancer(get_topology("ring", 96), ConverterModel(efficiency=0.9, max_current_A=2.0))
        extra = dict(sensors=NoisySensors(seed=1), estimator=EKFEstimator(period_s=1.0),
                     controller=controller(period_s=60.0, pack_current_limits_A=limits), balancer=ring)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the step-end warning is what the test looks at, through the data
        return simulate(pack.cells, Experiment(["Run US06 for 1 hour"], period_s=1.0), layout=lay,
                        state=pack.initial_state, ambient_K=pack.ambient_K, options=SimulationOptions(record_every=1),
                        **extra)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="by default the consensus voltage guard takes its headroom from the voltage "
                   "at the command instant and does not foresee the pack current reversing (US06 regen) within the "
                   "held period: from 80 % SOC a balanced cell reaches v_max at t = 119 s (found 2026-12-03); "
                   "Consensus(pack_current_limits_A=...) cures it (test below)")
def test_consensus_on_ekf_estimates_causes_no_voltage_limit_violation_under_us06_regen():
    v_max = get_parameter_set("nmc_lg_m50").v_max
    none = _us06_hour(0.8, balanced=False)
    # without balancing the pack drives the whole hour below v_max: a violation would be the balancer's
    assert float(none.time.values[-1]) == 3600.0 and float(none.voltage_V.max()) < v_max
    bal = _us06_hour(0.8, balanced=True)
    assert float(bal.time.values[-1]) == 3600.0, f"the run ended at {float(bal.time.values[-1]):g} s"
    assert float(np.nanmax(bal.voltage_V.values)) <= v_max


@pytest.mark.slow
def test_consensus_told_the_pack_current_range_keeps_every_cell_below_v_max_and_still_balances():
    """The same hour with the guard told the drive's current range (US06 here: -8.1 A to +4.21 A, its
    largest discharge and regen): the run completes, no cell reaches v_max, and the SOC spread still
    falls (measured 2026-12-03: max 4.124 V; spread 0.95 % -> 0.62 %)."""
    v_max = get_parameter_set("nmc_lg_m50").v_max
    bal = _us06_hour(0.8, balanced=True, limits=(-8.1, 4.21))
    assert float(bal.time.values[-1]) == 3600.0
    assert float(np.nanmax(bal.voltage_V.values)) < v_max - 0.02
    s0, s1 = float(bal.soc.values[0].std()), float(bal.soc.values[-1].std())
    assert s1 < 0.8 * s0, (s0, s1)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="MPC's final voltage guard is Consensus's (voltage_scale) and, by default, "
                   "takes the pack current measured at the call to hold: from 80 % SOC under US06 a balanced cell "
                   "reaches v_max at t = 120 s (found 2026-12-03); MPC(pack_current_limits_A=...) cures it (below)")
def test_mpc_on_ekf_estimates_causes_no_voltage_limit_violation_under_us06_regen():
    bal = _us06_hour(0.8, balanced=True, controller=MPC)
    assert float(bal.time.values[-1]) == 3600.0, f"the run ended at {float(bal.time.values[-1]):g} s"
    assert float(np.nanmax(bal.voltage_V.values)) <= get_parameter_set("nmc_lg_m50").v_max


@pytest.mark.slow
def test_mpc_told_the_pack_current_range_keeps_every_cell_below_v_max_and_still_balances():
    """As for Consensus: with US06's current range the hour completes below v_max and the spread falls
    (measured 2026-12-03: max 4.1315 V; spread 0.951 % -> 0.516 %)."""
    v_max = get_parameter_set("nmc_lg_m50").v_max
    bal = _us06_hour(0.8, balanced=True, limits=(-8.1, 4.21), controller=MPC)
    assert float(bal.time.values[-1]) == 3600.0
    assert float(np.nanmax(bal.voltage_V.values)) < v_max - 0.02
    s0, s1 = float(bal.soc.values[0].std()), float(bal.soc.values[-1].std())
    assert s1 < 0.8 * s0, (s0, s1)
