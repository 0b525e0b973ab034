"""Compiled per-cell kernels of the equivalent-circuit model (numba).

Everything here is a pure function of flat arrays; ``cell/model.py`` is the documented public face.
Cells are processed in blocks of ``BLOCK``: a block's state and parameters are copied into
contiguous per-quantity rows, and the model runs as a few short branch-free loops per stage that
LLVM turns into SIMD code (with a vectorisable ``exp`` within 1 ulp of libm's), the blocks
spread over numba's threads for large n. The numbers are those of the plain per-cell formulation,
operation for operation (``tests/cell/test_kernels_fast.py`` keeps that formulation as reference);
10^5 cells at 1 s steps run some 4·10^7 cell-steps per second (step + evaluation) on two cores
(``benchmarks/results/cell.json``).

Entry points: :func:`step` and :func:`emf_r0` (Python), and their compiled builds ``step_serial``,
``step_parallel``, ``emf_r0_serial``, ``emf_r0_parallel``, callable from numba code
(``sim/loop.py``'s compiled segments).

Layout (kept in one place so model.py, pack code and tests agree):

* ``cp``  per-cell parameters, shape (n, NCP + 2*n_rc), columns ``C_*`` below, SI units.
* ``gp``  global scalars, indices ``G_*``.
* ``x``   state, shape (n, NX + n_rc), columns ``X_*`` then the RC voltages.
* tables in a :class:`~cellbalance.cell.tables.TableBank`, ids ``T_*`` then (R_j, C_j) pairs.

Sign convention: current positive = charging. Equations and sources: ``docs/models.md``.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

# per-cell parameter columns
C_CAP, C_ETA, C_ISD, C_R0S, C_GAMMA, C_M0, C_MS, C_CTH, C_GCOOL, C_CJIG, C_GJIG = range(11)
NCP = 11
# global scalars
G_EA0, G_EARC, G_TREF_R, G_TREF_OCV, G_ENTROPIC, G_ITHRESH, G_HASJIG, G_NRC = range(8)
NGP = 8
# state columns
X_Z, X_H, X_S, X_T, X_TJ = range(5)
NX = 5
# tables
T_OCV, T_DUDT, T_HYST, T_R0 = range(4)
NT_FIXED = 4

PARALLEL_THRESHOLD = 512


def _find(data, off, n, x, clamp, uniform):
    """Index i and weight w so that x ~ (1-w)*ax[i] + w*ax[i+1]; n == 1 gives (0, 0)."""
    if n == 1:
        return 0, 0.0
    if uniform:
        x0 = data[off]
        dx = data[off + 1] - x0
        f = (x - x0) / dx
        lo = int(f)  # truncation; negative f is clamped to 0 below, as floor would be
        if lo < 0:
            lo = 0
        elif lo > n - 2:
            lo = n - 2
        w = f - lo
    else:
        lo = 0
        hi = n - 2
        # binary search for the interval containing x (ends extend outwards)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if data[off + mid] <= x:
                lo = mid
            else:
                hi = mid - 1
        x0 = data[off + lo]
        w = (x - x0) / (data[off + lo + 1] - x0)
    if clamp:
        if w < 0.0:
            w = 0.0
        elif w > 1.0:
            w = 1.0
    return lo, w


def _lut(tid, T, I, z, data, meta):
    nz = meta[tid, 2]
    vo = meta[tid, 4]
    if meta[tid, 0] == 1 and meta[tid, 1] == 1:
        if nz == 1:
            return data[vo]
        ao = meta[tid, 3]
        if meta[tid, 7] != 0:
            # the common case, kept lean: uniform SOC grid, no T or I dependence
            x0 = data[ao + 2]
            f = (z - x0) / (data[ao + 3] - x0)
            lo = int(f)
            if lo < 0:
                lo = 0
            elif lo > nz - 2:
                lo = nz - 2
            w = f - lo
            return data[vo + lo] * (1.0 - w) + data[vo + lo + 1] * w
    return _lut_general(tid, T, I, z, data, meta)


def _lut_general(tid, T, I, z, data, meta):
    nT = meta[tid, 0]
    nI = meta[tid, 1]
    nz = meta[tid, 2]
    ao = meta[tid, 3]
    vo = meta[tid, 4]
    iT, wT = _find(data, ao, nT, T, True, meta[tid, 5] != 0)
    iI, wI = _find(data, ao + nT, nI, I, True, meta[tid, 6] != 0)
    iz, wz = _find(data, ao + nT + nI, nz, z, False, meta[tid, 7] != 0)
    sT = nI * nz if nT > 1 else 0
    sI = nz if nI > 1 else 0
    sz = 1 if nz > 1 else 0
    return _tri_at(data, vo + iT * nI * nz + iI * nz + iz, sT, sI, sz, wT, wI, wz)


def _tri_at(data, b, sT, sI, sz, wT, wI, wz):
    """The multilinear interpolation of every table look-up, from the values at data[b] (the grid
    corner) with strides sT, sI, sz (0 on an axis of one point) and weights wT, wI, wz: over SOC,
    then current, then temperature. Called with a literal 0 stride, the repeated loads fold away (the
    arithmetic is the same)."""
    c00 = data[b] * (1.0 - wz) + data[b + sz] * wz
    c01 = data[b + sI] * (1.0 - wz) + data[b + sI + sz] * wz
    c10 = data[b + sT] * (1.0 - wz) + data[b + sT + sz] * wz
    c11 = data[b + sT + sI] * (1.0 - wz) + data[b + sT + sI + sz] * wz
    c0 = c00 * (1.0 - wI) + c01 * wI
    c1 = c10 * (1.0 - wI) + c11 * wI
    return c0 * (1.0 - wT) + c1 * wT


_tri_at = njit(cache=True, error_model="numpy", inline="always")(_tri_at)
_find = njit(cache=True, inline="always")(_find)
_lut_general = njit(cache=True)(_lut_general)
_lut = njit(cache=True, inline="always")(_lut)
lut = _lut  # the scalar look-up, for compiled code outside the block kernels (the estimators)


@njit(cache=True, inline="always")
def ocv(gp, data, meta, T, z):
    """U(z, T) of one cell with the entropic shift when the set has one, as the block kernels compute
    it (for compiled code outside them: the estimators)."""
    u = _lut(T_OCV, T, 0.0, z, data, meta)
    if gp[G_ENTROPIC] != 0.0:
        u += (T - gp[G_TREF_OCV]) * _lut(T_DUDT, T, 0.0, z, data, meta)
    return u


@njit(cache=True)
def lut_eval_array(tid, T, I, z, data, meta):
    out = np.empty(T.shape[0])
    for k in range(T.shape[0]):
        out[k] = _lut(tid, T[k], I[k], z[k], data, meta)
    return out


# ---------------------------------------------------------------------------------------------------
# exp, vectorisable, within 1 ulp of libm's on |x| < 512
# ---------------------------------------------------------------------------------------------------
# numba's math.exp calls libm once per element; the loops below need an exp that LLVM can vectorise
# (no call, no table gather). Textbook range reduction (Cody & Waite, "Software Manual for the
# Elementary Functions", 1980; Muller, "Elementary Functions", 3rd ed. 2016, ch. 11):
#   x = k ln2 + r, k = round(x / ln2), |r| <= ln2/2, r computed with ln2 split in a high part with
#   trailing zero bits and a low part (exact product k*ln2_hi for |k| < 2^11);
#   exp(r) by its Taylor polynomial of degree 13 in Horner form with fused multiply-adds
#   (truncation error |r|^14/14! < 1e-18, far below half an ulp);
#   2^k applied by adding k to the exponent field.
# |x| >= 512, inf and NaN go to math.exp itself. tests/cell/test_kernels_fast.py checks it against
# math.exp (at most 1 ulp apart).

@intrinsic
def _as_i64(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _as_f64(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    def codegen(context, builder, sig, args):
        return builder.fma(args[0], args[1], args[2])

    return types.float64(types.float64, types.float64, types.float64), codegen


def _ln2_split() -> tuple[float, float]:
    """ln 2 = hi + lo: hi with its 12 low mantissa bits cleared (so k*hi is exact for |k| < 2^11),
    lo the rest to double precision (from a 40-digit ln 2)."""
    import decimal

    with decimal.localcontext() as ctx:
        ctx.prec = 40
        ln2 = decimal.Decimal(2).ln()
        bits = np.array([float(ln2)]).view(np.int64) & np.int64(~0xFFF)
        hi = float(bits.view(np.float64)[0])
        lo = float(ln2 - decimal.Decimal(hi))
    return hi, lo


_EXP_INVLN2 = 1.0 / math.log(2.0)
_EXP_SHIFT = 1.5 * 2.0**52  # x + SHIFT rounds x to an integer held in the low mantissa bits
_EXP_LN2HI, _EXP_LN2LO = _ln2_split()
# 1/j!, j = 13 .. 2 (Horner from the highest degree)
(_EXP_C13, _EXP_C12, _EXP_C11, _EXP_C10, _EXP_C9, _EXP_C8, _EXP_C7, _EXP_C6, _EXP_C5, _EXP_C4, _EXP_C3,
 _EXP_C2) = (1.0 / math.factorial(j) for j in range(13, 1, -1))


@njit(cache=True, inline="always")
def _exp_core(x):
    """exp(x) for |x| < 512 (no call, no table: vectorisable)."""
    kd = _fma(x, _EXP_INVLN2, _EXP_SHIFT)
    ki = _as_i64(kd)  # bits of SHIFT + k: the low bits hold k (two's complement for k < 0)
    kd = kd - _EXP_SHIFT
    r = _fma(kd, -_EXP_LN2LO, _fma(kd, -_EXP_LN2HI, x))
    p = _fma(r, _EXP_C13, _EXP_C12)
    p = _fma(p, r, _EXP_C11)
    p = _fma(p, r, _EXP_C10)
    p = _fma(p, r, _EXP_C9)
    p = _fma(p, r, _EXP_C8)
    p = _fma(p, r, _EXP_C7)
    p = _fma(p, r, _EXP_C6)
    p = _fma(p, r, _EXP_C5)
    p = _fma(p, r, _EXP_C4)
    p = _fma(p, r, _EXP_C3)
    p = _fma(p, r, _EXP_C2)
    p = _fma(p, r, 1.0)
    p = _fma(p, r, 1.0)
    # times 2^k: k into the exponent field (SHIFT's own bits vanish in the shift: its low 12 bits are 0)
    return _as_f64(_as_i64(p) + (ki << 52))


@njit(cache=True, error_model="numpy")
def _vexp(w, s, d, nrows, m):
    """Rows d .. d+nrows-1 of a block workspace = exp(rows s .. s+nrows-1), first m elements; equal to
    math.exp element by element."""
    for r in range(nrows):
        src = w[(s + r) * BLOCK:(s + r + 1) * BLOCK]
        dst = w[(d + r) * BLOCK:(d + r + 1) * BLOCK]
        bad = 0
        for i in range(m):
            x = src[i]
            ok = abs(x) < 512.0
            bad += 0 if ok else 1
            dst[i] = _exp_core(x if ok else 0.0)
        if bad:
            for i in range(m):
                if not abs(src[i]) < 512.0:
                    dst[i] = math.exp(src[i])


# ---------------------------------------------------------------------------------------------------
# blocked kernels
# ---------------------------------------------------------------------------------------------------
# Cells are processed in blocks of BLOCK. A block first copies what it needs of its cells (the rows
# of x and cp, read once and in order) into a workspace of contiguous rows, w[k*BLOCK : (k+1)*BLOCK]
# for quantity k; the model is then a sequence of short branch-free loops over the block, one per
# stage, that LLVM vectorises: table look-ups (the SOC position computed once per distinct SOC grid,
# the position on a grid over T, I and SOC once per run of tables on that grid; the interpolation
# itself is scalar, LLVM declines gathers on this hardware, so its loads use unsigned offsets that
# need no negative-index wraparound), exponentials (_vexp), RC branches, hysteresis and heat, thermal. Every floating-point operation is
# that of the per-cell formulation, in the same order, so the results are those of the fused per-cell
# loop this replaced (tests/cell/test_kernels_fast.py). Rows at fixed offsets are indexed w[OFF + i]
# (LLVM then sees constant distances between them and needs no aliasing checks); the rows of RC pair
# j, at offsets known only at run time, are used through views.
BLOCK = 256

# step: rows of the workspace
(_S_Z, _S_H, _S_S, _S_T, _S_TJ, _S_I, _S_DT, _S_F, _S_A0, _S_A1, _S_KA, _S_E0, _S_E1, _S_KE, _S_PRC, _S_K,
 _S_P, _S_PQ, _S_TA, _S_TE, _S_J11, _S_J12, _S_J21, _S_J22) = range(24)
# (_S_A0, _S_A1, _S_KA) -> exp -> (_S_E0, _S_E1, _S_KE); _S_J..: exp(A dt) of the two-node thermal model
_S_TAB = 24  # tables T_OCV .. T_R0
_S_CP = 28  # per-cell parameters C_* (NCP rows)
# emf: rows of the workspace (the same memory)
(_M_Z, _M_H, _M_S, _M_T, _M_I, _M_F, _M_FP, _M_FM, _M_ZP, _M_ZM, _M_A0, _M_E0, _M_A1, _M_E1, _M_OCVP,
 _M_DUDTP, _M_OCVM, _M_DUDTM, _M_EMF, _M_ES, _M_RS, _M_ETA, _M_CAP, _M_R0S, _M_M0, _M_MS) = range(26)
_M_TAB = 26  # tables T_OCV .. T_R0
_AX = _S_CP + NCP  # the positions on a table grid over T or I (4 rows: value offset, wT, wI, wz; _lookups)
_NFIX = _AX + 4
# then per RC pair j, rows _NFIX + _NPER*j + (v, R scale, C scale, R table -> R, C table -> tau, -dt/tau, a)
_NPER = 7


@njit(cache=True)
def _nrows(gp):
    return _NFIX + _NPER * int(gp[G_NRC])


@njit(cache=True, error_model="numpy", inline="always")
def _axis_at(f, n, clamp):
    """(index, weight) on a uniform axis of n > 1 points from the position f = (x - x0)/dx, as _find."""
    lo = int(min(max(f, 0.0), float(n - 2)))  # = int(f) clamped to [0, n-2] (truncation, as _find)
    w = f - lo
    if clamp:
        w = min(max(w, 0.0), 1.0)
    return lo, w


@njit(cache=True, error_model="numpy", inline="always")
def _axis(x, x0, dx, n, clamp):
    """_find on a uniform axis: (index, weight)."""
    if n == 1:
        return 0, 0.0
    return _axis_at((x - x0) / dx, n, clamp)


@njit(cache=True, error_model="numpy", inline="always")
def _grid(data, meta, t):
    """Axis origins and steps and value strides of table t (uniform in each axis it has; the step of
    an axis of one point is 1, its stride 0)."""
    nT = meta[t, 0]
    nI = meta[t, 1]
    nz = meta[t, 2]
    ao = meta[t, 3]
    T0 = data[ao]
    dT = data[ao + 1] - T0 if nT > 1 else 1.0
    I0 = data[ao + nT]
    dI = data[ao + nT + 1] - I0 if nI > 1 else 1.0
    z0 = data[ao + nT + nI]
    dz = data[ao + nT + nI + 1] - z0 if nz > 1 else 1.0
    sT = nI * nz if nT > 1 else 0
    sI = nz if nI > 1 else 0
    sz = 1 if nz > 1 else 0
    return T0, dT, I0, dI, z0, dz, sT, sI, sz


@njit(cache=True, error_model="numpy")
def _trilinear(data, meta, t, T, I, z, zero_current, out, m):
    """Table t (uniform grids in T, I and SOC) at (T[i], I[i] or 0, z[i]) for i < m, into out."""
    nT = meta[t, 0]
    nI = meta[t, 1]
    nz = meta[t, 2]
    vo = meta[t, 4]
    T0, dT, I0, dI, z0, dz, sT, sI, sz = _grid(data, meta, t)
    uT, uI, uz = np.uint64(sT), np.uint64(sI), np.uint64(sz)  # unsigned offsets: no wraparound on the loads
    for i in range(m):
        iT, wT = _axis(T[i], T0, dT, nT, True)
        iI, wI = _axis(0.0 if zero_current else I[i], I0, dI, nI, True)
        iz, wz = _axis(z[i], z0, dz, nz, False)
        out[i] = _tri_at(data, np.uint64(vo + iT * nI * nz + iI * nz + iz), uT, uI, uz, wT, wI, wz)


@njit(cache=True, error_model="numpy", inline="always")
def _multi_uniform(meta, t):
    """Table t depends on T or I and is uniform in every axis it has."""
    return ((meta[t, 0] > 1 or meta[t, 1] > 1) and (meta[t, 0] == 1 or meta[t, 5] != 0)
            and (meta[t, 1] == 1 or meta[t, 6] != 0) and (meta[t, 2] == 1 or meta[t, 7] != 0))


@njit(cache=True, error_model="numpy", inline="always")
def _same_grid(data, meta, a, b, k0, n):
    """Axis k0 .. k0+n-1 of tables a and b: the same uniform grid (first two points; n == 1 always)."""
    if n == 1:
        return True
    oa = meta[a, 3] + k0
    ob = meta[b, 3] + k0
    return data[oa] == data[ob] and data[oa + 1] == data[ob + 1]


@njit(cache=True, error_model="numpy", inline="always")
def _held_axis(x, x0, dx, n, s, ab, aw, m):
    """ab[i] += k * s and aw[i] = weight for (k, weight) of x[i] on a uniform axis of n > 1 points held
    at its ends (temperature, current), i < m."""
    for i in range(m):
        k, wk = _axis_at((x[i] - x0) / dx, n, True)
        ab[i] += float(k * s)
        aw[i] = wk


@njit(cache=True, error_model="numpy")
def _grid_positions(data, meta, t, w, oT, oI, oz, of, g, h, m):
    """Rows _AX .. _AX+3 = (value offset from the table's first value, wT, wI, wz) of the cells i < m at
    (T, I or 0 for the tables before T_R0, z) = w[oT + i], w[oI + i], w[oz + i] on the grid of table t
    (a _multi_uniform table), as _trilinear computes them; kept when the rows already hold table h's
    positions on the same grid at the same current (h < 0: none yet). The SOC position is taken from
    w[of:] when it holds table g's positions on the same SOC grid (see _soc_positions). Returns the
    table whose positions the rows then hold. One loop per axis over views of the rows (SIMD code)."""
    nT = meta[t, 0]
    nI = meta[t, 1]
    nz = meta[t, 2]
    if (h >= 0 and meta[h, 0] == nT and meta[h, 1] == nI and meta[h, 2] == nz
            and (nI == 1 or (h < T_R0) == (t < T_R0))
            and _same_grid(data, meta, t, h, 0, nT) and _same_grid(data, meta, t, h, nT, nI)
            and _same_grid(data, meta, t, h, nT + nI, nz)):
        return h
    T0, dT, I0, dI, z0, dz, sT, sI, _ = _grid(data, meta, t)
    B = BLOCK
    ab = w[_AX * B:_AX * B + m]  # the offset, an integer held exactly
    awT = w[(_AX + 1) * B:(_AX + 1) * B + m]
    awI = w[(_AX + 2) * B:(_AX + 2) * B + m]
    awz = w[(_AX + 3) * B:(_AX + 3) * B + m]
    # SOC (the offset iz)
    if nz == 1:
        for i in range(m):
            ab[i] = 0.0
            awz[i] = 0.0
    elif (g >= 0 and meta[g, 2] == nz and data[meta[g, 3] + 2] == z0
          and data[meta[g, 3] + 3] == data[meta[t, 3] + nT + nI + 1]):
        # the positions of w[of:] are on this SOC grid (table g's, at meta[g, 3] + 2)
        f = w[of:of + m]
        for i in range(m):
            iz, wz = _axis_at(f[i], nz, False)
            ab[i] = float(iz)
            awz[i] = wz
    else:
        z = w[oz:oz + m]
        for i in range(m):
            iz, wz = _axis_at((z[i] - z0) / dz, nz, False)
            ab[i] = float(iz)
            awz[i] = wz
    # current (I = 0 for the tables before T_R0: one position for all)
    if nI == 1 or t < T_R0:
        iI, wI = _axis(0.0, I0, dI, nI, True)
        for i in range(m):
            ab[i] += float(iI * sI)
            awI[i] = wI
    else:
        _held_axis(w[oI:oI + m], I0, dI, nI, sI, ab, awI, m)
    # temperature
    if nT == 1:
        for i in range(m):
            awT[i] = 0.0
    else:
        _held_axis(w[oT:oT + m], T0, dT, nT, sT, ab, awT, m)
    return t


@njit(cache=True, error_model="numpy")
def _interp_block(data, meta, t, w, oo, m):
    """w[oo + i] = table t at the positions in rows _AX .. _AX+3 (from _grid_positions on its grid),
    for i < m; as _trilinear."""
    B = BLOCK
    vo = meta[t, 4]
    nz = meta[t, 2]
    # unsigned offsets: no negative-index wraparound on each of the eight loads
    u0 = np.uint64(0)
    vo = np.uint64(vo)
    sT = np.uint64(meta[t, 1] * nz if meta[t, 0] > 1 else 0)
    sI = np.uint64(nz if meta[t, 1] > 1 else 0)
    sz = np.uint64(1 if nz > 1 else 0)
    ab = w[_AX * B:_AX * B + m]
    awT = w[(_AX + 1) * B:(_AX + 1) * B + m]
    awI = w[(_AX + 2) * B:(_AX + 2) * B + m]
    awz = w[(_AX + 3) * B:(_AX + 3) * B + m]
    out = w[oo:oo + m]
    if sI == u0:  # over T and SOC (e.g. dU/dT): half the loads
        for i in range(m):
            out[i] = _tri_at(data, vo + np.uint64(ab[i]), sT, u0, sz, awT[i], awI[i], awz[i])
    elif sT == u0:  # over current and SOC
        for i in range(m):
            out[i] = _tri_at(data, vo + np.uint64(ab[i]), u0, sI, sz, awT[i], awI[i], awz[i])
    else:
        for i in range(m):
            out[i] = _tri_at(data, vo + np.uint64(ab[i]), sT, sI, sz, awT[i], awI[i], awz[i])


@njit(cache=True, error_model="numpy")
def _soc_positions(data, meta, t, w, oz, of, g, m):
    """w[of + i] = (w[oz + i] - z0) / dz on the uniform SOC grid of table t (a table over SOC only),
    unless w[of:] already holds the positions on table g's grid and it is the same grid (g < 0: none
    yet); returns the table whose grid w[of:] then holds."""
    nz = meta[t, 2]
    x0 = data[meta[t, 3] + 2]
    x1 = data[meta[t, 3] + 3]
    if g < 0 or meta[g, 2] != nz or data[meta[g, 3] + 2] != x0 or data[meta[g, 3] + 3] != x1:
        dx = x1 - x0
        f = w[of:of + m]
        z = w[oz:oz + m]
        for i in range(m):
            f[i] = (z[i] - x0) / dx
        return t
    return g


@njit(cache=True, error_model="numpy")
def _table_block(data, meta, t, w, oT, oI, oz, of, g, oo, m):
    """Table t at (T, I or 0 for the tables before T_R0, z) = w[oT + i], w[oI + i], w[oz + i] into
    w[oo + i] for i < m, as _lut (workspace offsets, no array views: this runs for every table of
    every block); of, g as in _soc_positions (the SOC positions computed once per run of tables on
    one grid); returns the table whose grid w[of:] then holds."""
    nz = meta[t, 2]
    vo = meta[t, 4]
    if meta[t, 0] == 1 and meta[t, 1] == 1 and nz == 1:
        v = data[vo]
        for i in range(m):
            w[oo + i] = v
    elif meta[t, 0] == 1 and meta[t, 1] == 1 and meta[t, 7] != 0:
        g = _soc_positions(data, meta, t, w, oz, of, g, m)
        f = w[of:of + m]
        out = w[oo:oo + m]
        uvo = np.uint64(vo)  # unsigned offsets: no negative-index wraparound on the loads
        for i in range(m):
            lo, wt = _axis_at(f[i], nz, False)
            b = uvo + np.uint64(lo)
            out[i] = data[b] * (1.0 - wt) + data[b + np.uint64(1)] * wt
    elif _multi_uniform(meta, t):
        # uniform in every axis it has (HPPC-fitted tables over T, I and SOC, e.g. PyBaMM's ECM_Example):
        # trilinear interpolation inlined over the block, the arithmetic of _lut_general/_find
        _trilinear(data, meta, t, w[oT:oT + m], w[oI:oI + m], w[oz:oz + m], t < T_R0, w[oo:oo + m], m)
    elif t < T_R0:  # OCV, dU/dT and M are looked up at I = 0
        for i in range(m):
            w[oo + i] = _lut_general(t, w[oT + i], 0.0, w[oz + i], data, meta)
    else:
        for i in range(m):
            w[oo + i] = _lut_general(t, w[oT + i], w[oI + i], w[oz + i], data, meta)
    return g


@njit(cache=True, error_model="numpy")
def _lookups(data, meta, w, t0, t1, rtab, rT, rI, rz, rf, skip, m):
    """Tables t0 .. t1-1 (but ``skip``) at (T, I, z) = rows rT, rI, rz of the block workspace ``w``, as
    _lut (I = 0 for the tables before T_R0), into row rtab + t for t < NT_FIXED and into row
    _NFIX + _NPER*j + 3 + q for table NT_FIXED + 2j + q (R and C of pair j). Row rf receives the SOC
    positions (z - z0)/dz, computed once for each run of tables on the same uniform SOC grid; rows
    _AX .. _AX+3 the positions on the grid of a table over T or I (_grid_positions), computed once for
    each run of such tables on the same grid (R0 and the RC pairs' R and C of an HPPC-fitted set)
    and from row rf's SOC positions when their SOC grid is row rf's (dU/dT beside the OCV)."""
    B = BLOCK
    g = -1  # the table whose SOC grid row rf holds
    h = -1  # the table whose grid rows _AX .. _AX+3 hold (tables over T or I)
    for t in range(t0, t1):
        if t == skip:
            continue
        ro = rtab + t if t < NT_FIXED else _NFIX + _NPER * ((t - NT_FIXED) // 2) + 3 + (t - NT_FIXED) % 2
        if _multi_uniform(meta, t):
            h = _grid_positions(data, meta, t, w, rT * B, rI * B, rz * B, rf * B, g, h, m)
            _interp_block(data, meta, t, w, ro * B, m)
        else:
            g = _table_block(data, meta, t, w, rT * B, rI * B, rz * B, rf * B, g, ro * B, m)


@njit(cache=True, error_model="numpy")
def _rc_stage(w, nrc, m):
    """RC pairs over the step (rows of the step workspace): R and C tables -> R, tau, a = exp(-dt/tau);
    v advanced exactly (ZOH); _S_PRC = mean of v^2/R over the step (its exact integral / dt).
    Needs rows _S_I, _S_DT, _S_E1 (RC Arrhenius factor) and the RC rows of each pair."""
    B = BLOCK
    for i in range(m):
        w[_S_PRC * B + i] = 0.0
    for j in range(nrc):
        r = _NFIX + _NPER * j
        v = w[r * B:(r + 1) * B]
        sr = w[(r + 1) * B:(r + 2) * B]
        sc = w[(r + 2) * B:(r + 3) * B]
        rr = w[(r + 3) * B:(r + 4) * B]
        tt = w[(r + 4) * B:(r + 5) * B]
        arg = w[(r + 5) * B:(r + 6) * B]
        aa = w[(r + 6) * B:(r + 7) * B]
        for i in range(m):
            R = rr[i] * sr[i] * w[_S_E1 * B + i]
            tau = R * (tt[i] * sc[i])
            rr[i] = R
            tt[i] = tau
            arg[i] = -w[_S_DT * B + i] / tau
        _vexp(w, np.int64(r + 5), np.int64(r + 6), np.int64(1), m)
        for i in range(m):
            R = rr[i]
            tau = tt[i]
            a = aa[i]
            dti = w[_S_DT * B + i]
            vinf = R * w[_S_I * B + i]
            d = v[i] - vinf
            v[i] = vinf + d * a
            iv2 = vinf * vinf * dti + 2.0 * vinf * d * tau * (1.0 - a) + d * d * 0.5 * tau * (1.0 - a * a)
            w[_S_PRC * B + i] += iv2 / (R * dti)


@njit(cache=True, error_model="numpy")
def _cell_stage(w, ith, tref_ocv, entropic, m):
    """Hysteresis (exact for constant current), coulomb counting and the heat of the step (_S_P).
    Needs rows _S_I, _S_DT, _S_K / _S_KE (hysteresis rate and decay), _S_E0, _S_PRC, the tables and
    the parameters."""
    B = BLOCK
    # hysteresis (Plett): dh/dt = gamma |eta I| / Q (sign(I) - h), exact for constant I;
    # coulomb counting; heat: Joule + RC + hysteresis + reversible + side reactions
    for i in range(m):
        Ii = w[_S_I * B + i]
        Ti = w[_S_T * B + i]
        dti = w[_S_DT * B + i]
        Q = w[(_S_CP + C_CAP) * B + i]
        eta = w[(_S_CP + C_ETA) * B + i] if Ii > 0.0 else 1.0
        isd = w[(_S_CP + C_ISD) * B + i]
        r0 = w[(_S_TAB + T_R0) * B + i] * w[(_S_CP + C_R0S) * B + i] * w[_S_E0 * B + i]
        uo = w[(_S_TAB + T_OCV) * B + i]
        dudt = w[(_S_TAB + T_DUDT) * B + i]
        u = uo + (Ti - tref_ocv) * dudt if entropic else uo
        mm = w[(_S_TAB + T_HYST) * B + i] * w[(_S_CP + C_MS) * B + i]
        sg = 1.0 if Ii > 0.0 else (-1.0 if Ii < 0.0 else 0.0)
        si = sg if abs(Ii) > ith else w[_S_S * B + i]
        k = w[_S_K * B + i]
        hi = w[_S_H * B + i]
        ah = w[_S_KE * B + i]
        if k > 0.0:
            hmean = sg + (hi - sg) * (1.0 - ah) / (k * dti)
            hn = sg + (hi - sg) * ah
        else:
            hmean = hi
            hn = hi
        p_hys = Ii * (mm * hmean + w[(_S_CP + C_M0) * B + i] * si)
        w[_S_Z * B + i] = w[_S_Z * B + i] + (eta * Ii - isd) * dti / Q
        w[_S_H * B + i] = hn
        w[_S_S * B + i] = si
        p = Ii * Ii * r0 + w[_S_PRC * B + i] + p_hys + Ii * Ti * dudt + isd * u
        if Ii > 0.0:
            p += (1.0 - eta) * Ii * u
        w[_S_P * B + i] = p


@njit(cache=True, error_model="numpy")
def _thermal1_stage(w, rp, tamb, m):
    """One thermal node, exact for the heat in row rp held over the step (row _S_TE = exp(-G dt/C);
    without cooling the forward update, exact for a constant heat)."""
    B = BLOCK
    for i in range(m):
        Ti = w[_S_T * B + i]
        pq = w[rp * B + i]
        if w[(_S_CP + C_GCOOL) * B + i] > 0.0:
            teq = tamb[i] + pq / w[(_S_CP + C_GCOOL) * B + i]
            Ti = teq + (Ti - teq) * w[_S_TE * B + i]
        else:
            Ti = Ti + pq * w[_S_DT * B + i] / w[(_S_CP + C_CTH) * B + i]
        w[_S_T * B + i] = Ti


@njit(cache=True, error_model="numpy")
def _load_block(w, x, cp, nrc, m):
    """State and parameters of m cells (views x, cp of the block) into the step workspace: rows _S_Z,
    _S_H, _S_S, _S_T, _S_TJ, the NCP parameter rows and each RC pair's (v, R scale, C scale)."""
    B = BLOCK
    for i in range(m):
        w[_S_Z * B + i] = x[i, X_Z]
        w[_S_H * B + i] = x[i, X_H]
        w[_S_S * B + i] = x[i, X_S]
        w[_S_T * B + i] = x[i, X_T]
        w[_S_TJ * B + i] = x[i, X_TJ]
        for k in range(NCP):
            w[(_S_CP + k) * B + i] = cp[i, k]
    for j in range(nrc):
        r = _NFIX + _NPER * j
        for i in range(m):
            w[r * B + i] = x[i, NX + j]
            w[(r + 1) * B + i] = cp[i, NCP + 2 * j]
            w[(r + 2) * B + i] = cp[i, NCP + 2 * j + 1]


@njit(cache=True, error_model="numpy")
def _jig_coefficients(w, m):
    """Rows _S_J11.._S_J22 = exp(A dt) of the two-node model dT/dt = A (T - T_ss) (cell node and jig
    node; rows _S_CP + C_CTH, C_GCOOL, C_CJIG, C_GJIG and _S_DT), in closed form: with h the mean and
    d the half-difference of A's eigenvalues, exp(A dt) = e^{h dt} (cosh(d dt) I + sinh(d dt)/d (A - h I))."""
    B = BLOCK
    for i in range(m):
        C1 = w[(_S_CP + C_CTH) * B + i]
        G1 = w[(_S_CP + C_GCOOL) * B + i]
        C2 = w[(_S_CP + C_CJIG) * B + i]
        G2 = w[(_S_CP + C_GJIG) * B + i]
        dti = w[_S_DT * B + i]
        a11 = -G1 / C1
        a12 = G1 / C1
        a21 = G1 / C2
        a22 = -(G1 + G2) / C2
        half = 0.5 * (a11 + a22)
        disc = math.sqrt(0.25 * (a11 - a22) ** 2 + a12 * a21)
        ex = math.exp(half * dti)
        ch = math.cosh(disc * dti)
        sh = math.sinh(disc * dti) / disc
        w[_S_J11 * B + i] = ex * (ch + sh * (a11 - half))
        w[_S_J12 * B + i] = ex * sh * a12
        w[_S_J21 * B + i] = ex * sh * a21
        w[_S_J22 * B + i] = ex * (ch + sh * (a22 - half))


@njit(cache=True, error_model="numpy", inline="always")
def _jig_stage(w, rp, tamb, m):
    """Two thermal nodes, exact for the heat in row rp held over the step (rows _S_J.. set)."""
    B = BLOCK
    for i in range(m):
        pq = w[rp * B + i]
        tj_ss = tamb[i] + pq / w[(_S_CP + C_GJIG) * B + i]
        t_ss = tj_ss + pq / w[(_S_CP + C_GCOOL) * B + i]
        e1 = w[_S_T * B + i] - t_ss
        e2 = w[_S_TJ * B + i] - tj_ss
        w[_S_T * B + i] = t_ss + w[_S_J11 * B + i] * e1 + w[_S_J12 * B + i] * e2
        w[_S_TJ * B + i] = tj_ss + w[_S_J21 * B + i] * e1 + w[_S_J22 * B + i] * e2


@njit(cache=True, error_model="numpy")
def _step_block(cp, gp, data, meta, x, cur, tamb, qext, dts, heat, xo, c0, m, w):
    B = BLOCK
    nrc = int(gp[G_NRC])
    ea0 = gp[G_EA0]
    earc = gp[G_EARC]
    tref = gp[G_TREF_R]
    tref_ocv = gp[G_TREF_OCV]
    entropic = gp[G_ENTROPIC] != 0.0
    ith = gp[G_ITHRESH]
    hasjig = gp[G_HASJIG] != 0.0
    # this block's cells, as views (an index known to be >= 0 spares numba's negative-index
    # wraparound, which would keep LLVM from vectorising)
    cp = cp[c0:c0 + m]
    x = x[c0:c0 + m]
    xo = xo[c0:c0 + m]
    cur = cur[c0:c0 + m]
    tamb = tamb[c0:c0 + m]
    qext = qext[c0:c0 + m]
    dts = dts[c0:c0 + m]
    heat = heat[c0:c0 + m]
    _load_block(w, x, cp, nrc, m)
    for i in range(m):
        w[_S_I * B + i] = cur[i]
        w[_S_DT * B + i] = dts[i]
    _lookups(data, meta, w, np.int64(0), np.int64(NT_FIXED + 2 * nrc), np.int64(_S_TAB), np.int64(_S_T), np.int64(_S_I), np.int64(_S_Z), np.int64(_S_F), np.int64(-1), m)
    # arguments of the exponentials: Arrhenius factors, hysteresis decay over the step
    for i in range(m):
        inv_t = 1.0 / w[_S_T * B + i] - 1.0 / tref
        w[_S_A0 * B + i] = ea0 * inv_t
        w[_S_A1 * B + i] = earc * inv_t
        Ii = w[_S_I * B + i]
        eta = w[(_S_CP + C_ETA) * B + i] if Ii > 0.0 else 1.0
        k = w[(_S_CP + C_GAMMA) * B + i] * abs(eta * Ii) / w[(_S_CP + C_CAP) * B + i]
        w[_S_K * B + i] = k
        w[_S_KA * B + i] = -k * w[_S_DT * B + i]
    _vexp(w, np.int64(_S_A0), np.int64(_S_E0), np.int64(3), m)
    _rc_stage(w, nrc, m)
    _cell_stage(w, ith, tref_ocv, entropic, m)
    for i in range(m):
        w[_S_PQ * B + i] = w[_S_P * B + i] + qext[i]
    # thermal
    if not hasjig:
        for i in range(m):
            w[_S_TA * B + i] = -w[(_S_CP + C_GCOOL) * B + i] * w[_S_DT * B + i] / w[(_S_CP + C_CTH) * B + i]
        _vexp(w, np.int64(_S_TA), np.int64(_S_TE), np.int64(1), m)
        _thermal1_stage(w, _S_PQ, tamb, m)
    else:
        _jig_coefficients(w, m)
        _jig_stage(w, _S_PQ, tamb, m)
    # write back; cells with dt <= 0 are left as they were (copied when xo is not x)
    for i in range(m):
        if w[_S_DT * B + i] <= 0.0:
            for k in range(NX):
                xo[i, k] = x[i, k]
            heat[i] = 0.0
        else:
            xo[i, X_Z] = w[_S_Z * B + i]
            xo[i, X_H] = w[_S_H * B + i]
            xo[i, X_S] = w[_S_S * B + i]
            xo[i, X_T] = w[_S_T * B + i]
            xo[i, X_TJ] = w[_S_TJ * B + i] if hasjig else x[i, X_TJ]
            heat[i] = w[_S_P * B + i]
    for j in range(nrc):
        r = _NFIX + _NPER * j
        v = w[r * B:(r + 1) * B]
        for i in range(m):
            xo[i, NX + j] = x[i, NX + j] if w[_S_DT * B + i] <= 0.0 else v[i]


@njit(cache=True, error_model="numpy")
def _emf_block(cp, gp, data, meta, x, cur, dt, full, emf, r0, docv, estep, rstep, c0, m, w):
    B = BLOCK
    nrc = int(gp[G_NRC])
    ea0 = gp[G_EA0]
    earc = gp[G_EARC]
    tref = gp[G_TREF_R]
    tref_ocv = gp[G_TREF_OCV]
    entropic = gp[G_ENTROPIC] != 0.0
    cp = cp[c0:c0 + m]
    x = x[c0:c0 + m]
    cur = cur[c0:c0 + m]
    emf = emf[c0:c0 + m]
    r0 = r0[c0:c0 + m]
    for i in range(m):
        w[_M_Z * B + i] = x[i, X_Z]
        w[_M_H * B + i] = x[i, X_H]
        w[_M_S * B + i] = x[i, X_S]
        w[_M_T * B + i] = x[i, X_T]
        w[_M_R0S * B + i] = cp[i, C_R0S]
        w[_M_M0 * B + i] = cp[i, C_M0]
        w[_M_MS * B + i] = cp[i, C_MS]
    for i in range(m):
        w[_M_I * B + i] = cur[i]
    # with ``full`` the RC pairs' R and C too (rows _NFIX + _NPER*j + 3, 4), in the same pass: on an
    # HPPC-fitted set they share R0's grid positions
    nt = NT_FIXED + 2 * nrc if full else NT_FIXED
    _lookups(data, meta, w, np.int64(0), np.int64(nt), np.int64(_M_TAB), np.int64(_M_T), np.int64(_M_I), np.int64(_M_Z), np.int64(_M_F), np.int64(-1 if entropic else T_DUDT), m)
    for i in range(m):
        w[_M_A0 * B + i] = ea0 * (1.0 / w[_M_T * B + i] - 1.0 / tref)
    _vexp(w, np.int64(_M_A0), np.int64(_M_E0), np.int64(1), m)
    for i in range(m):
        uo = w[(_M_TAB + T_OCV) * B + i]
        u = uo + (w[_M_T * B + i] - tref_ocv) * w[(_M_TAB + T_DUDT) * B + i] if entropic else uo
        w[_M_EMF * B + i] = (u + w[(_M_TAB + T_HYST) * B + i] * w[_M_MS * B + i] * w[_M_H * B + i]
                             + w[_M_M0 * B + i] * w[_M_S * B + i])
        r0[i] = w[(_M_TAB + T_R0) * B + i] * w[_M_R0S * B + i] * w[_M_E0 * B + i]
    if not full:
        for j in range(nrc):
            for i in range(m):
                w[_M_EMF * B + i] += x[i, NX + j]
        for i in range(m):
            emf[i] = w[_M_EMF * B + i]
        return
    # end-of-step linearisation: dU/dz by central difference, exact RC response over dt
    docv = docv[c0:c0 + m]
    estep = estep[c0:c0 + m]
    rstep = rstep[c0:c0 + m]
    dz = 1e-4
    for i in range(m):
        w[_M_ZP * B + i] = w[_M_Z * B + i] + dz
        w[_M_ZM * B + i] = w[_M_Z * B + i] - dz
        w[_M_ETA * B + i] = cp[i, C_ETA]
        w[_M_CAP * B + i] = cp[i, C_CAP]
    # U (and dU/dT) at z +- dz, into rows _M_OCVP, _M_DUDTP and _M_OCVM, _M_DUDTM
    tu = T_DUDT + 1 if entropic else T_OCV + 1
    _lookups(data, meta, w, np.int64(T_OCV), np.int64(tu), np.int64(_M_OCVP), np.int64(_M_T), np.int64(_M_I), np.int64(_M_ZP), np.int64(_M_FP), np.int64(-1), m)
    _lookups(data, meta, w, np.int64(T_OCV), np.int64(tu), np.int64(_M_OCVM), np.int64(_M_T), np.int64(_M_I), np.int64(_M_ZM), np.int64(_M_FM), np.int64(-1), m)
    for i in range(m):
        Ti = w[_M_T * B + i]
        w[_M_ES * B + i] = w[_M_EMF * B + i]
        if entropic:
            up = w[_M_OCVP * B + i] + (Ti - tref_ocv) * w[_M_DUDTP * B + i]
            um = w[_M_OCVM * B + i] + (Ti - tref_ocv) * w[_M_DUDTM * B + i]
        else:
            up = w[_M_OCVP * B + i]
            um = w[_M_OCVM * B + i]
        d = (up - um) / (2.0 * dz)
        docv[i] = d
        eta = w[_M_ETA * B + i] if w[_M_I * B + i] > 0.0 else 1.0
        w[_M_RS * B + i] = r0[i] + eta * d * dt / w[_M_CAP * B + i]
        w[_M_A1 * B + i] = earc * (1.0 / Ti - 1.0 / tref)
    _vexp(w, np.int64(_M_A1), np.int64(_M_E1), np.int64(1), m)
    for j in range(nrc):
        r = _NFIX + _NPER * j
        rr = w[(r + 3) * B:(r + 4) * B]
        tt = w[(r + 4) * B:(r + 5) * B]
        arg = w[(r + 5) * B:(r + 6) * B]
        aa = w[(r + 6) * B:(r + 7) * B]
        for i in range(m):
            R = rr[i] * cp[i, NCP + 2 * j] * w[_M_E1 * B + i]
            rr[i] = R
            arg[i] = -dt / (R * (tt[i] * cp[i, NCP + 2 * j + 1]))
        _vexp(w, np.int64(r + 5), np.int64(r + 6), np.int64(1), m)
        for i in range(m):
            v = x[i, NX + j]
            a = aa[i]
            w[_M_EMF * B + i] += v
            w[_M_ES * B + i] += a * v
            w[_M_RS * B + i] += (1.0 - a) * rr[i]
    for i in range(m):
        emf[i] = w[_M_EMF * B + i]
        estep[i] = w[_M_ES * B + i]
        rstep[i] = w[_M_RS * B + i]


# ---------------------------------------------------------------------------------------------------
# drivers: the blocks in _NTASK contiguous runs, each with its own workspace; the parallel builds
# spread the runs over numba's threads (get_num_threads() inside would make them uncachable)
# ---------------------------------------------------------------------------------------------------
_NTASK = 16

def _step(cp, gp, data, meta, x, cur, tamb, qext, dts, heat, xo):
    """Advance cell c by dts[c] [s] with its current held constant (exact ZOH), from ``x`` into ``xo``
    (which may be ``x`` itself: each cell's row is read before it is written); dts[c] = 0 copies.

    ``heat[c]`` receives the mean heat generated in the cell over the step [W] (excluding qext).
    """
    n = x.shape[0]
    nb = (n + BLOCK - 1) // BLOCK
    nt = min(_NTASK, nb)
    for t in prange(nt):
        w = np.empty(_nrows(gp) * BLOCK)
        for b in range(t * nb // nt, (t + 1) * nb // nt):
            c0 = b * BLOCK
            _step_block(cp, gp, data, meta, x, cur, tamb, qext, dts, heat, xo, c0, min(BLOCK, n - c0), w)


def _emf_r0(cp, gp, data, meta, x, cur, dt, full, emf, r0, docv, estep, rstep):
    """Right-limit voltage V = emf + I*r0 and its end-of-step linearisation V(t+dt) ~ estep + I*rstep.

    emf = U(z,T) + M*h + M0*s + sum v_j ; r0 = R0(T,I,z); docv = dU/dz (central difference);
    estep = U + M*h + M0*s + sum a_j v_j ; rstep = r0 + sum (1-a_j) R_j + eta dU/dz dt / Q,
    with a_j = exp(-dt/tau_j): the exact RC response and a linearised OCV over one step of length dt.
    The last three are computed only when ``full`` is true.
    """
    n = x.shape[0]
    nb = (n + BLOCK - 1) // BLOCK
    nt = min(_NTASK, nb)
    for t in prange(nt):
        w = np.empty(_nrows(gp) * BLOCK)
        for b in range(t * nb // nt, (t + 1) * nb // nt):
            c0 = b * BLOCK
            _emf_block(cp, gp, data, meta, x, cur, dt, full, emf, r0, docv, estep, rstep, c0,
                       min(BLOCK, n - c0), w)


def _renamed(fn, name):
    """A copy of ``fn`` under another name: numba's on-disk cache is keyed by the function's name and
    line, not by its compile options, so a serial and a parallel build of one function must not
    share a name (they would load each other's machine code)."""
    import types as _types

    g = _types.FunctionType(fn.__code__.replace(co_name=name), fn.__globals__, name, fn.__defaults__,
                            fn.__closure__)
    g.__qualname__ = name
    return g


emf_r0_serial = njit(cache=True)(_emf_r0)
emf_r0_parallel = njit(cache=True, parallel=True)(_renamed(_emf_r0, "_emf_r0_parallel"))
step_serial = njit(cache=True)(_step)
step_parallel = njit(cache=True, parallel=True)(_renamed(_step, "_step_parallel"))


def _pick(n, serial, parallel):
    """The serial build below PARALLEL_THRESHOLD cells, the parallel one above (each compiled on first
    use, so a run of one kind of pack compiles only what it needs). One source of truth: every path
    (a single cell, a pack, the compiled segments) runs the blocked stages."""
    return parallel if n >= PARALLEL_THRESHOLD else serial


def emf_r0(cp, gp, data, meta, x, cur, dt, emf, r0, docv, estep, rstep, full=True):
    f = _pick(x.shape[0], emf_r0_serial, emf_r0_parallel)
    f(cp, gp, data, meta, x, cur, float(dt), bool(full), emf, r0, docv, estep, rstep)


def step(cp, gp, data, meta, x, cur, tamb, qext, dts, heat, out=None):
    """``dts`` is an array (n,) of step lengths [s] (0 = leave that cell as it is); in place unless
    ``out`` (same shape as x) is given."""
    f = _pick(x.shape[0], step_serial, step_parallel)
    f(cp, gp, data, meta, x, cur, tamb, qext, dts, heat, x if out is None else out)
