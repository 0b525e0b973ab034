"""Faults and their detection in the supervisory layer (issue 13, item 7): a 10 mA soft internal short
flagged within 7 days of daily cycling and no false alarm on 100 fault-free packs; a stuck voltage
channel flagged within 10 minutes of driving while the EKF keeps the other cells inside its bounds."""

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set
from cellbalance.errors import ParameterError
from cellbalance.estimation import EKFEstimator, NoisySensors, VoltageSensor
from cellbalance.estimation.faults import FaultySensors, SelfDischargeDetector, SensorFault, StuckSensorDetector
from cellbalance.pack import PackLayout
from cellbalance.pack.faults import CellFault
from cellbalance.pack.variation import preset, sample
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate

DAILY = Experiment(["Repeat 7 times: Discharge at 0.3C for 1 hour; Rest for 2 hours; Charge at 0.3C for 1 hour; "
                    "Rest for 20 hours"], period_s=10.0)
SENSORS = NoisySensors(voltage=VoltageSensor(noise_std_V=0.5e-3, adc_bits=16), seed=7)


def _first_alarm(ds, pack, element):
    key = f"pack {pack} element {element}:"
    hits = [t for t, a in zip(ds.supervisor_time.values, ds.supervisor_alarms.values, strict=True) if key in str(a)]
    return hits[0] if hits else None


@pytest.mark.slow
def test_a_soft_short_is_flagged_within_7_days_and_100_healthy_packs_raise_no_alarm():
    p = get_parameter_set("nmc_lg_m50")
    one = PackLayout(n_series=96)
    pack = sample(preset("typical"), p, one, seed=3, mean_soc=0.7)
    det = SelfDischargeDetector(period_s=600.0, threshold_A=0.003, min_span_s=2 * 86400.0)
    opts = SimulationOptions(record_every=360)
    ds = simulate(pack.cells, DAILY, layout=one, state=pack.initial_state, ambient_K=pack.ambient_K, sensors=SENSORS,
                  supervisor=det, faults=[CellFault(0.0, 41, "soft_short", 0.010)], options=opts)
    t_hit = _first_alarm(ds, 0, 41)
    assert t_hit is not None and t_hit <= 7 * 86400.0
    others = [str(a) for a in ds.supervisor_alarms.values if a and "element 41:" not in str(a)]
    assert not others, others[:3]
    # 100 fault-free packs of the same kind, one batched run: no alarm at all
    many = PackLayout(n_series=96, n_packs=100)
    packs = sample(preset("typical"), p, many, seed=11, mean_soc=0.7)
    ds = simulate(packs.cells, DAILY, layout=many, state=packs.initial_state, ambient_K=packs.ambient_K,
                  sensors=SENSORS, supervisor=det, options=SimulationOptions(record_every=8640))
    assert not any(str(a) for a in ds.supervisor_alarms.values)


def test_a_stuck_voltage_channel_is_flagged_within_10_minutes_and_the_ekf_keeps_the_others():
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=24)
    pack = sample(preset("typical"), p, lay, seed=5, mean_soc=0.7)
    sensors = FaultySensors(NoisySensors(voltage=VoltageSensor(noise_std_V=0.5e-3), seed=2),
                            faults=(SensorFault(300.0, 17, "stuck"),))
    ekf = EKFEstimator(period_s=1.0)
    kw = dict(layout=lay, state=pack.initial_state, ambient_K=pack.ambient_K, estimator=ekf,
              supervisor=StuckSensorDetector(period_s=10.0, window=30), options=SimulationOptions(record_every=10))
    exp = Experiment(["Run US06 for 20 minutes"], period_s=1.0)
    ds = simulate(pack.cells, exp, sensors=sensors, **kw)
    healthy = simulate(pack.cells, exp, sensors=FaultySensors(sensors.inner, ()), **kw)
    t_hit = _first_alarm(ds, 0, 17)
    assert t_hit is not None and 300.0 < t_hit <= 300.0 + 600.0
    flagged = {str(a).split(":")[0] for a in ds.supervisor_alarms.values if a}
    assert flagged <= {"pack 0 element 17"}, flagged
    # the other elements' estimates stay inside their 3-sigma bounds throughout
    est_t = ds.estimate_time.values
    both = np.isin(est_t, ds.time.values)  # the estimates made at a recorded row's time
    rows = np.searchsorted(ds.time.values, est_t[both])
    err = ds.estimated_soc.values[both, 0, :] - ds.soc.values[rows, 0, :]
    sd = ds.estimated_soc_std.values[both, 0, :]
    others = np.arange(24) != 17
    late = est_t[both] > 120.0  # after the filter's start-up
    inside = np.abs(err[late][:, others]) <= 3 * sd[late][:, others]
    # (a nominal-model EKF on a pack of typical variation: 98.9 % of element-times inside 3 sigma here)
    assert inside.mean() >= 0.98, inside.mean()
    # the stuck channel does not leak into the other elements' estimates: they are those of a healthy run
    np.testing.assert_allclose(ds.estimated_soc.values[:, 0, others], healthy.estimated_soc.values[:, 0, others],
                               rtol=0, atol=1e-12)
    assert not np.array_equal(ds.estimated_soc.values[:, 0, 17], healthy.estimated_soc.values[:, 0, 17])


def test_sensor_faults_read_as_specified_and_bad_ones_are_refused():
    from cellbalance.estimation import PerfectSensors
    from cellbalance.interfaces import LoopContext, NominalModel, TrueSignals

    lay = PackLayout(n_series=3)
    ctx = LoopContext(NominalModel(get_parameter_set("nmc_lg_m50"), lay), 1.0)
    fs = FaultySensors(PerfectSensors(), (SensorFault(10.0, 0, "offset", 0.01), SensorFault(10.0, 1, "drift", 1e-3),
                                          SensorFault(10.0, 2, "stuck")))
    st = fs.init(ctx)

    def truth(t, v):
        z = np.zeros((1, 3, 1))
        return TrueSignals(t, np.full((1, 3, 1), v), z + 298.0, z + 0.5, np.zeros(1), np.full(1, 3 * v), np.zeros(1))

    m, st = fs.step(5.0, truth(5.0, 3.7), st)
    np.testing.assert_array_equal(m.element_voltage_V, [[3.7, 3.7, 3.7]])
    m, st = fs.step(10.0, truth(10.0, 3.8), st)
    np.testing.assert_allclose(m.element_voltage_V, [[3.81, 3.8, 3.8]])
    m, st = fs.step(30.0, truth(30.0, 3.9), st)
    np.testing.assert_allclose(m.element_voltage_V, [[3.91, 3.9 + 0.02, 3.8]])  # drift 20 s x 1 mV/s; stuck at 3.8
    with pytest.raises(ParameterError, match=r"SensorFault\.kind must be one of offset, gain, drift, stuck, dropout"):
        SensorFault(0.0, 1, "noise")
    with pytest.raises(ParameterError, match="element 5 of pack 0, but the layout has 3 elements"):
        FaultySensors(PerfectSensors(), (SensorFault(0.0, 5, "stuck"),)).init(ctx)
