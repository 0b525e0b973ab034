"""Issue 10: what the loop refuses or reports before and while it runs (sim/guards.py, sim/memory.py,
sim/streamguard.py): infeasible and already-met steps, non-finite state, memory, a vanished output."""

import shutil
import warnings

import numpy as np
import pytest
import xarray as xr

from cellbalance.cell import get_parameter_set
from cellbalance.errors import CellBalanceWarning, ConfigError, ResourceError, SimulationError
from cellbalance.pack import PackLayout
from cellbalance.sim import SimulationOptions, simulate
from cellbalance.sim.memory import check_run_memory, estimate_run_memory, expected_rows
from cellbalance.sim.results import NetCDFRecorder

P = get_parameter_set("nmc_lg_m50")


def test_a_step_already_met_warns_and_does_nothing():
    with pytest.warns(CellBalanceWarning, match=r"step 1 'Discharge at 1C until 4.0 V' .*already at 3.6\d* V <= 4 V"):
        ds = simulate(P, ["Discharge at 1C until 4.0 V", "Rest for 1 minute"])
    assert float(ds.event_end_s[0]) == 0.0  # the no-op
    assert float(ds.event_end_s[1]) == pytest.approx(60.0)
    np.testing.assert_allclose(ds.soc.isel(time=-1).values, P.initial_soc, atol=1e-6)  # self-discharge only


def test_a_charge_to_a_voltage_already_reached_warns():
    with pytest.warns(CellBalanceWarning, match=r"highest cell is already at .* >= 3 V"):
        ds = simulate(P, ["Charge at 1C until 3.0 V"])
    assert float(ds.event_end_s[0]) == 0.0


@pytest.mark.parametrize("step,message", [
    ("Charge at 1C until 4.5 V", r"cut-off 4.5 V is outside the cells' voltage limits \[2.5, 4.2\] V, so the "
                                 r"cells' upper limit v_max = 4.2 V would end the step instead"),
    ("Discharge at 2 A until 2.0 V", r"cut-off 2 V is outside .* lower limit v_min = 2.5 V would end the step"),
    ("Hold at 4.6 V until C/20", r"hold voltage 4.6 V is outside the cells' limits \[2.5, 4.2\] V"),
    ("Charge at 1C until 80 degC", r"353.15 K \(80.0 degC\) is above the cells' temperature limit t_max_K = 333.15"),
])
def test_a_step_that_can_never_end_is_an_error_before_the_run(step, message):
    with pytest.raises(SimulationError, match=message):
        simulate(P, ["Rest for 1 minute", step])


def test_a_non_finite_state_stops_the_run_naming_step_time_and_cells():
    lay = PackLayout(n_series=3)

    def heat(t, x):  # a heat source that blows up in cell 1 from t = 20 s on
        return np.array([0.0, np.inf if t >= 20 else 0.0, 0.0])

    with pytest.raises(SimulationError) as e:
        simulate(P, ["Rest for 10 s", "Discharge at 1C for 1 minute"], layout=lay, heat_in_W=heat)
    msg = str(e.value)
    assert "non-finite state" in msg and "temperature_K" in msg
    assert "'Discharge at 1C for 1 minute'" in msg and "t = 21 s" in msg
    assert "1 cell(s): pack 0 cell 1." in msg


def test_a_non_finite_initial_state_is_caught_at_the_first_step():
    from cellbalance.cell import initial_state

    cells = P.compile(2)
    s0 = initial_state(cells)
    s0.x[1, 0] = np.nan
    with pytest.raises(SimulationError, match=r"non-finite state \(soc.* at t = 1 s .* pack 0 cell 1"):
        simulate(cells, ["Rest for 1 minute"], layout=PackLayout(n_series=2), state=s0)


def test_an_infinite_rate_is_refused_when_read():
    with pytest.raises(ConfigError, match=r"value must be a finite number; got -inf"):
        simulate(P, ["Discharge at 1e400 A for 1 minute"])


def test_memory_estimate_refuses_a_pack_too_large_and_says_what_to_change():
    from cellbalance.scenarios.experiment import Experiment

    exp = Experiment(["Rest for 29 days"])
    rows = expected_rows(exp, P.capacity_Ah, 4, 30 * 86400.0, 1)
    assert rows == 29 * 86400 + 2
    est = estimate_run_memory(384, P.n_rc, 1, rows)
    assert est.recording > 2 * 384 * 9 * 8 * rows * 0.99
    with pytest.raises(ResourceError) as e:
        check_run_memory(est, available=24 * 2**30)
    msg = str(e.value)
    assert "needs about" in msg and "GiB" in msg and "24.0 GiB is available" in msg
    assert "record_every" in msg and "stream" in msg and "fewer cells" in msg
    # streaming bounds the recording: the same run fits
    check_run_memory(estimate_run_memory(384, P.n_rc, 1, rows, streaming=True), available=24 * 2**30)
    # a pack of 1e8 cells needs more than the state alone can hold
    with pytest.raises(ResourceError, match=r"for the cells' state"):
        check_run_memory(estimate_run_memory(100_000 * 1000, P.n_rc, 1, 10, record=False), available=24 * 2**30)


def test_memory_near_the_limit_warns():
    est = estimate_run_memory(96, P.n_rc, 1, 1000)
    with pytest.warns(CellBalanceWarning, match=r"close to the"):
        check_run_memory(est, available=int(est.total / 0.8))


def test_simulate_checks_memory_before_allocating(monkeypatch):
    import cellbalance.sim.memory as mem

    monkeypatch.setattr(mem, "available_memory_bytes", lambda: 50 * 2**20)
    with pytest.raises(ResourceError, match=r"simulating 384 cells"):
        simulate(P, ["Rest for 29 days"], layout=PackLayout(n_series=96, n_parallel=4))


def test_ambient_in_celsius_through_the_api_warns():
    with pytest.warns(CellBalanceWarning, match=r"ambient_K = 25 K is below 200 K .*Celsius given as kelvin"):
        simulate(P, ["Rest for 10 s"], ambient_K=25.0)


def test_output_directory_removed_mid_run_stops_and_keeps_the_rows(tmp_path):
    out = tmp_path / "out"
    lay = PackLayout(n_series=2)
    cells = P.compile(lay.n_cells)
    rec = NetCDFRecorder(out / "run.nc", cells, lay, chunk_rows=20)

    def heat(t, x):
        if t >= 200 and out.exists():
            shutil.rmtree(out)
        return np.zeros(x.shape[0])

    with pytest.raises(ResourceError) as e:
        simulate(cells, ["Discharge at 1C for 10 minutes"], layout=lay, recorder=rec, heat_in_W=heat,
                 options=SimulationOptions(record_every=2))
    msg = str(e.value)
    assert "removed or replaced" in msg and "kept in" in msg
    with xr.open_dataset(out / "run.nc", decode_times=False) as ds:
        assert ds.attrs["truncated"] == 1
        n = ds.sizes["time"]
        assert n >= 100 and n % 20 == 0
        np.testing.assert_allclose(ds.time.values, 2.0 * np.arange(n))
        assert np.all(np.isfinite(ds.voltage_V.values))


def test_a_failing_write_mid_run_keeps_the_rows_written(tmp_path, monkeypatch):
    """A disk that fails (read-only, full) after some chunks: one message, the synced rows readable."""
    lay = PackLayout(n_series=2)
    cells = P.compile(lay.n_cells)
    rec = NetCDFRecorder(tmp_path / "run.nc", cells, lay, chunk_rows=16)
    real = rec._write_chunk
    calls = []

    def failing(chunk):
        calls.append(1)
        if len(calls) > 3:
            raise OSError(30, "Read-only file system")
        real(chunk)

    monkeypatch.setattr(rec, "_write_chunk", failing)
    with pytest.raises(ResourceError, match=r"Read-only file system.*48 rows streamed until t = 47 s are kept in"):
        simulate(cells, ["Discharge at 1C for 10 minutes"], layout=lay, recorder=rec)
    with xr.open_dataset(tmp_path / "run.nc", decode_times=False) as ds:
        assert ds.sizes["time"] == 48 and ds.attrs["truncated"] == 1


def test_no_warning_for_a_plain_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error", CellBalanceWarning)
        simulate(P, ["Discharge at 1C for 1 minute", "Charge at 1C until 4.1 V", "Hold at 4.1 V until C/10"])
