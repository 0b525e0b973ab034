"""Bad sensor or estimator configuration is refused with one error naming the field and the value."""

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set
from cellbalance.errors import ConfigError, ParameterError
from cellbalance.estimation import (
    CoulombCounter,
    CurrentSensor,
    EKFEstimator,
    FilterTuning,
    NoisySensors,
    TemperatureSensors,
    VoltageSensor,
)
from cellbalance.pack import PackLayout
from cellbalance.sim import simulate


@pytest.mark.parametrize(("build", "field", "value"), [
    (lambda: CurrentSensor(noise_std_A=-0.1), "CurrentSensor.noise_std_A", "-0.1"),
    (lambda: VoltageSensor(noise_std_V=-1e-3), "VoltageSensor.noise_std_V", "-0.001"),
    (lambda: TemperatureSensors(noise_std_K=-2.0), "TemperatureSensors.noise_std_K", "-2"),
    (lambda: VoltageSensor(adc_bits=0), "VoltageSensor.adc_bits", "0"),
    (lambda: FilterTuning(voltage_noise_std_V=-1e-3), "FilterTuning.voltage_noise_std_V", "-0.001"),
    (lambda: FilterTuning(initial_covariance=((1e-4, 2e-4), (2e-4, 1e-4))), "FilterTuning.initial_covariance",
     "0.0001"),
    (lambda: FilterTuning(current_noise_std_A=-1.0), "FilterTuning.current_noise_std_A", "-1"),
    (lambda: CoulombCounter(current_offset_std_A=-0.01), "CoulombCounter.current_offset_std_A", "-0.01"),
    (lambda: EKFEstimator(period_s=0.0), "EKFEstimator.period_s", "0"),
])
def test_refused_at_construction(build, field, value):
    with pytest.raises(ParameterError) as e:
        build()
    assert field in str(e.value) and value in str(e.value)


def test_temperature_sensor_on_a_cell_that_does_not_exist():
    p = get_parameter_set("nmc_lg_m50")
    sens = NoisySensors(temperature=TemperatureSensors(cells=(0, 7)))
    with pytest.raises(ConfigError, match=r"TemperatureSensors\.cells has cell 7.*2s1p has cells 0 \.\. 1"):
        simulate(p, ["Rest for 10 s"], layout=PackLayout(n_series=2), sensors=sens, estimator=EKFEstimator())


def test_covariance_of_the_wrong_size_for_the_nominal_cell():
    p = get_parameter_set("nmc_lg_m50")  # two RC pairs: state [z, v1, v2, h]
    est = EKFEstimator(tuning=FilterTuning(initial_covariance=np.eye(3) * 1e-4))
    with pytest.raises(ParameterError, match=r"initial_covariance has shape \(3, 3\).*\(4, 4\)"):
        simulate(p, ["Rest for 10 s"], estimator=est)
