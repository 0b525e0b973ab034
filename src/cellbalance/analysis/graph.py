"""Graph analysis of balancing networks: algebraic connectivity, consensus time, topology comparison.

Mapping from edge gains to a consensus rate. Let every converter edge move the current
``i_e = k w_e (z_a - z_b)`` [A] (a proportional SOC-difference controller with per-edge gain ``k``
[A per unit SOC] times the graph's relative weight ``w_e``), and let every cell have the capacity
``Q`` [C] (``Q = 3600 capacity_Ah``). Charge conservation at the cells gives the consensus dynamics

    ``Q dz/dt = -k L z``,  i.e.  ``dz/dt = -(k/Q) L z``,

with ``L`` the cell-only (reduced) Laplacian of :meth:`BalancingGraph.reduced_laplacian`
(R. Olfati-Saber, J. A. Fax, R. M. Murray, "Consensus and cooperation in networked multi-agent
systems", Proc. IEEE 95 (2007) 215-233). The mean SOC is conserved (``1^T L = 0``); every other
mode ``v_j`` decays as ``exp(-k lambda_j t / Q)``. The slowest is the Fiedler mode, with the
algebraic connectivity ``lambda_2`` (M. Fiedler, "Algebraic connectivity of graphs", Czech. Math.
J. 23 (1973) 298-305):

    ``tau = Q / (k lambda_2)``  [s],

and a spread that starts at ``s0`` is predicted to fall to ``s`` after ``t = tau ln(s0 / s)``
(for the 2-norm of the deviation from the mean this is an upper bound; for the max-min spread an
estimate once the slowest mode dominates). For a switched-capacitor graph (weights in S) the
current is ``(V_a - V_b)/R_eq ~ (dU/dz)(z_a - z_b)/R_eq``, so ``k = dU_oc/dz`` [V per unit SOC].
With unequal capacities ``Q_i`` the rates are the generalised eigenvalues of ``L v = mu Q v``.

The prediction is linear: it holds while no converter saturates (initial edge current
``k w spread0`` below the converter's limit) and for bidirectional edges.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..balancing.graph import BalancingGraph
from ..balancing.topologies import available_topologies, get_topology
from ..errors import ParameterError, check_range, warn

__all__ = [
    "algebraic_connectivity",
    "compare_topologies",
    "consensus_rate_per_s",
    "consensus_time_constant_s",
    "fiedler_vector",
    "graph_figure",
    "parts_count",
    "plot_graph",
    "predicted_balancing_time_s",
    "topology_graph",
]

#: above this many cells (and without bus nodes) the sparse eigen-solver is used
SPARSE_THRESHOLD = 1500
#: plot_graph draws graphs of at most this many cells
PLOT_MAX_CELLS = 2000


def _laplacian(graph_or_laplacian, sparse: bool):
    if isinstance(graph_or_laplacian, BalancingGraph):
        return graph_or_laplacian.reduced_laplacian(sparse=sparse)
    lap = graph_or_laplacian
    if sp.issparse(lap):
        return lap.tocsr() if sparse else lap.toarray()
    lap = np.asarray(lap, dtype=float)
    if lap.ndim != 2 or lap.shape[0] != lap.shape[1]:
        raise ParameterError(f"algebraic_connectivity: a Laplacian must be square; got shape {lap.shape}.")
    return sp.csr_matrix(lap) if sparse else lap


def _use_sparse(graph_or_laplacian, sparse: bool | None) -> bool:
    if sparse is not None:
        return bool(sparse)
    if isinstance(graph_or_laplacian, BalancingGraph):
        g = graph_or_laplacian
        return g.n_cells > SPARSE_THRESHOLD and "bus" not in g.node_kinds
    return sp.issparse(graph_or_laplacian) and graph_or_laplacian.shape[0] > SPARSE_THRESHOLD


def _connected(lap) -> bool:
    """True if the off-diagonal pattern of a Laplacian connects all nodes."""
    from scipy.sparse.csgraph import connected_components

    a = sp.csr_matrix(lap)
    tol = 1e-14 * max(float(np.abs(a.diagonal()).max()), 1e-300)
    a = (a - sp.diags(a.diagonal())).tocsr()
    a.data = (np.abs(a.data) > tol).astype(float)
    a.eliminate_zeros()
    return connected_components(a, directed=False)[0] == 1


def _two_smallest(lap, sparse: bool):
    """(eigenvalues, eigenvectors) of the two smallest eigenpairs of a symmetric PSD matrix."""
    n = lap.shape[0]
    if n == 1:
        return np.zeros(1), np.ones((1, 1))
    if not sparse:
        ev, vec = np.linalg.eigh(lap)
        return ev[:2], vec[:, :2]
    from scipy.sparse.linalg import eigsh

    diag = lap.diagonal()
    # a shift near lambda_2 (about d/n^2 for a path, the worst case) keeps the two smallest well apart
    # after the inversion; -1e-3 d alone stalls ARPACK on strings of tens of thousands of cells
    sigma = -min(1e-3, 1.0 / n**2) * float(diag.mean()) if diag.mean() > 0 else -1.0
    try:
        ev, vec = eigsh(lap.tocsc(), k=2, sigma=sigma, which="LM", tol=1e-13)
    except (ArithmeticError, RuntimeError, ValueError) as e:  # ArpackError / ArpackNoConvergence
        if n > 5000:
            raise ParameterError(f"algebraic_connectivity: the sparse eigen-solver failed on this graph of {n} "
                                 f"cells ({type(e).__name__}: {e}); are its weights far from 1e-9 .. 1e9?") from None
        ev, vec = np.linalg.eigh(lap.toarray())
        return ev[:2], vec[:, :2]
    order = np.argsort(ev)
    return ev[order], vec[:, order]


def _reduced_operator(g: BalancingGraph):
    """The cell-only Laplacian of ``g`` as a sparse linear operator (never formed: with a bus or a pack
    node it is dense): ``P^T (L_kk - L_kb L_bb^-1 L_bk) P x``, from the sparse Laplacian over all nodes."""
    from scipy.sparse.linalg import LinearOperator, factorized

    from ..balancing.graph import HUB_KINDS

    lap = g.laplacian(sparse=True).tocsr()
    hubs = np.array([k for k, kind in enumerate(g.node_kinds) if kind in HUB_KINDS], dtype=np.int64)
    keep = np.array([k for k in range(g.n_nodes) if g.node_kinds[k] not in HUB_KINDS], dtype=np.int64)
    p = g.series_matrix(sparse=True)[keep].tocsr()
    lkk = lap[keep][:, keep].tocsr()
    if hubs.size:
        lkb = lap[keep][:, hubs].tocsr()
        solve = factorized(lap[hubs][:, hubs].tocsc())
    n = g.n_cells

    def mv(x):
        y = p @ np.ravel(x)
        z = lkk @ y
        if hubs.size:
            z = z - lkb @ np.atleast_1d(solve(lkb.T @ y))
        return p.T @ z

    return LinearOperator((n, n), matvec=mv, dtype=float)


def _dense_reduction(g: BalancingGraph) -> bool:
    """A large graph whose cell-only Laplacian is dense (a bus node, or a series node over many cells)."""
    if g.n_cells <= SPARSE_THRESHOLD:
        return False
    return any(kind == "bus" or len(mem) > 64 for kind, mem in zip(g.node_kinds, g.members, strict=True))


def _lambda2_operator(g: BalancingGraph) -> float:
    """lambda_2 of a large graph with bus, pack or module nodes, on the complement of the all-ones vector
    (Lanczos on the operator of :func:`_reduced_operator`; such graphs have a wide spectral gap)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    op = _reduced_operator(g)
    n = op.shape[0]
    ones = np.ones(n) / np.sqrt(n)

    def proj(x):
        x = np.ravel(x)
        return x - ones * (ones @ x)

    deflated = LinearOperator((n, n), matvec=lambda x: proj(op @ proj(x)), dtype=float)
    v0 = proj(np.cos(np.arange(n) * 1.618))
    # the two smallest on 1-perp: 0 (the ones direction, if Lanczos finds it) and lambda_2
    try:
        ev = eigsh(deflated, k=2, which="SA", tol=1e-10, v0=v0, maxiter=20 * n, return_eigenvectors=False)
    except (ArithmeticError, RuntimeError, ValueError) as e:
        raise ParameterError(f"algebraic_connectivity: the eigen-solver failed on this graph of {n} cells "
                             f"({type(e).__name__}: {e}).") from None
    return max(float(ev.max()), 0.0)


def algebraic_connectivity(graph, *, sparse: bool | None = None) -> float:
    """Algebraic connectivity ``lambda_2`` (Fiedler value) of the cell-only Laplacian.

    Parameters
    ----------
    graph : BalancingGraph or (n, n) array / sparse matrix
        A balancing graph (its :meth:`~BalancingGraph.reduced_laplacian` is used) or a Laplacian.
    sparse : bool, optional
        Use the sparse shift-invert eigen-solver (default: for more than ``SPARSE_THRESHOLD`` cells
        without bus nodes).

    Returns
    -------
    float
        ``lambda_2`` in the graph's weight unit; 0 if the cells are not all connected.
        Closed forms for unit weights: path ``2 - 2 cos(pi/N)``, cycle ``2 - 2 cos(2 pi/N)``,
        complete graph ``N``.
    """
    if isinstance(graph, BalancingGraph) and sparse is not False and _dense_reduction(graph):
        return _lambda2_operator(graph)
    use = _use_sparse(graph, sparse)
    lap = _laplacian(graph, use)
    if lap.shape[0] < 2:
        return 0.0
    if not _connected(lap):
        _warn_unconnected(lap)
        return 0.0
    ev, _ = _two_smallest(lap, use)
    return max(float(ev[1]), 0.0)


def _warn_unconnected(lap) -> None:
    """Warn that the graph leaves cells unconnected (lambda_2 = 0: those cells are never balanced)."""
    from scipy.sparse.csgraph import connected_components

    a = sp.csr_matrix(lap)
    a = (a - sp.diags(a.diagonal())).tocsr()
    a.data = (np.abs(a.data) > 0).astype(float)
    a.eliminate_zeros()
    n_comp, labels = connected_components(a, directed=False)
    sizes = np.bincount(labels)
    main = int(np.argmax(sizes))
    alone = np.flatnonzero(labels != main)
    shown = ", ".join(str(int(c)) for c in alone[:10]) + (f" and {alone.size - 10} more" if alone.size > 10 else "")
    warn(f"the balancing graph falls into {n_comp} unconnected parts: cell(s) {shown} are not linked to the other "
         f"{int(sizes[main])} cells, so lambda_2 = 0 and they are never balanced. A missing edge in the edge list "
         "(cells are numbered from 0)?", stacklevel=4)


def fiedler_vector(graph, *, sparse: bool | None = None) -> np.ndarray:
    """Unit eigenvector of ``lambda_2``: the shape of the slowest SOC mode over the cells.

    Its sign pattern splits the string into the two groups that balance against each other
    last. The sign of the vector is fixed so that its first nonzero entry is negative.
    """
    use = _use_sparse(graph, sparse)
    _, vec = _two_smallest(_laplacian(graph, use), use)
    if vec.shape[1] < 2:
        return np.zeros(vec.shape[0])
    v = vec[:, 1] / np.linalg.norm(vec[:, 1])
    nz = np.flatnonzero(np.abs(v) > 1e-12)
    return -v if nz.size and v[nz[0]] > 0 else v


def _capacity_C(capacity_Ah, n: int, owner: str) -> np.ndarray:
    q = np.asarray(capacity_Ah, dtype=float)
    check_range(owner, "capacity_Ah", q, gt=0)
    if q.ndim == 0:
        return np.full(n, float(q) * 3600.0)
    if q.shape != (n,):
        raise ParameterError(f"{owner}.capacity_Ah must be a scalar or one value per cell ({n}); got shape {q.shape}.")
    return q * 3600.0


def consensus_rate_per_s(graph: BalancingGraph, capacity_Ah, gain: float = 1.0) -> float:
    """Decay rate of the slowest SOC mode, ``k lambda_2 / Q`` [1/s] (0 if not connected).

    Parameters
    ----------
    graph : BalancingGraph
    capacity_Ah : float or (n_cells,) array
        Cell capacity [Ah]; per cell, the generalised eigenproblem ``L v = mu Q v`` is solved.
    gain : float
        ``k``: multiplies the graph's weights to give A per unit SOC difference (1 if the weights
        already are gains in A/SOC; ``dU_oc/dz`` [V] for a switched-capacitor graph in S).
    """
    o = "consensus_rate_per_s"
    check_range(o, "gain", gain, gt=0)
    q = _capacity_C(capacity_Ah, graph.n_cells, o)
    if np.all(q == q[0]):
        return float(gain) * algebraic_connectivity(graph) / float(q[0])
    if graph.n_cells < 2:
        return 0.0
    if graph.n_cells > SPARSE_THRESHOLD:
        raise ParameterError(f"{o}: per-cell capacities are solved densely, up to {SPARSE_THRESHOLD} cells; got "
                             f"{graph.n_cells}. Give one capacity for all cells.")
    from scipy.linalg import eigh

    lap = graph.reduced_laplacian()
    if not _connected(lap):
        return 0.0
    mu = eigh(lap, np.diag(q), eigvals_only=True, subset_by_index=[0, 1])
    return float(gain) * max(float(mu[1]), 0.0)


def consensus_time_constant_s(graph: BalancingGraph, capacity_Ah, gain: float = 1.0) -> float:
    """Time constant of the slowest SOC mode, ``tau = Q / (k lambda_2)`` [s] (inf if not connected).

    See :func:`consensus_rate_per_s` for the parameters and the module docstring for the mapping.
    """
    rate = consensus_rate_per_s(graph, capacity_Ah, gain)
    return np.inf if rate <= 0 else 1.0 / rate


def predicted_balancing_time_s(graph: BalancingGraph, capacity_Ah, spread0: float, target: float,
                               gain: float = 1.0) -> float:
    """Predicted time for the SOC spread to fall from ``spread0`` to ``target``: ``tau ln(spread0/target)`` [s].

    Parameters
    ----------
    graph : BalancingGraph
    capacity_Ah : float or array
        Cell capacity [Ah].
    spread0, target : float
        Initial and target SOC spread (fractions, > 0). 0 if ``target >= spread0``.
    gain : float
        Per-edge gain multiplier (see :func:`consensus_rate_per_s`).
    """
    o = "predicted_balancing_time_s"
    check_range(o, "spread0", spread0, gt=0)
    check_range(o, "target", target, gt=0)
    if target >= spread0:
        return 0.0
    return consensus_time_constant_s(graph, capacity_Ah, gain) * float(np.log(spread0 / target))


def _member_bounds(g: BalancingGraph) -> tuple[list[int], list[int]]:
    """Lowest and highest member cell of every node (-1 for a node without members, e.g. a bus)."""
    lo = [min(m) if m else -1 for m in g.members]
    hi = [max(m) if m else -1 for m in g.members]
    return lo, hi


def _adjacent_groups(bounds, a: int, b: int) -> bool:
    """True if nodes a and b are cells or series groups that touch in the string (no isolation needed)."""
    lo, hi = bounds
    if lo[a] < 0 or lo[b] < 0:
        return False
    return hi[a] + 1 == lo[b] or hi[b] + 1 == lo[a]


def parts_count(graph: BalancingGraph) -> dict[str, int]:
    """Components the topology needs, by documented per-edge rules.

    Rules (power stage only; gate drivers, sensing and filter capacitors not counted):

    * conductance graph (switched capacitors, weights in S): one capacitor per edge and two
      MOSFETs per cell touched (the cell's single-pole double-throw switch; Pascual & Krein 1997);
    * edge between neighbouring cells, or neighbouring modules (groups that touch in the string):
      a non-isolated bidirectional buck-boost, 2 switches + 1 inductor;
    * edge to a ``"bus"`` node: one winding of that bus's multi-winding transformer with one switch
      (bidirectional through its body diode / synchronous operation); 1 transformer per bus node;
    * any other edge (cell to pack, cell to a non-adjacent cell, cell to module): an isolated
      bidirectional flyback, 2 switches + 1 transformer.

    Returns
    -------
    dict
        ``switches``, ``inductors``, ``transformers``, ``capacitors`` (counts).
    """
    out = {"switches": 0, "inductors": 0, "transformers": 0, "capacitors": 0}
    if graph.weight_unit == "S":
        out["capacitors"] = graph.n_edges
        out["switches"] = 2 * int(np.unique(graph.edges).size)
        return out
    kinds = graph.node_kinds
    used_bus = set()
    bounds = _member_bounds(graph)
    for a, b in graph.edges.tolist():
        if kinds[a] == "bus" or kinds[b] == "bus":
            out["switches"] += 1
            used_bus.update(x for x in (a, b) if kinds[x] == "bus")
        elif _adjacent_groups(bounds, a, b):
            out["switches"] += 2
            out["inductors"] += 1
        else:
            out["switches"] += 2
            out["transformers"] += 1
    out["transformers"] += len(used_bus)
    return out


def _default_module_size(n_cells: int) -> int | None:
    return next((m for m in (12, 8, 6, 4, 3, 2) if n_cells % m == 0 and m < n_cells), None)


def topology_graph(kind: str, n_cells: int, *, weight_A: float = 50.0, module_size: int | None = None,
                   docv_dsoc_V: float = 0.7, sc_f_sw_Hz: float = 10e3) -> tuple[BalancingGraph, float]:
    """The graph of topology ``kind`` as :func:`compare_topologies` builds it, and the factor ``gain``
    turning its weights into A per unit SOC (``lambda_2 [A/SOC] = gain * algebraic_connectivity``):
    every converter edge gets ``weight_A`` (gain 1); the switched capacitors get the capacitance
    ``C = weight_A / (f_sw dU/dz)`` of the same gain (weights in S, gain ``dU/dz``)."""
    if kind == "switched_capacitor":
        return get_topology(kind, n_cells, capacitance_F=weight_A / (sc_f_sw_Hz * docv_dsoc_V),
                            f_sw_Hz=sc_f_sw_Hz), docv_dsoc_V
    if kind == "modular":
        ms = module_size or _default_module_size(n_cells)
        if ms is None:
            raise ParameterError(f"compare_topologies: no module size divides n_cells={n_cells}; pass module_size.")
        return get_topology(kind, n_cells, module_size=ms, weight=weight_A), 1.0
    return get_topology(kind, n_cells, weight=weight_A), 1.0


def compare_topologies(n_cells: int, *, weight_A: float = 50.0, capacity_Ah: float = 5.0, spread0: float = 0.05,
                       target: float = 0.005, kinds: list[str] | None = None, module_size: int | None = None,
                       docv_dsoc_V: float = 0.7, sc_f_sw_Hz: float = 10e3):
    """A table (pandas DataFrame) comparing balancing topologies for a string of ``n_cells``.

    Every converter edge gets the same gain ``weight_A`` [A per unit SOC difference]; the
    switched-capacitor topology gets a capacitance chosen for the same gain,
    ``f_sw C dU/dz = weight_A`` (so its row shows the capacitance that would need).

    Parameters
    ----------
    n_cells : int
        Series cells.
    weight_A : float
        Per-edge gain k [A per unit SOC].
    capacity_Ah : float
        Cell capacity [Ah].
    spread0, target : float
        Initial and target SOC spread for the predicted balancing time.
    kinds : list of str, optional
        Topologies to compare (default: all registered; ``ring`` is skipped below 3 cells and
        ``modular`` when no module size divides ``n_cells``).
    module_size : int, optional
        Cells per module for ``modular`` (default: the largest of 12, 8, 6, 4, 3, 2 dividing N).
    docv_dsoc_V : float
        OCV slope [V per unit SOC] converting switched-capacitor conductance into SOC gain.
    sc_f_sw_Hz : float
        Switching frequency of the switched capacitors [Hz].

    Returns
    -------
    pandas.DataFrame
        Columns: ``topology``, ``edges``, ``lambda_2 [A/SOC]`` (of the reduced Laplacian with the
        gains applied), ``tau [h]`` (``Q / lambda_2``), ``t_balance [h]`` (``tau ln(spread0/target)``),
        ``i_edge@spread0 [A]`` (largest initial edge current, ``k spread0``: the prediction holds
        while this is within the converter limit), and the parts of :func:`parts_count`.
    """
    import pandas as pd

    o = "compare_topologies"
    # gains far outside 1e-9 .. 1e12 A/SOC are no converter and leave the eigen-solvers without digits
    check_range(o, "weight_A", weight_A, ge=1e-9, le=1e12)
    check_range(o, "capacity_Ah", capacity_Ah, gt=0)
    check_range(o, "spread0", spread0, gt=0)
    check_range(o, "target", target, gt=0)
    check_range(o, "docv_dsoc_V", docv_dsoc_V, gt=0)
    check_range(o, "sc_f_sw_Hz", sc_f_sw_Hz, gt=0)
    rows = []
    for kind in kinds or available_topologies():
        if kind == "ring" and n_cells < 3 and kinds is None:
            continue
        if kind == "modular" and kinds is None and (module_size or _default_module_size(n_cells)) is None:
            continue
        if kind == "complete" and n_cells > SPARSE_THRESHOLD:
            rows.append(_complete_row(n_cells, weight_A, capacity_Ah, spread0, target))
            continue
        g, gain = topology_graph(kind, n_cells, weight_A=weight_A, module_size=module_size, docv_dsoc_V=docv_dsoc_V,
                                 sc_f_sw_Hz=sc_f_sw_Hz)
        lam = gain * algebraic_connectivity(g)
        tau_h = np.inf if lam <= 0 else capacity_Ah / lam  # Q / (k lambda_2), in hours
        row = {
            "topology": kind,
            "edges": g.n_edges,
            "lambda_2 [A/SOC]": lam,
            "tau [h]": tau_h,
            "t_balance [h]": tau_h * max(float(np.log(spread0 / target)), 0.0),
            "i_edge@spread0 [A]": weight_A * spread0,
        }
        row.update(parts_count(g))
        rows.append(row)
    return pd.DataFrame(rows)


def _complete_row(n: int, weight_A: float, capacity_Ah: float, spread0: float, target: float) -> dict:
    """The complete graph's row in closed form (its N(N-1)/2 edges are not built for large N):
    ``lambda_2 = N k``; N-1 edges join neighbours (buck-boost), the others are isolated flybacks."""
    edges = n * (n - 1) // 2
    lam = float(n) * weight_A
    tau_h = capacity_Ah / lam
    return {"topology": "complete", "edges": edges, "lambda_2 [A/SOC]": lam, "tau [h]": tau_h,
            "t_balance [h]": tau_h * max(float(np.log(spread0 / target)), 0.0), "i_edge@spread0 [A]": weight_A * spread0,
            "switches": 2 * edges, "inductors": n - 1, "transformers": edges - (n - 1), "capacitors": 0}


def _layout(graph: BalancingGraph) -> dict[int, np.ndarray]:
    """Cells on a circle (string order), hubs at the centre, module nodes inside their cells' arc."""
    n = graph.n_cells
    ang = np.pi / 2 - 2 * np.pi * np.arange(n) / n  # clockwise from the top
    pos = {k: np.array([np.cos(a), np.sin(a)]) for k, a in zip(range(n), ang, strict=True)}
    hubs = [k for k in graph.aux_nodes if not graph.members[k] or len(graph.members[k]) == n]
    for j, k in enumerate(hubs):
        pos[int(k)] = np.array([0.0, 0.15 * (j - (len(hubs) - 1) / 2)])
    for k in graph.aux_nodes:
        k = int(k)
        if k in pos:
            continue
        mem = list(graph.members[k])
        c = np.mean([pos[c] for c in mem], axis=0)
        pos[k] = 0.65 * c / max(np.linalg.norm(c), 1e-9)
    return pos


def plot_graph(graph: BalancingGraph, path: str | Path, *, title: str | None = None, dpi: int = 110,
               gain: float = 1.0, unit: str | None = None) -> Path:
    """Draw a balancing network to an image file (matplotlib Agg canvas, no display needed).

    Cells are blue, in string order on a circle; pack/bus hubs orange at the centre; module nodes
    green inside their cells' arc, dotted to their first and last cell. Edge width grows with
    weight. The title gives ``lambda_2``.

    Parameters
    ----------
    graph : BalancingGraph
    path : str or Path
        Output file (format from the suffix, e.g. ``.png``, ``.svg``); parent folders are created.
    title : str, optional
        Default: kind, cells, edges and ``lambda_2`` (``gain`` times the graph's, in ``unit``).
    dpi : int
        Resolution for raster formats.
    gain, unit : float, str
        Factor and unit of the ``lambda_2`` in the title (default: the graph's weights and weight
        unit); :func:`topology_graph` gives the pair that :func:`compare_topologies` uses.

    Returns
    -------
    Path
        The file written.
    """
    fig = graph_figure(graph, title=title, gain=gain, unit=unit)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi)
    return p


def graph_figure(graph: BalancingGraph, *, title: str | None = None, gain: float = 1.0, unit: str | None = None):
    """The matplotlib Figure of :func:`plot_graph` (not saved)."""
    if graph.n_cells > PLOT_MAX_CELLS:
        raise ParameterError(f"plot_graph: draws at most {PLOT_MAX_CELLS} cells; got {graph.n_cells}.")
    import networkx as nx
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    g = graph.to_networkx()
    pos = _layout(graph)
    colour = {"cell": "tab:blue", "pack": "tab:orange", "bus": "tab:orange", "module": "tab:green"}
    node_colours = [colour[d["kind"]] for _, d in g.nodes(data=True)]
    w = np.array([d["weight"] for _, _, d in g.edges(data=True)]) if g.number_of_edges() else np.ones(0)
    widths = 1.0 + 2.0 * w / w.max() if w.size else 1.0
    fig = Figure(figsize=(6, 6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    big = graph.n_nodes > 40
    for k in graph.aux_nodes:  # module membership: dotted lines to the first and last member
        mem = graph.members[int(k)]
        if graph.node_kinds[int(k)] == "module":
            for c in (mem[0], mem[-1]):
                ax.plot(*np.transpose([pos[int(k)], pos[c]]), ls=":", lw=0.8, color="tab:green", alpha=0.7)
    nx.draw_networkx_edges(g, pos, ax=ax, width=widths, alpha=0.6)
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=node_colours, node_size=25 if big else 220)
    if not big:
        nx.draw_networkx_labels(g, pos, ax=ax, labels={k: d["name"].replace("module ", "M") for k, d in g.nodes(data=True)},
                                font_size=7)
    lam = gain * algebraic_connectivity(graph)
    ax.set_title(title or f"{graph.kind}: {graph.n_cells} cells, {graph.n_edges} edges, "
                          f"lambda_2 = {lam:.4g} {unit or graph.weight_unit}")
    ax.set_aspect("equal")
    ax.axis("off")
    return fig
