"""The ``cellbalance`` command line: a thin layer over the library (parse, call, write, report)."""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from ..errors import CellBalanceError, CellBalanceWarning
from .calc import register as _register_calc
from .steps import steps_table

# rich_markup_mode=None: help texts are shown as written (with rich markup, "[cell]" and "[s]" were eaten)
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="Design, simulate and verify lithium-ion cell balancing. Current is positive when charging.")
# piped or redirected: no hard wrap at 80 columns (a reader or a log keeps whole lines)
console = Console(width=None if sys.stdout.isatty() else 200, soft_wrap=not sys.stdout.isatty())
err_console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())


def _version_callback(value: bool) -> None:
    if value:
        from ..sim.results import _version

        console.print(f"cellbalance {_version()}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Design, simulate and verify lithium-ion cell balancing. Current is positive when charging."""


def _fail(msg: str) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(msg)}")
    raise typer.Exit(code=2)


def _table(title: str, columns, right: bool = False) -> RichTable:
    """A table whose title and column headers are shown as written ("start [s]" keeps its unit)."""
    from rich.markup import escape

    tab = RichTable(title=escape(title))
    for c in columns:
        tab.add_column(escape(str(c)), justify="right" if right and c != columns[0] else "left")
    return tab


_RUN_ADVICE = "record less often (output.record_every), stream to NetCDF (output.stream = true) or simulate fewer cells"


class _Outputs:
    """What a command has (or will have) on disk, for the message after a Ctrl-C: ``files`` exist or are
    being streamed; a partial run is saved to ``partial_to`` (when set) if it was held in memory."""

    def __init__(self):
        self.files: list[Path] = []
        self.partial_to: Path | None = None
        self.dir: Path | None = None  # a command that writes many files: name the directory


def _interrupted(e: KeyboardInterrupt, out: _Outputs) -> None:
    """Ctrl-C: keep what the run did (the partial Dataset rides on the exception: saved as NetCDF,
    marked partial), say which files are kept, and exit 130."""
    from rich.markup import escape

    ds = getattr(e, "partial", None)
    status = ""
    if ds is not None:
        status = f" ({ds.attrs.get('status', 'partial')})"
        if out.partial_to is not None and out.partial_to not in out.files:
            try:
                from ..io.output import to_netcdf

                out.files.append(to_netcdf(ds, out.partial_to))
            except Exception as w:  # a second failure must not hide the first message
                err_console.print(f"[yellow]interrupted[/]: the partial run could not be saved ({escape(str(w))}).")
    kept = [f for f in dict.fromkeys(out.files) if Path(f).exists()]
    if kept:
        names = ", ".join(escape(str(f)) for f in kept)
        err_console.print(f"[yellow]interrupted[/]{escape(status)}: kept {names} (marked partial: attribute "
                          "status, truncated = 1)." if ds is not None else
                          f"[yellow]interrupted[/]: kept {names}; nothing else was written.")
    elif out.dir is not None:
        err_console.print(f"[yellow]interrupted[/]: the files already written to {escape(str(out.dir))} are kept; "
                          "the run in progress was not saved.")
    else:
        err_console.print("[yellow]interrupted[/] before any file was written; nothing was kept.")
    raise typer.Exit(code=130)


@contextlib.contextmanager
def _guarded(advice: str = _RUN_ADVICE, outputs: _Outputs | None = None):
    """Run a command's body: each cellbalance warning printed once as a ``warning:`` line; a
    CellBalanceError (or running out of memory) becomes one ``error:`` paragraph and exit code 2;
    Ctrl-C keeps the partial run, names the files kept and exits 130."""
    from rich.markup import escape

    seen: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if text not in seen:
            seen.add(text)
            err_console.print(f"[bold yellow]warning:[/] {escape(text)}")

    with warnings.catch_warnings():
        warnings.simplefilter("always", CellBalanceWarning)
        old, warnings.showwarning = warnings.showwarning, show
        try:
            yield outputs
        except CellBalanceError as e:
            _fail(str(e))
        except MemoryError:
            _fail(f"the machine ran out of memory; {advice}.")
        except KeyboardInterrupt as e:
            _interrupted(e, outputs or _Outputs())
        finally:
            warnings.showwarning = old


def _progress_bar():
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                    TextColumn("{task.completed:,.0f} / {task.total:,.0f} s simulated"), TimeElapsedColumn(),
                    console=err_console, transient=True)


def _run_with_progress(label: str, fn):
    with _progress_bar() as prog:
        task = prog.add_task(label, total=1.0)

        def cb(t, total):
            prog.update(task, completed=t, total=max(total, t))

        return fn(cb)


_MAX_TIME_HELP = ("run-length limit in seconds (overrides [simulation].max_time_s; default: the steps' durations "
                  "added up, 30 days for each step without one)")


def _options(cfg, max_time_s: float | None, **kw):
    """SimulationOptions from the config's [simulation] section, --max-time-s taking precedence."""
    from ..sim import SimulationOptions

    limit = max_time_s if max_time_s is not None else cfg.simulation.max_time_s
    return SimulationOptions(max_time_s=limit, **kw)


@app.command()
def cell(config: Path = typer.Argument(..., help="TOML file: [cell], [experiment], [initial], [output]"),
         out: Path | None = typer.Option(None, "--out", help="output directory (overrides [output].dir)"),
         max_time_s: float | None = typer.Option(None, "--max-time-s", min=0.001, help=_MAX_TIME_HELP)):
    """Run a single-cell experiment; write NetCDF, CSV and a PNG plot."""
    from ..io.config import load_cell_config
    from ..io.output import write_results
    from ..io.preflight import prepare_output_dir, writing
    from ..io.runs import build_cell_run
    from ..sim.guards import check_run_size
    from ..sim.memory import estimate_output_bytes

    with _guarded(outputs=_Outputs()) as kept:
        cfg = load_cell_config(config)
        run = build_cell_run(cfg, config.parent)
        p = run.cells.params
        out_dir = out or Path(cfg.output.dir)
        run.options = _options(cfg, max_time_s)
        rows = check_run_size(p, run.layout, run.experiment, run.options, streaming=False, what=str(config))
        prepare_output_dir(out_dir, estimate_output_bytes(1, p.n_rc, 1, rows, csv=cfg.output.csv))
        kept.partial_to = out_dir / f"{cfg.output.name}.nc"
        start = time.perf_counter()
        ds = _run_with_progress("cell", lambda cb: run.simulate(progress=cb))
        wall = time.perf_counter() - start
        with writing(out_dir / f"{cfg.output.name}.nc"):
            files = write_results(ds, out_dir, cfg.output.name, csv=cfg.output.csv, plot=cfg.output.plot)
    console.print(steps_table(ds))
    console.print(f"simulated {float(ds.time[-1]):,.0f} s in {wall:.2f} s wall time")
    for f in files:
        console.print(f"wrote {f}")


@app.command()
def simulate(config: Path = typer.Argument(..., help="TOML file: [cell], [pack], [variation], [experiment], [output]"),
             out: Path | None = typer.Option(None, "--out", help="output directory (overrides [output].dir)"),
             max_time_s: float | None = typer.Option(None, "--max-time-s", min=0.001, help=_MAX_TIME_HELP),
             report: bool = typer.Option(False, "--report", help="also write a self-contained HTML report")):
    """Simulate a pack (or a batch of packs) with cell-to-cell variation; summary table, NetCDF, plots."""
    from ..io.config import load_pack_config
    from ..io.output import to_csv, to_netcdf
    from ..io.preflight import prepare_output_dir, writing
    from ..io.runs import build_pack_run
    from ..sim.guards import check_run_size
    from ..sim.memory import estimate_output_bytes
    from ..sim.results import NetCDFRecorder

    with _guarded(outputs=_Outputs()) as kept:
        cfg = load_pack_config(config)
        p = cfg.parameters(config.parent)
        lay = cfg.layout()
        opts = _options(cfg, max_time_s, record_every=cfg.output.record_every)
        # before anything is drawn or allocated: memory, then the output directory and its free space
        rows = check_run_size(p, lay, cfg.build_experiment(), opts, streaming=cfg.output.stream,
                              what=f"{config}: a run of {lay.n_cells:,} cells")
        out_dir = prepare_output_dir(out or Path(cfg.output.dir),
                                     estimate_output_bytes(lay.n_cells, p.n_rc, lay.n_packs, rows, csv=cfg.output.csv))
        run = build_pack_run(cfg, config.parent)  # the cells drawn with the seed, the balancing design built
        run.options = opts  # (--max-time-s over [simulation])
        sp = run.sampled
        nc_path = out_dir / f"{cfg.output.name}.nc"
        with writing(nc_path):
            rec = NetCDFRecorder(nc_path, sp.cells, lay) if cfg.output.stream else None
        if rec is None:
            kept.partial_to = nc_path
        else:
            kept.files.append(nc_path)  # streamed: the rows written so far, then the events and metadata
        start = time.perf_counter()
        ds = _run_with_progress("pack", lambda cb: run.simulate(progress=cb, recorder=rec))
        wall = time.perf_counter() - start
        with writing(nc_path):
            if rec is None:
                ds.attrs["config"] = config.read_text(encoding="utf-8-sig")  # for 'cellbalance report'
                to_netcdf(ds, nc_path)
            files = [nc_path]
            if cfg.output.csv:
                files.append(to_csv(ds, out_dir / f"{cfg.output.name}.csv"))
            if cfg.output.plot:
                from ..analysis.plots import plot_pack_run

                files += plot_pack_run(ds, out_dir, cfg.output.name)
            if report:
                from ..io.report import write_report

                files.append(write_report(ds, out_dir / f"{cfg.output.name}_report.html",
                                          config_text=config.read_text(encoding="utf-8-sig")))
    console.print(steps_table(ds))
    console.print(_summary_pack(ds, sp))
    console.print(f"simulated {float(ds.time[-1]):,.0f} s of {lay.n_cells:,} cells in {wall:.2f} s wall time")
    for f in files:
        console.print(f"wrote {f}")


@app.command()
def plot(results: Path = typer.Argument(..., help="a results NetCDF written by 'cellbalance simulate' or 'cell'"),
         out: Path | None = typer.Option(None, "--out", help="output directory (default: beside the file)")):
    """The standard figures of a run: SOC spread, cell-voltage fan, temperature map."""
    from ..analysis.plots import plot_pack_run
    from ..io.output import open_results
    from ..io.preflight import prepare_output_dir, writing

    with _guarded():
        ds = open_results(results)
        status = str(ds.attrs.get("status", "complete"))
        if status != "complete" or int(ds.attrs.get("truncated", 0)):
            err_console.print(f"[bold yellow]warning:[/] {escape(str(results))} holds a partial run ({escape(status)}); "
                              "the figures say so in their titles.")
        out_dir = prepare_output_dir(out or results.parent)
        with writing(out_dir / results.stem, "figures"):
            files = plot_pack_run(ds, out_dir, results.stem)
    for f in files:
        console.print(f"wrote {f}")


def _summary_pack(ds, sp) -> RichTable:
    """The metrics of one pack, or of a batch across its packs (mean, spread, worst pack)."""
    import numpy as np

    from ..analysis.metrics import across_packs, summary

    m = summary(ds, sp.capacity_Ah, v_min=sp.cells.params.v_min, v_max=sp.cells.params.v_max)
    n = ds.sizes["pack"]
    if n == 1:
        tab = _table("Pack summary", ("metric", "value"), right=True)
        for k, v in m.items():
            tab.add_row(escape(k), f"{float(np.asarray(v).reshape(-1)[0]):.4g}")
        return tab
    tab = _table(f"Summary across {n} packs", ("metric", "mean", "std", "min", "max", "worst (pack)"), right=True)
    for k, r in across_packs(m).items():
        worst = "-" if r["worst_pack"] < 0 else f"{r['worst']:.4g} (#{r['worst_pack']})"
        tab.add_row(escape(k), *(f"{r[c]:.4g}" for c in ("mean", "std", "min", "max")), worst)
    return tab


@app.command()
def topology(cells: int = typer.Option(96, "--cells", help="series elements in the string"),
             kind: str = typer.Option("all", "--kind", help="a topology name, or 'all' to compare them"),
             weight_A: float = typer.Option(50.0, "--weight", help="per-edge gain [A per unit SOC difference]"),
             capacity_Ah: float = typer.Option(5.0, "--capacity-Ah", help="cell capacity [Ah]"),
             spread: float = typer.Option(0.05, "--spread", help="initial SOC spread (fraction)"),
             target: float = typer.Option(0.005, "--target", help="target SOC spread (fraction)"),
             plot: Path | None = typer.Option(None, "--plot", help="write a picture of the graph (PNG)")):
    """Graph analysis of balancing topologies: edges, lambda_2, predicted balancing time, parts count."""
    from rich.markup import escape

    from ..analysis.graph import PLOT_MAX_CELLS, SPARSE_THRESHOLD, compare_topologies, plot_graph, topology_graph
    from ..balancing.topologies import available_topologies, get_topology
    from ..io.preflight import prepare_output_file, writing

    with _guarded(advice="give fewer --cells or a single --kind"):
        if plot is not None:
            if cells > PLOT_MAX_CELLS:
                _fail(f"--plot draws at most {PLOT_MAX_CELLS:,} cells (a picture of {cells:,} is unreadable); "
                      "leave out --plot or give fewer --cells.")
            prepare_output_file(plot, what="--plot file")
        kinds = available_topologies() if kind == "all" else [kind]
        if kind != "all":
            # validates the name and size with a clear message (the complete graph of a long string is not built)
            get_topology(kind, cells if kind != "complete" or cells <= SPARSE_THRESHOLD else 2)
        df = compare_topologies(cells, weight_A=weight_A, capacity_Ah=capacity_Ah, spread0=spread, target=target,
                                kinds=kinds)
        tab = RichTable(title=f"Balancing topologies for {cells} cells (gain {weight_A:g} A/SOC, {capacity_Ah:g} Ah, "
                              f"spread {spread:.1%} -> {target:.1%})")
        for c in df.columns:
            tab.add_column(escape(str(c)), justify="right" if c != "topology" else "left")
        for _, row in df.iterrows():
            tab.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
        console.print(tab)
        if plot is not None:
            # the same graph and gains as the table (so the title's lambda_2 is the table's)
            g, gain = topology_graph(kinds[0], cells, weight_A=weight_A)
            with writing(plot, "graph picture"):
                console.print(f"wrote {plot_graph(g, plot, gain=gain, unit='A/SOC')}")


@app.command()
def demo(out: Path = typer.Option(Path("out/demo"), "--out", help="output directory")):
    """The embedded default run: no input files needed."""
    from ..cli.demo import run_demo
    from ..io.preflight import prepare_output_dir

    with _guarded(outputs=_Outputs()) as kept:
        kept.dir = out
        prepare_output_dir(out, 200 * 2**20)
        run_demo(out, console, _run_with_progress)


@app.command()
def compare(config: Path = typer.Argument(..., help="pack TOML with [[compare.design]] tables"),
            out: Path | None = typer.Option(None, "--out", help="output directory (overrides [output].dir)"),
            report: bool = typer.Option(False, "--report", help="also write a self-contained HTML report")):
    """Run one pack and scenario under several balancing designs; table, CSV and figure side by side."""
    from .compare import run_compare

    try:
        files = run_compare(config, out, console, _run_with_progress, report=report)
    except CellBalanceError as e:
        _fail(str(e))
    except KeyboardInterrupt as e:
        _interrupted(e, _Outputs())  # the table and figure are written at the end: nothing yet
    for f in files:
        console.print(f"wrote {f}")


@app.command("list")
def list_(kind: str = typer.Argument(..., help="parameter-sets, cycles, presets, topologies or controllers")):
    """List what the package offers by name: each with a one-line description and its source."""
    from rich.markup import escape

    from .catalogue import catalogue

    with _guarded():
        title, rows = catalogue(kind)
    tab = _table(title, ("name", "description", "source"))
    for row in rows:
        tab.add_row(*(escape(x) for x in row))
    console.print(tab)


@app.command("config-reference")
def config_reference(out: Path | None = typer.Option(None, "--out", help="write the Markdown here (default: print it)")):
    """The reference of every configuration key (type, unit, allowed range, default), from the models."""
    from ..io.preflight import prepare_output_file, writing
    from ..io.reference import config_reference as reference
    from ..io.reference import write_config_reference

    with _guarded():
        if out is None:
            sys.stdout.write(reference())
            return
        prepare_output_file(out, what="--out file")
        with writing(out, "config reference"):
            console.print(f"wrote {write_config_reference(out)}")


@app.command()
def lifetime(config: Path = typer.Argument(..., help="TOML file: [cell], [pack], [variation], [aging], [duty], "
                                                   "[lifetime], [[design]], [output]"),
             out: Path | None = typer.Option(None, "--out", help="output directory (overrides [output].dir)")):
    """Years of aging, the balancing designs on the same aged pack: usable capacity, spread, energy, end of life."""
    from .lifetime import run_lifetime_command

    with _guarded():
        files = run_lifetime_command(config, out, console, err_console)
    for f in files:
        console.print(f"wrote {f}")


@app.command()
def sweep(config: Path = typer.Argument(..., help="pack TOML with a [sweep] table ([sweep.grid], [sweep.random])"),
          out: Path | None = typer.Option(None, "--out", help="output directory (overrides [output].dir)"),
          workers: int | None = typer.Option(None, "--workers", help="local worker processes (default: [sweep].workers "
                                             "or the CPU count; 0 runs in this process)"),
          scheduler: str | None = typer.Option(None, "--scheduler", help="a Dask scheduler address (tcp://host:port): "
                                               "run the tasks on that cluster instead of a local pool"),
          report: bool = typer.Option(False, "--report", help="also write a self-contained HTML report")):
    """Monte Carlo / grid sweep: every task a batch of packs; resumable (rerun the same command), retried,
    bit-identical for any number of workers; tidy Parquet table, per-scenario summary, sensitivity."""
    from .sweep import run_sweep_command

    if workers is not None and workers < 0:
        _fail(f"--workers must be >= 0; got {workers}.")
    code = 0
    with _guarded(advice="give fewer packs per task ([sweep].packs_per_task) or record less often "
                         "(output.record_every)"):
        code = run_sweep_command(config, out, workers, scheduler, report, console, err_console)
    if code:
        raise typer.Exit(code=code)


@app.command()
def report(results: Path = typer.Argument(..., help="a results NetCDF (simulate, cell, lifetime) or a sweep's .parquet"),
           out: Path | None = typer.Option(None, "--out", help="the HTML file (default: RESULTS_report.html beside it)")):
    """A self-contained HTML report (figures embedded; opens in a browser with no server and no internet)."""
    from .report import run_report

    with _guarded():
        path = run_report(results, out)
    console.print(f"wrote {path}")


@app.command()
def warmup():
    """Compile the numba kernels now (they are cached on this machine for every later run)."""
    from ..cell import get_parameter_set
    from ..pack import PackLayout
    from ..sim.warmup import warm_up

    total = 0.0
    for name in ("nmc_lg_m50", "ecm_example"):
        p = get_parameter_set(name)
        for lay in (PackLayout(), PackLayout(n_series=96), PackLayout(n_series=128, n_parallel=4)):
            with err_console.status(f"compiling for {name}, {lay.n_series}s{lay.n_parallel}p ..."):
                dt = warm_up(p, lay)
            total += dt
            console.print(f"{name} {lay.n_series}s{lay.n_parallel}p: {dt:.1f} s")
    console.print(f"kernels compiled and cached in {total:.1f} s")


_register_calc(app, _guarded, console)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: files already written are kept.")
        sys.exit(130)


if __name__ == "__main__":
    main()
