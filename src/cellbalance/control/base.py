"""What every balancing controller shares: the registry, the hardware checks, the SOC a controller may
use, and the safety guards applied to every command.

The registry is in :mod:`.registry`. One interface (:class:`cellbalance.interfaces.Controller`): a controller is a frozen dataclass of its
parameters; ``init(context) -> state`` checks that it can drive ``context.balancer`` and builds what it
needs once; ``step(t_s, measurement, estimate, state) -> (Command, state)`` decides from what a BMS may
know (measured element voltages and temperatures, the pack current, the estimator's SOC, the
*nominal* model), never the plant's true values. All memory (rest timers, latches, solver workspaces)
is in ``state``. Arrays are (n_packs, n_series): a Monte Carlo batch of packs is one call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..balancing.converter import ActiveBalancer
from ..balancing.hardware import BalancingHardware
from ..balancing.passive import PassiveBalancer
from ..cell.model import docv_dsoc, open_circuit_voltage
from ..errors import ConfigError, ParameterError
from ..interfaces import Estimate, LoopContext, Measurement, NominalModel
from . import kernels as K

__all__ = [
    "ElementMap",
    "NominalTables",
    "active_part",
    "controller_soc",
    "passive_part",
    "require_active",
    "require_passive",
]

# ---------------------------------------------------------------------------------------- hardware
def _part(balancer, cls, attr: str):
    if isinstance(balancer, cls):
        return balancer
    return getattr(balancer, attr) if isinstance(balancer, BalancingHardware) else None


def passive_part(balancer) -> PassiveBalancer | None:
    """The bleed channels of ``balancer`` (a PassiveBalancer, or the passive part of BalancingHardware)."""
    return _part(balancer, PassiveBalancer, "passive")


def active_part(balancer) -> ActiveBalancer | None:
    """The converters of ``balancer`` (an ActiveBalancer, or the active part of BalancingHardware)."""
    return _part(balancer, ActiveBalancer, "active")


def _describe(balancer) -> str:
    if balancer is None:
        return "no balancing hardware"
    acc = tuple(getattr(balancer, "accepts", ()))
    what = type(balancer).__name__
    act = active_part(balancer)
    if act is not None:
        what += f" (topology {act.graph.kind!r})"
    return f"{what}, which carries out {', '.join(acc) or 'nothing'}"


def require_passive(owner: str, context: LoopContext) -> PassiveBalancer:
    """The passive hardware ``owner`` drives, or a ConfigError naming both."""
    bal = context.balancer
    p = passive_part(bal)
    if p is None or "bleed" not in tuple(getattr(bal, "accepts", ())):
        raise ConfigError(f"controller {owner} commands bleed channels (needs 'bleed' in balancer.accepts) but "
                          f"the balancer is {_describe(bal)}.")
    return p


def require_active(owner: str, context: LoopContext) -> ActiveBalancer:
    """The converter hardware ``owner`` drives, or a ConfigError naming both."""
    bal = context.balancer
    a = active_part(bal)
    if a is None or "edge_current_A" not in tuple(getattr(bal, "accepts", ())):
        raise ConfigError(f"controller {owner} commands converter edge currents (needs 'edge_current_A' in "
                          f"balancer.accepts) but the balancer is {_describe(bal)}.")
    if a.graph.n_cells != context.layout.n_series:
        raise ConfigError(f"controller {owner}: the balancer's topology {a.graph.kind!r} has {a.graph.n_cells} cells "
                          f"but the pack has n_series={context.layout.n_series}.")
    return a


# ---------------------------------------------------------------------------------------- nominal cell
@dataclass(frozen=True, eq=False)
class NominalTables:
    """The nominal cell tabulated once at init (at its OCV reference temperature): OCV, dU/dz and R0
    on a SOC grid, for vectorised look-ups (``np.interp``) in every controller call.

    v_min, v_max, t_max_K : the nominal cell's limits; q_As : capacity of one series element [A s].
    """

    soc: np.ndarray
    ocv: np.ndarray
    docv: np.ndarray
    r0: np.ndarray
    v_min: float
    v_max: float
    t_max_K: float
    q_As: float
    heat_capacity_J_per_K: float
    cooling_W_per_K: float
    n_parallel: int
    r0_table: object = None
    ea_r0: float = 0.0
    t_ref_r0: float = 298.15

    @classmethod
    def of(cls, nominal: NominalModel, n: int = 401) -> NominalTables:
        c = nominal.cell
        t = c.ocv_reference_temperature_K
        z = np.linspace(0.0, 1.0, n)
        ocv = np.asarray(open_circuit_voltage(c, z, t), float)
        ocv = np.maximum.accumulate(ocv)  # a look-up table must be monotone to be inverted
        d = np.maximum(np.asarray(docv_dsoc(c, np.clip(z, 1e-3, 1 - 1e-3), t), float), 1e-3)
        r0 = np.asarray(c.r0(t, 0.0, z), float)
        npar = nominal.layout.n_parallel
        th = c.thermal
        return cls(z, ocv, d, r0, float(c.v_min), float(c.v_max), float(c.t_max_K), nominal.element_capacity_As,
                   th.heat_capacity_J_per_K, th.cooling_W_per_K, npar, c.r0, float(c.activation_energy_r0_J_per_mol),
                   float(c.arrhenius_reference_K))

    def soc_from_voltage(self, v) -> np.ndarray:
        """z(U) by inverting the tabulated OCV (clipped to [0, 1])."""
        return np.interp(v, self.ocv, self.soc)

    def docv_at(self, z) -> np.ndarray:
        """dU/dz [V per unit SOC] at ``z``."""
        return np.interp(z, self.soc, self.docv)

    def r0_element(self, z, temperature_K=None) -> np.ndarray:
        """Series resistance of one element (n_parallel cells in parallel) [Ohm] at ``z`` (and at the
        measured temperature: the nominal table there with its Arrhenius factor
        ``exp(Ea/R (1/T - 1/T_ref))``, the model's own law)."""
        if temperature_K is None or self.r0_table is None:
            return np.interp(z, self.soc, self.r0) / self.n_parallel
        t = np.broadcast_to(np.asarray(temperature_K, float), np.shape(z))
        arr = np.exp(self.ea_r0 / 8.314462618 * (1.0 / t - 1.0 / self.t_ref_r0))
        return np.asarray(self.r0_table(t, 0.0, z), float) * arr / self.n_parallel


def current_limits(owner: str, lim) -> tuple[float, float] | None:
    """A controller's ``pack_current_limits_A`` checked: None, or (i_lo, i_hi) [A] with
    i_lo <= 0 <= i_hi, both finite (positive = charging); ParameterError naming the owner otherwise."""
    if lim is None:
        return None
    try:
        lo, hi = (float(a) for a in lim)
    except (TypeError, ValueError):
        raise ParameterError(f"{owner}.pack_current_limits_A must be two numbers (i_lo, i_hi) in A; got {lim!r}.") \
            from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= 0.0 <= hi):
        raise ParameterError(f"{owner}.pack_current_limits_A = ({lo:g}, {hi:g}) A: allowed i_lo <= 0 <= i_hi, "
                             "both finite (positive = charging).")
    return (lo, hi)


def controller_soc(owner: str, measurement: Measurement, estimate: Estimate | None, tables: NominalTables,
                   fallback: bool = True) -> np.ndarray:
    """The SOC (n_packs, n_series) a controller uses: the estimator's, or if there is none the SOC of the
    nominal OCV at the measured voltage (a rested-cell reading; ``fallback=False`` refuses instead)."""
    shp = measurement.element_voltage_V.shape
    if estimate is not None and estimate.soc is not None:
        z = np.asarray(estimate.soc, float)
        if z.shape != shp:
            raise ParameterError(f"{owner}: estimate.soc has shape {z.shape}; expected {shp}.")
        return z
    if not fallback:
        raise ConfigError(f"{owner} needs the estimator's SOC: run it with an estimator (e.g. "
                          "cellbalance.estimation.PerfectEstimator).")
    return tables.soc_from_voltage(measurement.element_voltage_V)


def element_temperature(measurement: Measurement, default_K: float) -> np.ndarray:
    """(n_packs, n_series) hottest measured cell of each element (NaN sensors ignored)."""
    t = np.asarray(measurement.temperature_K, float)
    if t.ndim == 3:
        t = np.where(np.isnan(t), -np.inf, t).max(-1)
        t = np.where(np.isfinite(t), t, default_K)
    return np.broadcast_to(t, measurement.element_voltage_V.shape)


def bleed_guard(duty: np.ndarray, v: np.ndarray, temp_K: np.ndarray, tables: NominalTables,
                hw: PassiveBalancer, margin_V: float, margin_K: float) -> np.ndarray:
    """Duties with every channel off whose element would leave the nominal cell's limits because of
    the bleed: voltage under bleed ``v - R0 v g`` at or below ``v_min + margin_V``, or temperature at or
    above ``t_max - margin_K`` (the bleed heat can only add to it)."""
    z = tables.soc_from_voltage(v)
    v_bleed = v - tables.r0_element(z, temp_K) * v * hw.conductance_S
    ok = (v_bleed > tables.v_min + margin_V) & (temp_K < tables.t_max_K - margin_K)
    return np.where(ok, duty, 0.0)


def node_map(active: ActiveBalancer) -> tuple[np.ndarray, np.ndarray]:
    """(P, D) for the working graph: node potentials ``x = P z`` (a pack/module node is the mean of its
    members, a series connection) and the element-current map ``i_el = -D c`` of edge currents ``c``
    at equal voltages without loss (``D = P^T B``: the source element loses ``c``, a series node's
    members each gain ``c / |S|``). ``D W D^T`` is the reduced Laplacian."""
    g = active.working_graph
    p = g.series_matrix()
    return p, mat(p.T, g.incidence())


def mat(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``a @ m`` by numpy's own loops, for the controllers' set-up products of incidence-sized maps: BLAS
    would wake its thread pool, whose threads then spin for some 0.1 s holding the cores the plant's
    compiled threads need (measured: a 96s1p US06 hour with EKF + consensus took 110-140 ms instead of
    ~70 ms when the set-up woke OpenBLAS's threads)."""
    return np.einsum("...i,ij->...j", a, m)


def laplacian_extremes(d_el: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(lambda_2, lambda_max) of the reduced Laplacian ``D W D^T`` of a balancing graph."""
    lap = mat(d_el * weights, d_el.T)
    lap = 0.5 * (lap + lap.T)
    return _extremes(lap.shape[0], lap.tobytes())


@functools.lru_cache(maxsize=64)
def _extremes(n: int, lap: bytes) -> tuple[float, float]:
    # memoised on the matrix itself (a pure function of it): LAPACK's eigensolver wakes BLAS's thread
    # pool (see mat), so a process that runs one topology many times (a sweep, a benchmark) pays it once
    ev = np.linalg.eigvalsh(np.frombuffer(lap).reshape(n, n))
    return float(ev[1]), float(ev[-1])


def endpoint_sizes(active: ActiveBalancer) -> tuple[np.ndarray, np.ndarray]:
    """(m,) member counts of each edge's first and second node (1 for a cell).

    The converters take a command as the *source-side* current at the source node's voltage
    (:func:`~cellbalance.balancing.converter.edge_transfer`): drawn from a pack/module node it is a
    series current through each of its ``|S|`` members, and the destination cell receives about
    ``|S|`` times it. The controllers work with cell-level transfers ``c`` (the map ``-D c`` of
    :func:`node_map`, where a series node's members share ``c / |S|``); the command is
    ``c / |S_source|`` (:func:`to_command`) and the limit on ``c`` is ``|S_source| I_max``.
    """
    g = active.working_graph
    size = np.array([max(len(mm), 1) for mm in g.members], float)
    return size[g.edges[:, 0]], size[g.edges[:, 1]]


def to_command(c: np.ndarray, sizes: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Source-side command of cell-level edge transfers ``c`` (see :func:`endpoint_sizes`)."""
    return np.where(c >= 0, c / sizes[0], c / sizes[1])


@dataclass(frozen=True, eq=False)
class ElementMap:
    """The element-current map ``D`` of :func:`node_map` (elements x edges) with its nonzeros edge by
    edge, what the compiled guards read (:mod:`.kernels`): edge ``k`` touches elements
    ``el[ptr[k]:ptr[k + 1]]`` with entries ``val[ptr[k]:ptr[k + 1]]``. Made once per plan."""

    d: np.ndarray
    el: np.ndarray
    ptr: np.ndarray
    val: np.ndarray

    @classmethod
    def of(cls, d_el) -> ElementMap:
        """``d_el`` as an ElementMap (an ElementMap is returned as it is)."""
        if isinstance(d_el, cls):
            return d_el
        d = np.asarray(d_el, float)
        edge, el = np.nonzero(d.T)  # sorted by edge
        ptr = np.r_[0, np.cumsum(np.bincount(edge, minlength=d.shape[1]))].astype(np.int64)
        return cls(d, el.astype(np.int64), ptr, np.ascontiguousarray(d[el, edge]))


def lyapunov_filter(c: np.ndarray, z: np.ndarray, d_el: np.ndarray | ElementMap, eta) -> np.ndarray:
    """Edge currents with every edge switched off whose lossy transfer would raise V = sum (z - zbar)^2.

    With ``delta = z - zbar`` and the element-current map ``-D c`` (:func:`node_map`), an edge moving
    ``c > 0`` takes ``c D+`` from its source side and delivers ``eta c D-`` to its destination side
    (``D+``, ``D-`` the positive and negative parts of its column): its contribution to dV/dt is
    ``(2 c / Q)(eta delta . D- - delta . D+)`` (sides swapped for ``c < 0``). It runs only where that is
    negative; the mean SOC term drops out because ``sum delta = 0``.
    """
    em = ElementMap.of(d_el)
    return K.lyapunov_filter_k(*_kargs(c, z, em), float(eta))


def lyapunov_step_run(c: np.ndarray, z: np.ndarray, d_el: np.ndarray | ElementMap, eta, a: float,
                      sizes: tuple[np.ndarray, np.ndarray], dead_band_A: float) -> np.ndarray:
    """:func:`lyapunov_step` on the transfers the converters will carry out: a command under the
    converter's dead band (``|to_command(c)| < dead_band_A``) switches the converter off, and
    leaving some edges off can raise V where the joint move lowered it. Such edges are taken out
    and the step is made again on the rest (from the unscaled ``c``), until every edge left is on
    or off; taking edges out and scaling down keep the voltage and temperature guards' limits."""
    em = ElementMap.of(d_el)
    m = em.d.shape[1]
    size0, size1 = kernel_array(sizes[0], (m,)), kernel_array(sizes[1], (m,))
    return K.lyapunov_step_k(*_kargs(c, z, em), float(eta), float(a), size0, size1, float(dead_band_A))


def lyapunov_step(c: np.ndarray, z: np.ndarray, d_el: np.ndarray | ElementMap, eta, a: float) -> np.ndarray:
    """Edge transfers scaled so that V = sum (z - zbar)^2 does not rise over the held period.

    The predicted SOC change with losses is ``Delta = a (-(D+ c+ + D- c-) + eta (D- c+ + D+ c-))``
    (``c+``, ``c-`` the positive and negative parts of ``c``; ``a = dt/Q``). Along ``s Delta``,
    ``V(s) = V + 2 s delta.Delta + s^2 |Delta - mean|^2``: the joint move is scaled by
    ``s = min(1, 0.9 (-delta.Delta) / |Delta - mean|^2)`` (no overshoot past the minimum over the
    period, with 10 % room for the model's errors: equal voltages at the two ends of an edge, the
    efficiency at one current);
    where the joint move would raise V (``delta.Delta >= 0``) the edges are first filtered one by one
    (:func:`lyapunov_filter`) and the rest is scaled the same way.
    """
    return lyapunov_step_run(c, z, d_el, eta, a, (1.0, 1.0), 0.0)


def kernel_array(a, shape=None) -> np.ndarray:
    """``a`` (broadcast to ``shape``) as the compiled kernels take it: float64, C-contiguous and writeable
    (numba compiles once per array type, and a read-only view, as ``np.broadcast_to`` gives, is another
    type: one more compile of ~2 s)."""
    a = np.asarray(a, float)
    if shape is not None:
        a = np.broadcast_to(a, shape)
    return np.require(a, np.float64, ["C", "W"])


def _kargs(c, z, em: ElementMap) -> tuple:
    """The compiled kernels' arguments: (B, m) edge currents, (B, Ns) SOCs and the map's nonzeros."""
    c2 = kernel_array(np.atleast_2d(c))
    return c2, kernel_array(np.atleast_2d(z), (c2.shape[0], em.d.shape[0])), em.ptr, em.el, em.val
