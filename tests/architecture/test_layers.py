"""The package's import graph follows the layer order written in docs/architecture.md: no module
imports a layer above its own, and no import circle exists between modules."""

import ast
import re
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "cellbalance"


def layer_order() -> list[set[str]]:
    """The line ``Layer order: a < b, c < ...`` of docs/architecture.md, as a list of sets."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    m = re.search(r"^Layer order[^:]*:\s*`([^`]+)`", text, re.M)
    assert m, "docs/architecture.md must state the layer order as: Layer order ...: `a < b, c < ...`"
    return [{x.strip() for x in part.split(",")} for part in m.group(1).split("<")]


def modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        rel = p.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every cellbalance module that ``name`` imports (module level or inside functions)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("cellbalance")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = base[: len(base) - node.level + 1]
                mod = ".".join(pkg + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("cellbalance"):
                mod = node.module
            else:
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.add(sub if sub in known else mod)
    return {m for m in out if m in known and m != name}


def layer_of(mod: str, order: list[set[str]]) -> int:
    parts = mod.split(".")
    if len(parts) == 1:
        return len(order)  # the package's own __init__: the top
    for k, names in enumerate(order):
        if parts[1] in names:
            return k
    raise AssertionError(f"{mod}: its package {parts[1]!r} is not in the layer order of docs/architecture.md")


def test_every_import_runs_downward():
    order = layer_order()
    known = modules()
    upward = []
    for name, path in known.items():
        for dep in imports(name, path, known):
            if layer_of(dep, order) > layer_of(name, order):
                upward.append(f"{name} imports {dep}")
    assert not upward, "imports that run upward:\n" + "\n".join(sorted(upward))


def test_no_import_circle():
    known = modules()
    g = nx.DiGraph()
    for name, path in known.items():
        for dep in imports(name, path, known):
            # a package's __init__ re-exporting its own submodules is not a circle
            if not dep.startswith(name + "."):
                g.add_edge(name, dep)
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import circles: {cycles[:5]}"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The walk finds function-level and relative imports (the hardware's old lazy import of the loop)."""
    src = tmp_path / "cellbalance" / "balancing"
    src.mkdir(parents=True)
    f = src / "passive.py"
    f.write_text("def f():\n    from ..sim.loop import simulate\n")
    known = {"cellbalance.balancing.passive": f, "cellbalance.sim.loop": tmp_path, "cellbalance.sim": tmp_path}
    deps = imports("cellbalance.balancing.passive", f, known)
    assert deps == {"cellbalance.sim.loop"}
    order = layer_order()
    assert layer_of("cellbalance.sim.loop", order) > layer_of("cellbalance.balancing.passive", order)
