"""Figures that match the numbers: legends on every multi-line axes, limit lines, step boundaries,
titles that never cut a step, and no one-row temperature map for a single cell."""

import numpy as np
import pytest
from matplotlib.image import AxesImage

from cellbalance.analysis.plots import cell_run_figure, pack_run_figures, run_title
from cellbalance.cell import get_parameter_set
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate

STEPS = ["Discharge at 1C for 10 minutes", "Rest for 5 minutes", "Charge at 0.5C for 5 minutes"]


@pytest.fixture(scope="module")
def runs():
    p = get_parameter_set("nmc_lg_m50")
    exp = Experiment(STEPS, period_s=10.0)
    one = simulate(p.compile(1), exp)
    lay = PackLayout(n_series=3, n_parallel=1, n_packs=2)
    three = simulate(p.compile(lay.n_cells), exp, layout=lay)
    return p, one, three


def _data_lines(ax):
    """Lines with data along time (not the limit / boundary markers, which are straight lines)."""
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]


def _all_axes(figs):
    return [ax for f in figs for ax in f.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def test_every_axes_with_several_lines_has_a_legend_naming_them(runs):
    _, one, three = runs
    figs = [cell_run_figure(three, 0), cell_run_figure(three.isel(cell=[0, 2]), 1, labels=["first", "last"]),
            *pack_run_figures(three, "r").values(), *pack_run_figures(one, "r").values(), cell_run_figure(one)]
    checked = 0
    for ax in _all_axes(figs):
        lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        if len(ax.get_lines()) > 1 and not any(isinstance(a, AxesImage) for a in ax.get_children()):
            leg = ax.get_legend()
            assert leg is not None, ax.get_ylabel()
            texts = {t.get_text() for t in leg.get_texts()}
            assert {ln.get_label() for ln in lines} <= texts
            checked += 1
    assert checked >= 8
    labels = {t.get_text() for t in figs[1].axes[0].get_legend().get_texts()}
    assert {"first", "last"} <= labels


def test_voltage_axes_show_the_cell_limits_and_every_step_boundary(runs):
    p, _, three = runs
    ax = pack_run_figures(three, "r")["voltage_fan"].axes[0]
    flat = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2]
    ys = {float(ln.get_ydata()[0]) for ln in flat if ln.get_ydata()[0] == ln.get_ydata()[1]}
    xs = {float(ln.get_xdata()[0]) for ln in flat if ln.get_xdata()[0] == ln.get_xdata()[1]}
    assert {p.v_min, p.v_max} <= ys
    starts = three.event_start_s.values[(three.event_pack.values == 0) & (three.event_step.values > 0)] / 3600
    assert len(starts) == len(STEPS) - 1
    assert np.allclose(sorted(xs), sorted(starts))


def test_a_single_cell_gets_a_temperature_trace_not_a_one_row_map(runs):
    _, one, three = runs
    figs = pack_run_figures(one, "single")
    assert "temperature_map" not in figs and "temperature" in figs
    assert not any(isinstance(a, AxesImage) for f in figs.values() for ax in f.axes for a in ax.get_children())
    trace = _data_lines(figs["temperature"].axes[0])[0]
    assert np.allclose(trace.get_ydata(), one.temperature_K.values[:, 0, 0] - 273.15)
    assert "temperature_map" in pack_run_figures(three, "pack")  # several cells: the map stays


def test_title_has_the_run_name_and_never_cuts_a_step(runs):
    _, one, _ = runs
    steps = [f"Discharge at {k / 10:.1f}C for {k} minutes" for k in range(1, 40)]
    ds = one.assign_attrs(experiment=" | ".join(steps))
    title = run_title(ds, "my run", max_lines=3, width=80)
    head, *lines = title.split("\n")
    assert head.startswith("my run:") and len(lines) == 3
    shown = [s for ln in lines for s in ln.split(" | ")]
    more = shown.pop()
    assert more == f"+{len(steps) - len(shown)} more steps"
    assert shown == steps[: len(shown)]  # whole steps, in order
    assert run_title(one, "x").count("\n") == 1  # three short steps: one line


def test_a_partial_run_says_so_in_its_title(runs):
    _, one, _ = runs
    ds = one.assign_attrs(status="partial: interrupted at t = 60 s", truncated=1)
    assert "PARTIAL RUN: partial: interrupted at t = 60 s" in run_title(ds, "x")
    assert "PARTIAL" not in run_title(one, "x")


def test_batch_figures_name_the_pack(runs):
    _, _, three = runs
    fig = pack_run_figures(three, "batch", pack=1)["soc_spread"]
    assert "(pack 1 of 2)" in fig._suptitle.get_text()
    line = _data_lines(fig.axes[1])[0]  # max - min of pack 1, not pack 0
    z = three.soc.values[:, 1]
    assert np.allclose(line.get_ydata(), (z.max(1) - z.min(1)) * 100)
