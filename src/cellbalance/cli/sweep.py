"""``cellbalance sweep CONFIG.toml``: Monte Carlo and grid sweeps on a local pool or a Dask cluster."""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table as RichTable

__all__ = ["run_sweep_command"]


def run_sweep_command(config: Path, out: Path | None, workers: int | None, scheduler: str | None, report: bool,
                      console, err_console) -> int:
    """Validate, run (or resume), write; returns the exit code (0 complete, 1 some tasks failed).
    Bad input raises a CellBalanceError before any output is written."""
    from ..io.preflight import prepare_output_dir
    from ..io.sweep import load_sweep, write_sweep_outputs
    from ..studies.sweep import connect_scheduler, run_sweep

    run = load_sweep(config)
    sec = run.section
    client = connect_scheduler(scheduler) if scheduler else None
    try:
        out_dir = prepare_output_dir(out or Path(run.base.output.dir))
        name = run.base.output.name
        n_tasks = len(run.tasks)
        n_sc = run.tasks[-1].scenario_id + 1
        where = f"Dask scheduler {scheduler}" if client is not None else (
            "this process" if (workers if workers is not None else sec.workers) == 0 else
            f"{workers or sec.workers or 'all'} local worker(s)")
        err_console.print(f"sweep: {n_sc} scenario(s) x {run.base.pack.n_packs} pack(s) = {n_tasks} task(s) "
                          f"on {where}; chunks in {out_dir / 'chunks'}")
        start = time.perf_counter()
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("tasks"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                      console=err_console, transient=False) as prog:
            bar = prog.add_task("sweep", total=n_tasks)

            def progress(done, total, failed):
                prog.update(bar, completed=done, description=f"sweep ({failed} failed)" if failed else "sweep")

            res = run_sweep(run.tasks, out_dir, metrics=_metrics(), seed=run.seed,
                            workers=workers if workers is not None else sec.workers,
                            scheduler=client, threads_per_task=sec.threads_per_task, key=run.key,
                            info={"config_file": str(config)}, progress=progress)
        wall = time.perf_counter() - start
    finally:
        if client is not None:
            client.close()
    console.print(f"{len(res.computed)} task(s) computed, {len(res.reused)} found on disk (resumed), "
                  f"{len(res.failed)} failed; {wall:.1f} s wall time")
    if res.failed:
        tab = RichTable(title=f"{len(res.failed)} failed task(s) (each tried twice)")
        for c in ("task", "scenario", "parameters", "error"):
            tab.add_column(c)
        for f in res.failed:
            tab.add_row(str(f["task"]), str(f["scenario"]), escape(json.dumps(f["params"], default=str)),
                        escape(f["error"][:300]))
        console.print(tab)
        failed_file = out_dir / f"{name}_failed.json"
        failed_file.write_text(json.dumps(res.failed, indent=1, default=str))
        err_console.print(f"[bold red]sweep incomplete:[/] tasks {', '.join(str(f['task']) for f in res.failed)} "
                          f"failed; the {len(res.reused) + len(res.computed)} finished task(s) are kept in "
                          f"{escape(str(out_dir / 'chunks'))}; no results table was written. Details: "
                          f"{escape(str(failed_file))}; rerun the same command to retry the failed tasks.")
        return 1
    stale = out_dir / f"{name}_failed.json"
    if stale.exists():
        stale.unlink()
    files = write_sweep_outputs(run, res.table, out_dir)
    _print_sensitivity(console, files[0].parent / f"{name}_sensitivity.csv", sec.metric)
    if report:
        from ..io.report import write_report

        files.append(write_report(files[0], out_dir / f"{name}_report.html"))
    for f in files:
        console.print(f"wrote {f}")
    return 0


def _metrics():
    from ..analysis.sweep import pack_metrics

    return pack_metrics


def _print_sensitivity(console, path: Path, metric: str) -> None:
    import pandas as pd

    df = pd.read_csv(path)
    tab = RichTable(title=f"Sensitivity of {metric}")
    for c, head in (("parameter", "parameter"), ("spearman_rho", "Spearman rho"), ("p_value", "p-value"),
                    ("eta2", "eta^2 (variance share)"), ("levels", "values")):
        tab.add_column(escape(head), justify="left" if c == "parameter" else "right")
    for _, r in df.iterrows():
        tab.add_row(escape(str(r["parameter"])), *[("-" if pd.isna(r[c]) else f"{r[c]:.3g}")
                                                    for c in ("spearman_rho", "p_value", "eta2")], str(r["levels"]))
    if not len(df):
        tab.add_row("(no parameter varies)", "-", "-", "-", "-")
    console.print(tab)
