"""The reference of the TOML configuration keys, generated from the pydantic models.

:func:`config_reference` walks :class:`~cellbalance.io.config.CellRunConfig` and
:class:`~cellbalance.io.config.PackRunConfig` (and the ``[balancing]`` / ``[compare]`` models) and
writes one Markdown table per section: every key with its type, unit, allowed range and default.
``docs/config-reference.md`` is this text (``cellbalance config-reference --out
docs/config-reference.md``); a test regenerates it and compares, so the document cannot drift from
the models. Units are the ``[unit]`` in a field's description (``[1]``: dimensionless).
"""

from __future__ import annotations

import functools
import operator
import re
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["config_reference", "write_config_reference"]

_UNIT = re.compile(r"\[([^\[\]]+)\]")

_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "length >="),
           ("max_length", "length <="), ("pattern", "matches"))


def _strip_none(ann) -> tuple[object, bool]:
    """(the annotation without ``None``, whether None is allowed)."""
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) < len(typing.get_args(ann)):
            return (args[0] if len(args) == 1 else functools.reduce(operator.or_, args)), True
    return ann, False


def _model_of(ann) -> type[BaseModel] | None:
    ann, _ = _strip_none(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    if typing.get_origin(ann) is list:
        (arg,) = typing.get_args(ann)
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _type_name(ann) -> str:
    ann, optional = _strip_none(ann)
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        name = "string"
    elif origin is list:
        (arg,) = typing.get_args(ann)
        name = f"array of {'tables' if _model_of(arg) else _type_name(arg)}"
    elif origin is dict or ann is dict:
        name = "table"
    elif isinstance(ann, type) and issubclass(ann, BaseModel):
        name = "table"
    else:
        name = {int: "integer", float: "float", str: "string", bool: "boolean"}.get(ann, str(ann))
    return name + (" or unset" if optional else "")


def _allowed(f: FieldInfo) -> str:
    ann, _ = _strip_none(f.annotation)
    if typing.get_origin(ann) is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in typing.get_args(ann))
    parts = []
    for m in f.metadata:
        for attr, sym in _BOUNDS:
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sym} `{v}`" if attr == "pattern" else f"{sym} {v}" if isinstance(v, int) else
                             f"{sym} {v:g}")
    return ", ".join(parts) or "any"


def _default(f: FieldInfo) -> str:
    if f.is_required():
        return "required"
    v = f.get_default(call_default_factory=True)
    if isinstance(v, BaseModel):
        return "(table below)"
    if v is None:
        return "unset"
    if isinstance(v, bool):
        return "`true`" if v else "`false`"
    if isinstance(v, dict | list) and not v:
        return "empty"
    return f"`{v!r}`" if isinstance(v, str) else f"`{v}`"


def _unit(f: FieldInfo) -> str:
    ann, _ = _strip_none(f.annotation)
    if ann not in (int, float):
        return ""
    m = _UNIT.search(f.description or "")
    return m.group(1) if m else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(title: str, model: type[BaseModel], out: list[str], nested: list, about: str | None = None) -> None:
    out += [f"### `{title}`", ""]
    doc = (model.__doc__ or "").strip().split("\n\n")[0]
    for text in (about, doc):
        if text:
            out += [" ".join(text.split()), ""]
    out += ["| key | type | unit | allowed | default | description |", "| --- | --- | --- | --- | --- | --- |"]
    for key, f in model.model_fields.items():
        out.append("| " + " | ".join(_cell(x) for x in (
            f"`{key}`", _type_name(f.annotation), _unit(f) or "-", _allowed(f), _default(f), f.description or "")) + " |")
        sub = _model_of(f.annotation)
        if sub is not None:
            is_list = typing.get_origin(_strip_none(f.annotation)[0]) is list
            nested.append((f"[{title.strip('[]')}.{key}]" if not is_list else f"[[{title.strip('[]')}.{key}]]", sub,
                           f.description))
    out.append("")


def _walk(root_title: str, model: type[BaseModel], out: list[str]) -> None:
    """The top-level keys, then each table (depth first, in field order)."""
    out += [f"### {root_title}: top-level keys", "", "| key | type | unit | allowed | default | description |",
            "| --- | --- | --- | --- | --- | --- |"]
    tables = []
    for key, f in model.model_fields.items():
        sub = _model_of(f.annotation)
        if sub is None and typing.get_origin(_strip_none(f.annotation)[0]) is not dict:
            out.append("| " + " | ".join(_cell(x) for x in (
                f"`{key}`", _type_name(f.annotation), _unit(f) or "-", _allowed(f), _default(f),
                f.description or "")) + " |")
        elif sub is not None:
            tables.append((f"[{key}]", sub, f))
        else:
            tables.append((f"[{key}]", None, f))
    out.append("")
    for title, sub, f in tables:
        if sub is None:
            out += _free_table(title, f)
            continue
        stack = [(title, sub, f.description)]
        while stack:
            t, m, about = stack.pop(0)
            nested: list = []
            _section(t, m, out, nested, about)
            stack = nested + stack


def _free_table(title: str, f: FieldInfo) -> list[str]:
    """``[variation]`` and ``[profiles]``: tables whose keys are names, not fields."""
    if title == "[variation]":
        import dataclasses

        from ..pack.variation import QUANTITIES, Distribution, available_presets

        dist = ", ".join(f"`{x.name}`" for x in dataclasses.fields(Distribution))
        rows = [f"### `{title}`", "", f"{f.description or ''}: start from a preset and change single quantities, e.g. "
                "`{preset = \"typical\", capacity = {sigma = 0.01}}`.", "",
                "| key | type | unit | allowed | default | description |", "| --- | --- | --- | --- | --- | --- |",
                "| `preset` | string | - | one of " + ", ".join(f"`{p}`" for p in available_presets())
                + " | `none` | the starting point (`cellbalance list presets`) |"]
        for q in QUANTITIES:
            what = ("an offset from the mean [1]" if q.startswith("initial_") else
                    "a multiplier of the efficiency deficit 1 - eta (mean 1) [1]" if q == "coulombic_efficiency" else
                    "a multiplier of the parameter set's value (mean 1) [1]")
            rows.append(f"| `{q}` | table | - | keys {dist} | the preset's | distribution of `{q}`, {what} |")
        rows += ["| `coolant_gradient_K` | float | K | any | the preset's | ambient rise from the first to the last "
                 "series element |", ""]
        return rows
    if title == "[profiles]":
        from .config import ProfileSpec

        out: list[str] = [f"### `{title}`", "", "Each key is a cycle name usable in `Run NAME` steps; its value "
                          "is a table with the keys of `[profiles.NAME]` below.", ""]
        _section("[profiles.NAME]", ProfileSpec, out, [])
        return out
    return [f"### `{title}`", "", f.description or "", ""]


def config_reference() -> str:
    """The Markdown reference of every key of the ``cellbalance cell`` and ``simulate`` / ``compare``
    configuration files."""
    from .config import CellRunConfig, PackRunConfig

    out = ["# Configuration reference", "",
           "Generated from the pydantic models in `src/cellbalance/io/config.py` and "
           "`src/cellbalance/io/balancing_config.py` by `cellbalance config-reference --out "
           "docs/config-reference.md`; a test fails when this file and the models differ. Units: SI inside, "
           "`_C` keys in degrees Celsius, `[1]` dimensionless. A key not given takes its default; an unknown "
           "key is an error.", "",
           "## `cellbalance simulate` and `cellbalance compare` (a pack)", ""]
    _walk("pack file", PackRunConfig, out)
    out += ["## `cellbalance cell` (one cell)", "",
            "The `[cell]`, `[experiment]`, `[initial]` tables are those of the pack file; `[output]` has no "
            "`record_every` or `stream` and writes a CSV by default.", ""]
    _walk("cell file", CellRunConfig, out)
    return "\n".join(out).rstrip() + "\n"


def write_config_reference(path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(config_reference(), encoding="utf-8")
    return p
