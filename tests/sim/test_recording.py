"""Decimation, streaming to NetCDF and what an interrupted run keeps."""

import numpy as np
import pytest
import xarray as xr

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate
from cellbalance.sim.results import NetCDFRecorder

EXP = Experiment(["Discharge at 1C for 30 minutes", "Rest for 10 minutes"], period_s=1.0)


def test_streamed_netcdf_equals_in_memory(tmp_path):
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=3, n_parallel=2)
    cells = p.compile(lay.n_cells)
    mem = simulate(cells, EXP, layout=lay, options=SimulationOptions(record_every=7))
    rec = NetCDFRecorder(tmp_path / "run.nc", cells, lay, chunk_rows=50)  # several chunks
    disk = simulate(cells, EXP, layout=lay, options=SimulationOptions(record_every=7), recorder=rec)
    assert disk.sizes["time"] == mem.sizes["time"] > 300
    for v in ("soc", "voltage_V", "current_A", "temperature_K", "v_rc_V", "pack_voltage_V", "event_end_s"):
        np.testing.assert_array_equal(disk[v].values, mem[v].values)
    again = xr.open_dataset(tmp_path / "run.nc", decode_times=False)
    assert again.attrs["truncated"] == 0 and again.sizes["event"] == 2


def test_interrupted_run_keeps_written_rows(tmp_path):
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=2)
    cells = p.compile(2)
    rec = NetCDFRecorder(tmp_path / "cut.nc", cells, lay, chunk_rows=100)

    def q_in(t, x):
        if t > 1000:
            raise KeyboardInterrupt
        return np.zeros(2)

    with pytest.raises(KeyboardInterrupt):
        simulate(cells, EXP, layout=lay, recorder=rec, heat_in_W=q_in)
    ds = xr.open_dataset(tmp_path / "cut.nc", decode_times=False)
    assert ds.attrs["truncated"] == 1
    assert ds.sizes["time"] >= 1000  # every row up to the interruption is on disk
    assert np.all(np.diff(ds.time.values) > 0)


def _assert_state_equal(a, b):
    assert type(a) is type(b)
    np.testing.assert_array_equal(a.x, b.x)


def test_dataset_writes_to_netcdf_as_returned(tmp_path):
    """simulate(...).to_netcdf(path) round-trips every variable and attribute, and the final state."""
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=3, n_parallel=2, n_packs=2)
    ds = simulate(p.compile(lay.n_cells), ["Run US06 for 2 minutes", "Rest for 1 minute"], layout=lay,
                  options=SimulationOptions(record_every=10))
    ds.to_netcdf(tmp_path / "run.nc")
    with xr.open_dataset(tmp_path / "run.nc", decode_times=False) as back:
        back.load()
    xr.testing.assert_identical(back, ds)
    assert back.attrs == ds.attrs
    from cellbalance.sim.results import final_state

    s = final_state(ds)
    assert s.x.shape == (lay.n_cells, 5 + p.n_rc)
    _assert_state_equal(final_state(back), s)
    np.testing.assert_array_equal(s.soc.reshape(2, 6), ds.soc.isel(time=-1).values)  # the last row is the end


def test_streamed_run_keeps_the_final_state(tmp_path):
    from cellbalance.sim.results import final_state

    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=2, n_parallel=2)
    cells = p.compile(lay.n_cells)
    opts = SimulationOptions(record_every=60)
    mem = simulate(cells, EXP, layout=lay, options=opts)
    disk = simulate(cells, EXP, layout=lay, options=opts,
                    recorder=NetCDFRecorder(tmp_path / "s.nc", cells, lay, chunk_rows=7))
    with xr.open_dataset(tmp_path / "s.nc", decode_times=False) as again:
        _assert_state_equal(final_state(again), final_state(mem))
    _assert_state_equal(final_state(disk), final_state(mem))
    disk.close()


def test_compressed_netcdf_reads_back_equal_and_float32_to_its_precision(tmp_path):
    import os

    from cellbalance.io.output import to_netcdf

    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=12, n_parallel=2)
    cells = p.compile(lay.n_cells)
    ds = simulate(cells, ["Run US06 for 20 minutes"], layout=lay,
                  state=initial_state(cells, soc=np.linspace(0.6, 0.7, lay.n_cells)))
    plain = tmp_path / "plain.nc"
    ds.to_netcdf(plain)  # xarray's defaults: no compression
    f64 = to_netcdf(ds, tmp_path / "f64.nc")
    f32 = to_netcdf(ds, tmp_path / "f32.nc", precision="float32")
    assert os.path.getsize(f64) < os.path.getsize(plain)
    assert os.path.getsize(f32) < 0.5 * os.path.getsize(plain)
    b64, b32 = xr.open_dataset(f64, decode_times=False), xr.open_dataset(f32, decode_times=False)
    for v in ds.variables:
        np.testing.assert_array_equal(b64[v].values, ds[v].values, err_msg=v)  # lossless
    for v in ("soc", "voltage_V", "current_A", "temperature_K"):
        assert b32[v].encoding["dtype"] == np.float32
        np.testing.assert_allclose(b32[v].values, ds[v].values, rtol=2 ** -23, atol=0, err_msg=v)
    np.testing.assert_array_equal(b32.event_end_s.values, ds.event_end_s.values)  # the event table exact
    np.testing.assert_array_equal(b32.energy_load_J.values, ds.energy_load_J.values)
    b64.close()
    b32.close()


def test_record_variables_and_precision():
    from cellbalance.errors import ParameterError

    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=4)
    full = simulate(p, ["Discharge at 1C for 10 minutes"], layout=lay)
    some = simulate(p, ["Discharge at 1C for 10 minutes"], layout=lay,
                    options=SimulationOptions(record_variables=("soc", "voltage_V"), record_precision="float32"))
    assert "temperature_K" not in some and "current_A" not in some
    assert some.soc.dtype == np.float32 and some.voltage_V.dtype == np.float32
    np.testing.assert_allclose(some.soc.values, full.soc.values, rtol=2 ** -23)
    np.testing.assert_array_equal(some.event_end_s.values, full.event_end_s.values)
    with pytest.raises(ParameterError, match=r"record_variables: unknown \['voltage'\]; allowed: soc, voltage_V"):
        SimulationOptions(record_variables=("soc", "voltage"))
    with pytest.raises(ParameterError, match="record_precision must be 'float64' or 'float32'; got 'half'"):
        SimulationOptions(record_precision="half")


class _StopAt:
    """A controller that stands for Ctrl-C at a given time."""

    period_s = 60.0

    def __init__(self, t_stop):
        self.t_stop = t_stop

    def init(self, ctx):
        return None

    def step(self, t, m, est, st):
        if t >= self.t_stop:
            raise KeyboardInterrupt
        from cellbalance.interfaces import Command

        return Command(), st


@pytest.mark.parametrize("stream", [False, True])
def test_an_interrupted_run_keeps_its_rows_events_and_metadata_marked_partial(tmp_path, stream):
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=4)
    cells = p.compile(4)
    exp = Experiment(["Discharge at 1C for 5 minutes", "Rest for 20 minutes", "Charge at 1C for 10 minutes"])
    rec = NetCDFRecorder(tmp_path / "cut.nc", cells, lay, chunk_rows=100) if stream else None
    with pytest.raises(KeyboardInterrupt) as info:
        simulate(cells, exp, layout=lay, controller=_StopAt(900.0), recorder=rec)
    ds = xr.open_dataset(tmp_path / "cut.nc", decode_times=False) if stream else info.value.partial
    assert ds.attrs["truncated"] == 1 and ds.attrs["status"] == "partial: interrupted at t = 900 s"
    assert ds.event_end_s.values.tolist() == [300.0]  # the step that ended before the interruption
    assert float(ds.time.values[-1]) == pytest.approx(899.0)
    assert "final_state" in ds and ds.sizes["control_time"] == 15
    if stream:
        ds.close()


def test_results_describe_themselves():
    """CF-1.10 global attributes, and units or a long name on every variable and coordinate; the
    per-cell values as simulated (the sampled capacities and resistances) are stored."""
    from cellbalance.pack.variation import preset, sample

    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=3, n_parallel=2)
    sp = sample(preset("typical"), p, lay, seed=9)
    ds = simulate(sp.cells, ["Discharge at 1C for 2 minutes"], layout=lay, state=sp.initial_state)
    for key in ("Conventions", "title", "source", "history", "date_created", "status"):
        assert ds.attrs[key], key
    assert ds.attrs["Conventions"] == "CF-1.10" and ds.attrs["status"] == "complete"
    missing = [v for v in ds.variables if not ({"units", "long_name"} & set(ds[v].attrs))]
    assert not missing, missing
    np.testing.assert_allclose(ds.cell_capacity_Ah.values.reshape(-1), sp.capacity_Ah, rtol=1e-12)
    assert ds.time.attrs["axis"] == "T"
