"""Neighbour conduction: conserves heat, spreads a hot spot, reaches the closed-form steady state."""

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout
from cellbalance.pack.thermal import NeighbourCoupling
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate


def test_exchange_sums_to_zero_and_matrix_is_a_laplacian():
    lay = PackLayout(n_series=5, n_parallel=3, n_packs=2)
    nc = NeighbourCoupling(lay, 0.5, 0.2)
    x = np.zeros((lay.n_cells, 7))
    x[:, 3] = np.random.default_rng(0).uniform(290, 320, lay.n_cells)
    q = nc(0.0, x)
    assert abs(q.reshape(2, -1).sum(-1)).max() < 1e-9  # per pack: heat is only moved around
    assert np.allclose(nc.matrix.sum(1), 0)


def test_a_hot_cell_warms_its_neighbours_and_the_chain_reaches_steady_state():
    """Cell 0 held hot by a heater: steady state of a chain with convection g and conduction k."""
    p = get_parameter_set("nmc_lg_m50").replace(rc=(), self_discharge_A=0.0)
    n, k, g, heater = 5, 0.5, p.thermal.cooling_W_per_K, 2.0
    lay = PackLayout(n_series=n)
    nc = NeighbourCoupling(lay, k)

    def heat(t, x):
        q = nc(t, x)
        q[0] += heater
        return q

    cells = p.compile(n)
    nc.check_step(10.0, p.thermal.heat_capacity_J_per_K)
    ds = simulate(cells, Experiment(["Rest for 6 hours"], period_s=10.0), layout=lay, heat_in_W=heat,
                  state=initial_state(cells), options=__import__("cellbalance").sim.SimulationOptions(record_every=60))
    dT = ds.temperature_K.values[-1, 0] - p.ambient_K
    assert np.all(np.diff(dT) < 0) and dT[1] > 0.1  # the neighbours warm, less with distance
    lap = nc.matrix.toarray()
    expected = np.linalg.solve(lap + g * np.eye(n), np.r_[heater, np.zeros(n - 1)])
    assert dT == pytest.approx(expected, rel=2e-3)


def test_unstable_step_is_refused():
    nc = NeighbourCoupling(PackLayout(n_series=4), 20.0)
    with pytest.raises(ParameterError, match=r"too long .* must be < "):
        nc.check_step(10.0, 76.0)
