"""The corpus of cases the fuzz test (test_config_fuzz.py) found, each fixed, kept as explicit
regression tests: each exits 2 with one message naming what is wrong."""

import re

import pytest
import tomli_w
from typer.testing import CliRunner

from cellbalance.cli.app import app

runner = CliRunner()

CELL = {"cell": {"parameter_set": "nmc_lg_m50"},
        "experiment": {"steps": ["Discharge at 1C for 20 s", "Rest for 10 s"], "period_s": 5.0},
        "output": {"name": "r", "plot": False}}
PACK = {"cell": {"parameter_set": "nmc_lg_m50"}, "pack": {"n_series": 3},
        "experiment": {"steps": ["Run cyc for 20 s"], "period_s": 5.0},
        "profiles": {"cyc": {"file": "cyc.csv"}}, "output": {"name": "p", "plot": False}}


def _one_error(r, pattern):
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == 2, r.output
    assert len(re.findall(r"^error:", r.output, flags=re.M)) == 1, r.output
    assert re.search(pattern, " ".join(r.output.split())), r.output


def test_a_subnormal_period(tmp_path):
    """period_s = 5e-324 made the row estimate infinite: OverflowError (fixed: a run of more than 1e10
    periods is refused before it starts)."""
    cfg = {**CELL, "experiment": {**CELL["experiment"], "period_s": 5e-324}}
    f = tmp_path / "c.toml"
    f.write_text(tomli_w.dumps(cfg))
    _one_error(runner.invoke(app, ["cell", str(f), "--out", str(tmp_path / "o")]),
               r"the experiment takes about 30 s at period_s = 4\.94066e-324 s, .* periods \(at most 1e\+10\); give a "
               r"longer period_s")


def test_an_unterminated_quote_in_a_profile(tmp_path):
    """A profile file holding only '"': pandas' own 'C error:' text looked like a second message
    (the fuzz test now counts messages by line)."""
    (tmp_path / "cyc.csv").write_bytes(b'"')
    f = tmp_path / "p.toml"
    f.write_text(tomli_w.dumps(PACK))
    _one_error(runner.invoke(app, ["simulate", str(f), "--out", str(tmp_path / "o")]),
               r"cyc\.csv: cannot be read as CSV")


@pytest.mark.parametrize("weight", ["2.2250738585072014e-308", "1e-300", "1e300"])
def test_a_topology_gain_the_eigen_solver_cannot_resolve(weight):
    """--weight 2.2e-308 on 1501 cells: ArpackError traceback (fixed: the gain must lie in 1e-9 .. 1e12
    A/SOC, and a failing eigen-solver is one message)."""
    r = runner.invoke(app, ["topology", "--cells", "1501", "--kind", "all", "--weight", weight])
    _one_error(r, r"compare_topologies\.weight_A must be >= 1e-09 and <= 1e\+12")
