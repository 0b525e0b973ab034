"""Balancing networks: Laplacian properties, closed-form algebraic connectivity, Kron reduction."""

import networkx as nx
import numpy as np
import pytest

from cellbalance.analysis.graph import algebraic_connectivity, compare_topologies, consensus_time_constant_s
from cellbalance.balancing.graph import BalancingGraph, available_topologies, get_topology
from cellbalance.errors import ParameterError, UnknownNameError


@pytest.mark.parametrize("kind", available_topologies())
@pytest.mark.parametrize("n", [4, 12, 96])
def test_laplacian_is_symmetric_psd_with_zero_row_sums(kind, n):
    g = get_topology(kind, n, **({"module_size": 4} if kind == "modular" else {}))
    for lap in (g.laplacian(), g.reduced_laplacian()):
        assert np.allclose(lap, lap.T, atol=1e-12)
        assert np.abs(lap.sum(1)).max() < 1e-9
        assert np.linalg.eigvalsh(lap).min() > -1e-9
    assert algebraic_connectivity(g) > 0  # every topology connects all the cells


@pytest.mark.parametrize("n", [3, 5, 16, 96])
def test_lambda2_closed_forms(n):
    assert algebraic_connectivity(get_topology("adjacent", n)) == pytest.approx(2 - 2 * np.cos(np.pi / n), abs=1e-9)
    assert algebraic_connectivity(get_topology("ring", n)) == pytest.approx(2 - 2 * np.cos(2 * np.pi / n), abs=1e-9)
    assert algebraic_connectivity(get_topology("complete", n)) == pytest.approx(n, abs=1e-9)


def test_bus_reduces_to_a_complete_graph():
    n, w = 7, 2.5
    red = get_topology("bus", n, weight=w).reduced_laplacian()
    expected = get_topology("complete", n, weight=w * w / (n * w)).laplacian()
    assert np.allclose(red, expected, atol=1e-12)
    assert algebraic_connectivity(get_topology("bus", n, weight=w)) == pytest.approx(w, abs=1e-9)


def test_networkx_round_trip_and_edge_list():
    g = get_topology("modular", 12, module_size=4)
    h = BalancingGraph.from_networkx(g.to_networkx(), n_cells=12)
    assert np.allclose(h.laplacian(), g.laplacian())
    path = BalancingGraph.from_edge_list(4, [(0, 1), (1, 2), (2, 3)], 1.0)
    assert np.allclose(path.laplacian(), nx.laplacian_matrix(nx.path_graph(4)).toarray())


def test_consensus_prediction_matches_simulated_linear_dynamics():
    from scipy.linalg import expm

    g = get_topology("ring", 10, weight=0.5)
    q_ah = 2.0
    tau = consensus_time_constant_s(g, q_ah)
    z0 = np.random.default_rng(0).uniform(0.4, 0.6, 10)
    lap = g.laplacian()
    z = expm(-lap / (q_ah * 3600) * 5 * tau) @ z0
    assert z.mean() == pytest.approx(z0.mean(), abs=1e-12)
    # after 5 tau the deviation is at most e^-5 of the start (slowest mode)
    assert np.linalg.norm(z - z.mean()) <= np.exp(-5) * np.linalg.norm(z0 - z0.mean()) * (1 + 1e-9)


def test_comparison_table_and_errors():
    t = compare_topologies(96, weight_A=1.0, capacity_Ah=5.0)
    assert set(t.topology) == set(available_topologies())
    lam = dict(zip(t.topology, t["lambda_2 [A/SOC]"], strict=True))
    assert lam["complete"] > lam["bus"] > lam["ring"] > lam["adjacent"]
    with pytest.raises(UnknownNameError, match="Did you mean 'ring'"):
        get_topology("rign", 8)
    with pytest.raises(ParameterError, match=r"weights must be > 0"):
        get_topology("adjacent", 8, weight=-1.0)
    with pytest.raises(ParameterError, match="module_size must be an integer >= 2 dividing n_cells=10"):
        get_topology("modular", 10, module_size=4)
