"""State-estimation speed: the batched EKF over 10,000 cells x 3600 steps (target >= 10 million
cell-steps/s), over one 96s pack x 3600 steps in one ``ekf_run`` call (the serial build: what a
small pack's closed loop costs; target <= 12 ms, some 4x the plant alone), and the bar-delta form
against the full EKF at 1,000 cells (target >= 5x).

Inputs: the nominal ``nmc_lg_m50`` cell (two RC pairs: a 4-state filter per cell), US06 currents
(one per pack, 1 s steps), per-cell voltages from the cell model plus noise, temperatures around
25 degC. Two levels are timed:

* kernel: the compiled filter step on preallocated arrays, in place (what a compiled closed loop
  would call): ``ekf_step`` (threads from 512 elements), ``bardelta_step`` (one call per step: pack
  means, the bar EKF and every delta filter; serial below 16,384 elements);
* kernel, one small pack: ``ekf_run`` over 96 cells x 3600 logged steps in one call (serial);
* kernel, logged data (1,000 cells): both filters alike through their multi-step entries
  ``ekf_run`` / ``bardelta_run``, one compiled call per 60 logged steps (no per-step dispatch, some
  6 us per call; the same compiled steps, the same numbers);
* bar-delta with the option ``delta_update_every = 5`` (not the default; its accuracy cost:
  tests/estimation/test_accuracy.py) reported beside the default's figures;
* estimator: ``EKFEstimator.step`` / ``BarDeltaEstimator.step`` with a Measurement per call (the
  slot interface: copies the state, builds the Estimate), fewer steps.

Best of 2 runs after a warm-up call (the host is shared). Run:  python benchmarks/bench_estimation.py
(writes benchmarks/results/estimation.json)
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numba
import numpy as np

from cellbalance.cell import get_parameter_set
from cellbalance.estimation import BarDeltaEstimator, EKFEstimator, FilterTuning
from cellbalance.estimation import kernels as EK
from cellbalance.interfaces import LoopContext, Measurement, NominalModel
from cellbalance.pack import PackLayout
from cellbalance.scenarios.profiles import load_drive_cycle

OUT = Path(__file__).parent / "results" / "estimation.json"
P = get_parameter_set("nmc_lg_m50")


def _inputs(n_cells: int, n_steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    cyc = load_drive_cycle("US06")
    i = np.resize(np.asarray(cyc.values, float), n_steps)
    z = 0.8 + np.cumsum(i) / P.capacity_As
    v = 3.3 + 0.9 * z[:, None] + 0.02 * i[:, None] + 2e-3 * rng.standard_normal((n_steps, n_cells))
    T = 298.15 + 0.5 * rng.standard_normal(n_cells)
    return i, v, T


def _best(fn, repeats=2):
    fn(1)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(None)
        best = min(best, time.perf_counter() - t0)
    return best


CHUNK = 60  # steps per compiled call in the logged-data mode (a minute of 1 s samples)


def bench_ekf_kernel(n_cells: int, n_steps: int, chunk: int = 1) -> float:
    """chunk = 1: one ekf_step call per step; chunk > 1: ekf_run over chunks of logged steps."""
    ctx = LoopContext(NominalModel(P, PackLayout(n_series=n_cells)), 1.0)
    nom = EKFEstimator().init(ctx).nominal
    tu = FilterTuning()
    i, v, T = _inputs(n_cells, n_steps)
    nx = 2 + nom.n_rc
    Tc = np.ascontiguousarray(np.broadcast_to(T, (chunk, n_cells)))
    dtc = np.ones(chunk)

    def run(k_max):
        x = np.zeros((n_cells, nx))
        x[:, 0] = 0.78
        Pm = np.broadcast_to(tu.covariance0(nom.n_rc), (n_cells, nx, nx)).copy()
        s = np.zeros(n_cells)
        inn, sv = np.empty((chunk, n_cells)), np.empty((chunk, n_cells))
        fl = np.empty((chunk, n_cells), np.int64)
        noise, rob = tu.noise(), tu.robust()
        ib = np.empty((chunk, n_cells))
        for k0 in range(0, n_steps if k_max is None else k_max * chunk, chunk):
            m = min(chunk, n_steps - k0)
            ib[:m] = i[k0:k0 + m, None]
            if chunk == 1:
                EK.ekf_step(nom.cp, nom.gp, nom.data, nom.meta, x, Pm, s, ib[0], ib[0], T, v[k0], 1.0, noise, rob,
                            inn[0], sv[0], fl[0])
            else:
                EK.ekf_run(nom.cp, nom.gp, nom.data, nom.meta, x, Pm, s, ib[:m], ib[:m], Tc[:m], v[k0:k0 + m], dtc[:m],
                           noise, rob, inn[:m], sv[:m], fl[:m])

    return _best(run)


def bench_ekf_run_pack(n_cells: int, n_steps: int) -> float:
    """One ekf_run call over every step (all logged), e.g. a 96s pack's hour at 1 s."""
    ctx = LoopContext(NominalModel(P, PackLayout(n_series=n_cells)), 1.0)
    nom = EKFEstimator().init(ctx).nominal
    tu = FilterTuning()
    i, v, T = _inputs(n_cells, n_steps)
    nx = 2 + nom.n_rc
    ib = np.ascontiguousarray(np.broadcast_to(i[:, None], (n_steps, n_cells)))
    Tc = np.ascontiguousarray(np.broadcast_to(T, (n_steps, n_cells)))
    inn, sv = np.empty((n_steps, n_cells)), np.empty((n_steps, n_cells))
    fl = np.empty((n_steps, n_cells), np.int64)

    def run(k_max):
        k = n_steps if k_max is None else k_max
        x = np.zeros((n_cells, nx))
        x[:, 0] = 0.78
        Pm = np.broadcast_to(tu.covariance0(nom.n_rc), (n_cells, nx, nx)).copy()
        EK.ekf_run(nom.cp, nom.gp, nom.data, nom.meta, x, Pm, np.zeros(n_cells), ib[:k], ib[:k], Tc[:k], v[:k],
                   np.ones(k), tu.noise(), tu.robust(), inn[:k], sv[:k], fl[:k])

    return _best(run)


def bench_bardelta_kernel(n_cells: int, n_steps: int, chunk: int = 1, every: int = 1) -> float:
    """One pack of n_cells; chunk as bench_ekf_kernel (bardelta_step / bardelta_run); every: the delta
    filters' measurement update on every k-th step only (BarDeltaEstimator.delta_update_every; 1 =
    the default, every step)."""
    ctx = LoopContext(NominalModel(P, PackLayout(n_series=n_cells)), 1.0)
    nom = EKFEstimator().init(ctx).nominal
    tu = FilterTuning()
    i, v, T = _inputs(n_cells, n_steps)
    nx = 2 + nom.n_rc
    Tc = np.ascontiguousarray(np.broadcast_to(T, (chunk, 1, n_cells)))
    v3 = v[:, None, :]
    dtc = np.ones(chunk)
    upd = np.arange(n_steps) % every == 0

    def run(k_max):
        xb = np.zeros((1, nx))
        xb[0, 0] = 0.78
        Pb = tu.covariance0(nom.n_rc)[None].copy()
        sb = np.zeros(1)
        ib_, sv, fb = np.empty((chunk, 1)), np.empty((chunk, 1)), np.empty((chunk, 1), np.int64)
        dz, p = np.zeros(n_cells), np.full(n_cells, 4e-4)
        inn, fl = np.empty((chunk, n_cells)), np.empty((chunk, n_cells), np.int64)
        noise, rob = tu.noise(), tu.robust()
        dnoise = np.array([tu.current_noise_std_A, 2e-5, tu.voltage_noise_std_V])
        ib = np.empty((chunk, 1, n_cells))
        for k0 in range(0, n_steps if k_max is None else k_max * chunk, chunk):
            m = min(chunk, n_steps - k0)
            ib[:m] = i[k0:k0 + m, None, None]
            if chunk == 1:
                EK.bardelta_step(nom.cp, nom.gp, nom.data, nom.meta, xb, Pb, sb, dz, p, ib[0], ib[0], Tc[0], v3[k0],
                                 1.0, noise, dnoise, rob, ib_[0], sv[0], fb[0], inn[0], fl[0], upd[k0])
            else:
                EK.bardelta_run(nom.cp, nom.gp, nom.data, nom.meta, xb, Pb, sb, dz, p, ib[:m], ib[:m], Tc[:m],
                                v3[k0:k0 + m], dtc[:m], noise, dnoise, rob, ib_[:m], sv[:m], fb[:m], inn[:m], fl[:m],
                                upd[k0:k0 + m])

    return _best(run)


def bench_estimator(cls, n_cells: int, n_steps: int) -> float:
    ctx = LoopContext(NominalModel(P, PackLayout(n_series=n_cells)), 1.0)
    i, v, T = _inputs(n_cells, n_steps)
    q = np.concatenate([[0.0], np.cumsum(i)])
    meas = [Measurement(t_s=float(k), element_voltage_V=v[k][None], temperature_K=np.broadcast_to(T, (1, n_cells))[..., None],
                        pack_current_A=np.array([i[k]]), pack_voltage_V=np.array([v[k].sum()]),
                        pack_charge_C=np.array([q[k]])) for k in range(n_steps)]
    est = cls(initial_soc=0.78)

    def run(k_max):
        st = est.init(ctx)
        for m in meas[: (n_steps if k_max is None else k_max)]:
            _, st = est.step(m.t_s, m, None, st)

    return _best(run)


def main() -> None:
    res: dict = {"host": {"machine": platform.machine(), "cpus": os.cpu_count(), "numba_threads": numba.get_num_threads(),
                          "python": platform.python_version(), "numba": numba.__version__},
                 "cell": P.name, "filter_states": 2 + P.n_rc}
    n, steps = 10_000, 3600
    t = bench_ekf_kernel(n, steps)
    res["ekf_kernel_10000x3600"] = {"seconds": t, "cell_steps_per_s": n * steps / t, "target": 1e7}
    t = bench_ekf_run_pack(96, 3600)
    res["ekf_run_96x3600"] = {"seconds": t, "cell_steps_per_s": 96 * 3600 / t, "target_seconds": 0.012}
    t = bench_estimator(EKFEstimator, n, 360)
    res["ekf_estimator_step_10000x360"] = {"seconds": t, "cell_steps_per_s": n * 360 / t}
    n1, s1 = 1000, 3600
    for mode, chunk in (("kernel_1000x3600", 1), ("kernel_logged_1000x3600", CHUNK)):
        te = bench_ekf_kernel(n1, s1, chunk)
        tb = bench_bardelta_kernel(n1, s1, chunk)
        t5 = bench_bardelta_kernel(n1, s1, chunk, every=5)
        res[mode] = {"steps_per_call": chunk, "ekf_s": te, "bardelta_s": tb, "ekf_cell_steps_per_s": n1 * s1 / te,
                     "bardelta_cell_steps_per_s": n1 * s1 / tb, "speedup": te / tb, "target_speedup": 5.0,
                     # the option, not the default: delta filters' measurement update on every 5th step
                     "bardelta_delta_update_every_5_s": t5, "speedup_delta_update_every_5": te / t5}
    te2 = bench_estimator(EKFEstimator, n1, 1000)
    tb2 = bench_estimator(BarDeltaEstimator, n1, 1000)
    res["estimator_step_1000x1000"] = {"ekf_s": te2, "bardelta_s": tb2, "speedup": te2 / tb2}
    OUT.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
