"""Drift without balancing: days of use in which small cell differences pull the SOCs apart.

Each day: a drive (constant-current discharge, or a drive cycle), a rest, a charge and a long rest,
24 h in all. Self-discharge and coulombic-efficiency differences move every cell's SOC a little each
day; nothing pulls them back, so the spread grows about linearly,
``d(spread)/day ~ (max - min of i_sd,i / Q_i) * 86400``, and the usable capacity of the string
(see :mod:`cellbalance.analysis.metrics`) falls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..analysis.metrics import usable_capacity_Ah
from ..cell import CellParameters
from ..pack.layout import PackLayout
from ..pack.variation import SampledPack, Variation, sample
from ..sim import SimulationOptions, simulate
from .experiment import Experiment

__all__ = ["DAILY_CYCLE", "DriftResult", "plot_drift", "run_drift"]

DAILY_CYCLE = ["Discharge at 0.5C for 1 hour", "Rest for 6 hours",
               "Charge at 0.25C for 2 hours", "Rest for 15 hours"]


@dataclass(frozen=True, eq=False)
class DriftResult:
    dataset: xr.Dataset
    per_day: pd.DataFrame
    pack: SampledPack


def run_drift(params: CellParameters, layout: PackLayout, variation: Variation, days: int, *, seed: int = 0,
              daily: list[str] | None = None, period_s: float = 60.0, mean_soc: float = 0.7) -> DriftResult:
    """Simulate ``days`` identical days without balancing; metrics at the end of every day."""
    if int(days) < 1:
        from ..errors import ParameterError

        raise ParameterError(f"run_drift: days must be >= 1; got {days!r}.")
    sp = sample(variation, params, layout, seed=seed, mean_soc=mean_soc)
    day = daily or DAILY_CYCLE
    exp = Experiment([f"Repeat {int(days)} times: " + "; ".join(day)], period_s=period_s)
    every = max(1, round(600.0 / period_s))
    ds = simulate(sp.cells, exp, layout=layout, state=sp.initial_state, ambient_K=sp.ambient_K,
                  options=SimulationOptions(record_every=every, max_time_s=(int(days) + 1) * 86400.0))
    t = ds.time.values
    shp = (ds.sizes["time"], layout.n_packs, layout.n_series, layout.n_parallel)
    z = ds.soc.values.reshape(shp)
    q = sp.capacity_Ah.reshape(layout.shape)
    rows = []
    for d in range(int(days) + 1):
        k = int(np.searchsorted(t, d * 86400.0 - 1e-6))
        k = min(k, len(t) - 1)
        usable, ideal = usable_capacity_Ah(z[k], q)
        zz = z[k].reshape(layout.n_packs, -1)
        rows.append({"day": d, "time_s": t[k], "soc_spread": float((zz.max(-1) - zz.min(-1)).mean()),
                     "usable_Ah": float(usable.mean()), "ideal_Ah": float(ideal.mean()),
                     "lost_pct": float(((ideal - usable) / ideal).mean() * 100)})
    return DriftResult(ds, pd.DataFrame(rows), sp)


def plot_drift(result: DriftResult, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = result.per_day
    fig, ax = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    ax[0].plot(df.day, df.soc_spread * 100, marker="o", ms=3)
    ax[0].set_ylabel("SOC spread at day end [%-pts]")
    ax[1].plot(df.day, df.usable_Ah, marker="o", ms=3, label="usable")
    ax[1].plot(df.day, df.ideal_Ah, ls="--", label="ideal (balanced)")
    ax[1].set_ylabel("Capacity [Ah]")
    ax[1].set_xlabel("Day")
    ax[1].legend()
    for a in ax:
        a.grid(alpha=0.3)
    fig.suptitle("Drift without balancing")
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
