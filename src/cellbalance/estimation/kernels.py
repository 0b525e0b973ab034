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
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..cell import kernels as K

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


@njit(cache=True, parallel=True)
def ekf_step(cp, gp, data, meta, x, P, s, i_pred, i_meas, T, y, dt, noise, robust, innov, svar, flags, work):
    """One EKF step (predict over ``dt`` with ``i_pred``, then update with ``y`` measured at ``i_meas``)
    for every element row, in place on ``x`` (n, nx), ``P`` (n, nx, nx) and ``s`` (n,).

    noise  = [sigma_I [A], q_z [1/sqrt(s)], q_v [V/sqrt(s)], q_h [1/sqrt(s)], sigma_y [V]]
    robust = [gate^2, bump^2, bump factor, z_min, z_max]   (gate^2 or bump^2 = inf: off)
    ``dt <= 0`` skips the prediction. ``work`` is (n, 2 nx) scratch. Outputs per element: innovation
    ``innov`` [V], its predicted variance ``svar`` [V^2] and ``flags`` (FLAG_*).
    """
    n, nx = x.shape
    nrc = nx - 2
    sig_y = noise[4]
    gate2, bump2, bumpf, zlo, zhi = robust[0], robust[1], robust[2], robust[3], robust[4]
    for e in prange(n):
        xe = x[e]
        Pe = P[e]
        fd = work[e, :nx]
        g = work[e, nx:]
        Te = T[e]
        if dt > 0.0:
            I = i_pred[e]
            z0 = xe[0]
            s[e] = propagate(cp, gp, data, meta, xe, xe, fd, Te, I, s[e], dt)
            # P <- F P F^T + Q, F diagonal; Q diagonal (process_noise)
            for a in range(nx):
                for b in range(a, nx):
                    v = fd[a] * fd[b] * Pe[a, b]
                    Pe[a, b] = v
                    Pe[b, a] = v
            process_noise(cp, gp, data, meta, Te, I, z0, dt, noise, g)
            for a in range(nx):
                Pe[a, a] += g[a]
        yp, hz, m = output(cp, gp, data, meta, xe, Te, i_meas[e], s[e])
        # H = [hz, 1..1, m]; g = P H^T
        for a in range(nx):
            acc = Pe[a, 0] * hz + Pe[a, nrc + 1] * m
            for j in range(nrc):
                acc += Pe[a, 1 + j]
            g[a] = acc
        S = g[0] * hz + g[nrc + 1] * m + sig_y * sig_y
        for j in range(nrc):
            S += g[1 + j]
        r = y[e] - yp
        innov[e] = r
        svar[e] = S
        nis = r * r / S
        fl = 0
        if nis > gate2:
            fl |= FLAG_GATED
        else:
            # K = g / S; Joseph form P - K g^T - g K^T + S K K^T, kept exactly symmetric
            for a in range(nx):
                ka = g[a] / S
                xe[a] += ka * r
                for b in range(a, nx):
                    kb = g[b] / S
                    v = Pe[a, b] - ka * g[b] - g[a] * kb + S * ka * kb
                    Pe[a, b] = v
                    Pe[b, a] = v
        if nis > bump2:
            # (as Plett's code: the bump applies to a gated innovation too, so a filter whose
            # innovations stay beyond the gate widens its SOC variance until it can update again)
            fl |= FLAG_BUMPED
            Pe[0, 0] *= bumpf
        flags[e] = fl
        xe[0] = min(max(xe[0], zlo), zhi)
        xe[nrc + 1] = min(max(xe[nrc + 1], -1.0), 1.0)


@njit(cache=True, parallel=True)
def delta_step(cp, gp, data, meta, dz, p, zbar, hbar, sbar, vbar_sum, i_meas, di_pred, T, y, dt, noise, robust,
               innov, flags):
    """Plett's delta filters: one scalar Kalman filter per element on dz = z - zbar, in place on
    ``dz`` and its variance ``p`` (n,).

    Prediction: dz' = dz + eta di dt / Q (di: the element's commanded current minus the pack mean),
    p' = p + (eta dt sigma_I / Q)^2 + q_dz^2 dt. Measurement: the element's voltage predicted from the
    pack-average states (zbar, hbar, sbar, sum of the mean RC voltages) at z = zbar + dz and the
    element's own temperature; H = dy/dz. ``zbar``, ``hbar``, ``sbar``, ``vbar_sum`` are per element
    (each element's pack's bar state). noise = [sigma_I, q_dz, sigma_y]; robust as in ekf_step.
    """
    n = dz.shape[0]
    sig_i, qd, sig_y = noise[0], noise[1], noise[2]
    gate2, bump2, bumpf, zlo, zhi = robust[0], robust[1], robust[2], robust[3], robust[4]
    Q = cp[K.C_CAP]
    for e in prange(n):
        d = dz[e]
        pe = p[e]
        if dt > 0.0:
            di = di_pred[e]
            eta = cp[K.C_ETA] if di > 0.0 else 1.0
            d += eta * di * dt / Q
            b = dt * sig_i / Q
            pe += b * b + qd * qd * dt
        z = zbar[e] + d
        i = i_meas[e]
        yp, _ = _static_output(cp, gp, data, meta, T[e], i, z, hbar[e], sbar[e])
        y1, _ = _static_output(cp, gp, data, meta, T[e], i, z + DZ, hbar[e], sbar[e])
        y0, _ = _static_output(cp, gp, data, meta, T[e], i, z - DZ, hbar[e], sbar[e])
        hz = (y1 - y0) / (2.0 * DZ)
        yp += vbar_sum[e]
        S = hz * hz * pe + sig_y * sig_y
        r = y[e] - yp
        innov[e] = r
        fl = FLAG_GATED if r * r > gate2 * S else 0
        if fl == 0:
            k = pe * hz / S
            d += k * r
            pe = pe - 2.0 * k * hz * pe + S * k * k  # Joseph form, scalar
        if r * r > bump2 * S:  # gated or not (as Plett's code)
            fl |= FLAG_BUMPED
            pe *= bumpf
        flags[e] = fl
        dz[e] = min(max(zbar[e] + d, zlo), zhi) - zbar[e]
        p[e] = pe


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
