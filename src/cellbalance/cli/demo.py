"""``cellbalance demo``: an embedded default run that needs no files."""

from __future__ import annotations

import time
from pathlib import Path

from rich.table import Table as RichTable

from ..cell import get_parameter_set, initial_state
from ..io.output import write_results
from ..scenarios.experiment import Experiment
from ..sim import simulate

__all__ = ["run_demo"]


def run_demo(out: Path, console, run_with_progress) -> None:
    """A full cycle of the NMC and LFP cells, with their figures."""
    tab = RichTable(title="cellbalance demo: one cycle per cell type")
    for col in ("cell", "discharged [Ah]", "end of discharge [s]", "peak T [°C]", "wall [s]"):
        tab.add_column(col, justify="right")
    for name, vmax in (("nmc_lg_m50", 4.2), ("lfp_a123_26650", 3.6)):
        p = get_parameter_set(name)
        exp = Experiment([f"Charge at 0.5C until {vmax} V", f"Hold at {vmax} V until C/20", "Rest for 30 minutes",
                          f"Discharge at 1C until {p.v_min} V", "Rest for 1 hour"], period_s=1.0)
        cells = p.compile(1)
        start = time.perf_counter()
        ds = run_with_progress(name, lambda cb, c=cells, e=exp: simulate(c, e, state=initial_state(c, soc=0.2),
                                                                         progress=cb))
        wall = time.perf_counter() - start
        dis = ds.step.values[:, 0] == 3
        i = ds.current_A.values[dis, 0, 0]
        ah = -(i * p_step(ds)).sum() / 3600.0
        write_results(ds, out, name)
        tab.add_row(name, f"{ah:.3f}", f"{float(ds.event_end_s.values[3]):.0f}",
                    f"{float(ds.temperature_K.max()) - 273.15:.2f}", f"{wall:.2f}")
    console.print(tab)
    console.print(f"results and plots written to {out}/")


def p_step(ds):
    import numpy as np

    t = ds.time.values
    return np.diff(t, append=t[-1])[ds.step.values[:, 0] == 3]
