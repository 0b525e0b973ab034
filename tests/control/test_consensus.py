"""Consensus: the measured decay rate of the SOC disagreement in closed loop (simulate at rest, an active
balancer, the PerfectEstimator) against the rate predicted from lambda_2 and the gain; the stability
bound against the spectrum of the discrete map; bad configurations refused."""

import numpy as np
import pytest

from cellbalance.analysis.graph import algebraic_connectivity
from cellbalance.balancing import ActiveBalancer, ConverterModel, PassiveBalancer, get_topology
from cellbalance.cell import initial_state
from cellbalance.control import Consensus, get_controller
from cellbalance.errors import ConfigError, ParameterError
from cellbalance.estimation import PerfectEstimator
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate

from .conftest import context, layout

DT = 60.0


@pytest.mark.parametrize("kind", ["adjacent", "ring", "complete"])
@pytest.mark.parametrize("n", [8, 32, 96])
def test_measured_decay_rate_matches_lambda_2_and_the_gain(cell, kind, n):
    graph = get_topology(kind, n)
    lam2 = algebraic_connectivity(graph)  # the analysis package's own eigen-solver, not the controller's
    lam_max = float(np.linalg.eigvalsh(graph.laplacian())[-1])
    q = cell.capacity_Ah * 3600.0
    k = 0.5 * 2.0 * q / (DT * (lam2 + lam_max))  # half the fastest gain: well inside the bound
    ab = ActiveBalancer(graph, ConverterModel(max_current_A=20.0, dead_band_A=0.0))  # lossless, unsaturated
    # the slowest (Fiedler) mode, 2 % of SOC in amplitude, on identical cells at mid SOC
    _, v = np.linalg.eigh(graph.laplacian())
    mode = v[:, 1] / np.abs(v[:, 1]).max()
    z0 = 0.5 + 0.02 * mode
    rate_pred = -np.log(1.0 - DT * k * lam2 / q) / DT
    n_calls = int(min(max(3.0 / (rate_pred * DT), 5), 600))
    cells = cell.compile(n)
    ds = simulate(cells, Experiment([f"Rest for {n_calls * DT:g} seconds"], period_s=DT),
                  layout=PackLayout(n_series=n), state=initial_state(cells, soc=z0),
                  controller=Consensus(period_s=DT, gain_A_per_soc=k), balancer=ab,
                  estimator=PerfectEstimator(period_s=DT))
    z = ds.soc.values[:, 0, :]
    dis = np.linalg.norm(z - z.mean(-1, keepdims=True), axis=-1)
    t = ds.time.values
    assert np.max(np.abs(ds.command_edge_current_A.values)) < 20.0  # never saturated
    keep = dis > 1e-9 * dis[0]
    slope = np.polyfit(t[keep], np.log(dis[keep]), 1)[0]
    assert -slope == pytest.approx(rate_pred, rel=0.05), (kind, n, -slope, rate_pred, k * lam2 / q)


def test_default_gain_and_bound_against_the_spectrum_of_the_discrete_map(cell):
    """k* = 2Q/(dt (l2 + lmax)) minimises the spectral radius of I - (dt k / Q) L over the disagreement;
    the bound 2Q/(dt lmax) is where that radius reaches 1."""
    n = 12
    ab = ActiveBalancer(get_topology("ring", n), ConverterModel(max_current_A=5.0))
    plan = Consensus(period_s=DT).init(context(cell, layout(n), ab))
    lap = get_topology("ring", n).laplacian()
    q = cell.capacity_Ah * 3600.0
    proj = np.eye(n) - np.ones((n, n)) / n

    def radius(k):
        return np.abs(np.linalg.eigvals(proj @ (np.eye(n) - DT * k / q * lap) @ proj)).max()

    ks = np.linspace(0.01, 1.2, 400) * plan.bound_A_per_soc
    best = ks[np.argmin([radius(k) for k in ks])]
    assert plan.gain_A_per_soc == pytest.approx(best, rel=0.01)
    assert radius(0.999 * plan.bound_A_per_soc) < 1.0 < radius(1.001 * plan.bound_A_per_soc)


def test_gain_above_the_bound_is_refused_with_its_value_and_the_bound(cell):
    n = 8
    ab = ActiveBalancer(get_topology("complete", n), ConverterModel(max_current_A=5.0))
    q = cell.capacity_Ah * 3600.0
    bound = 2 * q / (DT * n)  # lambda_max of the complete graph K_n is n
    with pytest.raises(ConfigError, match=rf"gain_A_per_soc = {1.5 * bound:g} A/SOC is above .* = {bound:.4g} A/SOC; "
                                          rf"allowed: 0 < gain_A_per_soc < {bound:.4g}"):
        Consensus(period_s=DT, gain_A_per_soc=1.5 * bound).init(context(cell, layout(n), ab))


@pytest.mark.parametrize("field,value,allowed", [
    ("max_current_A", -1.0, "> 0"), ("gain_A_per_soc", 0.0, "> 0"), ("period_s", -60.0, "> 0")])
def test_bad_values_are_refused_naming_field_value_and_allowed(field, value, allowed):
    with pytest.raises(ParameterError, match=rf"Consensus\.{field} must be {allowed}.*got {value:g}"):
        get_controller("consensus", **{field: value})


def test_projected_bleed_only_form_never_bleeds_below_the_mean_and_converges(cell):
    n = 8
    cells = cell.compile(n)
    z0 = np.linspace(0.48, 0.52, n)
    ds = simulate(cells, Experiment(["Rest for 6 hours"], period_s=60.0), layout=PackLayout(n_series=n),
                  state=initial_state(cells, soc=z0), controller=Consensus(period_s=60.0),
                  balancer=PassiveBalancer(r_bleed_ohm=33.0), estimator=PerfectEstimator(period_s=60.0))
    z_est = ds.estimated_soc.values[:, 0, :]
    g = ds.balancer_shunt_S.values[:, 0, :]
    assert np.all(g[z_est <= z_est.mean(-1, keepdims=True)] == 0.0)
    z = ds.soc.values[:, 0, :]
    assert np.ptp(z[-1]) < 0.1 * np.ptp(z0)
    # the mean falls, but never below the initial minimum less the cells' own self-discharge (only bleeding)
    drift = cell.self_discharge_A * ds.time.values[-1] / (cell.capacity_Ah * 3600.0)
    assert z[-1].min() >= z0.min() - drift - 1e-9


def test_temperature_weighted_consensus_settles_at_the_offset_its_potential_sets(cell):
    """With potential x = z + gamma (T - Tbar), consensus drives x to agreement, so at rest under a
    fixed temperature gradient the element SOCs settle at z - zbar = -gamma (T - Tbar): warmer
    elements end lower. (Before the Lyapunov guard used x, it blocked every move from equal SOCs.)"""
    n, gamma = 6, 0.002
    amb = 298.15 + np.array([0.0, 2.0, 4.0, 6.0, 4.0, 2.0])
    ab = ActiveBalancer(get_topology("ring", n), ConverterModel(max_current_A=5.0, dead_band_A=0.0))
    cells = cell.compile(n)
    ds = simulate(cells, Experiment(["Rest for 3 hours"], period_s=DT), layout=PackLayout(n_series=n),
                  state=initial_state(cells, soc=0.5, temperature_K=amb), ambient_K=amb,
                  controller=Consensus(period_s=DT, temperature_gain_soc_per_K=gamma), balancer=ab,
                  estimator=PerfectEstimator(period_s=DT))
    z = ds.soc.values[-1, 0, :]
    t = ds.temperature_K.values[-1, 0, :]
    want = -gamma * (t - t.mean())
    assert np.ptp(want) > 0.01  # a 1 %-point offset to build from equal SOCs
    np.testing.assert_allclose(z - z.mean(), want, atol=0.03 * np.ptp(want))


def test_voltage_guard_keeps_headroom_for_the_pack_current_range(cell):
    """Closed form of the guard on one edge into element 1 (charging it by c = 1 A, no period term):
    scale = (v_max - margin - v - 2 R0 (i_hi - i_p)) / (2 R0 c); without the range the current at the
    call is taken to hold (the i_hi term vanishes); an element already past the worst-case limit
    gets no current at all."""
    from cellbalance.control.base import NominalTables
    from cellbalance.control.consensus import voltage_scale
    from cellbalance.interfaces import NominalModel

    tab = NominalTables.of(NominalModel(cell, layout(2)))
    v = np.array([[3.7, 4.12]])
    z = np.array([[0.5, 0.9]])
    temp = np.full((1, 2), 298.15)
    d_el = np.array([[1.0], [-1.0]])  # edge 0: from element 0 into element 1
    c = np.array([[1.0]])  # element currents -D c = (-1, +1) A: element 1 is charged
    r0 = tab.r0_element(z, temp)[0, 1]
    head = tab.v_max - 0.05 - 4.12
    free = voltage_scale(c, v, z, temp, d_el, tab, 0.05, 2.0, i_pack=np.array([-0.1]))
    np.testing.assert_allclose(np.abs(free), min(1.0, head / (2 * r0)), rtol=1e-12)
    hi = 0.2
    got = voltage_scale(c, v, z, temp, d_el, tab, 0.05, 2.0, i_pack=np.array([-0.1]), pack_current_limits_A=(-5.0, hi))
    want = (head - 2 * r0 * (hi + 0.1)) / (2 * r0)
    assert 0 < want < 1
    np.testing.assert_allclose(np.abs(got), want, rtol=1e-12)
    none = voltage_scale(c, v, z, temp, d_el, tab, 0.05, 2.0, i_pack=np.array([-0.1]), pack_current_limits_A=(-5.0, 5.0))
    assert np.all(none == 0.0)


@pytest.mark.parametrize("value", [(1.0, 5.0), (-5.0, -1.0), (-5.0, float("inf")), (3.0,), "x"])
def test_bad_pack_current_limits_are_refused_naming_field_value_and_allowed(value):
    from cellbalance.control import MPC

    for cls in (Consensus, MPC):
        with pytest.raises(ParameterError, match=rf"{cls.__name__}\.pack_current_limits_A"):
            cls(pack_current_limits_A=value)


def test_the_step_size_is_taken_on_what_the_converters_carry_out_under_their_dead_band():
    """Near consensus, commands fall around the converters' dead band (here 50 mA): the hardware switches
    those edges off. The step size taken on all edges can then let the rest overshoot the minimum of
    V = sum (z - zbar)^2 over the held period; taken on the edges the hardware runs, it cannot. The
    commands are transport flows along a 9-cell chain (what MPC's QP returns: the flow that equalises
    the SOCs, scaled by 0.3-1; its edges are not filtered one by one). Checked through the converter
    model itself (``ActiveBalancer.element_currents`` on the commands, 90 % efficient, equal voltages),
    not the controller's prediction: over 300 random states (SOC spread 1e-4) the plain step raises V in
    some (13 when written), the dead-band-aware one in none, and leaves no command under the dead band."""
    from cellbalance.control.base import lyapunov_step, lyapunov_step_run, node_map, to_command

    n, q, dt, eta = 9, 18000.0, 60.0, 0.9
    ab = ActiveBalancer(get_topology("adjacent", n), ConverterModel(efficiency=eta, max_current_A=2.0, dead_band_A=0.05))
    _, d_el = node_map(ab)
    sizes = (np.ones(n - 1), np.ones(n - 1))
    v = np.full((1, n), 3.7)
    rng = np.random.default_rng(3)

    def v_after(c, z):
        i_el, _ = ab.element_currents(to_command(c, sizes), v)
        z1 = z + dt * i_el / q
        return float(((z1 - z1.mean()) ** 2).sum()), float(((z - z.mean()) ** 2).sum())

    plain_rises, run_rises = 0, 0
    for _ in range(300):
        z = 0.5 + 1e-4 * rng.standard_normal((1, n))
        # edge k moves charge from element k to k + 1: the flow that equalises in one period
        c = np.cumsum(z - z.mean(), axis=1)[:, :-1] * q / dt * rng.uniform(0.3, 1.0)
        a = dt / q
        v1, v0 = v_after(lyapunov_step(c, z, d_el, eta, a), z)
        plain_rises += v1 > v0 * (1 + 1e-12)
        out = lyapunov_step_run(c, z, d_el, eta, a, sizes, 0.05)
        assert not np.any((out != 0) & (np.abs(out) < 0.05))
        v1, v0 = v_after(out, z)
        run_rises += v1 > v0 * (1 + 1e-12)
    assert plain_rises > 0 and run_rises == 0, (plain_rises, run_rises)


def test_the_compiled_lyapunov_step_is_the_dense_formula_of_its_docstring():
    """``lyapunov_step`` (compiled, over the map's nonzeros) against its docstring's formula written here with
    dense matrices: Delta = a (-(D+ c+ + D- c-) + eta (D- c+ + D+ c-)), s = min(1, 0.9 (-delta.Delta) /
    |Delta - mean|^2), on a ring and on a cell-to-pack graph (pack node: many nonzeros per edge), three packs
    a batch, 100 random batches; the filter likewise (an edge runs only where its rate is negative)."""
    from cellbalance.control.base import lyapunov_filter, lyapunov_step, node_map

    rng = np.random.default_rng(5)
    for graph in (get_topology("ring", 12), get_topology("cell_to_pack", 12)):
        _, d = node_map(ActiveBalancer(graph, ConverterModel(efficiency=0.9, max_current_A=2.0)))
        dp, dn = np.maximum(d, 0.0), np.maximum(-d, 0.0)
        for _ in range(100):
            z = 0.5 + 1e-3 * rng.standard_normal((3, d.shape[0]))
            c = rng.standard_normal((3, d.shape[1]))
            eta, a = rng.uniform(0.8, 1.0), 60.0 / 18000.0
            delta = z - z.mean(-1, keepdims=True)
            rate = np.where(c >= 0, eta * (delta @ dn) - delta @ dp, eta * (delta @ dp) - delta @ dn)
            filt = np.where(rate < 0, c, 0.0)
            np.testing.assert_array_equal(lyapunov_filter(c, z, d, eta), filt)

            def scale(cc, a=a, eta=eta, delta=delta, dp=dp, dn=dn):
                cp_, cn_ = np.maximum(cc, 0.0), np.maximum(-cc, 0.0)
                dz = a * (-(cp_ @ dp.T + cn_ @ dn.T) + eta * (cp_ @ dn.T + cn_ @ dp.T))
                lin = (delta * dz).sum(-1)
                quad = ((dz - dz.mean(-1, keepdims=True)) ** 2).sum(-1)
                return lin, np.where(quad > 0, np.minimum(1.0, 0.9 * -lin / np.maximum(quad, 1e-300)), 1.0)

            lin, s = scale(c)
            cc = np.where((lin >= 0)[:, None], filt, c)
            lin2, s2 = scale(cc)
            s = np.where(lin >= 0, np.where(lin2 >= 0, 0.0, s2), s)
            np.testing.assert_allclose(lyapunov_step(c, z, d, eta, a), cc * np.clip(s, 0, 1)[:, None], rtol=1e-9,
                                       atol=1e-15)
