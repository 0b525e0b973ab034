"""Sensor faults, and the supervisory layer's detectors of faulty cells and sensors.

Sensor faults (as the SOX estimation playground injects them): :class:`SensorFault` on one element's
voltage channel from ``time_s`` on: ``offset`` (adds ``value`` V), ``gain`` (multiplies by
``1 + value``), ``drift`` (adds ``value`` V/s times the time since the fault), ``stuck`` (reads the
value it had at the fault time), ``dropout`` (reads NaN). :class:`FaultySensors` wraps any sensors.

Detectors (supervisors: they run at their own, slow period and put what they flag in
``Directive.alarms``; they leave balancing as it is):

* :class:`SelfDischargeDetector`: an internal soft short is an extra self-discharge current, so the
  cell's rest SOC falls day after day relative to its string. At each rest long enough for the
  voltage to relax (``|I| <= rest_current_A`` for ``rest_s``), the rest SOC of every element is read
  from its measured voltage through the *nominal* OCV; each element's SOC relative to its string's
  median is regressed on time over the rests taken at the same pack SOC (the same point of a
  daily cycle, within ``phase_soc``), and an element whose slope, times the nominal capacity,
  exceeds ``threshold_A`` of extra discharge current is flagged (Seo et al., Energies 10 (2017) 76
  use the same principle with a model-based estimate of the short current). A persistent bleed is
  the same sign seen through the balancer: the slope is of what the cell loses by itself.
* :class:`StuckSensorDetector`: while the pack current moves (its measured spread over the window
  above ``min_current_spread_A``), every healthy voltage channel moves with it through R0; a channel
  whose readings spread less than ``stuck_fraction`` of the median channel's spread over the last
  ``window`` samples is flagged (and a NaN reading at once, as a dropout).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..cell.model import open_circuit_voltage
from ..errors import ParameterError, check_range
from ..interfaces import Directive, LoopContext, Measurement, TrueSignals

__all__ = ["SENSOR_FAULT_KINDS", "FaultySensors", "SelfDischargeDetector", "SensorFault", "StuckSensorDetector"]

SENSOR_FAULT_KINDS = ("offset", "gain", "drift", "stuck", "dropout")


@dataclass(frozen=True)
class SensorFault:
    """A fault of the voltage channel of element ``element`` (of pack ``pack``) from ``time_s`` on."""

    time_s: float
    element: int
    kind: str
    value: float = 0.0
    pack: int = 0

    def __post_init__(self) -> None:
        check_range("SensorFault", "time_s", self.time_s, ge=0)
        if self.kind not in SENSOR_FAULT_KINDS:
            raise ParameterError(f"SensorFault.kind must be one of {', '.join(SENSOR_FAULT_KINDS)}; got {self.kind!r}.")
        for name in ("element", "pack"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 0:
                raise ParameterError(f"SensorFault.{name} must be an index >= 0; got {v!r}.")
        check_range("SensorFault", "value", self.value)


@dataclass(frozen=True)
class _FaultyState:
    inner: object
    stuck: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FaultySensors:
    """``inner`` sensors with the voltage-channel ``faults`` applied to what they read."""

    inner: object
    faults: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", tuple(self.faults))
        for f in self.faults:
            if not isinstance(f, SensorFault):
                raise ParameterError(f"FaultySensors.faults must be SensorFault objects; got {type(f).__name__}.")

    @property
    def period_s(self):
        return getattr(self.inner, "period_s", None)

    def init(self, context: LoopContext):
        lay = context.layout
        for f in self.faults:
            if f.element >= lay.n_series or f.pack >= lay.n_packs:
                raise ParameterError(f"SensorFault on element {f.element} of pack {f.pack}, but the layout has "
                                     f"{lay.n_series} elements and {lay.n_packs} pack(s).")
        return _FaultyState(self.inner.init(context))

    def step(self, t_s: float, truth: TrueSignals, state: _FaultyState):
        m, inner = self.inner.step(t_s, truth, state.inner)
        v = np.array(m.element_voltage_V, dtype=float, copy=True)
        stuck = dict(state.stuck)
        for k, f in enumerate(self.faults):
            if t_s < f.time_s - 1e-9:
                continue
            b, e = f.pack, f.element
            if f.kind == "offset":
                v[b, e] += f.value
            elif f.kind == "gain":
                v[b, e] *= 1.0 + f.value
            elif f.kind == "drift":
                v[b, e] += f.value * (t_s - f.time_s)
            elif f.kind == "stuck":
                stuck.setdefault(k, float(v[b, e]))
                v[b, e] = stuck[k]
            else:
                v[b, e] = np.nan
        return dataclasses.replace(m, element_voltage_V=v), _FaultyState(inner, stuck)


@dataclass(frozen=True)
class SelfDischargeDetector:
    """Flags elements that lose charge by themselves (see the module docstring)."""

    period_s: float = 600.0
    rest_current_A: float = 0.05
    rest_s: float = 3600.0
    threshold_A: float = 0.003
    phase_soc: float = 0.02
    min_span_s: float = 86400.0

    def __post_init__(self) -> None:
        for name in ("period_s", "rest_s", "threshold_A", "phase_soc", "min_span_s"):
            check_range("SelfDischargeDetector", name, getattr(self, name), gt=0)
        check_range("SelfDischargeDetector", "rest_current_A", self.rest_current_A, ge=0)

    def init(self, context: LoopContext):
        nom = context.nominal
        z = np.linspace(0.0, 1.0, 2001)
        u = open_circuit_voltage(nom.cell, z, nom.cell.ambient_K)
        if np.any(np.diff(u) <= 0):
            raise ParameterError("SelfDischargeDetector needs a strictly increasing nominal OCV curve.")
        return {"u": u, "z": z, "q": nom.element_capacity_As, "rest_since": None, "samples": [],
                "last_rest_sample": -np.inf}

    def step(self, t_s: float, m: Measurement, estimate, st):
        st = dict(st)
        resting = bool(np.all(np.abs(m.pack_current_A) <= self.rest_current_A))
        if not resting:
            st["rest_since"] = None
        elif st["rest_since"] is None:
            st["rest_since"] = t_s
        if resting and t_s - st["rest_since"] >= self.rest_s and t_s - st["last_rest_sample"] > 4 * self.rest_s:
            v = m.element_voltage_V
            if np.isfinite(v).all():
                z = np.interp(v, st["u"], st["z"])  # rest SOC through the nominal OCV
                st["samples"] = [*st["samples"], (t_s, z)]
                st["last_rest_sample"] = t_s
        alarms: list[str] = []
        if len(st["samples"]) >= 2:
            z0 = st["samples"][0][1]
            same = [(t, z) for t, z in st["samples"] if abs(np.mean(z) - np.mean(z0)) <= self.phase_soc]
            if len(same) >= 2 and same[-1][0] - same[0][0] >= self.min_span_s:
                tt = np.array([t for t, _ in same])
                rel = np.stack([z - np.median(z, axis=-1, keepdims=True) for _, z in same])  # (k, B, Ns)
                tc = tt - tt.mean()
                slope = np.tensordot(tc, rel - rel.mean(0), axes=(0, 0)) / (tc @ tc)  # (B, Ns) [1/s]
                i_loss = -slope * st["q"]
                for b, e in zip(*np.nonzero(i_loss > self.threshold_A), strict=True):
                    alarms.append(f"pack {b} element {e}: self-discharge {i_loss[b, e] * 1e3:.1f} mA above its string "
                                  f"(threshold {self.threshold_A * 1e3:g} mA): internal short?")
        return Directive(alarms=tuple(alarms)), st


@dataclass(frozen=True)
class StuckSensorDetector:
    """Flags voltage channels that do not move with the pack current (see the module docstring)."""

    period_s: float = 10.0
    window: int = 30
    min_current_spread_A: float = 1.0
    stuck_fraction: float = 0.05

    def __post_init__(self) -> None:
        check_range("StuckSensorDetector", "period_s", self.period_s, gt=0)
        if not isinstance(self.window, int | np.integer) or self.window < 3:
            raise ParameterError(f"StuckSensorDetector.window must be an integer >= 3; got {self.window!r}.")
        check_range("StuckSensorDetector", "min_current_spread_A", self.min_current_spread_A, gt=0)
        check_range("StuckSensorDetector", "stuck_fraction", self.stuck_fraction, gt=0, lt=1)

    def init(self, context: LoopContext):
        return {"v": [], "i": []}

    def step(self, t_s: float, m: Measurement, estimate, st):
        v_hist = [*st["v"], np.asarray(m.element_voltage_V, float)][-self.window:]
        i_hist = [*st["i"], np.asarray(m.pack_current_A, float)][-self.window:]
        alarms: list[str] = []
        v_now = v_hist[-1]
        for b, e in zip(*np.nonzero(~np.isfinite(v_now)), strict=True):
            alarms.append(f"pack {b} element {e}: voltage channel reads nothing (dropout)")
        if len(v_hist) == self.window:
            v = np.stack(v_hist)  # (window, B, Ns)
            i = np.stack(i_hist)  # (window, B)
            moving = np.ptp(i, axis=0) >= self.min_current_spread_A
            with np.errstate(invalid="ignore"):
                spread = np.nanstd(v, axis=0)
                typical = np.nanmedian(spread, axis=-1, keepdims=True)
                stuck = (spread < self.stuck_fraction * typical) & moving[:, None] & np.isfinite(v_now)
            for b, e in zip(*np.nonzero(stuck), strict=True):
                alarms.append(f"pack {b} element {e}: voltage channel does not follow the current (stuck at "
                              f"{v_now[b, e]:.4f} V?)")
        return Directive(alarms=tuple(alarms)), {"v": v_hist, "i": i_hist}
