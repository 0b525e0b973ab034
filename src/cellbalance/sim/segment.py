"""Compiled segments: many whole periods of current-driven packs, blocks of cells in parallel.

When every pack of a batch runs a current step (constant current, C-rate, rest or a current
profile) and the balancing hardware holds currents and shunts (no conductance links) between two
calls of the loop's slots, the packs do not interact, nor do the series elements of a pack: each
carries its pack's current plus its held balancing current, less what its shunt draws, split among
the cells of its parallel group by Kirchhoff's laws. A block of whole parallel groups (never straddling two packs)
can therefore run many periods on its own. This module does exactly that:

* the cells are cut into blocks of whole groups (at most :data:`~cellbalance.cell.kernels.BLOCK`
  cells), spread over numba's threads in one parallel region per chunk (Python threads around a
  GIL-free block kernel were tried: 1.5-2x slower here for small packs, though 6 s cheaper to
  compile); each block keeps its state in a structure-of-arrays workspace for a whole chunk of
  periods (no per-period copies, no per-period thread hand-off);
* per period and block: the Kirchhoff split (closed form for Thevenin cells), the right-limit row,
  one exact zero-order-hold step, and the model evaluated at the end state, which serves both the
  end-condition check and the next period (the table look-ups and Arrhenius factors are computed
  once per period, not twice);
* each block reports per period its lowest and highest end voltage, its highest temperature and its
  share of the energy sums; a block stops at its first period whose end state meets a condition.
  If any block stopped, the chunk is re-run from its saved start up to the first such period, so the
  state handed back is the one *before* that period, which the general loop then locates exactly.

The arithmetic is that of :func:`cellbalance.cell.kernels.step` and :func:`~cellbalance.cell.kernels.emf_r0`
(the same stage functions on the same workspace layout); the two-node thermal matrix exponential,
fixed for a fixed period, is formed once per chunk. The general loop and this segment agree to
rounding (``tests/sim/test_fastpath.py``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ..cell import kernels as K
from ..cell.kernels import (
    BLOCK,
    C_CAP,
    C_CTH,
    C_ETA,
    C_GAMMA,
    C_GCOOL,
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
from ..pack.wiring import ladder1

__all__ = ["CHUNK", "SegmentPlan", "block_bounds", "record_buffers", "run_segment", "segment_plan"]

# The block workspace is that of K.step (rows K._S_*, the RC rows at K._NFIX + K._NPER * j), so the
# step's own stages (K._rc_stage, K._cell_stage, K._thermal1_stage) do the arithmetic; after the RC
# rows come the emf, R0 and voltage of each cell.
_Z, _H, _S, _T, _TJ, _I, _DT, _F = K._S_Z, K._S_H, K._S_S, K._S_T, K._S_TJ, K._S_I, K._S_DT, K._S_F
_TAB, _CP = K._S_TAB, K._S_CP

CHUNK = 256  # periods per parallel region (a stop wastes at most one chunk, re-run up to the stop)


def _nrows(nrc: int) -> int:
    return K._NFIX + K._NPER * nrc + 3


@njit(cache=True, error_model="numpy", inline="always")
def _evaluate(data, meta, w, nrc, ea0, earc, tref, tref_ocv, entropic, t0, m):
    """Look-ups, Arrhenius factors (rows _S_E0, _S_E1), emf and R0 at the block's state and current
    (rows _S_Z, _S_T, _S_I), as K.emf_r0; with t0 = T_R0, after a change of current alone, only the
    tables from R0 on (those looked up at the current) and R0 (the rest is that of the state)."""
    B = BLOCK
    base = K._NFIX + K._NPER * nrc
    emf = w[base * B:(base + 1) * B]
    r0 = w[(base + 1) * B:(base + 2) * B]
    K._lookups(data, meta, w, np.int64(t0), np.int64(NT_FIXED + 2 * nrc), np.int64(_TAB), np.int64(_T), np.int64(_I), np.int64(_Z), np.int64(_F), np.int64(-1), m)
    if t0 == 0:
        for i in range(m):
            inv_t = 1.0 / w[_T * B + i] - 1.0 / tref
            w[K._S_A0 * B + i] = ea0 * inv_t
            w[K._S_A1 * B + i] = earc * inv_t
        K._vexp(w, np.int64(K._S_A0), np.int64(K._S_E0), np.int64(2), m)
        for i in range(m):
            uo = w[(_TAB + T_OCV) * B + i]
            u = uo + (w[_T * B + i] - tref_ocv) * w[(_TAB + T_DUDT) * B + i] if entropic else uo
            emf[i] = (u + w[(_TAB + T_HYST) * B + i] * w[(_CP + C_MS) * B + i] * w[_H * B + i]
                      + w[(_CP + C_M0) * B + i] * w[_S * B + i])
        for j in range(nrc):
            v = w[(K._NFIX + K._NPER * j) * B:(K._NFIX + K._NPER * j + 1) * B]
            for i in range(m):
                emf[i] += v[i]
    for i in range(m):
        r0[i] = w[(_TAB + T_R0) * B + i] * w[(_CP + C_R0S) * B + i] * w[K._S_E0 * B + i]


@njit(cache=True, error_model="numpy")
def _block(cp, gp, data, meta, x, cur, L, tamb, dt, lo, hi, tl, npar, cur_dep, c0, m, w,
           row_of, rec_x, rec_i, rec_v, pvmin, pvmax, ptmax, psv, psvg, b, bal, ibc, gsc, pbl, pcv, emf_out, r0_out,
           wired, wrc, wseg, tp, tn, pwh):
    """Run cells c0 .. c0+m-1 (whole parallel groups) for up to L periods of pack current cur[j].

    With ``bal``, each element also carries a held balancing current ``ibc`` and a shunt
    conductance ``gsc`` (per cell: its element's values), solved with the element at every period
    (KCL at the element node, as :func:`cellbalance.pack.electrical.element_affine`).

    With ``wired``, each group is the ladder of :mod:`cellbalance.pack.wiring` (connection
    resistances ``wrc`` per cell, busbar segments ``wseg`` per cell: segment j of a group at its
    cell j), solved exactly per period (:func:`~cellbalance.pack.wiring.ladder1`); ``pwh`` gets the
    block's wiring heat per period.

    Returns the number of periods before the first one whose end state meets a condition (L if
    none does); the state is written back to ``x`` only when the block ran all L periods.
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
    base = K._NFIX + K._NPER * nrc
    emf = w[base * B:(base + 1) * B]
    r0v = w[(base + 1) * B:(base + 2) * B]
    vs = w[(base + 2) * B:(base + 3) * B]
    ic = w[_I * B:(_I + 1) * B]  # the cell currents (the look-ups' current too)
    K._load_block(w, xs, cps, nrc, m)
    lE = np.empty(npar)
    lR = np.empty(npar)
    lsE = np.empty(npar)
    lsI = np.empty(npar)
    lcp = np.empty(npar)
    for i in range(m):
        w[_DT * B + i] = dt
    # the thermal decay over one period is the same for the whole chunk
    if not hasjig:
        for i in range(m):
            w[K._S_TA * B + i] = -w[(_CP + C_GCOOL) * B + i] * dt / w[(_CP + C_CTH) * B + i]
        K._vexp(w, np.int64(K._S_TA), np.int64(K._S_TE), np.int64(1), m)
    else:
        K._jig_coefficients(w, m)
    i_prev = cur[0]
    for i in range(m):
        ic[i] = i_prev + ibc[c0 + i] if bal else i_prev
    # Period jp starts with the evaluation of its state: the end state of period jp-1 (at that
    # period's currents), which is also checked against the end conditions; with current-dependent
    # tables a new current is evaluated again. One call site keeps the compiled code small.
    for jp in range(L + 1):
        for rep in range(2):
            if rep == 1:
                if not (cur_dep and jp < L and cur[jp] != i_prev):
                    break
                for i in range(m):  # (one cell per group, no shunt here: the cell current is known)
                    ic[i] = cur[jp] + ibc[c0 + i] if bal else cur[jp]
            _evaluate(data, meta, w, nrc, ea0, earc, tref, tref_ocv, entropic, np.int64(T_R0 if rep else 0), m)
            if rep == 0 and jp > 0:
                vmin = np.inf
                vmax = -np.inf
                tmax = -np.inf
                for i in range(m):
                    v = emf[i] + ic[i] * r0v[i]
                    vmin = min(vmin, v)
                    vmax = max(vmax, v)
                    tmax = max(tmax, w[_T * B + i])
                pvmin[b, jp - 1] = vmin
                pvmax[b, jp - 1] = vmax
                ptmax[b, jp - 1] = tmax
                if min(vmin - lo, hi - vmax, tl - tmax) <= 0.0:
                    return jp - 1
        if jp == L:
            for i in range(m):  # the evaluation of the final state, for the caller (R0 not current-dependent)
                emf_out[c0 + i] = emf[i]
                r0_out[c0 + i] = r0v[i]
            break
        ip = cur[jp]
        # Kirchhoff split of each parallel group (closed form for Thevenin cells)
        sv = 0.0
        svg = 0.0
        sbl = 0.0
        scv = 0.0
        swh = 0.0
        if wired:
            # each group a ladder (connections, busbars), its element node with the held action
            for g in range(ng):
                k0 = c0 + g * npar
                for j in range(npar):
                    lE[j] = emf[g * npar + j]
                    lR[j] = r0v[g * npar + j] + wrc[k0 + j]
                seg = wseg[k0:k0 + npar]
                e_g, r_g = ladder1(lE, lR, seg, seg, tp, tn, npar, lsE, lsI, lcp)
                if bal:
                    ib = ibc[k0]
                    gg = gsc[k0]
                    vg = (ip + ib + e_g / r_g) / (gg + 1.0 / r_g)
                    ig = (vg - e_g) / r_g
                    sbl += gg * vg * vg
                    scv -= ib * vg
                else:
                    ig = ip
                    vg = e_g + r_g * ip
                svg += vg
                s_prev = 0.0
                for j in range(npar):
                    i = g * npar + j
                    s_j = lsE[j] + ig * lsI[j]
                    c = s_j - s_prev
                    v = emf[i] + c * r0v[i]
                    ic[i] = c
                    vs[i] = v
                    sv += c * v
                    swh += wrc[k0 + j] * c * c
                    if j < npar - 1:  # rail segments j (leftward currents)
                        pos = s_j - ig if tp <= j else s_j
                        neg = (ig if tn <= j else 0.0) - s_j
                        swh += seg[j] * (pos * pos + neg * neg)
                    s_prev = s_j
        elif bal and npar == 1:
            # one cell per element: KCL at its node, ip + ib = g v + (v - E) / R, solved for v with one
            # division (as the general loop's solve_currents), the cell current and voltage from it
            for i in range(m):
                ib = ibc[c0 + i]
                gg = gsc[c0 + i]
                ie = ip + ib
                r = r0v[i]
                vn = (emf[i] + ie * r) / (1.0 + gg * r)
                c = ie - gg * vn
                v = emf[i] + c * r
                ic[i] = c
                vs[i] = v
                sv += c * v
                svg += v
                sbl += gg * v * v
                scv -= ib * v
        elif bal:
            # element node: ip + ib = g v + sum (v - E_k) / R_k
            for g in range(ng):
                k0 = c0 + g * npar
                ib = ibc[k0]
                gg = gsc[k0]
                gs = gg
                eg = ip + ib
                for i in range(g * npar, (g + 1) * npar):
                    gs += 1.0 / r0v[i]
                    eg += emf[i] / r0v[i]
                vg = eg / gs
                for i in range(g * npar, (g + 1) * npar):
                    c = (vg - emf[i]) / r0v[i]
                    v = emf[i] + c * r0v[i]
                    ic[i] = c
                    vs[i] = v
                    sv += c * v
                svg += vs[g * npar]
                sbl += gg * vs[g * npar] * vs[g * npar]
                scv -= ib * vs[g * npar]
        elif npar == 1:
            for i in range(m):
                v = emf[i] + ip * r0v[i]
                ic[i] = ip
                vs[i] = v
                sv += ip * v
                svg += v
        else:
            for g in range(ng):
                gs = 0.0
                eg = 0.0
                for i in range(g * npar, (g + 1) * npar):
                    gs += 1.0 / r0v[i]
                    eg += emf[i] / r0v[i]
                vg = (ip + eg) / gs
                for i in range(g * npar, (g + 1) * npar):
                    c = (vg - emf[i]) / r0v[i]
                    v = emf[i] + c * r0v[i]
                    ic[i] = c
                    vs[i] = v
                    sv += c * v
                svg += vs[g * npar]
        psv[b, jp] = sv
        psvg[b, jp] = svg
        pbl[b, jp] = sbl
        pcv[b, jp] = scv
        pwh[b, jp] = swh
        row = row_of[jp]
        if row >= 0:
            for i in range(m):
                rec_x[row, c0 + i, X_Z] = w[_Z * B + i]
                rec_x[row, c0 + i, X_H] = w[_H * B + i]
                rec_x[row, c0 + i, X_S] = w[_S * B + i]
                rec_x[row, c0 + i, X_T] = w[_T * B + i]
                rec_x[row, c0 + i, X_TJ] = w[_TJ * B + i]
                rec_i[row, c0 + i] = ic[i]
                rec_v[row, c0 + i] = vs[i]
            for j in range(nrc):
                r = K._NFIX + K._NPER * j
                for i in range(m):
                    rec_x[row, c0 + i, NX + j] = w[r * B + i]
        # one exact step, by the stages of K.step (the tables and Arrhenius factors of the state are
        # those of the last evaluation)
        for i in range(m):
            Ii = ic[i]
            eta = w[(_CP + C_ETA) * B + i] if Ii > 0.0 else 1.0
            kh = w[(_CP + C_GAMMA) * B + i] * abs(eta * Ii) / w[(_CP + C_CAP) * B + i]
            w[K._S_K * B + i] = kh
            w[K._S_KA * B + i] = -kh * dt
        K._vexp(w, np.int64(K._S_KA), np.int64(K._S_KE), np.int64(1), m)
        K._rc_stage(w, nrc, m)
        K._cell_stage(w, ith, tref_ocv, entropic, m)  # no external heat in a segment: row _S_P only
        if not hasjig:
            K._thermal1_stage(w, K._S_P, ta, m)
        else:
            K._jig_stage(w, K._S_P, ta, m)
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


def _chunk_all(cp, gp, data, meta, x, cur, L, tamb, dt, lims, pack_of, npar, cur_dep, starts, sizes, ws, nt,
               row_of, rec_x, rec_i, rec_v, pvmin, pvmax, ptmax, psv, psvg, stop, bal, ibc, gsc, pbl, pcv, emf_out,
               r0_out, wired, wrc, wseg, tp, tn, pwh):
    """All blocks for one chunk: task k takes blocks k, k + nt, ... on numba's threads, in its own
    workspace row ``ws[k]`` (made once per run). Returns the earliest stop over the blocks."""
    nb = starts.shape[0]
    for k in prange(nt):
        kk = np.int64(k)  # (prange's index is unsigned: cast, or _block is compiled a second time)
        w = ws[kk]
        for b in range(kk, nb, nt):
            stop[b] = _block(cp, gp, data, meta, x, cur[pack_of[b]], L, tamb, dt, lims[b, 0], lims[b, 1], lims[b, 2],
                             npar, cur_dep, starts[b], sizes[b], w, row_of, rec_x, rec_i, rec_v, pvmin, pvmax,
                             ptmax, psv, psvg, b, bal, ibc, gsc, pbl, pcv, emf_out, r0_out, wired, wrc, wseg, tp, tn,
                             pwh)
    return stop.min()


# one body, two builds: on numba's threads, and serial for chunks too small to be worth waking them
# (a chunk of one period of a 96-cell pack is ~2 us of work; starting and joining the threads costs
# several us on an idle machine and a scheduler time slice on a busy one)
# (the threaded build under its own name: numba's disk cache is keyed by name and line, not by options,
# so two builds of one name load each other's machine code; see K._renamed)
_chunk = njit(cache=True, parallel=True, error_model="numpy")(K._renamed(_chunk_all, "_chunk_parallel"))
_chunk_serial = njit(cache=True, error_model="numpy")(_chunk_all)
SERIAL_CELL_PERIODS = 1024  # a chunk of fewer cell-periods than this runs serially


def record_buffers(view: dict | None, n_packs: int) -> tuple:
    """The ``rec`` argument of :func:`run_segment`: the recorder's row views (``Recorder.reserve``),
    or, for a segment that records no row (``view`` None), empty arrays of the same types."""
    if view is None:
        return (np.empty((0, 1, 1)), np.empty((0, 1)), np.empty((0, 1)), np.empty((0, n_packs, 5)), np.empty(0),
                np.empty((0, n_packs)), np.empty((0, n_packs), np.int32))
    return view["x"], view["i"], view["v"], view["energy"], view["time"], view["ip"], view["step"]


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


_NONE = np.zeros(1)


def _per_cell(a, B: int, ns: int, npar: int) -> np.ndarray:
    """An element quantity (B, ns) (or None = 0) as a contiguous array over cells."""
    if a is None:
        return np.zeros(B * ns * npar)
    a = np.ascontiguousarray(a, dtype=float).reshape(B * ns)
    return a if npar == 1 else np.repeat(a, npar)


class SegmentPlan:
    """The blocks of a batch of packs and the work arrays of :func:`run_segment`, made once per run."""

    def __init__(self, cells, n_packs: int, npar: int, bb):
        n = cells.n
        B = n_packs
        cpp = n // B
        self.starts = (bb[0][None, :] + cpp * np.arange(B)[:, None]).ravel()
        self.sizes = np.tile(bb[1], B)
        per_pack = bb[0].shape[0]
        self.pack_of = np.repeat(np.arange(B), per_pack)
        self.first = np.arange(B) * per_pack  # each pack's first block
        self.per_pack = per_pack
        nb = self.starts.shape[0]
        self.nrows = _nrows(int(cells.gp[G_NRC]))
        self.work = tuple(np.empty((nb, CHUNK)) for _ in range(8))  # pvmin, pvmax, ptmax, psv, psvg, pbl, pcv, pwh
        self.stop = np.empty(nb, dtype=np.int64)
        self.x_save = np.empty((n, K.NX + int(cells.gp[G_NRC])))
        self.emf = np.empty(n)  # emf and R0 at the state a segment ends in (valid if self.evaluated)
        self.r0 = np.empty(n)
        self.evaluated = False
        self.nt = max(1, min(numba.get_num_threads(), nb))
        self.ws = np.empty((self.nt, self.nrows * BLOCK))  # one block workspace per thread, reused
        self.lims_key = None  # the end conditions lims was made from (made again when they change)
        self.lims = None
        self.ns = cpp // npar
        self.npar = npar
        self.B = B
        self.wiring(None)

    def wiring(self, wired) -> None:
        """The wiring as per-cell arrays for the block kernel (None: ideal group nodes)."""
        self.wired = wired is not None and not wired.strings
        if not self.wired:
            self.wrc = self.wseg = _NONE
            self.tp = self.tn = 0
            return
        n = self.B * self.ns * self.npar
        self.wrc = np.ascontiguousarray(np.broadcast_to(wired.rc, (self.B, self.ns, self.npar))).reshape(n)
        seg = np.zeros((self.B, self.ns, self.npar))
        seg[..., :-1] = wired.rb
        self.wseg = seg.reshape(n)
        self.tp, self.tn = wired.tp, wired.tn


def segment_plan(cells, n_packs: int, npar: int) -> SegmentPlan | None:
    """The plan of :func:`run_segment` for these cells, or None when a parallel group is larger
    than a block (the general loop then runs the periods)."""
    cpp = cells.n // n_packs
    threads = numba.get_num_threads()
    bb = block_bounds(cpp, npar, max(1, -(-threads // n_packs)))
    return None if bb is None else SegmentPlan(cells, n_packs, npar, bb)


def run_segment(cells, x, cur, tamb, dt, cond, npar, cur_dep, r_ic, energy, charge, row_of, rec, t0, k_step,
                i_bal=None, g_shunt=None, plan: SegmentPlan | None = None, pause=None, pause_at: int | None = None):
    """Advance ``x`` in place through the periods of ``cur`` until the end state of a period would meet
    a condition in any pack (that period is not taken) or ``cur`` is used up.

    ``cur`` (periods, packs): the current of each pack (cells ordered pack by pack); ``cond``
    (packs, 3): the (v_lo, v_hi, T_max) that end each pack's step; ``energy`` (packs, 5) and
    ``charge`` (packs,) are updated in place. ``row_of[j]`` is the row of the record buffers that
    period j fills (-1: none); ``rec`` = (x, i, v, energy, time, pack current, step) buffers with a
    leading row axis, filled at the start of each recorded period (time ``t0 + j dt``, steps
    ``k_step``). ``i_bal`` and ``g_shunt`` (packs, n_series), optional: held balancing currents and
    shunt conductances of the elements (None = none). ``plan``: from :func:`segment_plan` (made here
    if not given). ``pause`` (optional): called as ``pause(j)`` when ``pause_at`` periods are done and
    then at each period j it names: returns (periods to the next pause, 0 to stop here; the held
    ``i_bal`` and ``g_shunt`` from then on). Returns the number of periods advanced, or -1 when the
    segment cannot run here (a parallel group larger than a block).
    """
    B = cur.shape[1]
    if plan is None:
        plan = segment_plan(cells, B, npar)
        if plan is None:
            return -1
    if plan.lims_key is None or plan.lims_key.shape != cond.shape or (plan.lims_key != cond).any():
        plan.lims_key = np.array(cond, float)
        plan.lims = plan.lims_key[plan.pack_of]
    lims = plan.lims
    pvmin, pvmax, ptmax, psv, psvg, pbl, pcv, pwh = plan.work
    bal = i_bal is not None or g_shunt is not None
    ns = plan.ns
    ibc = _per_cell(i_bal, B, ns, npar) if bal else _NONE
    gsc = _per_cell(g_shunt, B, ns, npar) if bal else _NONE
    rec_x, rec_i, rec_v, rec_e, rec_t, rec_ip, rec_step = rec
    stop = plan.stop
    x_save = plan.x_save
    args = (cells.cp, cells.gp, cells.bank.data, cells.bank.meta, x)
    wargs = (plan.wired, plan.wrc, plan.wseg, plan.tp, plan.tn, pwh)
    done = 0
    total = cur.shape[0]
    nxt = total if pause is None else pause_at
    plan.evaluated = False
    while done < total:
        if done == nxt:
            n, i_bal, g_shunt = pause(done)
            if n <= 0:
                break
            nxt = done + n
            bal = i_bal is not None or g_shunt is not None
            ibc = _per_cell(i_bal, B, ns, npar) if bal else _NONE
            gsc = _per_cell(g_shunt, B, ns, npar) if bal else _NONE
        L = min(CHUNK, total - done, nxt - done)
        cj = np.ascontiguousarray(cur[done:done + L].T)  # (packs, L): one contiguous row per pack
        rj = row_of[done:done + L]
        np.copyto(x_save, x)
        chunk = _chunk_serial if L * cells.n < SERIAL_CELL_PERIODS else _chunk
        ok = chunk(*args, cj, L, tamb, dt, lims, plan.pack_of, npar, cur_dep, plan.starts, plan.sizes, plan.ws,
                    plan.nt, rj, rec_x, rec_i, rec_v, pvmin, pvmax, ptmax, psv, psvg, stop, bal, ibc, gsc, pbl, pcv,
                    plan.emf, plan.r0, *wargs)
        if ok < L:
            np.copyto(x, x_save)
            if ok > 0:  # the periods before the stop, again, all blocks in step
                chunk(*args, cj, ok, tamb, dt, lims, plan.pack_of, npar, cur_dep, plan.starts, plan.sizes, plan.ws,
                       plan.nt, rj, rec_x, rec_i, rec_v, pvmin, pvmax, ptmax, psv, psvg, stop, bal, ibc, gsc, pbl,
                       pcv, plan.emf, plan.r0, *wargs)
        if ok > 0:
            _energy(energy, charge, cj, psv, psvg, pbl, pcv, plan.first, plan.per_pack, ok, r_ic, dt, rj, rec_e,
                    rec_t, rec_ip, rec_step, k_step, t0, done, bal, plan.wired, pwh)
            plan.evaluated = not cur_dep
        done += ok
        if ok < L:
            break
    return done


@njit(cache=True)
def _energy(energy, charge, cur, psv, psvg, pbl, pcv, first, per_pack, ok, r_ic, dt, row_of, rec_e, rec_t, rec_ip,
            rec_step, k_step, t0, off, bal, wired, pwh):
    """Energy sums (load, cells, bleed, converters, interconnect) and the charge of each pack over
    periods 0..ok-1, added period by period as the general loop does; each recorded period's row gets
    its time ``t0 + (off + j) dt``, pack currents, steps and the energy sums at its start. ``cur``
    (packs, periods); ``p*`` (blocks, periods) per-block sums; ``r_ic`` the resistance in series
    with each pack (interconnect and terminals), ``pwh`` the wiring heat."""
    B = energy.shape[0]
    for j in range(ok):
        row = row_of[j]
        if row >= 0:
            rec_t[row] = t0 + (off + j) * dt
        for p in range(B):
            i = cur[p, j]
            if row >= 0:
                for q in range(5):
                    rec_e[row, p, q] = energy[p, q]
                rec_ip[row, p] = i
                rec_step[row, p] = k_step[p]
            sv = 0.0
            svg = 0.0
            bl = 0.0
            cv = 0.0
            wh = 0.0
            for b in range(first[p], first[p] + per_pack):
                if wired:
                    wh += pwh[b, j]
                sv += psv[b, j]
                svg += psvg[b, j]
                if bal:
                    bl += pbl[b, j]
                    cv += pcv[b, j]
            p_ic = i * i * r_ic
            energy[p, 0] += (i * svg + p_ic) * dt
            p_ic += wh
            energy[p, 1] += sv * dt
            energy[p, 2] += bl * dt
            energy[p, 3] += cv * dt
            energy[p, 4] += p_ic * dt
            charge[p] += i * dt
