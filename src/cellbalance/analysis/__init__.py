"""Analysis of simulated packs and balancing networks.

Graph analysis (:mod:`.graph`): algebraic connectivity, predicted consensus (balancing) time,
topology comparison table, graph plot. Pack metrics (:mod:`.metrics`) and figures (:mod:`.plots`)
are loaded on first use.
"""

from __future__ import annotations

import importlib

from .graph import (
    algebraic_connectivity,
    compare_topologies,
    consensus_rate_per_s,
    consensus_time_constant_s,
    fiedler_vector,
    parts_count,
    plot_graph,
    predicted_balancing_time_s,
)

__all__ = [
    "algebraic_connectivity",
    "compare_topologies",
    "consensus_rate_per_s",
    "consensus_time_constant_s",
    "fiedler_vector",
    "metrics",
    "parts_count",
    "plot_graph",
    "plots",
    "predicted_balancing_time_s",
]


def __getattr__(name: str):
    if name in ("metrics", "plots"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
