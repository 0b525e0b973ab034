"""Sensors and estimators for the loop's slots (:mod:`cellbalance.interfaces`).

* :mod:`.sensors`: seeded sensor models (current offset/gain/noise, ADC, partial thermistors);
* :mod:`.coulomb`: Coulomb counting per element with OCV recalibration after rest;
* :mod:`.ekf`, :mod:`.spkf`, :mod:`.bardelta`: batched Kalman filters on the nominal cell model
  (extended, sigma-point, and Plett's bar-delta form for large packs);
* :mod:`.capacity`: total capacity by weighted total least squares (slow, supervisory layer);
* :mod:`.perfect`: perfect sensors (the default) and the true SOC passed through.
"""

from .bardelta import BarDeltaEstimator
from .capacity import CapacityEstimator, capacity_wls, capacity_wtls
from .common import FilterTuning
from .coulomb import CoulombCounter
from .ekf import EKFEstimator
from .perfect import PerfectEstimator, PerfectSensors
from .sensors import CurrentSensor, NoisySensors, TemperatureSensors, VoltageSensor
from .spkf import SPKFEstimator

__all__ = [
    "BarDeltaEstimator",
    "CapacityEstimator",
    "CoulombCounter",
    "CurrentSensor",
    "EKFEstimator",
    "FilterTuning",
    "NoisySensors",
    "PerfectEstimator",
    "PerfectSensors",
    "SPKFEstimator",
    "TemperatureSensors",
    "VoltageSensor",
    "capacity_wls",
    "capacity_wtls",
]
