"""Experiments as a list of steps, written in the PyBaMM-like step language.

Examples::

    "Discharge at 1C until 2.5 V"
    "Discharge at 20 A for 10 minutes or until 3.0 V"
    "Charge at 0.5C until 4.2 V"
    "Hold at 4.2 V until C/20"            (CV; on a pack the highest cell is held)
    "Discharge at 15 W for 30 min"        (constant power; pack power for a pack)
    "Rest for 1 hour"
    "Run US06 for 20 minutes"             (a packaged or registered drive cycle, repeated as needed)
    "Run US06 x 4"                        (4 repeats of the cycle: 4 x 601 s)
    "Run US06 scaled by 4 for 20 minutes" (every value of the cycle times 4; also "at 4x current")
    "Run WLTC per cell for 10 minutes"    (the cycle's values are one cell's: x n_parallel for a current
                                           profile, x cells per pack for a power profile; default "per pack")
    "Discharge at 1C until 2.5 V or 45 degC"   (the first of several end conditions)
    "Discharge at 10 A until pack 300 V"  (a pack terminal voltage; a bare 'until 3.0 V' is a cell voltage)
    "Discharge at 1C for 1 hour (1 minute period)"  (PyBaMM's period: must equal the experiment's)
    "Repeat 3 times: Discharge at 1C until 3.0 V; Charge at 1C until 4.1 V"

Current, power and C-rates are given as magnitudes; "Charge" and "Discharge" set the sign
(cellbalance convention: positive = charging). A cell-voltage cut-off must lie inside the cells'
limits [v_min, v_max] and a pack cut-off inside n_series times them (checked when the run starts,
:func:`cellbalance.sim.guards.check_steps`): nothing is clamped.

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

from ..errors import ConfigError, warn
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
    a cycle that is not registered; ``profile`` then defaults to the cycle's name). ``profile_repeats``
    (``x N``) runs the cycle N times (the duration, set once the cycle is known), ``profile_scale``
    (``scaled by N``) multiplies its values, ``profile_basis`` says whether they are a pack's ("pack",
    as given) or one cell's ("cell": times n_parallel for a current, times the cells of a pack for a
    power). ``until_pack_voltage_V`` ends the step on the pack terminal voltage.
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
    profile_repeats: float | None = None
    profile_basis: Literal["pack", "cell"] = "pack"
    until_pack_voltage_V: float | None = None
    period_s: float | None = None
    description: str = ""
    cycle: DriveCycle | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import math
        import numbers

        for name in ("value", "duration_s", "until_voltage_V", "until_current_A", "until_c_rate",
                     "until_temperature_K", "profile_scale", "profile_repeats", "until_pack_voltage_V", "period_s"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v)):
                raise ConfigError(f"step {self.description!r}: {name} must be a finite number; got {v!r}.")
        for name in ("until_voltage_V", "until_temperature_K", "profile_repeats", "until_pack_voltage_V", "period_s"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise ConfigError(f"step {self.description!r}: {name} must be > 0; got {v:g}.")
        if self.mode != "voltage" and (self.until_current_A is not None or self.until_c_rate is not None):
            raise ConfigError(f"step {self.description!r}: an 'until <current>' condition ends a voltage hold only "
                              "('Hold at 4.2 V until C/20'); a current, power, rest or profile step ends on a "
                              "voltage, a temperature or its duration.")
        if self.mode == "voltage" and (self.until_voltage_V is not None or self.until_pack_voltage_V is not None):
            raise ConfigError(f"step {self.description!r}: a voltage hold ends on a current ('until C/20'), a "
                              "temperature or its duration, not on a voltage.")
        if self.profile_basis not in ("pack", "cell"):
            raise ConfigError(f"step {self.description!r}: profile_basis must be 'pack' or 'cell'; got "
                              f"{self.profile_basis!r}.")
        if self.mode != "profile" and (self.profile_repeats is not None or self.profile_scale != 1.0
                                       or self.profile_basis != "pack"):
            raise ConfigError(f"step {self.description!r}: repeats ('x N'), 'scaled by N' and 'per cell' apply to "
                              "a drive cycle ('Run US06 x 2') only.")
        if (self.mode in ("current", "c_rate", "power") and self.value == 0 and self.duration_s is None):
            raise ConfigError(f"step {self.description!r}: a step at 0 A (or 0 W) draws no current, so no voltage "
                              "or temperature cut-off can end it (only self-discharge moves the cells): it "
                              "would run to the run-length limit. Write 'Rest for <time>' instead.")
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


def _parse_conditions(text: str, desc: str, kw: dict) -> None:
    """One or more end conditions joined by 'or' ('2.5 V or 45 degC'); each kind at most once."""
    for part in re.split(r"\s+or\s+(?:until\s+)?", text.strip()):
        before = set(kw)
        _parse_condition(part, desc, kw)
        new = set(kw) - before
        if not new:
            raise ConfigError(f"step {desc!r}: the end condition {part.strip()!r} is given twice (one voltage, one "
                              "pack voltage, one temperature and one current condition at most).")


def _parse_condition(text: str, desc: str, kw: dict) -> None:
    t = text.strip().lower()
    m = re.fullmatch(rf"pack\s+{_NUM}\s*(v|mv|kv)", t)
    if m:
        kw["until_pack_voltage_V"] = _num(m.group(1)) * {"kv": 1e3, **_VOLT}[m.group(2)]
        return
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
        "'until 50 mA', 'until 45 degC', 'until pack 300 V', 'until 2.5 V or 45 degC'."
    )


def parse_step(text: str) -> Step:
    """Parse one step of the step language (see the module docstring)."""
    desc = " ".join(text.strip().split())
    low = desc.lower()
    kw: dict = {"description": desc}
    # PyBaMM's "(1 minute period)": the output period of the step
    mp = re.fullmatch(r"(.*?)\s*\(\s*(.+?)\s+period\s*\)", low)
    if mp:
        low = mp.group(1)
        kw["period_s"] = _parse_duration(mp.group(2), desc)
    # split off "for X", "until Y", "for X or until Y"
    m = re.fullmatch(r"(.*?)(?:\s+for\s+(.+?))?(?:\s+(?:or\s+)?until\s+(.+))?", low)
    assert m is not None
    head, dur, cond = m.group(1), m.group(2), m.group(3)
    if dur:
        kw["duration_s"] = _parse_duration(dur, desc)
    if cond:
        _parse_conditions(cond, desc, kw)
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
    mh = re.fullmatch(r"run\s+([a-z0-9_\-.]+)((?:\s+\S.*)?)", head)
    if mh:
        return _profile_step(desc.split()[1], mh.group(2), desc, kw)  # the profile's original spelling
    raise ConfigError(
        f"cannot read the step {desc!r}. Steps look like 'Discharge at 1C until 2.5 V', 'Charge at 2 A for "
        "30 minutes', 'Hold at 4.2 V until C/20', 'Rest for 1 hour', 'Run US06 for 10 minutes', 'Run US06 x 3'."
    )


def _profile_step(name: str, mods: str, desc: str, kw: dict) -> Step:
    """'Run NAME' followed by any of: 'x N' (repeats), 'scaled by N' / 'at Nx current|power' (values
    times N), 'per cell' / 'per pack' (whose values the cycle's are)."""
    rest = mods.strip()
    found: dict = {}
    pats = (("repeats", rf"x\s*{_NUM}"), ("scale", rf"scaled\s+by\s+{_NUM}"),
            ("scale", rf"at\s+{_NUM}\s*x(?:\s+(current|power))?"), ("basis", r"per\s+(cell|pack)"))
    while rest:
        for key, pat in pats:
            mm = re.match(pat + r"(?:\s+|$)", rest)
            if mm:
                if key in found:
                    raise ConfigError(f"step {desc!r}: {key} given twice.")
                found[key] = mm.groups()
                rest = rest[mm.end():]
                break
        else:
            raise ConfigError(f"step {desc!r}: cannot read {rest!r} after the drive cycle's name; write e.g. "
                              "'Run US06 x 3' (3 repeats), 'Run US06 scaled by 2 for 10 minutes' (twice the "
                              "values), 'Run WLTC per cell for 5 minutes'.")
    if "repeats" in found:
        if "duration_s" in kw:
            raise ConfigError(f"step {desc!r}: give either a repeat count ('x N': N times the cycle) or a "
                              "duration ('for 10 minutes'), not both; to scale the values write 'scaled by N'.")
        n = _num(found["repeats"][0])
        if not n > 0:
            raise ConfigError(f"step {desc!r}: the repeat count must be > 0; got {n:g}.")
        kw["profile_repeats"] = n
    if "scale" in found:
        kw["profile_scale"] = _num(found["scale"][0])
    if "basis" in found:
        kw["profile_basis"] = found["basis"][0]
    return Step(mode="profile", profile=name, **kw)


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
            word = re.search(r"\bat\s+\S+\s*x\s+(current|power)\b", s.description.lower())
            if word and word.group(1) != cyc.kind.split("_")[0]:
                raise ConfigError(f"step {s.description!r}: {s.profile} is a {cyc.kind.split('_')[0]} profile; "
                                  f"write 'at {s.profile_scale:g}x {cyc.kind.split('_')[0]}' or "
                                  f"'scaled by {s.profile_scale:g}'.")
            if s.profile_repeats is not None:
                s = dataclasses.replace(s, duration_s=s.profile_repeats * cyc.duration_s)
        out.append(s)
    return tuple(out)


@dataclass(frozen=True)
class Experiment:
    """A protocol: steps and the time step (period) of the simulation.

    Parameters
    ----------
    steps : list of str or Step
    period_s : float, optional
        Simulation step [s]; a step's end (duration or condition) is located inside a period. Default:
        the period the steps give (PyBaMM's "(1 minute period)"), if they agree, else 1 s. A step whose
        period differs from the experiment's is run at the experiment's, with a warning naming it.
    cycles : mapping of name -> DriveCycle, optional
        Drive cycles for "Run NAME" steps, used before the packaged and registered ones.
    """

    steps: tuple[Step, ...]
    period_s: float = 1.0
    source: tuple[str, ...] = field(default=(), compare=False)

    def __init__(self, steps, period_s: float | None = None, *, cycles: Mapping[str, DriveCycle] | None = None):
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
        given = sorted({st.period_s for st in parsed if st.period_s is not None})
        if period_s is None:
            period_s = given[0] if len(given) == 1 else 1.0
        if not (period_s > 0 and period_s <= 3600):
            raise ConfigError(f"experiment period_s must be in (0, 3600] s; got {period_s!r}.")
        for st in parsed:
            if st.period_s is not None and abs(st.period_s - period_s) > 1e-9 * period_s:
                warn(f"step {st.description!r}: its period {st.period_s:g} s differs from the experiment's; every "
                     f"step runs at the experiment's period_s = {period_s:g} s (the loop has one time grid; record "
                     "less often with record_every).", stacklevel=3)
                break
        object.__setattr__(self, "steps", _resolve_cycles(parsed, cycles or {}))
        object.__setattr__(self, "period_s", float(period_s))
        object.__setattr__(self, "source", tuple(texts))
