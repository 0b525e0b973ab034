"""Sensors and estimators for the loop's slots (:mod:`cellbalance.interfaces`)."""

from .perfect import PerfectEstimator, PerfectSensors

__all__ = ["PerfectEstimator", "PerfectSensors"]
