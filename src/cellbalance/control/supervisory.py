"""The supervisory layer (hours): derates or stops balancing when cells run hot.

:class:`ThermalDerating` mirrors what BMS firmware does with its balancing temperature limits
(e.g. foxBMS 2 stops balancing above a cell temperature limit; TI's bq769x2 technical reference
manual describes balancing that is blocked above a configurable cell temperature): full balancing
below ``derate_from_C``, a linear derating down to zero at ``stop_at_C``, nothing above. It reads the
measured cell temperatures (NaN where a cell has no sensor) and holds its directive until its next
call; the loop applies a changed directive to the command in force at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError, check_range
from ..interfaces import Directive, LoopContext, Measurement

__all__ = ["ThermalDerating"]

KELVIN = 273.15


@dataclass(frozen=True)
class ThermalDerating:
    """Derate balancing linearly between ``derate_from_C`` and ``stop_at_C`` of the hottest measured
    cell of each pack (the most derated pack sets the directive: the hardware is shared per string).

    period_s : how often the supervisor looks [s] (default 1 h).
    """

    period_s: float = 3600.0
    derate_from_C: float = 45.0
    stop_at_C: float = 55.0

    def __post_init__(self) -> None:
        check_range("ThermalDerating", "period_s", self.period_s, gt=0)
        check_range("ThermalDerating", "derate_from_C", self.derate_from_C, gt=-40, lt=150)
        if not self.stop_at_C > self.derate_from_C:
            raise ParameterError(f"ThermalDerating.stop_at_C must be above derate_from_C={self.derate_from_C:g} degC; "
                                 f"got {self.stop_at_C!r}.")

    def init(self, context: LoopContext):
        return None

    def step(self, t_s: float, measurement: Measurement, estimate, state):
        T = measurement.temperature_K
        t_max = float(np.nanmax(T)) - KELVIN if np.isfinite(T).any() else -np.inf
        if t_max >= self.stop_at_C:
            return Directive(False, 0.0, f"hottest cell {t_max:.1f} degC >= {self.stop_at_C:g} degC: stopped"), state
        k = float(np.clip((self.stop_at_C - t_max) / (self.stop_at_C - self.derate_from_C), 0.0, 1.0))
        reason = "" if k == 1.0 else f"hottest cell {t_max:.1f} degC: derated to {k:.2f}"
        return Directive(True, k, reason), state
