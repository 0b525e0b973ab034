"""Standard figures (matplotlib object-oriented API: no pyplot state, no backend switch, no display needed).

Every figure is titled with the run (its name, layout, parameter set and the steps, wrapped at step
boundaries, never cut inside a step), marks a partial run as such, draws the cell's voltage limits
(``v_min_V`` / ``v_max_V`` of the results) on voltage axes and the step boundaries on every time
axis, and has a legend wherever it draws more than one line.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

__all__ = ["cell_run_figure", "pack_run_figures", "plot_cell_run", "plot_pack_run", "run_title"]

#: cells drawn one line each (and named in the legend) up to this many; above, a fan of grey lines
LABELLED_CELLS = 10


def run_title(ds: xr.Dataset, name: str = "", pack: int = 0, max_lines: int = 4, width: int = 110) -> str:
    """``name: layout parameter set (pack k of B)`` then the steps, wrapped at step boundaries; at most
    ``max_lines`` lines of steps, the rest counted (``+N more steps``), never a step cut in two."""
    a = ds.attrs
    head = " ".join(x for x in (f"{name}:" if name else "", str(a.get("layout", "")), str(a.get("parameter_set", "")))
                    if x)
    if ds.sizes.get("pack", 1) > 1:
        head += f" (pack {pack} of {ds.sizes['pack']})"
    status = str(a.get("status", "complete"))
    if status != "complete" or int(a.get("truncated", 0)):
        head += f" [PARTIAL RUN: {status}]"
    steps = [s for s in str(a.get("experiment", "")).split(" | ") if s]
    lines: list[str] = []
    cur = ""
    for k, s in enumerate(steps):
        piece = s if not cur else f"{cur} | {s}"
        if len(piece) <= width or not cur:
            cur = piece
            continue
        lines.append(cur)
        cur = s
        if len(lines) == max_lines:
            rest = len(steps) - k
            lines[-1] += f" | +{rest} more step{'s' if rest > 1 else ''}"
            cur = ""
            break
    if cur:
        lines.append(cur)
    return "\n".join([head, *(textwrap.shorten(x, 400) for x in lines)])


def _step_starts_h(ds: xr.Dataset, pack: int) -> np.ndarray:
    """Start times [h] of the steps after the first (from the event table; else from ``step``)."""
    if "event_start_s" in ds and ds.sizes.get("event", 0):
        mine = ds.event_pack.values == pack
        t = np.asarray(ds.event_start_s.values[mine], float)
        return np.unique(t[t > float(ds.time.values[0])]) / 3600.0
    if "step" in ds:
        k = ds.step.values[:, pack]
        return ds.time.values[1:][np.diff(k) != 0] / 3600.0
    return np.zeros(0)


def _decorate_time_axis(ax, starts_h: np.ndarray, label: bool) -> None:
    for j, t in enumerate(starts_h):
        ax.axvline(t, color="0.5", ls=":", lw=0.7, label="step boundary" if label and j == 0 else None)


def _limit_lines(ax, ds: xr.Dataset) -> None:
    for key, text in (("v_min_V", "v_min"), ("v_max_V", "v_max")):
        if key in ds.attrs:
            v = float(ds.attrs[key])
            ax.axhline(v, color="tab:red", ls="--", lw=0.8, label=f"{text} = {v:g} V")


def cell_run_figure(ds: xr.Dataset, pack: int = 0, *, name: str = "", labels: list[str] | None = None) -> Figure:
    """Voltage, current, SOC, temperature and hysteresis state of the cells of one pack over time:
    each cell a labelled line up to :data:`LABELLED_CELLS` cells (``labels`` or ``cell k``), a fan
    with its range otherwise."""
    t_h = ds.time.values / 3600.0
    fig = Figure(figsize=(8, 10.5))
    axes = fig.subplots(5, 1, sharex=True)
    rows = [
        ("voltage_V", "Voltage [V]", 1.0, 0.0),
        ("current_A", "Current [A] (+ charge)", 1.0, 0.0),
        ("soc", "SOC [%]", 100.0, 0.0),
        ("temperature_K", "Temperature [°C]", 1.0, -273.15),
        ("hysteresis", "Hysteresis state h [-]", 1.0, 0.0),
    ]
    d = ds.isel(pack=pack)
    n = d.sizes["cell"]
    if labels is None:
        labels = [f"cell {int(c)}" for c in d.cell.values]
    starts = _step_starts_h(ds, pack)
    for j, (ax, (var, label, scale, off)) in enumerate(zip(axes, rows, strict=True)):
        if var not in d:
            ax.set_visible(False)
            continue
        y = d[var].values * scale + off
        if n <= LABELLED_CELLS:
            for c in range(n):
                ax.plot(t_h, y[:, c], lw=0.8, label=labels[c])
        else:
            ax.plot(t_h, y, lw=0.4, color="tab:blue", alpha=0.3)
            ax.plot(t_h, y.min(1), lw=1, color="tab:red", label="lowest cell")
            ax.plot(t_h, y.max(1), lw=1, color="tab:green", label="highest cell")
        if var == "voltage_V":
            _limit_lines(ax, ds)
        _decorate_time_axis(ax, starts, label=True)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=6 if j else 7)
    axes[-1].set_xlabel("Time [h]")
    fig.suptitle(run_title(ds, name, pack), fontsize=8)
    fig.tight_layout()
    return fig


def plot_cell_run(ds: xr.Dataset, path: str | Path, pack: int = 0, *, name: str | None = None,
                  labels: list[str] | None = None) -> Path:
    """:func:`cell_run_figure` saved to ``path`` (its stem is the run name in the title by default)."""
    p = Path(path)
    fig = cell_run_figure(ds, pack, name=p.stem if name is None else name, labels=labels)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110)
    return p


def pack_run_figures(ds: xr.Dataset, name: str, pack: int = 0, max_rows: int | None = None) -> dict[str, Figure]:
    """The standard pack figures by file suffix: SOC spread over time, cell-voltage fan, and the
    temperature map (cell x time); a single cell gets a temperature trace instead of a one-row map.
    ``max_rows``: plot at most about that many rows (every k-th row of a long run)."""
    d = ds.isel(pack=pack)
    k = 1 if not max_rows or d.sizes["time"] <= max_rows else -(-d.sizes["time"] // max_rows)
    if k > 1:
        d = d.isel(time=slice(None, None, k))
    t_h = d.time.values / 3600.0
    soc = d.soc.values
    title = run_title(ds, name, pack)
    starts = _step_starts_h(ds, pack)
    figs = {}

    fig = Figure(figsize=(8, 6.5))
    ax = fig.subplots(2, 1, sharex=True)
    ax[0].fill_between(t_h, soc.min(1) * 100, soc.max(1) * 100, alpha=0.3, label="min-max")
    ax[0].plot(t_h, soc.mean(1) * 100, lw=1, label="mean")
    ax[0].set_ylabel("SOC [%]")
    ax[1].plot(t_h, (soc.max(1) - soc.min(1)) * 100, lw=1, label="max - min")
    ax[1].plot(t_h, soc.std(1) * 100, lw=1, label="std")
    ax[1].set_ylabel("SOC spread [%-points]")
    ax[1].set_xlabel("Time [h]")
    for a in ax:
        _decorate_time_axis(a, starts, label=True)
        a.legend(loc="best", fontsize=7)
        a.grid(alpha=0.3)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    figs["soc_spread"] = fig

    v = d.voltage_V.values
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    n = v.shape[1]
    idx = np.linspace(0, n - 1, min(n, 200)).astype(int)
    ax.plot(t_h, v[:, idx], lw=0.4, color="tab:blue", alpha=0.4)
    ax.plot([], [], lw=0.4, color="tab:blue", label=f"cells ({len(idx)} of {n} drawn)")
    ax.plot(t_h, v.min(1), lw=1, color="tab:red", label="lowest cell")
    ax.plot(t_h, v.max(1), lw=1, color="tab:green", label="highest cell")
    _limit_lines(ax, ds)
    _decorate_time_axis(ax, starts, label=True)
    ax.set_xlabel("Time [h]")
    ax.set_ylabel("Cell voltage [V]")
    ax.legend(loc="best", fontsize=7)
    ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    figs["voltage_fan"] = fig

    temp = d.temperature_K.values - 273.15
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    if temp.shape[1] == 1:  # one cell: a map of one row means nothing, a trace does
        ax.plot(t_h, temp[:, 0], lw=1, color="tab:red", label=f"cell {int(d.cell.values[0])}")
        _decorate_time_axis(ax, starts, label=True)
        ax.set_ylabel("Temperature [°C]")
        ax.legend(loc="best", fontsize=7)
        ax.grid(alpha=0.3)
        key = "temperature"
    else:
        im = ax.imshow(temp.T, aspect="auto", origin="lower", cmap="inferno",
                       extent=(t_h[0], t_h[-1] if t_h[-1] > t_h[0] else t_h[0] + 1e-6, 0, temp.shape[1]))
        fig.colorbar(im, ax=ax, label="Temperature [°C]")
        for t in starts:
            ax.axvline(t, color="w", ls=":", lw=0.7)
        ax.set_ylabel("Cell index")
        key = "temperature_map"
    ax.set_xlabel("Time [h]")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    figs[key] = fig
    return figs


def plot_pack_run(ds: xr.Dataset, out_dir: str | Path, name: str, pack: int = 0) -> list[Path]:
    """:func:`pack_run_figures` saved as ``<name>_<suffix>.png`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for suffix, fig in pack_run_figures(ds, name, pack).items():
        files.append(out / f"{name}_{suffix}.png")
        fig.savefig(files[-1], dpi=110)
    return files
