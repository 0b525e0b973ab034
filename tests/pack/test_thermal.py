"""Neighbour conduction: conserves heat, spreads a hot spot, reaches the closed-form steady state."""

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout
from cellbalance.pack.thermal import NeighbourCoupling, max_stable_step_s, neighbour_heat, neighbour_laplacian
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate


def test_exchange_sums_to_zero_and_matrix_is_a_laplacian():
    lay = PackLayout(n_series=5, n_parallel=3, n_packs=2)
    nc = NeighbourCoupling(lay, 0.5, 0.2)
    x = np.zeros((lay.n_cells, 7))
    x[:, 3] = np.random.default_rng(0).uniform(290, 320, lay.n_cells)
    q = nc(0.0, x)
    assert abs(q.reshape(2, -1).sum(-1)).max() < 1e-9  # per pack: heat is only moved around
    assert np.allclose(nc.matrix.sum(1), 0)
    assert abs(nc.matrix - nc.matrix.T).max() == 0
    np.testing.assert_allclose(q, neighbour_heat(nc.matrix, x[:, 3]))
    np.testing.assert_allclose(q, -nc.matrix.toarray() @ x[:, 3])
    assert abs(neighbour_heat(nc.matrix, np.full(lay.n_cells, 301.0))).max() < 1e-12  # uniform: no exchange


def test_laplacian_structure():
    """Series neighbours at the same parallel position, a chain within each group, packs apart."""
    lay = PackLayout(n_series=3, n_parallel=3, n_packs=2)
    kd = neighbour_laplacian(lay, 0.5, 0.2).toarray()
    idx = np.arange(lay.n_cells).reshape(2, 3, 3)
    assert kd[idx[0, 0, 0], idx[0, 1, 0]] == -0.5  # series neighbour
    assert kd[idx[0, 1, 1], idx[0, 2, 1]] == -0.5
    assert kd[idx[0, 0, 0], idx[0, 2, 0]] == 0  # not adjacent
    assert kd[idx[0, 0, 0], idx[0, 1, 1]] == 0  # diagonal position: no contact
    assert kd[idx[0, 1, 0], idx[0, 1, 1]] == -0.2  # parallel neighbour
    assert kd[idx[0, 1, 0], idx[0, 1, 2]] == 0  # group is a chain
    assert np.all(kd[np.ix_(idx[0].ravel(), idx[1].ravel())] == 0)  # packs do not touch
    # row sums: a middle cell of a middle element has 2 series + 2 parallel neighbours
    assert kd[idx[1, 1, 1], idx[1, 1, 1]] == pytest.approx(2 * 0.5 + 2 * 0.2)
    assert neighbour_laplacian(PackLayout(n_series=4), 0.0).nnz == 0
    with pytest.raises(ParameterError, match="k_series_W_per_K must be >= 0"):
        neighbour_laplacian(lay, -1.0)


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
    nc.check_step(10.0, cells)
    ds = simulate(cells, Experiment(["Rest for 6 hours"], period_s=10.0), layout=lay, heat_in_W=heat,
                  state=initial_state(cells), options=SimulationOptions(record_every=60))
    dT = ds.temperature_K.values[-1, 0] - p.ambient_K
    assert np.all(np.diff(dT) < 0) and dT[1] > 0.1  # the neighbours warm, less with distance
    lap = nc.matrix.toarray()
    expected = np.linalg.solve(lap + g * np.eye(n), np.r_[heater, np.zeros(n - 1)])
    assert dT == pytest.approx(expected, rel=2e-3)


def test_two_cells_relax_as_the_explicit_scheme_and_the_ode_say():
    """Two identical cells at rest: the difference d follows the scheme's exact recurrence
    d+ = d e^-a - (1 - e^-a) 2k d / G (a = G dt / C; the coupling held, the node integrated exactly),
    and tends to the ODE solution d0 exp(-(G + 2k) t / C) as dt -> 0."""
    p = get_parameter_set("nmc_lg_m50").replace(rc=(), self_discharge_A=0.0)
    k, G, C = 0.5, p.thermal.cooling_W_per_K, p.thermal.heat_capacity_J_per_K
    lay = PackLayout(n_series=2)
    nc = NeighbourCoupling(lay, k)
    cells = p.compile(2)
    errs = []
    for dt in (20.0, 5.0):
        x0 = initial_state(cells, temperature_K=[p.ambient_K + 10.0, p.ambient_K])
        ds = simulate(cells, Experiment(["Rest for 20 minutes"], period_s=dt), layout=lay, heat_in_W=nc, state=x0)
        T = ds.temperature_K.values[:, 0]
        d = T[:, 0] - T[:, 1]
        a = G * dt / C
        amp = np.exp(-a) - (1 - np.exp(-a)) * 2 * k / G
        np.testing.assert_allclose(d, 10.0 * amp ** np.arange(d.size), rtol=1e-9, atol=1e-11)
        # the mean cools only through the coolant, as if uncoupled (the exchange sums to zero)
        np.testing.assert_allclose(T.mean(1) - p.ambient_K, 5.0 * np.exp(-G * ds.time.values / C), rtol=1e-9, atol=1e-11)
        errs.append(abs(d - 10.0 * np.exp(-(G + 2 * k) * ds.time.values / C)).max())
    assert errs[1] < errs[0] / 3.5 and errs[1] < 0.2  # first order in dt (0.13 K of 10 K at 5 s)


def test_stability_bound():
    lay = PackLayout(n_series=6)
    nc = NeighbourCoupling(lay, 20.0)
    # middle cells have two neighbours: K_ii = 40 W/K
    assert nc.max_step_s(76.0) == pytest.approx(76.0 / 40.0)
    assert max_stable_step_s(nc.matrix, np.r_[76.0, np.full(5, 152.0)]) == pytest.approx(76.0 / 20.0)
    assert max_stable_step_s(neighbour_laplacian(lay, 0.0), 76.0) == np.inf
    nc.check_step(1.8, 76.0)
    with pytest.raises(ParameterError, match=r"too long .* must be < 1.9 s"):
        nc.check_step(10.0, 76.0)
    with pytest.raises(ParameterError, match="do not match 6 cells"):
        nc.max_step_s(np.ones(4))
    lam = np.linalg.eigvalsh(nc.matrix.toarray()).max()
    assert 76.0 / 40.0 <= 2 * 76.0 / lam  # Gershgorin: on the safe side of 2 C / lambda_max


@pytest.mark.parametrize(("factor", "grows"), [(0.95, False), (1.1, True)])
def test_the_bound_is_sharp_for_two_cells(factor, grows):
    """Two cells: lambda_max = 2 K_ii, so C / K_ii is exactly the limit: just below it the difference
    decays (oscillating), just above it the explicit coupling diverges."""
    p = get_parameter_set("nmc_lg_m50").replace(rc=(), self_discharge_A=0.0)
    lay = PackLayout(n_series=2)
    nc = NeighbourCoupling(lay, 20.0)
    cells = p.compile(2)
    dt = factor * nc.max_step_s(cells)
    if grows:
        with pytest.raises(ParameterError):
            nc.check_step(dt, cells)
    else:
        nc.check_step(dt, cells)
    x0 = initial_state(cells, temperature_K=[p.ambient_K + 1.0, p.ambient_K])
    ds = simulate(cells, Experiment([f"Rest for {15 * dt} s"], period_s=dt), layout=lay, heat_in_W=nc, state=x0)
    d = np.diff(ds.temperature_K.values[:, 0], axis=1)[:, 0]
    assert np.all(np.sign(d[1:]) != np.sign(d[:-1]))  # the explicit coupling overshoots every step
    assert (abs(d[-1]) > 1.0) == grows


def test_unstable_step_is_refused():
    nc = NeighbourCoupling(PackLayout(n_series=4), 20.0)
    with pytest.raises(ParameterError, match=r"too long .* must be < "):
        nc.check_step(10.0, 76.0)
