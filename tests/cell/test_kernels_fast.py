"""The blocked, vectorised kernels of ``cell/kernels.py`` against the fused scalar loop they replaced.

The reference below is the per-cell implementation of ``kernels.py`` before the rewrite (one loop
over cells doing the whole model in registers), copied verbatim and compiled here. The new
kernels must give the same numbers up to rounding (here: 1e-12 relative or 1e-15 absolute; the
vectorised exp is within 1 ulp of libm's) on random states, currents and steps, including
skipped cells (dt = 0), currents of either sign, zero and around the hysteresis threshold, the
two-node thermal model and the 3-D current-dependent tables of ECM_Example, hysteresis sets, and
non-uniform and temperature-dependent tables.
"""

import math
import zlib

import numpy as np
import pytest
from numba import njit, prange

from cellbalance.cell import CellParameters, RCPair, Table, ThermalParameters, get_parameter_set
from cellbalance.cell import kernels as K
from cellbalance.cell.kernels import (
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


# ------------------------------------------------------------------------------------------------
# reference: the fused scalar kernels as they were (kernels.py before the blocked rewrite)
# ------------------------------------------------------------------------------------------------
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


_ref_emf_r0 = njit(cache=True)(_emf_r0)
_ref_step = njit(cache=True)(_step)

# ------------------------------------------------------------------------------------------------
# cases
# ------------------------------------------------------------------------------------------------
RTOL, ATOL = 1e-12, 1e-15


def _odd_cell() -> CellParameters:
    """Every table path the kernels specialise: non-uniform SOC grid (bisection), OCV and R0 over
    temperature, a SOC-dependent hysteresis magnitude, entropic term off, R and C of the RC pairs
    depending on SOC (two different uniform grids) and on temperature, zero cooling on some cells."""
    z = np.array([0.0, 0.03, 0.1, 0.25, 0.5, 0.7, 0.9, 0.97, 1.0])
    t = np.array([263.15, 283.15, 298.15, 318.15])
    ocv = 3.0 + 1.2 * z[None, :] + 0.002 * (t[:, None] - 298.15)
    zr = np.linspace(0.0, 1.0, 11)
    return CellParameters(
        name="odd",
        source="test",
        capacity_Ah=3.0,
        ocv=Table.of_soc_temperature(z, t, ocv, "ocv"),
        r0=Table.of_soc_temperature(zr, t, 0.02 + 0.01 * np.cos(3 * zr[None, :]) * (1 + 0.01 * (t[:, None] - 298)), "r0"),
        rc=(
            RCPair(Table.of_soc(zr, 0.01 + 0.005 * zr, "r1"), Table.of_soc(np.linspace(-0.1, 1.1, 25), np.linspace(2e3, 4e3, 25), "c1")),
            RCPair(Table.of_soc_temperature(zr, t, np.full((4, 11), 0.004) * (t[:, None] / 300), "r2"),
                   Table.constant(5e4, "c2")),
        ),
        entropic_coefficient=Table.of_soc(zr, 1e-4 * (zr - 0.5), "dudt"),
        ocv_includes_entropic=False,
        activation_energy_r0_J_per_mol=25e3,
        activation_energy_rc_J_per_mol=15e3,
        hysteresis_rate=30.0,
        hysteresis_magnitude=Table.of_soc(np.linspace(0, 1, 6), [0.03, 0.02, 0.01, 0.01, 0.015, 0.02], "m"),
        hysteresis_instantaneous_V=0.005,
        coulombic_efficiency=0.99,
        self_discharge_A=1e-4,
        thermal=ThermalParameters(heat_capacity_J_per_K=60.0, cooling_W_per_K=0.3),
    )


def _cells(name: str, n: int, rng):
    p = _odd_cell() if name == "odd" else get_parameter_set(name)
    nrc = p.n_rc
    kw = dict(
        capacity_Ah=p.capacity_Ah * rng.uniform(0.9, 1.1, n),
        r0_scale=rng.uniform(0.8, 1.3, n),
        rc_r_scale=rng.uniform(0.8, 1.3, (n, nrc)) if nrc else 1.0,
        rc_c_scale=rng.uniform(0.8, 1.3, (n, nrc)) if nrc else 1.0,
        coulombic_efficiency=rng.uniform(0.98, 1.0, n),
        self_discharge_A=rng.uniform(0.0, 1e-3, n),
        hysteresis_scale=rng.uniform(0.5, 1.5, n),
        heat_capacity_J_per_K=p.thermal.heat_capacity_J_per_K * rng.uniform(0.8, 1.2, n),
    )
    if not p.thermal.has_jig:
        g = p.thermal.cooling_W_per_K * rng.uniform(0.5, 1.5, n)
        g[rng.random(n) < 0.1] = 0.0  # adiabatic cells
        kw["cooling_W_per_K"] = g
    return p.compile(n, **kw)


def _random_state(c, rng):
    n, nrc = c.n, c.params.n_rc
    x = np.empty((n, NX + nrc))
    x[:, X_Z] = rng.uniform(-0.05, 1.05, n)
    x[:, X_H] = rng.uniform(-1.0, 1.0, n)
    x[:, X_S] = rng.choice([-1.0, 0.0, 1.0], n)
    x[:, X_T] = rng.uniform(255.0, 335.0, n)
    x[:, X_TJ] = x[:, X_T] + rng.uniform(-5.0, 5.0, n)
    x[:, NX:] = rng.uniform(-0.08, 0.08, (n, nrc))
    return x


def _random_inputs(c, rng):
    n = c.n
    cap_a = c.params.capacity_Ah
    kind = rng.integers(0, 6, n)
    i = rng.uniform(-3.0, 3.0, n) * cap_a  # up to 3C either way
    i[kind == 0] = 0.0
    i[kind == 1] = rng.uniform(-2e-3, 2e-3, (kind == 1).sum())  # around the hysteresis threshold
    i[kind == 2] = rng.choice([-1.0, 1.0], (kind == 2).sum()) * c.params.hysteresis_current_threshold_A
    dts = rng.choice([0.0, 0.1, 1.0, 1.0, 10.0, 60.0, 1234.5], n) * rng.uniform(0.5, 1.5, n)
    dts[rng.random(n) < 0.15] = 0.0
    tamb = rng.uniform(260.0, 320.0, n)
    qext = rng.uniform(-0.5, 2.0, n)
    return i, dts, tamb, qext


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


SETS = ["nmc_lg_m50", "lfp_a123_26650", "ecm_example", "odd"]
SIZES = [1, 5, K.BLOCK + 3, 3 * K.BLOCK + 17]


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("n", SIZES)
def test_step_matches_reference(name, n):
    rng = np.random.default_rng(zlib.crc32(f"{name}-{n}".encode()))
    c = _cells(name, n, rng)
    args = (c.cp, c.gp, c.bank.data, c.bank.meta)
    for _ in range(3):
        x = _random_state(c, rng)
        i, dts, tamb, qext = _random_inputs(c, rng)
        xr, hr = x.copy(), np.full(n, np.nan)
        _ref_step(*args, x, i, tamb, qext, dts, hr, xr)
        for f in (K.step_serial, K.step_parallel):
            xn, hn = x.copy(), np.full(n, np.nan)
            f(*args, x, i, tamb, qext, dts, hn, xn)
            _close(xn, xr)
            _close(hn, hr)
        # the public entry point, in place (each cell's row is read before it is written)
        xi, hi = x.copy(), np.full(n, np.nan)
        K.step(*args, xi, i, tamb, qext, dts, hi)
        _close(xi, xr)
        _close(hi, hr)
        assert np.all(hi[dts == 0.0] == 0.0) and np.array_equal(xi[dts == 0.0], x[dts == 0.0])


@pytest.mark.parametrize("name", SETS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("full", [False, True])
def test_emf_r0_matches_reference(name, n, full):
    rng = np.random.default_rng(zlib.crc32(f"{name}-{n}-{full}".encode()))
    c = _cells(name, n, rng)
    args = (c.cp, c.gp, c.bank.data, c.bank.meta)
    for dt in (0.0, 1.0, 37.0):
        x = _random_state(c, rng)
        i = _random_inputs(c, rng)[0]
        ref = [np.full(n, np.nan) for _ in range(5)]
        _ref_emf_r0(*args, x, i, dt, full, *ref)
        for f in (K.emf_r0_serial, K.emf_r0_parallel):
            out = [np.full(n, np.nan) for _ in range(5)]
            f(*args, x, i, dt, full, *out)
            for a, b in zip(out, ref, strict=True):
                _close(a, b)
        out = [np.full(n, np.nan) for _ in range(5)]
        K.emf_r0(*args, x, i, dt, *out, full)
        for a, b in zip(out, ref, strict=True):
            _close(a, b)


def test_trajectory_matches_reference():
    """A few hundred coupled steps (state fed back, voltage from emf/r0 each step) stay together."""
    rng = np.random.default_rng(7)
    n = 2 * K.BLOCK + 5
    c = _cells("nmc_lg_m50", n, rng)
    args = (c.cp, c.gp, c.bank.data, c.bank.meta)
    x0 = _random_state(c, rng)
    x0[:, X_Z] = rng.uniform(0.2, 0.9, n)
    x0[:, X_T] = x0[:, X_TJ] = 298.15
    xa, xb = x0.copy(), x0.copy()
    ha, hb = np.empty(n), np.empty(n)
    ea, eb = [np.empty(n) for _ in range(5)], [np.empty(n) for _ in range(5)]
    tamb, qext, dts = np.full(n, 298.15), np.zeros(n), np.ones(n)
    for k in range(300):
        i = np.full(n, 5.0 * math.sin(k / 20.0))
        _ref_step(*args, xa, i, tamb, qext, dts, ha, xa)
        K.step(*args, xb, i, tamb, qext, dts, hb)
        _ref_emf_r0(*args, xa, i, 1.0, False, *ea)
        K.emf_r0(*args, xb, i, 1.0, *eb, False)
    np.testing.assert_allclose(xb, xa, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(eb[0], ea[0], rtol=1e-12)
    np.testing.assert_allclose(eb[1], ea[1], rtol=1e-12)


def test_vectorised_exp_is_libm_exp():
    """``_vexp`` (range reduction + degree-13 polynomial) is within 1 ulp of math.exp on |x| < 512, and
    math.exp itself for |x| >= 512, inf and NaN."""

    @njit
    def libm(a):
        out = np.empty_like(a)
        for k in range(a.shape[0]):
            out[k] = math.exp(a[k])
        return out

    rng = np.random.default_rng(3)
    x = np.concatenate([
        rng.uniform(-1.0, 1.0, 200_000),
        rng.uniform(-60.0, 10.0, 200_000),
        -np.exp(rng.uniform(-40.0, 6.6, 200_000)),
        rng.uniform(-1e-6, 1e-6, 1000),
        [0.0, -0.0, 5e-324, -5e-324, 1e-300, 511.9, -511.9, 512.0, -512.0, 700.0, -700.0, 709.8, 710.0,
         -745.2, -746.0, 1e5, -1e5, np.inf, -np.inf, np.nan],
    ])
    got = np.empty_like(x)
    w = np.empty(2 * K.BLOCK)
    for k in range(0, x.shape[0], K.BLOCK):  # through a block workspace: row 0 -> row 1
        m = min(K.BLOCK, x.shape[0] - k)
        w[:m] = x[k:k + m]
        K._vexp(w, 0, 1, 1, m)
        got[k:k + m] = w[K.BLOCK:K.BLOCK + m]
    want = libm(x)
    np.testing.assert_array_max_ulp(got, want, maxulp=1)
    assert np.array_equal(np.isnan(got), np.isnan(x))
