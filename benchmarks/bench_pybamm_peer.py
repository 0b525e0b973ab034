"""PyBaMM's own time, on this machine, for the runs the cross-check uses (PyBaMM is a test-only dependency).

(a) ECM_Example, ``pybamm.equivalent_circuit.Thevenin()`` (1 RC + cell/jig thermal),
    "Discharge at 1C until 3.2 V" + "Rest for 1 hour", period 1 s, IDAKLU, at the reference
    tolerances (rtol = atol = 1e-8, as tests/peer/pybamm_reference.py) and at IDAKLU's defaults
    (rtol 1e-4, atol 1e-6). Each run is timed in parts:
      - ``build_s``: Experiment + Simulation + ``build_for_experiment()`` (model build, parameter
        processing and discretisation of every step's model);
      - ``first_solve_s``: the first ``sim.solve()``: PyBaMM's solver set-up (casadi functions,
        IDAKLU initialisation; ``solver_setup_s`` from PyBaMM's own timer) + the integration and the
        experiment bookkeeping (``solve_only_s`` = first_solve_s - solver_setup_s);
      - ``total_s`` = build_s + first_solve_s: what one fresh run costs;
      - ``resolve_s``: a second ``sim.solve()`` on the same, already set-up simulation.
    Best of 3 after one untimed warm-up run (the cold first run in the process is also recorded).
(b) The US06 drive cycle of the cross-check (x20 on the 100 A·h cell, 3 repeats = 1803 s, SoC 0.8,
    zero-order hold, rtol = atol = 1e-8) via ``run_pybamm_us06()``: build + solve, best of 3.

Run:  python benchmarks/bench_pybamm_peer.py   (writes benchmarks/results/pybamm_peer.json)
Keys ``setup_s``, ``solve_s`` and ``total_s`` at the top level are (a) at the reference tolerances
(``setup_s`` = build_s, ``solve_s`` = first_solve_s).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

_t_import = time.perf_counter()
import pybamm  # noqa: E402

IMPORT_S = time.perf_counter() - _t_import

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "pybamm_peer.json"
REFERENCE_TOL = 1e-8


def discharge_rest_once(rtol: float, atol: float) -> dict[str, float]:
    t0 = time.perf_counter()
    exp = pybamm.Experiment(["Discharge at 1C until 3.2 V", "Rest for 1 hour"], period="1 second")
    sim = pybamm.Simulation(pybamm.equivalent_circuit.Thevenin(), experiment=exp,
                            parameter_values=pybamm.ParameterValues("ECM_Example"),
                            solver=pybamm.IDAKLUSolver(rtol=rtol, atol=atol))
    sim.build_for_experiment()
    t1 = time.perf_counter()
    sol = sim.solve()
    t2 = time.perf_counter()
    sim.solve()
    t3 = time.perf_counter()
    setup = float(sol.set_up_time.value)
    return {"build_s": t1 - t0, "first_solve_s": t2 - t1, "solver_setup_s": setup,
            "solve_only_s": (t2 - t1) - setup, "total_s": t2 - t0, "resolve_s": t3 - t2,
            "discharge_end_s": float(sol.sub_solutions[0].t[-1]), "output_points": int(sol.t.size)}


def best_of(fn, n: int = 3) -> tuple[dict[str, float], dict[str, float]]:
    cold = fn()
    runs = [fn() for _ in range(n)]
    best = {k: min(r[k] for r in runs) if k.endswith("_s") and k != "discharge_end_s" else runs[0][k]
            for k in runs[0]}
    return best, cold


def us06_once() -> dict[str, float]:
    from peer.pybamm_reference import run_pybamm_us06

    t0 = time.perf_counter()
    r = run_pybamm_us06()
    return {"total_s": time.perf_counter() - t0, "profile_s": float(r["end_s"]), "samples": int(r["time_s"].size)}


def main() -> None:
    load = os.getloadavg()[0]
    ref, cold = best_of(lambda: discharge_rest_once(REFERENCE_TOL, REFERENCE_TOL))
    dflt, _ = best_of(lambda: discharge_rest_once(1e-4, 1e-6))
    sys.path.insert(0, str(ROOT / "tests"))
    us06_runs = [us06_once() for _ in range(3)]
    res = {
        "pybamm_version": pybamm.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "experiment": "ECM_Example Thevenin: Discharge at 1C until 3.2 V + Rest for 1 hour, period 1 s, IDAKLU",
        "setup_s": ref["build_s"],
        "solve_s": ref["first_solve_s"],
        "total_s": ref["total_s"],
        "import_pybamm_s": IMPORT_S,
        "discharge_rest_tol_1e-8": ref,
        "discharge_rest_tol_1e-8_cold_first_run": cold,
        "discharge_rest_idaklu_defaults": dflt,
        "us06_x20_3repeats_zoh_tol_1e-8": {k: min(r[k] for r in us06_runs) for k in us06_runs[0]},
        "load_average_1min_at_start": load,
        "method": "best of 3 after a warm-up run; wall-clock time.perf_counter",
    }
    print(json.dumps(res, indent=2))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
