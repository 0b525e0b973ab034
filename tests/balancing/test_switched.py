"""The switched-mode buck-boost agrees with its cycle average; its energy bookkeeping closes."""

import time

import numpy as np
import pytest

from cellbalance.balancing.converter import ConverterModel, edge_transfer, fit_loss_model
from cellbalance.balancing.switched import BuckBoostParams, averaged_transfer, efficiency_map, simulate_switched
from cellbalance.errors import ParameterError

# (v1, v2, duty, params, expected mode)
POINTS = [
    (3.9, 3.6, 0.30, BuckBoostParams(), "DCM"),
    (4.1, 3.3, 0.20, BuckBoostParams(rectification="diode", v_diode_V=0.45), "DCM"),
    (3.6, 3.9, 0.40, BuckBoostParams(e_sw_J=0.4e-6, f_sw_Hz=100e3, inductance_H=10e-6), "DCM"),
    (3.7, 3.7, 0.55, BuckBoostParams(), "CCM"),
    (3.6, 3.9, 0.55, BuckBoostParams(rectification="diode", v_diode_V=0.3, r_cell2_ohm=0.05), "CCM"),
    (3.8, 3.5, 0.50, BuckBoostParams(rectification="complementary"), "CCM"),
]


def _warmup(p):
    return 12 * p.inductance_H / min(p.r_on_ohm, p.r_off_ohm)  # 12 L/R: the CCM start-up has died out


@pytest.mark.parametrize("v1,v2,duty,p,mode", POINTS)
def test_switched_and_averaged_agree_over_10ms(v1, v2, duty, p, mode):
    av = averaged_transfer(p, v1, v2, duty)
    assert av.mode == mode
    sw = simulate_switched(p, v1, v2, duty, t_window_s=10e-3, dt_s=20e-9, warmup_s=_warmup(p))
    assert sw.steps == 500_000
    assert sw.charge_from_1_C == pytest.approx(av.i_from_1_A * 10e-3, rel=0.02)
    assert sw.charge_to_2_C == pytest.approx(av.i_to_2_A * 10e-3, rel=0.02)
    assert sw.loss_J == pytest.approx(av.loss_W * 10e-3, rel=0.02)
    q_inductor = sw.charge_from_1_C - sw.loss_switching_J / v1 + sw.charge_to_2_C
    assert q_inductor == pytest.approx(av.i_inductor_avg_A * 10e-3, rel=0.02)
    # energy out of cell 1 = energy into cell 2 + losses + change of inductor energy
    rhs = sw.energy_to_2_J + sw.loss_J + sw.inductor_energy_change_J
    assert sw.energy_from_1_J == pytest.approx(rhs, rel=1e-9)
    assert abs(sw.bookkeeping_residual_J) <= 1e-9 * abs(sw.energy_from_1_J)
    # from a cold start: in DCM every period starts at zero current, so no transient at all
    cold = simulate_switched(p, v1, v2, duty, t_window_s=10e-3, dt_s=20e-9)
    assert abs(cold.bookkeeping_residual_J) <= 1e-9 * abs(cold.energy_from_1_J)
    if mode == "DCM":
        assert cold.charge_from_1_C == pytest.approx(av.i_from_1_A * 10e-3, rel=1e-6)


def test_lossless_limit_matches_the_textbook_dcm_formulas():
    """R -> 0: i_pk = U1 D T / L, <i1> = U1 D^2 T / (2 L), <i2> = U1^2 D^2 T / (2 L (U2 + V_f))."""
    tiny = 1e-7
    p = BuckBoostParams(r_cell1_ohm=tiny, r_cell2_ohm=tiny, r_ds_on_ohm=tiny, r_inductor_ohm=tiny,
                        rectification="diode", v_diode_V=0.4)
    u1, u2, d, T, L = 3.7, 3.5, 0.35, p.period_s, p.inductance_H
    av = averaged_transfer(p, u1, u2, d)
    assert av.mode == "DCM"
    assert av.i_peak_A == pytest.approx(u1 * d * T / L, rel=1e-5)
    assert av.i_from_1_A == pytest.approx(u1 * d * d * T / (2 * L), rel=1e-5)
    assert av.i_to_2_A == pytest.approx(u1**2 * d * d * T / (2 * L * (u2 + 0.4)), rel=1e-5)
    # the ideal DCM/CCM boundary D U1 = (1 - D)(U2 + V_f)
    d_b = (u2 + 0.4) / (u1 + u2 + 0.4)
    assert averaged_transfer(p, u1, u2, d_b - 1e-3).mode == "DCM"
    assert averaged_transfer(p, u1, u2, d_b + 1e-3).mode == "CCM"


def test_step_size_does_not_change_the_result_and_the_waveform_is_right():
    p = BuckBoostParams()
    a = simulate_switched(p, 3.9, 3.6, 0.3, t_window_s=2e-3, dt_s=20e-9)
    b = simulate_switched(p, 3.9, 3.6, 0.3, t_window_s=2e-3, dt_s=7e-9)  # period not a multiple of the step
    assert b.charge_from_1_C == pytest.approx(a.charge_from_1_C, rel=1e-4)  # windows differ by < 1 step
    assert b.charge_to_2_C == pytest.approx(a.charge_to_2_C, rel=1e-4)
    w = simulate_switched(p, 3.9, 3.6, 0.3, t_window_s=100e-6, dt_s=10e-9, record_every=1)
    av = averaged_transfer(p, 3.9, 3.6, 0.3)
    i = w.inductor_current_A
    assert i.size == 10_000 and w.time_s[0] == pytest.approx(10e-9)
    assert i.max() == pytest.approx(av.i_peak_A, rel=1e-9)  # sampled exactly at the end of the on-phase
    assert i.min() == 0.0 and np.mean(i == 0.0) > 0.2  # DCM: idle at zero for part of each period
    t_idle = p.period_s * (1 - 0.3) - av.t_off_conduction_s
    assert np.mean(i == 0.0) == pytest.approx(t_idle / p.period_s, abs=2e-3)


def test_ccm_start_up_transient_from_zero_current():
    p = BuckBoostParams()
    av = averaged_transfer(p, 3.7, 3.7, 0.55)
    cold = simulate_switched(p, 3.7, 3.7, 0.55, t_window_s=10e-3)
    assert cold.i_start_A == 0.0 and cold.inductor_energy_change_J > 0
    # the deficit is the start-up of a few L/R (~0.4 ms) in a 10 ms window
    assert 0.0 < 1 - cold.charge_from_1_C / (av.i_from_1_A * 10e-3) < 0.06


def test_speed_at_least_a_million_steps_per_second():
    p = BuckBoostParams(rectification="diode")
    simulate_switched(p, 3.9, 3.6, 0.3, t_window_s=1e-4)  # compiled / loaded from cache
    t0 = time.perf_counter()
    r = simulate_switched(p, 3.9, 3.6, 0.3, t_window_s=10e-3, dt_s=10e-9)
    assert r.steps / (time.perf_counter() - t0) > 1e6


def test_efficiency_map_feeds_the_averaged_converter_model():
    p = BuckBoostParams(rectification="diode", v_diode_V=0.35, e_sw_J=0.2e-6)
    currents = np.linspace(0.05, 1.0, 12)
    emap = efficiency_map(p, currents, v1=3.8, v2=3.6)
    np.testing.assert_allclose(emap.current_A, currents)
    for i, d, eta in zip(emap.current_A, emap.duty, emap.efficiency, strict=True):
        r = averaged_transfer(p, 3.8, 3.6, d)
        assert r.i_from_1_A == pytest.approx(i, rel=1e-9)
        assert eta == pytest.approx(r.efficiency, rel=1e-12)
    assert np.all((emap.efficiency > 0.5) & (emap.efficiency < 1))
    conv = ConverterModel.from_efficiency_map(emap)
    t = edge_transfer([[0, 1]], [[0.5]], [[3.8, 3.6]], conv)
    av = averaged_transfer(p, 3.8, 3.6, float(np.interp(0.5, emap.current_A, emap.duty)))
    assert t.i_dest_A[0, 0] == pytest.approx(av.i_to_2_A, rel=5e-3)  # interpolation between table points
    # the same losses as a fitted P0 + V_drop I + k I^2 model
    p0, vd, k = fit_loss_model(emap.current_A, emap.loss_W())
    poly = ConverterModel(p0_W=p0, v_drop_V=vd, k_ohm=k, max_current_A=1.0)
    np.testing.assert_allclose(poly.loss_W(currents, 3.8), emap.loss_W(), rtol=0.1, atol=2e-3)


def test_errors():
    with pytest.raises(ParameterError, match=r"simulate_switched\.duty must be > 0 and < 1 \(finite\); got 1\.2"):
        simulate_switched(BuckBoostParams(), 3.7, 3.6, 1.2)
    with pytest.raises(ParameterError, match=r"BuckBoostParams\.inductance_H must be > 0 \(finite\); got 0"):
        BuckBoostParams(inductance_H=0.0)
    with pytest.raises(ParameterError, match=r"rectification must be one of \['synchronous', 'diode', 'complementary'\]"):
        BuckBoostParams(rectification="schottky")
    with pytest.raises(ParameterError, match=r"simulate_switched\.dt_s must be > 0 and <= 2e-05"):
        simulate_switched(BuckBoostParams(), 3.7, 3.6, 0.3, dt_s=1e-4)
    with pytest.raises(ParameterError, match=r"efficiency_map\.currents_A must be > .* and < .* A"):
        efficiency_map(BuckBoostParams(), [0.5, 500.0])
