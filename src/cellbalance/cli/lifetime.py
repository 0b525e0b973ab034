"""``cellbalance lifetime CONFIG.toml``: years of aging, no/passive/active balancing on the same aged pack.

Parses, calls :func:`cellbalance.io.lifetime_config.run_lifetime_config`, writes, prints. The results file
(NetCDF) is rewritten after every simulated year, so an interrupted run (Ctrl-C) keeps the years that were
finished; the table and the figure are then made from them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .compare import frame_table

__all__ = ["run_lifetime_command"]

COLUMNS = [("usable_Ah", "usable [Ah]", "{:.3f}"), ("usable_pct", "usable [% of initial]", "{:.1f}"),
           ("kept_vs_none_Ah", "kept vs first [Ah]", "{:+.3f}"), ("soc_spread_pct", "SOC spread [%]", "{:.2f}"),
           ("capacity_mean_pct", "cell capacity [%]", "{:.1f}"), ("resistance_mean_pct", "cell resistance [%]", "{:.1f}"),
           ("balancing_lost_Wh", "lost to balancing [Wh]", "{:.1f}"), ("moved_Wh", "moved [Wh]", "{:.1f}"),
           ("moved_net_Wh", "moved net [Wh]", "{:.1f}"),
           ("eol_years", "end of life [years]", "{:.2f}"), ("eol_date", "end of life", "{}"),
           ("representative_days", "days simulated", "{:d}")]


def _write_nc(ds, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    ds.to_netcdf(tmp)
    os.replace(tmp, path)


def run_lifetime_command(config: Path, out: Path | None, console, err_console) -> list[Path]:
    from ..io.lifetime_config import load_lifetime_config, run_lifetime_config
    from ..io.preflight import prepare_output_dir, writing
    from ..studies.lifetime import lifetime_table, plot_lifetime

    cfg = load_lifetime_config(config)
    out_dir = prepare_output_dir(out or Path(cfg.output.dir))
    nc = out_dir / f"{cfg.output.name}.nc"
    last: dict = {}

    def checkpoint(ds) -> None:
        with writing(nc, "results"):
            _write_nc(ds, nc)
        last["ds"] = ds

    t0 = time.perf_counter()
    interrupted = False
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[years]:.2f} / {task.fields[total_years]:.2f} years (all designs)"),
                  TimeElapsedColumn(), console=err_console, transient=True) as prog:
        task = prog.add_task(f"{len(cfg.design)} designs", total=1.0, years=0.0, total_years=cfg.lifetime.years)

        def progress(done, total):
            prog.update(task, completed=done / total, years=cfg.lifetime.years * done / total)

        try:
            ds = run_lifetime_config(cfg, config.parent, progress=progress, checkpoint=checkpoint)
        except KeyboardInterrupt:
            interrupted = True
            ds = last.get("ds")
    if ds is None:
        err_console.print("[yellow]interrupted[/] before the first year was finished: nothing written.")
        return []
    if interrupted:
        err_console.print(f"[yellow]interrupted[/]: kept the {ds.attrs['completed_years']} finished year(s) in {nc}.")
    else:
        checkpoint(ds)
    tab = lifetime_table(ds)
    title = f"{ds.attrs['layout']}, {ds.attrs['aging_model']}: after {float(ds.year.values[-1]):.2f} years"
    console.print(frame_table(tab, COLUMNS, title))
    console.print(f"{tab.representative_days.sum()} days simulated in full in {time.perf_counter() - t0:.1f} s wall time")
    files = [nc]
    if cfg.output.csv:
        csv = out_dir / f"{cfg.output.name}.csv"
        with writing(csv, "table"):
            tab.to_csv(csv)
        files.append(csv)
    if cfg.output.plot:
        png = out_dir / f"{cfg.output.name}.png"
        with writing(png, "figure"):
            files.append(plot_lifetime(ds, png))
    return files
