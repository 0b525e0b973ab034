"""The ``cellbalance`` command line: a thin layer over the library (parse, call, write, report)."""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from ..errors import CellBalanceError, CellBalanceWarning

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Design, simulate and verify lithium-ion cell balancing. Current is positive when charging.")
console = Console(width=None if sys.stdout.isatty() else 132)
err_console = Console(stderr=True)


def _fail(msg: str) -> None:
    from rich.markup import escape

    err_console.print(f"[bold red]error:[/] {escape(msg)}")
    raise typer.Exit(code=2)


_RUN_ADVICE = "record less often (output.record_every), stream to NetCDF (output.stream = true) or simulate fewer cells"


@contextlib.contextmanager
def _guarded(advice: str = _RUN_ADVICE):
    """Run a command's body: each cellbalance warning printed once as a ``warning:`` line; a
    CellBalanceError (or running out of memory) becomes one ``error:`` paragraph and exit code 2."""
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
            yield
        except CellBalanceError as e:
            _fail(str(e))
        except MemoryError:
            _fail(f"the machine ran out of memory; {advice}.")
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


def _summary_cell(ds) -> RichTable:
    tab = RichTable(title="Steps")
    for col in ("#", "step", "start [s]", "end [s]", "ended by"):
        tab.add_column(col)
    for k in range(ds.sizes.get("event", 0)):
        tab.add_row(str(int(ds.event_step[k])), str(ds.event_description.values[k]),
                    f"{float(ds.event_start_s[k]):.1f}", f"{float(ds.event_end_s[k]):.1f}",
                    str(ds.event_reason.values[k]))
    return tab


@app.command()
def cell(config: Path = typer.Argument(..., help="TOML file: [cell], [experiment], [initial], [output]"),
         out: Path | None = typer.Option(None, "--out", help="output directory (overrides [output].dir)")):
    """Run a single-cell experiment; write NetCDF, CSV and a PNG plot."""
    from ..cell import initial_state
    from ..io.config import KELVIN, load_cell_config
    from ..io.output import write_results
    from ..io.preflight import prepare_output_dir, writing
    from ..pack import PackLayout
    from ..sim import SimulationOptions, simulate
    from ..sim.guards import check_run_size
    from ..sim.memory import estimate_output_bytes

    with _guarded():
        cfg = load_cell_config(config)
        p = cfg.parameters(config.parent)
        cells = p.compile(1)
        t0 = None if cfg.initial.temperature_C is None else cfg.initial.temperature_C + KELVIN
        s0 = initial_state(cells, soc=cfg.initial.soc, temperature_K=t0, hysteresis=cfg.initial.hysteresis)
        exp = cfg.build_experiment()
        out_dir = out or Path(cfg.output.dir)
        rows = check_run_size(p, PackLayout(), exp, SimulationOptions(), streaming=False, what=str(config))
        prepare_output_dir(out_dir, estimate_output_bytes(1, p.n_rc, 1, rows, csv=cfg.output.csv))
        start = time.perf_counter()
        ds = _run_with_progress("cell", lambda cb: simulate(cells, exp, state=s0, progress=cb))
        wall = time.perf_counter() - start
        with writing(out_dir / f"{cfg.output.name}.nc"):
            files = write_results(ds, out_dir, cfg.output.name, csv=cfg.output.csv, plot=cfg.output.plot)
    console.print(_summary_cell(ds))
    console.print(f"simulated {float(ds.time[-1]):,.0f} s in {wall:.2f} s wall time")
    for f in files:
        console.print(f"wrote {f}")


@app.command()
def simulate(config: Path = typer.Argument(..., help="TOML file: [cell], [pack], [variation], [experiment], [output]"),
             out: Path | None = typer.Option(None, "--out", help="output directory (overrides [output].dir)"),
             report: bool = typer.Option(False, "--report", help="also write a self-contained HTML report")):
    """Simulate a pack (or a batch of packs) with cell-to-cell variation; summary table, NetCDF, plots."""
    from ..io.config import KELVIN, load_pack_config
    from ..io.output import to_csv, to_netcdf
    from ..io.preflight import prepare_output_dir, writing
    from ..pack import PackLayout
    from ..pack.variation import Variation, sample
    from ..sim import SimulationOptions
    from ..sim import simulate as run_sim
    from ..sim.guards import check_run_size
    from ..sim.memory import estimate_output_bytes
    from ..sim.results import NetCDFRecorder

    with _guarded():
        cfg = load_pack_config(config)
        p = cfg.parameters(config.parent)
        lay = PackLayout(cfg.pack.n_series, cfg.pack.n_parallel, cfg.pack.n_packs, cfg.pack.interconnect_ohm)
        var = Variation.from_dict(cfg.variation)
        exp = cfg.build_experiment()
        opts = SimulationOptions(record_every=cfg.output.record_every)
        # before anything is drawn or allocated: memory, then the output directory and its free space
        rows = check_run_size(p, lay, exp, opts, streaming=cfg.output.stream,
                              what=f"{config}: a run of {lay.n_cells:,} cells")
        out_dir = prepare_output_dir(out or Path(cfg.output.dir),
                                     estimate_output_bytes(lay.n_cells, p.n_rc, lay.n_packs, rows, csv=cfg.output.csv))
        ini = cfg.initial
        sp = sample(var, p, lay, seed=cfg.seed, mean_soc=ini.soc,
                    temperature_K=None if ini.temperature_C is None else ini.temperature_C + KELVIN,
                    mean_hysteresis=ini.hysteresis)
        nc_path = out_dir / f"{cfg.output.name}.nc"
        with writing(nc_path):
            rec = NetCDFRecorder(nc_path, sp.cells, lay) if cfg.output.stream else None
        start = time.perf_counter()
        d = cfg.balancing.build(lay.n_series) if cfg.balancing is not None else None
        slots = {} if d is None else dict(balancer=d.balancer, controller=d.controller, estimator=d.estimator,
                                          supervisor=d.supervisor)
        ds = _run_with_progress("pack", lambda cb: run_sim(
            sp.cells, exp, layout=lay, state=sp.initial_state, ambient_K=sp.ambient_K,
            options=opts, progress=cb, recorder=rec, **slots))
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
        out_dir = prepare_output_dir(out or results.parent)
        with writing(out_dir / results.stem, "figures"):
            files = plot_pack_run(ds, out_dir, results.stem)
    for f in files:
        console.print(f"wrote {f}")


def _summary_pack(ds, sp) -> RichTable:
    from ..analysis.metrics import summary

    m = summary(ds, sp.capacity_Ah)
    tab = RichTable(title="Pack summary (pack 0)")
    tab.add_column("metric")
    tab.add_column("value", justify="right")
    for k, v in m.items():
        val = v[0] if hasattr(v, "__len__") and not isinstance(v, str) else v
        tab.add_row(k, f"{float(val):.4g}" if isinstance(val, int | float) or hasattr(val, "dtype") else str(val))
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

    from ..analysis.graph import PLOT_MAX_CELLS, SPARSE_THRESHOLD, compare_topologies, plot_graph
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
            sizes = [m for m in (12, 8, 6, 4, 3, 2) if cells % m == 0]
            if kinds[0] == "modular" and not sizes:
                _fail(f"no module size divides {cells}")
            g = get_topology(kinds[0], cells, **({"module_size": sizes[0]} if kinds[0] == "modular" else {}))
            with writing(plot, "graph picture"):
                console.print(f"wrote {plot_graph(g, plot)}")


@app.command()
def demo(out: Path = typer.Option(Path("out/demo"), "--out", help="output directory")):
    """The embedded default run: no input files needed."""
    from ..cli.demo import run_demo
    from ..io.preflight import prepare_output_dir

    with _guarded():
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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: files already written are kept.")
        sys.exit(130)


if __name__ == "__main__":
    main()
