"""Issue 10, item 7: nothing accepted is ignored. Every field of every config model is walked; changing
it changes the run or what it writes, or its description says it is informational. A new field fails
test_every_field_is_checked until it is listed here."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import xarray as xr
from pydantic import BaseModel
from typer.testing import CliRunner

from cellbalance.cli.app import app
from cellbalance.io.config import CellRunConfig, PackRunConfig

runner = CliRunner()

CELL_BASE = {
    "cell": {"parameter_set": "nmc_lg_m50"},
    "experiment": {"steps": ["Discharge at 1C for 2 minutes", "Rest for 1 minute"], "period_s": 10.0},
    "output": {"name": "r", "plot": False, "csv": False},
}
PACK_BASE = {
    "cell": {"parameter_set": "nmc_lg_m50"},
    "pack": {"n_series": 3},
    "experiment": {"steps": ["Run cyc for 2 minutes", "Rest for 1 minute"], "period_s": 10.0},
    "profiles": {"cyc": {"file": "cyc.csv"}},
    "output": {"name": "r", "plot": False},
}
CYC = "time_s,current_A,power_W,amps2,t2\n0,-5,-15,-2,0\n30,-8,-30,3,50\n60,2,10,-6,70\n"

# path -> (changed value, base changes needed for the field to matter)
CHANGES = {
    "cell.parameter_set": ("ecm_example", {}),
    "cell.file": ("cellp.toml", {"cell.parameter_set": None}),  # the same set with another capacity
    "cell.overrides": ({"capacity_Ah": 4.0}, {}),
    "experiment.steps": (["Discharge at 2C for 2 minutes"], {}),
    "experiment.period_s": (5.0, {}),
    "initial.soc": (0.3, {}),
    "initial.temperature_C": (10.0, {}),
    "initial.hysteresis": (-0.5, {}),
    "ambient_C": (5.0, {}),
    "output.name": ("other", {}),
    "output.plot": (True, {}),
    "output.csv": (True, {}),
    "output.record_every": (3, {}),
    "simulation.max_time_s": (60.0, {}),
    "pack.n_series": (2, {}),
    "pack.n_parallel": (2, {}),
    "pack.n_packs": (2, {}),
    "pack.interconnect_ohm": (0.01, {}),
    "pack.wiring": ({"connection_ohm": 0.002, "busbar_ohm": 0.002, "terminal_ohm": 0.001}, {"pack.n_parallel": 2}),
    "variation": ({"preset": "typical"}, {}),
    "seed": (5, {"variation": {"preset": "typical"}}),
    "profiles.*.file": ("cyc2.csv", {}),
    "profiles.*.kind": ("power_W", {}),
    "profiles.*.time_column": ("t2", {}),
    "profiles.*.value_column": ("amps2", {}),
    "profiles.*.discharge_positive": (True, {}),
    "profiles.*.scale": (2.0, {}),
    "balancing": ({"hardware": "passive", "controller": "bleed_to_lowest_soc"},
                  {"variation": {"preset": "typical", "initial_soc": {"sigma": 0.03}}}),
}
SPECIAL = {"output.dir"}  # checked by where the files land (test_output_dir_is_where_files_land)


def _fields(model: type[BaseModel], prefix=""):
    for name, f in model.model_fields.items():
        path = f"{prefix}{name}"
        ann = f.annotation
        args = getattr(ann, "__args__", ())
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _fields(ann, path + ".")
        elif args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):  # dict[str, Model]
            yield from _fields(args[-1], path + ".*.")
        else:
            yield path, f


def _informational(model, path) -> bool:
    return "informational" in (dict(_fields(model))[path].description or "")


def _set(d: dict, path: str, value):
    keys = path.replace("*", "cyc").split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    if value is None:
        d.pop(keys[-1], None)
    else:
        d[keys[-1]] = value


def _run(tmp_path: Path, cmd: str, cfg: dict, tag: str):
    out = tmp_path / tag
    cfg = copy.deepcopy(cfg)
    cfg.setdefault("output", {})["dir"] = str(out)
    f = tmp_path / f"{tag}.toml"
    f.write_text(tomli_w.dumps(cfg))
    r = runner.invoke(app, [cmd, str(f)])
    assert r.exit_code == 0, (tag, r.output)
    files = sorted(p.name for p in out.iterdir())
    nc = next(out.glob("*.nc"))
    with xr.open_dataset(nc, decode_times=False) as ds:
        arrays = {v: ds[v].values.copy() for v in ("soc", "voltage_V", "temperature_K", "hysteresis", "pack_voltage_V")}
    return files, arrays


def _differs(a, b) -> bool:
    if a[0] != b[0]:
        return True
    return any(x.shape != y.shape or not np.allclose(x, y, rtol=0, atol=1e-12) for x, y in
               zip(a[1].values(), b[1].values(), strict=True))


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("every_field")
    (d / "cyc.csv").write_text(CYC)
    (d / "cyc2.csv").write_text(CYC.replace("-8,", "-12,"))
    from cellbalance.cell import get_parameter_set

    get_parameter_set("nmc_lg_m50").replace(capacity_Ah=4.5).to_toml(d / "cellp.toml")
    return d


def test_every_field_is_checked():
    for model in (CellRunConfig, PackRunConfig):
        paths = {p for p, _ in _fields(model)}
        missing = {p for p in paths - set(CHANGES) - SPECIAL if not _informational(model, p)}
        assert not missing, f"{model.__name__}: fields neither checked nor documented as informational: {missing}"


CASES = [(m, cmd, p) for m, cmd in ((CellRunConfig, "cell"), (PackRunConfig, "simulate"))
         for p, _ in _fields(m) if p in CHANGES]


@pytest.mark.parametrize("model,cmd,path", CASES, ids=[f"{c}:{p}" for _, c, p in CASES])
def test_changing_a_field_changes_the_run(files_dir, model, cmd, path):
    base = copy.deepcopy(CELL_BASE if cmd == "cell" else PACK_BASE)
    value, needs = CHANGES[path]
    for k, v in needs.items():
        _set(base, k, v)
    changed = copy.deepcopy(base)
    _set(changed, path, value)
    if path == "cell.file":
        base["cell"]["parameter_set"] = "nmc_lg_m50"
    tag = json.dumps(path)[1:-1].replace("*", "x").replace(".", "_")
    a = _run(files_dir, cmd, base, f"{cmd}_{tag}_base")
    b = _run(files_dir, cmd, changed, f"{cmd}_{tag}_changed")
    assert _differs(a, b), f"{cmd}: changing {path} to {value!r} changed nothing"


@pytest.mark.parametrize("cmd", ["cell", "simulate"])
def test_output_dir_is_where_files_land(files_dir, cmd):
    files, _ = _run(files_dir, cmd, CELL_BASE if cmd == "cell" else PACK_BASE, f"{cmd}_dir_check")
    assert files and all((files_dir / f"{cmd}_dir_check" / f).exists() for f in files)


def test_stream_is_informational_and_gives_the_same_rows(files_dir):
    base = copy.deepcopy(PACK_BASE)
    a = _run(files_dir, "simulate", base, "stream_off")
    base["output"]["stream"] = True
    b = _run(files_dir, "simulate", base, "stream_on")
    assert not _differs(a, b)
