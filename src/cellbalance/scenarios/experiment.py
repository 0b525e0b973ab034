"""Experiments as a list of steps, written in the PyBaMM-like step language.

Examples::

    "Discharge at 1C until 2.5 V"
    "Discharge at 20 A for 10 minutes or until 3.0 V"
    "Charge at 0.5C until 4.2 V"
    "Hold at 4.2 V until C/20"            (CV; on a pack the highest cell is held)
    "Discharge at 15 W for 30 min"        (constant power; pack power for a pack)
    "Rest for 1 hour"
    "Run US06 for 20 minutes"             (a packaged or registered drive cycle, repeated as needed)
    "Repeat 3 times: Discharge at 1C until 3.0 V; Charge at 1C until 4.1 V"

Current, power and C-rates are given as magnitudes; "Charge" and "Discharge" set the sign
(cellbalance convention: positive = charging).

Drive cycles are resolved by name (packaged or :func:`~cellbalance.scenarios.profiles.register_drive_cycle`)
when the :class:`Experiment` is built: each profile step carries its :class:`DriveCycle` (``Step.cycle``),
so a run needs no registry and an Experiment can be pickled to another process.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ConfigError
from .profiles import DriveCycle, load_drive_cycle

__all__ = ["Experiment", "Step", "parse_step"]

Mode = Literal["current", "c_rate", "power", "voltage", "rest", "profile"]

_TIME = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
         "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}
_CUR = {"a": 1.0, "ma": 1e-3}
_POW = {"w": 1.0, "kw": 1e3, "mw": 1e-3}
_VOLT = {"v": 1.0, "mv": 1e-3}

_NUM = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


@dataclass(frozen=True)
class Step:
    """One step of an experiment.

    ``value`` is signed (positive = charge) and in A, W, V or C-rate depending on ``mode``.
    A step ends at the first of: its duration, its voltage/current/temperature condition, or a
    safety limit of the cells (v_min, v_max, t_max). A profile step names its drive cycle
    (``profile``) and, once in an :class:`Experiment`, carries it (``cycle``; give it directly to use
    a cycle that is not registered; ``profile`` then defaults to the cycle's name).
    """

    mode: Mode
    value: float = 0.0
    duration_s: float | None = None
    until_voltage_V: float | None = None
    until_current_A: float | None = None
    until_c_rate: float | None = None
    until_temperature_K: float | None = None
    profile: str | None = None
    profile_scale: float = 1.0
    description: str = ""
    cycle: DriveCycle | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import math
        import numbers

        for name in ("value", "duration_s", "until_voltage_V", "until_current_A", "until_c_rate",
                     "until_temperature_K", "profile_scale"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v)):
                raise ConfigError(f"step {self.description!r}: {name} must be a finite number; got {v!r}.")
        for name in ("until_voltage_V", "until_temperature_K"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ConfigError(f"step {self.description!r}: {name} must be > 0; got {v:g}.")
        if self.mode != "voltage" and (self.until_current_A is not None or self.until_c_rate is not None):
            raise ConfigError(f"step {self.description!r}: an 'until <current>' condition ends a voltage hold only "
                              "('Hold at 4.2 V until C/20'); a current, power, rest or profile step ends on a "
                              "voltage, a temperature or its duration.")
        if self.mode == "voltage" and any(v is not None and not v > 0 for v in (self.until_current_A, self.until_c_rate)):
            raise ConfigError(f"step {self.description!r}: the end current of a hold must be > 0.")
        if self.cycle is not None:
            if not isinstance(self.cycle, DriveCycle):
                raise ConfigError(f"step {self.description!r}: cycle must be a DriveCycle; got "
                                  f"{type(self.cycle).__name__}.")
            if self.mode != "profile":
                raise ConfigError(f"step {self.description!r}: only a profile step takes a drive cycle.")
            if self.profile is None:
                object.__setattr__(self, "profile", self.cycle.name)
        if self.duration_s is not None and not self.duration_s > 0:
            raise ConfigError(f"step {self.description!r}: duration must be > 0 s; got {self.duration_s:g}.")
        if self.mode == "rest" and self.duration_s is None:
            raise ConfigError(f"step {self.description!r}: a rest needs a duration ('Rest for 1 hour').")
        if self.mode == "voltage" and self.duration_s is None and self.until_current_A is None and self.until_c_rate is None:
            raise ConfigError(f"step {self.description!r}: a voltage hold needs 'until <current>' or 'for <time>'.")
        if self.mode == "profile" and self.profile is None:
            raise ConfigError(f"step {self.description!r}: a profile step needs a profile name.")
        if self.mode == "voltage" and not self.value > 0:
            raise ConfigError(f"step {self.description!r}: hold voltage must be > 0 V; got {self.value:g}.")


def _num(s: str) -> float:
    return float(s)


def _parse_duration(text: str, desc: str) -> float:
    m = re.fullmatch(rf"{_NUM}\s*([a-z]+)", text.strip())
    if not m or m.group(2) not in _TIME:
        raise ConfigError(f"step {desc!r}: cannot read the duration {text!r}; write e.g. '10 minutes', '1 hour', '30 s'.")
    return _num(m.group(1)) * _TIME[m.group(2)]


def _parse_condition(text: str, desc: str, kw: dict) -> None:
    t = text.strip().lower()
    m = re.fullmatch(rf"{_NUM}\s*(v|mv)", t)
    if m:
        kw["until_voltage_V"] = _num(m.group(1)) * _VOLT[m.group(2)]
        return
    m = re.fullmatch(rf"{_NUM}\s*(a|ma)", t)
    if m:
        kw["until_current_A"] = _num(m.group(1)) * _CUR[m.group(2)]
        return
    m = re.fullmatch(rf"c\s*/\s*{_NUM}", t)
    if m:
        kw["until_c_rate"] = 1.0 / _num(m.group(1))
        return
    m = re.fullmatch(rf"{_NUM}\s*c", t)
    if m:
        kw["until_c_rate"] = _num(m.group(1))
        return
    m = re.fullmatch(rf"{_NUM}\s*(k|degc|°c|c)", t.replace("deg c", "degc"))
    if m and m.group(2) in ("k",):
        kw["until_temperature_K"] = _num(m.group(1))
        return
    m = re.fullmatch(rf"{_NUM}\s*(?:degc|°c)", t)
    if m:
        kw["until_temperature_K"] = _num(m.group(1)) + 273.15
        return
    raise ConfigError(
        f"step {desc!r}: cannot read the end condition {text!r}; write e.g. 'until 4.2 V', 'until C/20', "
        "'until 50 mA', 'until 45 degC'."
    )


def parse_step(text: str) -> Step:
    """Parse one step of the step language (see the module docstring)."""
    desc = " ".join(text.strip().split())
    low = desc.lower()
    kw: dict = {"description": desc}
    # split off "for X", "until Y", "for X or until Y"
    m = re.fullmatch(r"(.*?)(?:\s+for\s+(.+?))?(?:\s+(?:or\s+)?until\s+(.+))?", low)
    assert m is not None
    head, dur, cond = m.group(1), m.group(2), m.group(3)
    if dur:
        kw["duration_s"] = _parse_duration(dur, desc)
    if cond:
        _parse_condition(cond, desc, kw)
    if head == "rest":
        return Step(mode="rest", **kw)
    mh = re.fullmatch(r"(charge|discharge)\s+at\s+(.+)", head)
    if mh:
        sign = 1.0 if mh.group(1) == "charge" else -1.0
        q = mh.group(2).strip()
        mm = re.fullmatch(rf"{_NUM}\s*c", q) or re.fullmatch(rf"c\s*/\s*{_NUM}", q)
        if mm:
            rate = _num(mm.group(1)) if q.endswith("c") else 1.0 / _num(mm.group(1))
            return Step(mode="c_rate", value=sign * rate, **kw)
        mm = re.fullmatch(rf"{_NUM}\s*(a|ma)", q)
        if mm:
            return Step(mode="current", value=sign * _num(mm.group(1)) * _CUR[mm.group(2)], **kw)
        mm = re.fullmatch(rf"{_NUM}\s*(w|kw|mw)", q)
        if mm:
            return Step(mode="power", value=sign * _num(mm.group(1)) * _POW[mm.group(2)], **kw)
        raise ConfigError(f"step {desc!r}: cannot read the rate {q!r}; write e.g. '1C', 'C/2', '5 A', '20 W'.")
    mh = re.fullmatch(rf"hold\s+at\s+{_NUM}\s*(v|mv)", head)
    if mh:
        return Step(mode="voltage", value=_num(mh.group(1)) * _VOLT[mh.group(2)], **kw)
    mh = re.fullmatch(r"run\s+([a-z0-9_\-.]+)(?:\s*x\s*" + _NUM + r")?", head)
    if mh:
        # keep the profile's original spelling
        name = desc.split()[1]
        scale = _num(mh.group(2)) if mh.group(2) else 1.0
        return Step(mode="profile", profile=name, profile_scale=scale, **kw)
    raise ConfigError(
        f"cannot read the step {desc!r}. Steps look like 'Discharge at 1C until 2.5 V', 'Charge at 2 A for "
        "30 minutes', 'Hold at 4.2 V until C/20', 'Rest for 1 hour', 'Run US06 for 10 minutes'."
    )


def _expand(items: list[str]) -> list[Step]:
    steps: list[Step] = []
    for item in items:
        m = re.fullmatch(r"\s*repeat\s+(\d+)\s+times?\s*:\s*(.+)", item, flags=re.IGNORECASE | re.S)
        if m:
            inner = [s for s in re.split(r"[;\n]", m.group(2)) if s.strip()]
            n = int(m.group(1))
            if n < 1:
                raise ConfigError(f"{item!r}: the repeat count must be >= 1.")
            steps += _expand(inner) * n
        else:
            steps.append(parse_step(item))
    return steps


def _resolve_cycles(steps: list[Step], given: Mapping[str, DriveCycle]) -> tuple[Step, ...]:
    """The steps with every profile step carrying its DriveCycle: its own, else ``given[name]``, else the
    packaged or registered one (looked up once per name)."""
    cycles: dict[str, DriveCycle] = {}
    out = []
    for s in steps:
        if s.mode == "profile":
            cyc = s.cycle or cycles.get(s.profile) or given.get(s.profile) or load_drive_cycle(s.profile)
            if cycles.setdefault(s.profile, cyc) is not cyc:
                raise ConfigError(f"step {s.description!r}: the experiment has two different drive cycles named "
                                  f"{s.profile!r}; give them different names.")
            if s.cycle is None:
                s = dataclasses.replace(s, cycle=cyc)
        out.append(s)
    return tuple(out)


@dataclass(frozen=True)
class Experiment:
    """A protocol: steps and the time step (period) of the simulation.

    Parameters
    ----------
    steps : list of str or Step
    period_s : float
        Simulation step [s]; a step's end (duration or condition) is located inside a period.
    cycles : mapping of name -> DriveCycle, optional
        Drive cycles for "Run NAME" steps, used before the packaged and registered ones.
    """

    steps: tuple[Step, ...]
    period_s: float = 1.0
    source: tuple[str, ...] = field(default=(), compare=False)

    def __init__(self, steps, period_s: float = 1.0, *, cycles: Mapping[str, DriveCycle] | None = None):
        if isinstance(steps, str):
            steps = [steps]
        texts = [s for s in steps if isinstance(s, str)]
        parsed = []
        for s in steps:
            if isinstance(s, Step):
                parsed.append(s)
            elif isinstance(s, str):
                parsed += _expand([s])
            else:
                raise ConfigError(f"experiment steps must be strings or Step objects; got {type(s).__name__}.")
        if not parsed:
            raise ConfigError("an experiment needs at least one step.")
        if not (period_s > 0 and period_s <= 3600):
            raise ConfigError(f"experiment period_s must be in (0, 3600] s; got {period_s!r}.")
        object.__setattr__(self, "steps", _resolve_cycles(parsed, cycles or {}))
        object.__setattr__(self, "period_s", float(period_s))
        object.__setattr__(self, "source", tuple(texts))
