"""The aging package sits in the physics layer: numpy, scipy, the standard library and cellbalance.errors only."""

import ast
import sys
from pathlib import Path

import cellbalance.aging

PKG = Path(cellbalance.aging.__file__).parent


def test_aging_imports_only_numpy_scipy_stdlib_and_errors():
    for path in sorted(PKG.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 1:  # within cellbalance.aging
                    continue
                if node.level == 2:
                    assert node.module == "errors", f"{path.name} imports cellbalance.{node.module}"
                    continue
                assert node.level == 0, f"{path.name}: relative import beyond cellbalance"
                names = [node.module.split(".")[0]]
            else:
                continue
            for name in names:
                assert name in ("numpy", "scipy") or name in sys.stdlib_module_names, f"{path.name} imports {name}"
