"""Writing results: NetCDF (xarray), CSV (pandas) and the standard plots."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

__all__ = ["to_csv", "to_netcdf", "write_results"]


def to_netcdf(ds: xr.Dataset, path: str | Path, precision: str = "float64") -> Path:
    """Write ``ds`` compressed and time-chunked (:func:`~cellbalance.sim.results.netcdf_encoding`);
    ``precision="float32"`` stores the per-cell float variables in single precision (the event
    table, coordinates and energy sums stay float64)."""
    import numpy as np

    from ..errors import ConfigError
    from ..sim.results import netcdf_encoding

    if precision not in ("float64", "float32"):
        raise ConfigError(f"to_netcdf: precision must be 'float64' or 'float32'; got {precision!r}.")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    enc = {}
    for name, da in ds.data_vars.items():
        if da.ndim == 0 or da.dtype.kind not in "fiu" or 0 in da.shape:
            continue
        enc[name] = netcdf_encoding(da)
        if precision == "float32" and da.dtype == np.float64 and {"pack", "cell"} <= set(da.dims) and "time" in da.dims:
            enc[name]["dtype"] = "float32"
    ds.to_netcdf(p, encoding=enc)
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
