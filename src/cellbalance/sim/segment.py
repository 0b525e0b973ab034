"""Compiled segments: many whole periods of one current-driven pack, blocks of cells in parallel.

When a pack runs a current step (constant current, C-rate, rest or a current profile) with nothing
switched in and no controller or estimator, its series elements do not interact: each carries the
pack current, split among the cells of its parallel group by Kirchhoff's laws. A block of whole
parallel groups can therefore run many periods on its own. This module does exactly that:

* the cells are cut into blocks of whole groups (at most :data:`~cellbalance.cell.kernels.BLOCK`
  cells), spread over numba's threads; each block keeps its state in a structure-of-arrays
  workspace for a whole chunk of periods (no per-period copies, no per-period thread start);
* per period and block: the Kirchhoff split (closed form for Thevenin cells), the right-limit row,
  one exact zero-order-hold step, and the model evaluated at the end state, which serves both the
  end-condition check and the next period (the table look-ups and Arrhenius factors are computed
  once per period, not twice);
* each block reports per period its lowest and highest end voltage, its highest temperature and its
  share of the energy sums; a block stops at its first period whose end state meets a condition.
  If any block stopped, the chunk is re-run from its saved start up to the first such period, so the
  state handed back is the one *before* that period, which the general loop then locates exactly.

The arithmetic is that of :func:`cellbalance.cell.kernels.step` and :func:`~cellbalance.cell.kernels.emf_r0`
operation for operation, except the two-node thermal update, whose matrix exponential is formed once
per chunk (the general loop and this segment agree to rounding: ``tests/sim/test_fastpath.py``).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from ..cell import kernels as K
from ..cell.kernels import (
    BLOCK,
    C_CAP,
    C_CJIG,
    C_CTH,
    C_ETA,
    C_GAMMA,
    C_GCOOL,
    C_GJIG,
    C_ISD,
    C_M0,
    C_MS,
    C_R0S,
    G_EA0,
    G_EARC,
    G_ENTROPIC,
    G_HASJIG,
    G_ITHRESH,
    G_NRC,
    G_TREF_OCV,
    G_TREF_R,
    NCP,
    NT_FIXED,
    NX,
    T_DUDT,
    T_HYST,
    T_OCV,
    T_R0,
    X_H,
    X_S,
    X_T,
    X_TJ,
    X_Z,
)

__all__ = ["CHUNK", "block_bounds", "run_segment"]

# rows of the block workspace (each BLOCK long); the RC rows follow at K._NFIX + K._NPER * j, as
# K._lookups expects, and the two-node thermal coefficients after them
(_Z, _H, _S, _T, _TJ, _I, _F, _A0, _A1, _KA, _E0, _E1, _KE, _PRC, _KH, _P, _TE, _EMF, _R0, _VS, _IC) = range(21)
_TAB = 21  # tables T_OCV .. T_R0 (4 rows)
_CP = 25  # per-cell parameters (NCP rows)
assert _CP + NCP <= K._NFIX

CHUNK = 256  # periods per parallel region (a stop wastes at most one chunk, re-run up to the stop)


def _nrows(nrc: int) -> int:
    return K._NFIX + K._NPER * nrc + 4


@njit(cache=True, error_model="numpy", inline="always")
def _evaluate(data, meta, w, nrc, ea0, earc, tref, tref_ocv, entropic, m):
    """Look-ups, Arrhenius factors, emf and R0 at the block's state (rows _Z, _T, _I)."""
    B = BLOCK
    K._lookups(data, meta, w, 0, NT_FIXED + 2 * nrc, _TAB, _T, _I, _Z, _F, -1, m)
    for i in range(m):
        inv_t = 1.0 / w[_T * B + i] - 1.0 / tref
        w[_A0 * B + i] = ea0 * inv_t
        w[_A1 * B + i] = earc * inv_t
    K._vexp(w, _A0, _E0, 2, m)
    for i in range(m):
        uo = w[(_TAB + T_OCV) * B + i]
        u = uo + (w[_T * B + i] - tref_ocv) * w[(_TAB + T_DUDT) * B + i] if entropic else uo
        w[_EMF * B + i] = (u + w[(_TAB + T_HYST) * B + i] * w[(_CP + C_MS) * B + i] * w[_H * B + i]
                           + w[(_CP + C_M0) * B + i] * w[_S * B + i])
        w[_R0 * B + i] = w[(_TAB + T_R0) * B + i] * w[(_CP + C_R0S) * B + i] * w[_E0 * B + i]
    for j in range(nrc):
        v = w[(K._NFIX + K._NPER * j) * B:(K._NFIX + K._NPER * j + 1) * B]
        for i in range(m):
            w[_EMF * B + i] += v[i]


@njit(cache=True, error_model="numpy")
def _block(cp, gp, data, meta, x, cur, L, tamb, dt, lo, hi, tl, npar, cur_dep, c0, m, w,
           row_of, rec_x, rec_i, rec_v, pvmin, pvmax, ptmax, psv, psvg, b):
    """Run cells c0 .. c0+m-1 (whole parallel groups) for up to L periods of current cur[j].

    Returns the number of periods whose end state meets no condition before the first one that does
    (L if none does); the state is written back to ``x`` only when the block ran all L periods.
    """
    B = BLOCK
    nrc = int(gp[G_NRC])
    ea0 = gp[G_EA0]
    earc = gp[G_EARC]
    tref = gp[G_TREF_R]
    tref_ocv = gp[G_TREF_OCV]
    entropic = gp[G_ENTROPIC] != 0.0
    ith = gp[G_ITHRESH]
    hasjig = gp[G_HASJIG] != 0.0
    ng = m // npar
    xs = x[c0:c0 + m]
    cps = cp[c0:c0 + m]
    ta = tamb[c0:c0 + m]
    jb = K._NFIX + K._NPER * nrc  # two-node thermal coefficients
    for i in range(m):
        w[_Z * B + i] = xs[i, X_Z]
        w[_H * B + i] = xs[i, X_H]
        w[_S * B + i] = xs[i, X_S]
        w[_T * B + i] = xs[i, X_T]
        w[_TJ * B + i] = xs[i, X_TJ]
        for k in range(NCP):
            w[(_CP + k) * B + i] = cps[i, k]
    for j in range(nrc):
        r = K._NFIX + K._NPER * j
        for i in range(m):
            w[r * B + i] = xs[i, NX + j]
            w[(r + 1) * B + i] = cps[i, NCP + 2 * j]
            w[(r + 2) * B + i] = cps[i, NCP + 2 * j + 1]
    # the thermal decay over one period is fixed for the chunk
    if not hasjig:
        for i in range(m):
            w[_KA * B + i] = -w[(_CP + C_GCOOL) * B + i] * dt / w[(_CP + C_CTH) * B + i]
        K._vexp(w, _KA, _TE, 1, m)
    else:
        for i in range(m):
            C1 = w[(_CP + C_CTH) * B + i]
            G1 = w[(_CP + C_GCOOL) * B + i]
            C2 = w[(_CP + C_CJIG) * B + i]
            G2 = w[(_CP + C_GJIG) * B + i]
            a11 = -G1 / C1
            a12 = G1 / C1
            a21 = G1 / C2
            a22 = -(G1 + G2) / C2
            half = 0.5 * (a11 + a22)
            disc = math.sqrt(0.25 * (a11 - a22) ** 2 + a12 * a21)
            ex = math.exp(half * dt)
            ch = math.cosh(disc * dt)
            sh = math.sinh(disc * dt) / disc
            w[jb * B + i] = ex * (ch + sh * (a11 - half))
            w[(jb + 1) * B + i] = ex * sh * a12
            w[(jb + 2) * B + i] = ex * sh * a21
            w[(jb + 3) * B + i] = ex * (ch + sh * (a22 - half))
    i_prev = cur[0]
    for i in range(m):
        w[_I * B + i] = i_prev
    _evaluate(data, meta, w, nrc, ea0, earc, tref, tref_ocv, entropic, m)
    for jp in range(L):
        ip = cur[jp]
        if cur_dep and ip != i_prev:  # (one cell per group: the cell current is the pack current)
            for i in range(m):
                w[_I * B + i] = ip
            _evaluate(data, meta, w, nrc, ea0, earc, tref, tref_ocv, entropic, m)
        # Kirchhoff split of each parallel group (closed form for Thevenin cells)
        sv = 0.0
        svg = 0.0
        if npar == 1:
            for i in range(m):
                v = w[_EMF * B + i] + ip * w[_R0 * B + i]
                w[_IC * B + i] = ip
                w[_VS * B + i] = v
                sv += ip * v
                svg += v
        else:
            for g in range(ng):
                gs = 0.0
                eg = 0.0
                for i in range(g * npar, (g + 1) * npar):
                    gs += 1.0 / w[_R0 * B + i]
                    eg += w[_EMF * B + i] / w[_R0 * B + i]
                vg = (ip + eg) / gs
                for i in range(g * npar, (g + 1) * npar):
                    e = w[_EMF * B + i]
                    r0 = w[_R0 * B + i]
                    ic = (vg - e) / r0
                    v = e + ic * r0
                    w[_IC * B + i] = ic
                    w[_VS * B + i] = v
                    sv += ic * v
                svg += w[_VS * B + g * npar]
        psv[b, jp] = sv
        psvg[b, jp] = svg
        row = row_of[jp]
        if row >= 0:
            for i in range(m):
                rec_x[row, c0 + i, X_Z] = w[_Z * B + i]
                rec_x[row, c0 + i, X_H] = w[_H * B + i]
                rec_x[row, c0 + i, X_S] = w[_S * B + i]
                rec_x[row, c0 + i, X_T] = w[_T * B + i]
                rec_x[row, c0 + i, X_TJ] = w[_TJ * B + i]
                rec_i[row, c0 + i] = w[_IC * B + i]
                rec_v[row, c0 + i] = w[_VS * B + i]
            for j in range(nrc):
                r = K._NFIX + K._NPER * j
                for i in range(m):
                    rec_x[row, c0 + i, NX + j] = w[r * B + i]
        # one exact step (as K.step): hysteresis decay, RC pairs, coulomb counting, heat, thermal
        for i in range(m):
            Ii = w[_IC * B + i]
            eta = w[(_CP + C_ETA) * B + i] if Ii > 0.0 else 1.0
            kh = w[(_CP + C_GAMMA) * B + i] * abs(eta * Ii) / w[(_CP + C_CAP) * B + i]
            w[_KH * B + i] = kh
            w[_KA * B + i] = -kh * dt
            w[_PRC * B + i] = 0.0
        K._vexp(w, _KA, _KE, 1, m)
        for j in range(nrc):
            r = K._NFIX + K._NPER * j
            v = w[r * B:(r + 1) * B]
            sr = w[(r + 1) * B:(r + 2) * B]
            sc = w[(r + 2) * B:(r + 3) * B]
            rr = w[(r + 3) * B:(r + 4) * B]
            tt = w[(r + 4) * B:(r + 5) * B]
            arg = w[(r + 5) * B:(r + 6) * B]
            aa = w[(r + 6) * B:(r + 7) * B]
            for i in range(m):
                R = rr[i] * sr[i] * w[_E1 * B + i]
                tau = R * (tt[i] * sc[i])
                rr[i] = R
                tt[i] = tau
                arg[i] = -dt / tau
            K._vexp(w, r + 5, r + 6, 1, m)
            for i in range(m):
                R = rr[i]
                tau = tt[i]
                a = aa[i]
                vinf = R * w[_IC * B + i]
                d = v[i] - vinf
                v[i] = vinf + d * a
                iv2 = vinf * vinf * dt + 2.0 * vinf * d * tau * (1.0 - a) + d * d * 0.5 * tau * (1.0 - a * a)
                w[_PRC * B + i] += iv2 / (R * dt)
        for i in range(m):
            Ii = w[_IC * B + i]
            Ti = w[_T * B + i]
            Q = w[(_CP + C_CAP) * B + i]
            eta = w[(_CP + C_ETA) * B + i] if Ii > 0.0 else 1.0
            isd = w[(_CP + C_ISD) * B + i]
            r0 = w[_R0 * B + i]
            uo = w[(_TAB + T_OCV) * B + i]
            dudt = w[(_TAB + T_DUDT) * B + i]
            u = uo + (Ti - tref_ocv) * dudt if entropic else uo
            mm = w[(_TAB + T_HYST) * B + i] * w[(_CP + C_MS) * B + i]
            sg = 1.0 if Ii > 0.0 else (-1.0 if Ii < 0.0 else 0.0)
            si = sg if abs(Ii) > ith else w[_S * B + i]
            kh = w[_KH * B + i]
            hi_ = w[_H * B + i]
            ah = w[_KE * B + i]
            if kh > 0.0:
                hmean = sg + (hi_ - sg) * (1.0 - ah) / (kh * dt)
                hn = sg + (hi_ - sg) * ah
            else:
                hmean = hi_
                hn = hi_
            p_hys = Ii * (mm * hmean + w[(_CP + C_M0) * B + i] * si)
            w[_Z * B + i] = w[_Z * B + i] + (eta * Ii - isd) * dt / Q
            w[_H * B + i] = hn
            w[_S * B + i] = si
            p = Ii * Ii * r0 + w[_PRC * B + i] + p_hys + Ii * Ti * dudt + isd * u
            if Ii > 0.0:
                p += (1.0 - eta) * Ii * u
            w[_P * B + i] = p + 0.0  # no external heat in a segment
        if not hasjig:
            for i in range(m):
                G1 = w[(_CP + C_GCOOL) * B + i]
                Ti = w[_T * B + i]
                pq = w[_P * B + i]
                if G1 > 0.0:
                    teq = ta[i] + pq / G1
                    Ti = teq + (Ti - teq) * w[_TE * B + i]
                else:
                    Ti = Ti + pq * dt / w[(_CP + C_CTH) * B + i]
                w[_T * B + i] = Ti
        else:
            for i in range(m):
                pq = w[_P * B + i]
                tj_ss = ta[i] + pq / w[(_CP + C_GJIG) * B + i]
                t_ss = tj_ss + pq / w[(_CP + C_GCOOL) * B + i]
                e1 = w[_T * B + i] - t_ss
                e2 = w[_TJ * B + i] - tj_ss
                w[_T * B + i] = t_ss + w[jb * B + i] * e1 + w[(jb + 1) * B + i] * e2
                w[_TJ * B + i] = tj_ss + w[(jb + 2) * B + i] * e1 + w[(jb + 3) * B + i] * e2
        # the end state: evaluated once, for the check and for the next period
        if cur_dep:
            for i in range(m):
                w[_I * B + i] = w[_IC * B + i]
        _evaluate(data, meta, w, nrc, ea0, earc, tref, tref_ocv, entropic, m)
        vmin = np.inf
        vmax = -np.inf
        tmax = -np.inf
        for i in range(m):
            v = w[_EMF * B + i] + w[_IC * B + i] * w[_R0 * B + i]
            vmin = min(vmin, v)
            vmax = max(vmax, v)
            tmax = max(tmax, w[_T * B + i])
        pvmin[b, jp] = vmin
        pvmax[b, jp] = vmax
        ptmax[b, jp] = tmax
        if min(vmin - lo, hi - vmax, tl - tmax) <= 0.0:
            return jp
        i_prev = ip
    for i in range(m):
        xs[i, X_Z] = w[_Z * B + i]
        xs[i, X_H] = w[_H * B + i]
        xs[i, X_S] = w[_S * B + i]
        xs[i, X_T] = w[_T * B + i]
        if hasjig:
            xs[i, X_TJ] = w[_TJ * B + i]
    for j in range(nrc):
        r = K._NFIX + K._NPER * j
        for i in range(m):
            xs[i, NX + j] = w[r * B + i]
    return L


@njit(cache=True, parallel=True, error_model="numpy")
def _chunk(cp, gp, data, meta, x, cur, L, tamb, dt, lo, hi, tl, npar, cur_dep, starts, sizes, nrows,
           row_of, rec_x, rec_i, rec_v, pvmin, pvmax, ptmax, psv, psvg, stop):
    nb = starts.shape[0]
    for b in prange(nb):
        w = np.empty(nrows * BLOCK)
        stop[b] = _block(cp, gp, data, meta, x, cur, L, tamb, dt, lo, hi, tl, npar, cur_dep, starts[b],
                         sizes[b], w, row_of, rec_x, rec_i, rec_v, pvmin, pvmax, ptmax, psv, psvg, b)


def block_bounds(n: int, npar: int, threads: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Blocks of whole parallel groups, at most BLOCK cells and at least one per thread where the
    groups allow; None when a group alone exceeds BLOCK (the caller then uses the general path)."""
    if npar > BLOCK or n % npar:
        return None
    ng = n // npar
    per = max(1, min(BLOCK // npar, -(-ng // max(threads, 1))))
    nb = -(-ng // per)
    starts = np.arange(nb, dtype=np.int64) * per * npar
    sizes = np.minimum(per * npar, n - starts).astype(np.int64)
    return starts, sizes


def run_segment(cells, x, cur, tamb, dt, lo, hi, tl, npar, cur_dep, r_ic, energy, row_of, rec_x, rec_i,
                rec_v, rec_e):
    """Advance ``x`` in place through the periods of ``cur`` (pack current per period) until the end
    state of a period would meet a condition (that period is not taken) or ``cur`` is used up.

    ``row_of[j]`` is the row of the record buffers that period j fills (-1: none); ``rec_e[row]``
    receives the energy sums at the row's time. ``energy`` (5,) is updated in place.
    Returns the number of periods advanced, or -1 when the segment cannot run here.
    """
    n = x.shape[0]
    bb = block_bounds(n, npar, numba.get_num_threads())
    if bb is None:
        return -1
    starts, sizes = bb
    nb = starts.shape[0]
    nrows = _nrows(int(cells.gp[G_NRC]))
    args = (cells.cp, cells.gp, cells.bank.data, cells.bank.meta)
    pvmin, pvmax, ptmax, psv, psvg = (np.empty((nb, CHUNK)) for _ in range(5))
    stop = np.empty(nb, dtype=np.int64)
    x_save = np.empty_like(x)
    done = 0
    total = cur.shape[0]
    while done < total:
        L = min(CHUNK, total - done)
        cj = np.ascontiguousarray(cur[done:done + L])
        rj = row_of[done:done + L]
        np.copyto(x_save, x)
        _chunk(*args, x, cj, L, tamb, dt, lo, hi, tl, npar, cur_dep, starts, sizes, nrows, rj, rec_x, rec_i,
               rec_v, pvmin, pvmax, ptmax, psv, psvg, stop)
        ok = int(stop.min())
        if ok < L:
            np.copyto(x, x_save)
            if ok > 0:  # the periods before the stop, again, all blocks in step
                _chunk(*args, x, cj, ok, tamb, dt, lo, hi, tl, npar, cur_dep, starts, sizes, nrows, rj, rec_x,
                       rec_i, rec_v, pvmin, pvmax, ptmax, psv, psvg, stop)
        _energy(energy, cj[:ok], psv[:, :ok].sum(0), psvg[:, :ok].sum(0), r_ic, dt, rj[:ok], rec_e)
        done += ok
        if ok < L:
            break
    return done


def _energy(energy, cur, sv, svg, r_ic, dt, row_of, rec_e):
    """Energy sums period by period (load, cells, -, -, interconnect), rows at the start of periods."""
    p_ic = cur * cur * r_ic
    inc = np.zeros((cur.shape[0], 5))
    inc[:, 0] = (cur * svg + p_ic) * dt
    inc[:, 1] = sv * dt
    inc[:, 4] = p_ic * dt
    before = energy + np.concatenate([np.zeros((1, 5)), np.cumsum(inc, 0)[:-1]]) if cur.shape[0] else None
    if before is not None:
        rows = row_of >= 0
        rec_e[row_of[rows]] = before[rows]
        energy += inc.sum(0) if cur.shape[0] == 1 else np.cumsum(inc, 0)[-1]
