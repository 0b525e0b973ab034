"""Open-loop balancing: commanded switch states or element currents as a time series.

Lets hardware be exercised before any controller exists: a schedule is a
:class:`~cellbalance.sim.interfaces.Controller` that ignores its measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError
from ..sim.interfaces import BalancingAction, LoopContext, Measurement
from .converter import ActiveBalancer
from .passive import PassiveBalancer, grant_channels

__all__ = ["OpenLoopSchedule"]


@dataclass(frozen=True, eq=False)
class OpenLoopSchedule:
    """Piecewise-constant commands: from ``times_s[k]`` on, apply command ``k``.

    Parameters
    ----------
    times_s : (K,) increasing start times [s], the first 0
    bleed_on : (K, n_packs or 1, n_series) bool, optional: passive channels requested
    element_current_A : (K, n_packs or 1, n_series), optional: extra current per element [A]
    edge_current_A : (K, n_packs or 1, n_edges), optional: commands to ``active``'s converters [A]
    losses_W : (K, n_packs or 1), optional: converter losses to report with ``element_current_A`` [W]
    passive : PassiveBalancer used with ``bleed_on`` (AFE limits applied to the request)
    active : ActiveBalancer used with ``edge_current_A``
    period_s : how often the schedule is consulted [s]
    """

    times_s: np.ndarray
    bleed_on: np.ndarray | None = None
    element_current_A: np.ndarray | None = None
    edge_current_A: np.ndarray | None = None
    losses_W: np.ndarray | None = None
    passive: PassiveBalancer = field(default_factory=PassiveBalancer)
    active: ActiveBalancer | None = None
    period_s: float = 1.0

    def __post_init__(self) -> None:
        t = np.atleast_1d(np.asarray(self.times_s, float))
        if t.size == 0 or t[0] != 0 or np.any(np.diff(t) <= 0):
            raise ParameterError(f"OpenLoopSchedule.times_s must start at 0 and increase strictly; got {t.tolist()[:6]}.")
        if self.bleed_on is None and self.element_current_A is None and self.edge_current_A is None:
            raise ParameterError("OpenLoopSchedule needs bleed_on, element_current_A or edge_current_A.")
        if self.edge_current_A is not None and self.active is None:
            raise ParameterError("OpenLoopSchedule: edge_current_A needs an ActiveBalancer in 'active'.")
        for name in ("bleed_on", "element_current_A", "edge_current_A"):
            a = getattr(self, name)
            if a is not None and np.asarray(a).shape[0] != t.size:
                raise ParameterError(f"OpenLoopSchedule.{name} must have {t.size} rows (one per time); got {np.asarray(a).shape}.")
        if not self.period_s > 0:
            raise ParameterError(f"OpenLoopSchedule.period_s must be > 0; got {self.period_s!r}.")
        object.__setattr__(self, "times_s", t)

    def init(self, context: LoopContext):
        return context.layout

    def step(self, t_s: float, measurement: Measurement, estimate, state):
        layout = state
        k = int(np.searchsorted(self.times_s, t_s + 1e-9, side="right") - 1)
        B, Ns, Np = layout.shape
        shunt = None
        heat = None
        if self.bleed_on is not None:
            v_el = measurement.cell_voltage_V[..., 0]  # priorities from the true voltages (open loop)
            req = np.broadcast_to(np.asarray(self.bleed_on[k], bool), (B, Ns))
            on = grant_channels(req, v_el, self.passive)
            act = self.passive.action(on, v_el, Np)
            shunt, heat = act.element_shunt_S, act.cell_heat_W
        cur = 0.0 if self.element_current_A is None else np.broadcast_to(self.element_current_A[k], (B, Ns))
        loss = None if self.losses_W is None else np.broadcast_to(self.losses_W[k], (B,))
        if self.edge_current_A is not None:
            act = self.active.action(self.edge_current_A[k], measurement.cell_voltage_V[..., 0])
            cur = cur + act.element_current_A
            loss = act.losses_W
        return BalancingAction(element_current_A=cur, element_shunt_S=shunt, cell_heat_W=heat, losses_W=loss), state
