"""Every file in examples/ runs in CI (issue 17): the Python examples as written, the configs through
their command with a shortened scenario (the pack examples with balancing: tests/cli/test_examples.py).
A new example without a way to run here fails the first test."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner

from cellbalance.cli.app import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PACK_EXAMPLES_WITH_BALANCING = {"ev_96s_nmc", "ev_192s_nmc", "home_16s_lfp", "grid_1000s_lfp"}  # test_examples.py
PYTHON = {"drift_100_days", "wiring_imbalance"}


def _short(d: dict) -> dict:
    """The same config on a small, short scenario (what is checked is that it runs as written)."""
    if "pack" in d:
        d["pack"]["n_series"] = min(d["pack"]["n_series"], 8)
        d["pack"]["n_packs"] = min(d["pack"].get("n_packs", 1), 2)
    if "experiment" in d:
        d["experiment"]["steps"] = ["Discharge at 0.5C for 5 minutes", "Rest for 5 minutes"]
    for design in d.get("design", []):
        if "active" in design:
            design["active"]["topology"] = "ring"
    return d


CONFIGS = {
    "cell_nmc": ["cell"],
    "pack_96s": ["simulate"],
    "compare_16s": ["compare"],
    "lifetime_96s": ["lifetime"],
    "sweep_bleed": ["sweep", "--workers", "1"],
}


def test_every_example_is_run_somewhere():
    files = {p.stem for p in EXAMPLES.iterdir() if p.suffix in (".py", ".toml")}
    assert files == set(CONFIGS) | PYTHON | PACK_EXAMPLES_WITH_BALANCING


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PYTHON))
def test_python_example_runs(name, tmp_path):
    r = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], cwd=tmp_path, capture_output=True, text=True,
                       env={**os.environ, "MPLBACKEND": "Agg"}, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip(), "an example prints its numbers"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_example_runs_shortened(name, tmp_path):
    d = _short(tomllib.loads((EXAMPLES / f"{name}.toml").read_text()))
    if name == "lifetime_96s":
        d["lifetime"]["years"] = 0.05
        d["duty"]["period_s"] = 120
    if name == "sweep_bleed":
        d["sweep"]["grid"] = {k: v[:1] for k, v in d["sweep"]["grid"].items()}
        d["sweep"]["packs_per_task"] = 2
        d["sweep"].pop("random", None)
    for prof in d.get("profiles", {}).values():  # (relative files stay next to the example)
        prof["file"] = str(EXAMPLES / prof["file"])
    path = tmp_path / f"{name}.toml"
    path.write_text(tomli_w.dumps(d))
    r = CliRunner().invoke(app, [*CONFIGS[name][:1], str(path), "--out", str(tmp_path / "out"), *CONFIGS[name][1:]])
    assert r.exit_code == 0, r.output[-3000:]
    assert any((tmp_path / "out").iterdir())
