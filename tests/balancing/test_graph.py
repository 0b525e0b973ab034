"""Balancing graphs: Laplacian properties, closed-form algebraic connectivity, Kron reduction, analysis."""

import networkx as nx
import numpy as np
import pytest
from scipy.linalg import expm

from cellbalance.analysis.graph import (
    algebraic_connectivity,
    compare_topologies,
    consensus_rate_per_s,
    consensus_time_constant_s,
    fiedler_vector,
    parts_count,
    plot_graph,
    predicted_balancing_time_s,
)
from cellbalance.balancing import topologies
from cellbalance.balancing.graph import BalancingGraph, kron_reduce
from cellbalance.balancing.topologies import (
    available_topologies,
    get_topology,
    modular,
    register_topology,
    switched_capacitor_conductance,
)
from cellbalance.errors import ParameterError, UnknownNameError


def _params(kind):
    return {"module_size": 4} if kind == "modular" else {}


def _assert_laplacian(lap):
    assert np.allclose(lap, lap.T, atol=1e-12, rtol=0)
    scale = np.abs(lap).max()
    assert np.abs(lap.sum(1)).max() <= 1e-12 * scale
    assert np.linalg.eigvalsh(lap).min() >= -1e-12 * scale


@pytest.mark.parametrize("kind", available_topologies())
@pytest.mark.parametrize("n", [4, 12, 96])
def test_laplacian_is_symmetric_psd_with_zero_row_sums(kind, n):
    g = get_topology(kind, n, **_params(kind))
    b, w = g.incidence(), g.weights
    assert b.shape == (g.n_nodes, g.n_edges)
    assert np.array_equal(np.sort(b, 0)[[0, -1]], np.stack([-np.ones(g.n_edges), np.ones(g.n_edges)]))
    lap = g.laplacian()
    assert np.allclose(lap, b @ np.diag(w) @ b.T, rtol=0, atol=1e-12)
    assert np.allclose(g.laplacian(sparse=True).toarray(), lap, rtol=0, atol=0)
    red = g.reduced_laplacian()
    assert red.shape == (n, n)
    assert np.allclose(g.reduced_laplacian(sparse=True).toarray(), red, rtol=0, atol=1e-12)
    for m in (lap, red):
        _assert_laplacian(m)
    assert algebraic_connectivity(g) > 0  # every topology connects all the cells


@pytest.mark.parametrize("n", [3, 5, 16, 96])
def test_lambda2_closed_forms(n):
    assert algebraic_connectivity(get_topology("adjacent", n)) == pytest.approx(2 - 2 * np.cos(np.pi / n), abs=1e-9)
    assert algebraic_connectivity(get_topology("ring", n)) == pytest.approx(2 - 2 * np.cos(2 * np.pi / n), abs=1e-9)
    assert algebraic_connectivity(get_topology("complete", n)) == pytest.approx(n, abs=1e-9)


def test_lambda2_sparse_solver_for_long_strings():
    n = 3000
    for kind, exact in (("adjacent", 2 - 2 * np.cos(np.pi / n)), ("ring", 2 - 2 * np.cos(2 * np.pi / n))):
        g = get_topology(kind, n)
        assert algebraic_connectivity(g) == pytest.approx(exact, abs=1e-9, rel=1e-6)  # auto: sparse above 1500
    g = get_topology("ring", 200, weight=3.0)
    assert algebraic_connectivity(g, sparse=True) == pytest.approx(algebraic_connectivity(g, sparse=False), rel=1e-9)


def test_bus_star_kron_reduces_to_the_complete_graph():
    n, w = 7, 2.5
    red = get_topology("bus", n, weight=w).reduced_laplacian()
    expected = get_topology("complete", n, weight=w * w / (n * w)).laplacian()
    assert np.allclose(red, expected, rtol=0, atol=1e-12)
    assert algebraic_connectivity(get_topology("bus", n, weight=w)) == pytest.approx(w, abs=1e-12)
    # unequal weights: w_i w_j / sum w
    wi = np.array([1.0, 2.0, 3.0, 4.0])
    star = BalancingGraph.from_edge_list(4, [(k, "bus") for k in range(4)], wi, aux_kinds=["bus"])
    off = -star.reduced_laplacian()
    np.fill_diagonal(off, 0.0)
    np.testing.assert_allclose(off, np.outer(wi, wi) / wi.sum() - np.diag(wi * wi / wi.sum()), rtol=1e-13)
    # the stand-alone function on the full Laplacian, keeping the cells
    assert np.allclose(kron_reduce(star.laplacian(), range(4)), star.reduced_laplacian(), atol=1e-13)


def test_pack_star_projects_to_the_same_complete_graph():
    n, w = 6, 0.8
    red = get_topology("cell_to_pack", n, weight=w).reduced_laplacian()
    assert np.allclose(red, get_topology("complete", n, weight=w / n).laplacian(), rtol=0, atol=1e-13)
    assert np.allclose(red, get_topology("pack_to_cell", n, weight=w).reduced_laplacian(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("inter_weight", [1.0, 4.0, 12.0])
def test_modular_spectrum_is_intra_module_path_and_module_path(inter_weight):
    # module-constant vectors and zero-mean-per-module vectors are invariant subspaces:
    # lambda_2 = min(w lambda_2(path m), (W / m) lambda_2(path M))
    n, m, w = 12, 4, 1.0
    g = modular(n, m, weight=w, inter_weight=inter_weight)
    intra = w * (2 - 2 * np.cos(np.pi / m))
    inter = inter_weight / m * (2 - 2 * np.cos(np.pi / (n // m)))
    assert algebraic_connectivity(g) == pytest.approx(min(intra, inter), abs=1e-12)
    ends = modular(n, m, weight=w, inter="ends")
    assert np.allclose(ends.laplacian(), get_topology("adjacent", n).laplacian())


def test_switched_capacitor_conductance_limits():
    c, f = 100e-6, 10e3
    assert switched_capacitor_conductance(c, f) == pytest.approx(f * c, rel=1e-15)  # SSL: R_eq = 1/(f C)
    assert switched_capacitor_conductance(c, f, 1e-6) == pytest.approx(f * c, rel=1e-12)
    assert switched_capacitor_conductance(c, 1e9, 0.01) == pytest.approx(1 / (4 * 0.01), rel=1e-6)  # FSL: 4 R
    g = get_topology("switched_capacitor", 5, capacitance_F=c, f_sw_Hz=f)
    assert g.weight_unit == "S" and np.allclose(g.weights, f * c)


def test_networkx_edge_list_and_incidence_round_trips():
    g = get_topology("modular", 12, module_size=4)
    h = BalancingGraph.from_networkx(g.to_networkx())
    assert h.node_kinds == g.node_kinds and h.members == g.members and h.kind == "modular"
    assert np.allclose(h.reduced_laplacian(), g.reduced_laplacian())
    path = BalancingGraph.from_edge_list(4, [(0, 1), ("1", 2), (2, 3)], 1.0)
    assert np.allclose(path.laplacian(), nx.laplacian_matrix(nx.path_graph(4)).toarray())
    bus = get_topology("bus", 5, weight=2.0)
    again = BalancingGraph.from_incidence(bus.incidence(), bus.weights, bus.node_kinds)
    assert np.array_equal(again.edges, bus.edges) and np.allclose(again.laplacian(), bus.laplacian())
    # plain networkx graph, no kinds: the first n_cells nodes are cells, the rest passive hubs
    star = nx.star_graph(5)  # centre 0, leaves 1..5
    relabelled = nx.relabel_nodes(star, {0: 5, 5: 0})
    s = BalancingGraph.from_networkx(relabelled, n_cells=5)
    assert s.node_kinds[-1] == "bus" and algebraic_connectivity(s) == pytest.approx(1.0, abs=1e-12)


def test_fiedler_mode_decays_with_the_predicted_time_constant():
    """dz/dt = -(k/Q) L z: the Fiedler mode decays as exp(-t/tau), tau = Q/(k lambda_2)."""
    g = get_topology("ring", 10, weight=0.5)
    q_ah, k = 2.0, 3.0
    tau = consensus_time_constant_s(g, q_ah, gain=k)
    assert tau == pytest.approx(q_ah * 3600 / (k * 0.5 * (2 - 2 * np.cos(2 * np.pi / 10))), rel=1e-12)
    v = fiedler_vector(g)
    z0 = 0.5 + 0.02 * v
    prop = expm(-(k / (q_ah * 3600)) * g.laplacian() * tau)
    z = prop @ z0
    np.testing.assert_allclose(z - 0.5, np.exp(-1) * (z0 - 0.5), atol=1e-12)
    # the spread of that mode reaches the target exactly at the predicted time
    s0, target = np.ptp(z0), np.ptp(z0) / 10
    t = predicted_balancing_time_s(g, q_ah, s0, target, gain=k)
    assert np.ptp(expm(-(k / (q_ah * 3600)) * g.laplacian() * t) @ z0) == pytest.approx(target, rel=1e-9)
    # any start: the deviation norm is bounded by exp(-t/tau)
    z1 = np.random.default_rng(0).uniform(0.4, 0.6, 10)
    zt = prop @ z1
    assert zt.mean() == pytest.approx(z1.mean(), abs=1e-12)
    assert np.linalg.norm(zt - zt.mean()) <= np.exp(-1) * np.linalg.norm(z1 - z1.mean()) * (1 + 1e-9)


def test_unequal_capacities_use_the_generalised_eigenproblem():
    g = get_topology("adjacent", 6)
    q_ah = np.array([2.0, 2.2, 1.8, 2.1, 1.9, 2.0])
    rate = consensus_rate_per_s(g, q_ah, gain=2.0)
    a = -2.0 * np.diag(1 / (q_ah * 3600)) @ g.laplacian()
    ev = np.sort(-np.linalg.eigvals(a).real)
    assert rate == pytest.approx(ev[1], rel=1e-10)
    assert consensus_rate_per_s(g, 2.0) == pytest.approx(algebraic_connectivity(g) / 7200, rel=1e-12)


def test_disconnected_graph_never_balances():
    from cellbalance.errors import CellBalanceWarning

    g = BalancingGraph.from_edge_list(4, [(0, 1), (2, 3)])
    with pytest.warns(CellBalanceWarning, match=r"2 unconnected parts: cell\(s\) 2, 3 are not linked to the other 2"):
        assert algebraic_connectivity(g) == 0.0
    with pytest.warns(CellBalanceWarning):
        assert consensus_time_constant_s(g, 5.0) == np.inf


def test_an_edge_list_that_leaves_one_cell_out_warns_naming_it():
    from cellbalance.errors import CellBalanceWarning

    g = BalancingGraph.from_edge_list(6, [(0, 1), (1, 2), (2, 3), (3, 5)])  # cell 4 forgotten
    with pytest.warns(CellBalanceWarning, match=r"cell\(s\) 4 are not linked to the other 5 cells, so lambda_2 = 0"):
        assert algebraic_connectivity(g) == 0.0


def test_comparison_table_parts_and_plot(tmp_path):
    t = compare_topologies(96, weight_A=1.0, capacity_Ah=5.0)
    assert set(t.topology) == set(available_topologies())
    lam = dict(zip(t.topology, t["lambda_2 [A/SOC]"], strict=True))
    assert lam["complete"] > lam["bus"] > lam["modular"] > lam["ring"] > lam["adjacent"]
    assert lam["switched_capacitor"] == pytest.approx(lam["adjacent"], rel=1e-9)  # same gain per edge
    row = t.set_index("topology").loc["ring"]
    assert row["tau [h]"] == pytest.approx(5.0 / lam["ring"], rel=1e-12)
    assert row["t_balance [h]"] == pytest.approx(row["tau [h]"] * np.log(10), rel=1e-12)
    n = 8
    parts = {k: parts_count(get_topology(k, n, **_params(k))) for k in available_topologies()}
    assert parts["adjacent"] == {"switches": 14, "inductors": 7, "transformers": 0, "capacitors": 0}
    assert parts["ring"] == {"switches": 16, "inductors": 7, "transformers": 1, "capacitors": 0}
    assert parts["switched_capacitor"] == {"switches": 16, "inductors": 0, "transformers": 0, "capacitors": 7}
    assert parts["cell_to_pack"] == {"switches": 16, "inductors": 0, "transformers": 8, "capacitors": 0}
    assert parts["bus"] == {"switches": 8, "inductors": 0, "transformers": 1, "capacitors": 0}
    assert parts["modular"] == {"switches": 14, "inductors": 7, "transformers": 0, "capacitors": 0}
    for kind in ("ring", "bus", "modular"):
        p = plot_graph(get_topology(kind, 12, **_params(kind)), tmp_path / f"{kind}.png")
        assert p.stat().st_size > 5000 and p.read_bytes()[:4] == b"\x89PNG"


def test_registry_and_messages(monkeypatch):
    with pytest.raises(UnknownNameError, match=r"Unknown topology 'rign'.*Did you mean 'ring'\?"):
        get_topology("rign", 8)
    with pytest.raises(ParameterError, match=r"adjacent\.weight must be > 0 \(finite\); got -1"):
        get_topology("adjacent", 8, weight=-1.0)
    with pytest.raises(ParameterError, match=r"topology 'ring' has no parameter 'wieght'.*Did you mean 'weight'\?"):
        get_topology("ring", 8, wieght=2.0)
    with pytest.raises(ParameterError, match=r"ring\.n_cells must be an integer >= 3; got 2"):
        get_topology("ring", 2)
    with pytest.raises(ParameterError, match=r"modular\.module_size must be an integer in \[2, 10\] dividing n_cells=10; got 4"):
        get_topology("modular", 10, module_size=4)
    with pytest.raises(ParameterError, match=r"switched_capacitor\.capacitance_F must be > 0"):
        get_topology("switched_capacitor", 4, capacitance_F=0.0)
    with pytest.raises(UnknownNameError, match=r"unknown node kind 'modul'.*Did you mean 'module'\?"):
        BalancingGraph([[0, 1]], [1.0], ("cell", "modul"))
    with pytest.raises(ParameterError, match=r"BalancingGraph\.members: module node 'module' needs its member cells"):
        BalancingGraph([[0, 1]], [1.0], ("cell", "module"))
    with pytest.raises(ParameterError, match=r"self-loops"):
        BalancingGraph.from_edge_list(3, [(1, 1)])
    with pytest.raises(ParameterError, match=r"column 0 of B must hold one \+1 and one -1"):
        BalancingGraph.from_incidence(np.array([[1.0], [1.0]]), [1.0], ("cell", "cell"))
    with pytest.raises(UnknownNameError, match=r"no node named 'buss'.*Did you mean 'bus'\?"):
        BalancingGraph.from_edge_list(2, [(0, "buss")], aux_kinds=["bus"])

    monkeypatch.setattr(topologies, "_REGISTRY", dict(topologies._REGISTRY))  # keep the registration local
    register_topology("test_pair_chain", lambda n, weight=1.0: get_topology("adjacent", n, weight=weight), replace=True)
    assert "test_pair_chain" in available_topologies()
    assert get_topology("test_pair_chain", 4, weight=2.0).n_edges == 3
    with pytest.raises(ParameterError, match="already registered"):
        register_topology("ring", lambda n: None)
