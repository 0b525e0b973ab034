"""Graph analysis of balancing networks: algebraic connectivity and predicted consensus speed.

With averaged edge currents ``i_e = w_e (z_a - z_b)`` (w in A per unit SOC difference) and equal
capacities Q [C], the SOCs obey the consensus dynamics ``dz/dt = -(1/Q) L z`` (R. Olfati-Saber,
J. A. Fax, R. M. Murray, "Consensus and cooperation in networked multi-agent systems", Proc. IEEE
95 (2007) 215-233). The mean is conserved and every other mode decays at ``lambda_k / Q``; the
slowest is the Fiedler mode, ``tau = Q / lambda_2`` (M. Fiedler, "Algebraic connectivity of
graphs", Czech. Math. J. 23 (1973) 298-305), so a spread falls from s0 to s in about
``tau ln(s0 / s)``. Auxiliary nodes (pack, bus, module hubs) are eliminated by Kron reduction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..balancing.graph import BalancingGraph, available_topologies, get_topology
from ..errors import check_range

__all__ = ["algebraic_connectivity", "compare_topologies", "consensus_time_constant_s", "plot_graph",
           "predicted_balancing_time_s"]


def algebraic_connectivity(graph: BalancingGraph) -> float:
    """lambda_2 of the (Kron-reduced) cell Laplacian; 0 if the cells are not all connected."""
    ev = np.linalg.eigvalsh(graph.reduced_laplacian())
    return float(max(ev[1], 0.0)) if ev.size > 1 else 0.0


def consensus_time_constant_s(graph: BalancingGraph, capacity_Ah: float) -> float:
    """Time constant of the slowest SOC mode, ``Q / lambda_2`` [s] (weights in A per unit SOC)."""
    check_range("consensus_time_constant_s", "capacity_Ah", capacity_Ah, gt=0)
    lam = algebraic_connectivity(graph)
    return np.inf if lam <= 0 else capacity_Ah * 3600.0 / lam


def predicted_balancing_time_s(graph: BalancingGraph, capacity_Ah: float, spread0: float, target: float) -> float:
    """Time for the SOC spread to fall from ``spread0`` to ``target`` under the slowest mode [s]."""
    check_range("predicted_balancing_time_s", "spread0", spread0, gt=0)
    check_range("predicted_balancing_time_s", "target", target, gt=0)
    return consensus_time_constant_s(graph, capacity_Ah) * max(np.log(spread0 / target), 0.0)


def _components(g: BalancingGraph) -> tuple[int, int, int]:
    """(switches, magnetic parts, capacitors): 2 switches and 1 inductor/transformer per converter edge;
    a switched capacitor edge has 1 capacitor and no magnetics; a bus is one multi-winding
    transformer with a switch per winding."""
    m = g.n_edges
    if g.kind == "switched_capacitor":
        return 2 * g.n_cells, 0, m
    if g.kind == "bus":
        return g.n_cells + 1, 1, 0
    return 2 * m, m, 0


def compare_topologies(n_cells: int, *, weight_A: float = 50.0, capacity_Ah: float = 5.0, spread0: float = 0.05,
                       target: float = 0.005, kinds: list[str] | None = None, module_size: int | None = None):
    """A table (pandas DataFrame) comparing topologies for ``n_cells`` at the same per-edge gain.

    ``t_balance`` is the predicted time for the SOC spread to fall from ``spread0`` to ``target``.
    The prediction is linear: it holds while edge currents stay below the converters' limits;
    ``i_edge@spread0`` (gain x initial spread, the largest edge current at the start) says whether
    they would.
    """
    import pandas as pd

    rows = []
    for kind in kinds or available_topologies():
        if kind == "ring" and n_cells < 3:
            continue
        params = {}
        if kind == "switched_capacitor":
            params = {"capacitance_F": weight_A / 10e3, "f_sw_Hz": 10e3}
        elif kind == "modular":
            ms = module_size or next((m for m in (12, 8, 6, 4, 3, 2) if n_cells % m == 0 and m < n_cells), None)
            if ms is None:
                continue
            params = {"module_size": ms, "weight": weight_A}
        else:
            params = {"weight": weight_A}
        g = get_topology(kind, n_cells, **params)
        lam = algebraic_connectivity(g)
        sw, mag, cap = _components(g)
        rows.append({
            "topology": kind,
            "edges": g.n_edges,
            "lambda_2 [A/SOC]": lam,
            "tau [h]": consensus_time_constant_s(g, capacity_Ah) / 3600.0,
            "t_balance [h]": predicted_balancing_time_s(g, capacity_Ah, spread0, target) / 3600.0,
            "i_edge@spread0 [A]": weight_A * spread0,
            "switches": sw,
            "magnetics": mag,
            "capacitors": cap,
        })
    return pd.DataFrame(rows)


def plot_graph(graph: BalancingGraph, path: str | Path) -> Path:
    """Draw the network (cells blue, auxiliary nodes orange), edge width ~ weight."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    g = graph.to_networkx()
    if graph.kind in ("ring", "adjacent", "switched_capacitor", "complete"):
        pos = nx.circular_layout(g)
    else:
        pos = nx.kamada_kawai_layout(g) if g.number_of_nodes() <= 200 else nx.spring_layout(g, seed=1)
    colours = ["tab:blue" if d["cell"] else "tab:orange" for _, d in g.nodes(data=True)]
    w = np.array([d["weight"] for _, _, d in g.edges(data=True)])
    fig, ax = plt.subplots(figsize=(6, 6))
    nx.draw_networkx(g, pos, ax=ax, node_color=colours, node_size=60 if graph.n_nodes > 40 else 200,
                     with_labels=graph.n_nodes <= 40, font_size=7, width=0.5 + 2.0 * w / w.max())
    ax.set_title(f"{graph.kind}: {graph.n_cells} cells, {graph.n_edges} edges, "
                 f"lambda_2 = {algebraic_connectivity(graph):.4g}")
    ax.axis("off")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p
