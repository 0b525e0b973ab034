"""Bar-delta filtering: one pack-average EKF plus a cheap scalar delta-SOC filter per element.

G. L. Plett, "Efficient battery pack state estimation using bar-delta filtering", EVS24,
Stavanger, 2009 (and "Battery Management Systems, Vol. II", Artech House 2016, sec. 4.8). The
"bar" filter is the full EKF (the arithmetic of ``estimation/kernels.ekf_step``) on the average
element: its input is the pack current plus the mean commanded balancing current, its measurement
the mean element voltage, at the mean temperature. Each element's SOC is ``z_i = zbar + dz_i``; the
delta filter on ``dz_i`` (a random walk driven by the element's balancing current minus the mean) is
updated from the element's own voltage predicted with the bar states at ``zbar + dz_i``, its
Jacobian the slope of the tables' SOC interval there. Both run in one compiled call per step
(``estimation/kernels.bardelta_step``). Cost per element: one scalar filter and one evaluation of the
output tables instead of an (2 + n_rc)-state EKF with three; the price is that RC and hysteresis
states are shared by the pack.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import ParameterError, check_range
from ..interfaces import Command, Estimate, Measurement
from . import kernels as EK
from .common import element_temperature, interval_inputs, stack_steps
from .ekf import EKFEstimator, FilterState, initial_soc_array

__all__ = ["BarDeltaEstimator"]


@dataclass(frozen=True)
class BarDeltaEstimator(EKFEstimator):
    """Pack-average EKF + per-element delta filters. The parameters of :class:`EKFEstimator`, plus
    ``delta_soc_std0`` (initial uncertainty of each element's SOC difference from the mean),
    ``delta_random_walk`` [1/sqrt(s)] (its drift: self-discharge and capacity differences) and
    ``delta_update_every`` (integer >= 1): the delta filters' measurement update runs on every k-th
    call only (the first call included); between updates they only predict (the balancing charge
    keeps being counted, the variance grows), the bar filter runs on every call. 1 (default): every
    call. Its accuracy cost is measured in tests/estimation/test_filter_kernels.py."""

    delta_soc_std0: float = 0.02
    delta_random_walk: float = 2e-5
    delta_update_every: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        o = type(self).__name__
        check_range(o, "delta_soc_std0", self.delta_soc_std0, gt=0)
        check_range(o, "delta_random_walk", self.delta_random_walk, ge=0)
        k = self.delta_update_every
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ParameterError(f"{o}.delta_update_every must be an integer >= 1; got {k!r}.")

    def _start(self, st: FilterState, measurement: Measurement) -> FilterState:
        nom = st.nominal
        z = initial_soc_array(type(self).__name__, self.initial_soc, nom, measurement).reshape(nom.shape)
        nx = 2 + nom.n_rc
        xb = np.zeros((nom.n_packs, nx))
        xb[:, 0] = z.mean(-1)
        Pb = np.broadcast_to(self.tuning.covariance0(nom.n_rc), (nom.n_packs, nx, nx)).copy()
        dz = (z - xb[:, :1]).ravel()
        return replace(st, x=xb, P=Pb, s=np.zeros(nom.n_packs),
                       extra={"dz": dz, "p": np.full(nom.n, self.delta_soc_std0**2), "calls": 0})

    def step(self, t_s: float, measurement: Measurement, command: Command | None, state: FilterState):
        st = state if state.x is not None else self._start(state, measurement)
        nom = st.nominal
        tun = self.tuning
        B, Ns, Np = nom.n_packs, nom.n_series, nom.n_parallel
        dt, i_pred, i_now, _ = interval_inputs(nom, st.context, self.use_commanded_current, measurement, command,
                                               st.t_s, st.charge_C, st.voltage_V)
        xb, Pb, sb = st.x.copy(), st.P.copy(), st.s.copy()
        dz, p = st.extra["dz"].copy(), st.extra["p"].copy()
        T = np.ascontiguousarray(element_temperature(measurement, nom.ambient_K))
        v = np.ascontiguousarray(measurement.element_voltage_V, float)
        innov_b, svar_b = np.empty(B), np.empty(B)
        flags_b = np.empty(B, np.int64)
        innov = np.empty(nom.n)
        flags = np.empty(nom.n, np.int64)
        EK.bardelta_step(nom.cp, nom.gp, nom.data, nom.meta, xb, Pb, sb, dz, p, i_pred / Np, i_now / Np, T, v, dt,
                         tun.noise(), np.array([tun.current_noise_std_A, self.delta_random_walk,
                                                tun.voltage_noise_std_V]), tun.robust(), innov_b, svar_b, flags_b,
                         innov, flags, st.extra["calls"] % self.delta_update_every == 0)
        new = replace(st, x=xb, P=Pb, s=sb, t_s=float(measurement.t_s),
                      charge_C=np.asarray(measurement.pack_charge_C, float).copy(), voltage_V=v.copy(),
                      extra={"dz": dz, "p": p, "calls": st.extra["calls"] + 1})
        soc = xb[:, :1] + dz.reshape(B, Ns)
        std = np.sqrt(Pb[:, :1, 0] + p.reshape(B, Ns))
        return Estimate(soc=soc, soc_std=std, extra={"delta_soc": dz.reshape(B, Ns).copy(),
                                                     "innovation_V": innov.reshape(B, Ns),
                                                     "flags": flags.reshape(B, Ns).astype(float)}), new

    def step_many(self, t_s, measurement: Measurement, command: Command | None, state: FilterState):
        """:meth:`step` at each instant (not EKFEstimator's compiled batch)."""
        return stack_steps(self, np.asarray(t_s, float), measurement, command, state)
