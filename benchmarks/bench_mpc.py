"""MPC solve time per controller call, warm-started, at N = 16, 96 and 1000 cells, horizon 10
(targets: <= 2 ms at 96 cells, <= 30 ms at 1000), against the same QP written in cvxpy with
parameters and re-solved (the way most engineers would write it): same optimum to 1e-6, and the
speed ratio.

Set-up per size: a ring of converters (2 A, 90 % efficient) on the nominal LG M50 cell, SOC spread
4 % about 0.5, at rest. A sequence of 20 calls: after each, the SOC moves as the applied first move
says (the discrete model), so each call warm-starts from the previous solution as in a run. Times:
``solve`` is OSQP's update + solve (the controller's per-call QP cost); ``step`` the whole
controller call (vectors, guards). cvxpy: the same problem (cost, dynamics, bounds, voltage and
temperature rows) with ``cp.Parameter`` vectors, re-solved with cvxpy's default QP solver and
``warm_start=True``; its time is the wall time of ``problem.solve`` (canonicalisation is cached). Optimum check: both solved at eps 1e-9 with polishing on the
first call; objective values compared. Our timed sequence uses the defaults a user gets (``MPC()``:
eps 1e-3, no polishing, termination checked every 5 iterations); what that tolerance changes is
recorded against the same sequence solved at eps 1e-9 (the SOC spread after the 20 calls).

Run once:  python benchmarks/bench_mpc.py   (writes benchmarks/results/mpc.json)
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from cellbalance.balancing import ActiveBalancer, ConverterModel, get_topology
from cellbalance.cell import get_parameter_set, open_circuit_voltage
from cellbalance.control import MPC
from cellbalance.interfaces import Estimate, LoopContext, Measurement, NominalModel
from cellbalance.pack import PackLayout

H = 10
CALLS = 20


def _meas(cell, z, t):
    v = np.asarray(open_circuit_voltage(cell, z), float)
    b, n = z.shape
    return Measurement(t, v, np.full((b, n, 1), 298.15), np.zeros(b), v.sum(-1), np.zeros(b))


def _setup(cell, n, eps=None):
    hw = ActiveBalancer(get_topology("ring", n), ConverterModel(max_current_A=2.0, efficiency=0.9))
    ctl = MPC(period_s=60.0, horizon=H) if eps is None else MPC(period_s=60.0, horizon=H, eps=eps, polish=True)
    state = ctl.init(LoopContext(NominalModel(cell, PackLayout(n_series=n)), 1.0, hw))
    return ctl, state


def _cvxpy_problem(ctl, state):
    """The same QP as MPC.build_qp / qp_vectors, written with cvxpy variables per step."""
    import cvxpy as cp

    qp = state.qp
    n, m, h, a = qp.n, qp.n_w, qp.horizon, qp.a
    d = qp.d_el
    rho = qp.rho_init
    r = (qp.P.diagonal()[0]) / 2.0  # the effort + loss weight on u
    u = cp.Variable((h, m))
    z = cp.Variable((h, n))
    mu = cp.Variable(h)
    p = {k: cp.Parameter(s) for k, s in (("z0", n), ("ip", ()), ("u_lo", m), ("u_hi", m), ("v_lo", (h, n)),
                                         ("v_hi", (h, n)), ("t_lo", (h, n)), ("t_hi", (h, n)))}
    cons = []
    cost = 0
    for k in range(h):
        prev = p["z0"] if k == 0 else z[k - 1]
        cons.append(z[k] == prev - a * (d @ u[k]) + a * p["ip"])
        cons += [u[k] >= p["u_lo"], u[k] <= p["u_hi"]]
        ibal = -(d @ u[k])
        cons += [z[k] + cp.multiply(rho, ibal) >= p["v_lo"][k], z[k] + cp.multiply(rho, ibal) <= p["v_hi"][k]]
        cons += [ibal >= p["t_lo"][k], ibal <= p["t_hi"][k]]
        cost += ctl.q_soc * cp.sum_squares(z[k] - mu[k]) + r * cp.sum_squares(u[k])
    return cp.Problem(cp.Minimize(cost), cons), p, u


def _set_params(p, qp, lo, hi, z0, ip):
    n, m, h = qp.n, qp.n_w, qp.horizon
    p["z0"].value = z0
    p["ip"].value = ip
    s, _ = qp.rows["act"]
    p["u_lo"].value = lo[s:s + m]
    p["u_hi"].value = hi[s:s + m]
    s, e = qp.rows["volt"]
    p["v_lo"].value = np.maximum(lo[s:e], -1e6).reshape(h, n)
    p["v_hi"].value = np.minimum(hi[s:e], 1e6).reshape(h, n)
    s, e = qp.rows["temp"]
    p["t_lo"].value = np.maximum(lo[s:e], -1e6).reshape(h, n)
    p["t_hi"].value = np.minimum(hi[s:e], 1e6).reshape(h, n)


def run(n: int, cell) -> dict:
    import cvxpy as cp

    rng = np.random.default_rng(n)
    z = np.clip(0.5 + 0.04 * (rng.random((1, n)) - 0.5), 0.05, 0.95)
    # accuracy: one call at eps 1e-9, both ways
    ctl, state = _setup(cell, n, 1e-9)
    m0 = _meas(cell, z, 0.0)
    q, lo, hi = ctl.qp_vectors(state, 0, z[0], m0.element_voltage_V[0], np.full(n, 298.15), 0.0)
    s = state.solvers[0]
    s.update(q=q, l=lo, u=hi)
    res = s.solve(raise_error=False)
    prob, par, u_var = _cvxpy_problem(ctl, state)
    _set_params(par, state.qp, lo, hi, z[0], 0.0)
    prob.solve(solver=cp.CLARABEL)
    obj_ours = float(res.info.obj_val)
    obj_cvx = float(prob.value)
    first_move_diff = float(np.abs(res.x[:state.qp.n_w] - u_var.value[0]).max())
    # the warm-started sequence at eps 1e-9: the reference for what the default tolerance changes
    ctl_r, state_r = _setup(cell, n, 1e-9)
    zr = z.copy()
    for k in range(CALLS):
        cmd_r, state_r = ctl_r.step(60.0 * k, _meas(cell, zr, 60.0 * k), Estimate(soc=zr.copy()), state_r)
        zr = zr - 60.0 / state_r.tables.q_As * (cmd_r.edge_current_A @ state_r.qp.d_el.T)
    # timing: the defaults a user gets (MPC()), warm-started sequence
    ctl, state = _setup(cell, n)
    prob, par, u_var = _cvxpy_problem(ctl, state)
    solve, step, cvx = [], [], []
    zz = z.copy()
    d = state.qp.d_el
    for k in range(CALLS):
        meas = _meas(cell, zz, 60.0 * k)
        t0 = time.perf_counter()
        cmd, state = ctl.step(60.0 * k, meas, Estimate(soc=zz.copy()), state)
        step.append(time.perf_counter() - t0)
        solve.append(float(state.solve_time_s[0]))
        q, lo, hi = ctl.qp_vectors(state, 0, zz[0], meas.element_voltage_V[0], np.full(n, 298.15), 0.0)
        _set_params(par, state.qp, lo, hi, zz[0], 0.0)
        t0 = time.perf_counter()
        prob.solve(warm_start=True)  # cvxpy's default QP solver, as most would call it
        cvx.append(time.perf_counter() - t0)
        zz = zz - 60.0 / state.tables.q_As * (cmd.edge_current_A @ d.T)  # the applied move, lossless model
    warm = slice(1, None)  # the first call includes the numeric factorisation
    out = {
        "n_cells": n, "horizon": H, "n_edges": int(state.qp.n_w), "n_variables": int(state.qp.P.shape[0]),
        "n_constraints": int(state.qp.A.shape[0]), "calls": CALLS,
        "solve_ms_median": 1e3 * float(np.median(solve[warm])), "solve_ms_mean": 1e3 * float(np.mean(solve[warm])),
        "solve_ms_max": 1e3 * float(np.max(solve[warm])), "step_ms_median": 1e3 * float(np.median(step[warm])),
        "first_call_ms": 1e3 * solve[0], "failures": int(state.failures[0]),
        "cvxpy_solver": prob.solver_stats.solver_name, "cvxpy_ms_median": 1e3 * float(np.median(cvx[warm])), "cvxpy_first_call_ms": 1e3 * cvx[0],
        "speed_ratio_cvxpy_over_ours": float(np.median(cvx[warm]) / np.median(solve[warm])),
        "objective_ours": obj_ours, "objective_cvxpy_clarabel": obj_cvx,
        "objective_rel_diff": abs(obj_ours - obj_cvx) / max(abs(obj_cvx), 1e-300),
        "first_move_max_abs_diff_A": first_move_diff,
        "default_eps": ctl.eps, "default_polish": ctl.polish,
        "soc_std_after_calls_default": float(zz.std()), "soc_std_after_calls_eps1e-9": float(zr.std()),
        "soc_std_rel_diff_default_vs_1e-9": float(abs(zz.std() - zr.std()) / zr.std()),
    }
    print(json.dumps(out))
    return out


def main() -> None:
    import cvxpy
    import osqp

    cell = get_parameter_set("nmc_lg_m50")
    results = [run(n, cell) for n in (16, 96, 1000)]
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "osqp": osqp.__version__, "cvxpy": cvxpy.__version__,
            "note": "2 shared cores; one run; figures are indicative"}
    path = Path(__file__).parent / "results" / "mpc.json"
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
