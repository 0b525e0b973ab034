"""Speed of the wired pack (issue 14 acceptance: within 2x the same pack without wiring).

Workload: 96s4p nmc_lg_m50 (full model), typical cell-to-cell variation (seed 1), 0.5C discharge
from 90 % SOC for 1 h at 1 s, a row a minute; once with ideal group nodes, once with connection
resistances (0.5 mOhm per cell, +-20 % by position), busbar segments (0.1 mOhm) and terminals
(0.05 mOhm each), series-groups, terminals left. Both runs take the compiled segments.

Run:  python benchmarks/bench_wiring.py [--tiny]   (writes benchmarks/results/wiring.json; --tiny
runs 4s2p for 2 minutes only, to check the script, and writes nothing)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from _timing import best_of  # (benchmarks/_timing.py, beside this script)

from cellbalance.cell import get_parameter_set
from cellbalance.pack import PackLayout, Wiring
from cellbalance.pack.variation import preset, sample
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate

OUT = Path(__file__).parent / "results" / "wiring.json"


def _layouts(ns: int, npar: int) -> tuple[PackLayout, PackLayout]:
    rng = np.random.default_rng(0)
    rc = 5e-4 * (1 + 0.2 * (rng.random((ns, npar)) - 0.5) * 2)
    w = Wiring("series-groups", connection_ohm=rc, busbar_ohm=1e-4, terminal_ohm=5e-5)
    return PackLayout(n_series=ns, n_parallel=npar), PackLayout(n_series=ns, n_parallel=npar, wiring=w)


def main() -> None:
    tiny = "--tiny" in sys.argv
    ns, npar, dur, repeat = (4, 2, "2 minutes", 1) if tiny else (96, 4, "1 hour", 3)
    p = get_parameter_set("nmc_lg_m50")
    exp = Experiment([f"Discharge at 0.5C for {dur}"], period_s=1.0)
    opts = SimulationOptions(record_every=60)
    res: dict = {"workload": f"{ns}s{npar}p nmc_lg_m50, typical variation, 0.5C for {dur} at 1 s"}
    for name, lay in zip(("ideal", "wired"), _layouts(ns, npar), strict=True):
        pack = sample(preset("typical"), p, lay, seed=1, mean_soc=0.9)
        t, ds = best_of(lambda lay=lay, pack=pack: simulate(pack.cells, exp, layout=lay, state=pack.initial_state,
                                                         ambient_K=pack.ambient_K, options=opts), repeat)
        res[f"{name}_wall_s"] = t
        i = ds.current_A.values.reshape(ds.sizes["time"], ns, npar)
        res[f"{name}_max_group_current_spread_A"] = float(np.ptp(i, axis=-1).max())
        res[f"{name}_interconnect_heat_J"] = float(ds.energy_interconnect_J.values[-1, 0])
    res["wired_over_ideal"] = res["wired_wall_s"] / res["ideal_wall_s"]
    for k, v in res.items():
        print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    if tiny:
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
