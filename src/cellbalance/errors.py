"""Exceptions raised by cellbalance; each subclasses a builtin so generic handlers still work."""

from __future__ import annotations

from typing import Any

__all__ = ["CellBalanceError", "ConfigError", "ParameterError", "UnknownNameError", "check_range"]


class CellBalanceError(Exception):
    """Base class of every error cellbalance raises on purpose."""


class ParameterError(CellBalanceError, ValueError):
    """A parameter value is outside its allowed range or has the wrong shape."""


class ConfigError(CellBalanceError, ValueError):
    """A configuration file or experiment description cannot be used as written."""


class UnknownNameError(CellBalanceError, KeyError):
    """A name (parameter set, topology, step kind, ...) is not one we know."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def _fmt(value: Any) -> str:
    try:
        import numpy as np

        arr = np.asarray(value)
        if arr.ndim > 0 and arr.size > 6:
            return f"array of shape {arr.shape}"
    except Exception:  # pragma: no cover - formatting must never fail
        pass
    return repr(value)


def check_range(
    owner: str,
    name: str,
    value: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> None:
    """Raise :class:`ParameterError` naming ``owner.name``, the offending value and the allowed range.

    ``value`` may be a scalar or an array; every element must satisfy every bound and be finite.
    """
    import numpy as np

    arr = np.asarray(value, dtype=float)
    bounds = []
    if gt is not None:
        bounds.append(f"> {gt:g}")
    if ge is not None:
        bounds.append(f">= {ge:g}")
    if lt is not None:
        bounds.append(f"< {lt:g}")
    if le is not None:
        bounds.append(f"<= {le:g}")
    allowed = " and ".join(bounds) if bounds else "finite"
    bad = ~np.isfinite(arr)
    if gt is not None:
        bad |= arr <= gt
    if ge is not None:
        bad |= arr < ge
    if lt is not None:
        bad |= arr >= lt
    if le is not None:
        bad |= arr > le
    if np.any(bad):
        if arr.ndim == 0:
            got = f"{float(arr):g}"
        else:
            idx = int(np.flatnonzero(bad.ravel())[0])
            got = f"{arr.ravel()[idx]:g} at index {idx}"
        raise ParameterError(f"{owner}.{name} must be {allowed} (finite); got {got}.")
