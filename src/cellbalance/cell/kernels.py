"""Compiled per-cell kernels of the equivalent-circuit model (numba).

Everything here is a pure function of flat arrays; ``cell/model.py`` is the documented public face.
One loop over cells does the whole model for a cell in registers, which is what makes 10^5 cells
at 1 s steps run faster than real time by a factor of several thousand (see ``benchmarks/``).

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
from numba import njit, prange

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
    b = vo + iT * nI * nz + iI * nz + iz
    c00 = data[b] * (1.0 - wz) + data[b + sz] * wz
    c01 = data[b + sI] * (1.0 - wz) + data[b + sI + sz] * wz
    c10 = data[b + sT] * (1.0 - wz) + data[b + sT + sz] * wz
    c11 = data[b + sT + sI] * (1.0 - wz) + data[b + sT + sI + sz] * wz
    c0 = c00 * (1.0 - wI) + c01 * wI
    c1 = c10 * (1.0 - wI) + c11 * wI
    return c0 * (1.0 - wT) + c1 * wT


_find = njit(cache=True, inline="always")(_find)
_lut_general = njit(cache=True)(_lut_general)
_lut = njit(cache=True, inline="always")(_lut)


@njit(cache=True, inline="always")
def _ocv(gp, data, meta, T, z):
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


def _emf_r0(cp, gp, data, meta, x, cur, dt, full, emf, r0, docv, estep, rstep):
    """Right-limit voltage V = emf + I*r0 and its end-of-step linearisation V(t+dt) ~ estep + I*rstep.

    emf = U(z,T) + M*h + M0*s + sum v_j ; r0 = R0(T,I,z); docv = dU/dz (central difference);
    estep = U + M*h + M0*s + sum a_j v_j ; rstep = r0 + sum (1-a_j) R_j + eta dU/dz dt / Q,
    with a_j = exp(-dt/tau_j): the exact RC response and a linearised OCV over one step of length dt.
    The last three are computed only when ``full`` is true.
    """
    n = x.shape[0]
    nrc = int(gp[G_NRC])
    ea0 = gp[G_EA0]
    earc = gp[G_EARC]
    tref = gp[G_TREF_R]
    for c in prange(n):
        z = x[c, X_Z]
        T = x[c, X_T]
        I = cur[c]
        inv_t = 1.0 / T - 1.0 / tref
        u = _ocv(gp, data, meta, T, z)
        m = _lut(T_HYST, T, 0.0, z, data, meta) * cp[c, C_MS]
        e = u + m * x[c, X_H] + cp[c, C_M0] * x[c, X_S]
        r = _lut(T_R0, T, I, z, data, meta) * cp[c, C_R0S] * math.exp(ea0 * inv_t)
        if not full:
            for j in range(nrc):
                e += x[c, NX + j]
            emf[c] = e
            r0[c] = r
            continue
        es = e
        dz = 1e-4
        d = (_ocv(gp, data, meta, T, z + dz) - _ocv(gp, data, meta, T, z - dz)) / (2.0 * dz)
        eta = cp[c, C_ETA] if I > 0.0 else 1.0
        rs = r + eta * d * dt / cp[c, C_CAP]
        arc = math.exp(earc * inv_t)
        for j in range(nrc):
            v = x[c, NX + j]
            e += v
            Rj = _lut(NT_FIXED + 2 * j, T, I, z, data, meta) * cp[c, NCP + 2 * j] * arc
            Cj = _lut(NT_FIXED + 2 * j + 1, T, I, z, data, meta) * cp[c, NCP + 2 * j + 1]
            a = math.exp(-dt / (Rj * Cj))
            es += a * v
            rs += (1.0 - a) * Rj
        emf[c] = e
        r0[c] = r
        docv[c] = d
        estep[c] = es
        rstep[c] = rs


def _step(cp, gp, data, meta, x, cur, tamb, qext, dts, heat, xo):
    """Advance cell c by dts[c] [s] with its current held constant (exact ZOH), from ``x`` into ``xo``
    (which may be ``x`` itself: each cell's row is read before it is written); dts[c] = 0 copies.

    ``heat[c]`` receives the mean heat generated in the cell over the step [W] (excluding qext).
    """
    n = x.shape[0]
    nrc = int(gp[G_NRC])
    ea0 = gp[G_EA0]
    earc = gp[G_EARC]
    tref = gp[G_TREF_R]
    ith = gp[G_ITHRESH]
    hasjig = gp[G_HASJIG] != 0.0
    for c in prange(n):
        dt = dts[c]
        if dt <= 0.0:
            heat[c] = 0.0
            for k in range(x.shape[1]):
                xo[c, k] = x[c, k]
            continue
        z = x[c, X_Z]
        h = x[c, X_H]
        s = x[c, X_S]
        T = x[c, X_T]
        I = cur[c]
        Q = cp[c, C_CAP]
        eta = cp[c, C_ETA] if I > 0.0 else 1.0
        isd = cp[c, C_ISD]
        inv_t = 1.0 / T - 1.0 / tref
        r0 = _lut(T_R0, T, I, z, data, meta) * cp[c, C_R0S] * math.exp(ea0 * inv_t)
        arc = math.exp(earc * inv_t)
        u = _ocv(gp, data, meta, T, z)
        dudt = _lut(T_DUDT, T, 0.0, z, data, meta)
        m = _lut(T_HYST, T, 0.0, z, data, meta) * cp[c, C_MS]
        # RC pairs: exact ZOH, with the exact integral of v^2/R over the step for the heat
        p_rc = 0.0
        for j in range(nrc):
            R = _lut(NT_FIXED + 2 * j, T, I, z, data, meta) * cp[c, NCP + 2 * j] * arc
            C = _lut(NT_FIXED + 2 * j + 1, T, I, z, data, meta) * cp[c, NCP + 2 * j + 1]
            tau = R * C
            a = math.exp(-dt / tau)
            vinf = R * I
            d = x[c, NX + j] - vinf
            xo[c, NX + j] = vinf + d * a
            iv2 = vinf * vinf * dt + 2.0 * vinf * d * tau * (1.0 - a) + d * d * 0.5 * tau * (1.0 - a * a)
            p_rc += iv2 / (R * dt)
        # hysteresis (Plett): dh/dt = gamma |eta I| / Q (sign(I) - h), exact for constant I
        sg = 1.0 if I > 0.0 else (-1.0 if I < 0.0 else 0.0)
        if abs(I) > ith:
            s = sg
        k = cp[c, C_GAMMA] * abs(eta * I) / Q
        if k > 0.0:
            ah = math.exp(-k * dt)
            hmean = sg + (h - sg) * (1.0 - ah) / (k * dt)
            h = sg + (h - sg) * ah
        else:
            hmean = h
        p_hys = I * (m * hmean + cp[c, C_M0] * s)
        # coulomb counting
        z = z + (eta * I - isd) * dt / Q
        # heat: Joule + RC + hysteresis + reversible + side reactions (inefficiency, self-discharge)
        p = I * I * r0 + p_rc + p_hys + I * T * dudt + isd * u
        if I > 0.0:
            p += (1.0 - eta) * I * u
        heat[c] = p
        p += qext[c]
        ta = tamb[c]
        C1 = cp[c, C_CTH]
        G1 = cp[c, C_GCOOL]
        if not hasjig:
            if G1 > 0.0:
                teq = ta + p / G1
                T = teq + (T - teq) * math.exp(-G1 * dt / C1)
            else:
                T = T + p * dt / C1
        else:
            C2 = cp[c, C_CJIG]
            G2 = cp[c, C_GJIG]
            tj = x[c, X_TJ]
            tj_ss = ta + p / G2
            t_ss = tj_ss + p / G1
            e1 = T - t_ss
            e2 = tj - tj_ss
            a11 = -G1 / C1
            a12 = G1 / C1
            a21 = G1 / C2
            a22 = -(G1 + G2) / C2
            half = 0.5 * (a11 + a22)
            disc = math.sqrt(0.25 * (a11 - a22) ** 2 + a12 * a21)
            ex = math.exp(half * dt)
            ch = math.cosh(disc * dt)
            sh = math.sinh(disc * dt) / disc
            T = t_ss + ex * (ch * e1 + sh * ((a11 - half) * e1 + a12 * e2))
            xo[c, X_TJ] = tj_ss + ex * (ch * e2 + sh * (a21 * e1 + (a22 - half) * e2))
        if not hasjig:
            xo[c, X_TJ] = x[c, X_TJ]
        xo[c, X_Z] = z
        xo[c, X_H] = h
        xo[c, X_S] = s
        xo[c, X_T] = T


def _renamed(fn, name):
    """A copy of ``fn`` under another name: numba's on-disk cache is keyed by the function's name and
    line, not by its compile options, so a serial and a parallel build of one function must not
    share a name (they would load each other's machine code)."""
    import types

    g = types.FunctionType(fn.__code__.replace(co_name=name), fn.__globals__, name, fn.__defaults__, fn.__closure__)
    g.__qualname__ = name
    return g


emf_r0_serial = njit(cache=True)(_emf_r0)
emf_r0_parallel = njit(cache=True, parallel=True)(_renamed(_emf_r0, "_emf_r0_parallel"))
step_serial = njit(cache=True)(_step)
step_parallel = njit(cache=True, parallel=True)(_renamed(_step, "_step_parallel"))


def emf_r0(cp, gp, data, meta, x, cur, dt, emf, r0, docv, estep, rstep, full=True):
    f = emf_r0_parallel if x.shape[0] >= PARALLEL_THRESHOLD else emf_r0_serial
    f(cp, gp, data, meta, x, cur, float(dt), bool(full), emf, r0, docv, estep, rstep)


def step(cp, gp, data, meta, x, cur, tamb, qext, dts, heat, out=None):
    """``dts`` is an array (n,) of step lengths [s] (0 = leave that cell as it is); in place unless
    ``out`` (same shape as x) is given."""
    f = step_parallel if x.shape[0] >= PARALLEL_THRESHOLD else step_serial
    f(cp, gp, data, meta, x, cur, tamb, qext, dts, heat, x if out is None else out)
