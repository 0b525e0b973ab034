"""Open-loop balancing: commands as a time series.

Lets hardware be exercised before any controller exists: a schedule is a controller (see
:mod:`cellbalance.interfaces`) that ignores its measurements and returns the :class:`Command` in
force at its call time; the balancer passed to ``simulate`` carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..interfaces import Command, LoopContext, Measurement

__all__ = ["OpenLoopSchedule"]


@dataclass(frozen=True, eq=False)
class OpenLoopSchedule:
    """Piecewise-constant commands: from ``times_s[k]`` on, command ``k``.

    Parameters
    ----------
    times_s : (K,) increasing start times [s], the first 0
    bleed : (K, n_packs or 1, n_series) bleed duty in [0, 1] (bool accepted), optional
    edge_current_A : (K, n_packs or 1, n_edges) converter commands [A], optional
    links_on : (K, n_packs or 1, n_edges) bool, conductance links switching, optional
    element_current_A : (K, n_packs or 1, n_series) ideal current sources [A], optional
    period_s : how often the schedule is consulted [s]
    """

    times_s: np.ndarray
    bleed: np.ndarray | None = None
    edge_current_A: np.ndarray | None = None
    links_on: np.ndarray | None = None
    element_current_A: np.ndarray | None = None
    period_s: float = 1.0

    def __post_init__(self) -> None:
        t = np.atleast_1d(np.asarray(self.times_s, float))
        if t.size == 0 or t[0] != 0 or np.any(np.diff(t) <= 0):
            raise ParameterError(f"OpenLoopSchedule.times_s must start at 0 and increase strictly; got {t.tolist()[:6]}.")
        given = [f for f in Command.FIELDS if getattr(self, f) is not None]
        if not given:
            raise ParameterError("OpenLoopSchedule needs bleed, edge_current_A, links_on or element_current_A.")
        for name in given:
            a = np.asarray(getattr(self, name))
            if a.shape[0] != t.size:
                raise ParameterError(f"OpenLoopSchedule.{name} must have {t.size} rows (one per time); got {a.shape}.")
        if not self.period_s > 0:
            raise ParameterError(f"OpenLoopSchedule.period_s must be > 0; got {self.period_s!r}.")
        object.__setattr__(self, "times_s", t)

    def init(self, context: LoopContext):
        return None

    def step(self, t_s: float, measurement: Measurement, estimate, state):
        k = int(np.searchsorted(self.times_s, t_s + 1e-9, side="right") - 1)
        fields = {f: np.asarray(getattr(self, f))[k] for f in Command.FIELDS if getattr(self, f) is not None}
        return Command(**fields), state
