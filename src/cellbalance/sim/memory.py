"""What a run will need, estimated before anything is allocated: memory (state, recorded rows,
streaming buffers) and the size of what it writes; compared with what the machine has.

``simulate`` calls :func:`check_run_memory` before its loop; the command line calls it (and
:func:`estimate_output_bytes`) before it even draws the cells, so a pack far too large for the machine
stops at once with one message saying how much it needs and what to change, instead of being killed
by the operating system hours later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..cell import kernels as K
from ..errors import ResourceError, warn

__all__ = ["MemoryEstimate", "available_memory_bytes", "check_run_memory", "estimate_output_bytes",
           "estimate_run_memory", "expected_duration_s", "expected_rows", "fmt_bytes"]

#: a run whose estimate exceeds this fraction of the available memory gets a warning
WARN_FRACTION = 0.6
#: per-cell arrays of the loop besides the state and parameters (currents, look-ups, segment workspace, draws)
_PER_CELL_WORK = 48
#: bytes of one streamed chunk (NetCDFRecorder.max_chunk_bytes) and how many copies exist while it is written
_STREAM_CHUNK = 16 * 2**20
_STREAM_COPIES = 3


def fmt_bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def available_memory_bytes() -> int | None:
    """Memory the run can take without swapping: psutil's ``available`` if psutil is installed, else
    ``MemAvailable`` of /proc/meminfo; None where neither is known."""
    try:
        import psutil  # optional

        return int(psutil.virtual_memory().available)
    except Exception:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def expected_duration_s(experiment, capacity_Ah: float, n_parallel: int, max_time_s: float) -> float:
    """Simulated time the experiment will take, from the steps' durations, else a bound from the
    capacity (a constant current or C-rate step to a voltage lasts at most a full charge at that rate),
    else an hour (power) or two (voltage hold, profile to a condition); at most ``max_time_s``."""
    total = 0.0
    q_As = capacity_Ah * n_parallel * 3600.0
    for s in experiment.steps:
        if s.duration_s is not None:
            d = s.duration_s
        elif s.mode == "c_rate" and s.value != 0:
            d = 1.05 * 3600.0 / abs(s.value)
        elif s.mode == "current" and s.value != 0:
            d = 1.05 * q_As / abs(s.value)
        elif s.mode == "power":
            d = 3600.0
        else:
            d = 7200.0
        total += d
        if total >= max_time_s:
            return float(max_time_s)
    return float(total)


def expected_rows(experiment, capacity_Ah: float, n_parallel: int, max_time_s: float, record_every: int) -> int:
    dur = expected_duration_s(experiment, capacity_Ah, n_parallel, max_time_s)
    rows = dur / experiment.period_s / max(1, record_every)
    return int(math.ceil(min(rows, 2.0**62))) + 2  # a subnormal period gives inf rows: as many as can be


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs: ``state`` (cells, parameters, work arrays), ``recording`` (rows kept in
    memory, including the copy made when the Dataset is built; a streaming run keeps a few chunks)."""

    state: int
    recording: int
    rows: int
    streaming: bool

    @property
    def total(self) -> int:
        return self.state + self.recording


def _row_bytes(n_cells: int, n_rc: int, n_packs: int) -> int:
    return 8 * n_cells * (K.NX + n_rc + 2) + 8 * 8 * n_packs + 8


def estimate_run_memory(n_cells: int, n_rc: int, n_packs: int, rows: int, *, record: bool = True,
                        streaming: bool = False) -> MemoryEstimate:
    nx = K.NX + n_rc
    state = 8 * n_cells * (4 * nx + K.NCP + 2 * n_rc + _PER_CELL_WORK)
    row = _row_bytes(n_cells, n_rc, n_packs)
    if not record:
        rec = 0
    elif streaming:
        rec = _STREAM_COPIES * max(row, min(_STREAM_CHUNK, row * rows))
    else:
        rec = 2 * row * rows  # the rows, and the copy that joins their chunks into the Dataset
    return MemoryEstimate(int(state), int(rec), int(rows), streaming)


def estimate_output_bytes(n_cells: int, n_rc: int, n_packs: int, rows: int, *, csv: bool = False) -> int:
    """Bytes written for ``rows`` recorded rows: NetCDF (zlib, about 1.5x smaller than the raw float64
    rows) and, if asked, the long-format CSV (about 12 characters per value, 7 values per cell and row)."""
    nc = _row_bytes(n_cells, n_rc, n_packs) * rows / 1.5
    return int(nc + (rows * n_cells * 7 * 12 if csv else 0) + 2**20)


def check_run_memory(est: MemoryEstimate, available: int | None = None, *, what: str = "this run") -> None:
    """Raise :class:`ResourceError` if ``est`` exceeds the available memory, warn if it comes near it."""
    avail = available_memory_bytes() if available is None else available
    if avail is None:
        return
    need = est.total
    if need <= WARN_FRACTION * avail:
        return
    parts = f"{fmt_bytes(est.state)} for the cells' state"
    if est.recording:
        parts += (f" and {fmt_bytes(est.recording)} for {'streaming' if est.streaming else 'recording'} "
                  f"about {est.rows:,} rows")
    fixes = []
    if est.recording and not est.streaming:
        fixes += ["record less often (output.record_every / SimulationOptions.record_every)",
                  "stream the rows to NetCDF (output.stream = true / recorder=NetCDFRecorder)"]
    if est.recording:
        fixes.append("record fewer variables (SimulationOptions.record_variables) or in float32")
    fixes.append("simulate fewer cells (n_series, n_parallel, n_packs)")
    advice = "; ".join(fixes)
    if need > avail:
        raise ResourceError(f"{what} needs about {fmt_bytes(need)} of memory ({parts}) but only "
                            f"{fmt_bytes(avail)} is available. To fit: {advice}.")
    warn(f"{what} needs about {fmt_bytes(need)} of memory ({parts}), close to the {fmt_bytes(avail)} "
         f"available; if the machine swaps: {advice}.", stacklevel=3)
