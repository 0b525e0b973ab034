"""Self-describing results: a CF checker finds no error, every file opens with its attributes, and a run
rebuilt from the configuration and seed stored in its file equals the original to 1e-12."""

import json

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from cellbalance.cli.app import app
from cellbalance.errors import ConfigError
from cellbalance.io.runs import rerun

runner = CliRunner()

PACK = """
seed = 11
[cell]
parameter_set = "nmc_lg_m50"
[pack]
n_series = 4
n_parallel = 2
n_packs = 2
[variation]
preset = "second_life"
[experiment]
period_s = 5.0
steps = ["Run mycycle for 5 minutes", "Rest for 3 minutes"]
[profiles]
mycycle = {{ file = "cyc.csv", kind = "current_A" }}
[balancing]
hardware = "passive"
controller = "bleed_to_lowest_soc"
controller_period_s = 30
estimator = "ekf"
[output]
name = "{name}"
plot = false
stream = {stream}
"""

CELL = """
[cell]
parameter_set = "ecm_example"
[experiment]
period_s = 10.0
steps = ["Discharge at 1C for 10 minutes", "Rest for 5 minutes"]
[initial]
soc = 0.8
[output]
name = "c"
plot = false
csv = false
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    (d / "cyc.csv").write_text("time_s,current_A\n0,-5\n60,-10\n120,3\n")
    out = {}
    for name, stream in (("pack", "false"), ("streamed", "true")):
        f = d / f"{name}.toml"
        f.write_text(PACK.format(name=name, stream=stream))
        r = runner.invoke(app, ["simulate", str(f), "--out", str(d / "o")])
        assert r.exit_code == 0, r.output
        out[name] = d / "o" / f"{name}.nc"
    (d / "cell.toml").write_text(CELL)
    r = runner.invoke(app, ["cell", str(d / "cell.toml"), "--out", str(d / "o")])
    assert r.exit_code == 0, r.output
    out["cell"] = d / "o" / "c.nc"
    out["demo"] = _demo_shaped(d / "o" / "demo_pack.nc")
    return out


def _demo_shaped(path):
    """The demo's file, on a small pack: the same steps, sampling and float32 writer."""
    from cellbalance.cell import get_parameter_set
    from cellbalance.cli.demo import DEMO_STEPS
    from cellbalance.io.output import to_netcdf
    from cellbalance.pack import PackLayout
    from cellbalance.pack.variation import preset, sample
    from cellbalance.scenarios.experiment import Experiment
    from cellbalance.sim import SimulationOptions, simulate

    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=3, n_parallel=2)
    sp = sample(preset("typical"), p, lay, seed=2026, mean_soc=0.8)
    ds = simulate(sp.cells, Experiment(DEMO_STEPS, period_s=10.0), layout=lay, state=sp.initial_state,
                  ambient_K=sp.ambient_K, options=SimulationOptions(record_every=6))
    return to_netcdf(ds, path, precision="float32")


def _cf_errors(path, tmp_path):
    """The high-priority (error) messages of the IOOS compliance checker's CF-1.10 suite."""
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    CheckSuite().load_all_available_checkers()
    report = tmp_path / f"{path.stem}.json"
    ComplianceChecker.run_checker(str(path), ["cf:1.10"], 0, "normal", output_filename=str(report),
                                  output_format="json")
    res = json.loads(report.read_text())["cf:1.10"]
    assert res["possible_points"] > 100  # the suite did run
    return [m for r in res["high_priorities"] for m in r["msgs"]]


@pytest.mark.parametrize("which", ["demo", "pack", "streamed", "cell"])
def test_a_cf_checker_reports_no_error(files, which, tmp_path):
    assert _cf_errors(files[which], tmp_path) == []


@pytest.mark.parametrize("which", ["demo", "pack", "streamed", "cell"])
def test_open_dataset_shows_the_attributes_of_the_run_and_of_every_variable(files, which):
    ds = xr.open_dataset(files[which])
    for key in ("Conventions", "title", "history", "source", "date_created", "status", "parameter_set"):
        assert ds.attrs.get(key), key
    assert ds.attrs["Conventions"].startswith("CF-") and ds.attrs["source"].startswith("cellbalance ")
    if which != "demo":  # written by the CLI: the configuration rides along
        assert ds.attrs["config_kind"] in ("pack", "cell") and "[experiment]" in ds.attrs["config_toml"]
    if which in ("pack", "streamed"):
        assert ds.attrs["seed"] == 11
    for name, da in ds.variables.items():
        assert da.attrs.get("long_name") or da.attrs.get("standard_name"), name
        if da.dtype.kind == "f" and name != "time" and "state" not in da.dims:  # final_state: units per column
            # units on the variable, or per row where one variable holds several quantities
            assert "units" in da.attrs or str(da.attrs.get("comment", "")).startswith("units: "), name
    # the time axis: CF seconds since the run start (decoded as dates by default, seconds on request)
    raw = xr.open_dataset(files[which], decode_times=False)
    assert raw.time.attrs["units"].startswith("seconds since ") and raw.time.attrs["axis"] == "T"
    assert raw.time.values[0] == 0.0 and np.all(np.diff(raw.time.values) > 0)


@pytest.mark.parametrize("which", ["pack", "streamed", "cell"])
def test_a_run_rebuilt_from_its_file_equals_the_original(files, which):
    a = xr.open_dataset(files[which], decode_times=False)
    b = rerun(files[which])
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        if "wall" in name:  # the controller's own run time on this machine, not a result of the model
            continue
        x, y = a[name].values, b[name].values
        assert x.shape == y.shape, name
        if x.dtype.kind in "fiu":
            np.testing.assert_allclose(y, x, rtol=0, atol=1e-12, err_msg=name)
        else:
            assert (x == y).all(), name
    np.testing.assert_allclose(b.time.values, a.time.values, rtol=0, atol=1e-12)
    if which != "cell":  # the balancing acted: the rebuilt run had its controller and estimator
        assert float(a.energy_bleed_J.values[-1].max()) > 0


def test_a_different_seed_gives_a_different_pack(files, tmp_path):
    """The equality above is not trivial: the stored seed is what draws the cells."""
    a = xr.open_dataset(files["pack"], decode_times=False)
    toml = a.attrs["config_toml"].replace("seed = 11", "seed = 12")
    path = tmp_path / "other.nc"
    a.assign_attrs(config_toml=toml).to_netcdf(path)
    b = rerun(path)
    assert np.abs(b.cell_capacity_Ah.values - a.cell_capacity_Ah.values).max() > 1e-4


def test_a_file_without_a_configuration_cannot_be_rerun(files):
    with pytest.raises(ConfigError, match="holds no configuration"):
        rerun(files["demo"])
