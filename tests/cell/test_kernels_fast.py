"""The blocked, vectorised kernels of ``cell/kernels.py`` against the per-cell formulation.

The reference is ``kernel_reference._step_cells`` / ``_emf_cells``: the fused scalar loop (one loop
over cells doing the whole model in registers) that the blocked kernels replaced; the package itself
runs only the blocked kernels, for every number of cells. The blocked kernels must give the same numbers up to
rounding (here: 1e-12 relative or 1e-15 absolute; the vectorised exp is within 1 ulp of libm's) on
random states, currents and steps, including skipped cells (dt = 0), currents of either sign, zero
and around the hysteresis threshold, the two-node thermal model and the 3-D current-dependent tables
of ECM_Example, hysteresis sets, and non-uniform and temperature-dependent tables.
"""

import math
import zlib

import numpy as np
import pytest
from kernel_reference import _emf_cells as _ref_emf_r0
from kernel_reference import _step_cells as _ref_step
from numba import njit

from cellbalance.cell import CellParameters, RCPair, Table, ThermalParameters, get_parameter_set
from cellbalance.cell import kernels as K
from cellbalance.cell.kernels import NX, X_H, X_S, X_T, X_TJ, X_Z

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
