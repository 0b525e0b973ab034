"""Standard figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

__all__ = ["plot_cell_run"]


def plot_cell_run(ds: xr.Dataset, path: str | Path, pack: int = 0) -> Path:
    """Voltage, current, SOC, temperature and hysteresis state of every cell of one pack over time."""
    t_h = ds.time.values / 3600.0
    fig, axes = plt.subplots(5, 1, figsize=(8, 10), sharex=True)
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
    plt.close(fig)
    return p
