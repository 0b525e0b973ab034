"""An independent, scalar formulation of the cell model for the kernel tests: one fused loop over
cells doing the whole model in registers (the formulation the package's blocked, vectorised
kernels replaced). The package runs only the blocked kernels; this stays here as the reference they
must reproduce to rounding."""

import math

from numba import njit

from cellbalance.cell.kernels import (  # the column and table indices
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
    _lut,
)


# ---------------------------------------------------------------------------------------------------
# the model cell by cell
# ---------------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _ocv(gp, data, meta, T, z):
    u = _lut(T_OCV, T, 0.0, z, data, meta)
    if gp[G_ENTROPIC] != 0.0:
        u += (T - gp[G_TREF_OCV]) * _lut(T_DUDT, T, 0.0, z, data, meta)
    return u


@njit(cache=True)
def _emf_cells(cp, gp, data, meta, x, cur, dt, full, emf, r0, docv, estep, rstep):
    """K.emf_r0, cell by cell."""
    n = x.shape[0]
    nrc = int(gp[G_NRC])
    ea0 = gp[G_EA0]
    earc = gp[G_EARC]
    tref = gp[G_TREF_R]
    for c in range(n):
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


@njit(cache=True)
def _step_cells(cp, gp, data, meta, x, cur, tamb, qext, dts, heat, xo):
    """K.step, cell by cell."""
    n = x.shape[0]
    nrc = int(gp[G_NRC])
    ea0 = gp[G_EA0]
    earc = gp[G_EARC]
    tref = gp[G_TREF_R]
    ith = gp[G_ITHRESH]
    hasjig = gp[G_HASJIG] != 0.0
    for c in range(n):
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


