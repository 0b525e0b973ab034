"""Aging models: closed forms at constant stress, batch = cell by cell, monotonic fade, rate scalars."""

import warnings

import numpy as np
import pytest

from cellbalance.aging import (
    AGING_MODEL_FOR_CELL,
    AgingRangeWarning,
    Stressors,
    anode_potential,
    available_aging_models,
    get_aging_model,
    laws,
    sample_rate_scalars,
)

KOKAM, LFP, LGM50 = "nmc111_gr_kokam75ah_2017", "lfp_gr_sonymurata3ah_2018", "nmc811_grsi_lgm50_5ah_2021"
T_N = 273.15 + 35.0


@pytest.fixture(autouse=True)
def _quiet_fit_range():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgingRangeWarning)
        yield


def _age(name, stressors, days, scheme="blast", rate_scalar=1.0, n=1):
    model = get_aging_model(name)
    state = model.initial_state(n)
    for _ in range(days):
        state = model.advance(state, stressors, rate_scalar, scheme=scheme)
    return state


def _calendar_k(name, T, soc):
    """Calendar rate constant of each model at constant T [K] and SOC, from the published formulas."""
    m = get_aging_model(name)
    tn, uan = T / T_N, anode_potential(soc) / 0.123
    if name == KOKAM:
        return m.q1_0 * np.exp(m.q1_1 / tn) * np.exp(m.q1_2 * uan / tn)
    if name == LGM50:
        return (
            m.q1_b0
            + m.q1_b1 * np.exp(tn**3 / uan ** (1 / 3))
            + m.q1_b2 * tn**3 / uan**0.5
            + m.q1_b3 * np.exp(soc**0.5 / tn**2)
            + m.q1_b4 * np.exp(soc**3)
        )
    raise AssertionError(name)


@pytest.mark.parametrize(("name", "x_scale"), [(KOKAM, 1.0), (LGM50, 1e-4)])
@pytest.mark.parametrize("s", [1.0, 0.7])
def test_calendar_power_law_closed_form_exact_scheme(name, x_scale, s):
    """Storage at constant T and SOC, exact virtual-time scheme: q = 1 - s k t^p for daily steps."""
    T, soc, days = 308.0, 0.6, 400
    st = Stressors.constant(days=1.0, temperature_K=T, soc=soc)
    state = _age(name, st, days, scheme="exact", rate_scalar=s)
    m = get_aging_model(name)
    p = m.q2 if name == KOKAM else m.p_cal
    expected = 1.0 - s * _calendar_k(name, T, soc) * (days * x_scale) ** p
    np.testing.assert_allclose(state.q, expected, rtol=1e-12)


@pytest.mark.parametrize("name", [KOKAM, LGM50])
def test_blast_scheme_first_period_is_closed_form_and_converges(name):
    """BLAST-Lite's step is exact from a fresh cell and first order after: halving the step halves the error."""
    T, soc, days = 308.0, 0.6, 360
    exact = _age(name, Stressors.constant(days=float(days), temperature_K=T, soc=soc), 1).q[0]
    assert exact == pytest.approx(
        _age(name, Stressors.constant(days=1.0, temperature_K=T, soc=soc), days, "exact").q[0], rel=1e-12
    )
    err = []
    for step in (4.0, 2.0):
        q = _age(name, Stressors.constant(days=step, temperature_K=T, soc=soc), int(days / step)).q[0]
        err.append(abs(q - exact))
    assert 0 < err[1] < err[0]
    assert err[0] / err[1] == pytest.approx(2.0, rel=0.15)


def test_lfp_calendar_sigmoid_and_linear_resistance_closed_form():
    """LFP storage: q = 1 - 2 q1 (1/2 - 1/(1 + exp((q2 t)^q3))) (exact scheme), r = 1 + k_T k_SOC t (both schemes)."""
    m = get_aging_model(LFP)
    T, soc, days = 313.15, 0.5, 500
    st = Stressors.constant(days=1.0, temperature_K=T, soc=soc)
    ua = anode_potential(soc)
    q1 = m.q1_b0 * np.exp(m.q1_b1 / T**2 * ua**0.5) * np.exp(m.q1_b2 / T * ua**0.5)
    q3 = (
        m.q3_b0
        * np.exp(m.q3_b1 / T**4 * ua ** (1 / 3))
        * np.exp(m.q3_b2 * T**3 * ua ** (1 / 4))
        * np.exp(m.q3_b3 / T**3 * ua ** (1 / 3))
        * np.exp(m.q3_b4 * T**2 * ua ** (1 / 4))
    )
    q_exp = 1.0 - 2.0 * q1 * (0.5 - 1.0 / (1.0 + np.exp((m.q2 * days) ** q3))) - 1e-10
    k_r = (
        m.k_ref_r_cal * np.exp(-m.Ea_r_cal / 8.3144 * (1 / T - 1 / 298.15)) * (m.C_r_cal * (soc - 0.5) ** 3 + m.D_r_cal)
    )
    exact = _age(LFP, st, days, "exact")
    np.testing.assert_allclose(exact.q, q_exp, rtol=1e-12)
    for state in (exact, _age(LFP, st, days, "blast")):
        np.testing.assert_allclose(state.r, 1.0 + k_r * days * 86400.0, rtol=1e-12)


@pytest.mark.parametrize(
    "step",
    [
        lambda y, dx, s, sc: laws.power_step(y, dx, 2e-3, 0.6, s, sc),
        lambda y, dx, s, sc: laws.power_b_step(y, dx, 3e-4, 1.2, s, sc),
        lambda y, dx, s, sc: laws.sigmoid_step(y, dx, 0.3, 1e-3, 1.4, s, sc),
        lambda y, dx, s, sc: laws.exponential_relax_step(y, dx, 0.2, 1e-3, s, sc),
    ],
)
def test_exact_scheme_is_step_size_independent(step):
    """Closed form in virtual time: one step of 600 equals 600 steps of 1 (and 7 uneven steps)."""
    s = np.array([1.0, 0.5, 1.3])
    y_one = step(np.zeros(3), 600.0, s, "exact")
    y = np.zeros(3)
    for _ in range(600):
        y = y + step(y, 1.0, s, "exact")
    np.testing.assert_allclose(y, y_one, rtol=1e-9)
    y = np.zeros(3)
    for dx in (1.0, 4.0, 45.0, 50.0, 100.0, 150.0, 250.0):
        y = y + step(y, dx, s, "exact")
    np.testing.assert_allclose(y, y_one, rtol=1e-9)


def _varied_stress(n, day, rng_t):
    """Per-cell daily summary stress: seasonal temperature + per-cell offset, per-cell DOD and SOC."""
    season = 8.0 * np.sin(2 * np.pi * day / 365.0)
    return Stressors.constant(
        days=1.0,
        temperature_K=293.15 + season + rng_t,
        soc=np.linspace(0.3, 0.8, n),
        dod=np.linspace(0.5, 1.0, n)[::-1],
        efc=np.linspace(0.5, 1.0, n)[::-1],
        crate_discharge=np.linspace(0.3, 1.5, n),
    )


@pytest.mark.parametrize("name", available_aging_models())
def test_batch_of_1000_equals_cell_by_cell(name):
    """1,000 cells with their own temperatures, stresses and rate scalars = each cell aged alone (bitwise).

    Every cell over 3 days of hourly time series, and 10 cells over a year of daily summary stress.
    """
    model = get_aging_model(name)
    n = 1000
    rng = np.random.default_rng(7)
    s = sample_rate_scalars(n, 0.2, seed=11)
    t = np.arange(0, 86401, 3600.0)
    temp = 298.15 + rng.uniform(-10, 15, (n, 1)) + 3.0 * np.sin(2 * np.pi * t / 86400.0)
    soc = 0.5 + rng.uniform(0.05, 0.45, (n, 1)) * np.cos(2 * np.pi * t / 86400.0)
    batch = model.initial_state(n)
    for day in range(3):
        batch = model.advance(batch, Stressors.from_timeseries(t + 86400.0 * day, soc, temp), s)
    for i in range(n):
        one = model.initial_state(1)
        for day in range(3):
            one = model.advance(one, Stressors.from_timeseries(t + 86400.0 * day, soc[i], temp[i]), s[i])
        assert one.q[0] == batch.q[i] and one.r[0] == batch.r[i], i

    offs = rng.uniform(-5, 10, n)
    batch = model.initial_state(n)
    for day in range(365):
        batch = model.advance(batch, _varied_stress(n, day, offs), s)
    for i in range(0, n, 100):
        one = model.initial_state(1)
        for day in range(365):
            st = _varied_stress(n, day, offs)
            st1 = Stressors.constant(
                days=1.0,
                temperature_K=st.temperature_K[i, 0],
                soc=st.soc_mean[i],
                dod=st.dod[i],
                efc=st.delta_efc[i],
                crate_discharge=st.crate_discharge[i],
            )
            one = model.advance(one, st1, s[i])
        np.testing.assert_allclose(one.q, batch.q[i], rtol=1e-12, atol=0)
        np.testing.assert_allclose(one.r, batch.r[i], rtol=1e-12, atol=0)


@pytest.mark.parametrize("scheme", ["blast", "exact"])
@pytest.mark.parametrize("name", available_aging_models())
def test_fade_is_monotonic_and_faster_cells_fade_more(name, scheme):
    model = get_aging_model(name)
    n = 50
    s = np.linspace(0.5, 1.5, n)
    offs = np.zeros(n)
    state = model.initial_state(n)
    q_prev, r_prev = state.q, state.r
    for day in range(3 * 365):
        state = model.advance(state, _varied_stress(n, day, offs), s, scheme=scheme)
        assert np.all(state.q <= q_prev) and np.all(state.r >= r_prev)
        q_prev, r_prev = state.q, state.r
    assert np.all(state.q < 1.0) and np.all(state.q > 0.5)
    same = model.initial_state(n)
    st = Stressors.constant(days=1.0, temperature_K=298.15, soc=0.5, dod=0.8, efc=0.8)
    for _ in range(3 * 365):  # same stress on every cell: only the rate scalar differs
        same = model.advance(same, st, s, scheme=scheme)
    assert np.all(np.diff(same.q) < 0)
    if model.HAS_RESISTANCE:
        assert np.all(np.diff(same.r) > 0)
    assert np.all(state.t_days == 3 * 365) and state.efc[0] > 0


def test_rate_scalars_are_seeded_positive_mean_one():
    a = sample_rate_scalars(20000, 0.15, seed=3)
    np.testing.assert_array_equal(a, sample_rate_scalars(20000, 0.15, seed=3))
    assert not np.array_equal(a, sample_rate_scalars(20000, 0.15, seed=4))
    assert np.all(a > 0) and abs(a.mean() - 1.0) < 0.005
    np.testing.assert_array_equal(sample_rate_scalars(5, 0.0, seed=1), np.ones(5))
    assert np.array_equal(sample_rate_scalars(4, 0.1, np.random.default_rng(9)), sample_rate_scalars(4, 0.1, 9))


def test_registry_and_packaged_cell_mapping():
    assert available_aging_models() == sorted([KOKAM, LFP, LGM50])
    assert AGING_MODEL_FOR_CELL["nmc_lg_m50"] == LGM50
    for name in available_aging_models():
        m = get_aging_model(name)
        assert m.name == name
        assert any(k in type(m).__doc__ for k in ("doi:", "IEEE Access")), "each model cites its source"
        state = m.initial_state(3)
        assert state.q.tolist() == [1.0] * 3 and state.r.tolist() == [1.0] * 3
