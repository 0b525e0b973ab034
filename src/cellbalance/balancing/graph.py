"""Balancing hardware as a weighted graph: incidence matrix, Laplacian, reduction onto the cells.

A balancing network of a string of ``n_cells`` series elements is a graph whose nodes are

* the cells (kind ``"cell"``, indices ``0 .. n_cells-1``, always first), and optionally
* auxiliary nodes: ``"pack"`` (the whole string, e.g. the output of a cell-to-pack converter),
  ``"module"`` (the series connection of some cells) and ``"bus"`` (a passive junction without
  storage: a shared DC bus, the core of a multi-winding transformer).

An edge ``e = (a, b)`` is one balancing device (a converter, a switched capacitor, ...). Its weight
``w_e > 0`` is the gain of the averaged edge law ``i_e = w_e (x_a - x_b)``: the current moved from
``a`` to ``b`` per unit of difference of the node "potentials" ``x`` (state of charge for converters
driven by an SOC-difference controller, [A per unit SOC]; voltage for a switched capacitor, whose
weight is then a conductance [S], see ``weight_unit``). With the incidence matrix ``B`` (``+1`` at
the edge's source ``a``, ``-1`` at its destination ``b``) and ``W = diag(w)`` the graph Laplacian is
``L = B W B^T`` (symmetric, positive semidefinite, zero row sums), and the node balance is
``dx/dt ∝ -L x``.

Reduction onto the cells (:meth:`BalancingGraph.reduced_laplacian`), in two exact steps:

1. **Kron reduction** of the ``"bus"`` nodes (no storage, so the currents into them sum to zero):
   ``L' = L_kk - L_kb L_bb^{-1} L_bk`` (the Schur complement of the bus block; F. Dörfler,
   F. Bullo, "Kron reduction of graphs with applications to electrical networks", IEEE Trans.
   Circuits Syst. I 60 (2013) 150-163). ``L'`` is again a Laplacian. A star of weights ``w_i``
   around one bus becomes the complete graph with weights ``w_i w_j / sum_k w_k``; equal weights
   ``w`` give ``w / n`` on every pair (``w^2 / (n w)``): any-to-any through a shared bus.
2. **Series projection** of ``"pack"`` and ``"module"`` nodes. Such a node is the series
   connection of its member cells S: its potential is their mean, ``x_S = (1/|S|) sum_{k in S} x_k``,
   and a current ``i`` delivered to it (measured, like every edge current, at the level of one
   cell, i.e. power / cell voltage) flows through every member as the series current ``i / |S|``.
   With the matrix ``P`` (n_nodes x n_cells) whose row is ``e_k`` for cell k and ``1_S / |S|`` for a
   series node, ``L_cells = P^T L' P``: symmetric, positive semidefinite, zero row sums (``P 1 = 1``).
   For the cell-to-pack star this equals the Kron reduction (the complete graph with ``w / n``).

The reduced Laplacian is what the consensus analysis (:mod:`cellbalance.analysis.graph`) uses.
Topology constructors are in :mod:`cellbalance.balancing.topologies`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import ParameterError, UnknownNameError, check_range

__all__ = ["AUX_KINDS", "NODE_KINDS", "BalancingGraph", "kron_reduce"]

#: every node kind a graph may hold
NODE_KINDS = ("cell", "pack", "module", "bus")
#: auxiliary kinds that are the series connection of member cells (projected, not Kron-reduced)
SERIES_KINDS = ("pack", "module")
#: auxiliary kinds that are passive junctions without storage (Kron-reduced)
HUB_KINDS = ("bus",)
AUX_KINDS = SERIES_KINDS + HUB_KINDS
#: units of edge weights: "A/SOC" (converter gain, or a relative gain to be scaled), "S" (conductance)
WEIGHT_UNITS = ("A/SOC", "S")


def kron_reduce(laplacian, keep) -> np.ndarray:
    """Kron reduction (Schur complement) of a Laplacian onto the nodes ``keep``.

    Parameters
    ----------
    laplacian : (n, n) array or scipy sparse matrix
        A weighted graph Laplacian.
    keep : sequence of int
        Indices of the nodes kept, in the order wanted.

    Returns
    -------
    (len(keep), len(keep)) ndarray
        ``L_kk - L_ke L_ee^+ L_ek`` with e the eliminated nodes. Eliminated nodes with no path to a
        kept node contribute nothing (the pseudo-inverse handles their singular block).

    Notes
    -----
    F. Dörfler, F. Bullo, "Kron reduction of graphs with applications to electrical networks",
    IEEE Trans. Circuits Syst. I 60 (2013) 150-163: the result is a Laplacian, and the currents
    into kept nodes are those of the full network with no net current into the eliminated nodes.
    """
    lap = laplacian.toarray() if sp.issparse(laplacian) else np.asarray(laplacian, dtype=float)
    n = lap.shape[0]
    keep = np.asarray(keep, dtype=np.int64)
    elim = np.setdiff1d(np.arange(n), keep)
    lkk = lap[np.ix_(keep, keep)]
    if elim.size == 0:
        return lkk.copy()
    lke = lap[np.ix_(keep, elim)]
    lee = lap[np.ix_(elim, elim)]
    red = lkk - lke @ np.linalg.pinv(lee, hermitian=True) @ lke.T
    return 0.5 * (red + red.T)


def _default_names(kinds: Sequence[str]) -> tuple[str, ...]:
    """Cells "0".."n-1"; auxiliary nodes by kind, numbered when a kind repeats ("module 0", ...)."""
    n_cells = list(kinds).count("cell")
    aux = list(kinds[n_cells:])
    names = [str(k) for k in range(n_cells)]
    names += [k if aux.count(k) == 1 else f"{k} {aux[:j].count(k)}" for j, k in enumerate(aux)]
    return tuple(names)


@dataclass(frozen=True, eq=False, repr=False)
class BalancingGraph:
    """A balancing network: cells first, then auxiliary nodes; oriented edges with positive weights.

    Parameters
    ----------
    edges : (m, 2) array of int
        Node pairs ``(a, b)``; a positive edge current flows from ``a`` (source) to ``b``.
    weights : (m,) array of float
        Edge gains ``w_e > 0`` in ``weight_unit`` (see the module docstring).
    node_kinds : sequence of str
        Kind of every node, one of :data:`NODE_KINDS`; the ``"cell"`` nodes come first.
    node_names : sequence of str, optional
        Unique node names; default ``"0".."n_cells-1"`` for cells and the kind (numbered if it
        repeats, e.g. ``"module 0"``) for auxiliary nodes.
    members : mapping of node (index or name) -> sequence of cell indices, optional
        The cells a ``"pack"`` or ``"module"`` node is the series connection of. Default: every
        cell for ``"pack"``; ``"module"`` nodes must be given. Stored as one tuple per node.
    kind : str
        Topology name (informative: ``"ring"``, ``"custom"``, ...).
    weight_unit : {"A/SOC", "S"}
        ``"A/SOC"``: converter gains [A per unit SOC difference] (or relative gains, scaled later);
        ``"S"``: conductances of passive links (switched capacitors), whose current follows the
        voltage difference.

    Notes
    -----
    The graph is immutable (arrays are read-only). :meth:`incidence`, :meth:`laplacian` and
    :meth:`reduced_laplacian` give ``B``, ``L = B W B^T`` and the cell-only Laplacian.
    """

    edges: np.ndarray
    weights: np.ndarray
    node_kinds: tuple[str, ...]
    node_names: tuple[str, ...] | None = None
    members: Any = None
    kind: str = "custom"
    weight_unit: str = "A/SOC"

    def __post_init__(self) -> None:
        o = "BalancingGraph"
        kinds = tuple(str(k) for k in self.node_kinds)
        for k in kinds:
            if k not in NODE_KINDS:
                close = difflib.get_close_matches(k, NODE_KINDS, 1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise UnknownNameError(f"{o}.node_kinds: unknown node kind {k!r}; allowed: {list(NODE_KINDS)}.{hint}")
        n_cells = kinds.count("cell")
        if n_cells < 1:
            raise ParameterError(f"{o}.node_kinds must contain at least one 'cell' node; got {list(kinds)[:6]}.")
        if kinds[:n_cells] != ("cell",) * n_cells:
            raise ParameterError(f"{o}.node_kinds: the 'cell' nodes must come first (indices 0..n_cells-1).")
        n = len(kinds)
        if self.weight_unit not in WEIGHT_UNITS:
            raise ParameterError(f"{o}.weight_unit must be one of {list(WEIGHT_UNITS)}; got {self.weight_unit!r}.")

        e = np.array(self.edges, dtype=np.int64, copy=True)
        if e.size == 0:
            e = e.reshape(0, 2)
        if e.ndim != 2 or e.shape[1] != 2:
            raise ParameterError(f"{o}.edges must have shape (m, 2); got {e.shape}.")
        w = np.array(self.weights, dtype=float, copy=True).reshape(-1)
        if w.shape[0] != e.shape[0]:
            raise ParameterError(f"{o}.weights must have one value per edge ({e.shape[0]}); got {w.shape[0]}.")
        if e.size and (e.min() < 0 or e.max() >= n):
            raise ParameterError(f"{o}.edges must index nodes 0..{n - 1}; got {e.min()}..{e.max()}.")
        if np.any(e[:, 0] == e[:, 1]):
            k = int(np.flatnonzero(e[:, 0] == e[:, 1])[0])
            raise ParameterError(f"{o}.edges: edge {k} joins node {e[k, 0]} to itself; self-loops are not allowed.")
        check_range(o, "weights", w, gt=0)

        if self.node_names is None:
            names = list(_default_names(kinds))
        else:
            names = [str(s) for s in self.node_names]
            if len(names) != n:
                raise ParameterError(f"{o}.node_names must name every node ({n}); got {len(names)}.")
        if len(set(names)) != n:
            dup = next(s for s in names if names.count(s) > 1)
            raise ParameterError(f"{o}.node_names must be unique; {dup!r} repeats.")

        if self.members is None:
            given: dict = {}
        elif isinstance(self.members, Mapping):
            given = dict(self.members)
        else:  # one entry per node (the stored form)
            seq = list(self.members)
            if len(seq) != n:
                raise ParameterError(f"{o}.members must be a mapping or one entry per node ({n}); got {len(seq)}.")
            given = {k: m for k, m in enumerate(seq) if kinds[k] != "cell"}
        mem: list[tuple[int, ...]] = []
        for idx, k in enumerate(kinds):
            m = given.pop(idx, None)
            m = given.pop(names[idx], m)
            if k == "cell":
                if m is not None and tuple(m) != (idx,):
                    raise ParameterError(f"{o}.members: cell node {idx} can only be its own member.")
                mem.append((idx,))
            elif k == "bus":
                if m:
                    raise ParameterError(f"{o}.members: bus node {names[idx]!r} is a passive junction and has no members.")
                mem.append(())
            else:
                if m is None:
                    if k == "module":
                        raise ParameterError(f"{o}.members: module node {names[idx]!r} needs its member cells.")
                    m = range(n_cells)
                cells = tuple(sorted({int(c) for c in m}))
                if not cells or cells[0] < 0 or cells[-1] >= n_cells:
                    raise ParameterError(
                        f"{o}.members of {names[idx]!r} must be cell indices in [0, {n_cells - 1}]; got {list(m)[:6]}.")
                mem.append(cells)
        if given:
            raise ParameterError(f"{o}.members: no node {next(iter(given))!r} in the graph.")

        e.setflags(write=False)
        w.setflags(write=False)
        object.__setattr__(self, "edges", e)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "node_kinds", kinds)
        object.__setattr__(self, "node_names", tuple(names))
        object.__setattr__(self, "members", tuple(mem))

    # ------------------------------------------------------------------ sizes
    @property
    def n_cells(self) -> int:
        """Number of cell nodes (series elements of the string)."""
        return self.node_kinds.count("cell")

    @property
    def n_nodes(self) -> int:
        """Number of nodes, cells and auxiliary."""
        return len(self.node_kinds)

    @property
    def n_edges(self) -> int:
        """Number of edges (balancing devices)."""
        return int(self.edges.shape[0])

    @property
    def aux_nodes(self) -> np.ndarray:
        """Indices of the auxiliary nodes."""
        return np.arange(self.n_cells, self.n_nodes)

    def __repr__(self) -> str:
        aux = ", ".join(self.node_names[self.n_cells:])
        return (f"BalancingGraph(kind={self.kind!r}, n_cells={self.n_cells}, aux=[{aux}], "
                f"n_edges={self.n_edges}, weight_unit={self.weight_unit!r})")

    def node_index(self, name: str | int) -> int:
        """Index of a node given by name (or index)."""
        if isinstance(name, int | np.integer):
            if not 0 <= int(name) < self.n_nodes:
                raise ParameterError(f"BalancingGraph: node index must be in [0, {self.n_nodes - 1}]; got {name}.")
            return int(name)
        try:
            return self.node_names.index(str(name))
        except ValueError:
            close = difflib.get_close_matches(str(name), self.node_names, 1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownNameError(f"BalancingGraph: no node named {name!r}.{hint}") from None

    # ------------------------------------------------------------------ matrices
    def incidence(self, sparse: bool = False):
        """Incidence matrix B (n_nodes x n_edges): ``+1`` at each edge's source, ``-1`` at its destination.

        Parameters
        ----------
        sparse : bool
            Return a ``scipy.sparse.csr_matrix`` instead of a dense array.
        """
        m = self.n_edges
        rows = np.concatenate([self.edges[:, 0], self.edges[:, 1]])
        cols = np.concatenate([np.arange(m), np.arange(m)])
        vals = np.concatenate([np.ones(m), -np.ones(m)])
        b = sp.csr_matrix((vals, (rows, cols)), shape=(self.n_nodes, m))
        return b if sparse else b.toarray()

    def laplacian(self, sparse: bool = False):
        """Weighted Laplacian ``L = B W B^T`` over all nodes [weight_unit].

        Symmetric, positive semidefinite, zero row sums; parallel edges add up. ``sparse=True``
        returns CSR (use it for strings of thousands of cells).
        """
        b = self.incidence(sparse=True)
        lap = (b @ sp.diags(self.weights) @ b.T).tocsr()
        return lap if sparse else lap.toarray()

    def series_matrix(self, sparse: bool = False):
        """P (n_nodes x n_cells): node potentials from cell potentials, ``x_nodes = P x_cells``.

        Row ``e_k`` for cell k, ``1_S / |S|`` for a ``"pack"``/``"module"`` node with members S,
        zero for a ``"bus"`` node (eliminated by Kron reduction instead). ``P^T`` maps currents
        delivered to nodes (at cell level) onto the cells.
        """
        rows, cols, vals = [], [], []
        for idx, mem in enumerate(self.members):
            if mem:
                rows.extend([idx] * len(mem))
                cols.extend(mem)
                vals.extend([1.0 / len(mem)] * len(mem))
        p = sp.csr_matrix((vals, (rows, cols)), shape=(self.n_nodes, self.n_cells))
        return p if sparse else p.toarray()

    def membership(self) -> np.ndarray:
        """(n_nodes x n_cells) 0/1 matrix: which cells carry the current delivered to each node.

        A current ``i`` delivered to a ``"pack"`` or ``"module"`` node is a series current through
        every member, so element currents are ``node_current @ membership()``; a series node's
        voltage is the sum of its members' voltages, ``v_nodes = membership() @ v_cells``.
        """
        m = np.zeros((self.n_nodes, self.n_cells))
        for idx, mem in enumerate(self.members):
            m[idx, list(mem)] = 1.0
        return m

    def reduced_laplacian(self, sparse: bool = False):
        """Cell-only Laplacian: Kron reduction of bus nodes, then series projection of pack/module nodes.

        ``L_cells = P^T (L_kk - L_kb L_bb^+ L_bk) P`` (see the module docstring). For a bus star with
        weights ``w_i`` this is the complete graph with weights ``w_i w_j / sum w``; for graphs of
        cells only it is :meth:`laplacian`.

        Parameters
        ----------
        sparse : bool
            Return CSR. Without bus nodes the computation stays sparse; with them the Schur
            complement is dense.
        """
        hubs = [k for k, kind in enumerate(self.node_kinds) if kind in HUB_KINDS]
        has_series = any(kind in SERIES_KINDS for kind in self.node_kinds)
        if not hubs and not has_series:
            return self.laplacian(sparse=sparse)
        keep = np.array([k for k in range(self.n_nodes) if k not in hubs], dtype=np.int64)
        p = self.series_matrix(sparse=True)[keep]
        if not hubs:
            lap = self.laplacian(sparse=True)[keep][:, keep]
            red = (p.T @ lap @ p).tocsr()
            return red if sparse else red.toarray()
        lk = kron_reduce(self.laplacian(sparse=True), keep)
        red = np.asarray(p.T @ np.asarray(p.T @ lk).T)
        red = 0.5 * (red + red.T)
        return sp.csr_matrix(red) if sparse else red

    # ------------------------------------------------------------------ conversions
    def to_networkx(self):
        """An undirected ``networkx.Graph``: nodes 0..n-1 with ``name``, ``kind``, ``members``; edge ``weight``.

        Parallel edges are merged (weights added, which keeps the Laplacian); the orientation of
        edges is not kept. Graph attributes: ``kind``, ``n_cells``, ``weight_unit``.
        """
        import networkx as nx

        g = nx.Graph(kind=self.kind, n_cells=self.n_cells, weight_unit=self.weight_unit)
        for k, (name, kind, mem) in enumerate(zip(self.node_names, self.node_kinds, self.members, strict=True)):
            g.add_node(k, name=name, kind=kind, members=mem)
        for (a, b), w in zip(self.edges.tolist(), self.weights.tolist(), strict=True):
            if g.has_edge(a, b):
                g[a][b]["weight"] += w
            else:
                g.add_edge(a, b, weight=w)
        return g

    @classmethod
    def from_networkx(cls, g, n_cells: int | None = None, *, weight: str = "weight", kind: str | None = None,
                      weight_unit: str | None = None) -> BalancingGraph:
        """Build from a networkx graph.

        Parameters
        ----------
        g : networkx.Graph
            Node attribute ``kind`` (default ``"cell"``) gives each node's kind, optional ``name``
            and ``members`` (for pack/module nodes). Edge attribute ``weight`` defaults to 1.
        n_cells : int, optional
            For graphs without ``kind`` attributes: the first ``n_cells`` nodes (in sorted order
            if the labels sort, else insertion order) are cells, the others ``"bus"`` nodes.
        weight : str
            Edge attribute holding the weight.
        kind, weight_unit : str, optional
            Default to the graph attributes of the same name, then ``"custom"`` and ``"A/SOC"``.
        """
        nodes = list(g.nodes)
        try:
            nodes = sorted(nodes)
        except TypeError:
            pass
        if n_cells is not None:
            check_range("BalancingGraph.from_networkx", "n_cells", n_cells, ge=1, le=len(nodes))
            kinds_of = {v: ("cell" if k < n_cells else g.nodes[v].get("kind", "bus")) for k, v in enumerate(nodes)}
        else:
            kinds_of = {v: g.nodes[v].get("kind", "cell") for v in nodes}
        cells = [v for v in nodes if kinds_of[v] == "cell"]
        aux = [v for v in nodes if kinds_of[v] != "cell"]
        order = cells + aux
        index = {v: k for k, v in enumerate(order)}
        names = tuple(str(g.nodes[v].get("name", v)) for v in order)
        members = {index[v]: g.nodes[v]["members"] for v in aux if g.nodes[v].get("members")}
        edges = np.array([(index[a], index[b]) for a, b in g.edges], dtype=np.int64).reshape(-1, 2)
        weights = np.array([d.get(weight, 1.0) for _, _, d in g.edges(data=True)], dtype=float)
        return cls(edges, weights, tuple(kinds_of[v] for v in order), names, members or None,
                   kind or g.graph.get("kind", "custom"), weight_unit or g.graph.get("weight_unit", "A/SOC"))

    @classmethod
    def from_edge_list(cls, n_cells: int, edges: Sequence[tuple[Any, Any]], weights=1.0, *,
                       aux_kinds: Sequence[str] = (), aux_names: Sequence[str] | None = None,
                       members: Mapping[Any, Sequence[int]] | None = None, kind: str = "custom",
                       weight_unit: str = "A/SOC") -> BalancingGraph:
        """Build a user-defined graph from a list of node pairs.

        Parameters
        ----------
        n_cells : int
            Number of cells (nodes ``0 .. n_cells-1``).
        edges : sequence of (a, b)
            Node indices, or node names (``"3"``, ``"bus"``, ``"module 1"``).
        weights : float or sequence of float
            Edge weights (broadcast).
        aux_kinds : sequence of str
            Kinds of the auxiliary nodes ``n_cells, n_cells+1, ...``.
        aux_names, members, kind, weight_unit
            As for :class:`BalancingGraph`.

        Examples
        --------
        >>> g = BalancingGraph.from_edge_list(3, [(0, "bus"), (1, "bus"), (2, "bus")], 2.0, aux_kinds=["bus"])
        >>> g.n_nodes, g.n_edges
        (4, 3)
        """
        if isinstance(n_cells, bool) or not isinstance(n_cells, int | np.integer) or n_cells < 1:
            raise ParameterError(f"BalancingGraph.from_edge_list.n_cells must be an integer >= 1; got {n_cells!r}.")
        kinds = ("cell",) * int(n_cells) + tuple(aux_kinds)
        names = _default_names(kinds) if aux_names is None else \
            tuple(str(k) for k in range(n_cells)) + tuple(str(a) for a in aux_names)
        lookup = {s: k for k, s in enumerate(names)}
        pairs = []
        for pair in edges:
            if len(pair) != 2:
                raise ParameterError(f"BalancingGraph.from_edge_list: an edge is a pair of nodes; got {pair!r}.")
            idx = []
            for v in pair:
                if isinstance(v, int | np.integer):
                    idx.append(int(v))
                elif str(v) in lookup:
                    idx.append(lookup[str(v)])
                else:
                    close = difflib.get_close_matches(str(v), names, 1)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    raise UnknownNameError(f"BalancingGraph.from_edge_list: no node named {v!r}.{hint}")
            pairs.append(idx)
        e = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        w = np.broadcast_to(np.asarray(weights, dtype=float), (e.shape[0],))
        return cls(e, w, kinds, names, members, kind, weight_unit)

    @classmethod
    def from_incidence(cls, incidence, weights, node_kinds: Sequence[str], node_names: Sequence[str] | None = None,
                       members: Mapping[Any, Sequence[int]] | None = None, kind: str = "custom",
                       weight_unit: str = "A/SOC") -> BalancingGraph:
        """Build from an incidence matrix B (n_nodes x n_edges) and edge weights W.

        Every column of ``B`` must hold exactly one ``+1`` (the edge's source) and one ``-1`` (its
        destination), zeros elsewhere. ``B`` may be dense or scipy sparse.
        """
        b = incidence.toarray() if sp.issparse(incidence) else np.asarray(incidence, dtype=float)
        if b.ndim != 2 or b.shape[0] != len(node_kinds):
            raise ParameterError(f"BalancingGraph.from_incidence: B must be (n_nodes={len(node_kinds)}, n_edges); "
                                 f"got shape {b.shape}.")
        ok = (np.sum(b == 1, 0) == 1) & (np.sum(b == -1, 0) == 1) & (np.sum(b != 0, 0) == 2)
        if not np.all(ok):
            c = int(np.flatnonzero(~ok)[0])
            raise ParameterError(f"BalancingGraph.from_incidence: column {c} of B must hold one +1 and one -1 "
                                 "and zeros elsewhere.")
        edges = np.stack([np.argmax(b == 1, 0), np.argmax(b == -1, 0)], 1)
        w = np.broadcast_to(np.asarray(weights, dtype=float), (b.shape[1],))
        return cls(edges, w, tuple(node_kinds), None if node_names is None else tuple(node_names), members, kind,
                   weight_unit)
