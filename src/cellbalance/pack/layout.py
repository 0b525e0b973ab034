"""Pack layout: packs x series elements x parallel cells (the electrical solve is in :mod:`.electrical`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import ParameterError, check_range
from .wiring import WiredLayout, Wiring

__all__ = ["PackLayout"]


@dataclass(frozen=True)
class PackLayout:
    """``n_packs`` independent packs, each ``n_series`` elements of ``n_parallel`` cells.

    Cells are ordered (pack, series, parallel), C-order, in every array over cells.
    ``interconnect_ohm`` is the total busbar/interconnect resistance in series with each string.
    ``wiring`` (optional, :class:`~cellbalance.pack.wiring.Wiring`): connection, busbar and
    terminal resistances per position and the configuration (series groups or parallel strings).
    """

    n_series: int = 1
    n_parallel: int = 1
    n_packs: int = 1
    interconnect_ohm: float = 0.0
    wiring: Wiring | None = None

    def __post_init__(self) -> None:
        for name in ("n_series", "n_parallel", "n_packs"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 1:
                raise ParameterError(f"PackLayout.{name} must be an integer >= 1; got {v!r}.")
        check_range("PackLayout", "interconnect_ohm", self.interconnect_ohm, ge=0)
        if self.wiring is not None:
            if not isinstance(self.wiring, Wiring):
                raise ParameterError(f"PackLayout.wiring must be a Wiring or None; got {type(self.wiring).__name__}.")
            self.wired  # noqa: B018 (checks the arrays' shapes now)

    @cached_property
    def wired(self) -> WiredLayout | None:
        """The wiring resolved for this layout (None without wiring)."""
        return None if self.wiring is None else self.wiring.resolve(self.n_series, self.n_parallel)

    @property
    def strings(self) -> bool:
        """Parallel strings of series cells (otherwise a series chain of parallel groups)."""
        return self.wiring is not None and self.wiring.configuration == "parallel-strings"

    @cached_property
    def balancing_layout(self) -> PackLayout:
        """The layout the balancing hardware, controllers and estimators see: this one, or for
        parallel strings every string as a pack of ``n_series`` single-cell elements (strings
        ordered pack by pack)."""
        if not self.strings:
            return self
        return PackLayout(n_series=self.n_series, n_parallel=1, n_packs=self.n_packs * self.n_parallel)

    @property
    def series_ohm(self) -> float:
        """Resistance in series with the whole pack: the interconnect plus both terminals."""
        return self.interconnect_ohm + (0.0 if self.wired is None else self.wired.r_terminals)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_packs, self.n_series, self.n_parallel)

    @property
    def n_cells(self) -> int:
        return self.n_packs * self.n_series * self.n_parallel

    @property
    def cells_per_pack(self) -> int:
        return self.n_series * self.n_parallel
