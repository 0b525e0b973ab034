"""Balancing circuits as weighted graphs: incidence matrix B, edge weights W, Laplacian L = B W B^T.

Nodes are the ``n_cells`` series elements of a string (indices 0..n_cells-1), plus auxiliary nodes
for some topologies: the string itself ("pack"), a shared bus or transformer core ("bus"), module
nodes ("module k"). An edge is a converter (or a switched capacitor, or a bleed path) that moves
charge between its two nodes; its weight is the conductance-like gain ``w`` [A per unit of SOC
difference, or S for a switched capacitor] of the averaged edge law ``i = w (x_a - x_b)``.

Topologies (reviews: J. Gallardo-Lozano, E. Romero-Cadaval, M. I. Milanes-Montero, M. A.
Guerrero-Martinez, "Battery equalization active methods", J. Power Sources 246 (2014) 934-949;
M. Daowd, N. Omar, P. Van den Bossche, J. Van Mierlo, "Passive and active battery balancing
comparison based on MATLAB simulation", IEEE VPPC 2011):

* ``adjacent``: cell-to-cell between neighbours (bidirectional buck-boost/inductor): a path.
* ``ring``: adjacent plus the end-to-end link: a cycle.
* ``switched_capacitor``: a flying capacitor between neighbours; averaged, a resistor
  ``R_eq = 1/(f_sw C)`` between the two cells, so the weight is ``f_sw C`` [S] (Pascual & Krein 1997).
* ``cell_to_pack`` / ``pack_to_cell``: a flyback per cell to/from the string: a star around "pack".
  The physical current into the string is a series current through every cell; the graph edge
  describes the charge moved, the simulator applies the series current.
* ``bus``: any-to-any through a shared bus or multi-winding transformer: a star around "bus";
  Kron-reducing the bus gives a complete graph with weights ``w_i w_j / sum w``.
* ``complete``: a direct converter between every pair (the ideal any-to-any).
* ``modular``: modules of ``module_size`` cells with adjacent balancers inside each module and
  adjacent balancers between the module nodes ("module k"), each module node tied to its cells
  (a two-level hierarchy).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import ParameterError, UnknownNameError, check_range

__all__ = ["BalancingGraph", "available_topologies", "get_topology"]


@dataclass(frozen=True, eq=False)
class BalancingGraph:
    """A balancing network: ``n_cells`` cell nodes first, then auxiliary nodes.

    edges : (m, 2) int array of node pairs (a, b); positive edge current flows from a to b
    weights : (m,) positive edge gains
    node_names : names of all nodes (cells are "0".."n-1")
    kind : the topology name
    """

    n_cells: int
    edges: np.ndarray
    weights: np.ndarray
    node_names: tuple[str, ...]
    kind: str = "custom"

    def __post_init__(self) -> None:
        e = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        w = np.asarray(self.weights, dtype=float).reshape(-1)
        n = len(self.node_names)
        if self.n_cells < 1 or self.n_cells > n:
            raise ParameterError(f"BalancingGraph.n_cells must be in [1, {n}]; got {self.n_cells}.")
        if e.shape[0] != w.shape[0]:
            raise ParameterError(f"BalancingGraph: {e.shape[0]} edges but {w.shape[0]} weights.")
        if e.size and (e.min() < 0 or e.max() >= n):
            raise ParameterError(f"BalancingGraph.edges must index nodes 0..{n - 1}; got {e.min()}..{e.max()}.")
        if np.any(e[:, 0] == e[:, 1]):
            raise ParameterError("BalancingGraph.edges: an edge must join two different nodes (no self-loops).")
        check_range("BalancingGraph", "weights", w, gt=0)
        e.setflags(write=False)
        w.setflags(write=False)
        object.__setattr__(self, "edges", e)
        object.__setattr__(self, "weights", w)

    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    @property
    def n_edges(self) -> int:
        return self.edges.shape[0]

    def incidence(self) -> sp.csr_matrix:
        """B (n_nodes x n_edges): +1 at the edge's source a, -1 at its destination b."""
        m = self.n_edges
        rows = np.concatenate([self.edges[:, 0], self.edges[:, 1]])
        cols = np.concatenate([np.arange(m), np.arange(m)])
        vals = np.concatenate([np.ones(m), -np.ones(m)])
        return sp.csr_matrix((vals, (rows, cols)), shape=(self.n_nodes, m))

    def laplacian(self, sparse: bool = False):
        """L = B W B^T over all nodes (symmetric, positive semidefinite, zero row sums)."""
        b = self.incidence()
        lap = (b @ sp.diags(self.weights) @ b.T).tocsr()
        return lap if sparse else lap.toarray()

    def reduced_laplacian(self) -> np.ndarray:
        """Laplacian among the cells after eliminating auxiliary nodes (Kron reduction / Schur complement).

        ``L_red = L_cc - L_ca L_aa^+ L_ac``; for a bus star with weights w this is the complete graph
        with weights ``w_i w_j / sum w``. Auxiliary nodes without any edge are dropped.
        """
        lap = self.laplacian()
        n = self.n_cells
        if self.n_nodes == n:
            return lap
        laa = lap[n:, n:]
        keep = np.flatnonzero(np.abs(laa).sum(1) > 0)
        laa = laa[np.ix_(keep, keep)]
        lca = lap[:n, n:][:, keep]
        return lap[:n, :n] - lca @ np.linalg.solve(laa, lca.T)

    def to_networkx(self):
        import networkx as nx

        g = nx.Graph(kind=self.kind, n_cells=self.n_cells)
        for k, name in enumerate(self.node_names):
            g.add_node(k, name=name, cell=k < self.n_cells)
        for (a, b), w in zip(self.edges, self.weights, strict=True):
            if g.has_edge(int(a), int(b)):
                g[int(a)][int(b)]["weight"] += float(w)
            else:
                g.add_edge(int(a), int(b), weight=float(w))
        return g

    @classmethod
    def from_networkx(cls, g, n_cells: int | None = None, kind: str = "custom") -> BalancingGraph:
        """From a networkx graph whose nodes are 0..N-1 (the first ``n_cells`` are cells); 'weight' defaults to 1."""
        nodes = sorted(g.nodes)
        if nodes != list(range(len(nodes))):
            raise ParameterError("from_networkx: nodes must be the integers 0..N-1 (cells first).")
        edges = [(a, b) for a, b in g.edges]
        weights = [g[a][b].get("weight", 1.0) for a, b in edges]
        n = len(nodes) if n_cells is None else n_cells
        names = tuple(str(g.nodes[k].get("name", k)) for k in nodes)
        return cls(n, np.array(edges).reshape(-1, 2), np.array(weights), names, kind)

    @classmethod
    def from_edge_list(cls, n_cells: int, edges, weights=1.0, aux_nodes: tuple[str, ...] = ()) -> BalancingGraph:
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        w = np.broadcast_to(np.asarray(weights, float), (e.shape[0],))
        return cls(n_cells, e, w, tuple(str(k) for k in range(n_cells)) + tuple(aux_nodes), "custom")


def _cells(n: int) -> tuple[str, ...]:
    return tuple(str(k) for k in range(n))


def _check_n(n_cells: int, minimum: int = 2) -> None:
    if not isinstance(n_cells, int | np.integer) or n_cells < minimum:
        raise ParameterError(f"n_cells must be an integer >= {minimum}; got {n_cells!r}.")


def adjacent(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    _check_n(n_cells)
    e = np.stack([np.arange(n_cells - 1), np.arange(1, n_cells)], 1)
    return BalancingGraph(n_cells, e, np.full(n_cells - 1, weight), _cells(n_cells), "adjacent")


def ring(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    _check_n(n_cells, 3)
    e = np.stack([np.arange(n_cells), (np.arange(n_cells) + 1) % n_cells], 1)
    return BalancingGraph(n_cells, e, np.full(n_cells, weight), _cells(n_cells), "ring")


def switched_capacitor(n_cells: int, capacitance_F: float = 100e-6, f_sw_Hz: float = 10e3) -> BalancingGraph:
    """Adjacent flying capacitors; averaged, each is R_eq = 1/(f_sw C): weight f_sw C [S]."""
    check_range("switched_capacitor", "capacitance_F", capacitance_F, gt=0)
    check_range("switched_capacitor", "f_sw_Hz", f_sw_Hz, gt=0)
    g = adjacent(n_cells, capacitance_F * f_sw_Hz)
    return BalancingGraph(g.n_cells, g.edges, g.weights, g.node_names, "switched_capacitor")


def _star(n_cells: int, hub: str, weight: float, kind: str) -> BalancingGraph:
    _check_n(n_cells)
    e = np.stack([np.arange(n_cells), np.full(n_cells, n_cells)], 1)
    return BalancingGraph(n_cells, e, np.full(n_cells, weight), (*_cells(n_cells), hub), kind)


def cell_to_pack(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    return _star(n_cells, "pack", weight, "cell_to_pack")


def pack_to_cell(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    return _star(n_cells, "pack", weight, "pack_to_cell")


def bus(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    return _star(n_cells, "bus", weight, "bus")


def complete(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    _check_n(n_cells)
    a, b = np.triu_indices(n_cells, 1)
    return BalancingGraph(n_cells, np.stack([a, b], 1), np.full(a.size, weight), _cells(n_cells), "complete")


def modular(n_cells: int, module_size: int = 12, weight: float = 1.0, inter_weight: float | None = None) -> BalancingGraph:
    """Adjacent balancers inside modules, module nodes tied to their cells and joined in a path."""
    _check_n(n_cells)
    if not isinstance(module_size, int | np.integer) or module_size < 2 or n_cells % module_size:
        raise ParameterError(f"modular: module_size must be an integer >= 2 dividing n_cells={n_cells}; got {module_size!r}.")
    n_mod = n_cells // module_size
    edges, weights = [], []
    for m in range(n_mod):
        base = m * module_size
        for k in range(module_size - 1):
            edges.append((base + k, base + k + 1))
            weights.append(weight)
        for k in range(module_size):
            edges.append((base + k, n_cells + m))
            weights.append(weight)
    wi = weight * module_size if inter_weight is None else inter_weight
    for m in range(n_mod - 1):
        edges.append((n_cells + m, n_cells + m + 1))
        weights.append(wi)
    names = (*_cells(n_cells), *(f"module {m}" for m in range(n_mod)))
    return BalancingGraph(n_cells, np.array(edges), np.array(weights), names, "modular")


_TOPOLOGIES = {
    "adjacent": adjacent,
    "ring": ring,
    "switched_capacitor": switched_capacitor,
    "cell_to_pack": cell_to_pack,
    "pack_to_cell": pack_to_cell,
    "bus": bus,
    "complete": complete,
    "modular": modular,
}


def available_topologies() -> list[str]:
    return list(_TOPOLOGIES)


def get_topology(kind: str, n_cells: int, **params) -> BalancingGraph:
    """Build the topology ``kind`` for ``n_cells`` (see :func:`available_topologies`)."""
    try:
        f = _TOPOLOGIES[kind]
    except KeyError:
        close = difflib.get_close_matches(kind, _TOPOLOGIES, 1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"Unknown topology {kind!r}; available: {available_topologies()}.{hint}") from None
    try:
        return f(n_cells, **params)
    except TypeError as e:
        raise ParameterError(f"topology {kind!r}: {e}") from None
