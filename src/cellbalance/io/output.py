"""Writing results: NetCDF (xarray), CSV (pandas) and the standard plots."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

__all__ = ["to_csv", "to_netcdf", "write_results"]


def to_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(p)
    return p


def to_csv(ds: xr.Dataset, path: str | Path) -> Path:
    """Long-format CSV: one row per (time, pack, cell) with the per-cell variables."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    cols = [v for v in ("soc", "voltage_V", "current_A", "temperature_K", "hysteresis") if v in ds]
    df = ds[cols].to_dataframe().reset_index()
    df.drop(columns=[c for c in ("series_index", "parallel_index") if c in df and df[c].nunique() == 1]).to_csv(
        p, index=False, float_format="%.9g"
    )
    return p


def write_results(ds: xr.Dataset, out_dir: str | Path, name: str, *, csv: bool = True, plot: bool = True) -> list[Path]:
    out = Path(out_dir)
    files = [to_netcdf(ds, out / f"{name}.nc")]
    if csv:
        files.append(to_csv(ds, out / f"{name}.csv"))
    if plot:
        from ..analysis.plots import plot_cell_run

        files.append(plot_cell_run(ds, out / f"{name}.png"))
    return files
