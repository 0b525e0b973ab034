"""Total-capacity estimation for the supervisory (slow) layer: weighted total least squares.

G. L. Plett, "Recursive approximate weighted total least squares estimation of battery cell total
capacity", J. Power Sources 196 (2011) 2319-2331. Between two instants where the SOC is well known
(e.g. two rests, or two confident filter estimates) the charge that went in, ``y_i`` [A s], and the
SOC change, ``x_i``, satisfy ``y_i = Q x_i`` with errors in *both*: ``var(x_i)`` from the SOC
estimates, ``var(y_i)`` from the current sensor. Ordinary (weighted) least squares ignores the
errors in ``x`` and is biased low (attenuation: ``E[Q_wls] ~ Q sum x^2 / (sum x^2 + sum var x)``);
the weighted total-least-squares estimate minimises

    chi2(Q) = sum_i (y_i - Q x_i)^2 / (var y_i + Q^2 var x_i)

(the exact WTLS cost of Plett 2011, eq. 15, without his approximation), optionally with the nominal
capacity as a prior pair ``(x, y) = (1, Q0)``. Its standard deviation comes from the curvature:
``sigma_Q^2 = 2 / chi2''(Q)``. The running sums of a fading-memory version (forgetting factor
``gamma``) are kept by :class:`CapacityEstimator`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import minimize_scalar

from ..errors import ParameterError, check_range

__all__ = ["CapacityEstimator", "capacity_wls", "capacity_wtls"]


def _pairs(dsoc, charge_As, var_dsoc, var_charge):
    x, y, vx, vy = np.broadcast_arrays(*(np.asarray(a, float) for a in (dsoc, charge_As, var_dsoc, var_charge)))
    if x.ndim != 1 or x.size == 0:
        raise ParameterError(f"capacity: expected 1-D arrays of pairs; got shape {x.shape}.")
    check_range("capacity", "var_dsoc", vx, ge=0)
    check_range("capacity", "var_charge", vy, gt=0)
    return x, y, vx, vy


def capacity_wls(dsoc, charge_As, var_charge) -> float:
    """Weighted least squares ``sum(x y / vy) / sum(x^2 / vy)`` [A s] (errors in y only)."""
    x, y, _, vy = _pairs(dsoc, charge_As, 0.0, var_charge)
    return float(np.sum(x * y / vy) / np.sum(x * x / vy))


def capacity_wtls(dsoc, charge_As, var_dsoc, var_charge, weights=None) -> tuple[float, float]:
    """Weighted total least squares (module docstring): (Q [A s], its standard deviation [A s]).

    ``weights`` (optional, e.g. fading-memory factors gamma^(k - i)) multiply each pair's term.
    """
    x, y, vx, vy = _pairs(dsoc, charge_As, var_dsoc, var_charge)
    wt = np.ones_like(x) if weights is None else np.broadcast_to(np.asarray(weights, float), x.shape)

    def chi2(q):
        return float(np.sum(wt * (y - q * x) ** 2 / (vy + q * q * vx)))

    q_ls = capacity_wls(x, y, vy / wt)
    lo, hi = 0.2 * abs(q_ls), 5.0 * abs(q_ls)
    res = minimize_scalar(chi2, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12 * hi})
    q = float(res.x)
    dq = 1e-4 * q
    curv = (chi2(q + dq) - 2.0 * chi2(q) + chi2(q - dq)) / dq**2
    return q, float(np.sqrt(2.0 / curv)) if curv > 0 else float("inf")


@dataclass(frozen=True)
class CapacityEstimator:
    """Fading-memory WTLS over the pairs seen so far, per element.

    nominal_As : prior capacity [A s], entered as the pair (1, Q0) with ``var_dsoc = 0`` and
    ``var_charge = (prior_rel_std Q0)^2``; gamma : forgetting factor in (0, 1] per pair.
    ``update(state, dsoc, charge_As, var_dsoc, var_charge)`` adds one pair and returns
    ``(Q, sigma_Q), state``; the state is a tuple of the pairs (never mutated).
    """

    nominal_As: float
    prior_rel_std: float = 0.1
    gamma: float = 1.0
    pairs: tuple = field(default=(), repr=False)

    def __post_init__(self) -> None:
        check_range("CapacityEstimator", "nominal_As", self.nominal_As, gt=0)
        check_range("CapacityEstimator", "prior_rel_std", self.prior_rel_std, gt=0)
        check_range("CapacityEstimator", "gamma", self.gamma, gt=0, le=1)

    def update(self, dsoc: float, charge_As: float, var_dsoc: float, var_charge: float):
        """A new estimator holding one more pair, and its (Q, sigma_Q)."""
        new = replace(self, pairs=(*self.pairs, (float(dsoc), float(charge_As), float(var_dsoc), float(var_charge))))
        return new, new.estimate()

    def estimate(self) -> tuple[float, float]:
        a = np.array([(1.0, self.nominal_As, 0.0, (self.prior_rel_std * self.nominal_As) ** 2), *self.pairs])
        k = a.shape[0] - 1
        w = self.gamma ** (k - np.arange(a.shape[0]))
        return capacity_wtls(a[:, 0], a[:, 1], a[:, 2], a[:, 3], weights=w)
