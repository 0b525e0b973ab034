"""Importing cellbalance (every submodule) leaves the user's matplotlib backend alone."""

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("matplotlib")

_SCRIPT = textwrap.dedent("""
    import importlib, pkgutil, sys
    import matplotlib
    matplotlib.use(sys.argv[1])
    before = matplotlib.get_backend()
    import cellbalance
    names = [m.name for m in pkgutil.walk_packages(cellbalance.__path__, "cellbalance.")]
    for name in names:
        importlib.import_module(name)
    assert len(names) > 10, names
    after = matplotlib.get_backend()
    print(before, after, len(names))
    sys.exit(0 if after == before else 1)
""")


@pytest.mark.parametrize("backend", ["svg", "pdf"])
def test_import_keeps_backend(backend):
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    r = subprocess.run([sys.executable, "-c", _SCRIPT, backend], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
