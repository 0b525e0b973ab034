"""PyBaMM's own time for the experiment the cell benchmark also runs (PyBaMM is a test-only dependency).

ECM_Example, Thevenin, "Discharge at 1C until 3.2 V" + "Rest for 1 hour", period 1 s, IDAKLU
(rtol = atol = 1e-9). Reports model set-up (Simulation + build) and solve separately, best of 3.

Run:  python benchmarks/bench_pybamm_peer.py   (writes benchmarks/results/pybamm_peer.json)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pybamm

OUT = Path(__file__).parent / "results" / "pybamm_peer.json"


def once() -> tuple[float, float]:
    t0 = time.perf_counter()
    exp = pybamm.Experiment(["Discharge at 1C until 3.2 V", "Rest for 1 hour"], period="1 second")
    sim = pybamm.Simulation(pybamm.equivalent_circuit.Thevenin(), experiment=exp,
                            parameter_values=pybamm.ParameterValues("ECM_Example"),
                            solver=pybamm.IDAKLUSolver(rtol=1e-9, atol=1e-9))
    sim.build_for_experiment()
    t1 = time.perf_counter()
    sim.solve()
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    once()
    runs = [once() for _ in range(3)]
    res = {"pybamm_version": pybamm.__version__, "setup_s": min(r[0] for r in runs),
           "solve_s": min(r[1] for r in runs), "total_s": min(r[0] + r[1] for r in runs)}
    print(json.dumps(res, indent=2))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
