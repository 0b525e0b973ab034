"""The equivalent-circuit cell model as plain functions over arrays of cells.

A single cell is ``n = 1``; a pack, or many packs, is the same code with more cells.
Current is positive when charging. All quantities SI (A, V, s, K); SOC is a fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from ..errors import ParameterError
from . import kernels as K
from .params import CellParameters, CompiledCells

__all__ = [
    "CellState",
    "docv_dsoc",
    "initial_state",
    "open_circuit_voltage",
    "soc_from_ocv",
    "step",
    "terminal_voltage",
]


@dataclass(frozen=True, eq=False)
class CellState:
    """State of n cells: one array ``x`` of shape (n, 5 + n_rc).

    Columns: SOC z [-], hysteresis state h [-] in [-1, 1], sign s of the last significant current,
    cell temperature [K], second thermal node temperature [K], then the RC voltages [V].
    """

    x: np.ndarray

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def soc(self) -> np.ndarray:
        return self.x[:, K.X_Z]

    @property
    def hysteresis(self) -> np.ndarray:
        return self.x[:, K.X_H]

    @property
    def last_sign(self) -> np.ndarray:
        return self.x[:, K.X_S]

    @property
    def temperature_K(self) -> np.ndarray:
        return self.x[:, K.X_T]

    @property
    def jig_temperature_K(self) -> np.ndarray:
        return self.x[:, K.X_TJ]

    @property
    def v_rc(self) -> np.ndarray:
        return self.x[:, K.NX :]

    def copy(self) -> CellState:
        return CellState(self.x.copy())


def _as_cells(cells: CompiledCells | CellParameters) -> CompiledCells:
    return cells.compile(1) if isinstance(cells, CellParameters) else cells


def _vec(name: str, value, n: int) -> np.ndarray:
    v = np.asarray(value, dtype=float)
    try:
        return np.ascontiguousarray(np.broadcast_to(v, (n,)), dtype=float)
    except ValueError:
        raise ParameterError(f"{name} must be a scalar or have shape ({n},); got shape {v.shape}.") from None


def initial_state(
    cells: CompiledCells | CellParameters,
    *,
    soc=None,
    temperature_K=None,
    hysteresis=0.0,
    last_sign=0.0,
    v_rc=0.0,
) -> CellState:
    """Rested cells at the given SOC and temperature (defaults: the parameter set's)."""
    c = _as_cells(cells)
    p = c.params
    n = c.n
    x = np.zeros((n, K.NX + p.n_rc))
    x[:, K.X_Z] = _vec("soc", p.initial_soc if soc is None else soc, n)
    t = _vec("temperature_K", p.ambient_K if temperature_K is None else temperature_K, n)
    x[:, K.X_T] = t
    x[:, K.X_TJ] = t
    h = _vec("hysteresis", hysteresis, n)
    if np.any(np.abs(h) > 1):
        raise ParameterError(f"hysteresis must lie in [-1, 1]; got {h[np.abs(h) > 1][0]:g}.")
    x[:, K.X_H] = h
    x[:, K.X_S] = np.sign(_vec("last_sign", last_sign, n))
    if p.n_rc:
        x[:, K.NX :] = np.broadcast_to(np.asarray(v_rc, float), (n, p.n_rc))
    if np.any(~np.isfinite(x[:, K.X_Z])) or np.any(t <= 0):
        raise ParameterError("initial_state: soc must be finite and temperature_K > 0.")
    return CellState(x)


def step(
    cells: CompiledCells | CellParameters,
    state: CellState,
    current_A,
    dt_s: float,
    *,
    ambient_K=None,
    heat_in_W=0.0,
) -> CellState:
    """Advance by ``dt_s`` with the current held constant over the step (zero-order hold).

    The RC branches, the hysteresis state and the thermal node(s) are updated with their exact
    solutions for a constant input, so the result does not depend on how a constant-current
    interval is cut into steps (up to the parameters' dependence on SOC and temperature, which are
    frozen at the start of each step).

    Parameters
    ----------
    current_A : float or ndarray (n,)
        Cell current [A], positive = charging.
    dt_s : float
        Step [s], > 0.
    ambient_K : float or ndarray (n,), optional
        Ambient / coolant temperature [K]; default the parameter set's ``ambient_K``.
    heat_in_W : float or ndarray (n,)
        Extra heat into the cell node [W] (neighbour conduction, bleed resistors, ...).

    Returns
    -------
    CellState
        A new state; ``state`` is not modified.
    """
    c = _as_cells(cells)
    if not dt_s > 0:
        raise ParameterError(f"dt_s must be > 0; got {dt_s!r}.")
    n = c.n
    x = state.x.copy()
    heat = np.empty(n)
    amb = _vec("ambient_K", c.params.ambient_K if ambient_K is None else ambient_K, n)
    K.step(c.cp, c.gp, c.bank.data, c.bank.meta, x, _vec("current_A", current_A, n), amb,
           _vec("heat_in_W", heat_in_W, n), np.full(n, float(dt_s)), heat)
    return CellState(x)


def emf_and_r0(cells: CompiledCells, state: CellState, current_A) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (E, R0, dU/dz) so that the terminal voltage is ``V = E + I * R0``."""
    n = cells.n
    e, r, d, es, rs = (np.empty(n) for _ in range(5))
    K.emf_r0(cells.cp, cells.gp, cells.bank.data, cells.bank.meta, state.x, _vec("current_A", current_A, n), 1.0,
             e, r, d, es, rs, True)
    return e, r, d


def terminal_voltage(cells: CompiledCells | CellParameters, state: CellState, current_A) -> np.ndarray:
    """Terminal voltage [V]: ``U(z,T) + M h + M0 s + I R0 + sum v_j`` (current positive = charging)."""
    c = _as_cells(cells)
    e, r, _ = emf_and_r0(c, state, current_A)
    return e + _vec("current_A", current_A, c.n) * r


def open_circuit_voltage(params: CellParameters, soc, temperature_K=298.15) -> np.ndarray:
    """U(z, T) = U0(z) + (T - T_ref) dU/dT(z) (the second term only if ``ocv_includes_entropic``)."""
    z, t = np.broadcast_arrays(np.asarray(soc, float), np.asarray(temperature_K, float))
    z, t = np.array(z), np.array(t)  # own copies: broadcast views are not for the compiled look-up
    u = params.ocv(t, 0.0, z)
    if params.ocv_includes_entropic:
        u = u + (t - params.ocv_reference_temperature_K) * params.entropic_coefficient(t, 0.0, z)
    return u


def docv_dsoc(params: CellParameters, soc, temperature_K=298.15, dz: float = 1e-4) -> np.ndarray:
    """Slope dU/dz [V per unit SOC] by central difference of the interpolated OCV."""
    z = np.asarray(soc, float)
    return (open_circuit_voltage(params, z + dz, temperature_K) - open_circuit_voltage(params, z - dz, temperature_K)) / (
        2 * dz
    )


def soc_from_ocv(params: CellParameters, voltage, temperature_K=298.15) -> np.ndarray:
    """Inverse of the OCV curve, z(U), on [0, 1]; raises if U is outside U([0, 1])."""
    v = np.atleast_1d(np.asarray(voltage, float))
    t = np.broadcast_to(np.asarray(temperature_K, float), v.shape)
    out = np.empty(v.shape)
    for k in np.ndindex(v.shape):  # an analysis helper, not a hot path
        lo = float(open_circuit_voltage(params, 0.0, t[k]))
        hi = float(open_circuit_voltage(params, 1.0, t[k]))
        if not lo <= v[k] <= hi:
            raise ParameterError(f"soc_from_ocv: voltage {v[k]:g} V is outside the OCV range [{lo:.4f}, {hi:.4f}] V.")
        out[k] = brentq(lambda z, k=k: float(open_circuit_voltage(params, z, t[k])) - v[k], 0.0, 1.0, xtol=1e-12)
    return out.reshape(np.shape(voltage))
