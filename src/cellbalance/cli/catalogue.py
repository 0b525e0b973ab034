"""``cellbalance list KIND``: what the package offers by name, each with one line and its source.

The rows are read from the registries themselves (parameter sets, drive cycles, variation presets,
topologies, controllers), so a name added to a registry is listed without touching this module.
"""

from __future__ import annotations

import inspect
import re

__all__ = ["KINDS", "catalogue"]


def _first_sentence(obj) -> str:
    """The first sentence of ``obj``'s docstring, on one line."""
    doc = inspect.getdoc(obj) or ""
    para = " ".join(doc.split("\n\n")[0].split())
    m = re.search(r"(?<!\.)\.\s", para)  # a full stop, not an ellipsis
    return para if m is None else para[: m.start() + 1]


def _where(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__} (docstring: law, defaults and references)"


def _parameter_sets() -> list[tuple[str, str, str]]:
    from ..cell.parameter_sets import _SETS, available, get_parameter_set

    rows = []
    for name in available():
        p = get_parameter_set(name)
        rows.append((name, _first_sentence(_SETS[name]), p.source))
    return rows


def _cycles() -> list[tuple[str, str, str]]:
    from ..scenarios.profiles import available_drive_cycles, load_drive_cycle

    rows = []
    for name in available_drive_cycles():
        c = load_drive_cycle(name)
        unit = "A" if c.kind == "current_A" else "W"
        span = float(c.time_s[-1] - c.time_s[0])
        desc = (f"{c.kind} profile, {span:,.0f} s, {float(c.values.min()):.4g} .. {float(c.values.max()):.4g} {unit} "
                "(positive = charging)")
        rows.append((name, desc, c.source or "registered by the user"))
    return rows


def _presets() -> list[tuple[str, str, str]]:
    from ..pack.variation import available_presets, preset

    src = {"none": "no variation",
           "tight": "capacity and R0 spreads of one production lot: Wildfeuer & Lienkamp, eTransportation 2021; "
                    "the rest our choice (cellbalance.pack.variation docstring)",
           "typical": "our choice: twice the single-lot spreads of Wildfeuer & Lienkamp 2021 "
                      "(cellbalance.pack.variation docstring)",
           "second_life": "our choice, not a measurement (cellbalance.pack.variation docstring)"}
    src["aged"] = "alias of second_life: " + src["second_life"]
    rows = []
    for name in available_presets():
        v = preset(name)
        desc = (f"sigma capacity {v.capacity.sigma:.1%}, R0 {v.r0.sigma:.1%}, initial SOC {v.initial_soc.sigma:g}, "
                f"self-discharge {v.self_discharge.sigma:.0%} ({v.self_discharge.kind}), "
                f"coolant gradient {v.coolant_gradient_K:g} K")
        rows.append((name, desc, src.get(name, "cellbalance.pack.variation")))
    return rows


def _topologies() -> list[tuple[str, str, str]]:
    from ..balancing.topologies import _REGISTRY, available_topologies

    return [(name, _first_sentence(_REGISTRY[name]), _where(_REGISTRY[name])) for name in available_topologies()]


def _controllers() -> list[tuple[str, str, str]]:
    from ..control.registry import _REGISTRY, available_controllers

    return [(name, _first_sentence(_REGISTRY[name]), _where(_REGISTRY[name])) for name in available_controllers()]


#: ``cellbalance list`` kinds -> (what the rows are, their builder)
KINDS = {
    "parameter-sets": ("cell parameter sets ([cell] parameter_set)", _parameter_sets),
    "cycles": ("drive cycles ('Run NAME' steps)", _cycles),
    "presets": ("cell-to-cell variation presets ([variation] preset)", _presets),
    "topologies": ("balancing topologies ([balancing.active] topology)", _topologies),
    "controllers": ("balancing controllers ([balancing] controller)", _controllers),
}


def catalogue(kind: str) -> tuple[str, list[tuple[str, str, str]]]:
    """(title, rows of (name, description, source)) for one of :data:`KINDS`."""
    from ..errors import UnknownNameError

    if kind not in KINDS:
        raise UnknownNameError(f"cellbalance list: unknown kind {kind!r}; allowed: {', '.join(KINDS)}.")
    title, build = KINDS[kind]
    return title, build()
