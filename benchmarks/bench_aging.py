"""Aging only: 10 years of daily stress for 10,000 cells, each aging model (target: under 10 s each).

Every day, every cell gets its own summary stress (``Stressors.constant``): one cycle of DOD 0.8
(0.8 equivalent full cycles) about SOC 0.5, discharge at C/2, and a temperature of 20 degC + 8 degC
seasonal swing + a per-cell offset (uniform -3..+7 degC), plus a per-cell rate scalar (log-normal,
sigma 0.1). Building the day's stressors is inside the timing. One run per model (the host may be
shared: the figure is indicative).

Also, for the record, the cost of the time-series path (``Stressors.from_timeseries``, hourly SOC and
temperature samples per cell, 25 a day) for 10,000 cells over 30 days, extrapolated to 10 years.

BLAST-Lite (one Python object per cell) for comparison: the reference script's 9 single-cell runs of
10 years with 97 samples a day took about 11 s here, i.e. about 1.3 s per cell-decade, or about
3.5 hours for 10,000 cells.

Run:  python benchmarks/bench_aging.py   (writes benchmarks/results/aging.json)
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from cellbalance.aging import Stressors, available_aging_models, get_aging_model, sample_rate_scalars

OUT = Path(__file__).parent / "results" / "aging.json"
N_CELLS = 10_000
YEARS = 10
DAYS = 365 * YEARS
SERIES_DAYS = 30


def _setup(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2026)
    return rng.uniform(-3.0, 7.0, n), sample_rate_scalars(n, 0.1, seed=rng)


def bench_summary(name: str, n: int = N_CELLS, days: int = DAYS) -> tuple[float, np.ndarray]:
    model = get_aging_model(name)
    offset, s = _setup(n)
    state = model.initial_state(n)
    t0 = time.perf_counter()
    for day in range(days):
        temp = 293.15 + 8.0 * np.sin(2.0 * np.pi * day / 365.0) + offset
        st = Stressors.constant(days=1.0, temperature_K=temp, soc=0.5, dod=0.8, efc=0.8, crate_discharge=0.5)
        state = model.advance(state, st, s, warn=False)
    return time.perf_counter() - t0, state.q


def bench_series(name: str, n: int = N_CELLS, days: int = SERIES_DAYS) -> float:
    model = get_aging_model(name)
    offset, s = _setup(n)
    t = np.arange(0.0, 86401.0, 3600.0)
    soc = np.interp(t / 3600.0, [0, 4, 12, 16, 24], [0.9, 0.1, 0.1, 0.9, 0.9])
    daily = 3.0 * np.sin(2.0 * np.pi * t / 86400.0)
    state = model.initial_state(n)
    t0 = time.perf_counter()
    for day in range(days):
        temp = 293.15 + 8.0 * np.sin(2.0 * np.pi * day / 365.0) + offset[:, None] + daily
        state = model.advance(state, Stressors.from_timeseries(t + 86400.0 * day, soc, temp), s, warn=False)
    return time.perf_counter() - t0


def main() -> None:
    res: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared: indicative)",
        "cells": N_CELLS,
        "days": DAYS,
        "duty": "daily summary stress per cell: 0.8 EFC, DOD 0.8, SOC 0.5, C/2 discharge, "
        "20 degC + 8 degC seasonal + per-cell offset -3..+7 degC, rate scalars log-normal sigma 0.1",
        "target_s": 10.0,
        "models": {},
    }
    for name in available_aging_models():
        wall, q = bench_summary(name)
        series = bench_series(name)
        res["models"][name] = {
            "wall_s_10_years_10k_cells": wall,
            "cell_days_per_s": N_CELLS * DAYS / wall,
            "q_after_10_years_min_mean_max": [float(q.min()), float(q.mean()), float(q.max())],
            "hourly_series_wall_s_30_days": series,
            "hourly_series_wall_s_10_years_extrapolated": series * DAYS / SERIES_DAYS,
        }
        print(
            f"{name:28s} 10 y x 10k cells: {wall:6.2f} s ({N_CELLS * DAYS / wall:.3g} cell-days/s), "
            f"q = {q.min():.3f}..{q.max():.3f}; hourly series: {series * DAYS / SERIES_DAYS:.0f} s extrapolated"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
