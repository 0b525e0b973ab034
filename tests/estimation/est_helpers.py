"""Shared profile, sensors and filter run of the estimation tests."""

import numpy as np

from cellbalance.cell import docv_dsoc, get_parameter_set, initial_state
from cellbalance.estimation import (
    CurrentSensor,
    FilterTuning,
    NoisySensors,
    TemperatureSensors,
    VoltageSensor,
)
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate

# repeated UDDS / US06 with rests, about 3.5 h
DYNAMIC = []
for _ in range(4):
    DYNAMIC += ["Run UDDS for 1369 s", "Rest for 10 minutes", "Run US06 for 600 s", "Rest for 10 minutes"]

SENSORS = NoisySensors(current=CurrentSensor(noise_std_A=0.02), voltage=VoltageSensor(noise_std_V=1e-3, adc_bits=16),
                       temperature=TemperatureSensors(noise_std_K=0.2), seed=1)


def run_filter(name, estimator_cls, z_true0=0.9, offset=-0.05):
    p = get_parameter_set(name)
    est = estimator_cls(period_s=1.0, initial_soc=z_true0 + offset, tuning=FilterTuning())
    ds = simulate(p, Experiment(DYNAMIC, period_s=1.0), state=initial_state(p.compile(1), soc=z_true0),
                  sensors=SENSORS, estimator=est)
    te = ds.estimate_time.values
    zt = np.interp(te, ds.time.values, ds.soc.values[:, 0, 0])
    ze = ds.estimated_soc.values[:, 0, 0]
    sd = ds.estimated_soc_std.values[:, 0, 0]
    tt = np.interp(te, ds.time.values, ds.temperature_K.values[:, 0, 0])
    err = ze - zt
    after = te >= 600.0
    return {
        "t": te, "z": zt, "err": err, "std": sd,
        "dudz": docv_dsoc(p, np.clip(zt, 0.0, 1.0), tt),
        "rms_after_10min": float(np.sqrt(np.mean(err[after] ** 2))),
        "max_after_10min": float(np.abs(err[after]).max()),
        "final_3sigma": float(3 * sd[-1]),
        "inside_3sigma": float(np.mean(np.abs(err) <= 3 * sd)),
    }
