"""Sweeps: many pack scenarios, each task a batch of packs simulated in one call, run on a local
process pool or a Dask distributed cluster; resumable, retrying, reproducible.

What a sweep is
---------------
A list of :class:`SweepTask` s. A task is one scenario (cell type, layout, cell-to-cell
:class:`~cellbalance.pack.variation.Variation`, experiment, balancing design, ambient) and a block
of ``n_packs`` packs of it; :func:`run_task` draws the cells of those packs and simulates them in
one call to :func:`cellbalance.sim.simulate` (vectorised over packs), then turns the result into
one row per pack with a ``metrics`` function (``(Dataset, SampledPack) -> {name: array over
packs}``; the standard one is :func:`cellbalance.analysis.sweep.pack_metrics`).

Reproducible whatever runs it
-----------------------------
Task ``k`` of a sweep with seed ``s`` draws its cells from ``SeedSequence(s, spawn_key=(0, k))``,
which is what ``SeedSequence(s).spawn(2)[0].spawn(n)[k]`` returns (NumPy's documented spawning),
so a task's draws do not depend on which worker runs it, in which order, or how many workers there
are; scenario ``j``'s random parameters come from ``spawn_key=(1, j)`` (:func:`scenario_rng`). The numba kernels give the same numbers on 1 or 2 threads (blocks of cells
are fixed, ``tests/sim/test_slots.py``), so the table is bit-identical for any worker count and
for both backends (``tests/studies/test_sweep.py``).

Nothing lost
------------
The driver (this process) writes each finished task's rows to ``chunks/task-NNNNNN.parquet``
under a temporary name and renames it into place (``os.replace``: atomic on POSIX), so a chunk file
is either complete or absent; a sweep killed at any point (SIGKILL included) resumes with the same
call and computes only the tasks without a chunk. ``manifest.json`` holds the sweep's fingerprint
(a hash of its tasks and seed); resuming into a directory of a different sweep is refused. A task
that raises is submitted once more; if it fails again it is reported (:class:`SweepOutcome`
``failed``: index, parameters, error) while the others complete. The final table is written only
when every task has a chunk.

Backends
--------
``scheduler=None``: a :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start
method. Chosen over a Dask ``LocalCluster`` for the default because it needs no scheduler process
and no network port, starts faster, and ``spawn`` (not ``fork``) keeps numba's thread pool and
any open files of the parent out of the workers. ``scheduler="tcp://host:port"``: the same tasks
through a ``distributed.Client`` (the workers need cellbalance installed; results come back to the
driver, which alone writes files, so the workers need no shared file system). Both are driven by
the same loop (submit, wait for the first completed, retry), so retries and results are the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..cell import CellParameters
from ..errors import ConfigError, ResourceError
from ..pack.layout import PackLayout
from ..pack.variation import Variation, sample
from ..scenarios.experiment import Experiment
from ..sim import SimulationOptions, simulate
from .compare import Design

__all__ = ["PackScenario", "SweepOutcome", "SweepTask", "cells_seed", "connect_scheduler", "run_sweep", "run_task",
           "scenario_rng", "task_seed_sequence"]

CHUNK_DIR = "chunks"
MANIFEST = "manifest.json"
#: how many times a task is run at most (the first try and one retry)
MAX_ATTEMPTS = 2


def task_seed_sequence(seed: int, index: int) -> np.random.SeedSequence:
    """The seed sequence of task ``index``'s cell draws: ``SeedSequence(seed).spawn(2)[0].spawn(n)[index]``
    built directly (independent of the other tasks)."""
    return np.random.SeedSequence(seed, spawn_key=(0, int(index)))


def scenario_rng(seed: int, scenario: int) -> np.random.Generator:
    """The generator of scenario ``scenario``'s random parameters (the sweep's second child stream)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, int(scenario))))


def cells_seed(seed: int, index: int) -> int:
    """The seed of task ``index``'s cell draws, as the 128-bit integer that
    :func:`cellbalance.pack.variation.sample` takes."""
    words = task_seed_sequence(seed, index).generate_state(4, np.uint32)
    return int(sum(int(w) << (32 * i) for i, w in enumerate(words)))


@dataclass(frozen=True)
class PackScenario:
    """Everything one pack batch needs except its size and seed (all picklable, no registry look-ups)."""

    params: CellParameters
    experiment: Experiment
    n_series: int = 1
    n_parallel: int = 1
    interconnect_ohm: float = 0.0
    variation: Variation = field(default_factory=Variation)
    design: Design = field(default_factory=Design)
    mean_soc: float | None = None
    ambient_K: float | None = None
    temperature_K: float | None = None
    mean_hysteresis: float = 0.0
    options: SimulationOptions = field(default_factory=SimulationOptions)

    def run(self, n_packs: int, seed: int):
        """Draw ``n_packs`` packs with ``seed`` and simulate them in one call: ``(Dataset, SampledPack)``."""
        lay = PackLayout(self.n_series, self.n_parallel, n_packs, self.interconnect_ohm)
        sp = sample(self.variation, self.params, lay, seed=seed, mean_soc=self.mean_soc, ambient_K=self.ambient_K,
                    temperature_K=self.temperature_K, mean_hysteresis=self.mean_hysteresis)
        d = self.design
        ds = simulate(sp.cells, self.experiment, layout=lay, state=sp.initial_state, ambient_K=sp.ambient_K,
                      balancer=d.balancer, controller=d.controller, estimator=d.estimator, sensors=d.sensors,
                      supervisor=d.supervisor, options=self.options)
        return ds, sp


@dataclass(frozen=True)
class SweepTask:
    """Task ``index``: packs ``first_pack .. first_pack + n_packs - 1`` of scenario ``scenario_id``.

    ``params``: the swept values of this scenario (grid and random draws), as the table shows them.
    """

    index: int
    scenario_id: int
    first_pack: int
    n_packs: int
    params: Mapping[str, Any]
    scenario: PackScenario


def run_task(task: SweepTask, metrics: Callable, seed: int, threads: int | None = None) -> pd.DataFrame:
    """Simulate one task and return its rows: ``task``, ``scenario``, ``pack``, the parameters, the metrics.

    ``threads``: numba threads for this call (a worker of a pool of ``w`` on ``c`` cores: ``c // w``).
    """
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    ds, sp = task.scenario.run(task.n_packs, cells_seed(seed, task.index))
    m = metrics(ds, sp)
    n = task.n_packs
    cols: dict[str, Any] = {"task": np.full(n, task.index, np.int64), "scenario": np.full(n, task.scenario_id, np.int64),
                            "pack": np.arange(task.first_pack, task.first_pack + n, dtype=np.int64)}
    for k, v in task.params.items():
        cols[k] = [v] * n
    for k, v in m.items():
        a = np.asarray(v)
        if a.shape != (n,):
            raise ConfigError(f"sweep metrics: {k!r} has shape {a.shape}; expected one value per pack ({n},).")
        cols[k] = a
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class SweepOutcome:
    """What :func:`run_sweep` did.

    table : the rows of every finished task (sorted by task and pack); complete only if ``failed`` is empty
    failed : ``[{"task", "scenario", "params", "error"}]`` of the tasks that failed twice
    computed : indices of the tasks computed by this call (the others were already on disk)
    reused : indices of the tasks whose chunks were found on disk
    """

    table: pd.DataFrame
    failed: list[dict]
    computed: list[int]
    reused: list[int]

    @property
    def complete(self) -> bool:
        return not self.failed


def fingerprint(tasks: Sequence[SweepTask], seed: int, metrics: Callable, key: str | None = None) -> str:
    """A hash of what determines the results: the seed, the metrics function, the package version, each
    task's place and parameters, and ``key`` (the configuration text that built the scenarios); without a
    key, the pickled scenarios (stable within one Python version)."""
    from ..sim.results import _version

    __version__ = _version()

    h = hashlib.sha256()
    h.update(f"{__version__}|{seed}|{getattr(metrics, '__module__', '')}."
             f"{getattr(metrics, '__qualname__', repr(metrics))}".encode())
    for t in tasks:
        h.update(json.dumps([t.index, t.scenario_id, t.first_pack, t.n_packs, dict(t.params)], default=str).encode())
        if key is None:
            h.update(pickle.dumps(t.scenario, protocol=4))
    if key is not None:
        h.update(key.encode())
    return h.hexdigest()


def chunk_path(out_dir: Path, index: int) -> Path:
    return Path(out_dir) / CHUNK_DIR / f"task-{index:06d}.parquet"


def _atomic_write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _read_chunk(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_parquet(path)
    except Exception:  # a damaged file (not written by the atomic rename): compute the task again
        return None


def prepare_sweep_dir(out_dir: Path, fp: str, n_tasks: int, info: Mapping[str, Any]) -> None:
    """Create ``out_dir/chunks`` and the manifest, or check that an existing one is this sweep's."""
    out = Path(out_dir)
    man = out / MANIFEST
    if man.exists():
        try:
            old = json.loads(man.read_text())
        except (OSError, ValueError):
            old = {}
        if old.get("fingerprint") != fp:
            raise ConfigError(f"{out}: holds the chunks of a different sweep (its manifest's fingerprint "
                              f"{str(old.get('fingerprint'))[:12]} is not this sweep's {fp[:12]}: another config, "
                              "seed or version); give another output directory or delete that one.")
    try:
        (out / CHUNK_DIR).mkdir(parents=True, exist_ok=True)
        if not man.exists():
            tmp = man.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"fingerprint": fp, "n_tasks": n_tasks, **info}, indent=1, default=str))
            os.replace(tmp, man)
    except OSError as e:
        raise ResourceError(f"{out}: cannot write the sweep's chunks there ({e.strerror or e}).") from None


def connect_scheduler(address: str, timeout_s: float = 10.0):
    """A ``distributed.Client`` on ``address``, or one :class:`ConfigError` if it cannot be reached."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - a dependency of the package
        raise ConfigError("--scheduler needs dask.distributed (pip install 'dask[distributed]').") from None
    try:
        return Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        raise ConfigError(f"--scheduler {address!r}: cannot reach a Dask scheduler there within {timeout_s:g} s "
                          f"({type(e).__name__}: {e}); start one (dask scheduler) or give its tcp://host:port.") from None


class _LocalBackend:
    def __init__(self, workers: int):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers
        self._make = lambda: ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        self.pool = self._make()

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def wait(self, futures):
        from concurrent.futures import FIRST_COMPLETED, wait

        return wait(futures, return_when=FIRST_COMPLETED)[0]

    def broken(self, exc: BaseException) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(exc, BrokenProcessPool):  # a worker died (e.g. killed): start a new pool
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._make()
            return True
        return False

    def close(self, wait: bool = True):
        self.pool.shutdown(wait=wait, cancel_futures=True)


class _DaskBackend:
    def __init__(self, client):
        self.client = client
        self.workers = max(1, len(client.scheduler_info().get("workers", {})))
        self._n = 0

    def submit(self, fn, *args):
        self._n += 1
        return self.client.submit(fn, *args, pure=False, retries=0, key=f"cellbalance-sweep-{os.getpid()}-{self._n}")

    def wait(self, futures):
        from distributed import wait

        return wait(list(futures), return_when="FIRST_COMPLETED").done

    def broken(self, exc: BaseException) -> bool:
        return False

    def close(self, wait: bool = True):
        pass


class _SerialFuture:
    def __init__(self, fn, args):
        self._res = self._exc = None
        try:
            self._res = fn(*args)
        except Exception as e:
            self._exc = e

    def result(self):
        if self._exc is not None:
            raise self._exc
        return self._res


class _SerialBackend:
    workers = 1

    def submit(self, fn, *args):
        return _SerialFuture(fn, args)

    def wait(self, futures):
        return {next(iter(futures))}

    def broken(self, exc):
        return False

    def close(self, wait: bool = True):
        pass


def run_sweep(tasks: Sequence[SweepTask], out_dir: str | Path, *, metrics: Callable, seed: int = 0,
              workers: int | None = None, scheduler: str | Any | None = None, threads_per_task: int | None = None,
              info: Mapping[str, Any] | None = None, key: str | None = None,
              progress: Callable[[int, int, int], None] | None = None) -> SweepOutcome:
    """Run (or resume) ``tasks``; every finished task's rows land in ``out_dir/chunks`` as it finishes.

    workers : local processes (default: the CPU count); ``0`` runs in this process (no pool)
    scheduler : None (local pool), a Dask scheduler address, or a ``distributed.Client``
    threads_per_task : numba threads inside a task (default: CPU count // workers locally, 1 on Dask)
    info : extra entries for the manifest (e.g. the configuration text)
    key : text identifying the scenarios (the configuration) for the resume check (:func:`fingerprint`)
    progress : ``progress(done, total, failed)`` after each task (done counts reused chunks)
    """
    tasks = list(tasks)
    if not tasks:
        raise ConfigError("run_sweep: the sweep has no tasks.")
    idx = [t.index for t in tasks]
    if len(set(idx)) != len(idx):
        raise ConfigError("run_sweep: task indices must be unique.")
    if workers is not None and workers < 0:
        raise ConfigError(f"run_sweep: workers must be >= 0; got {workers}.")
    out = Path(out_dir)
    client = None
    if scheduler is not None:
        client = connect_scheduler(scheduler) if isinstance(scheduler, str) else scheduler
    try:
        fp = fingerprint(tasks, seed, metrics, key)
        prepare_sweep_dir(out, fp, len(tasks), dict(info or {}))
        done: dict[int, pd.DataFrame] = {}
        for t in tasks:
            p = chunk_path(out, t.index)
            if p.exists():
                df = _read_chunk(p)
                if df is not None:
                    done[t.index] = df
        reused = sorted(done)
        todo = [t for t in tasks if t.index not in done]
        ncpu = os.cpu_count() or 1
        if client is not None:
            backend = _DaskBackend(client)
            threads = threads_per_task or 1
        elif workers == 0:
            backend = _SerialBackend()
            threads = threads_per_task
        else:
            w = min(workers or ncpu, max(1, len(todo)))
            backend = _LocalBackend(w)
            threads = threads_per_task or max(1, ncpu // w)
        failed: list[dict] = []
        computed: list[int] = []
        total = len(tasks)
        if progress is not None:
            progress(len(done), total, 0)
        try:
            attempts = dict.fromkeys((t.index for t in todo), 0)
            queue = list(todo)
            inflight: dict[Any, SweepTask] = {}
            limit = 2 * backend.workers + 1
            while queue or inflight:
                while queue and len(inflight) < limit:
                    t = queue.pop(0)
                    attempts[t.index] += 1
                    inflight[backend.submit(run_task, t, metrics, seed, threads)] = t
                for fut in backend.wait(set(inflight)):
                    t = inflight.pop(fut)
                    try:
                        df = fut.result()
                    except Exception as e:
                        if backend.broken(e):  # the pool was replaced: resubmit what was in flight
                            for other in inflight.values():
                                attempts[other.index] -= 1  # not their failure
                            queue = [*inflight.values(), *queue]
                            inflight.clear()
                        if attempts[t.index] < MAX_ATTEMPTS:
                            queue.insert(0, t)
                        else:
                            failed.append({"task": t.index, "scenario": t.scenario_id, "params": dict(t.params),
                                           "error": f"{type(e).__name__}: {e}"})
                            if progress is not None:
                                progress(len(done), total, len(failed))
                        continue
                    _atomic_write_parquet(df, chunk_path(out, t.index))
                    done[t.index] = df
                    computed.append(t.index)
                    if progress is not None:
                        progress(len(done), total, len(failed))
        except BaseException:  # interrupted: do not wait for the running tasks (their chunks are not needed)
            backend.close(wait=False)
            raise
        else:
            backend.close()
    finally:
        if client is not None and isinstance(scheduler, str):
            client.close()
    frames = [done[i] for i in sorted(done)]
    table = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame())
    return SweepOutcome(table=table, failed=sorted(failed, key=lambda f: f["task"]), computed=sorted(computed),
                        reused=reused)
