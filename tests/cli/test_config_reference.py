"""docs/config-reference.md is generated from the pydantic models and cannot drift from them."""

import typing
from pathlib import Path

from pydantic import BaseModel
from typer.testing import CliRunner

from cellbalance.cli.app import app
from cellbalance.io.config import CellRunConfig, PackRunConfig
from cellbalance.io.reference import config_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "config-reference.md"

#: numeric keys that are counts or indices (no unit)
COUNTS = {"n_series", "n_parallel", "n_packs", "seed", "record_every", "max_channels"}


def _models(model, seen=None):
    seen = set() if seen is None else seen
    if model in seen:
        return seen
    seen.add(model)
    for f in model.model_fields.values():
        for a in (f.annotation, *typing.get_args(f.annotation),
                  *(x for arg in typing.get_args(f.annotation) for x in typing.get_args(arg))):
            if isinstance(a, type) and issubclass(a, BaseModel):
                _models(a, seen)
    return seen


def test_the_committed_reference_is_the_generated_one():
    assert DOC.read_text(encoding="utf-8") == config_reference(), (
        "docs/config-reference.md is out of date: run `cellbalance config-reference --out docs/config-reference.md`")


def test_the_command_writes_the_same_text(tmp_path):
    r = CliRunner().invoke(app, ["config-reference", "--out", str(tmp_path / "ref.md")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "ref.md").read_text(encoding="utf-8") == config_reference()


def test_every_key_is_listed_and_every_physical_number_has_a_unit():
    doc = config_reference()
    models = _models(PackRunConfig) | _models(CellRunConfig)
    assert len(models) >= 12
    for m in models:
        for key, f in m.model_fields.items():
            assert f"| `{key}` |" in doc or f"[{key}]`" in doc or f".{key}]`" in doc, (m.__name__, key)
            assert f.description, f"{m.__name__}.{key} has no description"
            base = typing.get_args(f.annotation) or (f.annotation,)
            if (float in base or int in base) and key not in COUNTS:
                assert "[" in f.description and "]" in f.description, f"{m.__name__}.{key}: no [unit]"


def test_ranges_and_defaults_come_from_the_models():
    doc = config_reference()
    assert "| `n_series` | integer | - | >= 1, <= 100000 | required |" in doc
    assert "| `period_s` | float | s | > 0, <= 3600 | `1.0` |" in doc
    assert "| `hardware` | string | - | one of `none`, `passive`, `active`, `both` | `'passive'` |" in doc
