"""Drift without balancing: days of use in which small cell differences pull the SOCs apart.

Each cycle (about a day, :func:`daily_cycle`): a drive (constant-current discharge by default), a
rest, a CC-CV charge (CC until the highest cell reaches ``v_max``, then that cell held at ``v_max``
until the current falls to C/20, as a BMS does) and a long rest. The cells of a series string carry
the same current, so only the differences the current does not see move their SOCs apart:
self-discharge (``dz_i/dt = -i_sd,i / Q_i`` at every moment) and coulombic efficiency (on charge).
Nothing pulls them back, so the SOC spread grows about linearly,

    d(spread)/dt = max_g (i_sd / Q)_g - min_g (i_sd / Q)_g        [1/s]
    d(spread)/day = that * 86400                                  (e.g. 0.5 %-points per day
                                                                   for 1 mA differences on 5 Ah)

exactly so when only self-discharge varies and capacities are equal (tested to 1e-6), and the
usable capacity of the string (:mod:`cellbalance.analysis.metrics`) falls by about as much.

The metrics are taken at the end of each charge (the moment a balancing BMS would judge the pack):
the state there is the first recorded row after the charge, moved back to the charge's end with the
exact rest solution (only self-discharge acts in a rest: ``D_g(t_e) = D_g(t_r) + sum_i i_sd,i
(t_r - t_e)``), so decimated recording loses nothing. SOCs and spreads are per series element
(``z_g = sum_i z_i Q_i / sum_i Q_i``: what a string balancer can act on; cell values for 1p).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..cell import CellParameters
from ..cell import kernels as K
from ..errors import ParameterError
from ..pack.layout import PackLayout
from ..pack.variation import SampledPack, Variation, sample
from ..scenarios.experiment import Experiment, Step
from ..sim import SimulationOptions, simulate

__all__ = ["DriftResult", "charge_end_index", "daily_cycle", "plot_drift", "run_drift"]


def daily_cycle(params: CellParameters, *, depth: float = 0.5, discharge_C: float = 0.5, charge_C: float = 0.5,
                rest_after_drive_h: float = 1.0, rest_after_charge_h: float = 20.0,
                taper_C: float = 0.05) -> list[str]:
    """The default cycle: drive ``depth`` of the capacity out, rest, CC-CV charge to ``v_max``, rest.

    About 24 h with the defaults (1 h drive + 1 h rest + ~2 h charge + 20 h rest).
    """
    for name, v, lo, hi in (("depth", depth, 0.0, 1.0), ("discharge_C", discharge_C, 0.0, 20.0),
                            ("charge_C", charge_C, 0.0, 20.0), ("taper_C", taper_C, 0.0, 1.0)):
        if not (lo < v <= hi):
            raise ParameterError(f"daily_cycle: {name} must be in ({lo:g}, {hi:g}]; got {v!r}.")
    for name, v in (("rest_after_drive_h", rest_after_drive_h), ("rest_after_charge_h", rest_after_charge_h)):
        if not v > 0:
            raise ParameterError(f"daily_cycle: {name} must be > 0; got {v!r}.")
    drive_min = depth / discharge_C * 60.0
    return [
        f"Discharge at {discharge_C:g}C for {drive_min:g} minutes",
        f"Rest for {rest_after_drive_h * 60:g} minutes",
        f"Charge at {charge_C:g}C until {params.v_max:g} V",
        f"Hold at {params.v_max:g} V until {taper_C:g}C",
        f"Rest for {rest_after_charge_h * 60:g} minutes",
    ]


def _is_charge(s: Step) -> bool:
    return s.mode == "voltage" or (s.mode in ("current", "c_rate", "power") and s.value > 0)


def charge_end_index(steps) -> int:
    """Index (within one cycle) of the step whose end is the end of the charge: the last charging step
    (a positive current/C-rate/power, or a voltage hold); the last step if the cycle never charges."""
    idx = [j for j, s in enumerate(steps) if _is_charge(s)]
    return idx[-1] if idx else len(steps) - 1


@dataclass(frozen=True, eq=False)
class DriftResult:
    """dataset : the simulated rows (decimated), with the event table.
    per_cycle : one row per (pack, cycle): cycle 0 is the initial state, cycle c >= 1 the end of the
        c-th charge; columns ``pack, cycle, time_s, day, soc_mean, soc_spread, soc_std, usable_Ah,
        ideal_Ah, lost_Ah, lost_pct, lost_per_cycle_Ah, exact`` (``exact``: moved back to the charge
        end through a rest; otherwise the nearest later row as recorded).
    pack : the sampled cells.
    experiment : the whole experiment that was run (``days`` copies of the daily steps).
    predicted_spread_per_day : (n_packs,) closed-form growth of the element SOC spread per 86400 s,
        ``(max - min of sum i_sd / sum Q over elements) * 86400``.
    element_soc : (n_packs, days + 1, n_series) element SOC at the rows of ``per_cycle`` (NaN for
        cycles a truncated run did not reach).
    element_sd_rate : (n_packs, n_series) ``sum i_sd / sum Q`` of each element [1/s].
    """

    dataset: xr.Dataset
    per_cycle: pd.DataFrame
    pack: SampledPack
    experiment: Experiment
    predicted_spread_per_day: np.ndarray
    element_soc: np.ndarray
    element_sd_rate: np.ndarray

    @property
    def per_day(self) -> pd.DataFrame:
        """Alias of :attr:`per_cycle` (one cycle a day with :func:`daily_cycle`)."""
        return self.per_cycle


def run_drift(params: CellParameters, layout: PackLayout, variation: Variation | SampledPack, days: int, *,
              seed: int = 0, daily: list[str] | None = None, period_s: float = 60.0, mean_soc: float = 0.7,
              record_every_s: float = 600.0, ambient_K: float | None = None,
              max_time_s: float | None = None) -> DriftResult:
    """Simulate ``days`` repetitions of the daily cycle without balancing; metrics after every charge.

    Parameters
    ----------
    params, layout : the cell type and the pack(s) (``n_packs > 1``: a Monte Carlo batch)
    variation : the spreads to draw with ``seed`` (see :mod:`cellbalance.pack.variation`), or an
        already sampled pack
    days : number of cycles
    daily : the steps of one cycle (default :func:`daily_cycle`); a drive cycle ("Run US06 for
        1 hour") works but wants ``period_s`` of about 1 s
    period_s : simulation period [s]; 30-60 s is plenty for constant-current days
    mean_soc : mean initial SOC; ``record_every_s``: spacing of the recorded rows [s]
    """
    if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 1:
        raise ParameterError(f"run_drift: days must be an integer >= 1; got {days!r}.")
    days = int(days)
    if not record_every_s > 0:
        raise ParameterError(f"run_drift: record_every_s must be > 0; got {record_every_s!r}.")
    if isinstance(variation, SampledPack):
        sp = variation
        if sp.cells.n != layout.n_cells:
            raise ParameterError(f"run_drift: the sampled pack has {sp.cells.n} cells; the layout needs {layout.n_cells}.")
    else:
        sp = sample(variation, params, layout, seed=seed, mean_soc=mean_soc, ambient_K=ambient_K)
    day = list(daily) if daily is not None else daily_cycle(params)
    day_steps = Experiment(day, period_s=period_s).steps
    k_per = len(day_steps)
    j_c = charge_end_index(day_steps)
    exp = Experiment(list(day_steps) * days, period_s=period_s)
    fixed = sum(s.duration_s or 0.0 for s in day_steps)
    if max_time_s is None:
        max_time_s = days * max(2.0 * 86400.0, 2.0 * fixed) + 86400.0
    every = max(1, round(record_every_s / period_s))
    ds = simulate(sp.cells, exp, layout=layout, state=sp.initial_state, ambient_K=sp.ambient_K,
                  options=SimulationOptions(record_every=every, max_time_s=float(max_time_s)))
    if int(ds.attrs.get("truncated", 0)):
        warnings.warn(f"run_drift: the run stopped at max_time_s = {max_time_s:g} s before all {days} cycles "
                      "ended; the per-cycle table has the cycles that did.", stacklevel=2)

    B, Ns, Np = layout.shape
    q = sp.capacity_Ah.reshape(B, Ns, Np)
    isd = sp.cells.cp[:, K.C_ISD].reshape(B, Ns, Np)
    q_g = q.sum(-1)  # Ah
    isd_g = isd.sum(-1)  # A
    rate = isd_g / (q_g * 3600.0)  # element SOC loss rate [1/s]
    predicted = (rate.max(-1) - rate.min(-1)) * 86400.0

    t = ds.time.values
    z_all = ds.soc.values.reshape(t.size, B, Ns, Np)
    step_rec = ds.step.values
    ev_pack, ev_step, ev_end = ds.event_pack.values, ds.event_step.values, ds.event_end_s.values
    rows = []
    z_el = np.full((B, days + 1, Ns), np.nan)
    for b in range(B):
        prev_lost = math.nan
        for c in range(days + 1):
            if c == 0:
                r, t_e, exact = 0, 0.0, True
            else:
                gi = (c - 1) * k_per + j_c
                hit = np.flatnonzero((ev_pack == b) & (ev_step == gi))
                if hit.size == 0:
                    break  # the run ended (truncated) before this charge did
                t_e = float(ev_end[hit[0]])
                r = int(np.searchsorted(t, t_e - 1e-9 * max(period_s, 1.0)))
                r = min(r, t.size - 1)
                s_r = int(step_rec[r, b])
                between = exp.steps[gi + 1 : min(s_r, len(exp.steps) - 1) + 1]
                exact = bool(t[r] >= t_e - 1e-6 and s_r > gi and all(s.mode == "rest" for s in between))
            d_g = (z_all[r, b] * q[b]).sum(-1)  # Ah each element can still deliver
            if c > 0 and exact:
                d_g = d_g + isd_g[b] * (t[r] - t_e) / 3600.0  # undo the self-discharge of the rest
            s_g = q_g[b] - d_g
            z_g = d_g / q_g[b]
            z_el[b, c] = z_g
            usable = float(d_g.min() + s_g.min())
            ideal = float(q_g[b].min())
            lost = ideal - usable
            rows.append({
                "pack": b, "cycle": c, "time_s": t_e if c > 0 else float(t[0]),
                "day": (t_e if c > 0 else float(t[0])) / 86400.0,
                "soc_mean": float((d_g.sum()) / q_g[b].sum()),
                "soc_spread": float(z_g.max() - z_g.min()), "soc_std": float(z_g.std()),
                "usable_Ah": usable, "ideal_Ah": ideal, "lost_Ah": lost, "lost_pct": lost / ideal * 100.0,
                "lost_per_cycle_Ah": lost - prev_lost, "exact": exact,
            })
            prev_lost = lost
    return DriftResult(ds, pd.DataFrame(rows), sp, exp, predicted, z_el, rate)


def plot_drift(result: DriftResult, path: str | Path) -> Path:
    """SOC spread at the end of each charge (with the closed-form growth), usable capacity and loss."""
    from matplotlib.figure import Figure

    df = result.per_cycle
    fig = Figure(figsize=(7, 8))
    ax = fig.subplots(3, 1, sharex=True)
    packs = sorted(df.pack.unique())
    for b in packs:
        d = df[df.pack == b]
        lab = f"pack {b}" if len(packs) > 1 else "simulated"
        line = ax[0].plot(d.day, d.soc_spread * 100, marker="o", ms=3, label=lab)[0]
        if len(d) > 1:
            d1 = d[d.cycle >= 1]
            pred = d1.soc_spread.iloc[0] + result.predicted_spread_per_day[b] * (d1.day - d1.day.iloc[0])
            ax[0].plot(d1.day, pred * 100, ls="--", color=line.get_color(),
                       label="closed form (max - min of i_sd/Q) x t" if b == packs[0] else None)
        ax[1].plot(d.day, d.usable_Ah, marker="o", ms=3, color=line.get_color(),
                   label="usable" if b == packs[0] else None)
        ax[1].plot(d.day, d.ideal_Ah, ls="--", color=line.get_color(),
                   label="ideal (balanced)" if b == packs[0] else None)
        ax[2].plot(d.day, d.lost_pct, marker="o", ms=3, color=line.get_color())
    ax[0].set_ylabel("SOC spread at end of charge\n[%-points]")
    ax[1].set_ylabel("String capacity [Ah]")
    ax[2].set_ylabel("Lost to imbalance [%]")
    ax[2].set_xlabel("Time [days]")
    ax[0].legend(fontsize=8)
    ax[1].legend(fontsize=8)
    for a in ax:
        a.grid(alpha=0.3)
    fig.suptitle("Drift without balancing")
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110)
    return p
