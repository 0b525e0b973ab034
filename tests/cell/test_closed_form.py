"""The cell model against closed-form solutions, conservation laws and sign conventions."""

import numpy as np
import pytest

from cellbalance.cell import (
    Table,
    ThermalParameters,
    get_parameter_set,
    initial_state,
    open_circuit_voltage,
    step,
    terminal_voltage,
)


def run(cells, state, current, dt, n):
    for _ in range(n):
        state = step(cells, state, current, dt)
    return state


def test_rc_step_response_matches_closed_form_for_any_step(simple_cell):
    c = simple_cell.compile(1)
    i, r1, tau = 3.0, 0.01, 30.0
    for dt in (0.01, 1.0, 7.0, 60.0):
        s = initial_state(c)
        t = 0.0
        for _ in range(round(120.0 / dt)):
            s = step(c, s, i, dt)
            t += dt
        exact = r1 * i * (1.0 - np.exp(-t / tau))
        assert s.v_rc[0, 0] == pytest.approx(exact, rel=1e-12, abs=1e-15)


def test_cc_soc_ramp_and_charge_conservation(simple_cell):
    eta = 0.98
    c = simple_cell.replace(coulombic_efficiency=eta).compile(1)
    s0 = initial_state(c, soc=0.2)
    i, dt, n = 1.5, 3.7, 500
    s = run(c, s0, i, dt, n)
    q = simple_cell.capacity_As
    dz = s.soc[0] - 0.2
    assert dz == pytest.approx(eta * i * dt * n / q, rel=1e-12)
    charge_in = i * dt * n
    assert q * dz / eta == pytest.approx(charge_in, rel=1e-9)
    # discharge is 100 % efficient
    s = run(c, s, -i, dt, n)
    assert s.soc[0] - 0.2 == pytest.approx(-(1 - eta) * i * dt * n / q, rel=1e-9, abs=1e-13)


def test_sign_conventions(simple_cell):
    p = simple_cell.replace(hysteresis_rate=50.0, hysteresis_magnitude=Table.constant(0.01, "m"),
                            entropic_coefficient=Table.constant(-2e-4, "e"))
    c = p.compile(1)
    s0 = initial_state(c, soc=0.5)
    u = open_circuit_voltage(p, 0.5)
    # charging: SOC rises, terminal voltage above OCV, hysteresis pushed towards +1
    s = run(c, s0, +2.0, 1.0, 60)
    assert s.soc[0] > 0.5
    assert terminal_voltage(c, s0, +2.0)[0] > u
    assert s.hysteresis[0] > 0.0 and s.last_sign[0] == 1.0
    # discharging: the opposite
    s = run(c, s0, -2.0, 1.0, 60)
    assert s.soc[0] < 0.5
    assert terminal_voltage(c, s0, -2.0)[0] < u
    assert s.hysteresis[0] < 0.0 and s.last_sign[0] == -1.0
    # with dU/dT < 0, charging absorbs reversible heat (I*T*dU/dT < 0): a pure-entropic cell cools
    p2 = p.replace(r0=Table.constant(1e-9, "r0"), rc=(), hysteresis_rate=0.0,
                   hysteresis_magnitude=Table.constant(0.0, "m"))
    c2 = p2.compile(1)
    s = step(c2, initial_state(c2), 5.0, 10.0)
    assert s.temperature_K[0] < p2.ambient_K
    s = step(c2, initial_state(c2), -5.0, 10.0)
    assert s.temperature_K[0] > p2.ambient_K


def test_hysteresis_approaches_plus_minus_one_exponentially(simple_cell):
    gamma, m = 40.0, 0.012
    p = simple_cell.replace(hysteresis_rate=gamma, hysteresis_magnitude=Table.constant(m, "m"))
    c = p.compile(1)
    q = p.capacity_As
    for i, target in ((2.0, 1.0), (-2.0, -1.0)):
        h0 = -0.3 * target
        s = initial_state(c, hysteresis=h0)
        for dt in (0.5, 30.0):
            s = initial_state(c, hysteresis=h0)
            t = 0.0
            while t < 1800:
                s = step(c, s, i, dt)
                t += dt
            exact = target + (h0 - target) * np.exp(-gamma * abs(i) * t / q)
            assert s.hysteresis[0] == pytest.approx(exact, rel=1e-10)
        assert abs(s.hysteresis[0]) <= 1.0
    # h stays put at rest, and the voltage carries M*h
    s = initial_state(c, hysteresis=0.7)
    s2 = step(c, s, 0.0, 3600.0)
    assert s2.hysteresis[0] == 0.7
    v = terminal_voltage(c, s2, 0.0)[0]
    assert v - open_circuit_voltage(p, s2.soc[0]) == pytest.approx(m * 0.7, rel=1e-9)


def test_thermal_steady_state_is_i2r_over_ha(simple_cell):
    r0, ha = 0.02, 0.2
    p = simple_cell.replace(capacity_Ah=5000.0, rc=(), initial_soc=0.5)
    c = p.compile(1)
    i = 4.0
    s = initial_state(c)
    for _ in range(40):
        s = step(c, s, i, 600.0)  # thermal time constant 50/0.2 = 250 s
    rise = s.temperature_K[0] - p.ambient_K
    assert rise == pytest.approx(i * i * r0 / ha, rel=1e-6)


def test_two_node_thermal_steady_state(simple_cell):
    th = ThermalParameters(heat_capacity_J_per_K=50.0, cooling_W_per_K=2.0,
                           jig_heat_capacity_J_per_K=80.0, jig_cooling_W_per_K=0.5)
    p = simple_cell.replace(capacity_Ah=5000.0, rc=(), thermal=th)
    c = p.compile(1)
    s = initial_state(c)
    for _ in range(100):
        s = step(c, s, 3.0, 300.0)
    heat = 9.0 * 0.02
    assert s.jig_temperature_K[0] - p.ambient_K == pytest.approx(heat / 0.5, rel=1e-6)
    assert s.temperature_K[0] - s.jig_temperature_K[0] == pytest.approx(heat / 2.0, rel=1e-6)


def test_thermal_energy_balance_closes_every_step():
    """Heat generated = heat stored + heat convected, with the convection integral done independently."""
    from cellbalance.cell import kernels as K

    p = get_parameter_set("nmc_lg_m50")
    c = p.compile(1)
    s = initial_state(c, soc=0.8)
    cth, g = p.thermal.heat_capacity_J_per_K, p.thermal.cooling_W_per_K
    ta = p.ambient_K
    gen = stored = convected = 0.0
    rng = np.random.default_rng(0)
    for _ in range(300):
        i = float(rng.uniform(-15, 10))
        dt = float(rng.uniform(0.5, 20))
        heat = np.zeros(1)
        x = s.x.copy()
        K.step(c.cp, c.gp, c.bank.data, c.bank.meta, x, np.array([i]), np.array([ta]), np.zeros(1),
               np.array([dt]), heat)
        t0, t1 = s.temperature_K[0], x[0, K.X_T]
        # exact integral of g*(T - Ta) for the exponential approach to Teq = Ta + P/g
        teq = ta + heat[0] / g
        tau = cth / g
        convected += g * ((teq - ta) * dt + (t0 - teq) * tau * (1 - np.exp(-dt / tau)))
        gen += heat[0] * dt
        stored += cth * (t1 - t0)
        s = type(s)(x)
    assert gen > 0
    assert stored + convected == pytest.approx(gen, rel=1e-9)


def test_electrical_energy_balance_constant_parameters(simple_cell):
    """Energy in at the terminals = free energy stored + Joule/RC heat + capacitor energy change."""
    p = simple_cell
    c = p.compile(1)
    q = p.capacity_As
    r0, r1, tau = 0.02, 0.01, 30.0
    c1 = tau / r1
    s = initial_state(c, soc=0.3)
    i = 2.0
    dt_fine = 0.01
    e_term = heat = 0.0
    # terminal energy integrated on a fine grid (trapezoid) of the exact solution
    for _ in range(60000):
        v_a = terminal_voltage(c, s, i)[0]
        s2 = step(c, s, i, dt_fine)
        v_b = float(open_circuit_voltage(p, s2.soc[0])) + i * r0 + s2.v_rc[0, 0]
        e_term += 0.5 * (v_a + v_b) * i * dt_fine
        heat += i * i * r0 * dt_fine + 0.5 * (s.v_rc[0, 0] ** 2 + s2.v_rc[0, 0] ** 2) / r1 * dt_fine
        s = s2
    z0, z1 = 0.3, s.soc[0]
    free = q * (3.0 * (z1 - z0) + 0.6 * (z1**2 - z0**2))  # integral of U = 3 + 1.2 z
    cap = 0.5 * c1 * s.v_rc[0, 0] ** 2
    assert e_term == pytest.approx(free + heat + cap, rel=1e-8)
