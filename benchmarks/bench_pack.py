"""Pack throughput and memory, against the peers' published/measured figures.

Workloads (full model: nmc_lg_m50 with tables, 2 RC pairs, Arrhenius, hysteresis, thermal):
  a) 96s1p, 1 h at 1 s (liionpack 0.4 took ~134 s here for 96s1p, 1 h at 1 s): a 0.9C discharge
     from full (no cut-off is reached: the whole hour is simulated), and the US06 drive cycle
     repeated for 1 h;
  b) 10,000 cells (100s100p), 1 h at 1 s, 0.9C discharge from full;
  c) 1536 independent cells, 55 min at 1C, 1 s steps (PyBaMM ECM over a list of 1536 input sets with
     IDAKLU: 3.95 s here, ~360 simulated cell-hours per second); here the 1536 cells are one
     current-driven string (series cells under current control do not interact);
  e) Monte Carlo: 50 packs of 96s2p with typical variation, UDDS per cell (x 2 on the 2p pack) for 1 h, one vectorised run;
  d) memory: 10,000 cells for 24 h at 1 s, decimated to one row a minute, streamed to NetCDF
     (peak resident set size read from /proc) -- run with --memory, it takes minutes.
Peers are not dependencies: their figures are the ones quoted in the issue, measured on this
machine by the issue's author, and PyBaMM's own figure in results/pybamm_peer.json.

Run:  python benchmarks/bench_pack.py [--memory]   (writes benchmarks/results/pack.json)
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate
from cellbalance.sim.results import NetCDFRecorder

OUT = Path(__file__).parent / "results" / "pack.json"
LIIONPACK_96S1P_S = 134.0
PYBAMM_1536_CELL_HOURS_PER_S = 360.0


def timed(lay: PackLayout, steps: list[str], soc: float, record: bool = False, repeat: int = 3) -> tuple[float, float]:
    """(best wall time [s], simulated time [s]) of ``steps``; rates below use the simulated time."""
    p = get_parameter_set("nmc_lg_m50")
    cells = p.compile(lay.n_cells)
    s0 = initial_state(cells, soc=soc)
    exp = Experiment(steps, period_s=1.0)
    simulate(cells, Experiment(["Rest for 5 s"]), layout=lay, state=s0)  # compile / warm
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        simulate(cells, exp, layout=lay, state=s0, options=SimulationOptions(record=record))
        best = min(best, time.perf_counter() - t0)
    ds = simulate(cells, exp, layout=lay, state=s0, options=SimulationOptions(record_every=600))
    return best, float(ds.event_end_s.values.max())


def monte_carlo(repeat: int = 3) -> dict:
    from cellbalance.pack.variation import preset, sample

    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=96, n_parallel=2, n_packs=50)
    pack = sample(preset("typical"), p, lay, seed=1)
    exp = Experiment(["Run UDDS per cell for 1 hour"], period_s=1.0)
    kw = dict(layout=lay, state=pack.initial_state, ambient_K=pack.ambient_K)
    simulate(pack.cells, Experiment(["Rest for 5 s"]), **kw)
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        ds = simulate(pack.cells, exp, **kw, options=SimulationOptions(record_every=60))
        best = min(best, time.perf_counter() - t0)
    sim = float(ds.time.values[-1])
    return {"monte_carlo_50x96s2p_udds_simulated_s": sim, "monte_carlo_50x96s2p_udds_wall_s": best,
            "monte_carlo_50x96s2p_udds_cell_steps_per_s": lay.n_cells * sim / best}


def memory_run() -> dict:
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=100, n_parallel=100)
    cells = p.compile(lay.n_cells)
    exp = Experiment(["Repeat 12 times: Discharge at 0.3C for 1 hour; Charge at 0.3C for 1 hour"], period_s=1.0)
    with tempfile.TemporaryDirectory() as d:
        rec = NetCDFRecorder(Path(d) / "mem.nc", cells, lay)
        t0 = time.perf_counter()
        ds = simulate(cells, exp, layout=lay, state=initial_state(cells, soc=0.6), recorder=rec,
                      options=SimulationOptions(record_every=60))
        wall = time.perf_counter() - t0
        rows = ds.sizes["time"]
        ds.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"memory_10k_cells_24h_wall_s": wall, "memory_10k_cells_24h_rows": rows, "memory_10k_cells_24h_peak_rss_MB": peak_mb}


def main() -> None:
    res: dict = json.loads(OUT.read_text()) if OUT.exists() else {}
    t96, sim = timed(PackLayout(n_series=96), ["Discharge at 0.9C for 1 hour"], soc=1.0)
    res["pack_96s1p_1h_1s_simulated_s"] = sim
    res["pack_96s1p_1h_1s_wall_s"] = t96
    res["pack_96s1p_speedup_vs_liionpack"] = LIIONPACK_96S1P_S / t96
    res["pack_96s1p_cell_steps_per_s"] = 96 * sim / t96
    t96c, sim = timed(PackLayout(n_series=96), ["Run US06 for 1 hour"], soc=0.9)
    res["pack_96s1p_us06_1h_1s_simulated_s"] = sim
    res["pack_96s1p_us06_1h_1s_wall_s"] = t96c
    res["pack_96s1p_us06_speedup_vs_liionpack"] = LIIONPACK_96S1P_S / t96c
    t10k, sim = timed(PackLayout(n_series=100, n_parallel=100), ["Discharge at 0.9C for 1 hour"], soc=1.0)
    res["pack_10k_cells_1h_1s_simulated_s"] = sim
    res["pack_10k_cells_1h_1s_wall_s"] = t10k
    res["pack_10k_cells_cell_steps_per_s"] = 10_000 * sim / t10k
    t1536, sim = timed(PackLayout(n_series=1536), ["Discharge at 1C for 55 minutes"], soc=1.0)
    cell_hours = 1536 * sim / 3600
    res["independent_1536_cells_55min_simulated_s"] = sim
    res["independent_1536_cells_55min_wall_s"] = t1536
    res["independent_1536_cell_hours_per_s"] = cell_hours / t1536
    res["independent_1536_speedup_vs_pybamm"] = cell_hours / t1536 / PYBAMM_1536_CELL_HOURS_PER_S
    res.update(monte_carlo())
    import numba

    res["threads"] = numba.get_num_threads()
    if "--memory" in sys.argv:
        res.update(memory_run())
    for k, v in res.items():
        print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
