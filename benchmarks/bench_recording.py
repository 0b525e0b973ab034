"""Speed as users meet it (issue 9): results recorded with the default options, table-driven cells.

Workloads (96s1p, 55 min at 1 s):
  a) nmc_lg_m50 (0.9C from full) and ecm_example (PyBaMM's ECM_Example: 100 A from SOC 0.99, R0, R1, C1
     over temperature, current and SOC): recording every row (the default) against recording off;
  b) liionpack's workload: ecm_example 96s1p, 100 A for 55 min, results kept (the default options).
     liionpack 0.4 took 134 s for it on this machine when quiet (229 s when loaded; the issue's
     figures). liionpack is not a dependency: the agreement is checked against the single-cell
     PyBaMM trace that liionpack solves for every cell of a series string
     (``peers/pybamm_ecm_100a.py`` -> ``results/peer_pybamm_ecm_100A_55min.csv``); RMS and max of the
     cell voltage difference over the run;
  c) 10,000 cells (100s100p) nmc_lg_m50, 1 h at 0.5C from 0.9, one row a minute: cell-steps/s.
Each time is the best of 5 (after a warm-up run that compiles); options are the defaults except
where named.

Run:  python benchmarks/bench_recording.py   (writes benchmarks/results/recording.json)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _timing import best_of  # (benchmarks/_timing.py, beside this script)

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate

HERE = Path(__file__).parent
OUT = HERE / "results" / "recording.json"
PEER = HERE / "results" / "peer_pybamm_ecm_100A_55min.csv"
LIIONPACK_S = 134.0


def main() -> None:
    res: dict = {}
    cases = {"nmc_lg_m50": ("Discharge at 0.9C for 55 minutes", 1.0),
             "ecm_example": ("Discharge at 100 A for 55 minutes", 0.99)}
    lay = PackLayout(n_series=96)
    kept = {}
    for name, (step, soc) in cases.items():
        cells = get_parameter_set(name).compile(96)
        s0 = initial_state(cells, soc=soc)
        exp = Experiment([step], period_s=1.0)
        t_on, ds = best_of(lambda cells=cells, s0=s0, exp=exp: simulate(cells, exp, layout=lay, state=s0), repeat=5)
        t_off, _ = best_of(lambda cells=cells, s0=s0, exp=exp: simulate(cells, exp, layout=lay, state=s0,
                                                                     options=SimulationOptions(record=False)), repeat=5)
        kept[name] = ds
        res[f"{name}_96s1p_55min_record_every_row_s"] = t_on
        res[f"{name}_96s1p_55min_record_off_s"] = t_off
        res[f"{name}_record_over_off"] = t_on / t_off
        res[f"{name}_rows"] = int(ds.sizes["time"])
        print(f"{name}: recording every row {t_on * 1e3:.1f} ms, off {t_off * 1e3:.1f} ms ({t_on / t_off:.2f}x)")
    res["ecm_off_over_nmc_off"] = res["ecm_example_96s1p_55min_record_off_s"] / res["nmc_lg_m50_96s1p_55min_record_off_s"]
    t = res["ecm_example_96s1p_55min_record_every_row_s"]
    res["liionpack_workload_s"] = t
    res["liionpack_workload_speedup_vs_134s"] = LIIONPACK_S / t
    if PEER.exists():
        ref = np.loadtxt(PEER, delimiter=",", skiprows=2)
        ds = kept["ecm_example"]
        on = ds.time.values < 55 * 60 - 1e-9  # the rows with the 100 A applied (the last row is after the step)
        tt = ds.time.values[on]
        v = ds.voltage_V.values[on, 0, :]  # (time, 96 cells)
        v_ref = np.interp(tt, ref[:, 0], ref[:, 1])
        d = v - v_ref[:, None]
        res["liionpack_workload_voltage_rms_mV_vs_pybamm"] = float(np.sqrt(np.mean(d * d)) * 1e3)
        res["liionpack_workload_voltage_max_mV_vs_pybamm"] = float(np.abs(d).max() * 1e3)
    big = PackLayout(n_series=100, n_parallel=100)
    cells = get_parameter_set("nmc_lg_m50").compile(big.n_cells)
    s0 = initial_state(cells, soc=0.9)
    exp = Experiment(["Discharge at 0.5C for 1 hour"], period_s=1.0)
    t10k, _ = best_of(lambda: simulate(cells, exp, layout=big, state=s0, options=SimulationOptions(record_every=60)),
                   repeat=3)
    res["10k_cells_1h_record_every_60_s"] = t10k
    res["10k_cells_cell_steps_per_s"] = big.n_cells * 3600 / t10k
    import numba

    res["threads"] = numba.get_num_threads()
    for k, val in res.items():
        print(f"{k}: {val:.4g}" if isinstance(val, float) else f"{k}: {val}")
    OUT.write_text(json.dumps(res, indent=2))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
