"""Decimation, streaming to NetCDF and what an interrupted run keeps."""

import numpy as np
import pytest
import xarray as xr

from cellbalance.cell import get_parameter_set
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
    again = xr.open_dataset(tmp_path / "run.nc")
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
    ds = xr.open_dataset(tmp_path / "cut.nc")
    assert ds.attrs["truncated"] == 1
    assert ds.sizes["time"] >= 1000  # every row up to the interruption is on disk
    assert np.all(np.diff(ds.time.values) > 0)
