"""The slots of the closed loop and what flows between them.

The loop, as the reference article draws it (docs/architecture.md)::

    plant --(true signals)--> sensors --Measurement--> estimator --Estimate--> controller
      ^                                                                            |
      +--------- balancer (hardware: commands -> element currents, shunts) <--Command

Each slot runs at its own period: the plant at the experiment period, the sensors, the estimator
and the controller at theirs. Components are configured once (their constructor), then

* ``init(context) -> state`` once, with a :class:`LoopContext`: what the BMS designer knows (the
  *nominal* model, the layout, the balancing hardware), never the plant's true per-cell values;
* ``step(t_s, inputs..., state) -> (output, state)`` at each of their periods, with all their
  memory in ``state`` (nothing hidden on ``self``), as scikit-learn's estimators keep ``fit``
  separate from their parameters.

Batched calls (optional, for speed): sensors and estimators may also offer
``step_many(t_s, inputs..., state) -> (outputs, state)``, the same as ``len(t_s)`` calls of
``step`` in order, with ``t_s`` an (m,) array and every array of the inputs and outputs given a
leading axis of length m (a :class:`TrueSignals`, :class:`Measurement` or :class:`Estimate` "over
m instants"). Between two controller calls nothing reads the estimator's output, so the loop may
run the plant through those periods in compiled code first and hand the sensors and the
estimator the whole interval at once (``docs/architecture.md``, "Deferred estimation"); the
results are those of the step-by-step calls (``tests/sim/test_deferred.py``).

What a command holds (the one rule): a :class:`Command` acts from the controller call that
returned it until the next call; a field left ``None`` means *off* (no bleeding, no converter
current, no link switching), never "keep the previous value". The balancer turns the held
command into element currents, shunt conductances and heat **at every plant step**, from the
voltages of that step (so a bleed resistor draws V/R at every instant and a switched-capacitor
link is solved with the pack).

This module sits below both the hardware (``balancing``) and the loop (``sim``): it imports only
``cell`` and ``pack``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .cell.params import CellParameters
from .errors import ParameterError
from .pack.layout import PackLayout

__all__ = [
    "Balancer",
    "Command",
    "Controller",
    "Directive",
    "Estimate",
    "Estimator",
    "HeldAction",
    "LoopContext",
    "Measurement",
    "NominalModel",
    "Sensors",
    "Supervisor",
    "TrueSignals",
    "at_instant",
    "stack_instants",
]


@dataclass(frozen=True)
class NominalModel:
    """What the BMS designer believes about the cells: one parameter set for every cell.

    ``cell`` is the datasheet/fitted parameter set (no cell-to-cell variation), ``layout`` the pack
    wiring. Controllers and estimators work from this, never from the plant's sampled cells.
    """

    cell: CellParameters
    layout: PackLayout

    @property
    def capacity_As(self) -> float:
        """Nominal capacity of one cell [A s]."""
        return self.cell.capacity_Ah * 3600.0

    @property
    def element_capacity_As(self) -> float:
        """Nominal capacity of one series element (n_parallel cells) [A s]."""
        return self.capacity_As * self.layout.n_parallel


@dataclass(frozen=True, eq=False)
class LoopContext:
    """What a component may know when it starts.

    nominal : the nominal cell model and the layout
    plant_period_s : the plant's step [s]
    balancer : the balancing hardware (topology, limits), or None
    pack_current_range_A : (i_lo, i_hi) [A], i_lo <= 0 <= i_hi, positive = charging: the range the
        experiment's steps can impose on a pack's current (per string for parallel strings), what a
        BMS designer sets as the pack's discharge and charge current limits; it says what currents
        may come, never when. None: not known (see ``sim.loop.experiment_current_range``)
    """

    nominal: NominalModel
    plant_period_s: float
    balancer: Any = None
    pack_current_range_A: tuple[float, float] | None = None

    @property
    def layout(self) -> PackLayout:
        return self.nominal.layout


@dataclass(frozen=True, eq=False)
class TrueSignals:
    """The plant's true signals at one instant (what sensors look at; what a study may compare with).

    The loop hands out read-only copies: no component can change the plant through them.

    Shapes: cells (n_packs, n_series, n_parallel), elements (n_packs, n_series), packs (n_packs,).
    ``pack_charge_C`` is the charge that has flowed into each pack since the run started (the
    integral of the pack current, what a coulomb-counting current sensor accumulates).
    """

    t_s: float
    cell_voltage_V: np.ndarray
    cell_temperature_K: np.ndarray
    cell_soc: np.ndarray
    pack_current_A: np.ndarray
    pack_voltage_V: np.ndarray
    pack_charge_C: np.ndarray

    @property
    def element_voltage_V(self) -> np.ndarray:
        """(n_packs, n_series): the cells of a parallel group share one voltage."""
        return self.cell_voltage_V[..., 0]


@dataclass(frozen=True, eq=False)
class Measurement:
    """What the BMS measures at one instant (true values through perfect sensors by default).

    element_voltage_V : (n_packs, n_series) series-element voltages [V]
    temperature_K : (n_packs, n_series, n_parallel) cell temperatures [K] (NaN where no sensor)
    pack_current_A : (n_packs,) pack current [A], positive = charging
    pack_voltage_V : (n_packs,) pack terminal voltage [V]
    pack_charge_C : (n_packs,) the current sensor's accumulated charge since the start [C]
    truth : the plant's true signals, handed only to components that declare
        ``uses_truth = True`` (a "perfect" estimator for studies); None otherwise.
    """

    t_s: float
    element_voltage_V: np.ndarray
    temperature_K: np.ndarray
    pack_current_A: np.ndarray
    pack_voltage_V: np.ndarray
    pack_charge_C: np.ndarray
    truth: TrueSignals | None = None


@dataclass(frozen=True, eq=False)
class Estimate:
    """An estimator's output: per series element (what a string BMS can see and act on).

    soc : (n_packs, n_series) state of charge [1]
    soc_std : (n_packs, n_series) its standard deviation [1], or None if the estimator gives none
    extra : further named arrays (e.g. RC voltages, capacity), recorded with their names
    """

    soc: np.ndarray
    soc_std: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Command:
    """A controller's command for the balancing hardware, held until the next controller call.

    Any field left None is *off* for that call (see the module docstring). Shapes broadcast to
    (n_packs, ...):

    bleed : (n_packs, n_series) bleed-channel duty in [0, 1] (True/False accepted): the share of
        the time each passive channel is on (averaged), for a :class:`PassiveBalancer`
    edge_current_A : (n_packs, n_edges) source-side current set-point of each converter edge [A],
        signed along the edge orientation, for an :class:`ActiveBalancer` of converters
    links_on : (n_packs, n_edges) which conductance links (switched capacitors) switch
    element_current_A : (n_packs, n_series) ideal current sources into each element [A] (studies;
        their power comes from outside the pack and is booked as ``ideal_source``)
    """

    bleed: np.ndarray | None = None
    edge_current_A: np.ndarray | None = None
    links_on: np.ndarray | None = None
    element_current_A: np.ndarray | None = None

    FIELDS = ("bleed", "edge_current_A", "links_on", "element_current_A")

    def given(self) -> tuple[str, ...]:
        """Names of the fields that are set."""
        return tuple(f for f in self.FIELDS if getattr(self, f) is not None)


def as_pack_array(owner: str, name: str, value, shape: tuple[int, ...], dtype=float) -> np.ndarray:
    """``value`` broadcast to ``shape`` as a new array, or a ParameterError naming the field."""
    a = np.asarray(value, dtype=dtype)
    try:
        out = a.copy() if a.shape == shape else np.broadcast_to(a, shape).copy()
    except ValueError:
        raise ParameterError(f"{owner}.{name} has shape {a.shape}; expected {shape} (or one that broadcasts "
                             "to it).") from None
    if out.dtype.kind == "f" and not np.isfinite(out.sum()) and not np.all(np.isfinite(out)):
        raise ParameterError(f"{owner}.{name} must be finite; got {a.ravel()[~np.isfinite(a.ravel())][:3]}.")
    return out


@runtime_checkable
class Sensors(Protocol):
    """Turns the plant's true signals into measurements at its own period."""

    period_s: float | None

    def init(self, context: LoopContext) -> Any: ...

    def step(self, t_s: float, truth: TrueSignals, state: Any) -> tuple[Measurement, Any]: ...


@runtime_checkable
class Estimator(Protocol):
    """Estimates the element SOCs from measurements (and the commands sent, if it is told them)."""

    period_s: float

    def init(self, context: LoopContext) -> Any: ...

    def step(self, t_s: float, measurement: Measurement, command: Command | None, state: Any) -> tuple[Estimate, Any]: ...


@runtime_checkable
class Controller(Protocol):
    """Decides the balancing commands from measurements and the latest estimate."""

    period_s: float

    def init(self, context: LoopContext) -> Any: ...

    def step(self, t_s: float, measurement: Measurement, estimate: Estimate | None, state: Any) -> tuple[Command, Any]: ...


@dataclass(frozen=True)
class Directive:
    """The supervisory layer's word to the balancing below it, held until its next call.

    balancing_enabled : False stops all balancing (the balancer holds nothing) until re-enabled.
    derate : factor in [0, 1] on every balancing current and bleed conductance the balancer holds
        (thermal derating, say).
    reason : why (recorded with the directive).
    alarms : what the supervisory layer's detectors flag (a faulty cell or sensor), recorded.
    """

    balancing_enabled: bool = True
    derate: float = 1.0
    reason: str = ""
    alarms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.derate) <= 1.0:
            raise ParameterError(f"Directive.derate must be in [0, 1]; got {self.derate!r}.")


@runtime_checkable
class Supervisor(Protocol):
    """The slow layer (hours): watches the pack and the estimates and derates or stops balancing."""

    period_s: float

    def init(self, context: LoopContext) -> Any: ...

    def step(self, t_s: float, measurement: Measurement, estimate: Estimate | None, state: Any) -> tuple[Directive, Any]: ...


@runtime_checkable
class Balancer(Protocol):
    """Balancing hardware: says which command fields it carries out and turns a held command into
    the per-plant-step law (:class:`HeldAction`) at the element voltages of the command instant."""

    accepts: tuple[str, ...]

    def hold(self, command: Command, v_element: np.ndarray, layout: PackLayout) -> HeldAction: ...


@dataclass(frozen=True, eq=False)
class HeldAction:
    """What the balancing hardware does to the pack at every plant step until the next command.

    The loop solves these with the pack at every step (so a bleed resistor draws V/R and a link
    carries g (V_a - V_b) at the voltages of that step). Shapes: (n_packs, n_series) unless noted.

    element_current_A : current sources into each element [A] (positive charges it): the
        converters' currents, held at the operating point of the command instant (an averaged
        current-mode converter regulates its currents), or ideal sources.
    element_shunt_S : conductance across each element [S] (bleed resistors x their duty).
    link_laplacian_S : (n_packs, n_series, n_series) or None: Laplacian over the elements of the
        conductance links that are on (switched capacitors); the current into the elements is
        ``-L v`` at every step.
    shunt_heat_to_cell : share of the shunt heat ``g V^2`` that goes into the element's cells.
    converter_loss_W : (n_packs,) the converter model's own loss at the command instant [W]
        (for the independent energy check; the books charge the converters with what they draw).
    """

    element_current_A: np.ndarray
    element_shunt_S: np.ndarray
    link_laplacian_S: np.ndarray | None = None
    shunt_heat_to_cell: float = 0.0
    converter_loss_W: np.ndarray | None = None

    @classmethod
    def off(cls, layout: PackLayout) -> HeldAction:
        """Nothing switched on."""
        shp = (layout.n_packs, layout.n_series)
        return cls(np.zeros(shp), np.zeros(shp))

    @property
    def has_current(self) -> bool:
        return np.count_nonzero(self.element_current_A) > 0  # (ndarray.any costs 5x as much on small arrays)

    @property
    def has_shunt(self) -> bool:
        return np.count_nonzero(self.element_shunt_S) > 0

    @property
    def has_links(self) -> bool:
        return self.link_laplacian_S is not None and np.count_nonzero(self.link_laplacian_S) > 0


def _signal_fields(cls) -> tuple[str, ...]:
    """The array fields of TrueSignals or Measurement (all but the time and the attached truth)."""
    return tuple(f.name for f in fields(cls) if f.name not in ("t_s", "truth"))


def at_instant(batch, j: int):
    """Instant ``j`` of a batched :class:`TrueSignals` or :class:`Measurement` (arrays with a leading time
    axis, ``t_s`` an array; the form ``step_many`` takes), as the same class at one instant."""
    cls = type(batch)
    return cls(t_s=float(np.asarray(batch.t_s)[j]), **{f: getattr(batch, f)[j] for f in _signal_fields(cls)})


def stack_instants(items: list):
    """:class:`TrueSignals` or :class:`Measurement` objects (single instants, or batches: they are
    joined) as one batch over all their instants."""
    cls = type(items[0])

    def lead(a, one):
        a = np.asarray(a, float)
        return a[None] if one else a

    ones = [np.ndim(x.t_s) == 0 for x in items]
    ts = np.concatenate([np.atleast_1d(np.asarray(x.t_s, float)) for x in items])
    return cls(t_s=ts, **{f: np.concatenate([lead(getattr(x, f), o) for x, o in zip(items, ones, strict=True)])
                                             for f in _signal_fields(cls)})
