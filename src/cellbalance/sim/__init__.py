"""The simulation loop and its results."""

from .interfaces import BalancingAction, Controller, Estimator, LoopContext, Measurement
from .loop import SimulationOptions, simulate
from .results import Recorder

__all__ = [
    "BalancingAction",
    "Controller",
    "Estimator",
    "LoopContext",
    "Measurement",
    "Recorder",
    "SimulationOptions",
    "simulate",
]
