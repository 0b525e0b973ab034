"""Sigma-point Kalman filter (central-difference form) over every element at once.

G. L. Plett, "Sigma-point Kalman filtering for battery management systems of LiPB-based HEV battery
packs", J. Power Sources 161 (2006): Part 1 "Introduction and state estimation" 1356-1368, Part 2
"Simultaneous state and parameter estimation" 1369-1384. Central-difference Kalman filter (CDKF,
h = sqrt(3)) with additive process and sensor noise: the sigma points go through the same compiled
model as the EKF (``estimation/kernels.py``), so the two filters differ only in how they carry the
mean and covariance through the nonlinearity. Equations: ``docs/models.md``, "State estimation".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import check_range
from ..interfaces import Command, Measurement
from . import kernels as EK
from .common import element_temperature, interval_inputs, stack_steps
from .ekf import EKFEstimator, FilterState, _estimate

__all__ = ["SPKFEstimator", "sigma_points"]


def _sqrt_psd(P: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a batch of covariances; a factor of the nearest PSD matrix (negative
    eigenvalues set to a tiny positive floor) where Cholesky fails."""
    try:
        return np.linalg.cholesky(P)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(0.5 * (P + np.swapaxes(P, -1, -2)))
        w = np.maximum(w, 1e-18)
        return V * np.sqrt(w)[..., None, :]


def sigma_points(x: np.ndarray, P: np.ndarray, h: float) -> np.ndarray:
    """(n, 2 L + 1, L): x, x + h S_k, x - h S_k with S the square root of P (columns S_k)."""
    S = _sqrt_psd(P)
    cols = np.swapaxes(S, -1, -2)  # row k = column k of S
    return np.concatenate([x[:, None, :], x[:, None, :] + h * cols, x[:, None, :] - h * cols], axis=1)


@dataclass(frozen=True)
class SPKFEstimator(EKFEstimator):
    """Central-difference sigma-point Kalman filter; the same parameters as :class:`EKFEstimator`
    plus ``h`` (the CDKF step, sqrt(3) for Gaussian statistics)."""

    h: float = math.sqrt(3.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range(type(self).__name__, "h", self.h, gt=0)

    def _weights(self, L: int) -> np.ndarray:
        h2 = self.h**2
        w = np.full(2 * L + 1, 1.0 / (2.0 * h2))
        w[0] = (h2 - L) / h2
        return w

    def step(self, t_s: float, measurement: Measurement, command: Command | None, state: FilterState):
        st = state if state.x is not None else self._start(state, measurement)
        nom = st.nominal
        tun = self.tuning
        dt, i_pred, i_now, _ = interval_inputs(nom, st.context, self.use_commanded_current, measurement, command,
                                               st.t_s, st.charge_C, st.voltage_V)
        x, P, s = st.x.copy(), st.P.copy(), st.s.copy()
        L = x.shape[1]
        w = self._weights(L)
        Np = nom.n_parallel
        T = np.ascontiguousarray(element_temperature(measurement, nom.ambient_K).ravel())
        ip = np.ascontiguousarray(i_pred.ravel() / Np)
        inow = np.ascontiguousarray(i_now.ravel() / Np)
        noise = tun.noise()
        if dt > 0:
            X = sigma_points(x, P, self.h)
            Xp, s = EK.propagate_points(nom.cp, nom.gp, nom.data, nom.meta, np.ascontiguousarray(X), s, ip, T, dt)
            q = EK.process_noise_rows(nom.cp, nom.gp, nom.data, nom.meta, T, ip, x[:, 0].copy(), dt, noise, L)
            x = np.einsum("k,nkl->nl", w, Xp)
            d = Xp - x[:, None, :]
            P = np.einsum("k,nka,nkb->nab", w, d, d)
            P[:, np.arange(L), np.arange(L)] += q
        X = sigma_points(x, P, self.h)
        Y = EK.output_points(nom.cp, nom.gp, nom.data, nom.meta, np.ascontiguousarray(X), s, inow, T)
        yhat = Y @ w
        dy = Y - yhat[:, None]
        dx = X - x[:, None, :]
        Sy = (dy * dy) @ w + noise[4] ** 2
        Pxy = np.einsum("k,nka,nk->na", w, dx, dy)
        r = np.asarray(measurement.element_voltage_V, float).ravel() - yhat
        gate2, bump2, bumpf, zlo, zhi = tun.robust()
        nis = r * r / Sy
        use = nis <= gate2
        K = np.where(use[:, None], Pxy / Sy[:, None], 0.0)
        x = x + K * r[:, None]
        P = P - Sy[:, None, None] * K[:, :, None] * K[:, None, :]
        P = 0.5 * (P + np.swapaxes(P, 1, 2))
        bump = nis > bump2  # gated or not (as Plett's code)
        P[bump, 0, 0] *= bumpf
        x[:, 0] = np.clip(x[:, 0], zlo, zhi)
        x[:, -1] = np.clip(x[:, -1], -1.0, 1.0)
        flags = np.where(use, 0, EK.FLAG_GATED) | np.where(bump, EK.FLAG_BUMPED, 0)
        new = replace(st, x=x, P=P, s=s, t_s=float(measurement.t_s),
                      charge_C=np.asarray(measurement.pack_charge_C, float).copy(),
                      voltage_V=np.asarray(measurement.element_voltage_V, float).copy())
        return _estimate(nom, x, P[:, 0, 0], r, Sy, flags), new

    def step_many(self, t_s, measurement: Measurement, command: Command | None, state: FilterState):
        """:meth:`step` at each instant (not EKFEstimator's compiled batch)."""
        return stack_steps(self, np.asarray(t_s, float), measurement, command, state)
