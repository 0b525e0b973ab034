"""Averaged converter models on the edges of a balancing graph, and the active balancer they make.

Each edge (a -> b) is a bidirectional converter: a commanded current ``i`` (> 0 from a to b) is
saturated at ``max_current_A`` and zeroed inside the dead band; it is drawn from the source node at
the source voltage, and the destination receives ``(V_src i - P_loss) / V_dst`` with
``P_loss = p0_W + k_ohm i^2`` (or ``(1 - efficiency) V_src i``). So for every edge, at the node
voltages given, power out of the source = power into the destination + losses, exactly.

A switched-capacitor edge has no command current: its averaged current is ``(V_a - V_b)/R_eq`` with
``R_eq = 1/(f_sw C)``, and its loss ``i^2 R_eq`` is the charge-sharing loss (M. Ben-Yaakov et al.;
C. Pascual, P. T. Krein, "Switched capacitor system for automatic series battery equalization",
IEEE APEC 1997).

Node currents become series-element currents: a cell node's current is its element's; the "pack"
node is the string, so current into it flows through every element (a series current) and current
drawn from it is drawn from every element. Topologies with a passive hub (bus, modules) are used
through their Kron-reduced cell-to-cell network, each reduced edge being two conversions in
series (efficiency squared, loss model applied to each stage): a documented simplification.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError, check_range
from ..sim.interfaces import BalancingAction
from .graph import BalancingGraph

__all__ = ["ActiveBalancer", "ConverterModel", "edge_transfer"]


@dataclass(frozen=True)
class ConverterModel:
    """Averaged loss model of one converter.

    max_current_A : saturation of the source-side current [A]
    efficiency : if given, ``P_loss = (1 - efficiency) V_src |i|`` (p0_W and k_ohm ignored)
    p0_W, v_drop_V, k_ohm : otherwise ``P_loss = p0_W + v_drop_V |i| + k_ohm i^2`` whenever it runs
        (fixed losses, diode/switching losses linear in current, conduction losses)
    dead_band_A : commands below this magnitude switch the converter off
    """

    max_current_A: float = 2.0
    efficiency: float | None = 0.9
    p0_W: float = 0.0
    k_ohm: float = 0.0
    dead_band_A: float = 0.01
    v_drop_V: float = 0.0

    def __post_init__(self) -> None:
        o = "ConverterModel"
        check_range(o, "max_current_A", self.max_current_A, gt=0)
        if self.efficiency is not None:
            check_range(o, "efficiency", self.efficiency, gt=0, le=1)
        check_range(o, "p0_W", self.p0_W, ge=0)
        check_range(o, "k_ohm", self.k_ohm, ge=0)
        check_range(o, "v_drop_V", self.v_drop_V, ge=0)
        check_range(o, "dead_band_A", self.dead_band_A, ge=0)

    def loss_W(self, i_src, v_src) -> np.ndarray:
        a = np.abs(i_src)
        if self.efficiency is not None:
            return (1.0 - self.efficiency) * np.asarray(v_src) * a
        return np.where(a > 0, self.p0_W + self.v_drop_V * a + self.k_ohm * a * a, 0.0)


def edge_transfer(edges: np.ndarray, i_cmd, v_nodes, conv: ConverterModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node currents (B, n_nodes), per-edge losses (B, m) and source currents (B, m) for commands (B, m).

    Node current > 0 means current delivered into the node; power balance per edge is exact at
    ``v_nodes``.
    """
    i = np.clip(np.asarray(i_cmd, float), -conv.max_current_A, conv.max_current_A)
    i = np.where(np.abs(i) < conv.dead_band_A, 0.0, i)
    v = np.asarray(v_nodes, float)
    a, b = edges[:, 0], edges[:, 1]
    fwd = i >= 0
    src = np.where(fwd, a, b)
    dst = np.where(fwd, b, a)
    mag = np.abs(i)
    v_src = np.take_along_axis(v, np.broadcast_to(src, i.shape), axis=-1)
    v_dst = np.take_along_axis(v, np.broadcast_to(dst, i.shape), axis=-1)
    p_in = v_src * mag
    loss = np.minimum(conv.loss_W(mag, v_src), p_in)
    i_out = (p_in - loss) / v_dst
    node = np.zeros(v.shape)
    bidx = np.arange(v.shape[0])[:, None]
    np.add.at(node, (bidx, np.broadcast_to(src, i.shape)), -mag)
    np.add.at(node, (bidx, np.broadcast_to(dst, i.shape)), i_out)
    return node, loss, mag


@dataclass(frozen=True, eq=False)
class ActiveBalancer:
    """Active balancing hardware of a string: a topology and one converter model for its edges.

    ``switched_capacitor`` graphs ignore commands (their current follows the voltages; a command
    > 0 on an edge means "switching"). Hub topologies (bus, modular) are used through their
    Kron-reduced cell-to-cell network with two conversion stages per reduced edge.
    """

    graph: BalancingGraph
    converter: ConverterModel = ConverterModel()

    def __post_init__(self) -> None:
        aux = set(self.graph.node_names[self.graph.n_cells:])
        if aux - {"pack"}:
            lap = self.graph.reduced_laplacian()
            a, b = np.nonzero(np.triu(-lap, 1) > 1e-12)
            red = BalancingGraph(self.graph.n_cells, np.stack([a, b], 1), -lap[a, b],
                                 self.graph.node_names[: self.graph.n_cells], self.graph.kind + " (reduced)")
            conv = self.converter
            stage2 = ConverterModel(conv.max_current_A, None if conv.efficiency is None else conv.efficiency**2,
                                    2 * conv.p0_W, 2 * conv.k_ohm, conv.dead_band_A, 2 * conv.v_drop_V)
            object.__setattr__(self, "_work", red)
            object.__setattr__(self, "_conv", stage2)
        else:
            object.__setattr__(self, "_work", self.graph)
            object.__setattr__(self, "_conv", self.converter)

    @property
    def edges(self) -> np.ndarray:
        """The edges commands refer to (the reduced ones for hub topologies)."""
        return self._work.edges

    def node_voltages(self, v_element) -> np.ndarray:
        v = np.atleast_2d(np.asarray(v_element, float))
        extra = len(self._work.node_names) - self._work.n_cells
        if extra == 0:
            return v
        return np.concatenate([v, v.sum(-1, keepdims=True)], axis=-1)  # the "pack" node: the string

    def element_currents(self, edge_current_A, v_element) -> tuple[np.ndarray, np.ndarray]:
        """(element currents (B, Ns), losses (B,)) for edge commands (B, m) at element voltages (B, Ns)."""
        v_el = np.atleast_2d(np.asarray(v_element, float))
        B, ns = v_el.shape
        if ns != self.graph.n_cells:
            raise ParameterError(f"ActiveBalancer: {ns} series elements but the graph has {self.graph.n_cells} cells.")
        vn = self.node_voltages(v_el)
        if self.graph.kind == "switched_capacitor":
            on = np.broadcast_to(np.asarray(edge_current_A, float), (B, self._work.n_edges)) > 0
            e = self._work.edges
            g = self._work.weights  # f_sw C = 1/R_eq
            i = np.where(on, (vn[:, e[:, 0]] - vn[:, e[:, 1]]) * g, 0.0)
            node = np.zeros_like(vn)
            np.add.at(node, (slice(None), e[:, 0]), -i)
            np.add.at(node, (slice(None), e[:, 1]), i)
            return node[:, :ns], (i * i / g).sum(-1)
        cmd = np.broadcast_to(np.asarray(edge_current_A, float), (B, self._work.n_edges))
        node, loss, _ = edge_transfer(self._work.edges, cmd, vn, self._conv)
        el = node[:, :ns].copy()
        if vn.shape[1] > ns:
            el += node[:, ns:ns + 1]  # current into / out of the string flows through every element
        return el, loss.sum(-1)

    def action(self, edge_current_A, v_element) -> BalancingAction:
        el, loss = self.element_currents(edge_current_A, v_element)
        return BalancingAction(element_current_A=el, losses_W=loss)
