"""Cell faults injected into the plant at given times (what a BMS must detect, not what it knows).

* ``soft_short``: an internal micro-short, an extra self-discharge current ``value`` [A] from then on
  (the cell's SOC falls by ``value t / Q`` more than its neighbours'; cf. the internal-short
  detection literature, e.g. M. Seo et al., "Detection of internal short circuit in lithium ion
  battery using model-based switching model method", Energies 10 (2017) 76);
* ``open``: a cell of a parallel group loses contact (its resistance becomes ``1e9`` times larger,
  so it carries no current and the group's other cells share the load); refused in a 1-cell group,
  where it would open the string;
* ``capacity_fade``: the cell's capacity drops to ``value`` times what it was (a fast-fading cell),
  its SOC kept (the charge it holds scales with it).

Faults act from ``time_s`` on, at the first plant grid time at or after it; the loop records them
(``fault_*`` variables). Cells are indexed flat over (pack, series, parallel), as every array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cell import kernels as K
from ..errors import ParameterError, check_range

__all__ = ["FAULT_KINDS", "CellFault"]

FAULT_KINDS = ("soft_short", "open", "capacity_fade")
_OPEN_SCALE = 1e9


@dataclass(frozen=True)
class CellFault:
    """One fault: ``kind`` on flat cell index ``cell`` from ``time_s`` on (``value`` per kind, above)."""

    time_s: float
    cell: int
    kind: str
    value: float = 0.0

    def __post_init__(self) -> None:
        check_range("CellFault", "time_s", self.time_s, ge=0)
        if self.kind not in FAULT_KINDS:
            raise ParameterError(f"CellFault.kind must be one of {', '.join(FAULT_KINDS)}; got {self.kind!r}.")
        if not isinstance(self.cell, int | np.integer) or self.cell < 0:
            raise ParameterError(f"CellFault.cell must be a cell index >= 0; got {self.cell!r}.")
        if self.kind == "soft_short":
            check_range("CellFault", "value (extra self-discharge current, A)", self.value, gt=0)
        if self.kind == "capacity_fade":
            check_range("CellFault", "value (remaining capacity fraction)", self.value, gt=0, le=1)

    def check(self, n_cells: int, n_parallel: int) -> None:
        """Refuse a fault the pack cannot have."""
        if self.cell >= n_cells:
            raise ParameterError(f"CellFault.cell = {self.cell} but the pack has {n_cells} cells (0 .. {n_cells - 1}).")
        if self.kind == "open" and n_parallel == 1:
            raise ParameterError(f"CellFault: an open cell ({self.cell}) in a group of one cell would open the "
                                 "whole string; open faults need n_parallel >= 2.")

    def apply(self, cp: np.ndarray) -> None:
        """Change the cell's row of the compiled parameters ``cp`` in place."""
        c = int(self.cell)
        if self.kind == "soft_short":
            cp[c, K.C_ISD] += self.value
        elif self.kind == "open":
            cp[c, K.C_R0S] *= _OPEN_SCALE
        else:
            cp[c, K.C_CAP] *= self.value
