"""Equivalent-circuit cell model: parameters, state, dynamics, parameter sets."""

from .model import (
    CellState,
    docv_dsoc,
    emf_and_r0,
    initial_state,
    open_circuit_voltage,
    soc_from_ocv,
    step,
    terminal_voltage,
)
from .parameter_sets import available, get_parameter_set
from .params import CellParameters, CompiledCells, RCPair, ThermalParameters
from .tables import Table

__all__ = [
    "CellParameters",
    "CellState",
    "CompiledCells",
    "RCPair",
    "Table",
    "ThermalParameters",
    "available",
    "docv_dsoc",
    "emf_and_r0",
    "get_parameter_set",
    "initial_state",
    "open_circuit_voltage",
    "soc_from_ocv",
    "step",
    "terminal_voltage",
]
