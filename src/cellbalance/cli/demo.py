"""``cellbalance demo``: an embedded default run that needs no files.

A 96s4p pack of NMC 21700 cells (about 7 kWh) with typical lot-to-lot variation drives the US06
cycle (a cell current, given per cell: the pack current is 4 times it), rests, and is CC-CV charged with the CV held on the highest cell, as a BMS does. The
metrics table shows what the cell differences cost; then the same pack drives and rests under three
balancing designs (none, passive bleeding to the lowest SOC, an active ring under consensus), side
by side. The figures land in the output directory.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.markup import escape
from rich.table import Table as RichTable

from ..analysis.metrics import summary
from ..analysis.plots import plot_cell_run, plot_pack_run
from ..cell import get_parameter_set
from ..io.output import to_netcdf
from ..pack import PackLayout
from ..pack.variation import preset, sample
from ..scenarios.experiment import Experiment
from ..sim import simulate
from ..sim.warmup import warm_up
from .steps import steps_table

__all__ = ["BALANCING_STEPS", "DEMO_STEPS", "run_demo"]

DEMO_STEPS = [
    "Run US06 per cell for 40 minutes",  # US06 is one cell's current: x 4 for the 4p pack
    "Rest for 20 minutes",
    "Charge at 0.5C until 4.2 V",
    "Hold at 4.2 V until C/20",
    "Rest for 30 minutes",
]
BALANCING_STEPS = ["Run US06 for 30 minutes", "Rest for 90 minutes"]


def run_demo(out: Path, console, run_with_progress) -> None:
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=96, n_parallel=4)
    sp = sample(preset("typical"), p, lay, seed=2026, mean_soc=0.8)
    exp = Experiment(DEMO_STEPS, period_s=1.0)
    console.print(f"[bold]cellbalance demo[/]: {lay.n_series}s{lay.n_parallel}p {p.name} pack "
                  f"({lay.n_cells} cells, typical variation, seed 2026)")
    for s in exp.steps:
        console.print(f"  - {s.description}")
    console.print("compiling the numba kernels (the first run on a machine; cached for later runs) ...")
    console.print(f"kernels ready in {warm_up(sp.cells, lay):.1f} s")
    start = time.perf_counter()
    ds = run_with_progress("96s4p pack", lambda cb: simulate(sp.cells, exp, layout=lay, state=sp.initial_state,
                                                             ambient_K=sp.ambient_K, progress=cb))
    wall = time.perf_counter() - start
    m = summary(ds, sp.capacity_Ah, v_min=p.v_min, v_max=p.v_max)
    tab = RichTable(title="Pack metrics")
    tab.add_column("metric")
    tab.add_column("value", justify="right")
    for k, v in m.items():
        tab.add_row(escape(k), f"{float(v[0]):.3f}")
    console.print(steps_table(ds))
    console.print(tab)
    files = [to_netcdf(ds, out / "demo_pack.nc", precision="float32")]
    files += plot_pack_run(ds, out, "demo_pack")
    import numpy as np

    z_end = ds.soc.values[-1, 0]
    hi, lo = int(np.argmax(z_end)), int(np.argmin(z_end))
    files.append(plot_cell_run(ds.isel(cell=[hi, lo]), out / "demo_extreme_cells.png", name="demo",
                               labels=[f"cell {hi} (highest SOC at the end)", f"cell {lo} (lowest SOC at the end)"]))
    console.print(f"simulated {float(ds.time[-1]) / 3600:.2f} h of {lay.n_cells} cells in {wall:.1f} s wall time")
    files += _balancing(sp, p, lay, out, console, run_with_progress)
    for f in files:
        console.print(f"wrote {f}")


def _balancing(sp, p, lay, out: Path, console, run_with_progress) -> list[Path]:
    """What balancing does: the same pack and drive with no balancing, a passive firmware-style rule
    and an active ring under consensus, side by side (the comparison of ``cellbalance compare``)."""
    from ..analysis.comparison import comparison_table
    from ..balancing import ActiveBalancer, ConverterModel, PassiveBalancer, get_topology
    from ..cli.compare import COLUMNS, _plot
    from ..control import BleedToLowestSOC, Consensus
    from ..estimation import PerfectEstimator
    from ..sim import SimulationOptions
    from ..studies.compare import Design, run_comparison

    ring = ActiveBalancer(get_topology("ring", lay.n_series), ConverterModel(efficiency=0.9, max_current_A=2.0))
    est = PerfectEstimator(period_s=60.0)
    designs = {"no balancing": Design(),
               "passive 33 Ohm, bleed to lowest SOC": Design(PassiveBalancer(r_bleed_ohm=33.0), BleedToLowestSOC(), est),
               "active ring 2 A, consensus": Design(ring, Consensus(), est)}
    exp = Experiment(BALANCING_STEPS, period_s=1.0)
    console.print(f"[bold]balancing[/]: the same pack, {' | '.join(s.description for s in exp.steps)}, three designs")
    res = run_with_progress("3 designs", lambda cb: run_comparison(
        sp.cells, exp, designs, layout=lay, state=sp.initial_state, ambient_K=sp.ambient_K,
        options=SimulationOptions(record_every=30)))
    tab = comparison_table(res, sp.capacity_Ah, v_min=p.v_min, v_max=p.v_max, t_max_K=p.t_max_K, spread_target=0.01)
    rt = RichTable(title="Balancing designs side by side")
    rt.add_column("design")
    keep = [c for c in COLUMNS if c[0] in ("spread_end_pct", "energy_lost_Wh", "usable_end_Ah", "recovered_Ah",
                                           "recovered_pct", "limit_violations")]
    for _, head, _ in keep:
        rt.add_column(head.replace("[", "\\["), justify="right")
    for name, row in tab.iterrows():
        rt.add_row(str(name), *[fmt.format(int(row[k]) if "{:d}" in fmt else row[k]) for k, _, fmt in keep])
    console.print(rt)
    csv = out / "demo_balancing.csv"
    tab.to_csv(csv)
    return [csv, _plot(res, out / "demo_balancing.png", "96s4p: element SOC spread, three balancing designs")]
