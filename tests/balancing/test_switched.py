"""The switched-mode buck-boost agrees with its cycle average: averaging is valid at the pack timescale."""

import numpy as np
import pytest

from cellbalance.balancing.converter import ConverterModel
from cellbalance.balancing.switched import (
    BuckBoostParams,
    averaged_transfer,
    efficiency_map,
    fit_loss_model,
    simulate_switched,
)
from cellbalance.errors import ParameterError


@pytest.mark.parametrize("v1,v2,duty,diode", [(3.9, 3.6, 0.3, 0.0), (3.7, 3.7, 0.45, 0.0), (4.1, 3.3, 0.2, 0.35),
                                              (3.6, 3.9, 0.55, 0.0), (3.8, 3.5, 0.65, 0.3)])
def test_switched_and_averaged_agree_over_10ms(v1, v2, duty, diode):
    p = BuckBoostParams(v_diode_V=diode)
    tau = p.inductance_H / p.r_loop_ohm
    sw = simulate_switched(p, v1, v2, duty, t_window_s=10e-3, dt_s=20e-9, warmup_s=6 * tau)
    av = averaged_transfer(p, v1, v2, duty)
    assert sw["steps"] == 500_000
    assert sw["charge_from_1_C"] == pytest.approx(av["i_from_1_A"] * 10e-3, rel=0.02)
    assert sw["charge_to_2_C"] == pytest.approx(av["i_to_2_A"] * 10e-3, rel=0.02)
    # energy bookkeeping of the switched model closes
    lhs = sw["energy_from_1_J"]
    rhs = sw["energy_to_2_J"] + sw["loss_resistive_J"] + sw["loss_diode_J"] + sw["inductor_energy_change_J"]
    assert lhs == pytest.approx(rhs, rel=1e-9)
    # from a cold start the transient (a few L/R) costs at most a few per cent of a 10 ms window
    cold = simulate_switched(p, v1, v2, duty, t_window_s=10e-3, dt_s=20e-9)
    assert cold["charge_from_1_C"] == pytest.approx(av["i_from_1_A"] * 10e-3, rel=0.05)


def test_dcm_and_ccm_are_both_exercised():
    p = BuckBoostParams()
    assert averaged_transfer(p, 3.7, 3.7, 0.3)["mode"] == "DCM"
    assert averaged_transfer(p, 3.7, 3.7, 0.65)["mode"] == "CCM"


def test_efficiency_map_feeds_the_averaged_model():
    p = BuckBoostParams(v_diode_V=0.3)
    m = efficiency_map(p, 3.8, 3.6, np.linspace(0.1, 0.5, 9))
    assert np.all(np.diff(m["i_from_1_A"]) > 0) and np.all((m["efficiency"] > 0.5) & (m["efficiency"] < 1))
    p0, vd, k = fit_loss_model(m["i_from_1_A"], m["p_loss_W"])
    conv = ConverterModel(efficiency=None, p0_W=p0, v_drop_V=vd, k_ohm=k, max_current_A=float(m["i_from_1_A"].max()))
    pred = conv.loss_W(m["i_from_1_A"], 3.8)
    assert np.allclose(pred, m["p_loss_W"], rtol=0.1, atol=0.005)


def test_errors():
    with pytest.raises(ParameterError, match=r"duty must be > 0 and < 1"):
        simulate_switched(BuckBoostParams(), 3.7, 3.6, 1.2)
    with pytest.raises(ParameterError, match=r"inductance_H must be > 0"):
        BuckBoostParams(inductance_H=0.0)
