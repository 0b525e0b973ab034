"""SOC observability: the windowed Cramer-Rao bound against its closed form at rest, and LFP's
plateau against NMC's slope."""

import numpy as np
import pytest

from cellbalance.analysis.observability import soc_observability
from cellbalance.cell import get_parameter_set, initial_state, open_circuit_voltage
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout
from cellbalance.sim import simulate


def _slope(cell, z, h=2e-3):
    """dU/dz by a wider central difference of the OCV than the package's own (independent of docv_dsoc)."""
    return (open_circuit_voltage(cell, z + h) - open_circuit_voltage(cell, z - h)) / (2 * h)


@pytest.mark.parametrize("name", ["nmc_lg_m50", "lfp_a123_26650"])
def test_bound_at_rest_is_sigma_over_slope_sqrt_n(name):
    cell = get_parameter_set(name)
    cells = cell.compile(3)
    z0 = np.array([0.3033, 0.5033, 0.7033])  # inside table segments: both differences see one segment
    ds = simulate(cells, ["Rest for 20 minutes"], layout=PackLayout(n_series=3),
                  state=initial_state(cells, soc=z0, temperature_K=298.15), ambient_K=298.15)
    obs = soc_observability(ds, cell, voltage_noise_std_V=2e-3, window_s=600.0, sample_period_s=1.0)
    t = obs.time.values
    late = t >= 600.0
    want = 2e-3 / (np.abs(_slope(cell, z0)) * np.sqrt(600.0))
    np.testing.assert_allclose(obs.soc_std_bound.values[late, 0, :], np.broadcast_to(want, (late.sum(), 3)), rtol=1e-6)
    assert np.all(np.isnan(obs.soc_std_bound.values[t < 599.0]))


def test_lfp_plateau_is_far_less_observable_than_nmc():
    out = {}
    for name in ("nmc_lg_m50", "lfp_a123_26650"):
        cell = get_parameter_set(name)
        ds = simulate(cell, ["Rest for 15 minutes"], state=initial_state(cell.compile(1), soc=0.5033))
        obs = soc_observability(ds, cell, voltage_noise_std_V=1e-3, window_s=300.0, sample_period_s=1.0)
        out[name] = float(obs.soc_std_bound.values[-1, 0, 0])
    ratio = out["lfp_a123_26650"] / out["nmc_lg_m50"]
    slopes = _slope(get_parameter_set("nmc_lg_m50"), 0.5033) / _slope(get_parameter_set("lfp_a123_26650"), 0.5033)
    assert ratio == pytest.approx(float(slopes), rel=1e-6)
    assert ratio > 10


def test_bad_arguments_are_named():
    cell = get_parameter_set("nmc_lg_m50")
    ds = simulate(cell, ["Rest for 1 minute"])
    with pytest.raises(ParameterError, match=r"soc_observability.voltage_noise_std_V.*-1"):
        soc_observability(ds, cell, voltage_noise_std_V=-1.0, window_s=60.0, sample_period_s=1.0)
    with pytest.raises(ParameterError, match=r"no estimated_soc"):
        soc_observability(ds, cell, voltage_noise_std_V=1e-3, window_s=60.0, sample_period_s=1.0, soc="estimated")
