"""Tables over temperature and current in the blocked kernels: positions shared among tables.

``kernels._lookups`` computes the position of each cell on the grid of a table over T or I once and
reuses it for the following tables on the same grid (R0 and the RC pairs' R and C of an HPPC-fitted
set such as PyBaMM's ECM_Example), takes the SOC position of a 2-D table from the 1-D tables' SOC
positions when the SOC grids are the same (dU/dT beside the OCV), and interpolates 2-D tables with
half the loads; ``_table_block`` (one table at a time, the estimators' path) interpolates tables over T
or I point by point. The numbers must be those of the scalar look-up ``_lut_general`` (multilinear
interpolation, T and I held at their ends outside the grid, SOC extrapolated linearly), bit for bit,
also where a table before R0 with a current axis is looked up at I = 0 (so its positions must not
be shared with R0's) and where grids of the same size differ in origin or step.
"""

import numpy as np
import pytest
from numba import njit

from cellbalance.cell import Table
from cellbalance.cell import kernels as K
from cellbalance.cell.tables import TableBank

B = K.BLOCK


def _grid_table(rng, t, i, z, name):
    return Table(values=rng.uniform(0.5, 2.0, (t.size, i.size, z.size)), temperature_K=t, current_A=i, soc=z,
                 name=name)


def _bank(rng, dudt_end=1.04) -> TableBank:
    """Tables in the kernels' order (OCV, dU/dT, M, R0, then R_j, C_j of two RC pairs), on uniform grids;
    dU/dT on the OCV's SOC grid, or (dudt_end other than 1.04) on one of as many points from the
    same origin with another step."""
    zo = np.linspace(-0.05, 1.04, 110)  # the OCV's SOC grid
    t4 = np.linspace(253.15, 313.15, 4)
    tg = np.linspace(253.15, 323.15, 8)  # the grid of R0, R1, C1, R2: (8, 23, 21)
    ig = np.linspace(-700.0, 400.0, 23)
    zg = np.linspace(0.0, 1.0, 21)
    tables = [
        Table.of_soc(zo, rng.uniform(3.0, 4.2, zo.size), "ocv"),
        _grid_table(rng, t4, np.array([0.0]), np.linspace(-0.05, dudt_end, 110), "dudt"),  # over (T, SOC)
        _grid_table(rng, tg, ig, zg, "m"),                          # over I too, looked up at I = 0
        _grid_table(rng, tg, ig, zg, "r0"),                         # R0's grid, at the cells' current
        _grid_table(rng, tg, ig, zg, "r1"),                         # same grid: positions shared
        _grid_table(rng, tg, ig, zg, "c1"),
        _grid_table(rng, tg + 5.0, ig, zg, "r2"),                   # same size, other T origin
        _grid_table(rng, np.array([298.15]), ig[::2], zg, "c2"),    # over (I, SOC) only
    ]
    return TableBank(tables)


def _rows(nrc):
    return [K._S_TAB + t for t in range(K.NT_FIXED)] + [K._NFIX + K._NPER * j + 3 + q for j in range(nrc)
                                                         for q in range(2)]


@njit(cache=False)
def _run_lookups(data, meta, w, t1, m):
    K._lookups(data, meta, w, np.int64(0), np.int64(t1), np.int64(K._S_TAB), np.int64(K._S_T), np.int64(K._S_I),
               np.int64(K._S_Z), np.int64(K._S_F), np.int64(-1), m)


@njit(cache=False)
def _one_table(data, meta, t, w, m):
    """Table t alone into row _S_P by K._table_block (the path of the estimators' look-ups)."""
    K._table_block(data, meta, t, w, K._S_T * B, K._S_I * B, K._S_Z * B, K._S_F * B, -1, K._S_P * B, m)


@njit(cache=False)
def _reference(data, meta, t, T, I, z):
    out = np.empty(T.shape[0])
    for k in range(T.shape[0]):
        out[k] = K._lut_general(t, T[k], I[k] if t >= K.T_R0 else 0.0, z[k], data, meta)
    return out


@pytest.mark.parametrize("dudt_end", [1.04, 1.2])
@pytest.mark.parametrize("m", [1, 7, B])
def test_shared_positions_equal_scalar_lookup(m, dudt_end):
    rng = np.random.default_rng(m)
    bank = _bank(rng, dudt_end)
    nrc = 2
    # points inside and outside every grid: T and I beyond both ends (held), SOC beyond both (extrapolated)
    T = rng.uniform(230.0, 350.0, m)
    I = rng.uniform(-900.0, 600.0, m)
    z = rng.uniform(-0.3, 1.3, m)
    if m == B:  # grid points themselves (weights 0 and 1 at interval ends)
        T[:8] = np.linspace(253.15, 323.15, 8)
        I[:8] = np.linspace(-700.0, 400.0, 23)[::3]
        z[:8] = np.linspace(0.0, 1.0, 21)[::3][[0, 1, 2, 3, 4, 5, 6, 6]]
    w = np.full((K._NFIX + K._NPER * nrc) * B, np.nan)
    w[K._S_T * B:K._S_T * B + m] = T
    w[K._S_I * B:K._S_I * B + m] = I
    w[K._S_Z * B:K._S_Z * B + m] = z
    _run_lookups(bank.data, bank.meta, w, K.NT_FIXED + 2 * nrc, m)
    for t, r in enumerate(_rows(nrc)):
        want = _reference(bank.data, bank.meta, t, T, I, z)
        got = w[r * B:r * B + m]
        np.testing.assert_array_equal(got, want, err_msg=f"table {bank.tables[t].name}")
        _one_table(bank.data, bank.meta, t, w, m)
        np.testing.assert_array_equal(w[K._S_P * B:K._S_P * B + m], want, err_msg=f"table {bank.tables[t].name} alone")


def test_positions_kept_only_on_the_same_grid():
    """The grid rows after R1 hold R1's positions (shared from R0) and after R2 those on R2's own grid:
    recomputed for a grid of the same shape with another origin."""
    rng = np.random.default_rng(5)
    bank = _bank(rng)
    m = 64
    T = rng.uniform(250.0, 330.0, m)
    I = rng.uniform(-700.0, 400.0, m)
    z = rng.uniform(0.0, 1.0, m)
    w = np.zeros((K._NFIX + K._NPER * 2) * B)
    w[K._S_T * B:K._S_T * B + m] = T
    w[K._S_I * B:K._S_I * B + m] = I
    w[K._S_Z * B:K._S_Z * B + m] = z
    _run_lookups(bank.data, bank.meta, w, K.NT_FIXED + 2, m)  # through R1
    ax = w[K._AX * B:(K._AX + 4) * B].reshape(4, B)[:, :m].copy()
    tg, ig, zg = np.linspace(253.15, 323.15, 8), np.linspace(-700.0, 400.0, 23), np.linspace(0.0, 1.0, 21)
    fT = (T - tg[0]) / (tg[1] - tg[0])
    iT = np.clip(fT, 0, 6).astype(int)
    fI = (I - ig[0]) / (ig[1] - ig[0])
    iI = np.clip(fI, 0, 21).astype(int)
    fz = (z - zg[0]) / (zg[1] - zg[0])
    iz = np.clip(fz, 0, 19).astype(int)
    np.testing.assert_array_equal(ax[0], iT * 23 * 21 + iI * 21 + iz)
    np.testing.assert_array_equal(ax[1], np.clip(fT - iT, 0.0, 1.0))
    np.testing.assert_array_equal(ax[2], np.clip(fI - iI, 0.0, 1.0))
    np.testing.assert_array_equal(ax[3], fz - iz)
    _run_lookups(bank.data, bank.meta, w, K.NT_FIXED + 3, m)  # through R2 (T grid shifted by 5 K)
    t2 = tg + 5.0
    fT2 = (T - t2[0]) / (t2[1] - t2[0])
    iT2 = np.clip(fT2, 0, 6).astype(int)
    np.testing.assert_array_equal(w[K._AX * B:K._AX * B + m], iT2 * 23 * 21 + iI * 21 + iz)
    np.testing.assert_array_equal(w[(K._AX + 1) * B:(K._AX + 1) * B + m], np.clip(fT2 - iT2, 0.0, 1.0))
