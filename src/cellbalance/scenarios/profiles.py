"""Drive-cycle and user profiles: current or power versus time, held constant between samples.

Values are stored in cellbalance's convention: **positive = charging** (the packaged files, from
PyBaMM, are positive on discharge and are flipped on load; see ``data/drive_cycles/README.md``).
A current profile is the current through the string; a power profile is the pack power.
"""

from __future__ import annotations

import difflib
import functools
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ConfigError, UnknownNameError, numeric_column, read_text_file

__all__ = ["DriveCycle", "available_drive_cycles", "load_drive_cycle", "register_drive_cycle"]

Kind = Literal["current_A", "power_W"]

_PACKAGED = {
    "US06": ("US06.csv", "current_A", 1.0, "EPA US06 as a cell current (PyBaMM 24.1, BSD-3-Clause)"),
    "UDDS": ("UDDS.csv", "current_A", 1.0, "EPA UDDS as a cell current, via SLIDE (PyBaMM 24.1, BSD-3-Clause)"),
    "WLTC": ("WLTC.csv", "power_W", 1000.0, "UNECE WLTC as vehicle power in kW (PyBaMM 24.1, BSD-3-Clause)"),
}
_REGISTERED: dict[str, DriveCycle] = {}


@dataclass(frozen=True, eq=False)
class DriveCycle:
    """A piecewise-constant profile: ``values[k]`` holds from ``time_s[k]`` to ``time_s[k+1]``.

    ``values`` are in cellbalance's sign convention, **positive = charging**: a current profile
    (``kind="current_A"``) in A through the string, a power profile (``kind="power_W"``) in W.
    ``time_s`` is shifted to start at 0 and must increase strictly. The last sample holds for the
    median sample interval, so ``duration_s`` covers the whole cycle. Arrays are read-only.
    """

    time_s: np.ndarray
    values: np.ndarray
    kind: Kind
    name: str = "profile"
    source: str = ""

    def __post_init__(self) -> None:
        t = np.asarray(self.time_s, float)
        v = np.asarray(self.values, float)
        if t.ndim != 1 or t.shape != v.shape or t.size < 2:
            raise ConfigError(f"profile {self.name!r}: time and values must be 1-D of equal length >= 2; "
                              f"got {t.shape} and {v.shape}.")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
            raise ConfigError(f"profile {self.name!r}: time and values must be finite numbers.")
        if np.any(np.diff(t) <= 0):
            k = int(np.flatnonzero(np.diff(t) <= 0)[0])
            raise ConfigError(f"profile {self.name!r}: time must increase strictly; sample {k + 2} (1-based) has "
                              f"t = {t[k + 1]:g} after t = {t[k]:g}.")
        if self.kind not in ("current_A", "power_W"):
            raise ConfigError(f"profile {self.name!r}: kind must be 'current_A' or 'power_W'; got {self.kind!r}.")
        t = t - t[0]
        for name, a in (("time_s", t), ("values", v)):
            a.setflags(write=False)
            object.__setattr__(self, name, a)
        object.__setattr__(self, "_duration_s", float(t[-1] + np.median(np.diff(t))))

    @property
    def duration_s(self) -> float:
        return self._duration_s

    def on_grid(self, period_s: float) -> bool:
        """Whether every sample time and the duration are multiples of ``period_s``."""
        r = self.time_s / period_s
        d = self._duration_s / period_s
        return bool(np.all(np.abs(r - np.round(r)) <= 1e-9) and abs(d - round(d)) <= 1e-9)

    def value_at(self, t_s: float) -> float:
        """Value held at time ``t_s`` (zero-order hold: the sample at or before t).

        Before the first sample the first value is returned, after the last sample the last one.
        """
        k = int(self.time_s.searchsorted(t_s, side="right")) - 1  # (the method: np.searchsorted's wrapper costs 3x)
        return float(self.values[min(max(k, 0), self.values.size - 1)])

    def next_change_after(self, t_s: float) -> float:
        """The first sample time strictly after ``t_s`` (or the end of the cycle)."""
        k = int(self.time_s.searchsorted(t_s + 1e-9, side="right"))
        return float(self.time_s[k]) if k < self.time_s.size else self.duration_s

    def scaled(self, factor: float, name: str | None = None) -> DriveCycle:
        """The same profile with every value multiplied by ``factor`` (a negative factor flips the sign)."""
        return DriveCycle(self.time_s, self.values * factor, self.kind, name or f"{self.name}x{factor:g}", self.source)

    @classmethod
    def from_csv(cls, path: str | Path, kind: Kind, *, name: str | None = None, time_column: str = "time_s",
                 value_column: str | None = None, discharge_positive: bool = False, scale: float = 1.0) -> DriveCycle:
        """Read a profile from a CSV with a header row (``#`` comments allowed).

        ``value_column`` defaults to ``kind`` ('current_A' or 'power_W'). The file is read as positive
        = charging; set ``discharge_positive`` if it uses the opposite convention (PyBaMM's, for one),
        and its values are flipped. ``scale`` multiplies the values (e.g. 1000 for a file in kW).
        Every problem (missing file, missing column, non-numeric or empty value, time not increasing)
        raises :class:`~cellbalance.errors.ConfigError` naming the file and, where it applies, the column.
        """
        import pandas as pd

        p = Path(path)
        col = value_column or kind
        if kind not in ("current_A", "power_W"):
            raise ConfigError(f"profile file {p}: kind must be 'current_A' or 'power_W'; got {kind!r}.")
        text = read_text_file(p, f"a CSV profile with a header '{time_column},{col}'")
        try:
            df = pd.read_csv(io.StringIO(text), comment="#", skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise ConfigError(f"profile file {p}: the file is empty; expected a header with "
                              f"'{time_column}' and '{col}'.") from None
        except Exception as e:
            raise ConfigError(f"profile file {p}: cannot be read as CSV ({e}).") from None
        df.columns = [str(c).strip() for c in df.columns]
        missing = [c for c in (time_column, col) if c not in df.columns]
        if missing:
            raise ConfigError(f"profile file {p}: missing column(s) {missing}; found {list(df.columns)}. "
                              f"Expected a header with '{time_column}' and '{col}'.")
        arrays = {c: numeric_column(df, c, f"profile file {p}") for c in (time_column, col)}
        v = arrays[col] * scale
        try:
            return cls(arrays[time_column], -v if discharge_positive else v, kind, name or p.stem, f"file {p.name}")
        except ConfigError as e:
            raise ConfigError(f"profile file {p}: {e}") from None


@functools.cache
def _load_packaged(name: str) -> DriveCycle:
    """Read once: cycles are immutable, so every experiment shares one object per packaged cycle."""
    fname, kind, unit, source = _PACKAGED[name]
    with resources.files("cellbalance").joinpath("data", "drive_cycles", fname).open() as f:
        d = np.loadtxt(f, delimiter=",", comments="#")
    # packaged files are positive on discharge: flip to positive = charging
    return DriveCycle(d[:, 0], -d[:, 1] * unit, kind, name, source)  # type: ignore[arg-type]


def register_drive_cycle(cycle: DriveCycle) -> None:
    """Make ``cycle`` available to experiments by its name ("Run NAME for ...")."""
    _REGISTERED[cycle.name] = cycle


def available_drive_cycles() -> list[str]:
    return sorted(set(_PACKAGED) | set(_REGISTERED))


def load_drive_cycle(name: str) -> DriveCycle:
    """A packaged (US06, UDDS, WLTC) or registered profile by name (exact, else case-insensitive if unique)."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _PACKAGED:
        return _load_packaged(name)
    same = [n for n in available_drive_cycles() if n.lower() == str(name).lower()]
    if len(same) == 1:
        return load_drive_cycle(same[0])
    close = difflib.get_close_matches(name, available_drive_cycles(), 1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"Unknown drive cycle {name!r}; available: {available_drive_cycles()}.{hint}")
