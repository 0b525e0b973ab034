"""Pack layout: packs x series elements x parallel cells (the electrical solve is in :mod:`.electrical`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError, check_range

__all__ = ["PackLayout"]


@dataclass(frozen=True)
class PackLayout:
    """``n_packs`` independent packs, each ``n_series`` elements of ``n_parallel`` cells.

    Cells are ordered (pack, series, parallel), C-order, in every array over cells.
    ``interconnect_ohm`` is the total busbar/interconnect resistance in series with each string.
    """

    n_series: int = 1
    n_parallel: int = 1
    n_packs: int = 1
    interconnect_ohm: float = 0.0

    def __post_init__(self) -> None:
        for name in ("n_series", "n_parallel", "n_packs"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 1:
                raise ParameterError(f"PackLayout.{name} must be an integer >= 1; got {v!r}.")
        check_range("PackLayout", "interconnect_ohm", self.interconnect_ohm, ge=0)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_packs, self.n_series, self.n_parallel)

    @property
    def n_cells(self) -> int:
        return self.n_packs * self.n_series * self.n_parallel

    @property
    def cells_per_pack(self) -> int:
        return self.n_series * self.n_parallel
