"""What each balancing design costs and recovers, from the runs of a comparison.

Per design (the column names carry the units):
- ``spread_end_pct``: element SOC spread (max - min) at the end [%-points] (mean over packs);
- ``t_spread_below_target_h``: first time the spread is at or below the target [h] (NaN: never);
- ``energy_lost_Wh``: bleed heat + converter losses [Wh];
- ``usable_end_Ah`` and ``recovered_Ah`` / ``recovered_pct``: usable capacity of the string at the end
  (Plett's min-delivers + min-stores, :mod:`.metrics`) and its gain over the design named
  ``baseline`` (no balancing, by default the first design);
- ``peak_temperature_C``; ``limit_violations``: rows with a cell voltage outside [v_min, v_max] or a
  temperature above t_max (must be 0);
- ``controller_ms_mean`` / ``controller_ms_max``: wall time of a controller call.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError
from .metrics import _elements, usable_capacity_over_time

__all__ = ["comparison_table"]


def comparison_table(results: Mapping[str, xr.Dataset], capacity_Ah, *, v_min: float, v_max: float, t_max_K: float,
                     spread_target: float = 0.01, baseline: str | None = None) -> pd.DataFrame:
    """One row per design (see the module docstring); ``capacity_Ah`` as for :func:`.metrics.usable_capacity_Ah`."""
    if not results:
        raise ConfigError("comparison_table: no results.")
    names = list(results)
    base = baseline or names[0]
    if base not in results:
        raise ConfigError(f"comparison_table: baseline {base!r} is not one of {names}.")
    rows = {}
    for name, ds in results.items():
        t = ds.time.values
        z_el = _elements(ds, "soc").mean(-1)  # (time, packs, n_series): element SOC
        s = (z_el.max(-1) - z_el.min(-1)).mean(-1)
        below = np.flatnonzero(s <= spread_target)
        v = ds.voltage_V.values
        temp = ds.temperature_K.values
        bad = ((v < v_min - 1e-9) | (v > v_max + 1e-9)).any(axis=(1, 2)) | (temp > t_max_K).any(axis=(1, 2))
        usable = usable_capacity_over_time(ds, capacity_Ah)[0][-1]
        wall = ds["controller_wall_s"].values if "controller_wall_s" in ds else np.array([np.nan])
        rows[name] = {
            "spread_end_pct": 100.0 * float(s[-1]),
            "t_spread_below_target_h": float(t[below[0]]) / 3600.0 if below.size else np.nan,
            "energy_lost_Wh": float((ds.energy_bleed_J.values[-1] + ds.energy_converter_loss_J.values[-1]).mean()) / 3600.0,
            "usable_end_Ah": float(np.mean(usable)),
            "peak_temperature_C": float(temp.max()) - 273.15,
            "limit_violations": int(bad.sum()),
            "controller_ms_mean": 1e3 * float(np.mean(wall)),
            "controller_ms_max": 1e3 * float(np.max(wall)),
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df["recovered_Ah"] = df["usable_end_Ah"] - df.loc[base, "usable_end_Ah"]
    df["recovered_pct"] = 100.0 * df["recovered_Ah"] / df.loc[base, "usable_end_Ah"]
    return df
