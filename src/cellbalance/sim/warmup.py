"""Compiling the kernels ahead of a run, so a long run never looks hung while numba compiles.

numba compiles each kernel on its first use on a machine and caches the machine code next to the
sources (``__pycache__``); later runs load it in well under a second. :func:`warm_up` runs a few
periods of every code path a run of these cells and this layout uses (the general loop's current,
voltage and power modes, the compiled segments, their energy sums), so the compilation happens in
one visible place (the CLI shows it) instead of inside the first period of a long run.
"""

from __future__ import annotations

import time

from ..cell.model import initial_state
from ..cell.params import CellParameters, CompiledCells
from ..pack.layout import PackLayout
from ..scenarios.experiment import Experiment

__all__ = ["warm_up"]


def warm_up(cells: CompiledCells | CellParameters, layout: PackLayout | None = None) -> float:
    """Compile (or load from the cache) the kernels a run of ``cells`` on ``layout`` needs; returns the
    wall time it took [s]."""
    from .loop import simulate

    layout = layout or PackLayout()
    if isinstance(cells, CellParameters):
        cells = cells.compile(layout.n_cells)
    p = cells.params
    v_hold = 0.5 * (p.v_min + p.v_max)
    t0 = time.perf_counter()
    exp = Experiment(["Rest for 6 s", "Charge at 0.05C for 3 s", f"Hold at {v_hold:.3f} V for 2 s",
                      "Discharge at 0.1 W for 2 s"], period_s=1.0)
    simulate(cells, exp, layout=layout, state=initial_state(cells, soc=0.5))
    return time.perf_counter() - t0
