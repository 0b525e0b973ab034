"""Issue 11: every simulating command prints how each step ended, and warns for a limit the step does not
name or the run-length limit (settable in [simulation] and with --max-time-s)."""

import re

import xarray as xr
from typer.testing import CliRunner

from cellbalance.cli.app import app

runner = CliRunner()

PACK = """
[cell]
parameter_set = "nmc_lg_m50"
[pack]
n_series = 3
n_packs = {n_packs}
[variation]
preset = "typical"
[experiment]
period_s = 10.0
steps = ["Discharge at 2C for 1 hour", "Rest for 1 minute"]
[output]
name = "p"
plot = false
{extra}
"""


def _simulate(tmp_path, *args, n_packs=1, extra=""):
    f = tmp_path / "p.toml"
    f.write_text(PACK.format(n_packs=n_packs, extra=extra))
    r = runner.invoke(app, ["simulate", str(f), "--out", str(tmp_path / "o"), *args])
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split()), xr.load_dataset(tmp_path / "o" / "p.nc", decode_times=False)


def test_simulate_prints_the_steps_and_warns_for_an_early_end(tmp_path):
    text, ds = _simulate(tmp_path)
    assert "Steps" in text and "start [s]" in text and "end [s]" in text
    end = float(ds.event_end_s[0])
    assert end < 3600 and ds.event_reason.values[0] == "cell limit"
    row = re.search(r"1 │ Discharge at 2C for 1 hour │ 0\.0 │ ([\d,]+\.\d) │ cell limit │ cell (\d) \(element \d, "
                    r"position 0\) fell to 2\.5\d* V", text)
    assert row and float(row.group(1).replace(",", "")) == round(end, 1), text
    assert int(row.group(2)) == int(ds.event_cell[0])
    assert re.search(r"warning: step 1 'Discharge at 2C for 1 hour' ended after [\d.]+ s of its 3600 s in pack 0", text)


def test_the_run_length_limit_is_a_setting_and_reaching_it_warns(tmp_path):
    text, ds = _simulate(tmp_path, extra="[simulation]\nmax_time_s = 600")
    assert re.search(r"warning: the run stopped at its run-length limit, 600 s .* \(pack 0 in step 1 'Discharge at 2C "
                     r"for 1 hour'\)", text), text
    assert ds.attrs["truncated"] == 1 and float(ds.time[-1]) == 600
    assert "run-length limit" in text
    text, ds = _simulate(tmp_path, "--max-time-s", "300", extra="[simulation]\nmax_time_s = 600")
    assert float(ds.time[-1]) == 300 and "run-length limit, 300 s" in text  # the option wins


def test_a_batch_groups_the_step_ends(tmp_path):
    text, ds = _simulate(tmp_path, n_packs=6)
    assert ds.sizes["event"] == 12
    assert re.search(r"1 │ Discharge at 2C for 1 hour │ 6 of 6 │ 0\.0 │ [\d,.]+ - [\d,.]+ │ cell limit", text), text
    assert re.search(r"2 │ Rest for 1 minute │ 6 of 6 │ .* │ duration", text)
    assert "and 5 other pack(s) of 6" in text
