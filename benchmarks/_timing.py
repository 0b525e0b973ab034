"""The timing rule every benchmark here uses: one warm-up call (numba compiles or loads its cache),
then the wall time of each of ``repeat`` calls."""

from __future__ import annotations

import time


def times(fn, repeat: int = 3) -> tuple[list[float], object]:
    """(wall time of each of ``repeat`` calls after a warm-up call, the last call's result)."""
    out = fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return ts, out


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    """(the shortest of ``repeat`` timed calls after a warm-up call, the last call's result)."""
    ts, out = times(fn, repeat)
    return min(ts), out


def best_of_interleaved(fns: dict, repeat: int = 5) -> tuple[dict, dict]:
    """For runs that are compared with each other: a warm-up call of each, then ``repeat`` rounds
    that call each once in turn, so that a slow spell of the machine falls on all of them alike.
    Returns ({name: shortest wall time}, {name: last result})."""
    out = {k: fn() for k, fn in fns.items()}
    ts: dict = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            out[k] = fn()
            ts[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in ts.items()}, out
