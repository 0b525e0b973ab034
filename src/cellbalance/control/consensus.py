"""Laplacian consensus on the estimated SOC over the balancing graph, with a stated and checked
discrete-time stability bound.

Converters (``edge_current_A``): every edge ``e = (a, b)`` of the balancer's working graph carries

    ``c_e = k w_e (x_a - x_b)``,   ``x = P z_hat`` (+ ``gamma (T - Tbar)``, optional),

saturated to the edge limit (a transfer out of a pack/module node of ``|S|`` cells is commanded as
``c / |S|``, the series current it draws from each member: :func:`.base.endpoint_sizes`), i.e. ``c = -k W B^T P z`` and element currents ``-P^T B c = -k L z``
with the reduced Laplacian ``L = P^T B W B^T P`` (a pack/module node is the mean of its members:
:meth:`~cellbalance.balancing.graph.BalancingGraph.reduced_laplacian`); R. Olfati-Saber, J. A. Fax,
R. M. Murray, Proc. IEEE 95 (2007) 215-233. Held for one controller period ``dt``, the SOC of equal
cells of capacity ``Q`` [A s] follows

    ``z+ = (I - (dt k / Q) L) z``,

whose disagreement modes decay by ``1 - dt k lambda_j / Q``: stable iff ``0 < k < 2 Q / (dt lambda_max)``
(checked at init: a gain above it is refused with its value and the bound). The slowest mode gives
the rate ``-ln(1 - dt k lambda_2 / Q) / dt`` [1/s] (``k lambda_2 / Q`` for ``dt -> 0``). The default gain
``k* = 2 Q / (dt (lambda_2 + lambda_max))`` minimises ``max_j |1 - dt k lambda_j / Q|`` (the fastest
uniform rate; L. Xiao, S. Boyd, "Fast linear iterations for distributed averaging", Systems & Control
Letters 53 (2004) 65-78). Saturation keeps stability: a saturated edge acts with a smaller weight, and
a Laplacian with smaller weights has a smaller ``lambda_max``.

Passive hardware (``bleed``): the projected, bleed-only form. The consensus element current
``-k L z`` is projected on what bleed resistors can do (remove charge): with the complete graph of
weights ``1/N`` (``L z = z - zbar``) the bleed current is ``b_i = clip(k (z_i - zbar), 0, V_i g)``, the
duty ``b_i / (V_i g)``. Cells at or below the mean never bleed; the mean falls to the minimum. Its
bound is ``k < 2 Q / dt`` (``lambda_max = 1``).

Every command then passes the guards: an edge whose lossy transfer would raise
``V = sum (z - zbar)^2`` is off (:func:`.base.lyapunov_filter`), and edge currents are scaled so that no
element leaves ``[v_min + margin, v_max - margin]`` with ``R0`` of the nominal cell, and no current flows
through an element within ``margin_K`` of ``t_max``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, check_range
from ..interfaces import Command, Estimate, LoopContext, Measurement
from . import kernels as K
from .base import (
    ElementMap,
    NominalTables,
    active_part,
    bleed_guard,
    controller_soc,
    current_limits,
    element_temperature,
    endpoint_sizes,
    kernel_array,
    laplacian_extremes,
    lyapunov_filter,
    lyapunov_step_run,
    node_map,
    passive_part,
    require_active,
    require_passive,
    to_command,
)

__all__ = ["Consensus", "ConsensusPlan", "voltage_scale"]


@dataclass(frozen=True, eq=False)
class ConsensusPlan:
    """What :meth:`Consensus.init` works out once (the state: consensus keeps no memory of calls).

    mode : "edges" or "bleed"; gain_A_per_soc : k; bound_A_per_soc : 2 Q / (dt lambda_max);
    lambda_2, lambda_max : of the reduced Laplacian (weights as in the graph);
    predicted_rate_per_s : ``-ln(1 - dt k lambda_2 / Q) / dt``; p : node map; emap : the element map (:class:`.base.ElementMap`);
    weights : (m,) edge weights; i_max : (m,) edge limits [A]; eta : converter efficiency used by the
    Lyapunov filter; bidirectional : whether edges run both ways; current_limits : the pack current
    range the voltage guard keeps its headroom for (``Consensus.pack_current_limits_A``, else the
    context's ``pack_current_range_A``; None: the current measured at each call).
    """

    mode: str
    gain_A_per_soc: float
    bound_A_per_soc: float
    lambda_2: float
    lambda_max: float
    predicted_rate_per_s: float
    tables: NominalTables = field(repr=False)
    p: np.ndarray | None = field(repr=False, default=None)
    emap: ElementMap | None = field(repr=False, default=None)
    weights: np.ndarray | None = field(repr=False, default=None)
    i_max: float = 0.0
    eta: float = 1.0
    bidirectional: bool = True
    hw: object = field(repr=False, default=None)
    sizes: tuple = field(repr=False, default=None)
    current_limits: tuple | None = None


@dataclass(frozen=True)
class Consensus:
    """SOC consensus ``u = -K L z_hat`` over the balancing graph (converters), or its projected
    bleed-only form (bleed resistors). See the module docstring for the law and the bound.

    period_s : controller period dt [s]
    gain_A_per_soc : k [A per unit SOC difference]; None = ``k*`` from the spectrum
    max_current_A : edge current limit [A] (None = the converter's); must be > 0
    temperature_gain_soc_per_K : gamma: the potential is ``z + gamma (T - Tbar)``, so the consensus
        leaves warmer elements at a lower SOC (less calendar stress where it is hot); 0 = off
    margin_V, margin_K : guard margins to the nominal cell's voltage and temperature limits
    pack_current_limits_A : (i_lo, i_hi) [A], i_lo <= 0 <= i_hi: the range the pack current may take
        between two calls (the drive's largest discharge, its regen or charger limit); the voltage
        guard keeps its headroom for them (:func:`voltage_scale`). None (the default): the range the
        experiment's steps can impose (``LoopContext.pack_current_range_A``, what a BMS designer sets
        as the pack's current limits), so a regen pulse after a call cannot carry a cell that
        balancing charges above v_max (``tests/control/test_current_range.py``); where the context
        has none, the current measured at the call is taken to hold for the period
    """

    period_s: float = 60.0
    gain_A_per_soc: float | None = None
    max_current_A: float | None = None
    temperature_gain_soc_per_K: float = 0.0
    margin_V: float = 0.05
    margin_K: float = 2.0
    pack_current_limits_A: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        o = "Consensus"
        check_range(o, "period_s", self.period_s, gt=0)
        if self.gain_A_per_soc is not None:
            check_range(o, "gain_A_per_soc", self.gain_A_per_soc, gt=0)
        if self.max_current_A is not None:
            check_range(o, "max_current_A", self.max_current_A, gt=0)
        check_range(o, "temperature_gain_soc_per_K", self.temperature_gain_soc_per_K, ge=0)
        check_range(o, "margin_V", self.margin_V, ge=0)
        check_range(o, "margin_K", self.margin_K, ge=0)
        object.__setattr__(self, "pack_current_limits_A", current_limits(o, self.pack_current_limits_A))

    def init(self, context: LoopContext) -> ConsensusPlan:
        bal = context.balancer
        tables = NominalTables.of(context.nominal)
        q = tables.q_As
        lims = self.pack_current_limits_A or context.pack_current_range_A
        if active_part(bal) is None and passive_part(bal) is not None:
            hw = require_passive("Consensus", context)
            lam2 = lam_max = 1.0
            bound = 2.0 * q / self.period_s
            k = self._gain(q, lam2, lam_max, bound)
            return ConsensusPlan("bleed", k, bound, lam2, lam_max, _rate(k, lam2, q, self.period_s), tables, hw=hw,
                                 current_limits=lims)
        act = require_active("Consensus", context)
        p, d_el = node_map(act)
        w = act.working_graph.weights
        lam2, lam_max = laplacian_extremes(d_el, w)
        if lam2 <= 1e-12 * max(lam_max, 1e-300):
            raise ConfigError(f"Consensus: the balancer's topology {act.graph.kind!r} does not connect all "
                              f"{context.layout.n_series} elements (lambda_2 = {lam2:.3g}); consensus cannot balance it.")
        bound = 2.0 * q / (self.period_s * lam_max)
        k = self._gain(q, lam2, lam_max, bound)
        conv = act._conv
        i_max = conv.max_current_A if self.max_current_A is None else min(self.max_current_A, conv.max_current_A)
        v_nom = float(np.interp(0.5, tables.soc, tables.ocv))
        eta = float(1.0 - conv.loss_W(0.5 * i_max, v_nom) / (v_nom * 0.5 * i_max))
        return ConsensusPlan("edges", k, bound, lam2, lam_max, _rate(k, lam2, q, self.period_s), tables, p,
                             ElementMap.of(d_el),
                             np.asarray(w, float), i_max, eta, conv.bidirectional, act, endpoint_sizes(act), lims)

    def _gain(self, q: float, lam2: float, lam_max: float, bound: float) -> float:
        if self.gain_A_per_soc is None:
            return 2.0 * q / (self.period_s * (lam2 + lam_max))
        if not self.gain_A_per_soc < bound:
            raise ConfigError(
                f"Consensus.gain_A_per_soc = {self.gain_A_per_soc:g} A/SOC is above the discrete-time stability bound "
                f"2 Q / (dt lambda_max) = 2 * {q:g} / ({self.period_s:g} * {lam_max:.4g}) = {bound:.4g} A/SOC; "
                f"allowed: 0 < gain_A_per_soc < {bound:.4g}.")
        return float(self.gain_A_per_soc)

    def step(self, t_s: float, measurement: Measurement, estimate: Estimate | None, plan: ConsensusPlan):
        tab = plan.tables
        v = np.asarray(measurement.element_voltage_V, float)
        z = controller_soc("Consensus", measurement, estimate, tab)
        temp = element_temperature(measurement, tab.t_max_K - 50.0)
        x = z
        if self.temperature_gain_soc_per_K:
            x = z + self.temperature_gain_soc_per_K * (temp - temp.mean(-1, keepdims=True))
        if plan.mode == "bleed":
            hw = plan.hw
            i_b = np.clip(plan.gain_A_per_soc * (x - x.mean(-1, keepdims=True)), 0.0, v * hw.conductance_S)
            duty = np.clip(i_b / (v * hw.conductance_S), 0.0, 1.0)
            return Command(bleed=bleed_guard(duty, v, temp, tab, hw, self.margin_V, self.margin_K)), plan
        xn = x @ plan.p.T  # node potentials (B, n_nodes)
        c = plan.gain_A_per_soc * plan.weights * _edge_diff(xn, plan)
        c = np.clip(c, -plan.i_max * plan.sizes[1], plan.i_max * plan.sizes[0])  # source-side limit
        if not plan.bidirectional:
            c = np.maximum(c, 0.0)
        # the Lyapunov function is that of the potential x (= z unless temperature-weighted: then
        # V = sum (x - xbar)^2 with the temperatures held over the period, whose minimum is the
        # temperature-dependent SOC offset this form aims at)
        c = lyapunov_filter(c, x, plan.emap, plan.eta)
        # the limits scale edges one by one, which can undo the joint decrease of V: the step size
        # comes after them (it only removes edges or scales all of a pack's edges down, so the
        # limits still hold)
        c = voltage_scale(c, v, z, temp, plan.emap, tab, self.margin_V, self.margin_K,
                          np.asarray(measurement.pack_current_A, float), self.period_s, plan.current_limits)
        c = lyapunov_step_run(c, x, plan.emap, plan.eta, self.period_s / tab.q_As, plan.sizes, plan.hw._conv.dead_band_A)
        return Command(edge_current_A=to_command(c, plan.sizes)), plan


def _edge_diff(xn: np.ndarray, plan: ConsensusPlan) -> np.ndarray:
    e = plan.hw.edges
    return xn[:, e[:, 0]] - xn[:, e[:, 1]]


def _rate(k: float, lam2: float, q: float, dt: float) -> float:
    a = dt * k * lam2 / q
    return float(-np.log(abs(1.0 - a)) / dt) if a != 1.0 else float("inf")


def voltage_scale(c: np.ndarray, v: np.ndarray, z: np.ndarray, temp: np.ndarray, d_el: np.ndarray | ElementMap,
                  tab: NominalTables, margin_V: float, margin_K: float, i_pack=None, period_s: float = 0.0,
                  pack_current_limits_A: tuple[float, float] | None = None) -> np.ndarray:
    """Edge currents scaled so that every element stays within the nominal limits under them.

    Element currents are ``-D c``; for the upper limit the worst case is the sum of the charging
    contributions ``I+`` (an edge scaled down elsewhere can only remove a discharging one), for the
    lower limit the sum of the discharging ones ``I-``. Element scale ``s = min(1, headroom / (R I))``
    with headroom ``v_max - margin - v`` (``v - v_min - margin``) and ``R = 2 R0 + dU/dz(z_v) dt / Q``:
    ``R0`` of the nominal cell at the measured temperature (twice: the RC pairs polarise over the
    period), the OCV's move over the held period ``dt`` at the SOC ``z_v`` the measured voltage implies; an element within ``margin_K`` of ``t_max`` gets ``s = 0``, and the current
    is limited so that adiabatic heating over one period, ``R0_cell I_cell^2 dt / C``, with the pack
    current's share ``|i_p|`` counted first, stays under ``t_max - margin_K``. Each edge takes the
    smallest scale of the elements it touches.

    ``pack_current_limits_A = (i_lo, i_hi)``: the range the pack current may take within the held
    period (e.g. the largest discharge and the largest regen or charger current, positive =
    charging); the headroom is then taken at the worst of them, the measured voltage moved by
    ``2 R0 (i_hi - i_p)`` (up) and ``2 R0 (i_p - i_lo)`` (down) (R0 twice, as above: the RC pairs
    polarise too). None: the pack current measured at the command instant is taken to hold.
    """
    # the current into element l from edge k is -D[l, k] c[k]: its charging part is D-[l, k] c+[k] +
    # D+[l, k] c-[k] (D+, D- and c+, c- the positive and negative parts), its discharging part the rest;
    # the sums, scales and edge minima run compiled (control.kernels.voltage_scale_k)
    em = ElementMap.of(d_el)
    c2 = kernel_array(np.atleast_2d(c))
    B, n = c2.shape[0], em.d.shape[0]
    v2 = kernel_array(v, (B, n))
    t2 = kernel_array(temp, (B, n))
    z2 = np.broadcast_to(z, (B, n))
    r0 = kernel_array(tab.r0_element(z2, t2), (B, n))
    # over the held period the OCV moves too: dU/dz i dt / Q, read at the SOC the *measured* voltage
    # implies (not the estimate, which may be wrong; the voltage under load errs towards the steep
    # ends), and the RC pairs polarise (taken as a second R0): the limits hold at the period's end
    r_end = kernel_array(2.0 * r0 + tab.docv_at(tab.soc_from_voltage(v2)) * max(period_s, 0.0) / tab.q_As)
    ip = kernel_array(0.0 if i_pack is None else i_pack, (B,))
    lo, hi = pack_current_limits_A if pack_current_limits_A is not None else (0.0, 0.0)
    return K.voltage_scale_k(c2, v2, t2, r0, r_end, ip, pack_current_limits_A is not None, float(lo), float(hi),
                             float(tab.v_max), float(tab.v_min), float(margin_V), float(tab.t_max_K - margin_K),
                             float(tab.heat_capacity_J_per_K), float(tab.n_parallel), float(period_s), em.ptr,
                             em.el, em.val)

