"""Independent reference for pack wiring: the resistor network solved by general sparse modified
nodal analysis (MNA) at every time step, the cells stepped one by one through cellbalance's public
single-cell functions.

This is the exact-solve reference (no lag between circuit and cells); liionpack 0.4 itself is compared
in tests/pack/test_wiring_liionpack.py, on traces generated once in its own environment by
``benchmarks/peers/liionpack_wiring_reference.py`` (liionpack 0.4.0 fails with PyBaMM 26, runs with
PyBaMM 25.1.1 and pandas 2.2.3). liionpack lags the cell resistance by one step (``R_i = |OCV - V| / I``
of the previous step, the RC voltage folded into it; frozen during rests), so it agrees with an
exact solve to its own coupling error (0.1 % in branch current under load), not to 1e-9.

The network here is built as a netlist of the physical elements (the grid of liionpack's
``setup_circuit`` for ``parallel-strings``: per string, per cell a connection resistor, the cell's
EMF and its R0, busbar resistors between the strings' ends on both rails, a terminal resistor on
each side; for ``series-groups`` each group's own rails, joined in series), and solved with
``scipy.sparse.linalg.spsolve`` on the standard MNA system ``[G B; B^T 0] [v; j] = [i; e]``
(Ho, Ruehli and Brennan, IEEE Trans. Circuits Syst. 22(6), 1975). It shares no code with
``cellbalance.pack.wiring`` (no ladder, no mesh currents).

Run (writes tests/peer/data/wiring_reference.npz):
    PYTHONPATH=src python tests/peer/wiring_reference.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from cellbalance.cell import get_parameter_set
from cellbalance.cell.model import emf_and_r0, initial_state, step

OUT = Path(__file__).parent / "data" / "wiring_reference.npz"

#: the cases: 4 strings x 2 cells (the issue's pack) and 2 groups x 4 cells; ECM_Example cells
#: (100 Ah) with capacity and SOC variation; a 1C-ish discharge, a rest and a charge, 1 s steps
CASES = {
    "parallel-strings": dict(ns=2, npar=4, rc=[[1.0e-3, 1.5e-3, 0.8e-3, 1.2e-3], [1.1e-3, 0.9e-3, 1.3e-3, 1.0e-3]],
                             rb=[2e-4, 3e-4, 1e-4], rt=1e-4, terminals="left"),
    "series-groups": dict(ns=2, npar=4, rc=[[1.0e-3, 1.5e-3, 0.8e-3, 1.2e-3], [1.1e-3, 0.9e-3, 1.3e-3, 1.0e-3]],
                          rb=[[2e-4, 3e-4, 1e-4], [1.5e-4, 2.5e-4, 2e-4]], rt=1e-4, terminals="left-right"),
}
SEED = 7
PROFILE = [(-100.0, 900), (0.0, 300), (50.0, 600)]  # (pack current A, seconds)
DT = 1.0
EVERY = 10  # stored rows


def variation(n: int):
    rng = np.random.default_rng(SEED)
    return 100.0 * (1 + 0.03 * rng.standard_normal(n)), 0.6 + 0.03 * rng.standard_normal(n)


def _positions(terminals: str, npar: int) -> tuple[int, int]:
    tp, tn = {"left": (0, 0), "right": (-1, -1), "left-right": (0, -1), "right-left": (-1, 0)}[terminals]
    return tp % npar, tn % npar


def netlist(conf: str, ns: int, npar: int, rc, rb, rt, terminals):
    """Resistors (a, b, R), cell sources (plus node, minus node, cell index) with their R0 resistor
    listed separately (a, b, cell index), and the terminal nodes; node 0 is ground."""
    tp, tn = _positions(terminals, npar)
    res, cells_src, r0s = [], [], []
    count = [1]

    def node():
        count[0] += 1
        return count[0] - 1

    if conf == "parallel-strings":
        neg = [node() for _ in range(npar)]
        pos = [node() for _ in range(npar)]
        for j in range(npar):
            lo = neg[j]
            for s in range(ns):
                a, b = node(), node()
                res.append((lo, a, rc[s][j]))  # connection
                cells_src.append((b, a, s * npar + j))  # emf: node b above node a
                hi = pos[j] if s == ns - 1 else node()
                r0s.append((b, hi, s * npar + j))
                lo = hi
        for k in range(npar - 1):
            res.append((neg[k], neg[k + 1], rb[k]))
            res.append((pos[k], pos[k + 1], rb[k]))
        t_neg, t_pos = neg[tn], pos[tp]
    else:
        prev_top = None
        for s in range(ns):
            neg = [node() for _ in range(npar)]
            if prev_top is not None:
                res.append((prev_top, neg[tn], 0.0))  # joined (a zero resistor is replaced by a short below)
            pos = [node() for _ in range(npar)]
            for j in range(npar):
                a, b = node(), node()
                res.append((neg[j], a, rc[s][j]))
                cells_src.append((b, a, s * npar + j))
                r0s.append((b, pos[j], s * npar + j))
            for k in range(npar - 1):
                res.append((neg[k], neg[k + 1], rb[s][k]))
                res.append((pos[k], pos[k + 1], rb[s][k]))
            if s == 0:
                t_neg = neg[tn]
            prev_top = pos[tp]
        t_pos = prev_top
    # terminals: ground -- Rt -- t_neg, and the current source feeds node tplus -- Rt -- t_pos
    gnd_side = node()
    res.append((gnd_side, t_neg, rt))
    tplus = node()
    res.append((tplus, t_pos, rt))
    return res, cells_src, r0s, gnd_side, tplus, count[0]


def solve_network(net, emf, r0, i_pack):
    """Cell currents (positive = charging: into the cell's positive node) and the pack voltage."""
    res, cells_src, r0s, gnd, tplus, nn = net
    # the current source returns through ground: tie gnd_side to ground with a 0 V source
    rows, cols, vals = [], [], []

    def stamp(a, b, g):
        for (p, q, v) in ((a, a, g), (b, b, g), (a, b, -g), (b, a, -g)):
            rows.append(p)
            cols.append(q)
            vals.append(v)

    shorts = []
    for a, b, r in res:
        if r == 0.0:
            shorts.append((a, b))
        else:
            stamp(a, b, 1.0 / r)
    for a, b, k in r0s:
        stamp(a, b, 1.0 / r0[k])
    srcs = [(p, m, emf[k], k) for p, m, k in cells_src] + [(a, b, 0.0, -1) for a, b in shorts] + [(gnd, 0, 0.0, -2)]
    n_v = nn
    m = len(srcs)
    for q, (p, mn, _, _) in enumerate(srcs):
        for node_, sgn in ((p, 1.0), (mn, -1.0)):
            rows += [node_, n_v + q]
            cols += [n_v + q, node_]
            vals += [sgn, sgn]
    A = sp.csr_matrix((vals, (rows, cols)), shape=(n_v + m, n_v + m)).tolil()
    rhs = np.zeros(n_v + m)
    rhs[tplus] += i_pack
    for q, (_, _, e, _) in enumerate(srcs):
        rhs[n_v + q] = e
    # ground: node 0
    A[0, :] = 0.0
    A[:, 0] = 0.0
    A[0, 0] = 1.0
    rhs[0] = 0.0
    x = spsolve(A.tocsr(), rhs)
    v = x[:n_v]
    i_cell = np.zeros(len(cells_src))
    for a, b, k in r0s:  # current through R0 from its top node (a) to the pack's positive side: discharge
        i_cell[k] = (v[b] - v[a]) / r0[k]
    return i_cell, v[tplus] - v[gnd] + 0.0


def run_case(conf: str, spec: dict) -> dict:
    p = get_parameter_set("ecm_example")
    ns, npar = spec["ns"], spec["npar"]
    n = ns * npar
    cap, soc = variation(n)
    cells = p.compile(n, capacity_Ah=cap)
    state = initial_state(cells, soc=soc)
    net = netlist(conf, ns, npar, spec["rc"], spec["rb"], spec["rt"], spec["terminals"])
    i_prev = np.zeros(n)
    out = {k: [] for k in ("time_s", "current_A", "voltage_V", "soc", "pack_voltage_V")}
    t = 0.0
    for i_pack, dur in PROFILE:
        for _ in range(int(dur / DT)):
            emf, r0, _ = emf_and_r0(cells, state, i_prev)
            i_cell, v_pack = solve_network(net, emf, r0, i_pack)
            if round(t / DT) % EVERY == 0:
                out["time_s"].append(t)
                out["current_A"].append(i_cell)
                out["voltage_V"].append(emf + i_cell * r0)
                out["soc"].append(state.x[:, 0].copy())
                out["pack_voltage_V"].append(v_pack)
            state = step(cells, state, i_cell, DT)
            i_prev = i_cell
            t += DT
    return {k: np.asarray(v) for k, v in out.items()}


def main() -> None:
    arrays = {}
    for conf, spec in CASES.items():
        r = run_case(conf, spec)
        for k, v in r.items():
            arrays[f"{conf}/{k}"] = v
        print(conf, {k: v.shape for k, v in r.items()})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
