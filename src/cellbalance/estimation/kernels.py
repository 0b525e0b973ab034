"""Compiled (numba) state-estimation kernels over many series elements at once.

Every filter works on the *nominal* cell (one parameter row ``cp``, the global scalars ``gp`` and the
plant's own :class:`~cellbalance.cell.tables.TableBank`), evaluated with the plant's table look-up
(``cell.kernels.lut``/``ocv``): the same tables, Arrhenius factors and entropic OCV shift as the
plant, so with a perfect nominal model the filter's model *is* the plant's.

State of one element (cell-equivalent: element current / n_parallel), ``nx = 2 + n_rc``::

    x = [z, v_1 .. v_nrc, h]        (SOC, RC voltages [V], hysteresis state)

plus the instantaneous-hysteresis sign ``s`` (a deterministic function of the current, kept beside
the filter state). Equations and sources: ``docs/models.md``, section "State estimation".

Model over one interval ``dt`` with the mean cell current ``I`` (exact zero-order hold, as the plant)::

    z'   = z + (eta(I) I - i_sd) dt / Q
    v_j' = a_j v_j + (1 - a_j) R_j I,        a_j = exp(-dt / (R_j C_j))
    h'   = sg + (h - sg) a_h,                a_h = exp(-gamma |eta I| dt / Q),  sg = sign(I)
    s'   = sg if |I| > I_threshold else s
    F    = diag(1, a_1 .. a_nrc, a_h)        (the tables' dependence on z is neglected, as Plett 2004)

Output with the instantaneous current ``i``::

    y = U(z, T) + M(z, T) h + M0 s + R0(T, i, z) i + sum_j v_j
    H = [dy/dz, 1 .. 1, M(z, T)],   dy/dz by central difference (dz = 1e-4, as the plant's dU/dz)

The per-element functions (propagate, process_noise, output) serve the sigma-point filter and the
bar filters (one element per pack); the EKF and the delta filters run blocked kernels (``ekf_step``,
``bardelta_step``, below) with the same arithmetic; ``ekf_run`` / ``bardelta_run`` run k logged steps
in one compiled call. The delta filters' dy/dz is the slope of the table interval holding z (one evaluation
instead of three; ``docs/models.md``, "Bar-delta filter").
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ..cell import kernels as K
from ..errors import ParameterError

DZ = 1e-4  # central-difference step of dy/dz (the plant's docv uses the same)

# flags returned per element by the filter steps
FLAG_GATED = 1  # innovation beyond the gate: no update
FLAG_BUMPED = 2  # innovation beyond the bump threshold: SOC variance inflated


@njit(cache=True, inline="always")
def _static_output(cp, gp, data, meta, T, i, z, h, s):
    """U + M h + M0 s + R0 i at (T, i, z) and M: the output without the RC voltages."""
    u = K.ocv(gp, data, meta, T, z)
    m = K.lut(K.T_HYST, T, 0.0, z, data, meta) * cp[K.C_MS]
    r0 = K.lut(K.T_R0, T, i, z, data, meta) * cp[K.C_R0S] * math.exp(gp[K.G_EA0] * (1.0 / T - 1.0 / gp[K.G_TREF_R]))
    return u + m * h + cp[K.C_M0] * s + r0 * i, m


@njit(cache=True, inline="always")
def output(cp, gp, data, meta, x, T, i, s):
    """Predicted voltage y and its Jacobian entries (dy/dz, M) of one element's state row ``x``."""
    nrc = int(gp[K.G_NRC])
    z = x[0]
    h = x[nrc + 1]
    y, m = _static_output(cp, gp, data, meta, T, i, z, h, s)
    yp, _ = _static_output(cp, gp, data, meta, T, i, z + DZ, h, s)
    ym, _ = _static_output(cp, gp, data, meta, T, i, z - DZ, h, s)
    for j in range(nrc):
        y += x[1 + j]
    return y, (yp - ym) / (2.0 * DZ), m


@njit(cache=True, inline="always")
def propagate(cp, gp, data, meta, x, xo, fdiag, T, I, s, dt):
    """State row ``x`` over ``dt`` with the mean current ``I`` into ``xo`` (may be ``x``); the diagonal
    Jacobian into ``fdiag``; returns the new sign s."""
    nrc = int(gp[K.G_NRC])
    z = x[0]
    Q = cp[K.C_CAP]
    eta = cp[K.C_ETA] if I > 0.0 else 1.0
    arc = math.exp(gp[K.G_EARC] * (1.0 / T - 1.0 / gp[K.G_TREF_R]))
    for j in range(nrc):
        R = K.lut(K.NT_FIXED + 2 * j, T, I, z, data, meta) * cp[K.NCP + 2 * j] * arc
        C = K.lut(K.NT_FIXED + 2 * j + 1, T, I, z, data, meta) * cp[K.NCP + 2 * j + 1]
        a = math.exp(-dt / (R * C))
        xo[1 + j] = a * x[1 + j] + (1.0 - a) * R * I
        fdiag[1 + j] = a
    sg = 1.0 if I > 0.0 else (-1.0 if I < 0.0 else 0.0)
    k = cp[K.C_GAMMA] * abs(eta * I) / Q
    ah = math.exp(-k * dt)
    xo[nrc + 1] = sg + (x[nrc + 1] - sg) * ah
    fdiag[nrc + 1] = ah
    xo[0] = z + (eta * I - cp[K.C_ISD]) * dt / Q
    fdiag[0] = 1.0
    return sg if abs(I) > gp[K.G_ITHRESH] else s


@njit(cache=True, inline="always")
def process_noise(cp, gp, data, meta, T, I, z, dt, noise, q):
    """Diagonal process-noise covariance over dt into ``q`` (nx): the current noise sigma_I through the
    input column (eta dt / Q for z, (1 - a_j) R_j for v_j) plus the random walks q_z, q_v, q_h."""
    nrc = int(gp[K.G_NRC])
    sig_i = noise[0]
    eta = cp[K.C_ETA] if I > 0.0 else 1.0
    bz = eta * dt / cp[K.C_CAP] * sig_i
    q[0] = bz * bz + noise[1] * noise[1] * dt
    arc = math.exp(gp[K.G_EARC] * (1.0 / T - 1.0 / gp[K.G_TREF_R]))
    for j in range(nrc):
        R = K.lut(K.NT_FIXED + 2 * j, T, I, z, data, meta) * cp[K.NCP + 2 * j] * arc
        C = K.lut(K.NT_FIXED + 2 * j + 1, T, I, z, data, meta) * cp[K.NCP + 2 * j + 1]
        bv = (1.0 - math.exp(-dt / (R * C))) * R * sig_i
        q[1 + j] = bv * bv + noise[2] * noise[2] * dt
    q[nrc + 1] = noise[3] * noise[3] * dt


@njit(cache=True)
def process_noise_rows(cp, gp, data, meta, T, I, z, dt, noise, nx):
    """process_noise for every element: (n, nx)."""
    out = np.empty((T.shape[0], nx))
    for e in range(T.shape[0]):
        process_noise(cp, gp, data, meta, T[e], I[e], z[e], dt, noise, out[e])
    return out


# ---------------------------------------------------------------------------------------------------
# blocked filter kernels
# ---------------------------------------------------------------------------------------------------
# The EKF (EBLOCK elements, below) and the delta filters (BLOCK elements, cell/kernels.py's block size)
# run over blocks of elements: the table look-ups, exponentials (cell/kernels.py's vectorisable exp)
# and the filter algebra of a block are short loops over contiguous rows of a workspace (SIMD code;
# the table look-ups gather). Every floating-point operation is that of the per-element functions
# above (propagate, process_noise, output), in the same order; only exp is the vectorised one,
# within 1 ulp of libm's (tests/estimation/test_filter_kernels.py keeps the per-element filters as
# reference).
BLOCK = K.BLOCK
# rows of the delta filters' workspace (and of _table_slope's)
(_W_T, _W_I, _W_Z, _W_F, _W_XA, _W_X0, _W_XH, _W_EA, _W_E0, _W_EH, _W_IM, _W_ZP, _W_ZM, _W_U, _W_D, _W_M,
 _W_R0, _W_Y, _W_YP, _W_YM, _W_MZ) = range(21)
_W_RC = 21  # the first free row


@njit(cache=True, error_model="numpy")
def _table(t, data, meta, w, rT, rI, rz, rf, g, ro, m):
    """Table t at (T, I (0 for the tables before T_R0), z) = rows rT, rI, rz into row ro (i < m), as
    ``K.lut`` (the cell kernels' block look-up); row rf holds the SOC positions of table g's grid."""
    B = BLOCK
    return K._table_block(data, meta, t, w, rT * B, rI * B, rz * B, rf * B, g, ro * B, m)


# ---------------------------------------------------------------------------------------------------
# the EKF over blocks of elements, k steps per block
# ---------------------------------------------------------------------------------------------------
# A block of EBLOCK elements copies its states into a workspace of contiguous rows (structure of
# arrays: z, v_j, h, s and the nx (nx + 1) / 2 distinct entries of the symmetric P) and runs every
# logged step on them before writing them back, so a block's state stays in cache over the k steps of
# an ``ekf_run`` call. Every stage is a short loop over the block's rows (SIMD code; the table
# look-ups gather): F = diag(1, a_1 .. a_nrc, a_h) scales each entry of P by g_a g_b, the update with
# H = [dy/dz, 1 .. 1, M] is a rank-one correction of each entry. Per element and temperature (and dt):
# the Arrhenius factors, and, when the RC tables depend on temperature only (every set but the
# HPPC-fitted ones over current and SOC), R_j, a_j and their process noise: computed when a block's
# temperatures or dt change from the previous step, not on every step (the same numbers: the same
# inputs). When OCV, dU/dT, M and R0 are each constant or on one uniform SOC grid (``_fast_soc_grid``),
# the outputs at z and z +- DZ come from one loop (the SOC position once per point for all tables).
# The arithmetic is that of the per-element functions above, operation for operation; only exp is the
# vectorised one (within 1 ulp of libm's).
EBLOCK = 128
(_E_TC, _E_XA, _E_X0, _E_EA, _E_E0, _E_ONE, _E_I, _E_IM, _E_XH, _E_AH, _E_ZP, _E_ZM, _E_F, _E_U, _E_D, _E_M,
 _E_R0, _E_Y, _E_YP, _E_YM, _E_MZ, _E_HZ, _E_YS, _E_SV, _E_RES, _E_OK, _E_S, _E_L0, _E_LP, _E_LM, _E_W0, _E_WP,
 _E_WM) = range(33)
_E_X = 33  # then the state rows (nx), P's upper triangle (nx (nx+1) / 2), g = P H^T (nx), the gain (nx), and
_E_RCN = 5  # per RC pair: R, C, -dt / (R C), a, the pair's process noise (bv^2 + q_v^2 dt)


@njit(cache=True)
def _erows(nrc):
    nx = nrc + 2
    return _E_X + 3 * nx + nx * (nx + 1) // 2 + _E_RCN * nrc


@njit(cache=True, inline="always")
def _ep(nx, a, b):
    """Row of P[a, b] (a <= b) in the EKF workspace."""
    return _E_X + nx + a * nx - a * (a - 1) // 2 + b - a


@njit(cache=True, inline="always")
def _erow(w, r, m):
    return w[r * EBLOCK:r * EBLOCK + m]


@njit(cache=True, error_model="numpy")
def _vexp_row(src, dst, m):
    """dst[i] = exp(src[i]), i < m: K._exp_core (vectorisable), math.exp where |x| >= 512 or not finite."""
    bad = 0
    for i in range(m):
        v = src[i]
        ok = abs(v) < 512.0
        bad += 0 if ok else 1
        dst[i] = K._exp_core(v if ok else 0.0)
    if bad:
        for i in range(m):
            if not abs(src[i]) < 512.0:
                dst[i] = math.exp(src[i])


@njit(cache=True)
def _rc_temperature_only(meta, nrc):
    """Every RC table depends on temperature at most (so R_j, a_j are per element and temperature)."""
    for t in range(K.NT_FIXED, K.NT_FIXED + 2 * nrc):
        if meta[t, 1] != 1 or meta[t, 2] != 1:
            return False
    return True


@njit(cache=True, error_model="numpy")
def _e_rc(cp, data, meta, w, nrc, dt, sig_i, n2, m):
    """Per RC pair j: R_j, C_j at (T, I, z) = rows _E_TC, _E_I, z; a_j = exp(-dt / (R_j C_j)) and the
    pair's process noise ((1 - a_j) R_j sigma_I)^2 + q_v^2 dt (rows of the pair), as propagate and
    process_noise. Needs row _E_EA (the RC Arrhenius factor)."""
    E = EBLOCK
    nx = nrc + 2
    ea = _erow(w, _E_EA, m)
    gz = -1
    for j in range(nrc):
        r = _E_X + 3 * nx + nx * (nx + 1) // 2 + _E_RCN * j
        gz = K._table_block(data, meta, K.NT_FIXED + 2 * j, w, _E_TC * E, _E_I * E, _E_X * E, _E_F * E, gz, r * E, m)
        gz = K._table_block(data, meta, K.NT_FIXED + 2 * j + 1, w, _E_TC * E, _E_I * E, _E_X * E, _E_F * E, gz,
                            (r + 1) * E, m)
        rs, cs = cp[K.NCP + 2 * j], cp[K.NCP + 2 * j + 1]
        rr, cc, arg = _erow(w, r, m), _erow(w, r + 1, m), _erow(w, r + 2, m)
        for i in range(m):
            R = rr[i] * rs * ea[i]
            rr[i] = R
            arg[i] = -dt / (R * (cc[i] * cs))
        aa, qv = _erow(w, r + 3, m), _erow(w, r + 4, m)
        _vexp_row(arg, aa, m)
        for i in range(m):
            bv = (1.0 - aa[i]) * rr[i] * sig_i
            qv[i] = bv * bv + n2


@njit(cache=True, error_model="numpy")
def _e_predict(cp, gp, data, meta, w, nrc, ip, dt, noise, rc_cached, m):
    """Prediction of the block's states (rows) over dt with the mean currents ip: propagate and
    process_noise's arithmetic; P <- F P F^T + Q_w on the upper triangle."""
    nx = nrc + 2
    Q = cp[K.C_CAP]
    eta_c, gam, isd, ith = cp[K.C_ETA], cp[K.C_GAMMA], cp[K.C_ISD], gp[K.G_ITHRESH]
    cur, xh = _erow(w, _E_I, m), _erow(w, _E_XH, m)
    for i in range(m):
        I = ip[i]
        cur[i] = I
        eta = eta_c if I > 0.0 else 1.0
        xh[i] = -(gam * abs(eta * I) / Q) * dt
    ah = _erow(w, _E_AH, m)
    _vexp_row(xh, ah, m)
    sig_i = noise[0]
    if not rc_cached:
        _e_rc(cp, data, meta, w, nrc, dt, sig_i, noise[2] * noise[2] * dt, m)
    rcb = _E_X + 3 * nx + nx * (nx + 1) // 2
    for j in range(nrc):
        r = rcb + _E_RCN * j
        v, aa, rr = _erow(w, _E_X + 1 + j, m), _erow(w, r + 3, m), _erow(w, r, m)
        for i in range(m):
            a = aa[i]
            v[i] = a * v[i] + (1.0 - a) * rr[i] * cur[i]
    z, h, s = _erow(w, _E_X, m), _erow(w, _E_X + nx - 1, m), _erow(w, _E_S, m)
    n1 = noise[1] * noise[1] * dt
    p00 = _erow(w, _ep(nx, 0, 0), m)
    for i in range(m):
        I = cur[i]
        eta = eta_c if I > 0.0 else 1.0
        sg = 1.0 if I > 0.0 else (-1.0 if I < 0.0 else 0.0)
        h[i] = sg + (h[i] - sg) * ah[i]
        z[i] = z[i] + (eta * I - isd) * dt / Q
        s[i] = sg if abs(I) > ith else s[i]
        bz = eta * dt / Q * sig_i
        p00[i] += bz * bz + n1
    # F P F^T on the other entries (g_0 = 1: P[0, 0] is unchanged by F)
    for a in range(nx):
        ga = _erow(w, _E_ONE if a == 0 else (rcb + _E_RCN * (a - 1) + 3 if a <= nrc else _E_AH), m)
        for b in range(max(a, 1), nx):
            gb = _erow(w, rcb + _E_RCN * (b - 1) + 3 if b <= nrc else _E_AH, m)
            pab = _erow(w, _ep(nx, a, b), m)
            for i in range(m):
                pab[i] = ga[i] * gb[i] * pab[i]
        if a >= 1:
            paa = _erow(w, _ep(nx, a, a), m)
            if a <= nrc:
                qv = _erow(w, rcb + _E_RCN * (a - 1) + 4, m)
                for i in range(m):
                    paa[i] += qv[i]
            else:
                n3 = noise[3] * noise[3] * dt
                for i in range(m):
                    paa[i] += n3


@njit(cache=True, error_model="numpy")
def _e_outputs_grid(cp, gp, data, meta, w, nx, im, x0, dx, nz, m):
    """Rows _E_Y, _E_YP, _E_YM = the static output (_static_output) at z, z + DZ, z - DZ and _E_MZ = M(z),
    when OCV, dU/dT, M and R0 are each constant or on the one uniform SOC grid (x0, dx, nz): one
    loop, the SOC position once per point for every table."""
    ent = gp[K.G_ENTROPIC] != 0.0
    tref = gp[K.G_TREF_OCV]
    ms, m0, r0s = cp[K.C_MS], cp[K.C_M0], cp[K.C_R0S]
    gu = meta[K.T_OCV, 2] > 1
    gd = meta[K.T_DUDT, 2] > 1
    gm = meta[K.T_HYST, 2] > 1
    gr = meta[K.T_R0, 2] > 1
    vu, vd, vm, vr = meta[K.T_OCV, 4], meta[K.T_DUDT, 4], meta[K.T_HYST, 4], meta[K.T_R0, 4]
    cu, cd, cm, cr = data[vu], data[vd], data[vm], data[vr]
    uu, ud, um, ur = np.uint64(vu), np.uint64(vd), np.uint64(vm), np.uint64(vr)
    one = np.uint64(1)
    hi = float(nz - 2)
    # the SOC positions of the three points (SIMD code: the divisions), then the look-ups (scalar: gathers)
    z = _erow(w, _E_X, m)
    for q in range(3):
        lq, wq = _erow(w, _E_L0 + q, m), _erow(w, _E_W0 + q, m)
        dq = 0.0 if q == 0 else (DZ if q == 1 else -DZ)
        for i in range(m):
            zq = z[i] if q == 0 else z[i] + dq
            f = (zq - x0) / dx
            lo = int(min(max(f, 0.0), hi))
            lq[i] = lo
            wq[i] = f - lo
    hh, ss = _erow(w, _E_X + nx - 1, m), _erow(w, _E_S, m)
    tt, e0 = _erow(w, _E_TC, m), _erow(w, _E_E0, m)
    y, yp, ym, mz = _erow(w, _E_Y, m), _erow(w, _E_YP, m), _erow(w, _E_YM, m), _erow(w, _E_MZ, m)
    l0, lp, lm, w0, wp, wm = (_erow(w, _E_L0, m), _erow(w, _E_LP, m), _erow(w, _E_LM, m), _erow(w, _E_W0, m),
                              _erow(w, _E_WP, m), _erow(w, _E_WM, m))
    for i in range(m):
        dT = tt[i] - tref
        h = hh[i]
        sv = m0 * ss[i]
        cur = im[i]
        ar = e0[i]
        for q in range(3):
            b = np.uint64(l0[i] if q == 0 else (lp[i] if q == 1 else lm[i]))
            wt = w0[i] if q == 0 else (wp[i] if q == 1 else wm[i])
            u = data[uu + b] * (1.0 - wt) + data[uu + b + one] * wt if gu else cu
            if ent:
                u += dT * (data[ud + b] * (1.0 - wt) + data[ud + b + one] * wt if gd else cd)
            mm = (data[um + b] * (1.0 - wt) + data[um + b + one] * wt if gm else cm) * ms
            r0 = (data[ur + b] * (1.0 - wt) + data[ur + b + one] * wt if gr else cr) * r0s * ar
            v = u + mm * h + sv + r0 * cur
            if q == 0:
                y[i] = v
                mz[i] = mm
            elif q == 1:
                yp[i] = v
            else:
                ym[i] = v


@njit(cache=True, error_model="numpy")
def _e_outputs_tables(cp, gp, data, meta, w, nx, i_meas, m):
    """_e_outputs_grid's rows for any tables: each table looked up per point (``K._table_block``)."""
    E = EBLOCK
    zp, zm, im, z = _erow(w, _E_ZP, m), _erow(w, _E_ZM, m), _erow(w, _E_IM, m), _erow(w, _E_X, m)
    for i in range(m):
        im[i] = i_meas[i]
        zp[i] = z[i] + DZ
        zm[i] = z[i] - DZ
    ent = gp[K.G_ENTROPIC] != 0.0
    tref = gp[K.G_TREF_OCV]
    ms, m0, r0s = cp[K.C_MS], cp[K.C_M0], cp[K.C_R0S]
    hh, ss, tt, e0 = _erow(w, _E_X + nx - 1, m), _erow(w, _E_S, m), _erow(w, _E_TC, m), _erow(w, _E_E0, m)
    uu, dd, mt, rt = _erow(w, _E_U, m), _erow(w, _E_D, m), _erow(w, _E_M, m), _erow(w, _E_R0, m)
    for q in range(3):
        rz = _E_X if q == 0 else (_E_ZP if q == 1 else _E_ZM)
        g = K._table_block(data, meta, K.T_OCV, w, _E_TC * E, _E_IM * E, rz * E, _E_F * E, -1, _E_U * E, m)
        if ent:
            g = K._table_block(data, meta, K.T_DUDT, w, _E_TC * E, _E_IM * E, rz * E, _E_F * E, g, _E_D * E, m)
        g = K._table_block(data, meta, K.T_HYST, w, _E_TC * E, _E_IM * E, rz * E, _E_F * E, g, _E_M * E, m)
        g = K._table_block(data, meta, K.T_R0, w, _E_TC * E, _E_IM * E, rz * E, _E_F * E, g, _E_R0 * E, m)
        out = _erow(w, _E_Y if q == 0 else (_E_YP if q == 1 else _E_YM), m)
        mz = _erow(w, _E_MZ, m)
        for i in range(m):
            u = uu[i]
            if ent:
                u += (tt[i] - tref) * dd[i]
            mm = mt[i] * ms
            r0 = rt[i] * r0s * e0[i]
            out[i] = u + mm * hh[i] + m0 * ss[i] + r0 * im[i]
            if q == 0:
                mz[i] = mm


@njit(cache=True, error_model="numpy")
def _e_update(w, nx, y, sig_y, robust, innov, svar, flags, m):
    """The measurement update of the block's rows (predicted static outputs in _E_Y, _E_YP, _E_YM, M in
    _E_MZ): gate, Joseph-form update on the upper triangle, bump, clipping; as _ekf_updates."""
    nrc = nx - 2
    gate2, bump2, bumpf, zlo, zhi = robust[0], robust[1], robust[2], robust[3], robust[4]
    gb0 = _E_X + nx + nx * (nx + 1) // 2  # g rows, then the gain rows
    ys, hz, mz = _erow(w, _E_YS, m), _erow(w, _E_HZ, m), _erow(w, _E_MZ, m)
    y0, yp, ym = _erow(w, _E_Y, m), _erow(w, _E_YP, m), _erow(w, _E_YM, m)
    for i in range(m):
        ys[i] = y0[i]
        hz[i] = (yp[i] - ym[i]) / (2.0 * DZ)
    for j in range(nrc):
        v = _erow(w, _E_X + 1 + j, m)
        for i in range(m):
            ys[i] += v[i]
    # g = P H^T, H = [hz, 1 .. 1, M]
    for a in range(nx):
        g = _erow(w, gb0 + a, m)
        pa0 = _erow(w, _ep(nx, 0, a), m)
        pah = _erow(w, _ep(nx, a, nx - 1), m)
        for i in range(m):
            g[i] = pa0[i] * hz[i] + pah[i] * mz[i]
        for j in range(nrc):
            pj = _erow(w, _ep(nx, min(a, 1 + j), max(a, 1 + j)), m)
            for i in range(m):
                g[i] += pj[i]
    sv, res, ok = _erow(w, _E_SV, m), _erow(w, _E_RES, m), _erow(w, _E_OK, m)
    g0, gh = _erow(w, gb0, m), _erow(w, gb0 + nx - 1, m)
    sy2 = sig_y * sig_y
    for i in range(m):
        sv[i] = g0[i] * hz[i] + gh[i] * mz[i] + sy2
    for j in range(nrc):
        g = _erow(w, gb0 + 1 + j, m)
        for i in range(m):
            sv[i] += g[i]
    p00 = _erow(w, _ep(nx, 0, 0), m)
    for i in range(m):
        S = sv[i]
        r = y[i] - ys[i]
        res[i] = r
        innov[i] = r
        svar[i] = S
        nis = r * r / S
        ok[i] = 0.0 if nis > gate2 else 1.0
    # K = g / S; x += K r and P - K g^T - g K^T + S K K^T where not gated
    for a in range(nx):
        g, kv, xa = _erow(w, gb0 + a, m), _erow(w, gb0 + nx + a, m), _erow(w, _E_X + a, m)
        for i in range(m):
            ka = g[i] / sv[i]
            kv[i] = ka
            xa[i] = xa[i] + ka * res[i] if ok[i] != 0.0 else xa[i]
    for a in range(nx):
        ga, ka = _erow(w, gb0 + a, m), _erow(w, gb0 + nx + a, m)
        for b in range(a, nx):
            gb, kb, pab = _erow(w, gb0 + b, m), _erow(w, gb0 + nx + b, m), _erow(w, _ep(nx, a, b), m)
            for i in range(m):
                v = pab[i] - ka[i] * gb[i] - ga[i] * kb[i] + sv[i] * ka[i] * kb[i]
                pab[i] = v if ok[i] != 0.0 else pab[i]
    z, h = _erow(w, _E_X, m), _erow(w, _E_X + nx - 1, m)
    for i in range(m):
        r = res[i]
        S = sv[i]
        nis = r * r / S
        bumped = nis > bump2  # gated or not (as Plett's code)
        p00[i] = p00[i] * bumpf if bumped else p00[i]
        flags[i] = (0 if ok[i] != 0.0 else FLAG_GATED) | (FLAG_BUMPED if bumped else 0)
        z[i] = min(max(z[i], zlo), zhi)
        h[i] = min(max(h[i], -1.0), 1.0)


@njit(cache=True, error_model="numpy")
def _ekf_block(cp, gp, data, meta, x, P, s, i_pred, i_meas, T, y, dt, noise, robust, innov, svar, flags, e0, m,
               w, grid, rec):
    """The k steps of ``ekf_run`` on elements e0 .. e0+m-1 (workspace w, ``_erows`` rows of EBLOCK); with
    ``rec`` (k, n, nx + 1) (not empty) each step's states [x, s] recorded into it (the bar filters), with
    (k, n, nx + 2) the SOC variance P[0, 0] too (``ekf_trace``)."""
    nx = x.shape[1]
    nrc = nx - 2
    # load the block's states
    for a in range(nx):
        xa = _erow(w, _E_X + a, m)
        for i in range(m):
            xa[i] = x[e0 + i, a]
        for b in range(a, nx):
            pab = _erow(w, _ep(nx, a, b), m)
            for i in range(m):
                pab[i] = P[e0 + i, a, b]
    sr, tc, one = _erow(w, _E_S, m), _erow(w, _E_TC, m), _erow(w, _E_ONE, m)
    cur = _erow(w, _E_I, m)
    for i in range(m):
        sr[i] = s[e0 + i]
        tc[i] = np.nan
        one[i] = 1.0
        cur[i] = 0.0
    rc_t = _rc_temperature_only(meta, nrc)
    tr = 1.0 / gp[K.G_TREF_R]
    ea0, earc = gp[K.G_EA0], gp[K.G_EARC]
    dt_rc = np.nan  # the dt of the RC rows (when they depend on temperature only)
    xa, x0 = _erow(w, _E_XA, m), _erow(w, _E_X0, m)
    for k in range(dt.shape[0]):
        d = dt[k]
        Tk = T[k, e0:e0 + m]
        n_new = 0
        for i in range(m):
            n_new += 0 if Tk[i] == tc[i] else 1
        new_t = n_new > 0
        if new_t:  # per element and temperature: the Arrhenius factors
            for i in range(m):
                Te = Tk[i]
                tc[i] = Te
                xa[i] = earc * (1.0 / Te - tr)
                x0[i] = ea0 * (1.0 / Te - tr)
            _vexp_row(xa, _erow(w, _E_EA, m), m)
            _vexp_row(x0, _erow(w, _E_E0, m), m)
        if d > 0.0:
            if rc_t and (new_t or d != dt_rc):  # per element, temperature and dt: R_j, a_j, their noise
                _e_rc(cp, data, meta, w, nrc, d, noise[0], noise[2] * noise[2] * d, m)
                dt_rc = d
            _e_predict(cp, gp, data, meta, w, nrc, i_pred[k, e0:e0 + m], d, noise, rc_t, m)
        if grid[3]:
            _e_outputs_grid(cp, gp, data, meta, w, nx, i_meas[k, e0:e0 + m], grid[0], grid[1], grid[2], m)
        else:
            _e_outputs_tables(cp, gp, data, meta, w, nx, i_meas[k, e0:e0 + m], m)
        _e_update(w, nx, y[k, e0:e0 + m], noise[4], robust, innov[k, e0:e0 + m], svar[k, e0:e0 + m],
                  flags[k, e0:e0 + m], m)
        if rec.shape[0] > 0:
            for a in range(nx):
                xr = _erow(w, _E_X + a, m)
                for i in range(m):
                    rec[k, e0 + i, a] = xr[i]
            for i in range(m):
                rec[k, e0 + i, nx] = sr[i]
            if rec.shape[2] > nx + 1:  # and the SOC variance (the estimators' trace)
                p00 = _erow(w, _ep(nx, 0, 0), m)
                for i in range(m):
                    rec[k, e0 + i, nx + 1] = p00[i]
    # write the states back (P exactly symmetric)
    for a in range(nx):
        xa = _erow(w, _E_X + a, m)
        for i in range(m):
            x[e0 + i, a] = xa[i]
        for b in range(a, nx):
            pab = _erow(w, _ep(nx, a, b), m)
            for i in range(m):
                P[e0 + i, a, b] = pab[i]
                P[e0 + i, b, a] = pab[i]
    for i in range(m):
        s[e0 + i] = sr[i]


_NTASK = 16  # contiguous runs of blocks, one workspace each (as cell/kernels.py)


def _as_rows(a):
    """(n,) -> a (1, n) view; (k, n) as it is (compiled: ``_as_rows_impl``)."""


@overload(_as_rows, jit_options={"cache": True})
def _as_rows_impl(a):
    if a.ndim == 1:
        return lambda a: a[None, :]
    return lambda a: a


def _as_steps(dt):
    """A scalar (a step's dt or flag) -> (1,); (k,) as it is (compiled: ``_as_steps_impl``)."""


@overload(_as_steps, jit_options={"cache": True})
def _as_steps_impl(dt):
    if isinstance(dt, types.Array):
        return lambda dt: dt
    if isinstance(dt, types.Omitted):  # a default argument
        v = dt.value
        return lambda dt: np.full(1, v)
    return lambda dt: np.full(1, dt)


def _ekf(cp, gp, data, meta, x, P, s, i_pred, i_meas, T, y, dt, noise, robust, innov, svar, flags, rec):
    """ekf_step (1-D inputs, a scalar dt) or ekf_run (k rows): the blocks over _NTASK runs; ``rec`` as
    _ekf_block's (empty: nothing recorded)."""
    ip, im, tt, yy, dts = _as_rows(i_pred), _as_rows(i_meas), _as_rows(T), _as_rows(y), _as_steps(dt)
    inn, sv, fl = _as_rows(innov), _as_rows(svar), _as_rows(flags)
    n, nx = x.shape
    nb = (n + EBLOCK - 1) // EBLOCK
    nt = min(_NTASK, nb) if n >= K.PARALLEL_THRESHOLD else 1  # one workspace for a pack the serial build runs
    grid = _fast_soc_grid(gp, data, meta)
    for t in prange(nt):
        w = np.empty(_erows(nx - 2) * EBLOCK)
        for b in range(t * nb // nt, (t + 1) * nb // nt):
            e0 = b * EBLOCK
            _ekf_block(cp, gp, data, meta, x, P, s, ip, im, tt, yy, dts, noise, robust, inn, sv, fl, e0,
                       min(EBLOCK, n - e0), w, grid, rec)


# one build per kind, two signatures each: one step (1-D arrays, a scalar dt) and k logged steps (2-D, dt (k,)),
# both through the one compiled block kernel
ekf_step_serial = njit(cache=True)(_ekf)
ekf_step_parallel = njit(cache=True, parallel=True)(K._renamed(_ekf, "_ekf_parallel"))
ekf_run_serial, ekf_run_parallel = ekf_step_serial, ekf_step_parallel
NO_REC = np.empty((0, 0, 0))  # (the rec argument of a call that records nothing)


def ekf_step(cp, gp, data, meta, x, P, s, i_pred, i_meas, T, y, dt, noise, robust, innov, svar, flags):
    """One EKF step (predict over ``dt`` with ``i_pred``, then update with ``y`` measured at ``i_meas``)
    for every element row, in place on ``x`` (n, nx), ``P`` (n, nx, nx) and ``s`` (n,).

    noise  = [sigma_I [A], q_z [1/sqrt(s)], q_v [V/sqrt(s)], q_h [1/sqrt(s)], sigma_y [V]]
    robust = [gate^2, bump^2, bump factor, z_min, z_max]   (gate^2 or bump^2 = inf: off)
    ``dt <= 0`` skips the prediction. Outputs per element: innovation ``innov`` [V], its predicted
    variance ``svar`` [V^2] and ``flags`` (FLAG_*). Threads over blocks of elements from
    ``K.PARALLEL_THRESHOLD`` elements on.
    """
    f = K._pick(x.shape[0], ekf_step_serial, ekf_step_parallel)
    f(cp, gp, data, meta, x, P, s, i_pred, i_meas, T, y, float(dt), noise, robust, innov, svar, flags, NO_REC)


def _check_run(name, n_steps, arrays):
    """Every (field, array, shape) of a multi-step call has its shape; ParameterError naming it otherwise."""
    for field, a, shape in arrays:
        if a.shape != shape:
            raise ParameterError(f"{name}: {field} has shape {a.shape}; expected {shape} ({n_steps} steps).")


def ekf_run(cp, gp, data, meta, x, P, s, i_pred, i_meas, T, y, dt, noise, robust, innov, svar, flags):
    """``ekf_step`` over k logged steps in one compiled call (no per-step dispatch): step j uses row j
    of ``i_pred``, ``i_meas``, ``T``, ``y`` (k, n) and ``dt[j]``, and writes row j of ``innov``,
    ``svar``, ``flags`` (k, n); x, P, s in place as ekf_step. The numbers are those of k ekf_step calls
    (the same compiled step)."""
    n = x.shape[0]
    k = dt.shape[0]
    _check_run("ekf_run", k, [(nm, a, (k, n)) for nm, a in (("i_pred", i_pred), ("i_meas", i_meas), ("T", T),
                                                              ("y", y), ("innov", innov), ("svar", svar),
                                                              ("flags", flags))])
    f = K._pick(n, ekf_run_serial, ekf_run_parallel)
    f(cp, gp, data, meta, x, P, s, i_pred, i_meas, T, y, np.asarray(dt, float), noise, robust, innov, svar, flags,
      NO_REC)


def ekf_trace(cp, gp, data, meta, x, P, s, i_pred, i_meas, T, y, dt, noise, robust, innov, svar, flags):
    """``ekf_run`` that also returns each step's state (k, n, nx) and SOC variance (k, n): the trace an
    estimator hands the loop's log when it runs many steps at once (the same compiled run, recording
    as it goes)."""
    n, nx = x.shape
    k = dt.shape[0]
    _check_run("ekf_trace", k, [(nm, a, (k, n)) for nm, a in (("i_pred", i_pred), ("i_meas", i_meas), ("T", T),
                                                                ("y", y), ("innov", innov), ("svar", svar),
                                                                ("flags", flags))])
    rec = np.empty((k, n, nx + 2))
    f = K._pick(n, ekf_run_serial, ekf_run_parallel)
    f(cp, gp, data, meta, x, P, s, i_pred, i_meas, T, y, np.asarray(dt, float), noise, robust, innov, svar, flags,
      rec)
    return rec[..., :nx], rec[..., nx + 1]


# the delta filters' rows (the same workspace, other meanings): values and slopes dX/dz of the tables
# at z = zbar + dz, the pack's bar states broadcast over its elements, the delta state
_D_SU, _D_SD, _D_SM, _D_SR = _W_ZP, _W_ZM, _W_YP, _W_YM
_D_ZB, _D_HB, _D_SB, _D_VS, _D_DZ, _D_P = _W_Y, _W_MZ, _W_I, _W_XA, _W_XH, _W_EA


@njit(cache=True, error_model="numpy")
def _table_slope(t, data, meta, w, rz, rf, g, ro, rs, m):
    """Table t at z = row rz into row ro (as _table) and its slope dX/dz into row rs: the slope of the
    interpolant on the one SOC interval holding z (0 for a constant table); for a table over T or I
    too, or on a non-uniform grid, the central difference of K.lut over z +- DZ. Rows and g as _table."""
    B = BLOCK
    oo, os = ro * B, rs * B
    nz = meta[t, 2]
    if meta[t, 0] == 1 and meta[t, 1] == 1 and nz > 1 and meta[t, 7] != 0:
        # value (K.lut's arithmetic) and slope from one interval, one pass
        g = K._soc_positions(data, meta, t, w, rz * B, rf * B, g, m)
        of = rf * B
        vo = meta[t, 4]
        rdx = 1.0 / (data[meta[t, 3] + 3] - data[meta[t, 3] + 2])
        hi = float(nz - 2)
        for i in range(m):
            fi = w[of + i]
            lo = int(min(max(fi, 0.0), hi))
            wt = fi - lo
            v0 = data[vo + lo]
            v1 = data[vo + lo + 1]
            w[oo + i] = v0 * (1.0 - wt) + v1 * wt
            w[os + i] = (v1 - v0) * rdx
        return g
    g = _table(t, data, meta, w, _W_T, _W_IM, rz, rf, g, ro, m)
    if meta[t, 0] == 1 and meta[t, 1] == 1 and nz == 1:
        for i in range(m):
            w[os + i] = 0.0
        return g
    for i in range(m):
        Te = w[_W_T * B + i]
        cur = 0.0 if t < K.T_R0 else w[_W_IM * B + i]  # as K.lut's callers: OCV, dU/dT, M at I = 0
        z = w[rz * B + i]
        w[os + i] = (K.lut(t, Te, cur, z + DZ, data, meta) - K.lut(t, Te, cur, z - DZ, data, meta)) / (2.0 * DZ)
    return g


@njit(cache=True)
def _fast_soc_grid(gp, data, meta):
    """The SOC grid shared by the delta filters' measurement tables (OCV, dU/dT if the set has an
    entropic term, M, R0) when each is over SOC only and either constant or on one uniform SOC grid:
    (x0, dx, number of points, ok); ok False otherwise (then ``_table_slope`` per table)."""
    x0, dx, nz, ok = 0.0, 1.0, 0, True
    for t in (K.T_OCV, K.T_DUDT, K.T_HYST, K.T_R0):
        if t == K.T_DUDT and gp[K.G_ENTROPIC] == 0.0:
            continue
        n = meta[t, 2]
        if meta[t, 0] != 1 or meta[t, 1] != 1:
            ok = False
        elif n > 1:
            a0, a1 = data[meta[t, 3] + 2], data[meta[t, 3] + 3]
            if meta[t, 7] == 0 or (nz > 0 and (n != nz or a0 != x0 or a1 - a0 != dx)):
                ok = False
            nz, x0, dx = n, a0, a1 - a0
    return x0, dx, nz, ok


# the delta filters' further rows: the SOC interval of z on the one grid and its weight, each element's
# current minus its pack's mean, the knot values of OCV, dU/dT, M and R0 at that interval
_Q_LO = _W_EH
_Q_WT = _W_RC
_Q_DI = _W_RC + 1
_Q_G = _W_RC + 2
_DROWS = _Q_G + 8


@njit(cache=True, error_model="numpy")
def _tables_one_grid(gp, data, meta, w, x0, dx, nz, m):
    """``_table_slope`` of OCV, dU/dT (zeros without an entropic term), M and R0 at z = row _W_Z when
    each is constant or on the one uniform SOC grid (x0, dx, nz) of ``_fast_soc_grid``: the SOC
    position once per element (a SIMD loop), the knot values of every table gathered in one scalar
    loop, values and slopes in SIMD loops; each table's arithmetic that of ``_table_slope``."""
    B = BLOCK
    z = w[_W_Z * B:_W_Z * B + m]
    lo_r, wt_r = w[_Q_LO * B:_Q_LO * B + m], w[_Q_WT * B:_Q_WT * B + m]
    hi = float(nz - 2)
    for i in range(m):
        fi = (z[i] - x0) / dx
        lo = int(min(max(fi, 0.0), hi))
        lo_r[i] = lo
        wt_r[i] = fi - lo
    ent = gp[K.G_ENTROPIC] != 0.0
    rows = ((K.T_OCV, _W_U, _D_SU), (K.T_DUDT, _W_D, _D_SD), (K.T_HYST, _W_M, _D_SM), (K.T_R0, _W_R0, _D_SR))
    on = (meta[K.T_OCV, 2] > 1, ent and meta[K.T_DUDT, 2] > 1, meta[K.T_HYST, 2] > 1, meta[K.T_R0, 2] > 1)
    vo = (np.uint64(meta[K.T_OCV, 4]), np.uint64(meta[K.T_DUDT, 4]), np.uint64(meta[K.T_HYST, 4]),
          np.uint64(meta[K.T_R0, 4]))
    one = np.uint64(1)
    g = w[_Q_G * B:(_Q_G + 8) * B]
    for i in range(m):  # the gathers (unsigned offsets: no wrap-around checks)
        b = np.uint64(lo_r[i])
        for q in range(4):
            if on[q]:
                g[2 * q * B + i] = data[vo[q] + b]
                g[(2 * q + 1) * B + i] = data[vo[q] + b + one]
    rdx = 1.0 / dx
    for q in range(4):
        t, ro, rs = rows[q]
        vv, sv = w[ro * B:ro * B + m], w[rs * B:rs * B + m]
        if on[q]:
            v0, v1 = g[2 * q * B:2 * q * B + m], g[(2 * q + 1) * B:(2 * q + 1) * B + m]
            for i in range(m):
                wt = wt_r[i]
                vv[i] = v0[i] * (1.0 - wt) + v1[i] * wt
                sv[i] = (v1[i] - v0[i]) * rdx
        else:  # a constant table (and dU/dT without an entropic term: 0)
            v = data[meta[t, 4]] if ent or t != K.T_DUDT else 0.0
            for i in range(m):
                vv[i] = v
                sv[i] = 0.0


@njit(cache=True, error_model="numpy")
def _delta_block(cp, gp, data, meta, zbar, hbar, sbar, vsum, ipb, ns, i_pred, i_meas, T, y, dt, update, dnoise,
                 robust, innov, flags, dz, p, e0, m, w, grid):
    """The delta filters of elements e0 .. e0+m-1 (element e in pack e // ns) over the k steps of the
    rows of ``i_pred``, ``i_meas``, ``T``, ``y``, ``innov``, ``flags`` (k, n) and ``dt``, ``update``
    (k,); ``zbar``, ``hbar``, ``sbar``, ``vsum`` (k, B): the bar states after each step, ``ipb`` (k, B)
    the packs' mean currents. The block's dz and p stay in rows of ``w`` (``_DROWS`` rows of BLOCK) over
    the steps; R0's Arrhenius factor is recomputed when the block's temperatures change. The
    measurement is evaluated once, at z = zbar + dz: y from the tables' interpolants and H = dy/dz
    from the slopes of the same SOC intervals (``_table_slope``; ``_tables_one_grid`` when grid =
    ``_fast_soc_grid``'s answer says the tables allow it). Branch-free loops over views of the rows."""
    B = BLOCK
    sig_i, qd, sig_y = dnoise[0], dnoise[1], dnoise[2]
    gate2, bump2, bumpf, zlo, zhi = robust[0], robust[1], robust[2], robust[3], robust[4]
    Q = cp[K.C_CAP]
    eta_c = cp[K.C_ETA]
    tr = 1.0 / gp[K.G_TREF_R]
    ea0 = gp[K.G_EA0]
    tref = gp[K.G_TREF_OCV]
    ms, m0, r0s = cp[K.C_MS], cp[K.C_M0], cp[K.C_R0S]
    sy2 = sig_y * sig_y
    ent = gp[K.G_ENTROPIC] != 0.0
    dzr, pr = w[_D_DZ * B:_D_DZ * B + m], w[_D_P * B:_D_P * B + m]
    tc, x0, ar = w[_W_T * B:_W_T * B + m], w[_W_X0 * B:_W_X0 * B + m], w[_W_E0 * B:_W_E0 * B + m]
    zb_r, hb_r = w[_D_ZB * B:_D_ZB * B + m], w[_D_HB * B:_D_HB * B + m]
    sb_r, vs_r = w[_D_SB * B:_D_SB * B + m], w[_D_VS * B:_D_VS * B + m]
    di_r, im_r, z_r = w[_Q_DI * B:_Q_DI * B + m], w[_W_IM * B:_W_IM * B + m], w[_W_Z * B:_W_Z * B + m]
    D, SD = w[_W_D * B:_W_D * B + m], w[_D_SD * B:_D_SD * B + m]
    dzv, pv = dz[e0:e0 + m], p[e0:e0 + m]
    for i in range(m):
        dzr[i] = dzv[i]
        pr[i] = pv[i]
        tc[i] = np.nan
    for j in range(dt.shape[0]):
        d = dt[j]
        pred = d > 0.0
        pz = d * sig_i / Q
        pz = pz * pz + qd * qd * d if pred else 0.0
        # the bar states of each element's pack; its current minus the pack's mean
        ipj = i_pred[j, e0:e0 + m]
        for b in range(e0 // ns, (e0 + m - 1) // ns + 1):
            zb, hb, sb, vs, mb = zbar[j, b], hbar[j, b], sbar[j, b], vsum[j, b], ipb[j, b]
            i0, i1 = max(b * ns, e0) - e0, min((b + 1) * ns, e0 + m) - e0
            zv, hv, sv, vv, dv, iv = zb_r[i0:i1], hb_r[i0:i1], sb_r[i0:i1], vs_r[i0:i1], di_r[i0:i1], ipj[i0:i1]
            for i in range(i1 - i0):
                zv[i] = zb
                hv[i] = hb
                sv[i] = sb
                vv[i] = vs
                dv[i] = iv[i] - mb
        for i in range(m):
            di = di_r[i]
            eta = eta_c if di > 0.0 else 1.0
            dzr[i] = dzr[i] + eta * di * d / Q if pred else dzr[i]
            pr[i] = pr[i] + pz
        inv, flv = innov[j, e0:e0 + m], flags[j, e0:e0 + m]
        if not update[j]:  # prediction only
            for i in range(m):
                inv[i] = np.nan
                flv[i] = 0
            continue
        Tj = T[j, e0:e0 + m]
        n_new = 0
        for i in range(m):
            n_new += 0 if Tj[i] == tc[i] else 1
        if n_new > 0:  # R0's Arrhenius factor per element and temperature
            for i in range(m):
                tc[i] = Tj[i]
                x0[i] = ea0 * (1.0 / Tj[i] - tr)
            _vexp_row(x0, ar, m)
        imj = i_meas[j, e0:e0 + m]
        for i in range(m):
            im_r[i] = imj[i]
            z_r[i] = zb_r[i] + dzr[i]
        if grid[3]:
            _tables_one_grid(gp, data, meta, w, grid[0], grid[1], grid[2], m)
        else:
            g = _table_slope(K.T_OCV, data, meta, w, _W_Z, _W_F, -1, _W_U, _D_SU, m)
            if ent:
                g = _table_slope(K.T_DUDT, data, meta, w, _W_Z, _W_F, g, _W_D, _D_SD, m)
            else:
                for i in range(m):
                    D[i] = 0.0
                    SD[i] = 0.0
            g = _table_slope(K.T_HYST, data, meta, w, _W_Z, _W_F, g, _W_M, _D_SM, m)
            g = _table_slope(K.T_R0, data, meta, w, _W_Z, _W_F, g, _W_R0, _D_SR, m)
        yj = y[j, e0:e0 + m]
        # workspace rows as w[ROW * B + i] here (constant distances: LLVM needs no aliasing checks between
        # them, so this loop over some twenty rows vectorises)
        for i in range(m):
            dT = w[_W_T * B + i] - tref
            h = w[_D_HB * B + i]
            cur = w[_W_IM * B + i]
            a = w[_W_E0 * B + i]
            u = w[_W_U * B + i] + dT * w[_W_D * B + i]
            # y as _static_output (+ the bar RC voltages), dy/dz term by term from the slopes
            yp = u + w[_W_M * B + i] * ms * h + m0 * w[_D_SB * B + i] + w[_W_R0 * B + i] * r0s * a * cur
            yp += w[_D_VS * B + i]
            hz = (w[_D_SU * B + i] + dT * w[_D_SD * B + i] + w[_D_SM * B + i] * ms * h
                  + w[_D_SR * B + i] * r0s * a * cur)
            dd = w[_D_DZ * B + i]
            pe = w[_D_P * B + i]
            S = hz * hz * pe + sy2
            r = yj[i] - yp
            inv[i] = r
            gated = r * r > gate2 * S
            bumped = r * r > bump2 * S  # gated or not (as Plett's code)
            k = pe * hz / S
            dd = dd if gated else dd + k * r
            pe = pe if gated else pe - 2.0 * k * hz * pe + S * k * k  # Joseph form, scalar
            pe = pe * bumpf if bumped else pe
            flv[i] = (FLAG_GATED if gated else 0) | (FLAG_BUMPED if bumped else 0)
            zb = w[_D_ZB * B + i]
            w[_D_DZ * B + i] = min(max(zb + dd, zlo), zhi) - zb
            w[_D_P * B + i] = pe
    for i in range(m):
        dzv[i] = dzr[i]
        pv[i] = pr[i]


# a delta filter costs a few ns: threads pay off from some 16k element-steps per call (their start-up is
# microseconds)
BARDELTA_PARALLEL_THRESHOLD = 16384


@njit(cache=True, error_model="numpy")
def _pack_means(T, y, ip, im, tb, yb, ipb, imb):
    """Row means of the (B, n_s) arrays T, y, ip, im into tb, yb, ipb, imb, the four in one pass with two
    partial sums each (eight independent add chains; the order differs from a sequential sum by
    rounding only)."""
    ns = T.shape[1]
    n2 = ns - ns % 2
    for b in range(T.shape[0]):
        tr, yr, pr, mr = T[b], y[b], ip[b], im[b]
        t0 = t1 = y0 = y1 = p0 = p1 = m0 = m1 = 0.0
        for k in range(0, n2, 2):
            t0 += tr[k]
            t1 += tr[k + 1]
            y0 += yr[k]
            y1 += yr[k + 1]
            p0 += pr[k]
            p1 += pr[k + 1]
            m0 += mr[k]
            m1 += mr[k + 1]
        if n2 < ns:
            t0 += tr[n2]
            y0 += yr[n2]
            p0 += pr[n2]
            m0 += mr[n2]
        tb[b], yb[b], ipb[b], imb[b] = (t0 + t1) / ns, (y0 + y1) / ns, (p0 + p1) / ns, (m0 + m1) / ns


def _as_steps3(a):
    """(B, n_s) -> a (1, B, n_s) view; (k, B, n_s) as it is (compiled: ``_as_steps3_impl``)."""


@overload(_as_steps3, jit_options={"cache": True})
def _as_steps3_impl(a):
    if a.ndim == 2:
        return lambda a: a[None, :, :]
    return lambda a: a


def _bardelta(cp, gp, data, meta, xb, Pb, sb, dz, p, i_pred, i_meas, T, y, dt, noise, dnoise, robust, innov_b,
              svar_b, flags_b, innov, flags, update=True):
    """bardelta_step (one step: (B, n_s) inputs, scalars dt and update) or bardelta_run (k steps): the bar
    filters over the k steps first (they see pack means only), then each block of delta filters over
    the k steps, the blocks over _NTASK runs."""
    ip3, im3, T3, y3 = _as_steps3(i_pred), _as_steps3(i_meas), _as_steps3(T), _as_steps3(y)
    dts, upd = _as_steps(dt), _as_steps(update)
    ib2, sv2, fb2, inn2, fl2 = _as_rows(innov_b), _as_rows(svar_b), _as_rows(flags_b), _as_rows(innov), _as_rows(flags)
    k = dts.shape[0]
    nbar, nx = xb.shape
    ns = ip3.shape[2]
    n = nbar * ns
    # the bar filters' inputs: pack means of the element quantities
    pk = np.empty((8, k, nbar))  # per step and pack: the means, then the bar states
    tb, yb, ipb, imb = pk[0], pk[1], pk[2], pk[3]
    for j in range(k):
        _pack_means(T3[j], y3[j], ip3[j], im3[j], tb[j], yb[j], ipb[j], imb[j])
    # the bar filters (the EKF's block kernel), their states after each step
    grid = _fast_soc_grid(gp, data, meta)
    rec = np.empty((k, nbar, nx + 1))
    wb = np.empty(_erows(nx - 2) * EBLOCK)
    for b0 in range(0, nbar, EBLOCK):
        _ekf_block(cp, gp, data, meta, xb, Pb, sb, ipb, imb, tb, yb, dts, noise, robust, ib2, sv2, fb2, b0,
                   min(EBLOCK, nbar - b0), wb, grid, rec)
    zbar, hbar, sbar, vsum = pk[4], pk[5], pk[6], pk[7]
    for j in range(k):
        for b in range(nbar):
            zbar[j, b] = rec[j, b, 0]
            hbar[j, b] = rec[j, b, nx - 1]
            sbar[j, b] = rec[j, b, nx]
            v = 0.0
            for q in range(1, nx - 1):
                v += rec[j, b, q]
            vsum[j, b] = v
    ipf = np.ascontiguousarray(ip3).reshape((k, n))
    imf = np.ascontiguousarray(im3).reshape((k, n))
    Tf = np.ascontiguousarray(T3).reshape((k, n))
    yf = np.ascontiguousarray(y3).reshape((k, n))
    nb = (n + BLOCK - 1) // BLOCK
    nt = min(_NTASK, nb) if n * k >= BARDELTA_PARALLEL_THRESHOLD else 1  # one workspace when serial
    for t in prange(nt):
        w = np.empty(_DROWS * BLOCK)
        for bl in range(t * nb // nt, (t + 1) * nb // nt):
            e0 = bl * BLOCK
            _delta_block(cp, gp, data, meta, zbar, hbar, sbar, vsum, ipb, ns, ipf, imf, Tf, yf, dts, upd, dnoise,
                         robust, inn2, fl2, dz, p, e0, min(BLOCK, n - e0), w, grid)


# as the EKF: one build per kind, for one step and for k logged steps
bardelta_step_serial = njit(cache=True)(_bardelta)
bardelta_step_parallel = njit(cache=True, parallel=True)(K._renamed(_bardelta, "_bardelta_parallel"))
bardelta_run_serial, bardelta_run_parallel = bardelta_step_serial, bardelta_step_parallel


def _bardelta_pick(n, k):
    """The threaded build from BARDELTA_PARALLEL_THRESHOLD element-steps per call and two blocks on."""
    return bardelta_step_parallel if n * k >= BARDELTA_PARALLEL_THRESHOLD and n > BLOCK else bardelta_step_serial


def bardelta_step(cp, gp, data, meta, xb, Pb, sb, dz, p, i_pred, i_meas, T, y, dt, noise, dnoise, robust, innov_b,
                  svar_b, flags_b, innov, flags, update=True):
    """One step of Plett's bar-delta filters on packs of ``n_s`` elements, in place.

    Bar filters: the EKF (``ekf_step``) on each pack's average element, state ``xb`` (B, nx), ``Pb``
    (B, nx, nx), ``sb`` (B,), driven with the pack means of the element currents ``i_pred``,
    ``i_meas`` (B, n_s) [A, cell-equivalent], temperatures ``T`` and voltages ``y`` (B, n_s);
    noise as ekf_step; outputs ``innov_b``, ``svar_b``, ``flags_b`` (B,).

    Delta filters: one scalar Kalman filter per element on dz = z - zbar, in place on ``dz`` and its
    variance ``p`` (B n_s,). Prediction: dz' = dz + eta di dt / Q (di: the element's current minus its
    pack's mean), p' = p + (dt sigma_I / Q)^2 + q_dz^2 dt. Measurement: the element's voltage
    predicted from its pack's (updated) bar states (zbar, hbar, sbar, sum of the RC voltages) at
    z = zbar + dz and the element's own temperature; H = dy/dz. dnoise = [sigma_I, q_dz, sigma_y];
    robust as in ekf_step; outputs ``innov``, ``flags`` (B n_s,).

    ``update`` False: the delta filters only predict (the steps between their measurement updates when
    they run every k-th sample, ``BarDeltaEstimator.delta_update_every``): dz and p as above, ``innov``
    NaN, ``flags`` 0; the bar filters run as always.
    """
    f = _bardelta_pick(dz.shape[0], 1)
    f(cp, gp, data, meta, xb, Pb, sb, dz, p, i_pred, i_meas, T, y, float(dt), noise, dnoise, robust, innov_b, svar_b,
      flags_b, innov, flags, bool(update))


def bardelta_run(cp, gp, data, meta, xb, Pb, sb, dz, p, i_pred, i_meas, T, y, dt, noise, dnoise, robust, innov_b,
                 svar_b, flags_b, innov, flags, update=None):
    """``bardelta_step`` over k logged steps in one compiled call: step j uses ``i_pred[j]``,
    ``i_meas[j]``, ``T[j]``, ``y[j]`` (k, B, n_s) and ``dt[j]``, writes row j of ``innov_b``, ``svar_b``,
    ``flags_b`` (k, B) and ``innov``, ``flags`` (k, B n_s); ``update`` (k,) bool: bardelta_step's
    ``update`` per step (None: every step); the numbers of k bardelta_step calls (the same compiled
    code: the bar filters over the k steps, then the delta filters over them, one block of elements at
    a time, threads over the blocks from BARDELTA_PARALLEL_THRESHOLD element-steps)."""
    nbar = xb.shape[0]
    k = dt.shape[0]
    n = dz.shape[0]
    ns = n // nbar
    _check_run("bardelta_run", k, [(nm, a, (k, nbar, ns)) for nm, a in (("i_pred", i_pred), ("i_meas", i_meas),
                                                                         ("T", T), ("y", y))]
               + [(nm, a, (k, nbar)) for nm, a in (("innov_b", innov_b), ("svar_b", svar_b), ("flags_b", flags_b))]
               + [(nm, a, (k, n)) for nm, a in (("innov", innov), ("flags", flags))])
    upd = np.ones(k, np.bool_) if update is None else np.asarray(update, np.bool_)
    _check_run("bardelta_run", k, [("update", upd, (k,))])
    f = _bardelta_pick(n, k)
    f(cp, gp, data, meta, xb, Pb, sb, dz, p, i_pred, i_meas, T, y, np.asarray(dt, float), noise, dnoise, robust,
      innov_b, svar_b, flags_b, innov, flags, upd)


@njit(cache=True)
def propagate_points(cp, gp, data, meta, X, s, I, T, dt):
    """Sigma points X (n, m, nx) of element e propagated with the element's mean current I[e] and
    temperature T[e]; returns the new points and each element's new sign s."""
    n, m, nx = X.shape
    out = np.empty_like(X)
    fd = np.empty(nx)
    s_new = np.empty(n)
    for e in range(n):
        for k in range(m):
            s_new[e] = propagate(cp, gp, data, meta, X[e, k], out[e, k], fd, T[e], I[e], s[e], dt)
    return out, s_new


@njit(cache=True)
def output_points(cp, gp, data, meta, X, s, i, T):
    """Predicted voltage of every sigma point (n, m)."""
    n, m = X.shape[0], X.shape[1]
    Y = np.empty((n, m))
    for e in range(n):
        for k in range(m):
            Y[e, k] = output(cp, gp, data, meta, X[e, k], T[e], i[e], s[e])[0]
    return Y


@njit(cache=True)
def invert_ocv(gp, data, meta, v, T, iters=60):
    """z with U(z, T) = v by bisection on [0, 1] (U increasing), clipped to [0, 1]."""
    n = v.shape[0]
    out = np.empty(n)
    for e in range(n):
        lo, hi = 0.0, 1.0
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            if K.ocv(gp, data, meta, T[e], mid) < v[e]:
                lo = mid
            else:
                hi = mid
        out[e] = 0.5 * (lo + hi)
    return out
