"""Closed-loop speed: balanced runs against the same run without balancing (issue 8 acceptance).

Workloads (full model nmc_lg_m50: tables, 2 RC pairs, Arrhenius, hysteresis, thermal; typical
cell-to-cell variation, seed 1; results recorded every minute; plant at 1 s):
  a) 96s1p, US06 repeated for 1 h:
     - no balancing;
     - passive: 33 Ohm bleed resistors, `BleedAboveMinimum` (5 mV above the string minimum) every 60 s;
     - active: a ring of converters (90 % efficient, 1 A), `VoltageDifferenceTransfer` every 60 s;
     each balanced run must take at most 2x the unbalanced one;
  b) 10,000 cells (100s100p), 0.5C discharge for 1 h from 90 % SOC, passive rule every 60 s:
     >= 40 million cell-steps/s;
  c) equality: the balanced 96s1p runs against the per-period Python loop (max abs difference of
     SOC and voltage), as the tests check at 1e-10.
The defaults a user gets otherwise (numba threads = cores, float64 recording).

Run:  python benchmarks/bench_balanced.py   (writes benchmarks/results/balanced.json)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from _timing import best_of, best_of_interleaved  # (benchmarks/_timing.py, beside this script)

import cellbalance.sim.loop as L
from cellbalance.balancing import ActiveBalancer, ConverterModel, PassiveBalancer, get_topology
from cellbalance.cell import get_parameter_set
from cellbalance.control import BleedAboveMinimum, VoltageDifferenceTransfer
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import preset, sample
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate

OUT = Path(__file__).parent / "results" / "balanced.json"


def _setup(lay: PackLayout, soc: float):
    p = get_parameter_set("nmc_lg_m50")
    pack = sample(preset("typical"), p, lay, seed=1, mean_soc=soc)
    return pack, dict(layout=lay, state=pack.initial_state, ambient_K=pack.ambient_K)


def main() -> None:
    res: dict = {}
    lay = PackLayout(n_series=96)
    pack, kw = _setup(lay, 0.8)
    exp = Experiment(["Run US06 for 1 hour"], period_s=1.0)
    opts = SimulationOptions(record_every=60)
    ring = ActiveBalancer(get_topology("ring", 96), ConverterModel(efficiency=0.9, max_current_A=1.0))
    cases = {
        "none": dict(),
        "passive": dict(controller=BleedAboveMinimum(period_s=60.0, threshold_V=0.005),
                        balancer=PassiveBalancer(r_bleed_ohm=33.0)),
        "active": dict(controller=VoltageDifferenceTransfer(ring.edges, gain_A_per_V=20.0, period_s=60.0),
                       balancer=ring),
    }
    # the three runs interleaved, best of 7 each (the ratio is what is judged; a drift of the
    # machine's speed between separately timed runs would move it)
    walls, runs = best_of_interleaved({name: (lambda extra=extra: simulate(pack.cells, exp, **kw, **extra, options=opts))
                                       for name, extra in cases.items()}, repeat=7)
    for name, wall in walls.items():
        res[f"96s1p_us06_1h_{name}_wall_s"] = wall
        print(f"96s1p US06 1 h, {name}: {wall * 1e3:.2f} ms")
    for name in ("passive", "active"):
        res[f"96s1p_us06_1h_{name}_over_none"] = res[f"96s1p_us06_1h_{name}_wall_s"] / res["96s1p_us06_1h_none_wall_s"]
        ds = runs[name]
        res[f"96s1p_us06_1h_{name}_controller_calls"] = int(ds.sizes["control_time"])
        bal = "energy_bleed_J" if name == "passive" else "energy_converter_loss_J"
        res[f"96s1p_us06_1h_{name}_{bal}"] = float(ds[bal].values[-1, 0])
        # equality with the per-period Python loop
        orig = L._try_segment
        L._try_segment = lambda *a, **kw: 0
        try:
            t0 = time.perf_counter()
            slow = simulate(pack.cells, exp, **kw, **cases[name], options=opts)
            res[f"96s1p_us06_1h_{name}_per_period_loop_wall_s"] = time.perf_counter() - t0
        finally:
            L._try_segment = orig
        res[f"96s1p_us06_1h_{name}_max_abs_diff_soc"] = float(np.abs(ds.soc.values - slow.soc.values).max())
        res[f"96s1p_us06_1h_{name}_max_abs_diff_voltage_V"] = float(np.abs(ds.voltage_V.values - slow.voltage_V.values).max())
    big = PackLayout(n_series=100, n_parallel=100)
    pack10k, kw10k = _setup(big, 0.9)
    exp10k = Experiment(["Discharge at 0.5C for 1 hour"], period_s=1.0)
    ctl = BleedAboveMinimum(period_s=60.0, threshold_V=0.002)
    wall, ds = best_of(lambda: simulate(pack10k.cells, exp10k, **kw10k, controller=ctl,
                                      balancer=PassiveBalancer(r_bleed_ohm=33.0), options=opts))
    sim = float(ds.time.values[-1])
    res["10k_cells_passive_60s_wall_s"] = wall
    res["10k_cells_passive_60s_cell_steps_per_s"] = big.n_cells * sim / wall
    res["10k_cells_passive_60s_bleed_J"] = float(ds.energy_bleed_J.values[-1, 0])
    wall0, _ = best_of(lambda: simulate(pack10k.cells, exp10k, **kw10k, options=opts))
    res["10k_cells_none_wall_s"] = wall0
    res["10k_cells_none_cell_steps_per_s"] = big.n_cells * sim / wall0
    import numba

    res["threads"] = numba.get_num_threads()
    for k, v in res.items():
        print(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=2))
    print("wrote", OUT)


if __name__ == "__main__":
    main()
