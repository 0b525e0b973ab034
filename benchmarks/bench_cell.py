"""Cell-model throughput: cell-steps per second for 1, 1000 and 100,000 cells, 3600 steps of 1 s.

Full model: OCV and R0 tables, 2 RC pairs, Arrhenius, hysteresis, one-node thermal (nmc_lg_m50).
Two figures per size:
  kernel   -- the model alone: one step + one terminal-voltage evaluation per period (what a
              custom loop calling cellbalance.cell.kernels pays);
  simulate -- the whole simulation loop (experiment, limits, cut-off detection), recording off.
Also: one 1C discharge to cut-off + 1 h rest of ECM_Example at 1 s steps (wall time of simulate()),
to set beside PyBaMM's figure in results/pybamm_peer.json.

Each figure is the best of REPEATS runs (the machine may be shared: the best run is the one least
disturbed by other load).

Run:  python benchmarks/bench_cell.py   (writes benchmarks/results/cell.json)
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.cell import kernels as K
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate

OUT = Path(__file__).parent / "results" / "cell.json"
REPEATS = 3


def bench_kernel(n: int, steps: int = 3600, repeats: int = REPEATS) -> float:
    p = get_parameter_set("nmc_lg_m50")
    c = p.compile(n)
    x0 = initial_state(c, soc=np.linspace(0.6, 0.9, n)).x
    i = np.full(n, -5.0)
    amb, q, dts, heat = np.full(n, 298.15), np.zeros(n), np.full(n, 1.0), np.zeros(n)
    bufs = [np.zeros(n) for _ in range(5)]
    args = (c.cp, c.gp, c.bank.data, c.bank.meta)
    K.step(*args, x0.copy(), i, amb, q, dts, heat)  # compile / warm
    K.emf_r0(*args, x0, i, 1.0, *bufs, False)
    best = np.inf
    for _ in range(repeats):
        x = x0.copy()
        t0 = time.perf_counter()
        for _ in range(steps):
            K.step(*args, x, i, amb, q, dts, heat)
            K.emf_r0(*args, x, i, 1.0, *bufs, False)
        best = min(best, time.perf_counter() - t0)
    return n * steps / best


def bench_simulate(n: int, steps: int = 3600, repeats: int = REPEATS) -> float:
    p = get_parameter_set("nmc_lg_m50")
    c = p.compile(n)
    lay = PackLayout(n_series=n)
    s0 = initial_state(c, soc=np.linspace(0.6, 0.9, n))
    exp = Experiment([f"Discharge at 0.5 A for {steps} s"], period_s=1.0)
    simulate(c, Experiment(["Discharge at 0.5 A for 30 s"]), layout=lay, state=s0,
             options=SimulationOptions(record=False))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        simulate(c, exp, layout=lay, state=s0, options=SimulationOptions(record=False))
        best = min(best, time.perf_counter() - t0)
    return n * steps / best


def bench_ecm_example() -> float:
    p = get_parameter_set("ecm_example")
    exp = Experiment(["Discharge at 1C until 3.2 V", "Rest for 1 hour"], period_s=1.0)
    simulate(p, exp)
    best = np.inf
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        simulate(p, exp)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    res = {"machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores",
           "model": "nmc_lg_m50: tables, 2 RC, Arrhenius, hysteresis, thermal", "steps": 3600, "dt_s": 1.0,
           "repeats": REPEATS}
    for n in (1, 1000, 100_000):
        res[f"kernel_cell_steps_per_s_{n}"] = bench_kernel(n)
        res[f"simulate_cell_steps_per_s_{n}"] = bench_simulate(n)
        print(n, f"kernel {res[f'kernel_cell_steps_per_s_{n}']:.3g}", f"simulate {res[f'simulate_cell_steps_per_s_{n}']:.3g}")
    res["ecm_example_1C_discharge_plus_1h_rest_wall_s"] = bench_ecm_example()
    print("ECM_Example 1C discharge + 1 h rest at 1 s:", f"{res['ecm_example_1C_discharge_plus_1h_rest_wall_s']:.3f} s")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
