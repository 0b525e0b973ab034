"""State laws of the semi-empirical aging models, advanced in "virtual time", vectorised over cells.

Each degradation state ``y`` follows a closed-form trajectory ``y = f(x; rate)`` of an independent
variable ``x`` (days, or equivalent full cycles) at constant stress. When the stress (hence the rate)
changes, the state keeps its value and the trajectory of the *new* rate is entered at the "virtual
time" ``x_v = f^-1(y; rate)`` where it has that value. Two ways to take the step ``dx`` from there:

``scheme="blast"`` (default)
    BLAST-Lite 1.1.1's update: ``dy = s * f'(x_v) * dx`` (one explicit step along the tangent), except
    from a fresh state (``y == 0``), where ``dy = s * f(dx)``. ``s`` is the per-cell rate scalar
    (BLAST-Lite's ``degradation_scalar``). Reproduces BLAST-Lite's numbers.
``scheme="exact"``
    ``y_new = f(x_v + dx)`` on the trajectory whose amplitude is scaled by ``s`` (``s * f``): exact at
    constant stress for any step length; under changing stress the only assumption left is the
    virtual-time one (the state, not the time, carries the history).

All functions take arrays that broadcast to the cell axis and return the increment ``dy``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SCHEMES", "exponential_relax_step", "linear_step", "power_b_step", "power_step", "sigmoid_step"]

SCHEMES = ("blast", "exact")


def _finish(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """A zero step changes nothing (BLAST-Lite's ``dx == 0`` branch)."""
    return np.where(dx == 0.0, 0.0, dy)


def power_step(y0, dx, k, p, s=1.0, scheme: str = "blast") -> np.ndarray:
    """Increment of ``y = k x^p`` (virtual time ``x_v = (y/k)^(1/p)``)."""
    y0, dx, k, p, s = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (y0, dx, k, p, s)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if scheme == "exact":
            xv = np.where(y0 == 0.0, 0.0, (y0 / (s * k)) ** (1.0 / p))
            dy = s * k * (xv + dx) ** p - y0
        else:
            fresh = s * k * dx**p
            tangent = s * k * p * (y0 / k) ** ((p - 1.0) / p) * dx
            dy = np.where(y0 == 0.0, fresh, tangent)
    return _finish(dy, dx)


def power_b_step(y0, dx, k, p, s=1.0, scheme: str = "blast") -> np.ndarray:
    """Increment of ``y = (k x)^p`` (virtual time ``x_v = y^(1/p) / k``)."""
    y0, dx, k, p, s = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (y0, dx, k, p, s)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if scheme == "exact":
            xv = np.where(y0 == 0.0, 0.0, (y0 / s) ** (1.0 / p) / k)
            dy = s * (k * (xv + dx)) ** p - y0
        else:
            fresh = s * (k * dx) ** p
            z = y0 ** (1.0 / p) / k
            tangent = s * p * (k * z) ** p / z * dx
            dy = np.where(y0 == 0.0, fresh, tangent)
    return _finish(dy, dx)


def _sigmoid(x, y_inf, k, p):
    return 2.0 * y_inf * (0.5 - 1.0 / (1.0 + np.exp((k * x) ** p)))


def sigmoid_step(y0, dx, y_inf, k, p, s=1.0, scheme: str = "blast") -> np.ndarray:
    """Increment of ``y = 2 y_inf (1/2 - 1/(1 + exp((k x)^p)))``.

    Virtual time ``x_v = ln(2 y_inf/(y_inf - y) - 1)^(1/p) / k``. Where the state has reached the
    asymptote of the current rate (``y >= y_inf``, which BLAST-Lite turns into NaN) the increment is 0.
    """
    y0, dx, y_inf, k, p, s = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (y0, dx, y_inf, k, p, s)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if scheme == "exact":
            amp = s * y_inf
            xv = np.where(y0 == 0.0, 0.0, np.log(-(2.0 * amp / (y0 - amp)) - 1.0) ** (1.0 / p) / k)
            dy = _sigmoid(xv + dx, amp, k, p) - y0
        else:
            fresh = s * _sigmoid(dx, y_inf, k, p)
            xv = np.log(-(2.0 * y_inf / (y0 - y_inf)) - 1.0) ** (1.0 / p) / k
            z = (k * xv) ** p
            ez = np.exp(z)
            tangent = s * (2.0 * y_inf * p * ez * z) / (xv * (ez + 1.0) ** 2) * dx
            dy = np.where(y0 == 0.0, fresh, tangent)
    dy = np.where(np.isfinite(dy), dy, 0.0)
    return _finish(dy, dx)


def exponential_relax_step(y0, dx, y_inf, tau, s=1.0, scheme: str = "blast") -> np.ndarray:
    """Increment of ``y = y_inf (1 - exp(-tau x))``.

    ``"blast"``: BLAST-Lite's state equation ``dy/dx = tau y_inf^2 / (y_inf - y)``, clipped at 0.
    ``"exact"``: ``y_new = s y_inf (1 - exp(-tau (x_v + dx)))``.
    """
    y0, dx, y_inf, tau, s = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (y0, dx, y_inf, tau, s)))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if scheme == "exact":
            amp = s * y_inf
            xv = -np.log1p(-y0 / amp) / tau
            dy = amp * -np.expm1(-tau * (xv + dx)) - y0
            dy = np.where(np.isfinite(dy), dy, 0.0)
        else:
            dydx = tau * y_inf**2 / (y_inf - y0)
            dy = s * np.maximum(dydx, 0.0) * dx
    return _finish(dy, dx)


def linear_step(dx, k, s=1.0) -> np.ndarray:
    """Increment of ``y = k x`` (no virtual time needed): ``s k dx``."""
    return np.asarray(s, dtype=float) * np.asarray(k, dtype=float) * np.asarray(dx, dtype=float)
