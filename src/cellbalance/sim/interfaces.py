"""What the simulation loop hands to, and takes from, estimators, controllers and balancers.

These are the slots of the multi-rate loop (see docs/architecture.md): the plant steps at the
experiment period; an estimator and a controller run at their own (slower) periods; a balancer
turns a controller's command into element currents and heat every plant step.
Controllers and estimators share one shape, ``init(context) -> state`` then
``step(t_s, inputs, state) -> (output, state)``, with no hidden state on ``self``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..cell.params import CompiledCells
from ..pack.layout import PackLayout

__all__ = ["BalancingAction", "Controller", "Estimator", "LoopContext", "Measurement"]


@dataclass(frozen=True)
class LoopContext:
    """What a component may know about the plant when it starts."""

    cells: CompiledCells
    layout: PackLayout
    period_s: float


@dataclass(frozen=True)
class Measurement:
    """Signals available to a BMS at one instant (true values unless a sensor model is plugged in).

    Arrays are shaped (n_packs, n_series, n_parallel) for cells, (n_packs,) for packs.
    """

    t_s: float
    cell_voltage_V: np.ndarray
    cell_temperature_K: np.ndarray
    pack_current_A: np.ndarray
    element_current_A: np.ndarray


@dataclass(frozen=True)
class BalancingAction:
    """What the balancing hardware does to the pack until the next controller call.

    element_current_A : (n_packs, n_series) extra current into each series element [A]
        (positive = charging it), e.g. from active converters; a cell-to-pack converter's output
        is a series current and so appears on every element of the string.
    element_shunt_S : (n_packs, n_series) conductance across each element [S] (passive bleed
        resistors switched on: 1/R_bleed), solved with the pack at every plant step.
    cell_heat_W : (n_cells,) heat into each cell's thermal node [W] (e.g. part of the bleed heat).
    losses_W : (n_packs,) the converter model's own loss estimate [W], for the caller's information;
        the loop's bookkeeping charges the converters with what they actually draw from the elements.
    """

    element_current_A: np.ndarray | float = 0.0
    element_shunt_S: np.ndarray | None = None
    cell_heat_W: np.ndarray | None = None
    losses_W: np.ndarray | None = None


@runtime_checkable
class Estimator(Protocol):
    period_s: float

    def init(self, context: LoopContext) -> Any: ...

    def step(self, t_s: float, measurement: Measurement, state: Any) -> tuple[Any, Any]: ...


@runtime_checkable
class Controller(Protocol):
    period_s: float

    def init(self, context: LoopContext) -> Any: ...

    def step(self, t_s: float, measurement: Measurement, estimate: Any, state: Any) -> tuple[BalancingAction, Any]: ...
