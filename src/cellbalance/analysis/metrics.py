"""Pack metrics from a results Dataset: SOC spread, usable capacity, energy, temperature, limits.

Usable capacity of a series string (Plett, *Battery Management Systems Vol. II: Equivalent-Circuit
Methods*, Artech House 2015, ch. on cell balancing): with element ``g`` holding charge
``D_g = sum_i z_i Q_i`` that can still be drawn and ``S_g = sum_i (1 - z_i) Q_i`` that can still be
stored, the string can deliver ``min_g D_g`` and accept ``min_g S_g``; a full cycle spans

    usable = min_g D_g + min_g S_g          (<= ideal = min_g sum_i Q_i, equal when balanced)

so ``ideal - usable`` is the capacity lost to imbalance (it vanishes when every element sits at the
same SOC, and the weakest element then limits both ends).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["energy_throughput_Wh", "soc_spread", "summary", "time_near_limits", "usable_capacity_Ah"]


def _elements(ds: xr.Dataset, var: str) -> np.ndarray:
    """(time, pack, n_series, n_parallel) view of a per-cell variable."""
    ns = int(ds.series_index.max()) + 1
    v = ds[var].values
    return v.reshape(v.shape[0], v.shape[1], ns, -1)


def soc_spread(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(max - min, std) of cell SOC over time, each (time, pack)."""
    z = ds.soc.values
    return z.max(-1) - z.min(-1), z.std(-1)


def usable_capacity_Ah(soc, capacity_Ah) -> tuple[np.ndarray, np.ndarray]:
    """(usable, ideal) in Ah for SOC and capacity arrays shaped (..., n_series, n_parallel)."""
    z = np.asarray(soc, float)
    q = np.broadcast_to(np.asarray(capacity_Ah, float), z.shape)
    drawable = (z * q).sum(-1)
    storable = ((1.0 - z) * q).sum(-1)
    usable = drawable.min(-1) + storable.min(-1)
    ideal = q.sum(-1).min(-1)
    return usable, ideal


def energy_throughput_Wh(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(charged, discharged) pack energy [Wh] per pack, integrating the recorded rows (left rectangle)."""
    p = ds.pack_current_A.values * ds.pack_voltage_V.values
    dt = np.diff(ds.time.values)[:, None]
    e = p[:-1] * dt
    return np.where(e > 0, e, 0).sum(0) / 3600.0, -np.where(e < 0, e, 0).sum(0) / 3600.0


def time_near_limits(ds: xr.Dataset, v_min: float, v_max: float, margin_V: float = 0.01) -> np.ndarray:
    """Fraction of recorded time (per pack) with any cell within ``margin_V`` of v_min or v_max."""
    v = ds.voltage_V.values
    near = (v.min(-1) <= v_min + margin_V) | (v.max(-1) >= v_max - margin_V)
    dt = np.diff(ds.time.values, append=ds.time.values[-1])[:, None]
    total = max(float(ds.time.values[-1] - ds.time.values[0]), 1e-12)
    return (near * dt).sum(0) / total


def summary(ds: xr.Dataset, capacity_Ah, v_min: float | None = None, v_max: float | None = None) -> dict:
    """The standard metrics per pack (arrays over packs), as a dict ready for a table."""
    q = np.asarray(capacity_Ah, float).reshape(ds.sizes["pack"], int(ds.series_index.max()) + 1, -1)
    zr, zs = soc_spread(ds)
    z_end = _elements(ds, "soc")[-1]
    usable, ideal = usable_capacity_Ah(z_end, q)
    ch, dis = energy_throughput_Wh(ds)
    out = {
        "SOC spread at start [%]": zr[0] * 100,
        "SOC spread at end [%]": zr[-1] * 100,
        "SOC std at end [%]": zs[-1] * 100,
        "usable capacity at end [Ah]": usable,
        "ideal capacity [Ah]": ideal,
        "capacity lost to imbalance [%]": (ideal - usable) / ideal * 100,
        "energy charged [Wh]": ch,
        "energy discharged [Wh]": dis,
        "peak cell temperature [°C]": ds.temperature_K.values.max(axis=(0, 2)) - 273.15,
    }
    if v_min is not None and v_max is not None:
        out["time near voltage limits [%]"] = time_near_limits(ds, v_min, v_max) * 100
    return out
