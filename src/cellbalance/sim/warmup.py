"""Compiling the kernels ahead of a run, so a long run never looks hung while numba compiles.

numba compiles each kernel on its first use on a machine and caches the machine code next to the
sources (``__pycache__``); later runs load it in well under a second. :func:`warm_up` runs a few
periods of every code path a run of these cells and this layout uses (the general loop's current,
voltage and power modes, the compiled segments, their energy sums), so the compilation happens in
one visible place (the CLI shows it) instead of inside the first period of a long run.
"""

from __future__ import annotations

import time

import numpy as np

from ..cell.model import initial_state
from ..cell.params import CellParameters, CompiledCells
from ..pack.layout import PackLayout
from ..scenarios.experiment import Experiment

__all__ = ["warm_up"]


def warm_up(cells: CompiledCells | CellParameters, layout: PackLayout | None = None, two_processes: bool = True) -> float:
    """Compile (or load from the cache) the kernels a run of ``cells`` on ``layout`` needs; returns the
    wall time it took [s].

    ``two_processes``: a second Python process compiles the compiled segments' kernel (the largest,
    ~11 s) into numba's on-disk cache while this one compiles the cell kernels (~12 s); the run
    below then loads it. numba compiles on one core, so this halves a cold start on two. Any failure
    of the helper process only means this process compiles it itself."""
    from .loop import simulate

    layout = layout or PackLayout()
    if isinstance(cells, CellParameters):
        cells = cells.compile(layout.n_cells)
    p = cells.params
    v_hold = 0.5 * (p.v_min + p.v_max)
    t0 = time.perf_counter()
    helper = _start_segment_compile(cells, layout) if two_processes else None
    _control_kernels()  # the controllers' guards (~2 s), while the helper compiles the segment kernel
    if helper is not None:
        _cell_kernels(cells)  # meanwhile, here
        try:
            helper.wait(timeout=600)
        except Exception:  # (a helper that hangs or fails: this process compiles the kernel instead)
            helper.kill()
    exp = Experiment(["Rest for 6 s", "Charge at 0.05C for 3 s", f"Hold at {v_hold:.3f} V for 2 s",
                      "Discharge at 0.1 W for 2 s"], period_s=1.0)
    simulate(cells, exp, layout=layout, state=initial_state(cells, soc=0.5))
    return time.perf_counter() - t0


def _cell_kernels(cells: CompiledCells) -> None:
    """The cell step and evaluation kernels, called with the array types the loop gives them."""
    from ..cell import kernels as K

    n = cells.n
    x = np.ascontiguousarray(initial_state(cells, soc=0.5).x.copy())
    i = np.zeros(n)
    out = [np.empty(n) for _ in range(5)]
    for full in (False, True):
        K.emf_r0(cells.cp, cells.gp, cells.bank.data, cells.bank.meta, x, i, 1.0, *out, full)
    K.step(cells.cp, cells.gp, cells.bank.data, cells.bank.meta, x.copy(), i, np.full(n, 298.15), np.zeros(n),
           np.ones(n), np.empty(n), out=np.empty_like(x))


def _start_segment_compile(cells: CompiledCells, layout: PackLayout):
    """A second process that compiles the segment kernel for these cells and layout (None if it
    cannot be started)."""
    import pickle
    import subprocess
    import sys
    import tempfile

    try:
        f = tempfile.NamedTemporaryFile(prefix="cellbalance-warmup-", suffix=".pkl", delete=False)
        with f:
            pickle.dump((cells, layout), f)
        code = ("import pickle, os, sys; from cellbalance.sim.warmup import _segment_kernel; "
                "c, l = pickle.load(open(sys.argv[1], 'rb')); os.unlink(sys.argv[1]); _segment_kernel(c, l)")
        return subprocess.Popen([sys.executable, "-c", code, f.name], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    except Exception:  # (no second process here: this one compiles everything)
        return None


def _segment_kernel(cells: CompiledCells, layout: PackLayout) -> None:
    """Run the segment kernel as the loop does (threaded and serial builds, with and without recorded
    rows), so numba compiles and caches it (in the helper process of :func:`warm_up`)."""
    from .results import Recorder
    from .segment import SERIAL_CELL_PERIODS, record_buffers, run_segment, segment_plan

    B, _, Np = layout.shape
    n = cells.n
    plan = segment_plan(cells, B, Np)
    if plan is None:
        return
    x = np.ascontiguousarray(initial_state(cells, soc=0.5).x.copy())
    tamb = np.full(n, 298.15)
    cond = np.tile([-np.inf, np.inf, np.inf], (B, 1))
    for periods in (max(2, -(-SERIAL_CELL_PERIODS // n) + 1), 2):  # the threaded build, then the serial one
        for rows in (True, False):
            rec = Recorder(cells, layout)
            _, view = rec.reserve(1)
            buffers = record_buffers(view if rows else None, B)
            row_of = np.full(periods, -1, dtype=np.int64)
            if rows:
                row_of[0] = 0
            run_segment(cells, x, np.zeros((periods, B)), tamb, 1.0, cond, Np, False, 0.0, np.zeros((B, 5)),
                        np.zeros(B), row_of, buffers, 0.0, np.zeros(B, dtype=int), None, None, plan=plan)


def _control_kernels() -> None:
    """The consensus and MPC guards' kernels (~2 s to compile), on a 3-cell chain."""
    from ..control import kernels as K

    c, z = np.array([[0.1, -0.2]]), np.array([[0.5, 0.6, 0.4]])
    ptr, idx, val = np.array([0, 2, 4]), np.array([0, 1, 1, 2]), np.array([1.0, -1.0, 1.0, -1.0])
    K.lyapunov_filter_k(c, z, ptr, idx, val, 0.9)
    K.lyapunov_step_k(c, z, ptr, idx, val, 0.9, 1e-3, np.ones(2), np.ones(2), 0.01)
    K.voltage_scale_k(c, np.full((1, 3), 3.7), np.full((1, 3), 298.0), np.full((1, 3), 0.02), np.full((1, 3), 0.05),
                      np.zeros(1), True, -1.0, 1.0, 4.2, 2.5, 0.05, 330.0, 60.0, 1.0, 60.0, ptr, idx, val)
