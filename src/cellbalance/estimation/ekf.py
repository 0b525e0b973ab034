"""Batched extended Kalman filter over every series element of every pack (Plett 2004).

G. L. Plett, "Extended Kalman filtering for battery management systems of LiPB-based HEV battery
packs", J. Power Sources 134 (2004): Part 1 "Background" 252-261, Part 2 "Modeling and
identification" 262-276, Part 3 "State and parameter estimation" 277-292. The model is the plant's
enhanced self-correcting cell with the nominal parameters (``estimation/kernels.py``); the
robustness devices (innovation gate, covariance bump, clipping) follow Plett's ``iterEKF`` of
"Battery Management Systems, Vol. II: Equivalent-Circuit Methods", Artech House 2016, ch. 3.
Every equation: ``docs/models.md``, "State estimation".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ParameterError, check_range
from ..interfaces import Command, Estimate, LoopContext, Measurement
from . import kernels as EK
from .common import (
    FilterTuning,
    Nominal,
    commanded_element_current_many,
    element_temperature,
    interval_inputs,
    stack_steps,
)

__all__ = ["EKFEstimator", "FilterState", "initial_soc_array"]


@dataclass(frozen=True, eq=False)
class FilterState:
    """A filter's memory between calls (arrays over the n = n_packs * n_series elements).

    nominal, context : the nominal model's arrays and the loop context the filter was started with;
    x : (n, nx) state [z, v_1..v_nrc, h]; P : (n, nx, nx) covariance; s : (n,) hysteresis sign;
    t_s, charge_C (n_packs,), voltage_V (n_packs, n_series): the previous call's time, measured
    pack charge and element voltages; extra : filter-specific arrays.
    """

    nominal: Nominal
    context: LoopContext
    x: np.ndarray | None = None
    P: np.ndarray | None = None
    s: np.ndarray | None = None
    t_s: float | None = None
    charge_C: np.ndarray | None = None
    voltage_V: np.ndarray | None = None
    extra: dict = field(default_factory=dict)


def initial_soc_array(owner: str, initial_soc, nom: Nominal, measurement: Measurement) -> np.ndarray:
    """(n,) initial SOC: given (scalar or (n_packs, n_series)), or, if None, read from the OCV at the
    first measurement (the pack assumed rested)."""
    if initial_soc is None:
        z = nom.soc_from_ocv(measurement.element_voltage_V, element_temperature(measurement, nom.ambient_K))
        return z.ravel().copy()
    z = np.asarray(initial_soc, float)
    try:
        return np.broadcast_to(z, nom.shape).ravel().copy()
    except ValueError:
        raise ParameterError(f"{owner}.initial_soc has shape {z.shape}; expected a scalar or {nom.shape}.") from None


def _check_common(o: str, period_s, initial_soc) -> None:
    check_range(o, "period_s", period_s, gt=0)
    if initial_soc is not None:
        check_range(o, "initial_soc", initial_soc, ge=-0.05, le=1.05)


@dataclass(frozen=True)
class EKFEstimator:
    """Extended Kalman filter on every element at once (numba, threads over elements).

    period_s : call period [s] (the loop's estimator period); tuning : :class:`FilterTuning`;
    initial_soc : scalar or (n_packs, n_series), or None to read it from the OCV at the first call;
    use_commanded_current : add the balancer's commanded element currents to the measured pack
    current (without it, bleeding is an unmodelled current that the voltage updates must correct).
    """

    period_s: float = 1.0
    tuning: FilterTuning = field(default_factory=FilterTuning)
    initial_soc: float | np.ndarray | None = None
    use_commanded_current: bool = False

    def __post_init__(self) -> None:
        _check_common(type(self).__name__, self.period_s, self.initial_soc)
        if not isinstance(self.tuning, FilterTuning):
            raise ParameterError(f"{type(self).__name__}.tuning must be a FilterTuning; got {self.tuning!r}.")

    def init(self, context: LoopContext) -> FilterState:
        nom = Nominal.from_context(context)
        self.tuning.covariance0(nom.n_rc)  # shape check against the nominal cell now, not at the first call
        return FilterState(nominal=nom, context=context)

    def _start(self, st: FilterState, measurement: Measurement) -> FilterState:
        nom = st.nominal
        n, nx = nom.n, 2 + nom.n_rc
        x = np.zeros((n, nx))
        x[:, 0] = initial_soc_array(type(self).__name__, self.initial_soc, nom, measurement)
        P = np.broadcast_to(self.tuning.covariance0(nom.n_rc), (n, nx, nx)).copy()
        return replace(st, x=x, P=P, s=np.zeros(n))

    def step(self, t_s: float, measurement: Measurement, command: Command | None, state: FilterState):
        st = state if state.x is not None else self._start(state, measurement)
        nom = st.nominal
        ctx = st.context
        dt, i_pred, i_now, _ = interval_inputs(nom, ctx, self.use_commanded_current, measurement, command,
                                               st.t_s, st.charge_C, st.voltage_V)
        x, P, s = st.x.copy(), st.P.copy(), st.s.copy()
        n = x.shape[0]
        T = element_temperature(measurement, nom.ambient_K).ravel()
        y = np.ascontiguousarray(np.asarray(measurement.element_voltage_V, float).ravel())
        innov, svar = np.empty(n), np.empty(n)
        flags = np.empty(n, np.int64)
        Np = nom.n_parallel
        EK.ekf_step(nom.cp, nom.gp, nom.data, nom.meta, x, P, s, i_pred.ravel() / Np, i_now.ravel() / Np, T, y, dt,
                    self.tuning.noise(), self.tuning.robust(), innov, svar, flags)
        new = replace(st, x=x, P=P, s=s, t_s=float(measurement.t_s),
                      charge_C=np.asarray(measurement.pack_charge_C, float).copy(),
                      voltage_V=np.asarray(measurement.element_voltage_V, float).copy())
        return _estimate(nom, x, P[:, 0, 0], innov, svar, flags), new

    def step_many(self, t_s: np.ndarray, measurement: Measurement, command: Command | None, state: FilterState):
        """``len(t_s)`` calls of :meth:`step` in one compiled call (``measurement`` and the returned
        Estimate carry a leading time axis); the same numbers. The first call of a run (which starts the
        filter) goes through :meth:`step`; the commanded balancing current (``use_commanded_current``)
        is held at each instant's voltages in one call of the balancer."""
        ts = np.asarray(t_s, float)
        if state.x is None or ts.shape[0] == 0:
            return stack_steps(self, ts, measurement, command, state)
        nom = state.nominal
        Np = nom.n_parallel
        m, n = ts.shape[0], nom.n
        dt = ts - np.concatenate(([state.t_s], ts[:-1]))
        q = np.asarray(measurement.pack_charge_C, float)
        ip = (q - np.concatenate([state.charge_C[None], q[:-1]])) / dt[:, None]  # (m, packs): exact Coulomb counting
        i_pred = np.repeat(ip, nom.n_series, axis=1)
        i_now = np.repeat(np.asarray(measurement.pack_current_A, float), nom.n_series, axis=1)
        if self.use_commanded_current and command is not None:  # as interval_inputs, at every instant
            v = np.asarray(measurement.element_voltage_V, float)
            vm = 0.5 * (v + np.concatenate([state.voltage_V[None], v[:-1]]))
            ib = commanded_element_current_many(state.context, command, v, vm).reshape(m, n)
            i_pred = i_pred + ib
            i_now = i_now + ib
        i_pred, i_now = i_pred / Np, i_now / Np
        T = np.ascontiguousarray(element_temperature(measurement, nom.ambient_K).reshape(m, n))
        y = np.ascontiguousarray(np.asarray(measurement.element_voltage_V, float).reshape(m, n))
        x, P, s = state.x.copy(), state.P.copy(), state.s.copy()
        innov, svar = np.empty((m, n)), np.empty((m, n))
        flags = np.empty((m, n), np.int64)
        xs, pz = EK.ekf_trace(nom.cp, nom.gp, nom.data, nom.meta, x, P, s, i_pred, i_now, T, y, dt,
                              self.tuning.noise(), self.tuning.robust(), innov, svar, flags)
        new = replace(state, x=x, P=P, s=s, t_s=float(ts[-1]), charge_C=q[-1].copy(),
                      voltage_V=np.asarray(measurement.element_voltage_V[-1], float).copy())
        return _estimate(nom, xs, pz, innov, svar, flags, lead=(m,)), new


def _estimate(nom: Nominal, x, pz, innov, svar, flags, lead: tuple = ()) -> Estimate:
    """The Estimate of state ``x`` (..., n, nx) with SOC variance ``pz`` (..., n); ``lead`` the leading
    (time) axes of a batch."""
    shp = (*lead, *nom.shape)
    nrc = nom.n_rc
    return Estimate(
        soc=x[..., 0].reshape(shp).copy(),
        soc_std=np.sqrt(np.maximum(pz, 0.0)).reshape(shp),
        extra={
            "hysteresis": x[..., nrc + 1].reshape(shp).copy(),
            # (the RC voltages added one by one: a sum over a short strided axis costs 30x as much)
            "rc_voltage_sum_V": sum((x[..., j] for j in range(2, nrc + 1)), x[..., 1] + 0.0).reshape(shp),
            "innovation_V": innov.reshape(shp).copy(),
            "innovation_std_V": np.sqrt(svar).reshape(shp),
            "flags": flags.reshape(shp).astype(float),
        },
    )
