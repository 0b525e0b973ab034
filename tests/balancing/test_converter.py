"""Averaged converters: per-edge power balance, series current of cell-to-pack, 24 h bookkeeping."""

import numpy as np
import pytest

from cellbalance.balancing.converter import ActiveBalancer, ConverterModel, edge_transfer
from cellbalance.balancing.graph import available_topologies, get_topology
from cellbalance.balancing.openloop import OpenLoopSchedule
from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate


@pytest.mark.parametrize("conv", [ConverterModel(efficiency=0.88), ConverterModel(efficiency=None, p0_W=0.05, k_ohm=0.2)])
def test_every_edge_balances_power_exactly(conv, rng):
    g = get_topology("complete", 6)
    v = rng.uniform(3.2, 4.1, (3, 6))
    cmd = rng.uniform(-3, 3, (3, g.n_edges))
    node, loss, mag = edge_transfer(g.edges, cmd, v, conv)
    p_nodes = (node * v).sum(-1)  # power delivered into nodes (negative: drawn)
    assert np.allclose(-p_nodes, loss.sum(-1), rtol=1e-12, atol=1e-12)
    assert mag.max() <= conv.max_current_A


def test_dead_band_and_saturation():
    g = get_topology("adjacent", 3)
    node, _loss, mag = edge_transfer(g.edges, np.array([[0.005, 10.0]]), np.full((1, 3), 3.7),
                                    ConverterModel(max_current_A=2.0, dead_band_A=0.01))
    assert mag.tolist() == [[0.0, 2.0]] and node[0, 0] == 0.0


def test_cell_to_pack_current_flows_through_every_cell():
    g = get_topology("cell_to_pack", 4)
    ab = ActiveBalancer(g, ConverterModel(efficiency=0.9))
    v = np.array([[4.0, 3.6, 3.6, 3.6]])
    cmd = np.array([[1.0, 0.0, 0.0, 0.0]])  # 1 A from cell 0 into the string
    el, loss = ab.element_currents(cmd, v)
    i_series = 0.9 * 4.0 * 1.0 / v.sum()
    assert el[0, 1:] == pytest.approx(np.full(3, i_series))
    assert el[0, 0] == pytest.approx(-1.0 + i_series)
    assert -(el * v).sum() == pytest.approx(loss[0], rel=1e-12)


def test_bus_is_a_two_stage_any_to_any():
    ab = ActiveBalancer(get_topology("bus", 5), ConverterModel(efficiency=0.9))
    assert ab.edges.shape[0] == 10  # Kron-reduced: every pair
    with pytest.raises(ParameterError, match="4 series elements but the graph has 5 cells"):
        ab.element_currents(np.zeros((1, 10)), np.full((1, 4), 3.7))


@pytest.mark.slow
@pytest.mark.parametrize("kind", available_topologies())
def test_24h_energy_bookkeeping_closes_for_every_topology(kind):
    """load = sum of cell energy + converter losses + bleed + interconnect, over 24 h, to 1e-6."""
    ns = 8
    params = {"module_size": 4} if kind == "modular" else {}
    if kind == "switched_capacitor":
        params = {"capacitance_F": 1e-3, "f_sw_Hz": 2e3}
    ab = ActiveBalancer(get_topology(kind, ns, **params), ConverterModel(efficiency=0.85, max_current_A=1.0))
    m = ab.edges.shape[0]
    rng = np.random.default_rng(3)
    cmds = rng.uniform(-0.05, 0.05, (1, 1, m)) * (8 / m) * np.array([1, -1, 1, -1, 1, -1])[:, None, None]
    sched = OpenLoopSchedule(times_s=np.arange(6) * 4 * 3600.0, edge_current_A=cmds, active=ab, period_s=60.0)
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=ns, interconnect_ohm=0.002)
    cells = p.compile(ns)
    exp = Experiment(["Repeat 4 times: Run UDDS x 0.4 for 2 hours; Rest for 1 hour; Charge at 0.25 A for 2 hours; "
                      "Rest for 1 hour"], period_s=10.0)
    ds = simulate(cells, exp, layout=lay, state=initial_state(cells, soc=np.linspace(0.45, 0.7, ns)),
                  controller=sched)
    assert ds.time.values[-1] >= 24 * 3600 - 1
    e = {k: float(ds[f"energy_{k}_J"].values[-1, 0]) for k in ("load", "cells", "bleed", "converter_loss", "interconnect")}
    assert e["converter_loss"] > 100.0  # the converters really ran (J)
    total = abs(e["load"]) + e["converter_loss"]
    assert abs(e["load"] - (e["cells"] + e["bleed"] + e["converter_loss"] + e["interconnect"])) <= 1e-6 * total
