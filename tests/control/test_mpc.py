"""MPC: the QP solved by OSQP agrees with an independent interior-point solver (Clarabel) to 1e-6; a
failed solve falls back to no balancing, is counted and never stops a run; constraints hold."""

import clarabel
import numpy as np
import pytest
import scipy.sparse as sp

from cellbalance.balancing import ActiveBalancer, ConverterModel, PassiveBalancer, get_topology
from cellbalance.cell import initial_state
from cellbalance.control import MPC
from cellbalance.errors import ConfigError, ParameterError
from cellbalance.estimation import PerfectEstimator
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate

from .conftest import context, estimate, layout, measurement


def clarabel_solve(P, q, A, lo, hi):
    """``min 1/2 x'Px + q'x, lo <= Ax <= hi`` with Clarabel: equalities as a zero cone, finite bounds as
    non-negative slacks."""
    A = sp.csc_matrix(A)
    eq = np.isfinite(lo) & np.isfinite(hi) & (lo == hi)
    up = np.isfinite(hi) & ~eq
    dn = np.isfinite(lo) & ~eq
    a = sp.vstack([A[eq], A[up], -A[dn]], format="csc")
    b = np.concatenate([hi[eq], hi[up], -lo[dn]])
    cones = [clarabel.ZeroConeT(int(eq.sum())), clarabel.NonnegativeConeT(int(up.sum() + dn.sum()))]
    s = clarabel.DefaultSettings()
    s.verbose = False
    s.tol_gap_abs = s.tol_gap_rel = s.tol_feas = 1e-12
    sol = clarabel.DefaultSolver(sp.triu(P, format="csc"), q, a, b, cones, s).solve()
    assert str(sol.status) == "Solved"
    return np.asarray(sol.x), sol.obj_val


def _problem(cell, hw, n, spread=0.04, current=0.0, seed=3):
    rng = np.random.default_rng(seed)
    z = np.clip(0.5 + spread * rng.standard_normal((1, n)), 0.05, 0.95)
    return z, measurement(cell, z, 0.0, current), estimate(z)


@pytest.mark.parametrize("kind", ["ring", "bus", "cell_to_pack", "passive", "passive_limited"])
def test_osqp_optimum_equals_clarabel_to_1e_6(cell, kind):
    n = 16
    if kind.startswith("passive"):
        hw = PassiveBalancer(r_bleed_ohm=33.0, **({"forbid_adjacent": True, "max_channels": 5,
                                                   "max_pack_power_W": 1.5} if kind == "passive_limited" else {}))
    else:
        hw = ActiveBalancer(get_topology(kind, n), ConverterModel(max_current_A=1.0, efficiency=0.92))
    ctl = MPC(period_s=60.0, horizon=10, eps=1e-9)
    state = ctl.init(context(cell, layout(n), hw))
    z, m, _e = _problem(cell, hw, n)
    q, lo, hi = ctl.qp_vectors(state, 0, z[0], m.element_voltage_V[0], np.full(n, 298.15), 0.0)
    qp = state.qp
    P = qp.P + sp.triu(qp.P, 1).T
    x_ref, obj_ref = clarabel_solve(qp.P, q, qp.A, lo, hi)
    s = state.solvers[0]
    s.update(q=q, l=lo, u=hi)
    res = s.solve(raise_error=False)
    assert res.info.status == "solved"
    obj = 0.5 * res.x @ P @ res.x + q @ res.x
    assert obj == pytest.approx(obj_ref, rel=1e-6, abs=1e-9)
    nw = qp.horizon * qp.n_w
    # the move that is applied (first step) to 1e-6 A; the rest of the plan, whose late steps are nearly
    # flat directions of the cost, to 1e-4 of its largest current
    np.testing.assert_allclose(res.x[:qp.n_w], x_ref[:qp.n_w], rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.x[:nw], x_ref[:nw], rtol=0, atol=1e-4 * np.abs(x_ref[:nw]).max())
    # and the plan moves charge from high to low SOC: the variance of the predicted SOC falls
    zs = x_ref[nw:nw + qp.horizon * n].reshape(qp.horizon, n)
    assert np.var(zs[-1]) < np.var(z[0])


def test_a_failed_solve_is_counted_and_falls_back_to_no_balancing(cell):
    n = 8
    hw = ActiveBalancer(get_topology("ring", n), ConverterModel(max_current_A=1.0))
    ctl = MPC(max_iter=1, polish=False)  # OSQP stops before convergence: "maximum iterations reached"
    z, m, e = _problem(cell, hw, n)
    state = ctl.init(context(cell, layout(n), hw))
    cmd, state = ctl.step(0.0, m, e, state)
    assert np.all(cmd.edge_current_A == 0.0)
    assert MPC.report(state)["failures"] == [1] and "maximum iterations" in MPC.report(state)["last_status"][0]
    # in a run: it goes on, with nothing balanced, and the count is in the final state
    cells = cell.compile(n)
    ds = simulate(cells, Experiment(["Rest for 10 minutes"], period_s=10.0), layout=PackLayout(n_series=n),
                  state=initial_state(cells, soc=z[0]), controller=ctl, balancer=hw,
                  estimator=PerfectEstimator(period_s=60.0))
    assert np.all(ds.balancer_element_current_A.values == 0.0)
    np.testing.assert_allclose(np.ptp(ds.soc.values[-1, 0]), np.ptp(z[0]), rtol=1e-6)


def test_balancing_never_pushes_a_cell_past_v_max_while_charging(cell):
    """Near the top, under a charge current, the voltage rows stop the MPC from charging the high cells."""
    n = 6
    hw = ActiveBalancer(get_topology("complete", n), ConverterModel(max_current_A=2.0))
    ctl = MPC(margin_V=0.02)
    z = np.array([[0.97, 0.99, 0.985, 0.975, 0.9, 0.995]])
    m = measurement(cell, z, 0.0, 2.5)
    state = ctl.init(context(cell, layout(n), hw))
    cmd, state = ctl.step(0.0, m, estimate(z), state)
    i_el = -(cmd.edge_current_A @ state.qp.d_el.T)[0]
    v_pred = m.element_voltage_V[0] + 0.0184 * i_el
    top = m.element_voltage_V[0] > cell.v_max - 0.02
    assert np.all(i_el[top] <= 1e-9)
    assert np.all((v_pred <= cell.v_max - 0.02 + 1e-3) | (i_el <= 0))


@pytest.mark.parametrize("field,value,allowed", [("horizon", 0, ">= 1"), ("max_current_A", -2.0, "> 0"),
                                                 ("q_soc", 0.0, "> 0")])
def test_bad_values_are_refused(field, value, allowed):
    with pytest.raises((ParameterError, ConfigError), match=rf"MPC\.{field} must be {allowed}"):
        MPC(**{field: value})
