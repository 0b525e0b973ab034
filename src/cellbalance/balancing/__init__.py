"""Balancing hardware: topologies as graphs, averaged converters, the switched-mode layer.

* :mod:`.graph`: :class:`BalancingGraph` (incidence, Laplacian, Kron reduction, networkx).
* :mod:`.topologies`: constructors and the registry :func:`get_topology`.
* :mod:`.converter`: :class:`ConverterModel`, :func:`edge_transfer`, :class:`ActiveBalancer`.
* :mod:`.switched`: the switched buck-boost between two cells, its cycle average, efficiency map.
* :mod:`.passive`: bleed resistors with AFE limits; :mod:`.hardware`: both on one string, and
  :func:`hold_command` (command -> per-step law); :mod:`.openloop`: commanded schedules.

Hardware imports the slot types (:mod:`cellbalance.interfaces`) and never the simulation loop.
"""

from __future__ import annotations

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
from .hardware import BalancingHardware, hold_command
from .openloop import OpenLoopSchedule
from .passive import PassiveBalancer, grant_channels, measured_voltage
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

__all__ = [
    "ActiveBalancer",
    "AveragedTransfer",
    "BalancingGraph",
    "BalancingHardware",
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
    "hold_command",
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
