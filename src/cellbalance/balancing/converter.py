"""Averaged converter models on the edges of a balancing graph, and the active balancer built from them.

Per edge ``e = (a, b)`` a commanded current ``c_e`` (sign along the edge orientation: ``c > 0``
moves charge from ``a`` to ``b``) becomes the actual source-side current

    ``i_src = min(|c|, I_max)`` if ``|c| >= I_dead``, else 0,

drawn from the source node ``s`` (``a`` if ``c > 0`` else ``b``) at its voltage ``V_s``. The
destination node ``d`` receives what is left after the converter's loss,

    ``P_in = V_s i_src``,  ``P_loss = min(loss(i_src, V_s), P_in)``,  ``i_dst = (P_in - P_loss) / V_d``,

so for every edge, exactly, ``V_s i_src = V_d i_dst + P_loss`` (power out of the source = power
into the destination + loss). Loss models (one per converter):

* constant efficiency: ``P_loss = (1 - eta) V_s i_src``;
* polynomial: ``P_loss = P0 + V_drop i_src + k i_src^2`` while running (fixed losses such as gate
  drive and control, a diode-like term, conduction losses; the usual loss breakdown of
  R. W. Erickson, D. Maksimović, "Fundamentals of Power Electronics", 2nd ed., Kluwer 2001, ch. 3);
* efficiency map: ``eta(i_src)`` interpolated in a table, e.g. produced from the switched-mode
  model by :func:`cellbalance.balancing.switched.efficiency_map`.

A passive conductance edge (switched capacitor, ``weight_unit == "S"``) is not commanded: its
current is ``g (V_a - V_b)`` from the higher- to the lower-voltage node and its loss
``i^2 / g`` (C. Pascual, P. T. Krein, IEEE APEC 1997), written as ``V_s i - V_d i`` so that the
bookkeeping closes to rounding.

Node currents become series-element currents through the graph's membership: a cell node's current
is its element's; a current delivered to a ``"pack"`` or ``"module"`` node is a series current
through each member cell (and one drawn from it is drawn from each member). Graphs with ``"bus"``
nodes are used through their Kron-reduced network (every reduced edge is a cell -> bus -> cell
path, i.e. two conversion stages in series: efficiency squared, or twice the polynomial loss at the
same current, a documented approximation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ..errors import ParameterError, check_range
from ..interfaces import Command, HeldAction, as_pack_array
from ..pack.layout import PackLayout
from .graph import HUB_KINDS, BalancingGraph, kron_reduce

__all__ = [
    "ActiveBalancer",
    "ConverterModel",
    "EdgeTransfer",
    "EfficiencyMap",
    "conductance_transfer",
    "edge_transfer",
    "fit_loss_model",
]


@dataclass(frozen=True, eq=False)
class EfficiencyMap:
    """Converter efficiency as a function of the source-side current, linearly interpolated.

    Parameters
    ----------
    current_A : (k,) array
        Strictly increasing source-side currents [A], > 0.
    efficiency : (k,) array
        Efficiency ``P_out / P_in`` at those currents, in (0, 1]. Outside the table the end values
        are held.
    v_source_V, v_dest_V : float
        Voltages the map was made at [V] (informative).
    source : str
        Where the table comes from (e.g. "switched buck-boost, L = 22 uH, 50 kHz").
    duty : (k,) array, optional
        Duty ratios that produce those currents (informative).
    """

    current_A: np.ndarray
    efficiency: np.ndarray
    v_source_V: float = float("nan")
    v_dest_V: float = float("nan")
    source: str = ""
    duty: np.ndarray | None = None

    def __post_init__(self) -> None:
        o = "EfficiencyMap"
        i = np.array(self.current_A, dtype=float).reshape(-1)
        eta = np.array(self.efficiency, dtype=float).reshape(-1)
        if i.size < 1 or i.shape != eta.shape:
            raise ParameterError(f"{o}: current_A and efficiency must be non-empty and of equal length; "
                                 f"got {i.size} and {eta.size}.")
        check_range(o, "current_A", i, gt=0)
        check_range(o, "efficiency", eta, gt=0, le=1)
        if np.any(np.diff(i) <= 0):
            raise ParameterError(f"{o}.current_A must increase strictly; got {i.tolist()[:6]}.")
        for a in (i, eta):
            a.setflags(write=False)
        object.__setattr__(self, "current_A", i)
        object.__setattr__(self, "efficiency", eta)

    def __call__(self, current_A) -> np.ndarray:
        """Efficiency at ``|current_A|`` (end values held outside the table)."""
        return np.interp(np.abs(current_A), self.current_A, self.efficiency)

    def loss_W(self, current_A=None) -> np.ndarray:
        """Loss ``(1 - eta) V_source I`` [W] at the map's source voltage (default: at its own currents)."""
        i = self.current_A if current_A is None else np.abs(np.asarray(current_A, dtype=float))
        return (1.0 - self(i)) * self.v_source_V * i

    def squared(self) -> EfficiencyMap:
        """The map of two identical stages in series at the same current (``eta^2``)."""
        return EfficiencyMap(self.current_A, self.efficiency**2, self.v_source_V, self.v_dest_V,
                             f"{self.source} (two stages)", self.duty)


@dataclass(frozen=True)
class ConverterModel:
    """Averaged model of one balancing converter (an edge of the graph).

    Parameters
    ----------
    max_current_A : float
        Saturation of the source-side current [A].
    efficiency : float, optional
        Constant efficiency in (0, 1]: ``P_loss = (1 - efficiency) V_src i``.
    p0_W, k_ohm, v_drop_V : float
        Polynomial loss ``P_loss = p0_W + v_drop_V i + k_ohm i^2`` [W] while the converter runs
        (used when neither ``efficiency`` nor ``efficiency_map`` is given; all zero = lossless).
    dead_band_A : float
        Commands with ``|c| < dead_band_A`` switch the converter off [A].
    efficiency_map : EfficiencyMap, optional
        Efficiency versus source-side current.
    bidirectional : bool
        If False, commands against the edge orientation are ignored (e.g. a unidirectional
        cell-to-pack flyback).

    Notes
    -----
    The loss is capped at the input power, so the destination never delivers a negative current:
    at tiny currents a converter with fixed losses only burns what it draws.
    """

    max_current_A: float = 2.0
    efficiency: float | None = None
    p0_W: float = 0.0
    k_ohm: float = 0.0
    v_drop_V: float = 0.0
    dead_band_A: float = 0.01
    efficiency_map: EfficiencyMap | None = None
    bidirectional: bool = True

    def __post_init__(self) -> None:
        o = "ConverterModel"
        check_range(o, "max_current_A", self.max_current_A, gt=0)
        check_range(o, "dead_band_A", self.dead_band_A, ge=0, lt=self.max_current_A)
        check_range(o, "p0_W", self.p0_W, ge=0)
        check_range(o, "k_ohm", self.k_ohm, ge=0)
        check_range(o, "v_drop_V", self.v_drop_V, ge=0)
        if self.efficiency is not None:
            check_range(o, "efficiency", self.efficiency, gt=0, le=1)
        if self.efficiency_map is not None and not isinstance(self.efficiency_map, EfficiencyMap):
            raise ParameterError(f"{o}.efficiency_map must be an EfficiencyMap; got "
                                 f"{type(self.efficiency_map).__name__}.")
        poly = self.p0_W > 0 or self.k_ohm > 0 or self.v_drop_V > 0
        given = [name for name, on in (("efficiency", self.efficiency is not None),
                                       ("efficiency_map", self.efficiency_map is not None),
                                       ("p0_W/v_drop_V/k_ohm", poly)) if on]
        if len(given) > 1:
            raise ParameterError(f"{o}: give one loss model (efficiency, efficiency_map or p0_W/v_drop_V/k_ohm); "
                                 f"got {' and '.join(given)}.")

    @classmethod
    def from_efficiency_map(cls, emap: EfficiencyMap, *, max_current_A: float | None = None,
                            dead_band_A: float = 0.01, bidirectional: bool = True) -> ConverterModel:
        """A converter using ``emap``, saturating by default at the largest current of the table."""
        return cls(max_current_A=float(emap.current_A[-1]) if max_current_A is None else max_current_A,
                   dead_band_A=dead_band_A, efficiency_map=emap, bidirectional=bidirectional)

    @property
    def loss_kind(self) -> str:
        """``"efficiency"``, ``"map"`` or ``"polynomial"``."""
        if self.efficiency is not None:
            return "efficiency"
        return "map" if self.efficiency_map is not None else "polynomial"

    def limit(self, i_cmd) -> np.ndarray:
        """Actual signed current for commands ``i_cmd``: saturation, dead band, direction [A]."""
        i = np.clip(np.asarray(i_cmd, dtype=float), -self.max_current_A, self.max_current_A)
        i = np.where(np.abs(i) < self.dead_band_A, 0.0, i)
        if not self.bidirectional:
            i = np.maximum(i, 0.0)
        return i

    def loss_W(self, i_src, v_src) -> np.ndarray:
        """Loss [W] at source-side current ``|i_src|`` [A] and source voltage ``v_src`` [V] (0 when off)."""
        a = np.abs(np.asarray(i_src, dtype=float))
        v = np.asarray(v_src, dtype=float)
        if self.efficiency is not None:
            return (1.0 - self.efficiency) * v * a
        if self.efficiency_map is not None:
            return (1.0 - self.efficiency_map(a)) * v * a
        return np.where(a > 0, self.p0_W + self.v_drop_V * a + self.k_ohm * a * a, 0.0)

    def two_stage(self) -> ConverterModel:
        """Two such converters in series at the same current (cell -> bus -> cell), approximately."""
        if self.efficiency is not None:
            return ConverterModel(self.max_current_A, self.efficiency**2, dead_band_A=self.dead_band_A,
                                  bidirectional=self.bidirectional)
        if self.efficiency_map is not None:
            return ConverterModel(self.max_current_A, dead_band_A=self.dead_band_A,
                                  efficiency_map=self.efficiency_map.squared(), bidirectional=self.bidirectional)
        return ConverterModel(self.max_current_A, None, 2 * self.p0_W, 2 * self.k_ohm, 2 * self.v_drop_V,
                              self.dead_band_A, None, self.bidirectional)


@dataclass(frozen=True, eq=False)
class EdgeTransfer:
    """What the converters of a graph do at one instant. Batch axis ``B`` first.

    Attributes
    ----------
    current_A : (B, m)
        Actual signed edge current at the source side [A] (after saturation and dead band).
    source, dest : (B, m) int
        Source and destination node of each edge (they swap when the current is negative).
    i_source_A, i_dest_A : (B, m)
        Current drawn from the source node and delivered to the destination node, >= 0 [A].
    loss_W : (B, m)
        Loss per edge [W].
    node_out_A, node_in_A : (B, n_nodes)
        Per node: current drawn by the edges it feeds (source side) and current delivered by the
        edges feeding it (destination side), both >= 0 [A].
    v_nodes_V : (B, n_nodes)
        The node voltages used [V].
    """

    current_A: np.ndarray
    source: np.ndarray
    dest: np.ndarray
    i_source_A: np.ndarray
    i_dest_A: np.ndarray
    loss_W: np.ndarray
    node_out_A: np.ndarray
    node_in_A: np.ndarray
    v_nodes_V: np.ndarray

    @property
    def node_current_A(self) -> np.ndarray:
        """Net current into each node, ``node_in - node_out`` [A] (positive charges the node)."""
        return self.node_in_A - self.node_out_A

    @property
    def power_source_W(self) -> np.ndarray:
        """(B, m) power drawn from each edge's source, ``V_s i_src`` [W]."""
        return np.take_along_axis(self.v_nodes_V, self.source, -1) * self.i_source_A

    @property
    def power_dest_W(self) -> np.ndarray:
        """(B, m) power delivered to each edge's destination, ``V_d i_dst`` [W]."""
        return np.take_along_axis(self.v_nodes_V, self.dest, -1) * self.i_dest_A


def _node_sums(idx: np.ndarray, vals: np.ndarray, n_nodes: int) -> np.ndarray:
    """(B, n_nodes) sums of vals (B, m) at node indices idx (B, m)."""
    b = vals.shape[0]
    flat = (idx + n_nodes * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, weights=vals.ravel(), minlength=b * n_nodes).reshape(b, n_nodes)


def _prepare(edges, values, v_nodes, owner: str):
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    v = np.atleast_2d(np.asarray(v_nodes, dtype=float))
    if v.ndim != 2:
        raise ParameterError(f"{owner}: v_nodes must be (n_nodes,) or (B, n_nodes); got shape {v.shape}.")
    if e.size and e.max() >= v.shape[1]:
        raise ParameterError(f"{owner}: edges refer to node {e.max()} but v_nodes has {v.shape[1]} nodes.")
    c = np.asarray(values, dtype=float)
    try:
        c = np.broadcast_to(c, (v.shape[0], e.shape[0]))
    except ValueError:
        raise ParameterError(f"{owner}: commands must broadcast to (B={v.shape[0]}, m={e.shape[0]}); "
                             f"got shape {c.shape}.") from None
    used = np.unique(e)
    if used.size:
        check_range(owner, "v_nodes", v[:, used], gt=0)
    return e, c, v


def _finish(e, current, i_src, p_src, loss, v) -> EdgeTransfer:
    fwd = current >= 0
    src = np.where(fwd, e[:, 0], e[:, 1])
    dst = np.where(fwd, e[:, 1], e[:, 0])
    i_dst = (p_src - loss) / np.take_along_axis(v, dst, -1)
    n = v.shape[1]
    return EdgeTransfer(current, src, dst, i_src, i_dst, loss, _node_sums(src, i_src, n), _node_sums(dst, i_dst, n), v)


def edge_transfer(edges, i_cmd, v_nodes, model: ConverterModel) -> EdgeTransfer:
    """Actual currents and losses of commanded converters (vectorised over a batch and the edges).

    Parameters
    ----------
    edges : (m, 2) int array
        Edge ``(a, b)``: a positive command moves charge from node ``a`` to node ``b``.
    i_cmd : (m,) or (B, m) array
        Commanded source-side currents [A], signed along the edge orientation.
    v_nodes : (n_nodes,) or (B, n_nodes) array
        Node voltages [V] (> 0 wherever an edge ends).
    model : ConverterModel
        Saturation, dead band and loss model (the same for every edge).

    Returns
    -------
    EdgeTransfer
        Per edge: actual current, source/destination currents, loss; per node: currents drawn
        and delivered. For every edge ``V_s i_source = V_d i_dest + loss`` to rounding.
    """
    e, c, v = _prepare(edges, i_cmd, v_nodes, "edge_transfer")
    current = model.limit(c)
    i_src = np.abs(current)
    v_src = np.take_along_axis(v, np.where(current >= 0, e[:, 0], e[:, 1]), -1)
    p_src = v_src * i_src
    loss = np.minimum(model.loss_W(i_src, v_src), p_src)
    return _finish(e, current, i_src, p_src, loss, v)


def conductance_transfer(edges, conductance_S, v_nodes, on=True) -> EdgeTransfer:
    """Passive conductance edges (switched capacitors): ``i = g (V_a - V_b)`` where ``on``.

    Parameters
    ----------
    edges : (m, 2) int array
    conductance_S : (m,) array
        ``g = 1 / R_eq`` [S] of each edge.
    v_nodes : (n_nodes,) or (B, n_nodes) array
        Node voltages [V].
    on : bool or (B, m) bool array
        Which edges are switching.

    Returns
    -------
    EdgeTransfer
        Current flows from the higher- to the lower-voltage node; the loss ``i^2 / g`` is computed
        as ``V_s i - V_d i`` so that the bookkeeping closes to rounding.
    """
    e, g, v = _prepare(edges, conductance_S, v_nodes, "conductance_transfer")
    on_b = np.broadcast_to(np.asarray(on, dtype=bool), g.shape)
    current = np.where(on_b, g * (v[:, e[:, 0]] - v[:, e[:, 1]]), 0.0)
    i_src = np.abs(current)
    fwd = current >= 0
    v_src = np.where(fwd, v[:, e[:, 0]], v[:, e[:, 1]])
    v_dst = np.where(fwd, v[:, e[:, 1]], v[:, e[:, 0]])
    p_src = v_src * i_src
    return _finish(e, current, i_src, p_src, p_src - v_dst * i_src, v)


def fit_loss_model(current_A, loss_W) -> tuple[float, float, float]:
    """Non-negative least-squares fit ``P_loss = p0 + v_drop |I| + k I^2`` to loss samples.

    Returns
    -------
    (p0_W, v_drop_V, k_ohm)
        Ready for ``ConverterModel(p0_W=..., v_drop_V=..., k_ohm=...)``.
    """
    from scipy.optimize import nnls

    i = np.abs(np.asarray(current_A, dtype=float)).reshape(-1)
    p = np.asarray(loss_W, dtype=float).reshape(-1)
    if i.size < 3 or i.shape != p.shape:
        raise ParameterError(f"fit_loss_model: need >= 3 (current, loss) pairs of equal length; got {i.size}, {p.size}.")
    a = np.stack([np.ones_like(i), i, i * i], 1)
    (p0, vd, k), _ = nnls(a, p)
    return float(p0), float(vd), float(k)


_NO_THEVENIN = np.zeros((0, 0))


@njit(cache=True)
def _hold_cells(e, cmd, v, imax, dead, bidir, kind, eff, p0, vdrop, kohm, map_i, map_eta, el, loss, r_th, i_th):
    """:func:`edge_transfer` + node sums for graphs whose nodes are the series elements: per edge the
    limited source current, the loss of the model (0 constant efficiency, 1 efficiency map, 2
    polynomial), capped at the input power, and the destination current from the power balance.
    With ``r_th`` (B, Ns) (else an empty array), once more at ``v + r_th (el - i_th)``: the voltages
    the held currents cause (:meth:`ActiveBalancer.hold`'s ``thevenin``)."""
    _transfer_cells(e, cmd, v, imax, dead, bidir, kind, eff, p0, vdrop, kohm, map_i, map_eta, el, loss)
    if r_th.size:
        v2 = v + r_th * (el - i_th)
        _transfer_cells(e, cmd, v2, imax, dead, bidir, kind, eff, p0, vdrop, kohm, map_i, map_eta, el, loss)


@njit(cache=True)
def _transfer_cells(e, cmd, v, imax, dead, bidir, kind, eff, p0, vdrop, kohm, map_i, map_eta, el, loss):
    B, m = cmd.shape
    for b in range(B):
        for k in range(el.shape[1]):
            el[b, k] = 0.0
        lb = 0.0
        for j in range(m):
            c = min(max(cmd[b, j], -imax), imax)
            if abs(c) < dead:
                c = 0.0
            if not bidir and c < 0.0:
                c = 0.0
            if c >= 0.0:
                s, d = e[j, 0], e[j, 1]
            else:
                s, d = e[j, 1], e[j, 0]
            a = abs(c)
            vs = v[b, s]
            p_in = vs * a
            if kind == 0:
                pl = (1.0 - eff) * vs * a
            elif kind == 1:
                pl = (1.0 - np.interp(a, map_i, map_eta)) * vs * a
            else:
                pl = p0 + vdrop * a + kohm * a * a if a > 0.0 else 0.0
            pl = min(pl, p_in)
            el[b, d] += (p_in - pl) / v[b, d]
            el[b, s] -= a
            lb += pl
        loss[b] = lb


@dataclass(frozen=True, eq=False)
class ActiveBalancer:
    """Active balancing hardware of one string: a topology and one converter model for its edges.

    Parameters
    ----------
    graph : BalancingGraph
        The topology. Graphs with ``"bus"`` nodes are worked through their Kron-reduced network:
        :attr:`edges` are then the reduced (cell/series-node) edges, each a two-stage transfer.
    converter : ConverterModel
        Model of every converter edge. Ignored for conductance graphs (``weight_unit == "S"``,
        switched capacitors), whose edges run while their command is > 0.

    Notes
    -----
    :meth:`element_currents` returns, per series element, the current from the balancing network
    (positive charges the element); current delivered to a ``"pack"``/``"module"`` node is a
    series current through its members. The converter loss it returns equals
    ``-sum_k V_k I_k`` over the elements (energy bookkeeping at the voltages given).
    """

    graph: BalancingGraph
    converter: ConverterModel = field(default_factory=ConverterModel)

    def __post_init__(self) -> None:
        g = self.graph
        if not isinstance(g, BalancingGraph):
            raise ParameterError(f"ActiveBalancer.graph must be a BalancingGraph; got {type(g).__name__}.")
        if not isinstance(self.converter, ConverterModel):
            raise ParameterError(f"ActiveBalancer.converter must be a ConverterModel; got "
                                 f"{type(self.converter).__name__}.")
        conv = self.converter
        hubs = [k for k, kind in enumerate(g.node_kinds) if kind in HUB_KINDS]
        if hubs:
            keep = np.array([k for k in range(g.n_nodes) if k not in hubs])
            lap = kron_reduce(g.laplacian(sparse=True), keep)
            a, b = np.nonzero(np.triu(-lap, 1) > 1e-12 * np.abs(lap).max())
            members = {i: g.members[k] for i, k in enumerate(keep) if g.node_kinds[k] != "cell"}
            work = BalancingGraph(np.stack([a, b], 1), -lap[a, b], tuple(g.node_kinds[k] for k in keep),
                                  tuple(g.node_names[k] for k in keep), members or None, g.kind + " (reduced)",
                                  g.weight_unit)
            conv = conv.two_stage()
        else:
            work = g
        object.__setattr__(self, "_work", work)
        object.__setattr__(self, "_conv", conv)
        object.__setattr__(self, "_membership", work.membership())
        object.__setattr__(self, "_cells_only", all(k == "cell" for k in work.node_kinds)
                           and work.n_nodes == g.n_cells and np.array_equal(self._membership, np.eye(g.n_cells)))
        # the compiled hold's converter arguments, made once (hold runs at every command)
        if conv.efficiency is not None:
            kind, eff = 0, float(conv.efficiency)
        elif conv.efficiency_map is not None:
            kind, eff = 1, 0.0
        else:
            kind, eff = 2, 0.0
        emap = conv.efficiency_map
        object.__setattr__(self, "_hold_args", (
            np.ascontiguousarray(work.edges), float(conv.max_current_A), float(conv.dead_band_A),
            bool(conv.bidirectional), kind, eff, float(conv.p0_W), float(conv.v_drop_V), float(conv.k_ohm),
            np.zeros(1) if emap is None else np.asarray(emap.current_A, float),
            np.zeros(1) if emap is None else np.asarray(emap.efficiency, float)))

    @property
    def edges(self) -> np.ndarray:
        """(m, 2) edges the commands refer to (the Kron-reduced ones for graphs with a bus)."""
        return self._work.edges

    @property
    def n_edges(self) -> int:
        """Number of commanded edges."""
        return self._work.n_edges

    @property
    def working_graph(self) -> BalancingGraph:
        """The graph the commands act on (``graph`` itself, or its Kron reduction)."""
        return self._work

    def node_voltages(self, v_element) -> np.ndarray:
        """(B, n_nodes) node voltages: element voltages, and sums of members for pack/module nodes [V]."""
        return np.atleast_2d(np.asarray(v_element, dtype=float)) @ self._membership.T

    def transfer(self, edge_current_A, v_element) -> EdgeTransfer:
        """Per-edge and per-node detail of :meth:`element_currents`."""
        v_el = np.atleast_2d(np.asarray(v_element, dtype=float))
        if v_el.ndim != 2 or v_el.shape[1] != self.graph.n_cells:
            raise ParameterError(f"ActiveBalancer: {v_el.shape[-1]} series elements but the graph has "
                                 f"{self.graph.n_cells} cells.")
        vn = self.node_voltages(v_el)
        if self._work.weight_unit == "S":
            on = np.broadcast_to(np.asarray(edge_current_A, dtype=float), (vn.shape[0], self.n_edges)) > 0
            return conductance_transfer(self._work.edges, self._work.weights, vn, on)
        return edge_transfer(self._work.edges, edge_current_A, vn, self._conv)

    def element_currents(self, edge_current_A, v_element) -> tuple[np.ndarray, np.ndarray]:
        """Element currents and total loss for edge commands.

        Parameters
        ----------
        edge_current_A : (m,) or (B, m) array
            Commands [A] along :attr:`edges` (for conductance graphs: > 0 = switching).
        v_element : (Ns,) or (B, Ns) array
            Series-element voltages [V].

        Returns
        -------
        element_current_A : (B, Ns)
            Current into each element [A] (positive = charging).
        losses_W : (B,)
            Total converter loss [W].
        """
        t = self.transfer(edge_current_A, v_element)
        return t.node_current_A @ self._membership, t.loss_W.sum(-1)

    @property
    def accepts(self) -> tuple[str, ...]:
        """The command field this hardware carries out: ``links_on`` for conductance graphs
        (switched capacitors), ``edge_current_A`` for converters."""
        return ("links_on",) if self._work.weight_unit == "S" else ("edge_current_A",)

    def link_laplacian(self, on) -> np.ndarray:
        """(B, Ns, Ns) Laplacian over the series elements of the conductance links that are ``on``
        (B, m): ``M^T B diag(g on) B^T M`` with ``M`` the node membership; the current into the
        elements is ``-L v`` at element voltages ``v``."""
        w = self._work
        inc = w.incidence()  # (n_nodes, m)
        inc_el = self._membership.T @ inc  # (Ns, m): each edge seen from the elements
        gon = np.asarray(on, float) * w.weights
        return np.einsum("im,bm,jm->bij", inc_el, gon, inc_el)

    def hold(self, command: Command, v_element, layout: PackLayout, thevenin=None) -> HeldAction:
        """The per-step law of a command: converters hold the currents of their operating point at
        the command instant (source current as commanded and limited, destination current from the
        power balance at the element voltages ``v_element``); conductance links switched on are a
        Laplacian solved with the pack at every step.

        ``thevenin`` = (r_element, i_element), each (B, Ns), optional: the elements' Thevenin
        resistance at the command instant and the balancing current already flowing in
        ``v_element``. The operating point is then refined once, at the voltages the held currents
        cause, ``v_element + r_element (i_held - i_element)`` (one step of the fixed point between
        the currents and the voltages; the loop passes it when the elements carry no shunt or link).
        """
        shp = (layout.n_packs, layout.n_series)
        if self.graph.n_cells != layout.n_series:
            raise ParameterError(f"ActiveBalancer: the graph has {self.graph.n_cells} cells but the pack has "
                                 f"{layout.n_series} series elements.")
        if self._work.weight_unit == "S":
            if command.links_on is None:
                return HeldAction(np.zeros(shp), np.zeros(shp))
            on = as_pack_array("Command", "links_on", command.links_on, (layout.n_packs, self.n_edges), bool)
            return HeldAction(np.zeros(shp), np.zeros(shp), link_laplacian_S=self.link_laplacian(on))
        if command.edge_current_A is None:
            return HeldAction(np.zeros(shp), np.zeros(shp))
        cmd = as_pack_array("Command", "edge_current_A", command.edge_current_A, (layout.n_packs, self.n_edges))
        if not self._cells_only:
            el, loss = self.element_currents(cmd, v_element)
            if thevenin is not None:
                el, loss = self.element_currents(cmd, v_element + thevenin[0] * (el - thevenin[1]))
            return HeldAction(el, np.zeros(shp), converter_loss_W=loss)
        # every node is a series element: the arithmetic of edge_transfer, compiled, without its generality
        v = np.ascontiguousarray(v_element, dtype=float).reshape(shp)
        e, imax, dead, bidi, kind, eff, p0, vdrop, kohm, mi, me = self._hold_args
        el = np.empty(shp)
        loss = np.empty(shp[0])
        r_th, i_th = (_NO_THEVENIN, _NO_THEVENIN) if thevenin is None else \
            (np.ascontiguousarray(thevenin[0], dtype=float).reshape(shp), np.ascontiguousarray(thevenin[1], dtype=float).reshape(shp))
        _hold_cells(e, cmd, v, imax, dead, bidi, kind, eff, p0, vdrop, kohm, mi, me, el, loss, r_th, i_th)
        return HeldAction(el, np.zeros(shp), converter_loss_W=loss)
