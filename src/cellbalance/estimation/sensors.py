"""Sensor models: what a BMS measures of the plant, with offset, gain error, noise, ADC resolution.

Seeded and reproducible: the random stream is a ``numpy.random.Generator`` (PCG64) seeded from
``NoisySensors.seed``; the state carries the generator's state, so ``step`` is a pure function of
its inputs (the same state gives the same measurement, and the input state is never changed).

* Pack current (Hall or shunt): ``i_m = (1 + gain_error) i + offset + noise``. Its charge
  accumulator integrates the same sensor: over an interval ``dt`` the measured charge grows by
  ``(1 + gain_error) dQ + offset dt + N(0, noise^2 sample_period dt)`` (white noise of the
  ``sample_period_s`` samples, integrated). The balancing currents flow inside the string and never
  pass the pack current sensor.
* Element voltages: ``v_m = quantise(v + offset + noise)`` on an ADC of ``adc_bits`` over
  ``[0, full_scale_V]`` (LSB ``full_scale_V / 2**adc_bits``), clipped to the range.
* Temperatures: only the cells listed in ``cells`` (flat indices within a pack, series-major:
  ``series * n_parallel + parallel``; the same cells in every pack) have a sensor, with noise and
  offset; NaN elsewhere.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, ParameterError, check_range
from ..interfaces import LoopContext, Measurement, TrueSignals, at_instant, stack_instants

__all__ = ["CurrentSensor", "NoisySensors", "SensorState", "TemperatureSensors", "VoltageSensor"]


@dataclass(frozen=True)
class CurrentSensor:
    """Pack current sensor: ``offset_A`` [A], relative ``gain_error`` [1], white ``noise_std_A`` [A]
    per sample, ``sample_period_s`` [s] of its own ADC (its charge accumulator integrates those samples)."""

    offset_A: float = 0.0
    gain_error: float = 0.0
    noise_std_A: float = 0.0
    sample_period_s: float = 0.01

    def __post_init__(self) -> None:
        check_range("CurrentSensor", "offset_A", self.offset_A)
        check_range("CurrentSensor", "gain_error", self.gain_error, gt=-1, lt=1)
        check_range("CurrentSensor", "noise_std_A", self.noise_std_A, ge=0)
        check_range("CurrentSensor", "sample_period_s", self.sample_period_s, gt=0)


@dataclass(frozen=True)
class VoltageSensor:
    """Element voltage channel: ``noise_std_V`` [V], ``offset_V`` [V], ADC of ``adc_bits`` over
    [0, ``full_scale_V``] (``adc_bits=None``: no quantisation)."""

    noise_std_V: float = 0.0
    offset_V: float = 0.0
    adc_bits: int | None = 16
    full_scale_V: float = 5.0

    def __post_init__(self) -> None:
        check_range("VoltageSensor", "noise_std_V", self.noise_std_V, ge=0)
        check_range("VoltageSensor", "offset_V", self.offset_V)
        check_range("VoltageSensor", "full_scale_V", self.full_scale_V, gt=0)
        b = self.adc_bits
        if b is not None and (isinstance(b, bool) or not isinstance(b, int | np.integer) or not 1 <= b <= 32):
            raise ParameterError(f"VoltageSensor.adc_bits must be an integer in [1, 32] or None; got {b!r}.")

    @property
    def lsb_V(self) -> float:
        """One ADC step [V] (0 without quantisation)."""
        return 0.0 if self.adc_bits is None else self.full_scale_V / 2**self.adc_bits


@dataclass(frozen=True)
class TemperatureSensors:
    """Thermistors on some cells: ``cells`` (flat indices within a pack, ``None`` = every cell),
    ``noise_std_K`` [K], ``offset_K`` [K]."""

    cells: tuple[int, ...] | None = None
    noise_std_K: float = 0.0
    offset_K: float = 0.0

    def __post_init__(self) -> None:
        check_range("TemperatureSensors", "noise_std_K", self.noise_std_K, ge=0)
        check_range("TemperatureSensors", "offset_K", self.offset_K)
        if self.cells is not None:
            c = tuple(int(k) for k in np.atleast_1d(self.cells))
            neg = [k for k in c if k < 0]
            if neg:
                raise ParameterError(f"TemperatureSensors.cells must be cell indices >= 0; got {neg[0]}.")
            object.__setattr__(self, "cells", c)


@dataclass(frozen=True, eq=False)
class SensorState:
    """rng_state : the PCG64 generator's state; last_t_s, true_charge_C, charge_C: the previous
    sample's time, true and measured accumulated charge; last : the previous Measurement (held)."""

    rng_state: dict
    last_t_s: float | None = None
    true_charge_C: np.ndarray | None = None
    charge_C: np.ndarray | None = None
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class NoisySensors:
    """Current, voltage and temperature sensors of every pack (see the module docstring).

    period_s : sample period [s] (None = sampled whenever the estimator or controller runs);
    seed : seed of the random stream (the same seed gives the same measurements).
    """

    current: CurrentSensor = field(default_factory=CurrentSensor)
    voltage: VoltageSensor = field(default_factory=VoltageSensor)
    temperature: TemperatureSensors = field(default_factory=TemperatureSensors)
    period_s: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.period_s is not None:
            check_range("NoisySensors", "period_s", self.period_s, gt=0)
        for name, kind in (("current", CurrentSensor), ("voltage", VoltageSensor),
                           ("temperature", TemperatureSensors)):
            if not isinstance(getattr(self, name), kind):
                raise ParameterError(f"NoisySensors.{name} must be a {kind.__name__}; got {getattr(self, name)!r}.")
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ParameterError(f"NoisySensors.seed must be an integer >= 0; got {self.seed!r}.")

    def init(self, context: LoopContext) -> SensorState:
        lay = context.layout
        cpp = lay.cells_per_pack
        mask = np.zeros(cpp, bool)
        if self.temperature.cells is None:
            mask[:] = True
        else:
            bad = [k for k in self.temperature.cells if k >= cpp]
            if bad:
                raise ConfigError(f"TemperatureSensors.cells has cell {bad[0]}, but a pack of {lay.n_series}s"
                                  f"{lay.n_parallel}p has cells 0 .. {cpp - 1}.")
            mask[list(self.temperature.cells)] = True
        rng = np.random.Generator(np.random.PCG64(self.seed))
        return SensorState(rng_state=rng.bit_generator.state, mask=mask.reshape(lay.n_series, lay.n_parallel))

    def step(self, t_s: float, truth: TrueSignals, state: SensorState) -> tuple[Measurement, SensorState]:
        bg = np.random.PCG64()
        bg.state = state.rng_state
        rng = np.random.Generator(bg)
        cs, vs, ts = self.current, self.voltage, self.temperature
        q_true = np.asarray(truth.pack_charge_C, float)
        nb = q_true.shape[0]
        # current: instantaneous reading and the accumulator
        i_m = (1.0 + cs.gain_error) * truth.pack_current_A + cs.offset_A + cs.noise_std_A * rng.standard_normal(nb)
        if state.last_t_s is None:
            q_m = (1.0 + cs.gain_error) * q_true + cs.offset_A * t_s
            if t_s > 0:
                q_m = q_m + cs.noise_std_A * np.sqrt(cs.sample_period_s * t_s) * rng.standard_normal(nb)
        else:
            dt = t_s - state.last_t_s
            q_m = state.charge_C + (1.0 + cs.gain_error) * (q_true - state.true_charge_C) + cs.offset_A * dt
            if dt > 0 and cs.noise_std_A > 0:
                q_m = q_m + cs.noise_std_A * np.sqrt(cs.sample_period_s * dt) * rng.standard_normal(nb)
        # element voltages
        v = truth.element_voltage_V + vs.offset_V
        if vs.noise_std_V > 0:
            v = v + vs.noise_std_V * rng.standard_normal(v.shape)
        if vs.adc_bits is not None:
            v = np.clip(np.round(v / vs.lsb_V), 0, 2**vs.adc_bits - 1) * vs.lsb_V
        # temperatures
        t = truth.cell_temperature_K + ts.offset_K
        if ts.noise_std_K > 0:
            t = t + ts.noise_std_K * rng.standard_normal(t.shape)
        t = np.where(state.mask, t, np.nan)
        pv = truth.pack_voltage_V + (vs.noise_std_V * rng.standard_normal(nb) if vs.noise_std_V > 0 else 0.0)
        m = Measurement(t_s=t_s, element_voltage_V=v, temperature_K=t, pack_current_A=i_m, pack_voltage_V=pv,
                        pack_charge_C=q_m)
        new = SensorState(rng_state=rng.bit_generator.state, last_t_s=float(t_s), true_charge_C=q_true.copy(),
                          charge_C=np.asarray(q_m, float).copy(), mask=state.mask)
        return m, new

    def step_many(self, t_s: np.ndarray, truth: TrueSignals, state: SensorState) -> tuple[Measurement, SensorState]:
        """``len(t_s)`` calls of :meth:`step` at once (``truth`` and the returned Measurement carry a
        leading time axis): the same random draws in the same order, so the same measurements (the
        charge accumulator adds each interval's increment as one sum: equal to rounding)."""
        ts = np.asarray(t_s, float)
        m = ts.shape[0]
        if state.last_t_s is None or m == 0:
            return _stack_steps(self, ts, truth, state)
        dt = ts - np.concatenate(([state.last_t_s], ts[:-1]))
        if not (dt > 0).all():
            return _stack_steps(self, ts, truth, state)
        dt = dt[:, None]
        bg = np.random.PCG64()
        bg.state = state.rng_state
        rng = np.random.Generator(bg)
        cs, vs, tsn = self.current, self.voltage, self.temperature
        q_true = np.asarray(truth.pack_charge_C, float)  # (m, packs)
        nb = q_true.shape[1]
        v_true = truth.element_voltage_V
        n_el, n_cell = v_true[0].size, truth.cell_temperature_K[0].size
        # one draw per sample in step's order: current, charge, voltages, temperatures, pack voltage
        widths = [nb, nb if cs.noise_std_A > 0 else 0, n_el if vs.noise_std_V > 0 else 0,
                  n_cell if tsn.noise_std_K > 0 else 0, nb if vs.noise_std_V > 0 else 0]
        z = rng.standard_normal((m, sum(widths)))
        at = list(itertools.accumulate(widths, initial=0))
        i_m = (1.0 + cs.gain_error) * truth.pack_current_A + cs.offset_A + cs.noise_std_A * z[:, at[0]:at[1]]
        dq = (1.0 + cs.gain_error) * (q_true - np.concatenate([state.true_charge_C[None], q_true[:-1]])) + cs.offset_A * dt
        if cs.noise_std_A > 0:
            dq = dq + cs.noise_std_A * np.sqrt(cs.sample_period_s * dt) * z[:, at[1]:at[2]]
        q_m = np.add.accumulate(np.concatenate([state.charge_C[None], dq]), axis=0)[1:]
        v = v_true + vs.offset_V
        if vs.noise_std_V > 0:
            v = v + vs.noise_std_V * z[:, at[2]:at[3]].reshape(v.shape)
        if vs.adc_bits is not None:
            v = np.clip(np.round(v / vs.lsb_V), 0, 2**vs.adc_bits - 1) * vs.lsb_V
        t = truth.cell_temperature_K + tsn.offset_K
        if tsn.noise_std_K > 0:
            t = t + tsn.noise_std_K * z[:, at[3]:at[4]].reshape(t.shape)
        t = np.where(state.mask, t, np.nan)
        pv = truth.pack_voltage_V + (vs.noise_std_V * z[:, at[4]:at[5]] if vs.noise_std_V > 0 else 0.0)
        out = Measurement(t_s=ts, element_voltage_V=v, temperature_K=t, pack_current_A=i_m, pack_voltage_V=pv,
                          pack_charge_C=q_m)
        new = SensorState(rng_state=rng.bit_generator.state, last_t_s=float(ts[-1]), true_charge_C=q_true[-1].copy(),
                          charge_C=q_m[-1].copy(), mask=state.mask)
        return out, new


def _stack_steps(sensors, ts: np.ndarray, truth: TrueSignals, state):
    """step_many by calling step at each instant (the first sample, or uneven times)."""
    rows = []
    for j in range(ts.shape[0]):
        mj, state = sensors.step(float(ts[j]), at_instant(truth, j), state)
        rows.append(mj)
    return stack_instants(rows), state
