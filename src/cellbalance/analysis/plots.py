"""Standard figures (matplotlib object-oriented API: no pyplot state, no backend switch, no display needed)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

__all__ = ["pack_run_figures", "plot_cell_run", "plot_pack_run"]


def plot_cell_run(ds: xr.Dataset, path: str | Path, pack: int = 0) -> Path:
    """Voltage, current, SOC, temperature and hysteresis state of every cell of one pack over time."""
    t_h = ds.time.values / 3600.0
    fig = Figure(figsize=(8, 10))
    axes = fig.subplots(5, 1, sharex=True)
    rows = [
        ("voltage_V", "Voltage [V]", 1.0, 0.0),
        ("current_A", "Current [A] (+ charge)", 1.0, 0.0),
        ("soc", "SOC [%]", 100.0, 0.0),
        ("temperature_K", "Temperature [°C]", 1.0, -273.15),
        ("hysteresis", "Hysteresis state h [-]", 1.0, 0.0),
    ]
    d = ds.isel(pack=pack)
    for ax, (var, label, scale, off) in zip(axes, rows, strict=True):
        y = d[var].values * scale + off
        ax.plot(t_h, y, lw=0.8)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("Time [h]")
    fig.suptitle(f"{ds.attrs.get('parameter_set', '')}: {ds.attrs.get('experiment', '')}"[:120], fontsize=9)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110)
    return p


def plot_pack_run(ds: xr.Dataset, out_dir: str | Path, name: str, pack: int = 0) -> list[Path]:
    """The standard pack figures: SOC spread over time, cell-voltage fan, temperature map (cell x time)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for key, fig in pack_run_figures(ds, pack).items():
        files.append(out / f"{name}_{key}.png")
        fig.savefig(files[-1], dpi=110)
    return files


def pack_run_figures(ds: xr.Dataset, pack: int = 0, max_rows: int | None = None) -> dict[str, Figure]:
    """The figures of :func:`plot_pack_run` as matplotlib Figures keyed ``soc_spread``, ``voltage_fan``,
    ``temperature_map``; ``max_rows``: plot at most about that many rows (every k-th row of a long run)."""
    import numpy as np

    d = ds.isel(pack=pack)
    k = 1 if not max_rows or d.sizes["time"] <= max_rows else -(-d.sizes["time"] // max_rows)
    t_h = d.time.values[::k] / 3600.0
    soc = d.soc.values[::k]
    figs = {}

    fig = Figure(figsize=(8, 6))
    ax = fig.subplots(2, 1, sharex=True)
    ax[0].fill_between(t_h, soc.min(1) * 100, soc.max(1) * 100, alpha=0.3, label="min-max")
    ax[0].plot(t_h, soc.mean(1) * 100, lw=1, label="mean")
    ax[0].set_ylabel("SOC [%]")
    ax[0].legend(loc="best")
    ax[1].plot(t_h, (soc.max(1) - soc.min(1)) * 100, lw=1, label="max - min")
    ax[1].plot(t_h, soc.std(1) * 100, lw=1, label="std")
    ax[1].set_ylabel("SOC spread [%-points]")
    ax[1].set_xlabel("Time [h]")
    ax[1].legend(loc="best")
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    figs["soc_spread"] = fig

    v = d.voltage_V.values[::k]
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    n = v.shape[1]
    idx = np.linspace(0, n - 1, min(n, 200)).astype(int)
    ax.plot(t_h, v[:, idx], lw=0.4, color="tab:blue", alpha=0.4)
    ax.plot(t_h, v.min(1), lw=1, color="tab:red", label="lowest cell")
    ax.plot(t_h, v.max(1), lw=1, color="tab:green", label="highest cell")
    ax.set_xlabel("Time [h]")
    ax.set_ylabel("Cell voltage [V]")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figs["voltage_fan"] = fig

    temp = d.temperature_K.values[::k] - 273.15
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    im = ax.imshow(temp.T, aspect="auto", origin="lower", cmap="inferno",
                   extent=(t_h[0], t_h[-1] if t_h[-1] > t_h[0] else t_h[0] + 1e-6, 0, temp.shape[1]))
    fig.colorbar(im, ax=ax, label="Temperature [°C]")
    ax.set_xlabel("Time [h]")
    ax.set_ylabel("Cell index")
    fig.tight_layout()
    figs["temperature_map"] = fig
    return figs
