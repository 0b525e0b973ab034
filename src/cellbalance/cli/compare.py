"""``cellbalance compare CONFIG.toml``: one pack, one scenario, several balancing designs side by side."""

from __future__ import annotations

import time
from pathlib import Path

from rich.table import Table as RichTable

__all__ = ["frame_table", "run_compare"]

COLUMNS = [("spread_end_pct", "SOC spread end [%]", "{:.2f}"), ("t_spread_below_target_h", "under target at [h]", "{:.2f}"),
           ("energy_lost_Wh", "energy lost [Wh]", "{:.2f}"), ("usable_end_Ah", "usable end [Ah]", "{:.3f}"),
           ("recovered_Ah", "recovered [Ah]", "{:+.3f}"), ("recovered_pct", "recovered [%]", "{:+.2f}"),
           ("peak_temperature_C", "peak T [degC]", "{:.1f}"), ("limit_violations", "limit violations", "{:d}"),
           ("controller_ms_mean", "controller mean [ms]", "{:.3f}"), ("controller_ms_max", "controller max [ms]", "{:.3f}")]


def run_compare(config: Path, out: Path | None, console, run_with_progress, *, report: bool = False) -> list[Path]:

    from ..analysis.comparison import comparison_table
    from ..errors import ConfigError
    from ..io.config import load_pack_config
    from ..io.runs import sample_pack
    from ..studies.compare import run_comparison

    cfg = load_pack_config(config)
    if cfg.compare is None:
        raise ConfigError(f"{config}: cellbalance compare needs [[compare.design]] tables (see "
                          "cellbalance.io.balancing_config).")
    p = cfg.parameters(config.parent)
    lay = cfg.layout()
    sp = sample_pack(cfg, config.parent)
    designs = cfg.compare.designs(lay.n_series)
    out_dir = out or Path(cfg.output.dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = run_with_progress(f"{len(designs)} designs", lambda cb: run_comparison(
        sp.cells, cfg.build_experiment(), designs, layout=lay, state=sp.initial_state, ambient_K=sp.ambient_K,
        options=cfg.options()))
    tab = comparison_table(res, sp.capacity_Ah, v_min=p.v_min, v_max=p.v_max, t_max_K=p.t_max_K,
                           spread_target=cfg.compare.spread_target_pct / 100.0, baseline=cfg.compare.baseline)
    console.print(frame_table(tab, COLUMNS, f"{lay.n_series}s{lay.n_parallel}p {p.name}: designs side by side"))
    console.print(f"{len(designs)} runs in {time.perf_counter() - t0:.1f} s wall time")
    files = [out_dir / f"{cfg.output.name}_compare.csv"]
    tab.to_csv(files[0])
    files.append(_plot(res, out_dir / f"{cfg.output.name}_compare.png", f"{cfg.output.name}: SOC spread per design"))
    if report:
        from ..io.report import write_report

        files.append(write_report(res, out_dir / f"{cfg.output.name}_compare_report.html",
                                  config_text=config.read_text(encoding="utf-8-sig"),
                                  title=f"{cfg.output.name}: balancing designs compared"))
    return files


def frame_table(tab, columns, title: str) -> RichTable:
    """A rich table of a DataFrame with one row per design: ``columns`` are (key, heading, format); NaN and
    empty strings print as '-'."""
    import numpy as np

    rt = RichTable(title=title)
    rt.add_column("design")
    for _, head, _ in columns:
        rt.add_column(head.replace("[", "\\["), justify="right")
    for name, row in tab.iterrows():
        cells = []
        for key, _, fmt in columns:
            v = row[key]
            blank = (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and v == "")
            cells.append("-" if blank else fmt.format(int(v) if "{:d}" in fmt else v))
        rt.add_row(str(name), *cells)
    return rt


def _plot(res, path: Path, title: str) -> Path:
    from matplotlib.figure import Figure

    from ..analysis.metrics import _elements

    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    for name, ds in res.items():
        z = _elements(ds, "soc").mean(-1)
        ax.plot(ds.time.values / 3600.0, 100 * (z.max(-1) - z.min(-1)).mean(-1), label=name)
    ax.set_xlabel("time [h]")
    ax.set_ylabel("element SOC spread [%-points]")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
