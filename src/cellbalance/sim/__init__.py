"""The simulation loop and its results."""

from .loop import SimulationOptions, simulate
from .results import Recorder

__all__ = ["Recorder", "SimulationOptions", "simulate"]
