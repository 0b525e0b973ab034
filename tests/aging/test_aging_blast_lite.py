"""Aging models against NREL's BLAST-Lite: the trajectories stored by tests/peer/blast_lite_reference.py.

Each stored run is one BLAST-Lite object driven day by day (``update_battery_state`` with that day's
15-minute SOC and temperature samples) for 10 years; here the same samples go through
``Stressors.from_timeseries`` and ``AgingModel.advance`` (BLAST-Lite's scheme, the default).
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from cellbalance.aging import AgingRangeWarning, Stressors, available_aging_models, get_aging_model

REF = json.loads((Path(__file__).parents[1] / "peer" / "data" / "blast_lite_reference.json").read_text())
RTOL = 1e-6
KELVIN = 273.15


def _series(duty: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = REF["duties"][duty]
    return np.array(d["time_s"]), np.array(d["soc"]), np.array(d["temperature_C"]) + KELVIN


def _run(name: str, t: np.ndarray, soc: np.ndarray, temp: np.ndarray, days: int) -> tuple[np.ndarray, np.ndarray]:
    """q and r (shape (days + 1, n)) of cells whose daily series are the rows of soc / temp."""
    model = get_aging_model(name)
    state = model.initial_state(soc.shape[0])
    q, r = [state.q], [state.r]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgingRangeWarning)  # the 35 degC / DOD 0.4 duties are outside most fits
        for day in range(days):
            state = model.advance(state, Stressors.from_timeseries(t + day * 86400.0, soc, temp))
            q.append(state.q)
            r.append(state.r)
    return np.array(q), np.array(r)


def test_reference_covers_every_model():
    assert sorted(REF["models"]) == available_aging_models()
    assert REF["blast_lite_version"]


@pytest.mark.parametrize("name", sorted(REF["models"]))
def test_single_cell_ten_years_equals_blast_lite(name):
    """One cell, one full cycle a day (SOC 0.9 <-> 0.1) at 25 degC: q and r after 10 years and along the way."""
    duty = "cycle_25C_dod80"
    t, soc, temp = _series(duty)
    run = REF["models"][name]["runs"][duty]
    days = run["day"][-1]
    q, r = _run(name, t, soc[None, :], temp[None, :], days)
    np.testing.assert_allclose(q[-1, 0], run["q"][-1], rtol=RTOL, atol=0)
    np.testing.assert_allclose(r[-1, 0], run["r"][-1], rtol=RTOL, atol=0)
    np.testing.assert_allclose(q[run["day"], 0], run["q"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(r[run["day"], 0], run["r"], rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", sorted(REF["models"]))
def test_every_duty_equals_blast_lite(name):
    """The three duties (25 degC cycling, 8 cycles/day at 35 +- 5 degC, storage) as three cells of one batch."""
    duties = sorted(REF["duties"])
    series = [_series(d) for d in duties]
    t = series[0][0]
    assert all(np.array_equal(s[0], t) for s in series)
    soc = np.stack([s[1] for s in series])
    temp = np.stack([s[2] for s in series])
    days = REF["models"][name]["runs"][duties[0]]["day"][-1]
    q, r = _run(name, t, soc, temp, days)
    for i, duty in enumerate(duties):
        run = REF["models"][name]["runs"][duty]
        np.testing.assert_allclose(q[run["day"], i], run["q"], rtol=RTOL, atol=0, err_msg=duty)
        np.testing.assert_allclose(r[run["day"], i], run["r"], rtol=RTOL, atol=0, err_msg=duty)


@pytest.mark.parametrize("name", sorted(REF["models"]))
def test_summary_stressors_reproduce_the_calendar_run(name):
    """Storage at constant SOC and temperature through ``Stressors.constant`` (one sample a day) = BLAST-Lite."""
    run = REF["models"][name]["runs"]["calendar_30C_soc80"]
    _, soc, temp = _series("calendar_30C_soc80")
    assert np.ptp(soc) == 0 and np.ptp(temp) == 0
    model = get_aging_model(name)
    state = model.initial_state(1)
    st = Stressors.constant(days=1.0, temperature_K=temp[0], soc=soc[0])
    q = [state.q[0]]
    r = [state.r[0]]
    for _ in range(run["day"][-1]):
        state = model.advance(state, st)
        q.append(state.q[0])
        r.append(state.r[0])
    np.testing.assert_allclose(np.array(q)[run["day"]], run["q"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(np.array(r)[run["day"]], run["r"], rtol=RTOL, atol=0)
