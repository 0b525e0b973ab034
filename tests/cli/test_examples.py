"""Every example config stays runnable: each is validated as written (its full experiment included) and run
through ``cellbalance simulate`` with a shortened experiment, so an example cannot rot unnoticed."""

import tomllib
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from typer.testing import CliRunner

from cellbalance.cli.app import app
from cellbalance.io.config import load_pack_config

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# the pack examples with balancing, a few minutes that make their balancer act, and the variable that shows it
SHORT = {
    "ev_96s_nmc": (["Discharge at 0.3C for 3 minutes", "Rest for 2 minutes"], "balancer_shunt_S"),
    "ev_192s_nmc": (["Discharge at 0.5C for 3 minutes", "Rest for 2 minutes"], "balancer_element_current_A"),
    # top-N balancing acts only while charging above 3.45 V: the last 20 minutes of a charge
    "home_16s_lfp": (["Charge at 0.2C until 3.6 V"], "balancer_shunt_S"),
    "grid_1000s_lfp": (["Discharge at 0.5C for 3 minutes", "Rest for 2 minutes"], "balancer_element_current_A"),
}


def test_every_pack_example_with_balancing_is_listed():
    configs = {p.stem: tomllib.loads(p.read_text()) for p in EXAMPLES.glob("*.toml")}
    found = {k for k, d in configs.items() if "balancing" in d and "sweep" not in d}  # (sweeps: tests/studies)
    assert found == set(SHORT)


@pytest.mark.parametrize("name", sorted(SHORT))
def test_example_runs(name, tmp_path):
    path = EXAMPLES / f"{name}.toml"
    full = load_pack_config(path)  # the example as written: sections, steps and balancing design valid
    assert full.balancing is not None and full.balancing.build(full.pack.n_series).balancer is not None
    cfg = tomllib.loads(path.read_text())
    steps, acting = SHORT[name]
    cfg["experiment"]["steps"] = steps
    if name == "home_16s_lfp":
        cfg["initial"]["soc"] = 0.93
    short = tmp_path / f"{name}.toml"
    short.write_bytes(tomli_w.dumps(cfg).encode())
    r = runner.invoke(app, ["simulate", str(short), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    with xr.open_dataset(tmp_path / "out" / f"{cfg['output']['name']}.nc", decode_times=False) as ds:
        assert ds.sizes["control_time"] > 0
        assert np.abs(ds[acting].values).max() > 0, f"{name}: the balancer never acted"
