"""Reference trace for liionpack's workload: one ECM_Example cell, 100 A discharge for 55 min from
SOC 0.99, as PyBaMM computes it (kept here, run once; the stored CSV is what the benchmark reads).

liionpack 0.4 solves each cell of a pack with this PyBaMM model (``pybamm.equivalent_circuit.Thevenin``
with ``ECM_Example``); in a 96s1p string every cell carries the pack current, so each of its cells
follows exactly this single-cell trace (the interconnect resistances of liionpack's netlist change
the terminal voltage of the pack, not the cells'). Solved with IDAKLU at rtol = atol = 1e-9, output
every second. Requires pybamm (the test extra): ``python benchmarks/peers/pybamm_ecm_100a.py``.
"""

from pathlib import Path

import numpy as np
import pybamm

OUT = Path(__file__).resolve().parent.parent / "results" / "peer_pybamm_ecm_100A_55min.csv"


def main() -> None:
    pv = pybamm.ParameterValues("ECM_Example")
    pv["Initial SoC"] = 0.99  # (1.0 trips PyBaMM's maximum-SoC event at t = 0)
    model = pybamm.equivalent_circuit.Thevenin()
    exp = pybamm.Experiment(["Discharge at 100 A for 55 minutes"], period="1 second")
    sim = pybamm.Simulation(model, parameter_values=pv, experiment=exp,
                            solver=pybamm.IDAKLUSolver(rtol=1e-9, atol=1e-9))
    sol = sim.solve()
    t = np.arange(0.0, 55 * 60 + 0.5, 1.0)
    v = np.asarray(sol["Voltage [V]"](t), float)
    soc = np.asarray(sol["SoC"](t), float)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    header = f"# PyBaMM {pybamm.__version__}, Thevenin + ECM_Example, initial SoC 0.99, 100 A discharge\ntime_s,voltage_V,soc"
    np.savetxt(OUT, np.column_stack([t, v, soc]), delimiter=",", header=header, comments="", fmt="%.10g")
    print("wrote", OUT, "V from", v[0], "to", v[-1])


if __name__ == "__main__":
    main()
