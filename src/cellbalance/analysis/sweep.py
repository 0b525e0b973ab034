"""Sweep results: per-pack metrics of a batch, per-scenario summaries, and the sensitivity of a metric
to each swept parameter.

Metrics (:func:`pack_metrics`, one value per pack; the names carry the units)
---------------------------------------------------------------------------
``spread_start_pct`` / ``spread_end_pct``: element SOC spread (max - min over the series elements,
each element the mean of its parallel cells) at the first / last recorded row [%-points];
``usable_end_Ah`` and ``capacity_lost_pct``: usable capacity of the string at the end and the share
of the ideal capacity lost to imbalance (Plett's min-delivers + min-stores, :mod:`.metrics`);
``energy_lost_Wh``: bleed heat + converter losses over the run; ``peak_temperature_C``;
``min_voltage_V`` / ``max_voltage_V``: extreme cell voltages recorded; and what the pack was drawn
with: ``capacity_sd_pct`` (standard deviation of its cells' capacities relative to their mean; the
first row is the initial state, so ``spread_start_pct`` is the drawn initial spread).

Sensitivity (:func:`sensitivity`)
---------------------------------
For each parameter ``x`` and the chosen metric ``y`` over all rows (packs x scenarios):

* Spearman's rank correlation ``rho`` (``scipy.stats.spearmanr``: Pearson's correlation of the
  ranks, ties averaged; C. Spearman, Am. J. Psychol. 15 (1904) 72-101) with its two-sided p-value,
  for numeric parameters: monotone influence, insensitive to scale;
* the correlation ratio ``eta^2 = Var(E[y | x]) / Var(y)`` (K. Pearson 1905; for a grid parameter
  it is the first-order variance share, Sobol's index S_1 when the other parameters are crossed
  with it on a full grid: A. Saltelli et al., *Global Sensitivity Analysis: The Primer*, Wiley 2008,
  ch. 1), for grid parameters (numeric or categorical); NaN for a drawn parameter (``rho`` speaks
  there).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError
from .metrics import _elements, usable_capacity_over_time

__all__ = ["METRICS", "pack_metrics", "plot_sensitivity", "scenario_summary", "sensitivity"]

#: the metrics :func:`pack_metrics` returns
METRICS = ("spread_start_pct", "spread_end_pct", "usable_end_Ah", "capacity_lost_pct", "energy_lost_Wh",
           "peak_temperature_C", "min_voltage_V", "max_voltage_V", "capacity_sd_pct")

#: what a sweep records per row (enough for :func:`pack_metrics`)
RECORD_VARIABLES = ("soc", "voltage_V", "temperature_K", "energy_bleed_J", "energy_converter_loss_J")


def pack_metrics(ds: xr.Dataset, sampled=None) -> dict[str, np.ndarray]:
    """The metrics of the module docstring, each an array over the packs of ``ds``.

    ``sampled``: the :class:`~cellbalance.pack.variation.SampledPack` the packs were drawn with (its
    capacities and initial SOCs); without it they are read from ``ds`` (``cell_capacity_Ah``).
    """
    q = sampled.capacity_Ah if sampled is not None else ds["cell_capacity_Ah"].values.reshape(-1)
    z_el = _elements(ds, "soc").mean(-1)
    spread = z_el.max(-1) - z_el.min(-1)
    usable, ideal = usable_capacity_over_time(ds, q)
    n_packs = ds.sizes["pack"]
    lost = np.zeros(n_packs)
    for v in ("energy_bleed_J", "energy_converter_loss_J"):
        if v in ds:
            lost = lost + ds[v].values[-1]
    qp = np.asarray(q, float).reshape(n_packs, -1)
    temp = ds.temperature_K.values
    v = ds.voltage_V.values
    return {
        "spread_start_pct": 100.0 * spread[0],
        "spread_end_pct": 100.0 * spread[-1],
        "usable_end_Ah": usable[-1],
        "capacity_lost_pct": 100.0 * (ideal[-1] - usable[-1]) / ideal[-1],
        "energy_lost_Wh": lost / 3600.0,
        "peak_temperature_C": temp.max(axis=(0, 2)) - 273.15,
        "min_voltage_V": v.min(axis=(0, 2)),
        "max_voltage_V": v.max(axis=(0, 2)),
        "capacity_sd_pct": 100.0 * qp.std(-1) / qp.mean(-1),
    }


def _numeric(s: pd.Series) -> bool:
    return s.dtype.kind in "fiu" and s.dtype != bool


def scenario_summary(table: pd.DataFrame, params: Sequence[str], metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per scenario: its parameters, the number of packs, and the mean, standard deviation, 5th and 95th
    percentile of each metric over its packs."""
    if "scenario" not in table:
        raise ConfigError("scenario_summary: the table has no 'scenario' column (not a sweep table).")
    metrics = list(metrics or [m for m in METRICS if m in table])
    g = table.groupby("scenario", sort=True)
    out = g[list(params)].first() if params else pd.DataFrame(index=g.size().index)
    out["packs"] = g.size()
    for m in metrics:
        out[f"{m}_mean"] = g[m].mean()
        out[f"{m}_std"] = g[m].std(ddof=0)
        out[f"{m}_p05"] = g[m].quantile(0.05)
        out[f"{m}_p95"] = g[m].quantile(0.95)
    return out.reset_index()


def sensitivity(table: pd.DataFrame, metric: str, params: Sequence[str],
                grid: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per parameter: ``spearman_rho``, ``p_value``, ``eta2`` (module docstring) and ``levels``
    (distinct values), sorted by the larger of ``|rho|`` and ``eta2``. Constant parameters are left out.

    ``grid``: the parameters set on a grid; ``eta2`` is given for those only (a parameter drawn once per
    scenario is constant within its scenario, so its eta^2 would be the whole between-scenario share).
    Default: every parameter with repeated values."""
    from scipy.stats import spearmanr

    if metric not in table:
        raise ConfigError(f"sensitivity: metric {metric!r} is not a column; columns: {list(table.columns)}.")
    y = table[metric].to_numpy(float)
    ok = np.isfinite(y)
    rows = []
    var = float(np.var(y[ok])) if ok.sum() > 1 else 0.0
    for p in params:
        x = table.loc[ok, p]
        levels = int(x.nunique())
        if levels < 2:
            continue
        rho = pv = np.nan
        if _numeric(x) and var > 0:
            r = spearmanr(x.to_numpy(float), y[ok])
            rho, pv = float(r.statistic), float(r.pvalue)
        eta2 = np.nan
        if (p in grid if grid is not None else levels < ok.sum()) and var > 0:
            means = pd.Series(y[ok]).groupby(x.to_numpy()).transform("mean").to_numpy()
            eta2 = float(np.var(means) / var)
        rows.append({"parameter": p, "spearman_rho": rho, "p_value": pv, "eta2": eta2, "levels": levels})
    df = pd.DataFrame(rows, columns=["parameter", "spearman_rho", "p_value", "eta2", "levels"])
    if len(df):
        key = np.fmax(df["spearman_rho"].abs().fillna(-1), df["eta2"].fillna(-1))
        df = df.iloc[np.argsort(-key.to_numpy(), kind="stable")].reset_index(drop=True)
    return df


def plot_sensitivity(table: pd.DataFrame, metric: str, sens: pd.DataFrame, max_params: int = 6):
    """A matplotlib Figure: the ranked ``|rho|`` / ``eta2`` bars, and the metric against each of the most
    influential parameters (box per level for a grid parameter, scatter for a drawn one)."""
    from matplotlib.figure import Figure

    top = list(sens["parameter"][:max_params])
    n = 1 + len(top)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    ax = axes[0]
    if len(sens):
        yk = np.arange(len(sens))
        ax.barh(yk - 0.2, sens["spearman_rho"].fillna(0).abs(), height=0.4, label="|Spearman rho|")
        ax.barh(yk + 0.2, sens["eta2"].fillna(0), height=0.4, label="eta^2 (variance share)")
        ax.set_yticks(yk, [str(p)[-28:] for p in sens["parameter"]], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no parameter varies", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"sensitivity of {metric}", fontsize=9)
    y = table[metric].to_numpy(float)
    for a, p in zip(axes[1:], top, strict=False):
        x = table[p]
        levels = x.unique()
        if len(levels) <= 12:
            try:
                levels = sorted(levels)
            except TypeError:
                pass
            a.boxplot([y[(x == lv).to_numpy()] for lv in levels], showfliers=True)
            a.set_xticks(np.arange(1, len(levels) + 1), [f"{lv:.4g}" if isinstance(lv, float) else str(lv)[:14]
                                                        for lv in levels], fontsize=7, rotation=30)
        else:
            a.scatter(x.to_numpy(float), y, s=4, alpha=0.5)
        a.set_xlabel(str(p)[-40:], fontsize=8)
        a.set_ylabel(metric, fontsize=8)
        a.grid(alpha=0.3)
    for a in axes[n:]:
        a.set_visible(False)
    fig.tight_layout()
    return fig
