"""Issue 10: every bad input a new user tried gets one clear message (exit 2, no traceback), a warning,
or is honoured; output places are checked before a run starts."""

import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from cellbalance.cli.app import app

runner = CliRunner()

CELL = """
[cell]
parameter_set = "nmc_lg_m50"
{cell_extra}
[experiment]
period_s = 10.0
steps = {steps}
[output]
name = "c"
plot = false
csv = false
{extra}
"""

PACK = """
seed = {seed}
[cell]
parameter_set = "nmc_lg_m50"
[pack]
n_series = {ns}
n_parallel = {np}
[experiment]
period_s = {period}
steps = {steps}
[output]
name = "p"
plot = false
{extra}
"""


def _run(args):
    r = runner.invoke(app, [str(a) for a in args])
    text = " ".join(r.output.split())
    assert "Traceback" not in text, text
    assert r.exit_code in (0, 2) and (r.exception is None or isinstance(r.exception, SystemExit)), (r.exception, text)
    return r, text


def _cell(tmp_path, steps='["Rest for 1 minute"]', cell_extra="", extra="", name="c.toml"):
    f = tmp_path / name
    f.write_text(CELL.format(steps=steps, cell_extra=cell_extra, extra=extra))
    return f


def _pack(tmp_path, ns=2, np_=1, steps='["Rest for 1 minute"]', seed=0, period=10.0, extra=""):
    f = tmp_path / "p.toml"
    f.write_text(PACK.format(ns=ns, np=np_, steps=steps, seed=seed, period=period, extra=extra))
    return f


def _error(r, text, *patterns):
    assert r.exit_code == 2, text
    assert text.count("error:") == 1, text
    for p in patterns:
        assert re.search(p, text), (p, text)


# ---- files decoded at the door ---------------------------------------------------------------------
def test_a_binary_file_as_config(tmp_path):
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    r, text = _run(["cell", png])
    _error(r, text, r"picture\.png: is a binary file, not text; expected a TOML run configuration")


@pytest.mark.parametrize("content,pattern", [
    (b"", r"the file is empty; expected a TOML run configuration"),
    (b"  \n\n", r"the file is empty"),
    ("[cell]\nparameter_set = 'caf\u00e9'\n".encode("latin-1"), r"is not UTF-8 text \(byte 0xe9 at offset 27\)"),
    (b"[cell\nparameter_set = 'x'", r"not valid TOML"),
])
def test_empty_non_utf8_and_truncated_configs(tmp_path, content, pattern):
    f = tmp_path / "bad.toml"
    f.write_bytes(content)
    for cmd in ("cell", "simulate"):
        r, text = _run([cmd, f])
        _error(r, text, r"bad\.toml", pattern)


def test_a_directory_as_config(tmp_path):
    r, text = _run(["simulate", tmp_path])
    _error(r, text, r"is a directory; expected a TOML run configuration")


def test_parameter_file_and_its_csv_tables_are_checked(tmp_path):
    (tmp_path / "r0.csv").write_text("soc,value\n0,0.01\n0.5,abc\n1,0.01\n")
    p = tmp_path / "cellp.toml"
    p.write_text('[cell]\nname = "x"\nsource = "test"\ncapacity_Ah = 5.0\n'
                 'ocv = { soc = [0.0, 1.0], values = [3.0, 4.2] }\nr0 = { file = "r0.csv" }\n')
    f = tmp_path / "c.toml"
    f.write_text(CELL.format(steps='["Rest for 1 minute"]', cell_extra="", extra="").replace(
        'parameter_set = "nmc_lg_m50"', 'file = "cellp.toml"'))
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    _error(r, text, r"r0\.csv: column 'value' has a non-numeric, empty or infinite value 'abc' in data row 2")
    (tmp_path / "r0.csv").write_bytes(b"\x00\x01\x02binary")
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    _error(r, text, r"r0\.csv: is a binary file, not text; expected a CSV table with columns 'soc' and 'value'")
    (tmp_path / "r0.csv").write_text("soc,ohm\n0,0.01\n")
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    _error(r, text, r"must have columns 'soc' and 'value'.*found \['ohm', 'soc'\]")
    p.write_text('[cell]\nname = "x"\ncapacity_Ah = "five"\n')
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    _error(r, text, r"cellp\.toml: cell parameters\.capacity_Ah must be a number; got 'five'")


def test_a_binary_profile(tmp_path):
    (tmp_path / "cyc.csv").write_bytes(b"\xff\xfe\x00t\x00i")
    f = _pack(tmp_path, steps='["Run cyc for 1 minute"]', extra='[profiles]\ncyc = { file = "cyc.csv" }')
    r, text = _run(["simulate", f])
    _error(r, text, r"cyc\.csv: is a binary file, not text; expected a CSV profile with a header 'time_s,current_A'")


def test_plot_refuses_a_netcdf_that_cellbalance_did_not_write(tmp_path):
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"rain": (("x",), np.arange(3.0))}).to_netcdf(foreign)
    r, text = _run(["plot", foreign])
    _error(r, text, r"foreign\.nc: not a cellbalance results file \(no variable 'soc'; no variable 'voltage_V'")
    junk = tmp_path / "junk.nc"
    junk.write_bytes(b"CDF\x01garbage")
    r, text = _run(["plot", junk])
    _error(r, text, r"junk\.nc: not a (readable NetCDF|cellbalance results) file")
    r, text = _run(["plot", tmp_path / "missing.nc"])
    _error(r, text, r"missing\.nc: no such file")


# ---- output places checked before the run --------------------------------------------------------------
def _blocked(tmp_path):
    """A place that cannot be created even as root: a directory under a regular file."""
    f = tmp_path / "a_file"
    f.write_text("x")
    return f / "sub"


@pytest.mark.parametrize("cmd", ["cell", "simulate"])
def test_an_output_directory_that_cannot_be_created_stops_before_the_run(tmp_path, cmd, monkeypatch):
    import cellbalance.sim as sim

    def never(*a, **k):
        raise AssertionError("the run started")

    monkeypatch.setattr(sim, "simulate", never)
    f = _cell(tmp_path) if cmd == "cell" else _pack(tmp_path)
    r, text = _run([cmd, f, "--out", _blocked(tmp_path)])
    _error(r, text, r"output directory .*a_file/sub: cannot be created \(Not a directory\)")
    r, text = _run([cmd, f, "--out", tmp_path / "a_file"])
    _error(r, text, r"a_file: exists and is not a directory")


def test_demo_checks_its_directory_first(tmp_path, monkeypatch):
    import cellbalance.cli.demo as demo

    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: (_ for _ in ()).throw(AssertionError("the run started")))
    r, text = _run(["demo", "--out", _blocked(tmp_path)])
    _error(r, text, r"cannot be created")


def test_not_enough_disk_space_is_said_before_the_run(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**6, 10**6))
    f = _pack(tmp_path, ns=96, np_=4, steps='["Rest for 1 day"]', period=1.0, extra="stream = true")
    r, text = _run(["simulate", f, "--out", tmp_path / "o"])
    _error(r, text, r"the run will write about [\d.]+ GiB but only 976.6 KiB is free there\. Record less often")


def test_topology_plot_into_an_unwritable_place(tmp_path):
    r, text = _run(["topology", "--cells", "8", "--kind", "ring", "--plot", _blocked(tmp_path) / "g.png"])
    _error(r, text, r"cannot be created")
    r, text = _run(["topology", "--cells", "8", "--kind", "ring", "--plot", tmp_path])
    _error(r, text, r"--plot file .*: is a directory; give a file name")


def test_plot_out_into_an_unwritable_place(tmp_path):
    f = _pack(tmp_path)
    r, _ = _run(["simulate", f, "--out", tmp_path / "o"])
    assert r.exit_code == 0
    r, text = _run(["plot", tmp_path / "o" / "p.nc", "--out", _blocked(tmp_path)])
    _error(r, text, r"cannot be created")


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "", "x\x00y"])
def test_output_name_must_stay_inside_the_output_directory(tmp_path, name):
    f = _cell(tmp_path, extra="")
    import json

    f.write_text(f.read_text().replace('name = "c"', f"name = {json.dumps(name)}"))
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    _error(r, text, r"output\.name")
    assert not any(p.suffix == ".nc" for p in tmp_path.rglob("*"))


# ---- sizes, memory, infeasible steps -------------------------------------------------------------------
def test_a_pack_far_too_large_for_memory_is_refused_at_once(tmp_path):
    f = _pack(tmp_path, ns=100_000, np_=1000)
    r, text = _run(["simulate", f])
    _error(r, text, r"a run of 100,000,000 cells needs about [\d.]+ (GiB|TiB) of memory", r"fewer cells")


def test_a_month_at_one_second_asks_to_record_less_or_stream(tmp_path):
    f = _pack(tmp_path, ns=96, np_=4, steps='["Rest for 29 days"]', period=1.0)
    r, text = _run(["simulate", f])
    _error(r, text, r"needs about [\d.]+ GiB of memory .* recording about 2,505,602 rows",
           r"record less often \(output\.record_every", r"stream the rows to NetCDF \(output\.stream = true")


def test_a_step_already_met_warns_on_the_command_line(tmp_path):
    f = _cell(tmp_path, steps='["Discharge at 1C until 4.0 V", "Rest for 1 minute"]')
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    assert r.exit_code == 0, text
    assert text.count("warning:") == 1
    assert re.search(r"warning: step 1 'Discharge at 1C until 4.0 V' .* the step does nothing", text)


def test_an_impossible_step_is_an_error_before_the_run(tmp_path):
    f = _cell(tmp_path, steps='["Charge at 1C until 5.0 V"]')
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    _error(r, text, r"the cut-off 5 V is outside the cells' voltage limits \[2.5, 4.2\] V, so the cells' upper limit "
                    r"v_max = 4.2 V would end the step instead")
    assert not (tmp_path / "o" / "c.nc").exists()


def test_an_infinite_current(tmp_path):
    f = _cell(tmp_path, steps='["Discharge at 1e400 A for 1 minute"]')
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    _error(r, text, r"'Discharge at 1e400 A for 1 minute': value must be a finite number; got -inf")


def test_negative_seed(tmp_path):
    r, text = _run(["simulate", _pack(tmp_path, seed=-1)])
    _error(r, text, r"seed: Input should be greater than or equal to 0 \(got -1\)")


def test_a_huge_topology_runs_sparse(tmp_path):
    r, text = _run(["topology", "--cells", "100000", "--kind", "adjacent"])
    assert r.exit_code == 0, text
    assert "4.935e-08" in text  # 50 (2 - 2 cos(pi / 1e5))
    r, text = _run(["topology", "--cells", "100000", "--kind", "complete"])
    assert r.exit_code == 0 and "4999950000" in text and "5e+06" in text, text


# ---- overrides of every kind -----------------------------------------------------------------------------
def test_overrides_of_tables_thermal_and_scalars_are_honoured(tmp_path):
    f = _cell(tmp_path, steps='["Discharge at 5 A for 1 minute"]',
              cell_extra="overrides = { r0 = 0.03, thermal = { cooling_W_per_K = 2.0 }, capacity_Ah = 4.0 }")
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    assert r.exit_code == 0, text
    base = _cell(tmp_path, steps='["Discharge at 5 A for 1 minute"]', name="base.toml")
    r, text = _run(["cell", base, "--out", tmp_path / "b"])
    assert r.exit_code == 0, text
    with xr.open_dataset(tmp_path / "o" / "c.nc", decode_times=False) as ds, xr.open_dataset(tmp_path / "b" / "c.nc", decode_times=False) as b:
        # V = E - I R0 at the first row with the same E: the R0 of the row is the override
        dv = float(b.voltage_V[0, 0, 0] - ds.voltage_V[0, 0, 0])
        from cellbalance.cell import get_parameter_set

        r0_base = float(get_parameter_set("nmc_lg_m50").r0(298.15, -5.0, 0.5))
        assert dv == pytest.approx(5.0 * (0.03 - r0_base), rel=1e-6)
        # 5 A for 60 s from a 4 Ah cell
        assert float(ds.soc[0, 0, 0] - ds.soc[-1, 0, 0]) == pytest.approx(300 / (4.0 * 3600), rel=1e-4)  # and self-discharge


@pytest.mark.parametrize("override,pattern", [
    ('r0 = "0.03"', r"cell\.overrides: cell parameters\.r0: expected a number \(a constant table\).*got '0\.03'"),
    ("capacity_Ah = 'big'", r"cell parameters\.capacity_Ah must be a number; got 'big'"),
    ("thermal = { cooling = 1.0 }", r"cell parameters\.thermal: unknown key\(s\) \['cooling'\]"),
    ("r0 = -0.01", r"r0 must be > 0 everywhere in its table; got -0\.01"),
    ("r0 = { soc = [0, 1], values = [0.01] }", r"r0'\.values must have shape \(1, 1, 2\)"),
    ("rc = [{ r = 0.01 }]", r"rc\[0\] must be a table with exactly the keys 'r' and 'c'"),
    ("capacity_ah = 4.0", r"no field\(s\) \['capacity_ah'\]; closest: \{'capacity_ah': \['capacity_Ah'\]\}"),
    ("v_max = 2.0", r"v_max must be > 2\.5"),
])
def test_bad_overrides_name_the_field_value_and_range(tmp_path, override, pattern):
    f = _cell(tmp_path, cell_extra=f"overrides = {{ {override} }}")
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    _error(r, text, pattern)


# ---- implausible but legal ------------------------------------------------------------------------------
def test_a_capacity_spread_that_clips_cells_warns(tmp_path):
    f = _pack(tmp_path, ns=24)
    f.write_text(f.read_text() + "[variation]\ncapacity = { sigma = 2.0 }\n")
    r, text = _run(["simulate", f, "--out", tmp_path / "o"])
    assert r.exit_code == 0, text
    assert re.search(r"warning: variation\.capacity: \d+ of 24 draws \(sigma = 2\) were clipped to \[0\.05, inf\].*"
                     r"percent instead of as a fraction \(sigma = 0\.02 for 2 %\)", text), text


def test_kelvin_override_in_celsius_warns(tmp_path):
    f = _cell(tmp_path, cell_extra="overrides = { ambient_K = 25.0 }")
    r, text = _run(["cell", f, "--out", tmp_path / "o"])
    assert r.exit_code == 0, text
    assert re.search(r"warning: .*ambient_K = 25 K is below 200 K .* 25 degC would be 298\.15 K", text), text


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_example_config_runs_without_a_warning(tmp_path):
    r, text = _run(["cell", EXAMPLES / "cell_nmc.toml", "--out", tmp_path])
    assert r.exit_code == 0 and "warning" not in text, text


def test_output_directory_removed_during_an_in_memory_run(tmp_path, monkeypatch):
    """Not streaming: the directory vanishes while the run is going; writing at the end is one message."""
    import shutil

    import cellbalance.sim as sim

    real = sim.simulate

    def run_then_remove(*a, **k):
        ds = real(*a, **k)
        shutil.rmtree(tmp_path / "o")
        (tmp_path / "o").write_text("now a file")
        return ds

    monkeypatch.setattr(sim, "simulate", run_then_remove)
    r, text = _run(["simulate", _pack(tmp_path), "--out", tmp_path / "o"])
    _error(r, text, r"cannot write the results to .*o/p\.nc: .*\(the directory is gone: was it removed during the run\?\)")
