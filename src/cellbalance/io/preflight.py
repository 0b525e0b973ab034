"""Output locations checked before a run starts: created, writable, room for what the run will write.

A long run must never fail at its end because its directory cannot be made, is not writable, is a
file, or the disk is full: :func:`prepare_output_dir` and :func:`prepare_output_file` find that out
first and raise one :class:`~cellbalance.errors.ResourceError` naming the place and what to change.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import ResourceError
from ..sim.memory import fmt_bytes

__all__ = ["prepare_output_dir", "prepare_output_file", "writing"]


def prepare_output_dir(path: str | Path, need_bytes: int = 0, *, what: str = "output directory") -> Path:
    """Create ``path`` (and its parents), check a file can be written in it and that ``need_bytes``
    fit on its disk; returns it. Raises :class:`ResourceError` otherwise."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ResourceError(f"{what} {p}: exists and is not a directory; give a directory (it is created if "
                            "missing).")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResourceError(f"{what} {p}: cannot be created ({e.strerror or e}); give a directory you can "
                            "write to.") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".cellbalance-write-test-", dir=p)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise ResourceError(f"{what} {p}: is not writable ({e.strerror or e}); give a directory you can write "
                            "to.") from None
    if need_bytes > 0:
        free = shutil.disk_usage(p).free
        if need_bytes > free:
            raise ResourceError(f"{what} {p}: the run will write about {fmt_bytes(need_bytes)} but only "
                                f"{fmt_bytes(free)} is free there. Record less often (output.record_every), "
                                "skip the CSV (output.csv = false), simulate fewer cells or a shorter "
                                "experiment, or write elsewhere.")
    return p


def prepare_output_file(path: str | Path, *, what: str = "output file") -> Path:
    """Check that ``path`` can be written: its directory is made and writable, and it is not a directory."""
    p = Path(path)
    if p.is_dir():
        raise ResourceError(f"{what} {p}: is a directory; give a file name (e.g. {p / 'graph.png'}).")
    prepare_output_dir(p.parent if str(p.parent) else Path("."), what=f"the directory of the {what}")
    return p


class writing:
    """Context manager: an OSError while writing ``path`` becomes one :class:`ResourceError` naming it."""

    def __init__(self, path: str | Path, what: str = "results"):
        self.path = Path(path)
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if exc is not None and isinstance(exc, OSError) and not isinstance(exc, ResourceError):
            gone = "" if self.path.parent.is_dir() else " (the directory is gone: was it removed during the run?)"
            raise ResourceError(f"cannot write the {self.what} to {self.path}: {exc.strerror or exc}{gone}.") from None
        return False
