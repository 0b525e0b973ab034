"""Look-up tables over (temperature, current, state of charge) and their packing for compiled kernels."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError

__all__ = ["Table", "TableBank"]


def _axis(owner: str, name: str, values) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=float))
    if arr.ndim != 1 or arr.size == 0:
        raise ParameterError(f"{owner}.{name} must be a non-empty 1-D grid; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{owner}.{name} must be finite; got {arr.tolist()}.")
    if arr.size > 1 and np.any(np.diff(arr) <= 0):
        i = int(np.flatnonzero(np.diff(arr) <= 0)[0])
        raise ParameterError(
            f"{owner}.{name} must be strictly increasing; got {arr[i]:g} followed by {arr[i + 1]:g} "
            f"at index {i + 1}."
        )
    return arr


@dataclass(frozen=True, eq=False)
class Table:
    """A quantity tabulated on a rectilinear grid over temperature [K], current [A] and SOC [-].

    An axis of length one means "no dependence on this variable". Interpolation is multilinear
    (as PyBaMM's 3-D ``Interpolant`` and scipy's ``RegularGridInterpolator``); outside the grid the
    temperature and current axes hold their end values, the SOC axis extrapolates linearly.
    Current is in cellbalance's convention: positive = charging.

    Parameters
    ----------
    values : array, shape (n_T, n_I, n_z)
    temperature_K, current_A, soc : 1-D strictly increasing grids
    name : str
        Used in error messages, e.g. ``"r0"``.
    """

    values: np.ndarray
    temperature_K: np.ndarray = field(default_factory=lambda: np.array([298.15]))
    current_A: np.ndarray = field(default_factory=lambda: np.array([0.0]))
    soc: np.ndarray = field(default_factory=lambda: np.array([0.0]))
    name: str = "table"

    def __post_init__(self) -> None:
        owner = f"Table {self.name!r}"
        t = _axis(owner, "temperature_K", self.temperature_K)
        i = _axis(owner, "current_A", self.current_A)
        z = _axis(owner, "soc", self.soc)
        v = np.asarray(self.values, dtype=float)
        if v.size == t.size * i.size * z.size:
            v = v.reshape(t.size, i.size, z.size)
        else:
            raise ParameterError(
                f"{owner}.values must have shape ({t.size}, {i.size}, {z.size}) to match its grids; "
                f"got shape {v.shape}."
            )
        if not np.all(np.isfinite(v)):
            raise ParameterError(f"{owner}.values must be finite; found NaN or inf.")
        for k, a in (("temperature_K", t), ("current_A", i), ("soc", z), ("values", v)):
            a.setflags(write=False)
            object.__setattr__(self, k, a)

    # ---- constructors -------------------------------------------------------------------------
    @classmethod
    def constant(cls, value: float, name: str = "table") -> Table:
        return cls(np.array([[[float(value)]]]), name=name)

    @classmethod
    def of_soc(cls, soc, values, name: str = "table") -> Table:
        v = np.asarray(values, dtype=float)
        return cls(v.reshape(1, 1, -1), soc=np.asarray(soc, float), name=name)

    @classmethod
    def of_soc_temperature(cls, soc, temperature_K, values, name: str = "table") -> Table:
        """``values`` has shape (n_T, n_z)."""
        v = np.asarray(values, dtype=float)
        t = np.atleast_1d(np.asarray(temperature_K, float))
        return cls(v.reshape(t.size, 1, -1), temperature_K=t, soc=np.asarray(soc, float), name=name)

    # ---- properties ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        return self.values.shape  # type: ignore[return-value]

    def require_positive(self, owner: str) -> None:
        if np.any(self.values <= 0):
            bad = float(self.values[self.values <= 0].ravel()[0])
            raise ParameterError(f"{owner}.{self.name} must be > 0 everywhere in its table; got {bad:g}.")

    def covers_soc(self, owner: str, lo: float = 0.0, hi: float = 1.0) -> None:
        z = self.soc
        if z[0] > lo + 1e-12 or z[-1] < hi - 1e-12:
            raise ParameterError(
                f"{owner}.{self.name} SOC grid must cover [{lo:g}, {hi:g}]; got [{z[0]:g}, {z[-1]:g}]."
            )

    @functools.cached_property
    def _bank(self) -> TableBank:
        """This table alone, packed for the kernels (made on the first call: the table is immutable)."""
        return TableBank([self])

    def __call__(self, temperature_K, current_A, soc) -> np.ndarray:
        """Evaluate with the same rule as the compiled kernels (numpy, for analysis and tests)."""
        from .kernels import lut_eval_array

        bank = self._bank
        t, i, z = np.broadcast_arrays(
            np.asarray(temperature_K, float), np.asarray(current_A, float), np.asarray(soc, float)
        )
        out = lut_eval_array(0, np.ascontiguousarray(t.ravel()), np.ascontiguousarray(i.ravel()),
                             np.ascontiguousarray(z.ravel()), bank.data, bank.meta)
        return out.reshape(t.shape)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "temperature_K": self.temperature_K.tolist(),
            "current_A": self.current_A.tolist(),
            "soc": self.soc.tolist(),
            "values": self.values.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict, name: str | None = None) -> Table:
        """Build from a mapping with keys ``values`` and any of ``soc``, ``temperature_K``, ``current_A``.

        A 1-D ``values`` is a function of SOC only; 2-D is (temperature, soc).
        """
        allowed = {"name", "temperature_K", "current_A", "soc", "values"}
        unknown = set(d) - allowed
        if unknown:
            raise ParameterError(f"Table {name!r}: unknown key(s) {sorted(unknown)}; allowed {sorted(allowed)}.")
        if "values" not in d:
            raise ParameterError(f"Table {name!r}: missing 'values'.")
        nm = name or d.get("name", "table")

        def arr(key, default):
            v = d.get(key, default)
            try:
                a = np.asarray(v, float)
            except (TypeError, ValueError):
                raise ParameterError(f"Table {nm!r}.{key} must be a number or a (nested) list of numbers "
                                     f"of a regular shape; got {v!r}.") from None
            if a.size == 0:
                raise ParameterError(f"Table {nm!r}.{key} is empty.")
            return a

        t = np.atleast_1d(arr("temperature_K", [298.15]))
        i = np.atleast_1d(arr("current_A", [0.0]))
        z = np.atleast_1d(arr("soc", [0.0]))
        return cls(arr("values", None), temperature_K=t, current_A=i, soc=z, name=nm)


class TableBank:
    """Several tables packed into two flat arrays so a compiled kernel can read any of them.

    ``meta[k] = (n_T, n_I, n_z, axes_offset, values_offset, uniform_T, uniform_I, uniform_z)``
    indexes into ``data``; a uniform axis is looked up in O(1), others by bisection.
    """

    def __init__(self, tables: list[Table]):
        chunks: list[np.ndarray] = []
        meta = np.zeros((len(tables), 8), dtype=np.int64)
        off = 0
        for k, tab in enumerate(tables):
            nT, nI, nz = tab.shape
            axes = np.concatenate([tab.temperature_K, tab.current_A, tab.soc])
            uni = [int(a.size > 1 and np.allclose(np.diff(a), a[1] - a[0], rtol=1e-12, atol=0.0))
                   for a in (tab.temperature_K, tab.current_A, tab.soc)]
            meta[k] = (nT, nI, nz, off, off + axes.size, *uni)
            chunks += [axes, tab.values.ravel()]
            off += axes.size + tab.values.size
        self.data = np.ascontiguousarray(np.concatenate(chunks) if chunks else np.zeros(0))
        self.meta = meta
        self.tables = tuple(tables)
