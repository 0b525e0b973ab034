"""Balancing hardware: topologies as graphs, averaged converters, the switched-mode layer.

* :mod:`.graph`: :class:`BalancingGraph` (incidence, Laplacian, Kron reduction, networkx).
* :mod:`.topologies`: constructors and the registry :func:`get_topology`.
* :mod:`.converter`: :class:`ConverterModel`, :func:`edge_transfer`, :class:`ActiveBalancer`.
* :mod:`.switched`: the switched buck-boost between two cells, its cycle average, efficiency map.
* :mod:`.passive` and :mod:`.openloop` (bleed resistors, commanded schedules) are loaded on first
  use of their names (they pull in the simulation loop's interfaces).
"""

from __future__ import annotations

import importlib

from .converter import (
    ActiveBalancer,
    ConverterModel,
    EdgeTransfer,
    EfficiencyMap,
    conductance_transfer,
    edge_transfer,
    fit_loss_model,
)
from .graph import BalancingGraph, kron_reduce
from .switched import (
    AveragedTransfer,
    BuckBoostParams,
    SwitchedResult,
    averaged_transfer,
    efficiency_map,
    simulate_switched,
)
from .topologies import (
    adjacent,
    available_topologies,
    bus,
    cell_to_pack,
    complete,
    get_topology,
    modular,
    pack_to_cell,
    register_topology,
    ring,
    switched_capacitor,
    switched_capacitor_conductance,
)

_LAZY = {"PassiveBalancer": "passive", "grant_channels": "passive", "measured_voltage": "passive",
         "OpenLoopSchedule": "openloop"}

__all__ = [
    "ActiveBalancer",
    "AveragedTransfer",
    "BalancingGraph",
    "BuckBoostParams",
    "ConverterModel",
    "EdgeTransfer",
    "EfficiencyMap",
    "OpenLoopSchedule",
    "PassiveBalancer",
    "SwitchedResult",
    "adjacent",
    "available_topologies",
    "averaged_transfer",
    "bus",
    "cell_to_pack",
    "complete",
    "conductance_transfer",
    "edge_transfer",
    "efficiency_map",
    "fit_loss_model",
    "get_topology",
    "grant_channels",
    "kron_reduce",
    "measured_voltage",
    "modular",
    "pack_to_cell",
    "register_topology",
    "ring",
    "simulate_switched",
    "switched_capacitor",
    "switched_capacitor_conductance",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
