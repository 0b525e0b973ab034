"""What every estimator shares: the nominal model as compiled arrays, the filter tuning, the element
temperatures and currents an estimator can derive from a measurement (and the commanded balancing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ParameterError, check_range
from ..interfaces import Command, Estimate, LoopContext, Measurement, NominalModel, at_instant
from . import kernels as EK

__all__ = ["FilterTuning", "Nominal", "commanded_element_current", "element_temperature", "interval_inputs",
           "stack_steps"]


@dataclass(frozen=True, eq=False)
class Nominal:
    """The nominal cell of a :class:`~cellbalance.interfaces.LoopContext` as the kernels read it.

    ``cp`` is one parameter row (the nominal cell, no per-cell scaling), ``gp``, ``data``, ``meta``
    the plant's global scalars and table bank. An element of ``n_parallel`` identical cells is the
    nominal cell driven with ``element current / n_parallel``.
    """

    cp: np.ndarray
    gp: np.ndarray
    data: np.ndarray
    meta: np.ndarray
    n_rc: int
    n_packs: int
    n_series: int
    n_parallel: int
    capacity_As: float
    ambient_K: float
    coulombic_efficiency: float
    self_discharge_A: float

    @classmethod
    def from_context(cls, context: LoopContext) -> Nominal:
        p = context.nominal.cell
        c = p.compile(1)
        lay = context.layout
        return cls(np.ascontiguousarray(c.cp[0]), c.gp, c.bank.data, c.bank.meta, p.n_rc, lay.n_packs, lay.n_series,
                   lay.n_parallel, p.capacity_As, p.ambient_K, p.coulombic_efficiency, p.self_discharge_A)

    @property
    def n(self) -> int:
        return self.n_packs * self.n_series

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_packs, self.n_series)

    def soc_from_ocv(self, v, temperature_K) -> np.ndarray:
        """z with U(z, T) = v (elementwise, clipped to [0, 1]), by bisection on the plant's tables."""
        v = np.asarray(v, float)
        t = np.broadcast_to(np.asarray(temperature_K, float), v.shape)
        return EK.invert_ocv(self.gp, self.data, self.meta, np.ascontiguousarray(v.ravel()),
                             np.ascontiguousarray(t.ravel())).reshape(v.shape)


def _positive_definite(owner: str, name: str, value) -> np.ndarray:
    a = np.asarray(value, float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ParameterError(f"{owner}.{name} must be a square matrix; got shape {a.shape}.")
    if not np.all(np.isfinite(a)) or not np.allclose(a, a.T, rtol=1e-12, atol=0.0):
        raise ParameterError(f"{owner}.{name} must be finite and symmetric; got {a.tolist()}.")
    lam = np.linalg.eigvalsh(a)
    if lam.min() <= 0:
        raise ParameterError(f"{owner}.{name} must be positive definite; got {a.tolist()} "
                             f"(smallest eigenvalue {lam.min():.3g}).")
    return a


@dataclass(frozen=True)
class FilterTuning:
    """Noise and robustness settings of the Kalman filters (EKF, SPKF, bar-delta).

    Initial uncertainty: ``soc_std0`` [1], ``rc_std0_V`` [V], ``hysteresis_std0`` [1], or a full
    ``initial_covariance`` (nx x nx over [z, v_1 .. v_nrc, h], symmetric positive definite).
    Process noise: ``current_noise_std_A`` (white noise of the measured current, through the input
    matrix), random walks ``soc_random_walk`` [1/sqrt(s)], ``rc_random_walk_V`` [V/sqrt(s)],
    ``hysteresis_random_walk`` [1/sqrt(s)] (unmodelled drift: sensor offsets, model error).
    Sensor noise: ``voltage_noise_std_V`` [V].
    Robustness (Plett, BMS vol. II, whose code gates at 10 and bumps at 2 sigma): innovations beyond ``gate_sigma`` predicted standard
    deviations are not used; beyond ``bump_sigma`` the SOC variance is multiplied by
    ``bump_factor`` after the update; the SOC is clipped to ``soc_limits``, h to [-1, 1]. ``None``
    switches the gate or the bump off.
    """

    soc_std0: float = 0.05
    rc_std0_V: float = 1e-3
    hysteresis_std0: float = 0.5
    initial_covariance: tuple | None = None
    current_noise_std_A: float = 0.05
    soc_random_walk: float = 2e-5
    rc_random_walk_V: float = 5e-5
    hysteresis_random_walk: float = 1e-3
    voltage_noise_std_V: float = 1.5e-3
    gate_sigma: float | None = 10.0
    bump_sigma: float | None = 2.0
    bump_factor: float = 1.5
    soc_limits: tuple[float, float] = (-0.05, 1.05)

    def __post_init__(self) -> None:
        o = "FilterTuning"
        for name in ("soc_std0", "rc_std0_V", "hysteresis_std0", "current_noise_std_A", "soc_random_walk",
                     "rc_random_walk_V", "hysteresis_random_walk"):
            check_range(o, name, getattr(self, name), ge=0)
        check_range(o, "voltage_noise_std_V", self.voltage_noise_std_V, gt=0)
        if self.soc_std0 <= 0:
            raise ParameterError(f"{o}.soc_std0 must be > 0 (a filter sure of its initial SOC never learns); "
                                 f"got {self.soc_std0!r}.")
        for name in ("gate_sigma", "bump_sigma"):
            v = getattr(self, name)
            if v is not None:
                check_range(o, name, v, gt=0)
        check_range(o, "bump_factor", self.bump_factor, ge=1)
        lo, hi = self.soc_limits
        if not lo < hi:
            raise ParameterError(f"{o}.soc_limits must be (low, high) with low < high; got {self.soc_limits!r}.")
        if self.initial_covariance is not None:
            a = _positive_definite(o, "initial_covariance", self.initial_covariance)
            object.__setattr__(self, "initial_covariance", tuple(map(tuple, a.tolist())))

    def covariance0(self, n_rc: int) -> np.ndarray:
        """The initial covariance (nx x nx)."""
        nx = 2 + n_rc
        if self.initial_covariance is not None:
            a = np.asarray(self.initial_covariance, float)
            if a.shape != (nx, nx):
                raise ParameterError(f"FilterTuning.initial_covariance has shape {a.shape}; the nominal cell has "
                                     f"{n_rc} RC pairs, so the state [z, v_1..v_{n_rc}, h] needs ({nx}, {nx}).")
            return a
        return np.diag([self.soc_std0**2] + [self.rc_std0_V**2] * n_rc + [self.hysteresis_std0**2])

    def noise(self) -> np.ndarray:
        return np.array([self.current_noise_std_A, self.soc_random_walk, self.rc_random_walk_V,
                         self.hysteresis_random_walk, self.voltage_noise_std_V])

    def robust(self) -> np.ndarray:
        g = math.inf if self.gate_sigma is None else self.gate_sigma**2
        b = math.inf if self.bump_sigma is None else self.bump_sigma**2
        return np.array([g, b, self.bump_factor, self.soc_limits[0], self.soc_limits[1]])


def element_temperature(measurement: Measurement, default_K: float) -> np.ndarray:
    """(n_packs, n_series) temperature per element: the mean of its measured cells; an element without
    a sensor takes its pack's mean measured temperature, a pack without any the ``default_K``."""
    t = np.asarray(measurement.temperature_K, float)
    if t.shape[-1] == 1 and np.isfinite(t).all():  # a sensor on every element of one cell: its reading
        return t[..., 0].copy()  # (a fresh writable array, as below: kernels see one array type)
    have = np.isfinite(t)
    cnt = have.sum(-1)
    tot = np.where(have, t, 0.0).sum(-1)
    pack_cnt = cnt.sum(-1, keepdims=True)
    pack_mean = np.where(pack_cnt > 0, tot.sum(-1, keepdims=True) / np.maximum(pack_cnt, 1), default_K)
    return np.where(cnt > 0, tot / np.maximum(cnt, 1), pack_mean)


def commanded_element_current(context: LoopContext, command: Command | None, v_hold: np.ndarray,
                              v_mean: np.ndarray) -> np.ndarray:
    """Current into each element [A] (n_packs, n_series) that the balancer drives for ``command``: the
    balancer's :class:`~cellbalance.interfaces.HeldAction` at the measured voltages ``v_hold`` (the
    grant of channels), its shunts and links at the interval's mean voltages ``v_mean``."""
    shp = (context.layout.n_packs, context.layout.n_series)
    if command is None or context.balancer is None or not command.given():
        return np.zeros(shp)
    held = context.balancer.hold(command, v_hold, context.layout)
    i = np.asarray(held.element_current_A, float) - np.asarray(held.element_shunt_S, float) * v_mean
    if held.link_laplacian_S is not None:
        i = i - np.einsum("bij,bj->bi", held.link_laplacian_S, v_mean)
    return np.broadcast_to(i, shp).copy()


def commanded_element_current_many(context: LoopContext, command: Command | None, v_hold: np.ndarray,
                                   v_mean: np.ndarray) -> np.ndarray:
    """:func:`commanded_element_current` at m instants at once (``v_hold``, ``v_mean`` and the result
    (m, n_packs, n_series)): the balancer holds the command on m copies of the packs in one call, so
    each instant gets exactly the currents of its own call."""
    m = v_hold.shape[0]
    lay = context.layout
    shp = (m, lay.n_packs, lay.n_series)
    if command is None or context.balancer is None or not command.given():
        return np.zeros(shp)

    def tiled(a):
        a = np.asarray(a)
        return a if a.ndim < 2 else np.tile(a, (m,) + (1,) * (a.ndim - 1))

    big = Command(**{f: None if getattr(command, f) is None else tiled(getattr(command, f))
                     for f in ("bleed", "edge_current_A", "links_on", "element_current_A")})
    ctx = replace(context, nominal=NominalModel(context.nominal.cell, replace(lay, n_packs=m * lay.n_packs)))
    i = commanded_element_current(ctx, big, v_hold.reshape(-1, lay.n_series), v_mean.reshape(-1, lay.n_series))
    return i.reshape(shp)


def interval_inputs(nom: Nominal, context: LoopContext, use_commanded: bool, measurement: Measurement,
                    command: Command | None, last_t: float | None, last_charge, last_v):
    """(dt, element current over the last interval, element current now, pack current over the interval)
    for the element-level filters: the pack's mean current is its measured charge difference over
    dt (exact Coulomb counting at any estimator period); the balancing currents are added when
    ``use_commanded`` is set."""
    v = np.asarray(measurement.element_voltage_V, float)
    if last_t is None:
        dt = 0.0
        ip = np.zeros(nom.n_packs)
    else:
        dt = float(measurement.t_s - last_t)
        ip = (np.asarray(measurement.pack_charge_C, float) - last_charge) / dt if dt > 0 else np.zeros(nom.n_packs)
    i_pred = np.broadcast_to(ip[:, None], nom.shape).copy()
    i_now = np.broadcast_to(np.asarray(measurement.pack_current_A, float)[:, None], nom.shape).copy()
    if use_commanded and command is not None:
        vm = v if last_v is None else 0.5 * (v + last_v)
        ib = commanded_element_current(context, command, v, vm)
        i_pred += ib
        i_now += ib
    return dt, i_pred, i_now, ip


def stack_steps(est, ts: np.ndarray, measurement: Measurement, command: Command | None, state):
    """step_many by calling ``est.step`` at each instant (arrays of ``measurement`` carry a leading
    time axis); the Estimates stacked the same way."""
    outs = []
    for j in range(len(ts)):
        e, state = est.step(float(ts[j]), at_instant(measurement, j), command, state)
        outs.append(e)
    if not outs:
        raise ParameterError("step_many needs at least one instant; got none.")
    return Estimate(soc=np.stack([e.soc for e in outs]),
                    soc_std=None if any(e.soc_std is None for e in outs) else np.stack([e.soc_std for e in outs]),
                    extra={k: np.stack([e.extra[k] for e in outs]) for k in outs[0].extra}), state
