"""Exceptions raised by cellbalance; each subclasses a builtin so generic handlers still work."""

from __future__ import annotations

from typing import Any

__all__ = ["CellBalanceError", "CellBalanceWarning", "ConfigError", "ParameterError", "ResourceError",
           "RunLengthWarning", "SimulationError", "StepEndWarning", "UnknownNameError", "check_range",
           "numeric_column", "read_text_file", "warn", "warn_if_celsius"]


class CellBalanceError(Exception):
    """Base class of every error cellbalance raises on purpose."""


class ParameterError(CellBalanceError, ValueError):
    """A parameter value is outside its allowed range or has the wrong shape."""


class ConfigError(CellBalanceError, ValueError):
    """A configuration file or experiment description cannot be used as written."""


class ResourceError(CellBalanceError, OSError):
    """The machine cannot give what a run needs: memory, disk space, a writable output location."""


class SimulationError(CellBalanceError, RuntimeError):
    """A run cannot go on: a non-finite state, a step whose end condition can never be met."""


class CellBalanceWarning(UserWarning):
    """A legal but suspicious input (a likely slip), or a step that does nothing; the run goes on."""


class StepEndWarning(CellBalanceWarning):
    """A step ended for a limit its text does not name (a cell's v_min, v_max or t_max, power the pack
    cannot deliver) before its duration or its own cut-off; the run goes on with the next step."""


class RunLengthWarning(CellBalanceWarning):
    """The run reached its run-length limit (``SimulationOptions.max_time_s``) before every step ended;
    the results are partial."""


def warn(message: str, stacklevel: int = 3, category: type[CellBalanceWarning] = CellBalanceWarning) -> None:
    """Issue a :class:`CellBalanceWarning` (the CLI prints each one as a ``warning:`` line)."""
    import warnings

    warnings.warn(message, category, stacklevel=stacklevel)


def read_text_file(path, what: str, error: type[CellBalanceError] | None = None) -> str:
    """The text of ``path`` decoded as UTF-8, or one clear ``error`` naming the file and what was expected
    (``what``, e.g. "a TOML config"): missing, a directory, unreadable, empty, binary or not UTF-8."""
    from pathlib import Path

    err = error or ConfigError
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise err(f"{p}: no such file (expected {what}).") from None
    except IsADirectoryError:
        raise err(f"{p}: is a directory; expected {what}.") from None
    except OSError as e:
        raise err(f"{p}: cannot be read ({e.strerror or e}); expected {what}.") from None
    if not data.strip():
        raise err(f"{p}: the file is empty; expected {what}.")
    if b"\x00" in data[:8192]:
        raise err(f"{p}: is a binary file, not text; expected {what}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise err(f"{p}: is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); expected {what}, "
                  "saved as UTF-8.") from None
    return text


def numeric_column(df, column: str, where: str, error: type[CellBalanceError] | None = None):
    """Column ``column`` of a pandas DataFrame as finite floats, or one ``error`` naming ``where``, the
    column, the first bad value and its data row."""
    import numpy as np
    import pandas as pd

    num = pd.to_numeric(df[column], errors="coerce").to_numpy(float)
    bad = np.flatnonzero(~np.isfinite(num))
    if bad.size:
        k = int(bad[0])
        raise (error or ConfigError)(f"{where}: column '{column}' has a non-numeric, empty or infinite value "
                                     f"{df[column].iloc[k]!r} in data row {k + 1} ({bad.size} bad value(s) in all).")
    return num


#: below this a temperature in kelvin is taken for a slip (Celsius given as kelvin)
PLAUSIBLE_MIN_K = 200.0


def warn_if_celsius(name: str, value_K, stacklevel: int = 4) -> None:
    """Warn when a kelvin temperature is below 200 K: most likely a Celsius value given as kelvin."""
    import numpy as np

    a = np.asarray(value_K, dtype=float)
    low = a[np.isfinite(a) & (a < PLAUSIBLE_MIN_K)]
    if low.size:
        v = float(low.min())
        warn(f"{name} = {v:g} K is below {PLAUSIBLE_MIN_K:g} K (that is {v - 273.15:.2f} degC): Celsius given "
             f"as kelvin? {v:g} degC would be {v + 273.15:.2f} K.", stacklevel=stacklevel)


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
