"""Switched-mode buck-boost layer: time steps per second (target >= 1 million).

Run:  python benchmarks/bench_switched.py   (writes benchmarks/results/switched.json)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from cellbalance.balancing.switched import BuckBoostParams, simulate_switched

OUT = Path(__file__).parent / "results" / "switched.json"


def main() -> None:
    p = BuckBoostParams(v_diode_V=0.3)
    simulate_switched(p, 3.9, 3.6, 0.3, t_window_s=1e-4, dt_s=20e-9)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        r = simulate_switched(p, 3.9, 3.6, 0.3, t_window_s=20e-3, dt_s=20e-9)
        best = min(best, time.perf_counter() - t0)
    res = {"steps": r["steps"], "dt_s": 20e-9, "f_sw_Hz": p.f_sw_Hz, "wall_s": best,
           "switched_steps_per_s": r["steps"] / best}
    print(json.dumps(res, indent=2))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
