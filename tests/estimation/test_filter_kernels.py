"""The blocked filter kernels of ``estimation/kernels.py`` against the per-element filters they replaced.

The references below are the EKF (in matrix form, numpy) and the delta filters on the per-element
model functions that the sigma-point filter still uses (``propagate``, ``process_noise``, ``output``,
``_static_output``: one table look-up and one libm exp per use). The blocked EKF shares the tables, the
Arrhenius factors and a_j within a step and uses the vectorised exp (within 1 ulp of libm's), so it
must give the reference's numbers up to rounding (1e-12 of each quantity's scale) on every table path: uniform SOC
tables, a non-uniform SOC grid over temperature, SOC-dependent hysteresis and RC tables, the 3-D
current-dependent tables of ECM_Example; with and without a prediction, innovations gated and bumped.

The delta filters' measurement Jacobian changed: dy/dz from the slopes of the SOC interval holding z
(one evaluation) instead of the central difference over z +- 1e-4 (three). Inside an interval the two
are the same number up to rounding; a central difference straddling a table knot averages the two
neighbouring slopes. The tests bound both: 1e-8 away from knots, and on a driven 8s pack the SOC
estimates of the two forms within 2e-4 (0.02 % SOC) of each other.
"""

import dataclasses

import numpy as np
import pytest
from est_helpers import SENSORS
from numba import njit

from cellbalance.cell import Table, get_parameter_set, initial_state
from cellbalance.errors import ParameterError
from cellbalance.estimation import BarDeltaEstimator, FilterTuning
from cellbalance.estimation import kernels as EK
from cellbalance.interfaces import LoopContext, Measurement, NominalModel
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate

RTOL, ATOL = 1e-12, 1e-15


@njit
def _ref_model(cp, gp, data, meta, x, s, i_pred, T, i_meas, dt, noise):
    """The per-element model: x, s predicted in place (dt > 0); returns diag F, diag Q_w and
    (ŷ, dŷ/dz, M) of every element."""
    n, nx = x.shape
    fd = np.ones((n, nx))
    q = np.zeros((n, nx))
    out = np.empty((n, 3))
    for e in range(n):
        if dt > 0.0:
            EK.process_noise(cp, gp, data, meta, T[e], i_pred[e], x[e, 0], dt, noise, q[e])
            s[e] = EK.propagate(cp, gp, data, meta, x[e], x[e], fd[e], T[e], i_pred[e], s[e], dt)
        yp, hz, m = EK.output(cp, gp, data, meta, x[e], T[e], i_meas[e], s[e])
        out[e, 0] = yp
        out[e, 1] = hz
        out[e, 2] = m
    return fd, q, out


def _ref_ekf(cp, gp, data, meta, x, P, s, i_pred, i_meas, T, y, dt, noise, robust, innov, svar, flags):
    """The EKF of docs/models.md in matrix form over all elements (numpy), on the per-element model."""
    fd, q, out = _ref_model(cp, gp, data, meta, x, s, i_pred, T, i_meas, dt, noise)
    nx = x.shape[1]
    P[:] = fd[:, :, None] * fd[:, None, :] * P + q[:, :, None] * np.eye(nx)
    H = np.ones_like(x)
    H[:, 0], H[:, -1] = out[:, 1], out[:, 2]
    g = np.einsum("nab,nb->na", P, H)
    S = np.einsum("na,na->n", g, H) + noise[4] ** 2
    r = y - out[:, 0]
    nis = r * r / S
    use = nis <= robust[0]
    Kg = g / S[:, None]
    x[use] += Kg[use] * r[use, None]
    upd = P - Kg[:, :, None] * g[:, None, :] - g[:, :, None] * Kg[:, None, :] + S[:, None, None] * Kg[:, :, None] * Kg[:, None, :]
    P[use] = upd[use]
    bump = nis > robust[1]
    P[bump, 0, 0] *= robust[2]
    x[:, 0] = np.clip(x[:, 0], robust[3], robust[4])
    x[:, -1] = np.clip(x[:, -1], -1.0, 1.0)
    innov[:], svar[:] = r, S
    flags[:] = np.where(use, 0, EK.FLAG_GATED) | np.where(bump, EK.FLAG_BUMPED, 0)


@njit
def _ref_delta(cp, gp, data, meta, dz, p, zbar, hbar, sbar, vsum, i_meas, di, T, y, dt, dnoise, robust, innov, flags):
    """The per-element delta filter with dy/dz by central difference (zbar .. vsum per element)."""
    Q = cp[0]
    for e in range(dz.shape[0]):
        d = dz[e]
        pe = p[e]
        if dt > 0.0:
            eta = cp[1] if di[e] > 0.0 else 1.0
            d += eta * di[e] * dt / Q
            b = dt * dnoise[0] / Q
            pe += b * b + dnoise[1] * dnoise[1] * dt
        z = zbar[e] + d
        yp, _ = EK._static_output(cp, gp, data, meta, T[e], i_meas[e], z, hbar[e], sbar[e])
        y1, _ = EK._static_output(cp, gp, data, meta, T[e], i_meas[e], z + EK.DZ, hbar[e], sbar[e])
        y0, _ = EK._static_output(cp, gp, data, meta, T[e], i_meas[e], z - EK.DZ, hbar[e], sbar[e])
        hz = (y1 - y0) / (2.0 * EK.DZ)
        yp += vsum[e]
        S = hz * hz * pe + dnoise[2] * dnoise[2]
        r = y[e] - yp
        innov[e] = r
        fl = EK.FLAG_GATED if r * r > robust[0] * S else 0
        if fl == 0:
            k = pe * hz / S
            d += k * r
            pe = pe - 2.0 * k * hz * pe + S * k * k
        if r * r > robust[1] * S:
            fl |= EK.FLAG_BUMPED
            pe *= robust[2]
        flags[e] = fl
        dz[e] = min(max(zbar[e] + d, robust[3]), robust[4]) - zbar[e]
        p[e] = pe


def _uneven():
    """nmc_lg_m50 with every table on the general path or on a grid of its own: OCV over a non-uniform
    SOC grid and temperature, a SOC-dependent hysteresis magnitude and RC resistance on other uniform
    grids (so the blocked kernel cannot share one SOC position between them)."""
    p = get_parameter_set("nmc_lg_m50")
    zu = np.array([0.0, 0.02, 0.08, 0.2, 0.35, 0.5, 0.66, 0.8, 0.93, 1.0])
    tk = np.array([268.15, 298.15, 318.15])
    ocv = 3.2 + 0.95 * zu[None, :] + 0.05 * np.sqrt(zu)[None, :] + 1e-3 * (tk[:, None] - 298.15)
    z7 = np.linspace(0.0, 1.0, 7)
    z13 = np.linspace(0.0, 1.0, 13)
    pair = p.rc[0]
    return dataclasses.replace(
        p, name="uneven", ocv=Table.of_soc_temperature(zu, tk, ocv, "ocv"),
        hysteresis_magnitude=Table.of_soc(z7, 0.01 + 0.02 * (z7 - 0.5) ** 2, "m"),
        rc=(dataclasses.replace(pair, r=Table.of_soc(z13, float(pair.r(298.15, 0.0, 0.5)) * (1 + 0.5 * z13), "r1")),
            *p.rc[1:]))


def _nominal(name):
    p = _uneven() if name == "uneven" else get_parameter_set(name)
    c = p.compile(1)
    return p, np.ascontiguousarray(c.cp[0]), c.gp, c.bank.data, c.bank.meta


def _case(p, n, rng):
    nx = 2 + p.n_rc
    x = np.empty((n, nx))
    x[:, 0] = rng.uniform(-0.03, 1.03, n)
    x[:, 1:-1] = rng.uniform(-0.05, 0.05, (n, p.n_rc))
    x[:, -1] = rng.uniform(-1.0, 1.0, n)
    A = rng.standard_normal((n, nx, nx)) * np.array([0.02] + [2e-3] * p.n_rc + [0.3])
    P = A @ np.swapaxes(A, 1, 2) + np.diag([1e-6] + [1e-8] * p.n_rc + [1e-4])
    s = rng.choice([-1.0, 0.0, 1.0], n)
    cap = p.capacity_Ah
    i = rng.uniform(-3.0, 3.0, (2, n)) * cap
    i[:, rng.random(n) < 0.2] = 0.0
    i[0, rng.random(n) < 0.2] = p.hysteresis_current_threshold_A * rng.choice([-0.5, 1.5], 1)
    T = rng.uniform(263.0, 318.0, n)
    y = rng.uniform(3.3, 4.1, n)  # far from the model for many: gated, bumped and updated rows
    return x, P, s, i[0].copy(), i[1].copy(), T, y


@pytest.mark.parametrize("name", ["nmc_lg_m50", "lfp_a123_26650", "ecm_example", "uneven"])
@pytest.mark.parametrize("n", [1, 7, EK.BLOCK + 3, 3 * EK.BLOCK + 17])
@pytest.mark.parametrize("dt", [0.0, 1.0, 30.0])
def test_blocked_ekf_equals_the_per_element_filter(name, n, dt):
    p, cp, gp, data, meta = _nominal(name)
    rng = np.random.default_rng(n * 7 + int(dt) + len(name))
    x, P, s, ip, im, T, y = _case(p, n, rng)
    noise = FilterTuning().noise()
    robust = FilterTuning(gate_sigma=10.0, bump_sigma=3.0, soc_limits=(-0.02, 1.02)).robust()
    ref = [a.copy() for a in (x, P, s)]
    r_out = (np.empty(n), np.empty(n), np.empty(n, np.int64))
    _ref_ekf(cp, gp, data, meta, *ref, ip, im, T, y, dt, noise, robust, *r_out)
    for build in (EK.ekf_step_serial, EK.ekf_step_parallel):
        got = [a.copy() for a in (x, P, s)]
        out = (np.empty(n), np.empty(n), np.empty(n, np.int64))
        build(cp, gp, data, meta, *got, ip, im, T, y, dt, noise, robust, *out, EK.NO_REC)
        for a, b in zip(got[:2] + list(out[:2]), ref[:2] + list(r_out[:2]), strict=True):
            # 1e-12 of each quantity's scale (an update with a 0.5 V residual carries the rounding)
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * np.abs(b).max() + ATOL)
        np.testing.assert_array_equal(got[2], ref[2])
        np.testing.assert_array_equal(out[2], r_out[2])
    if n > 100:  # every branch was taken
        assert {0, EK.FLAG_BUMPED, EK.FLAG_GATED | EK.FLAG_BUMPED} <= set(r_out[2].tolist())


def _delta_inputs(p, packs, ns, rng):
    n = packs * ns
    nx = 2 + p.n_rc
    xb = np.zeros((packs, nx))
    xb[:, 0] = rng.uniform(0.2, 0.8, packs)
    xb[:, 1:-1] = rng.uniform(-0.02, 0.02, (packs, p.n_rc))
    xb[:, -1] = rng.uniform(-1.0, 1.0, packs)
    Pb = np.broadcast_to(FilterTuning().covariance0(p.n_rc), (packs, nx, nx)).copy()
    dz = rng.uniform(-0.05, 0.05, n)
    ib = rng.uniform(-30.0, 30.0, packs)
    i = np.repeat(ib, ns).reshape(packs, ns) + rng.uniform(-0.1, 0.1, (packs, ns))
    T = rng.uniform(288.0, 308.0, (packs, ns))
    y = 3.0 + 0.9 * (np.repeat(xb[:, 0], ns) + dz).reshape(packs, ns) + rng.normal(0, 2e-3, (packs, ns))
    return xb, Pb, rng.choice([-1.0, 1.0], packs), dz, rng.uniform(1e-6, 1e-4, n), i, T, y


@pytest.mark.parametrize("packs,ns", [(1, 5), (3, 100), (2, EK.BLOCK + 9)])
def test_delta_filters_equal_the_central_difference_form_inside_a_table_interval(packs, ns):
    """No prediction (dt = 0) and z = zbar + dz placed mid-interval of the 1 % SOC tables of nmc_lg_m50:
    the interval's slope and the central difference are the same up to rounding, so the estimates are."""
    p, cp, gp, data, meta = _nominal("nmc_lg_m50")
    rng = np.random.default_rng(packs * ns)
    xb, Pb, sb, dz, pv, i, T, y = _delta_inputs(p, packs, ns, rng)
    tun = FilterTuning()
    dn = np.array([tun.current_noise_std_A, 2e-5, tun.voltage_noise_std_V])
    n = packs * ns
    # the reference: the bar filter (the same EKF kernel), then per-element delta filters on its states
    xr, Pr, sr = xb.copy(), Pb.copy(), sb.copy()
    EK.ekf_step_serial(cp, gp, data, meta, xr, Pr, sr, i.mean(1), i.mean(1), T.mean(1), y.mean(1), 0.0, tun.noise(),
                       tun.robust(), np.empty(packs), np.empty(packs), np.empty(packs, np.int64), EK.NO_REC)
    z = np.repeat(xr[:, 0], ns) + dz
    dz += (np.floor(z * 100) + rng.uniform(0.1, 0.9, z.size)) / 100 - z  # mid-interval at the updated zbar
    got_dz, got_p, xg, Pg, sg = dz.copy(), pv.copy(), xb.copy(), Pb.copy(), sb.copy()
    inn, fl = np.empty(n), np.empty(n, np.int64)
    EK.bardelta_step_serial(cp, gp, data, meta, xg, Pg, sg, got_dz, got_p, i, i, T, y, 0.0, tun.noise(), dn,
                            tun.robust(), np.empty(packs), np.empty(packs), np.empty(packs, np.int64), inn, fl)
    np.testing.assert_allclose(xg, xr, rtol=1e-10, atol=1e-12)  # pack means summed in another order
    ref_dz, ref_p = dz.copy(), pv.copy()
    rinn, rfl = np.empty(n), np.empty(n, np.int64)
    rep = np.repeat
    _ref_delta(cp, gp, data, meta, ref_dz, ref_p, rep(xr[:, 0], ns), rep(xr[:, -1], ns), rep(sr, ns),
               rep(xr[:, 1:-1].sum(1), ns), i.ravel(), np.zeros(n), T.ravel(), y.ravel(), 0.0, dn, tun.robust(),
               rinn, rfl)
    np.testing.assert_allclose(got_dz, ref_dz, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(got_p, ref_p, rtol=1e-8)
    np.testing.assert_allclose(inn, rinn, rtol=0, atol=1e-11)  # [V]: the predicted voltage itself is unchanged
    np.testing.assert_array_equal(fl, rfl)


def test_bar_delta_estimates_of_the_two_jacobians_agree_on_a_driven_pack():
    """An 8s pack (elements spread over 8 % SOC) through US06, a rest and UDDS with noisy sensors; the
    bar-delta estimator against the same filter with the central-difference Jacobian (the reference
    above) fed the same measurements: SOC estimates within 2e-4, standard deviations within 2 %."""
    p = get_parameter_set("nmc_lg_m50")
    c = p.compile(8)
    ds = simulate(c, Experiment(["Run US06 for 600 s", "Rest for 5 minutes", "Run UDDS for 900 s"], period_s=1.0),
                  layout=PackLayout(n_series=8), state=initial_state(c, soc=np.linspace(0.82, 0.9, 8)),
                  sensors=SENSORS, estimator=BarDeltaEstimator(period_s=1.0, initial_soc=0.86))
    meas = [Measurement(t_s=float(t), element_voltage_V=ds.measured_element_voltage_V.values[k],
                        temperature_K=ds.measured_temperature_K.values[k][..., None],
                        pack_current_A=ds.measured_pack_current_A.values[k], pack_voltage_V=np.zeros(1),
                        pack_charge_C=ds.measured_pack_charge_C.values[k])
            for k, t in enumerate(ds.measurement_time.values)]
    est = BarDeltaEstimator(period_s=1.0, initial_soc=0.86)
    st = est.init(LoopContext(NominalModel(p, PackLayout(n_series=8)), 1.0))
    _, cp, gp, data, meta = _nominal("nmc_lg_m50")
    tun = est.tuning
    dn = np.array([tun.current_noise_std_A, est.delta_random_walk, tun.voltage_noise_std_V])
    xr = Pr = sr = None
    worst_z = worst_sd = 0.0
    prev = None
    for m in meas:
        e, st = est.step(m.t_s, m, None, st)
        T = np.nanmean(m.temperature_K, -1)[0]
        v = m.element_voltage_V[0]
        i_now = np.full(8, m.pack_current_A[0])
        if xr is None:
            xr = st.x.copy() * 0
            xr[0, 0] = 0.86
            Pr = tun.covariance0(p.n_rc)[None].copy()
            sr = np.zeros(1)
            dzr, pr = np.zeros(8), np.full(8, est.delta_soc_std0**2)
            dt, i_pred = 0.0, np.zeros(8)
        else:
            dt = m.t_s - prev.t_s
            i_pred = np.full(8, (m.pack_charge_C[0] - prev.pack_charge_C[0]) / dt)
        EK.ekf_step_serial(cp, gp, data, meta, xr, Pr, sr, i_pred[:1], i_now[:1], np.array([T.mean()]),
                           np.array([v.mean()]), dt, tun.noise(), tun.robust(), np.empty(1), np.empty(1),
                           np.empty(1, np.int64), EK.NO_REC)
        rep = np.ones(8)
        _ref_delta(cp, gp, data, meta, dzr, pr, xr[0, 0] * rep, xr[0, -1] * rep, sr[0] * rep, xr[0, 1:-1].sum() * rep,
                   i_now, np.zeros(8), T, v, dt, dn, tun.robust(), np.empty(8), np.empty(8, np.int64))
        worst_z = max(worst_z, float(np.abs(e.soc[0] - (xr[0, 0] + dzr)).max()))
        worst_sd = max(worst_sd, float(np.abs(e.soc_std[0] / np.sqrt(Pr[0, 0, 0] + pr) - 1).max()))
        prev = m
    print(f"\nbar-delta, interval slope vs central difference over {len(meas)} steps: max |dz| {worst_z:.2e}, "
          f"max relative d(std) {worst_sd:.2e}")
    assert worst_z <= 2e-4
    assert worst_sd <= 0.02


def _one_grid_variant(name):
    """Parameter sets whose delta-filter tables all sit on one uniform SOC grid or are constant, in the
    combinations the one-loop path handles: nmc_lg_m50 (M constant), lfp (idem), nmc_lg_m50 with a
    SOC-dependent M on the OCV's grid and a constant R0 (and no entropic term)."""
    p = get_parameter_set("nmc_lg_m50" if name == "nmc_m_of_soc" else name)
    if name == "nmc_m_of_soc":
        z = np.linspace(0.0, 1.0, 101)
        p = dataclasses.replace(p, name=name, hysteresis_magnitude=Table.of_soc(z, 0.01 + 0.02 * (z - 0.5) ** 2, "m"),
                                r0=Table.constant(float(p.r0(298.15, 0.0, 0.5)), "r0"), ocv_includes_entropic=False)
    c = p.compile(1)
    return p, np.ascontiguousarray(c.cp[0]), c.gp, c.bank.data, c.bank.meta


@pytest.mark.parametrize("name", ["nmc_lg_m50", "lfp_a123_26650", "nmc_m_of_soc"])
@pytest.mark.parametrize("dt", [0.0, 1.0])
def test_one_grid_table_loop_equals_the_per_table_look_ups(name, dt):
    """The delta filters' one-loop table path (all tables on one uniform SOC grid or constant) gives
    the per-table path's numbers exactly: the same arithmetic, only fused into one loop."""
    p, cp, gp, data, meta = _one_grid_variant(name)
    grid = EK._fast_soc_grid(gp, data, meta)
    assert grid[3]
    rng = np.random.default_rng(len(name))
    n, nb = 300, 3
    xb, _, sb, dz, pv, i, T, y = _delta_inputs(p, 3, 100, rng)
    dz[:5] = [-0.9, 0.9, 0.0, 1e-9, -1e-9]  # ends of the grid (clamped intervals) and z = zbar
    tun = FilterTuning(gate_sigma=10.0, bump_sigma=3.0)
    dn = np.array([tun.current_noise_std_A, 2e-5, tun.voltage_noise_std_V])
    out = {}
    row = np.ascontiguousarray
    bar = [row(np.broadcast_to(v, (2, nb))) for v in (xb[:, 0], xb[:, -1], sb, xb[:, 1:-1].sum(1), i.mean(1))]
    ii, TT, yy = (row(np.broadcast_to(v.ravel(), (2, n))) for v in (i, T, y))
    for ok in (True, False):
        d, pp, inn, fl = dz.copy(), pv.copy(), np.empty((2, n)), np.empty((2, n), np.int64)
        w = np.empty(EK._DROWS * EK.BLOCK)
        for e0 in range(0, n, EK.BLOCK):
            EK._delta_block(cp, gp, data, meta, *bar, n // nb, ii, ii, TT, yy, np.array([dt, dt]),
                            np.array([True, True]), dn, tun.robust(), inn, fl, d, pp, e0, min(EK.BLOCK, n - e0), w,
                            (*grid[:3], ok))
        out[ok] = (d, pp, inn, fl)
    for a, b in zip(out[True], out[False], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["ecm_example", "uneven"])
def test_tables_off_one_grid_take_the_per_table_path(name):
    """Tables over temperature or current (ECM_Example) or on grids of their own (uneven): not one grid."""
    _, _, gp, data, meta = _nominal(name)
    assert not EK._fast_soc_grid(gp, data, meta)[3]


def _log(p, n, k, rng):
    """k logged steps of n elements: currents, temperatures and voltages near the model's."""
    i = rng.uniform(-2.0, 2.0, (k, 1)) * p.capacity_Ah + rng.uniform(-0.05, 0.05, (k, n))
    T = rng.uniform(290.0, 305.0, (k, n))
    y = 3.6 + 0.01 * i + rng.normal(0.0, 2e-3, (k, n))
    return i, T, y, np.array([1.0, 1.0, 0.0, 2.0, 1.0, 30.0][:k])


@pytest.mark.parametrize("n", [7, EK.BLOCK + 3, 600])  # 600: the threaded build (from 512 elements)
def test_ekf_run_equals_its_steps(n):
    """The multi-step entry gives exactly the numbers of one ekf_step call per logged step."""
    p, cp, gp, data, meta = _nominal("nmc_lg_m50")
    rng = np.random.default_rng(n)
    x, P, s, *_ = _case(p, n, rng)
    x[:, 0] = rng.uniform(0.3, 0.9, n)
    i, T, y, dt = _log(p, n, 6, rng)
    tun = FilterTuning(gate_sigma=10.0, bump_sigma=3.0)
    ref = [a.copy() for a in (x, P, s)]
    r_out = [np.empty((6, n)), np.empty((6, n)), np.empty((6, n), np.int64)]
    for k in range(6):
        EK.ekf_step(cp, gp, data, meta, *ref, i[k], i[k], T[k], y[k], dt[k], tun.noise(), tun.robust(),
                    *(o[k] for o in r_out))
    got = [a.copy() for a in (x, P, s)]
    out = [np.empty((6, n)), np.empty((6, n)), np.empty((6, n), np.int64)]
    EK.ekf_run(cp, gp, data, meta, *got, i, i, T, y, dt, tun.noise(), tun.robust(), *out)
    for a, b in zip(got + out, ref + r_out, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bardelta_run_equals_its_steps_and_refuses_a_wrong_shape():
    p, cp, gp, data, meta = _nominal("nmc_lg_m50")
    rng = np.random.default_rng(3)
    packs, ns, k = 2, 150, 6
    xb, Pb, sb, dz, pv, *_ = _delta_inputs(p, packs, ns, rng)
    i, T, y, dt = _log(p, packs * ns, k, rng)
    i, T, y = (a.reshape(k, packs, ns) for a in (i, T, y))
    tun = FilterTuning(gate_sigma=10.0, bump_sigma=3.0)
    dn = np.array([tun.current_noise_std_A, 2e-5, tun.voltage_noise_std_V])

    def outputs():
        return [np.empty((k, packs)), np.empty((k, packs)), np.empty((k, packs), np.int64),
                np.empty((k, packs * ns)), np.empty((k, packs * ns), np.int64)]

    for upd in (None, np.array([True, False, False, True, False, True])):  # every step; delta updates on some
        ref, r_out = [a.copy() for a in (xb, Pb, sb, dz, pv)], outputs()
        for j in range(k):
            EK.bardelta_step(cp, gp, data, meta, *ref, i[j], i[j], T[j], y[j], dt[j], tun.noise(), dn, tun.robust(),
                             *(o[j] for o in r_out), update=True if upd is None else upd[j])
        got, out = [a.copy() for a in (xb, Pb, sb, dz, pv)], outputs()
        EK.bardelta_run(cp, gp, data, meta, *got, i, i, T, y, dt, tun.noise(), dn, tun.robust(), *out, update=upd)
        for a, b in zip(got + out, ref + r_out, strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ParameterError, match=r"bardelta_run: y has shape \(6, 300\); expected \(6, 2, 150\)"):
        EK.bardelta_run(cp, gp, data, meta, *got, i, i, T, y.reshape(k, -1), dt, tun.noise(), dn, tun.robust(), *out)


def test_delta_prediction_only_step():
    """update=False: the bar filters run as on an updating step; each delta filter only predicts,
    dz' = dz + eta di dt / Q (eta on charge), p' = p + (dt sigma_I / Q)^2 + q^2 dt; innovation NaN, flags 0."""
    p, cp, gp, data, meta = _nominal("nmc_lg_m50")
    rng = np.random.default_rng(11)
    packs, ns = 2, 40
    xb, Pb, sb, dz, pv, i, T, y = _delta_inputs(p, packs, ns, rng)
    tun = FilterTuning()
    dn = np.array([tun.current_noise_std_A, 2e-5, tun.voltage_noise_std_V])
    n, dt = packs * ns, 2.0
    res = {}
    for upd in (True, False):
        st = [a.copy() for a in (xb, Pb, sb, dz, pv)]
        out = [np.empty(packs), np.empty(packs), np.empty(packs, np.int64), np.empty(n), np.empty(n, np.int64)]
        EK.bardelta_step(cp, gp, data, meta, *st, i, i, T, y, dt, tun.noise(), dn, tun.robust(), *out, update=upd)
        res[upd] = st, out
    (sa, oa), (sb_, ob) = res[True], res[False]
    for a, b in zip(sa[:3] + oa[:3], sb_[:3] + ob[:3], strict=True):  # the bar filters: unchanged
        np.testing.assert_array_equal(a, b)
    di = (i - i.mean(1, keepdims=True)).ravel()
    Q = p.capacity_Ah * 3600.0
    eta = np.where(di > 0, p.coulombic_efficiency, 1.0)
    np.testing.assert_allclose(sb_[3], dz + eta * di * dt / Q, rtol=0, atol=1e-15)
    np.testing.assert_allclose(sb_[4], pv + (dt * dn[0] / Q) ** 2 + dn[1] ** 2 * dt, rtol=1e-14)
    assert np.isnan(ob[3]).all() and (ob[4] == 0).all()
    assert np.abs(sa[3] - sb_[3]).max() > 1e-6  # an updating step does move dz


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "5"])
def test_delta_update_every_is_validated(bad):
    with pytest.raises(ParameterError, match=rf"BarDeltaEstimator.delta_update_every must be an integer >= 1; got {bad!r}"):
        BarDeltaEstimator(delta_update_every=bad)


@pytest.mark.slow  # compiles the threaded build
@pytest.mark.parametrize("update", [True, False])
def test_threaded_bardelta_equals_the_serial_build(update):
    """From BARDELTA_PARALLEL_THRESHOLD elements the delta filters run on threads over runs of blocks:
    the same numbers as the serial build (two packs, one of them spanning the runs' boundaries)."""
    p, cp, gp, data, meta = _nominal("nmc_lg_m50")
    rng = np.random.default_rng(5)
    packs, ns = 2, EK.BARDELTA_PARALLEL_THRESHOLD // 2 + 37
    xb, Pb, sb, dz, pv, i, T, y = _delta_inputs(p, packs, ns, rng)
    tun = FilterTuning()
    dn = np.array([tun.current_noise_std_A, 2e-5, tun.voltage_noise_std_V])
    n = packs * ns
    res = []
    for build in (EK.bardelta_step_serial, EK.bardelta_step_parallel):
        st = [a.copy() for a in (xb, Pb, sb, dz, pv)]
        out = [np.empty(packs), np.empty(packs), np.empty(packs, np.int64), np.empty(n), np.empty(n, np.int64)]
        build(cp, gp, data, meta, *st, i, i, T, y, 1.0, tun.noise(), dn, tun.robust(), *out, update)
        res.append(st + out)
    for a, b in zip(*res, strict=True):
        np.testing.assert_array_equal(a, b)
