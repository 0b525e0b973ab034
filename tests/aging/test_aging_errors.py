"""Bad aging configurations: one ParameterError naming the field, the value and the allowed range;
outside the fitted range of the aging data, a warning naming the quantity and the range."""

import warnings

import numpy as np
import pytest

from cellbalance.aging import AgingRangeWarning, Stressors, UnknownAgingModelError, get_aging_model
from cellbalance.errors import ParameterError, UnknownNameError

KOKAM = "nmc111_gr_kokam75ah_2017"
T = np.arange(0, 86401, 3600.0)


def test_unknown_model_names_the_value_and_the_allowed_ones():
    with pytest.raises(ParameterError) as e:
        get_aging_model("kokam_nmc")
    msg = str(e.value)
    assert "'kokam_nmc'" in msg and "model" in msg
    assert KOKAM in msg and "lfp_gr_sonymurata3ah_2018" in msg and "nmc811_grsi_lgm50_5ah_2021" in msg
    assert isinstance(e.value, UnknownNameError) and isinstance(e.value, UnknownAgingModelError)
    with pytest.raises(ParameterError, match="Did you mean 'nmc111_gr_kokam75ah_2017'"):
        get_aging_model("nmc111_gr_kokam75ah_2018")


def test_negative_rate_scalar():
    m = get_aging_model(KOKAM)
    st = Stressors.constant(days=1.0, temperature_K=298.15, soc=0.5)
    with pytest.raises(ParameterError, match=r"rate_scalar must be >= 0 .*got -0\.2 at index 2"):
        m.advance(m.initial_state(4), st, np.array([1.0, 1.1, -0.2, 0.9]))
    with pytest.raises(ParameterError, match=r"rate_scalar must be >= 0 .*got -1"):
        m.advance(m.initial_state(1), st, -1.0)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"soc": 1.2}, r"Stressors\.soc must be >= 0 and <= 1 .*got 1\.2"),
        ({"soc": -0.1}, r"Stressors\.soc must be >= 0 and <= 1 .*got -0\.1"),
        ({"temperature_K": 150.0}, r"Stressors\.temperature_K must be >= 200 and <= 400 .*got 150"),
        ({"temperature_K": 25.0}, r"Stressors\.temperature_K must be >= 200 and <= 400 .*got 25"),
        ({"temperature_K": 450.0}, r"Stressors\.temperature_K must be >= 200 and <= 400 .*got 450"),
        ({"days": -1.0}, r"Stressors\.days must be >= 0 .*got -1"),
        ({"efc": -0.5}, r"Stressors\.efc must be >= 0 .*got -0\.5"),
        ({"dod": 1.5}, r"Stressors\.dod must be >= 0 and <= 1 .*got 1\.5"),
        ({"crate": -1.0}, r"Stressors\.crate must be >= 0 .*got -1"),
    ],
)
def test_summary_stressors_outside_physical_range(kwargs, pattern):
    args = {"days": 1.0, "temperature_K": 298.15, "soc": 0.5} | kwargs
    with pytest.raises(ParameterError, match=pattern):
        Stressors.constant(**args)


def test_time_series_outside_physical_range():
    soc = np.full_like(T, 0.5)
    temp = np.full_like(T, 300.0)
    with pytest.raises(ParameterError, match=r"Stressors\.soc must be >= 0 and <= 1 .*got 1\.01 at index 3"):
        Stressors.from_timeseries(T, np.where(np.arange(T.size) == 3, 1.01, soc), temp)
    with pytest.raises(ParameterError, match=r"Stressors\.temperature_K .*got 500 at index 0"):
        Stressors.from_timeseries(T, soc, np.where(np.arange(T.size) == 0, 500.0, temp))
    with pytest.raises(ParameterError, match=r"Stressors\.time step \(diff of t_s\) must be >= 0 .*got -3600"):
        Stressors.from_timeseries(T[::-1], soc, temp)
    with pytest.raises(ParameterError, match=r"Stressors\.period length .* must be > 0 .*got 0"):
        Stressors.from_timeseries(np.zeros(3), soc[:3], temp[:3])
    with pytest.raises(ParameterError, match="do not broadcast"):
        Stressors.from_timeseries(T, soc[:5], temp)


def test_bad_scheme_state_and_shapes():
    m = get_aging_model(KOKAM)
    st = Stressors.constant(days=1.0, temperature_K=298.15, soc=0.5)
    with pytest.raises(ParameterError, match=r"scheme must be one of \['blast', 'exact'\]; got 'euler'"):
        m.advance(m.initial_state(2), st, scheme="euler")
    with pytest.raises(ParameterError, match=r"state\.model must be"):
        m.advance(get_aging_model("lfp_gr_sonymurata3ah_2018").initial_state(2), st)
    with pytest.raises(ParameterError, match="stressors are for 3 cells, the state for 2"):
        m.advance(m.initial_state(2), Stressors.constant(days=1.0, temperature_K=[300.0] * 3, soc=0.5))
    with pytest.raises(ParameterError, match=r"rate_scalar must be a scalar or have shape \(2,\)"):
        m.advance(m.initial_state(2), st, np.ones(3))
    with pytest.raises(ParameterError, match="n_cells must be >= 1"):
        m.initial_state(0)


def test_outside_the_fitted_range_warns_with_quantity_and_range():
    m = get_aging_model(KOKAM)
    state = m.initial_state(2)
    inside = Stressors.constant(days=1.0, temperature_K=298.15, soc=0.5, dod=0.8, efc=0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.advance(state, inside)
    hot = Stressors.constant(days=1.0, temperature_K=[298.15, 273.15 + 50.0], soc=0.5, dod=0.8, efc=0.8)
    with pytest.warns(AgingRangeWarning, match=r"temperature \(cycling\) outside the fitted range \[0, 45\] degC"):
        m.advance(state, hot)
    shallow = Stressors.constant(days=1.0, temperature_K=298.15, soc=0.5, dod=0.3, efc=0.3)
    with pytest.warns(AgingRangeWarning, match=r"depth of discharge outside the fitted range \[0\.8, 1\]"):
        m.advance(state, shallow)
    fast = Stressors.constant(days=1.0, temperature_K=298.15, soc=0.5, dod=0.8, efc=0.8, crate_discharge=2.0)
    with pytest.warns(AgingRangeWarning, match=r"discharge C-rate outside the fitted range \[0, 1\] 1/h"):
        m.advance(state, fast)
    stored_hot = Stressors.constant(days=1.0, temperature_K=273.15 + 60.0, soc=0.5)
    with pytest.warns(AgingRangeWarning, match=r"temperature \(calendar\) outside the fitted range \[0, 55\] degC"):
        m.advance(state, stored_hot)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.advance(state, stored_hot, warn=False)
