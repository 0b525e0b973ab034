"""Writing results: NetCDF (xarray), CSV (pandas) and the standard plots."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

__all__ = ["PLOT_VARIABLES", "open_results", "to_csv", "to_netcdf", "write_results"]


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
    for name, da in ds.coords.items():
        if da.dtype.kind == "f":
            enc[name] = {"_FillValue": None}  # CF: a coordinate has no missing values
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


#: what ``plot`` needs in a results file: variable -> dimensions
PLOT_VARIABLES = {"soc": ("time", "pack", "cell"), "voltage_V": ("time", "pack", "cell"),
                  "temperature_K": ("time", "pack", "cell")}


def open_results(path: str | Path) -> xr.Dataset:
    """A results NetCDF written by cellbalance, opened and checked at the door: one
    :class:`~cellbalance.errors.ConfigError` naming the file and what is missing or wrong."""
    import numpy as np

    from ..errors import ConfigError

    p = Path(path)
    what = "a results NetCDF written by 'cellbalance simulate' or 'cellbalance cell'"
    if not p.exists():
        raise ConfigError(f"{p}: no such file (expected {what}).")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory; expected {what}.")
    try:
        ds = xr.open_dataset(p, decode_times=False)  # time stays simulated seconds (CF "seconds since" the start)
    except Exception as e:  # netCDF4, h5netcdf and scipy each raise their own types
        raise ConfigError(f"{p}: not a readable NetCDF file ({type(e).__name__}: {e}); expected {what}.") from None
    problems = []
    for name, dims in PLOT_VARIABLES.items():
        if name not in ds:
            problems.append(f"no variable '{name}'")
        elif tuple(ds[name].dims) != dims:
            problems.append(f"'{name}' has dimensions {tuple(ds[name].dims)}, expected {dims}")
        elif ds[name].dtype.kind not in "fiu":
            problems.append(f"'{name}' is not numeric")
    if not problems:
        if ds.sizes.get("time", 0) < 1 or ds.sizes.get("cell", 0) < 1 or ds.sizes.get("pack", 0) < 1:
            problems.append(f"it holds no rows (sizes {dict(ds.sizes)})")
        elif ds["time"].dtype.kind not in "fiu" or not np.all(np.isfinite(ds["time"].values)):
            problems.append("its time coordinate is not finite seconds")
    if problems:
        ds.close()
        raise ConfigError(f"{p}: not a cellbalance results file ({'; '.join(problems)}); expected {what}.")
    return ds
