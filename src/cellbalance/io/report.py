"""Self-contained HTML reports of a run, a comparison, a lifetime study or a sweep.

One file, no server, no internet: the figures are matplotlib PNGs embedded as base64 ``data:``
URIs (about 30-150 kB each; a report stays a few MB whatever the run's size, because long runs are
plotted at most :data:`MAX_ROWS` rows per line), the tables are plain HTML, and there is no script.
:func:`write_report` takes a results NetCDF or Dataset (``simulate``, ``cell``, a lifetime study), a
mapping ``{design: Dataset}`` (``compare``), or a sweep's Parquet table or DataFrame, and renders
the sections whose variables are present:

* run: summary metrics (:func:`cellbalance.analysis.metrics.summary`), SOC spread, voltage fan,
  temperature map, balancing energy (``energy_bleed_J``, ``energy_converter_loss_J``), estimator
  error (``estimated_soc`` against the true element SOC at the estimator's times);
* lifetime: every variable over a ``year`` dimension, one line per ``design`` (others averaged);
* comparison: per-design metrics and the SOC spread of every design on one figure;
* sweep: counts, the sensitivity table and figure, the metric's distribution per scenario, the
  per-scenario summary;
* always: the configuration that produced it (when known) and the package version.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError

__all__ = ["MAX_ROWS", "render_report", "write_report"]

#: longest time series plotted per line (every k-th row above it)
MAX_ROWS = 4000

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .5em;
text-align:right}th{background:#f3f3f3}figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.8em}
.meta{color:#555;font-size:.9em}"""


class _Doc:
    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = []
        self.n_figures = 0

    def h2(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def p(self, text: str) -> None:
        self.parts.append(f"<p>{html.escape(text)}</p>")

    def table(self, df: pd.DataFrame, index: bool = True) -> None:
        self.parts.append(df.to_html(index=index, escape=True, float_format=lambda v: f"{v:.4g}", border=0))

    def figure(self, fig, caption: str) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        self.n_figures += 1
        self.parts.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                          f"<figcaption>Figure {self.n_figures}: {html.escape(caption)}</figcaption></figure>")

    def pre(self, text: str) -> None:
        self.parts.append(f"<pre>{html.escape(text)}</pre>")

    def html(self, meta: str) -> str:
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>'
                f"<style>{CSS}</style></head><body><h1>{html.escape(self.title)}</h1>"
                f'<p class="meta">{html.escape(meta)}</p>' + "\n".join(self.parts) + "</body></html>\n")


def _stride(n: int) -> int:
    return 1 if n <= MAX_ROWS else -(-n // MAX_ROWS)


def _is_run(ds: xr.Dataset) -> bool:
    return all(v in ds and tuple(ds[v].dims) == ("time", "pack", "cell") for v in ("soc", "voltage_V", "temperature_K"))


def _run_sections(doc: _Doc, ds: xr.Dataset) -> None:
    from ..analysis.metrics import peak_temperature_K, soc_spread, summary
    from ..analysis.plots import pack_run_figures

    doc.h2("Summary metrics")
    if "cell_capacity_Ah" in ds and {"pack_current_A", "pack_voltage_V"} <= set(ds.data_vars):
        m = summary(ds, ds["cell_capacity_Ah"].values.reshape(-1))
    else:  # what the recorded variables allow (no capacities or pack terminals recorded)
        zr, zs = soc_spread(ds)
        m = {"SOC spread at start [%]": 100 * zr[0], "SOC spread at end [%]": 100 * zr[-1],
             "SOC std at end [%]": 100 * zs[-1], "peak cell temperature [°C]": peak_temperature_K(ds) - 273.15}
    m["lowest cell voltage [V]"] = ds.voltage_V.values.min(axis=(0, 2))
    m["highest cell voltage [V]"] = ds.voltage_V.values.max(axis=(0, 2))
    n = ds.sizes["pack"]
    df = pd.DataFrame({k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in m.items()},
                      index=pd.Index(ds.pack.values, name="pack"))
    if n > 12:
        df = df.describe().loc[["mean", "std", "min", "max"]]
        doc.p(f"{n} packs: statistics over the packs.")
    doc.table(df.T)
    figs = pack_run_figures(ds, str(ds.attrs.get("run_name", "run")), 0, max_rows=MAX_ROWS)
    caps = {"soc_spread": "SOC of the cells of pack 0 (band: min-max) and its spread",
            "voltage_fan": "cell voltages of pack 0 (fan), lowest and highest cell",
            "temperature_map": "cell temperature of pack 0 (cell x time)"}
    doc.h2("SOC spread and voltages")
    doc.figure(figs["soc_spread"], caps["soc_spread"])
    doc.figure(figs["voltage_fan"], caps["voltage_fan"])
    doc.h2("Temperature")
    if "temperature_map" in figs:
        doc.figure(figs["temperature_map"], caps["temperature_map"])
    else:  # a single cell: a temperature trace
        doc.figure(figs["temperature"], "cell temperature")
    k = _stride(ds.sizes["time"])
    t_h = ds.time.values[::k] / 3600.0
    energy = [v for v in ("energy_bleed_J", "energy_converter_loss_J") if v in ds and ds[v].dims == ("time", "pack")]
    if energy:
        doc.h2("Balancing energy")
        lines = [(t_h, ds[v].values[::k].mean(1) / 3600.0, f"{v.removesuffix('_J')} (mean over packs)") for v in energy]
        rows = {v.removesuffix("_J") + " [Wh]": ds[v].values[-1] / 3600.0 for v in energy}
        doc.figure(_lines(lines, "Time [h]", "Energy [Wh]"), "energy dissipated by balancing over time")
        tab = pd.DataFrame(rows, index=pd.Index(ds.pack.values, name="pack"))
        doc.table(tab.describe().loc[["mean", "min", "max"]].T if n > 12 else tab.T)
    _estimator_section(doc, ds)


def _lines(lines, xlabel: str, ylabel: str):
    """A Figure of labelled lines ``[(x, y, label)]``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    for x, y, label in lines:
        ax.plot(x, y, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _estimator_section(doc: _Doc, ds: xr.Dataset) -> None:
    from ..analysis.metrics import estimator_error

    got = estimator_error(ds)
    if got is None or got[0].size == 0:
        return
    te, err = got[0], 100.0 * got[1]
    k = _stride(te.size)
    doc.h2("Estimator error")
    th = te[::k] / 3600.0
    lines = [(th, np.sqrt(np.mean(err[::k] ** 2, axis=(1, 2))), "RMS over elements and packs"),
             (th, np.abs(err[::k]).max(axis=(1, 2)), "largest |error|")]
    doc.figure(_lines(lines, "Time [h]", "SOC error [%-points]"),
               "estimated minus true element SOC (the true SOC of the last recorded row at or before each estimate)")
    doc.p(f"RMS error {np.sqrt(np.mean(err ** 2)):.3g} %-points, largest {np.abs(err).max():.3g} %-points.")


def _lifetime_sections(doc: _Doc, ds: xr.Dataset) -> None:
    from matplotlib.figure import Figure

    vars_ = [v for v in ds.data_vars if "year" in ds[v].dims and ds[v].dtype.kind in "fiu"]
    if not vars_:
        return
    doc.h2("Lifetime")
    years = ds["year"].values if "year" in ds.coords else np.arange(ds.sizes["year"])
    for v in vars_[:12]:
        da = ds[v]
        other = [d for d in da.dims if d not in ("year", "design")]
        if other:
            da = da.mean(other)
        fig = Figure(figsize=(7, 3.2))
        ax = fig.subplots()
        if "design" in da.dims:
            for name in da["design"].values if "design" in da.coords else range(da.sizes["design"]):
                sel = da.sel(design=name) if "design" in da.coords else da.isel(design=name)
                ax.plot(years, sel.transpose("year").values, marker=".", label=str(name))
            ax.legend(loc="best", fontsize=8)
        else:
            ax.plot(years, da.transpose("year").values, marker=".")
        unit = da.attrs.get("units", "")
        ax.set_xlabel("year")
        ax.set_ylabel(f"{v}" + (f" [{unit}]" if unit else ""))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        doc.figure(fig, f"{v} over the years" + (f" (mean over {', '.join(other)})" if other else ""))


def _dataset_report(ds: xr.Dataset, title: str | None) -> _Doc:
    doc = _Doc(title or str(ds.attrs.get("title", "cellbalance results")))
    shown = False
    if _is_run(ds) and ds.sizes["time"] > 0:
        _run_sections(doc, ds)
        shown = True
    if "year" in ds.dims:
        _lifetime_sections(doc, ds)
        shown = True
    if not shown:
        raise ConfigError("write_report: the results hold neither a run (soc, voltage_V, temperature_K over time, "
                          f"pack, cell) nor a lifetime study (a 'year' dimension); variables: {list(ds.data_vars)}.")
    doc.h2("Attributes")
    doc.table(pd.DataFrame({"value": [str(v)[:300] for v in ds.attrs.values()]},
                           index=pd.Index(list(ds.attrs), name="attribute")))
    return doc


def _comparison_report(res: Mapping[str, xr.Dataset], title: str | None) -> _Doc:
    from matplotlib.figure import Figure

    from ..analysis.metrics import _elements
    from ..analysis.sweep import pack_metrics

    doc = _Doc(title or "cellbalance comparison")
    if all("cell_capacity_Ah" in ds for ds in res.values()):
        doc.h2("Designs side by side (mean over packs)")
        rows = {name: {k: float(np.mean(v)) for k, v in pack_metrics(ds).items()} for name, ds in res.items()}
        doc.table(pd.DataFrame.from_dict(rows, orient="index").T)
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    for name, ds in res.items():
        k = _stride(ds.sizes["time"])
        z = _elements(ds, "soc")[::k].mean(-1)
        ax.plot(ds.time.values[::k] / 3600.0, 100 * (z.max(-1) - z.min(-1)).mean(-1), label=name)
    ax.set_xlabel("Time [h]")
    ax.set_ylabel("element SOC spread [%-points]")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    doc.figure(fig, "element SOC spread of each design (mean over packs)")
    for name, ds in res.items():
        sub = _Doc("")
        _run_sections(sub, ds)
        doc.parts.append(f"<h2>Design {html.escape(name)}</h2>")
        for part in sub.parts:  # the design's own sections, one level down
            doc.parts.append(part.replace("<h2>", "<h3>").replace("</h2>", "</h3>"))
        doc.n_figures += sub.n_figures
    return doc


def _sweep_report(table: pd.DataFrame, meta: dict, title: str | None) -> _Doc:
    from matplotlib.figure import Figure

    from ..analysis.sweep import METRICS, plot_sensitivity, scenario_summary, sensitivity

    doc = _Doc(title or "cellbalance sweep")
    params = [p for p in meta.get("params", []) if p in table]
    metric = meta.get("metric", "spread_end_pct")
    if metric not in table:
        raise ConfigError(f"write_report: the sweep table has no column {metric!r}; columns: {list(table.columns)}.")
    doc.h2("Sweep")
    n_sc = int(table["scenario"].nunique()) if "scenario" in table else 1
    doc.p(f"{len(table):,} packs in {n_sc:,} scenarios ({int(table['task'].nunique()) if 'task' in table else '?'} "
          f"tasks), seed {meta.get('seed', '?')}; swept: {', '.join(params) or 'nothing (Monte Carlo over packs)'}.")
    metrics = [m for m in METRICS if m in table]
    doc.table(table[metrics].describe().T)
    doc.h2(f"Sensitivity of {metric}")
    sens = sensitivity(table, metric, params, meta.get("grid"))
    if len(sens):
        doc.table(sens, index=False)
    else:
        doc.p("No swept parameter takes more than one value.")
    doc.figure(plot_sensitivity(table, metric, sens), f"sensitivity of {metric} to the swept parameters")
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    ax.hist(table[metric].to_numpy(float), bins=min(60, max(5, len(table) // 5)))
    ax.set_xlabel(metric)
    ax.set_ylabel("packs")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    doc.figure(fig, f"distribution of {metric} over all packs")
    if "scenario" in table:
        doc.h2("Scenarios")
        summ = scenario_summary(table, params, [metric])
        if len(summ) > 200:
            doc.p(f"First 200 of {len(summ)} scenarios (all in the summary CSV).")
        doc.table(summ.head(200), index=False)
    return doc


def render_report(results, *, config_text: str | None = None, title: str | None = None) -> str:
    """The HTML text of the report of ``results`` (see the module docstring for what is accepted)."""
    from ..sim.results import _version

    __version__ = _version()

    meta: dict = {}
    config_text = config_text
    if isinstance(results, str | Path):
        p = Path(results)
        if not p.exists():
            raise ConfigError(f"{p}: no such file (expected a results NetCDF or a sweep Parquet table).")
        if p.suffix.lower() == ".parquet":
            from .sweep import read_sweep_table

            table, meta = read_sweep_table(p)
            results = table
            title = title or f"cellbalance sweep: {p.name}"
        else:
            try:
                results = xr.load_dataset(p, decode_times=False)
            except Exception as e:
                raise ConfigError(f"{p}: not a readable NetCDF or Parquet file ({type(e).__name__}: {e}); expected "
                                  "results of simulate, cell or a lifetime study, or a sweep's .parquet.") from None
            title = title or f"cellbalance: {p.name}"
    if isinstance(results, xr.Dataset):
        doc = _dataset_report(results, title)
        config_text = config_text or results.attrs.get("config") or results.attrs.get("config_toml")
        source = str(results.attrs.get("source", ""))
    elif isinstance(results, pd.DataFrame):
        doc = _sweep_report(results, meta, title)
        config_text = config_text or meta.get("config")
        source = f"cellbalance {meta['version']}" if "version" in meta else ""
    elif isinstance(results, Mapping) and results and all(isinstance(v, xr.Dataset) for v in results.values()):
        doc = _comparison_report(results, title)
        source = str(next(iter(results.values())).attrs.get("source", ""))
    else:
        raise ConfigError(f"write_report: cannot report on {type(results).__name__}; give a results NetCDF or "
                          "Dataset, a mapping of designs to Datasets, or a sweep Parquet table or DataFrame.")
    doc.h2("Configuration")
    if config_text:
        doc.pre(str(config_text))
    else:
        doc.p("Not recorded with these results.")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    made = f"report by cellbalance {__version__}, {when}" + (f"; results by {source}" if source else "")
    if meta:
        made += f"; sweep metadata: {json.dumps({k: meta[k] for k in ('seed', 'metric') if k in meta})}"
    return doc.html(made)


def write_report(results, out_html: str | Path, *, config_text: str | None = None, title: str | None = None) -> Path:
    """Write the report of ``results`` (a path or an object, see :func:`render_report`) to ``out_html``."""
    import os

    text = render_report(results, config_text=config_text, title=title)
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out
