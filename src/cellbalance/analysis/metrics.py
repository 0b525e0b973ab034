"""Pack metrics from a results Dataset: SOC spread, usable capacity, energy, temperature, limits.

The functions take the Dataset that :func:`cellbalance.sim.simulate` returns (dims ``time``,
``pack``, ``cell``; variables ``soc``, ``voltage_V``, ``current_A``, ``temperature_K``,
``pack_current_A``, ``pack_voltage_V``; coords ``series_index``, ``parallel_index``; cells ordered
(series, parallel) within a pack) or plain arrays, and return NumPy arrays over packs (and time).

Usable capacity of a series string
----------------------------------
After G. L. Plett, *Battery Management Systems, Vol. II: Equivalent-Circuit Methods*, Artech House
2015, ch. 5 (cell balancing): every series element ``g`` carries the same string current, so the
string can deliver only as much charge as its emptiest element still holds and accept only as much
as its fullest element can still take. With cell SOC ``z_i`` and capacity ``Q_i`` (cells ``i`` of
element ``g``, charge shared within a parallel group):

    D_g = sum_{i in g} z_i Q_i               charge element g can still deliver  [Ah]
    S_g = sum_{i in g} (1 - z_i) Q_i         charge element g can still store    [Ah]

    usable = min_g D_g + min_g S_g           (one full discharge plus one full charge, end to end)
    ideal  = min_g sum_{i in g} Q_i          (a perfectly balanced string: all elements at one SOC)
    loss   = ideal - usable  >= 0

``usable <= ideal`` because ``min D + min S <= D_w + S_w = Q_w`` for the weakest element ``w``;
equality needs the element that empties first and the one that fills first to be the weakest. So
the loss is the capacity lost to imbalance: a balancer can recover it, a new cell cannot. Example:
three 5 Ah elements at SOC 0.5, 0.6, 0.5 give ``usable = 2.5 + 2.0 = 4.5 Ah`` of ``ideal = 5 Ah``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ParameterError

__all__ = [
    "across_packs",
    "element_charge_Ah",
    "energy_throughput_Wh",
    "estimator_error",
    "peak_temperature_K",
    "soc_spread",
    "summary",
    "time_near_limits",
    "usable_capacity_Ah",
    "usable_capacity_over_time",
]


def _n_series(ds: xr.Dataset) -> int:
    return int(ds.series_index.max()) + 1


def _elements(ds: xr.Dataset, var: str) -> np.ndarray:
    """(time, pack, n_series, n_parallel) view of a per-cell variable."""
    v = ds[var].values
    return v.reshape(v.shape[0], v.shape[1], _n_series(ds), -1)


def _capacities(ds: xr.Dataset, capacity_Ah) -> np.ndarray:
    """Capacities as (pack, n_series, n_parallel); a scalar or (n_cells,) / (cells per pack,) array."""
    B, cpp = ds.sizes["pack"], ds.sizes["cell"]
    q = np.asarray(capacity_Ah, float)
    if q.size == 1:
        q = np.full(B * cpp, float(q.reshape(-1)[0]))
    elif q.size == cpp:
        q = np.tile(q.reshape(-1), B)
    elif q.size != B * cpp:
        raise ParameterError(f"capacity_Ah has {q.size} values; expected 1, {cpp} (cells per pack) or "
                             f"{B * cpp} (all cells).")
    if np.any(~np.isfinite(q)) or np.any(q <= 0):
        raise ParameterError("capacity_Ah must be finite and > 0 for every cell.")
    return q.reshape(B, _n_series(ds), -1)


def soc_spread(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(max - min, standard deviation) of cell SOC over the cells of each pack; each (time, pack)."""
    z = ds.soc.values
    return z.max(-1) - z.min(-1), z.std(-1)


def element_charge_Ah(soc, capacity_Ah) -> tuple[np.ndarray, np.ndarray]:
    """(D, S): charge each series element can still deliver / store [Ah], shapes (..., n_series).

    ``soc`` and ``capacity_Ah`` broadcast to (..., n_series, n_parallel).
    """
    z = np.asarray(soc, float)
    q = np.asarray(capacity_Ah, float)
    try:
        z, q = np.broadcast_arrays(z, q)
    except ValueError:
        raise ParameterError(f"soc {z.shape} and capacity_Ah {q.shape} do not broadcast; both should end in "
                             "(n_series, n_parallel).") from None
    if z.ndim < 2:
        raise ParameterError(f"soc must have shape (..., n_series, n_parallel); got {z.shape}.")
    return (z * q).sum(-1), ((1.0 - z) * q).sum(-1)


def usable_capacity_Ah(soc, capacity_Ah, strings: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(usable, ideal) [Ah] of series strings; ``soc``, ``capacity_Ah`` shaped (..., n_series, n_parallel).

    ``usable = min_g D_g + min_g S_g``, ``ideal = min_g sum Q`` (module docstring; Plett 2015).
    With ``strings`` (a parallel-strings pack: the cells of column j form string j), each string is
    limited on its own: ``usable = sum_j (min_s D_sj + min_s S_sj)``, ``ideal = sum_j min_s Q_sj``.
    """
    d, s = element_charge_Ah(soc, capacity_Ah)  # (checks the shapes)
    q = np.broadcast_to(np.asarray(capacity_Ah, float), np.broadcast_shapes(np.shape(soc), np.shape(capacity_Ah)))
    if strings:
        z = np.broadcast_to(np.asarray(soc, float), q.shape)
        return ((z * q).min(-2) + ((1.0 - z) * q).min(-2)).sum(-1), q.min(-2).sum(-1)
    return d.min(-1) + s.min(-1), q.sum(-1).min(-1)


def usable_capacity_over_time(ds: xr.Dataset, capacity_Ah) -> tuple[np.ndarray, np.ndarray]:
    """(usable, ideal) [Ah] at every recorded row, each (time, pack)."""
    q = _capacities(ds, capacity_Ah)
    strings = ds.attrs.get("configuration") == "parallel-strings"
    usable, ideal = usable_capacity_Ah(_elements(ds, "soc"), q[None], strings)
    return usable, np.broadcast_to(ideal, usable.shape)


def energy_throughput_Wh(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(charged, discharged) energy at the pack terminals [Wh] per pack, both >= 0.

    ``P = I_pack V_pack`` (positive = charging) integrated over the recorded rows with the left
    rectangle rule: each row holds the current applied from its time on (right limits), so with
    ``record_every = 1`` and a current held over each period this is the loop's own rule; with
    decimated rows it is an estimate. Charge and discharge are summed separately.
    """
    p = ds.pack_current_A.values * ds.pack_voltage_V.values
    t = ds.time.values
    if t.size < 2:
        z = np.zeros(p.shape[1])
        return z, z.copy()
    e = p[:-1] * np.diff(t)[:, None]
    return np.where(e > 0, e, 0.0).sum(0) / 3600.0, -np.where(e < 0, e, 0.0).sum(0) / 3600.0


def estimator_error(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """(estimate times [s], estimated minus true element SOC (estimate_time, pack, element)), or None when
    the run has no ``estimated_soc``. The true SOC is that of the last recorded row at or before each
    estimate (rows hold right limits), so with decimated rows it lags by up to ``record_every`` periods."""
    if "estimated_soc" not in ds or "estimate_time" not in ds.dims or ds.sizes.get("time", 0) == 0:
        return None
    te = ds.estimate_time.values
    t = ds.time.values
    row = np.clip(np.searchsorted(t, te, side="right") - 1, 0, t.size - 1)
    z_el = _elements(ds, "soc").mean(-1)[row]
    est = ds.estimated_soc.values
    if est.shape != z_el.shape:
        return None
    return te, est - z_el


def peak_temperature_K(ds: xr.Dataset) -> np.ndarray:
    """Highest recorded cell temperature of each pack [K]."""
    return ds.temperature_K.values.max(axis=(0, 2))


def time_near_limits(ds: xr.Dataset, v_min: float, v_max: float, margin_V: float = 0.01) -> np.ndarray:
    """Fraction of the recorded time (per pack) during which any cell is within ``margin_V`` of a limit.

    A row counts for the interval up to the next row (right limits); near means
    ``min_i V_i <= v_min + margin_V`` or ``max_i V_i >= v_max - margin_V``.
    """
    if not margin_V >= 0:
        raise ParameterError(f"time_near_limits: margin_V must be >= 0; got {margin_V!r}.")
    v = ds.voltage_V.values
    t = ds.time.values
    near = (v.min(-1) <= v_min + margin_V) | (v.max(-1) >= v_max - margin_V)
    if t.size < 2 or t[-1] <= t[0]:
        return near[-1].astype(float) if t.size else np.zeros(v.shape[1])
    dt = np.diff(t, append=t[-1])[:, None]
    return (near * dt).sum(0) / float(t[-1] - t[0])


def summary(ds: xr.Dataset, capacity_Ah, v_min: float | None = None, v_max: float | None = None,
            margin_V: float = 0.01) -> dict[str, np.ndarray]:
    """The standard metrics, each an array over packs, as a dict ready for a table.

    ``capacity_Ah``: the cells' capacities (a number, cells per pack, or all cells, e.g.
    ``SampledPack.capacity_Ah``). The time-near-limits entry needs ``v_min`` and ``v_max``.
    """
    zr, zs = soc_spread(ds)
    usable, ideal = usable_capacity_over_time(ds, capacity_Ah)
    ch, dis = energy_throughput_Wh(ds)
    out = {
        "SOC spread at start [%]": zr[0] * 100,
        "SOC spread at end [%]": zr[-1] * 100,
        "SOC std at end [%]": zs[-1] * 100,
        "usable capacity at start [Ah]": usable[0],
        "usable capacity at end [Ah]": usable[-1],
        "ideal capacity [Ah]": ideal[-1],
        "capacity lost to imbalance [%]": (ideal[-1] - usable[-1]) / ideal[-1] * 100,
        "energy charged [Wh]": ch,
        "energy discharged [Wh]": dis,
        "peak cell temperature [°C]": peak_temperature_K(ds) - 273.15,
    }
    if v_min is not None and v_max is not None:
        out[f"time within {margin_V * 1000:g} mV of a voltage limit [%]"] = (
            time_near_limits(ds, v_min, v_max, margin_V) * 100)
    return out


#: which way each :func:`summary` entry gets worse (+1: higher is worse, -1: lower is worse, 0: neither)
WORSE_WHEN = {
    "SOC spread at start [%]": +1,
    "SOC spread at end [%]": +1,
    "SOC std at end [%]": +1,
    "usable capacity at start [Ah]": -1,
    "usable capacity at end [Ah]": -1,
    "ideal capacity [Ah]": -1,
    "capacity lost to imbalance [%]": +1,
    "energy charged [Wh]": 0,
    "energy discharged [Wh]": 0,
    "peak cell temperature [°C]": +1,
}


def across_packs(metrics: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """A batch of packs in one row per metric: ``mean``, ``std`` (population), ``min``, ``max`` over the
    packs, and the ``worst`` value with its pack index ``worst_pack`` (by :data:`WORSE_WHEN`; entries
    not listed there, e.g. the time near a voltage limit, are worse when higher; NaN and -1 for the
    energies, which are neither better nor worse).
    """
    out = {}
    for name, v in metrics.items():
        a = np.atleast_1d(np.asarray(v, float))
        sense = WORSE_WHEN.get(name, +1)
        k = -1 if sense == 0 else int(np.argmax(a) if sense > 0 else np.argmin(a))
        out[name] = {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max()),
                     "worst": float(a[k]) if k >= 0 else float("nan"), "worst_pack": k}
    return out
