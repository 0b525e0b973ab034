"""Switched-mode layer and graph layer: speed figures (target: >= 1 million switched-model steps per second).

Run:  python benchmarks/bench_switched.py   (prints the figures and writes benchmarks/results/switched.json)

Measured: time steps per second of the switched buck-boost in DCM (synchronous and diode
rectification), in CCM (complementary) and while recording the inductor current; closed-form
cycle averages per second; an efficiency map; the averaged converter layer on a 96-cell complete
graph (4560 edges) for a batch of 100 packs; algebraic connectivity of a 96-cell ring (dense) and
a 10 000-cell ring (sparse); the 96-cell topology comparison table. Best of several repeats,
after compilation (numba cache) and warm-up.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from cellbalance.analysis.graph import algebraic_connectivity, compare_topologies
from cellbalance.balancing.converter import ConverterModel, edge_transfer
from cellbalance.balancing.switched import BuckBoostParams, averaged_transfer, efficiency_map, simulate_switched
from cellbalance.balancing.topologies import get_topology

OUT = Path(__file__).parent / "results" / "switched.json"


def best_of(fn, repeats: int = 5) -> float:
    fn()  # warm-up (compilation, caches)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    res: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"}
    dt, window = 20e-9, 50e-3  # 2.5 million steps at 50 kHz switching
    cases = {
        "dcm_synchronous": (BuckBoostParams(), 3.9, 3.6, 0.30, 0),
        "dcm_diode": (BuckBoostParams(rectification="diode", v_diode_V=0.4), 3.9, 3.6, 0.30, 0),
        "ccm_complementary": (BuckBoostParams(rectification="complementary"), 3.8, 3.5, 0.50, 0),
        "dcm_recording_every_step": (BuckBoostParams(), 3.9, 3.6, 0.30, 1),
    }
    switched = {}
    for name, (p, v1, v2, d, rec) in cases.items():
        wall = best_of(lambda p=p, v1=v1, v2=v2, d=d, rec=rec: simulate_switched(p, v1, v2, d, window, dt,
                                                                                   record_every=rec))
        steps = int(round(window / dt))
        switched[name] = {"steps": steps, "wall_s": wall, "steps_per_s": steps / wall}
    res["switched"] = {"dt_s": dt, "f_sw_Hz": BuckBoostParams().f_sw_Hz, "window_s": window, **switched}

    p = BuckBoostParams()
    n_avg = 2000
    wall = best_of(lambda: [averaged_transfer(p, 3.9, 3.6, d) for d in np.linspace(0.05, 0.6, n_avg)], 3)
    res["averaged_transfer_per_s"] = n_avg / wall
    res["efficiency_map_20_points_s"] = best_of(lambda: efficiency_map(p, np.linspace(0.05, 1.0, 20)), 3)

    g = get_topology("complete", 96)
    rng = np.random.default_rng(0)
    v = rng.uniform(3.4, 4.1, (100, 96))
    cmd = rng.uniform(-2, 2, (100, g.n_edges))
    conv = ConverterModel(p0_W=0.05, k_ohm=0.1, max_current_A=1.5)
    wall = best_of(lambda: edge_transfer(g.edges, cmd, v, conv))
    res["edge_transfer_complete96_batch100"] = {"edges": g.n_edges, "wall_s": wall,
                                                "edge_evaluations_per_s": cmd.size / wall}
    res["lambda2_ring96_dense_s"] = best_of(lambda: algebraic_connectivity(get_topology("ring", 96)))
    res["lambda2_ring10000_sparse_s"] = best_of(lambda: algebraic_connectivity(get_topology("ring", 10_000)), 3)
    res["compare_topologies_96_s"] = best_of(lambda: compare_topologies(96), 3)

    text = json.dumps(res, indent=2)
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text + "\n")


if __name__ == "__main__":
    main()
