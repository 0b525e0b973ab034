"""Streaming a run to NetCDF when the place it streams to goes away mid-run.

A long run streaming to a file must not end in a traceback, nor keep writing into a file that no
longer exists, when its output directory is removed, replaced or made unwritable while it runs.
:func:`guarded_write` (used by :class:`~cellbalance.sim.results.NetCDFRecorder` for each chunk)
checks before each chunk that the file at the path is still the one being written (same device and
inode); if not, or if a write fails, it stops the run with one
:class:`~cellbalance.errors.ResourceError` and keeps the rows already written: a file whose
directory was removed is still open, so its content (synced after every chunk) is copied back to
its path (the directory made again), else to the current directory; the copy says
``truncated = 1``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import ResourceError

__all__ = ["file_identity", "guarded_write"]


def file_identity(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _open_fd_of(identity) -> int | None:
    """A descriptor of this process open on the file with ``identity`` (Linux /proc), else None."""
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            st = os.stat(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == identity:
            return int(fd)
    return None


def _rescue(rec) -> Path | None:
    """Copy the (synced) open file back to its path, or into the current directory; None if not possible."""
    fd = _open_fd_of(rec._identity)
    if fd is None:
        return None
    for target in (rec.path, Path.cwd() / rec.path.name):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(f"/proc/self/fd/{fd}", "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            return target
        except OSError:
            continue
    return None


def _stop(rec, problem: str) -> None:
    rec._stream_failed = True
    kept = None
    if rec._nc is not None:
        try:
            if file_identity(rec.path) != rec._identity:
                kept = _rescue(rec)
            else:
                kept = rec.path
            rec._nc.close()
        except Exception:  # closing a file on a failing disk may fail too; the message below still holds
            pass
        rec._nc = None
    t_end = rec._t_written
    if kept is not None and rec._n_written:
        what = (f"the {rec._n_written:,} rows streamed until t = {t_end:g} s are kept in {kept} (readable, marked "
                "truncated)")
    elif rec._n_written:
        what = f"the {rec._n_written:,} rows streamed until t = {t_end:g} s could not be kept"
    else:
        what = "no rows had been written yet"
    raise ResourceError(f"streaming the results to {rec.path} failed: {problem}. The run stopped; {what}.")


def guarded_write(rec, chunk, write) -> None:
    """``write(chunk)`` for a NetCDFRecorder, stopped cleanly (see the module docstring)."""
    if getattr(rec, "_stream_failed", False):
        return  # already stopped: abort() after the error writes nothing more
    if rec._nc is not None and file_identity(rec.path) != rec._identity:
        _stop(rec, "the file was removed or replaced while the run was writing it (was its directory removed?)")
    try:
        write(chunk)
    except (OSError, RuntimeError) as e:
        _stop(rec, f"{type(e).__name__}: {e}")
    rec._identity = file_identity(rec.path)
    if rec._n_written:
        rec._t_written = float(chunk["time"][-1])
