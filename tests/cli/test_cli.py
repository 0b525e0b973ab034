"""The command line is wiring only: each command runs, writes what it says, and errors are one paragraph."""

from pathlib import Path

import pytest
import xarray as xr
from typer.testing import CliRunner

from cellbalance.cli.app import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_help_lists_the_commands():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ("cell", "simulate", "plot", "demo"):
        assert cmd in r.output


def test_cell_command_writes_netcdf_csv_and_png(tmp_path):
    r = runner.invoke(app, ["cell", str(EXAMPLES / "cell_nmc.toml"), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    ds = xr.open_dataset(tmp_path / "cell_nmc.nc", decode_times=False)
    assert ds.sizes["event"] == 5 and (tmp_path / "cell_nmc.csv").exists() and (tmp_path / "cell_nmc.png").exists()


PACK = """
[cell]
parameter_set = "nmc_lg_m50"
[pack]
n_series = 8
n_parallel = 2
[variation]
preset = "typical"
[experiment]
period_s = 5.0
steps = ["Run mycycle for 10 minutes", "Rest for 5 minutes"]
[profiles]
mycycle = {{ file = "cyc.csv", kind = "current_A" }}
[output]
name = "p"
{extra}
"""


def _write(tmp_path, extra="", csv="time_s,current_A\n0,-5\n60,-10\n120,3\n"):
    (tmp_path / "cyc.csv").write_text(csv)
    f = tmp_path / "pack.toml"
    f.write_text(PACK.format(extra=extra))
    return f


def test_simulate_and_plot(tmp_path):
    r = runner.invoke(app, ["simulate", str(_write(tmp_path)), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "usable capacity" in r.output
    ds = xr.open_dataset(tmp_path / "o" / "p.nc", decode_times=False)
    assert ds.sizes["cell"] == 16
    r = runner.invoke(app, ["plot", str(tmp_path / "o" / "p.nc"), "--out", str(tmp_path / "figs")])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "figs").glob("*.png"))) == 3


@pytest.mark.parametrize("extra,csv,message", [
    ("[initial]\nsocc = 0.5", None, r"initial.socc: Extra inputs are not permitted"),
    ("", "time_s,amps\n0,1\n1,2\n", r"missing column\(s\) \['current_A'\]"),
])
def test_simulate_errors_are_one_paragraph(tmp_path, extra, csv, message):
    f = _write(tmp_path, extra, csv) if csv else _write(tmp_path, extra)
    r = runner.invoke(app, ["simulate", str(f), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    import re

    assert re.search(message, " ".join(r.output.split())), r.output
    assert not (tmp_path / "o" / "p.nc").exists()


def test_negative_parallel_count_and_sigma(tmp_path):
    f = _write(tmp_path)
    f.write_text(f.read_text().replace("n_parallel = 2", "n_parallel = -2"))
    r = runner.invoke(app, ["simulate", str(f)])
    assert r.exit_code == 2
    assert "pack.n_parallel: Input should be greater than or equal to 1 (got -2)" in " ".join(r.output.split())
    f = _write(tmp_path)
    f.write_text(f.read_text().replace('preset = "typical"', 'preset = "typical"\ncapacity = { sigma = -0.1 }'))
    r = runner.invoke(app, ["simulate", str(f)])
    assert r.exit_code == 2 and "sigma must be >= 0" in " ".join(r.output.split())


def test_missing_file_is_a_clear_error(tmp_path):
    r = runner.invoke(app, ["cell", str(tmp_path / "nope.toml")])
    assert r.exit_code == 2 and "no such file" in " ".join(r.output.split())


def test_topology_table_and_plot(tmp_path):
    r = runner.invoke(app, ["topology", "--cells", "96", "--kind", "ring", "--plot", str(tmp_path / "g.png")])
    assert r.exit_code == 0, r.output
    assert "ring" in r.output and "0.2141" in r.output  # lambda_2 = 50 (2 - 2 cos(2 pi / 96))
    assert (tmp_path / "g.png").exists()
    r = runner.invoke(app, ["topology", "--kind", "rign"])
    assert r.exit_code == 2 and "Did you mean 'ring'" in r.output


# Every field of [initial], a non-default value and what the first recorded row must show.
# A new [initial] field fails test_simulate_honours_every_initial_field until it is listed here.
INITIAL_CHECKS = {
    "soc": (0.37, lambda ds: ds.soc.isel(time=0).values, 0.37),
    "temperature_C": (10.0, lambda ds: ds.temperature_K.isel(time=0).values, 283.15),
    "hysteresis": (-0.6, lambda ds: ds.hysteresis.isel(time=0).values, -0.6),
}

SMALL_PACK = """
[cell]
parameter_set = "nmc_lg_m50"
[pack]
n_series = 3
n_parallel = 2
[experiment]
period_s = 10.0
steps = ["Rest for 1 minute"]
[output]
name = "p"
plot = false
stream = {stream}
[initial]
{field} = {value}
"""


@pytest.mark.parametrize("stream", [False, True])
def test_simulate_honours_every_initial_field(tmp_path, stream):
    import numpy as np

    from cellbalance.io.config import InitialSection

    assert set(INITIAL_CHECKS) == set(InitialSection.model_fields)
    for field, (value, first_row, expected) in INITIAL_CHECKS.items():
        assert value != InitialSection.model_fields[field].default
        f = tmp_path / f"{field}.toml"
        f.write_text(SMALL_PACK.format(field=field, value=value, stream=str(stream).lower()))
        out = tmp_path / field
        r = runner.invoke(app, ["simulate", str(f), "--out", str(out)])
        assert r.exit_code == 0, r.output
        with xr.open_dataset(out / "p.nc", decode_times=False) as ds:
            got = first_row(ds)
        assert got.shape[-1] == 6
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9, err_msg=field)


def test_pack_config_profiles_stay_in_the_experiment(tmp_path):
    """[profiles] cycles travel inside the Experiment; loading a config registers nothing globally."""
    from cellbalance.io.config import load_pack_config
    from cellbalance.scenarios.profiles import available_drive_cycles

    cfg = load_pack_config(_write(tmp_path))
    step = cfg.build_experiment().steps[0]
    assert step.profile == "mycycle" and list(step.cycle.values) == [-5, -10, 3]
    assert "mycycle" not in available_drive_cycles()
