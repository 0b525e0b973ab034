"""Lifetime by timescale separation: 10 years of one cycle a day on a 96s1p pack with active balancing in the
loop (target: under 2 minutes), and 10 years of aging of 10,000 cells with no electrical re-simulation
(target: under 10 s).

1. ``examples/lifetime_96s.toml``'s pack, duty and error control (typical variation, LG M50 cell and aging
   model, rate sigma 0.05; representative days at a 60 s plant period, SOC consensus over a ring of
   converters every 300 s with the true SOC; capacity_tol 0.02, soc_tol 0.01, max_days 365), the active
   design alone. The figure counts the days simulated in full and the wall time.
2. Aging only: the stressors of one simulated day of a 96s pack, tiled to 10,000 cells, advanced 3,650 days
   (``AgingModel.advance``, the step the lifetime study takes between representative days).

One run each (the host may be shared: the figures are indicative; the lead runs this on a quiet machine).

Run:  python benchmarks/bench_lifetime.py [--years Y] [--series S] [--cells N] [--aging-years Y] [--out FILE]   (writes benchmarks/results/lifetime.json)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from cellbalance.aging import AgingRangeWarning, Stressors, get_aging_model, sample_rate_scalars
from cellbalance.io.config import read_toml
from cellbalance.io.lifetime_config import LifetimeConfig, run_lifetime_config

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "lifetime.json"


def bench_pack(years: float, n_series: int) -> dict:
    d = read_toml(ROOT / "examples" / "lifetime_96s.toml")
    d["design"] = [x for x in d["design"] if x["name"] == "active"]
    d["lifetime"]["years"] = years
    d["pack"]["n_series"] = n_series
    cfg = LifetimeConfig.model_validate(d)
    run_lifetime_config(cfg.model_copy(update={"lifetime": cfg.lifetime.model_copy(update={"years": 2 / 365})}))
    t0 = time.perf_counter()
    ds = run_lifetime_config(cfg)
    wall = time.perf_counter() - t0
    last = ds.isel(year=-1, pack=0).sel(design="active")
    return {"years": years, "n_series": n_series, "wall_s": wall,
            "days_simulated_in_full": int(last.representative_cycles), "days": int(ds.attrs["days"]),
            "usable_fraction_end": float(last.usable_fraction), "soc_spread_end": float(last.soc_spread),
            "target_s": 120.0}


def bench_aging_only(n: int, years: int) -> dict:
    d = read_toml(ROOT / "examples" / "lifetime_96s.toml")
    cfg = LifetimeConfig.model_validate(d)
    model = get_aging_model(cfg.aging_model_name())
    # one day's per-cell stress: a daily cycle's SOC (drive 50 %, rest, charge, rest), 25 degC + per-cell offset
    t = np.array([0, 3600, 7200, 14400, 86400.0])
    soc = np.array([1.0, 0.5, 0.5, 1.0, 1.0])
    rng = np.random.default_rng(2026)
    temp = 298.15 + rng.uniform(-2.0, 2.0, (n, 1)) + np.zeros((1, t.size))
    st = Stressors.from_timeseries(t, np.broadcast_to(soc, (n, t.size)), temp)
    s = sample_rate_scalars(n, 0.05, seed=1)
    state = model.initial_state(n)
    t0 = time.perf_counter()
    for _ in range(365 * years):
        state = model.advance(state, st, s, warn=False)
    wall = time.perf_counter() - t0
    return {"cells": n, "years": years, "wall_s": wall, "q_mean_end": float(state.q.mean()), "target_s": 10.0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--years", type=float, default=10.0)
    ap.add_argument("--series", type=int, default=96)
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--aging-years", type=int, default=10)
    ap.add_argument("--out", type=Path, default=OUT, help="where the figures go (a trial run: elsewhere)")
    a = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgingRangeWarning)
        res = {"pack_active_in_the_loop": bench_pack(a.years, a.series),
               "aging_only": bench_aging_only(a.cells, a.aging_years),
               "host": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                        "numba_threads": os.environ.get("NUMBA_NUM_THREADS", "default")}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
