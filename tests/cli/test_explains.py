"""A CLI that explains itself: help as declared, --version, `list`, units in headers, unwrapped errors,
Ctrl-C naming the files kept, summaries across a batch of packs, the topology picture's lambda_2."""

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import typer
import xarray as xr
from typer.testing import CliRunner

from cellbalance.cli import app as app_module
from cellbalance.cli.app import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _commands():
    return typer.main.get_command(app).commands


@pytest.mark.parametrize("name", sorted(_commands()))
def test_help_shows_every_declared_help_text_whole(name):
    """Rich markup ate "[cell]" and "[s]"-like tokens: every bracketed token of every declared help
    text must come out as written, and no flag is shown with a value type."""
    cmd = _commands()[name]
    r = runner.invoke(app, [name, "--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    out = _flat(r.output)
    for p in cmd.params:
        for token in re.findall(r"\[[^\]]*\]", p.help or ""):
            assert token in out, (name, p.name, token)
    assert "<bool>" not in out


def test_version_is_the_project_version():
    want = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"cellbalance {want}"


def _registry(kind):
    from cellbalance.balancing import available_topologies
    from cellbalance.cell.parameter_sets import available
    from cellbalance.control import available_controllers
    from cellbalance.pack.variation import available_presets
    from cellbalance.scenarios.profiles import available_drive_cycles

    return {"parameter-sets": available, "cycles": available_drive_cycles, "presets": available_presets,
            "topologies": available_topologies, "controllers": available_controllers}[kind]()


@pytest.mark.parametrize("kind", ["parameter-sets", "cycles", "presets", "topologies", "controllers"])
def test_list_names_every_registered_entry_with_a_description_and_source(kind):
    from cellbalance.cli.catalogue import catalogue

    _, rows = catalogue(kind)
    assert [r[0] for r in rows] == list(_registry(kind))
    for name, desc, source in rows:
        assert len(desc) > 10 and len(source) > 10 and "\n" not in desc, (name, desc, source)
    r = runner.invoke(app, ["list", kind], terminal_width=300)
    assert r.exit_code == 0, r.output
    for name in _registry(kind):
        assert name in r.output


def test_list_of_an_unknown_kind_names_the_kinds():
    r = runner.invoke(app, ["list", "cycels"])
    assert r.exit_code == 2
    assert "allowed: parameter-sets, cycles, presets, topologies, controllers" in _flat(r.output)


def test_a_parameter_set_lists_its_own_source():
    from cellbalance.cell import get_parameter_set
    from cellbalance.cli.catalogue import catalogue

    rows = {n: s for n, _, s in catalogue("parameter-sets")[1]}
    assert rows["ecm_example"] == get_parameter_set("ecm_example").source


PACK = """
seed = 7
[cell]
parameter_set = "nmc_lg_m50"
[pack]
n_series = 4
n_parallel = 2
n_packs = {n_packs}
[variation]
preset = "second_life"
[experiment]
period_s = 10.0
steps = ["Discharge at 5 A for 10 minutes", "Rest for 5 minutes"]
[output]
name = "p"
plot = false
stream = {stream}
"""


def _pack(tmp_path, n_packs=1, stream="false"):
    f = tmp_path / "pack.toml"
    f.write_text(PACK.format(n_packs=n_packs, stream=stream))
    return f


def test_batch_summary_is_across_packs_and_names_the_worst_pack(tmp_path):
    r = runner.invoke(app, ["simulate", str(_pack(tmp_path, n_packs=5)), "--out", str(tmp_path / "o")],
                      terminal_width=250)
    assert r.exit_code == 0, r.output
    assert "Summary across 5 packs" in r.output
    ds = xr.open_dataset(tmp_path / "o" / "p.nc", decode_times=False)
    z = ds.soc.values[-1]  # (pack, cell)
    spread = (z.max(-1) - z.min(-1)) * 100
    line = next(x for x in r.output.splitlines() if "SOC spread at end [%]" in x)
    cells = [c.strip() for c in line.split("│")[2:-1]]
    mean, std, lo, hi = (float(c) for c in cells[:4])
    assert mean == pytest.approx(spread.mean(), rel=1e-3) and std == pytest.approx(spread.std(), rel=1e-3)
    assert lo == pytest.approx(spread.min(), rel=1e-3) and hi == pytest.approx(spread.max(), rel=1e-3)
    assert cells[4].endswith(f"(#{int(np.argmax(spread))})")
    assert np.ptp(spread) > 0  # the packs do differ: a pack-0-only table would be caught
    line = next(x for x in r.output.splitlines() if "usable capacity at end [Ah]" in x)
    from cellbalance.analysis.metrics import usable_capacity_over_time

    usable, _ = usable_capacity_over_time(ds, ds.cell_capacity_Ah.values.reshape(-1))
    assert line.split("│")[6].strip().endswith(f"(#{int(np.argmin(usable[-1]))})")  # lower is worse


def test_single_pack_summary_has_one_value_column(tmp_path):
    r = runner.invoke(app, ["simulate", str(_pack(tmp_path)), "--out", str(tmp_path / "o")], terminal_width=250)
    assert r.exit_code == 0 and "Pack summary" in r.output and "worst" not in r.output


def _interrupt_after(t_stop):
    def run_with_progress(label, fn):
        def cb(t, total):
            if t >= t_stop:
                raise KeyboardInterrupt
        return fn(cb)
    return run_with_progress


@pytest.mark.parametrize("stream", ["false", "true"])
def test_ctrl_c_keeps_the_partial_run_names_the_file_and_exits_130(tmp_path, monkeypatch, stream):
    monkeypatch.setattr(app_module, "_run_with_progress", _interrupt_after(300.0))
    r = runner.invoke(app, ["simulate", str(_pack(tmp_path, stream=stream)), "--out", str(tmp_path / "o")])
    assert r.exit_code == 130, r.output
    nc = tmp_path / "o" / "p.nc"
    assert f"kept {nc}" in _flat(r.output) and "partial" in r.output
    ds = xr.open_dataset(nc, decode_times=False)
    assert ds.attrs["truncated"] == 1 and ds.attrs["status"].startswith("partial")
    assert float(ds.time[-1]) >= 300 and ds.sizes["event"] >= 1  # the rows and the step ends so far
    r = runner.invoke(app, ["plot", str(nc), "--out", str(tmp_path / "figs")])
    assert r.exit_code == 0 and "holds a partial run" in _flat(r.output)


def test_ctrl_c_before_anything_is_written_says_so(tmp_path, monkeypatch):
    def ctrl_c(label, fn):
        raise KeyboardInterrupt

    monkeypatch.setattr(app_module, "_run_with_progress", ctrl_c)
    r = runner.invoke(app, ["compare", str(_pack(tmp_path)), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2  # no [[compare.design]]: refused before running
    f = _pack(tmp_path)
    f.write_text(f.read_text() + '\n[[compare.design]]\nname = "none"\nhardware = "none"\n')
    r = runner.invoke(app, ["compare", str(f), "--out", str(tmp_path / "o")])
    assert r.exit_code == 130 and "nothing was kept" in _flat(r.output)


def test_piped_errors_are_not_hard_wrapped(tmp_path):
    deep = tmp_path / ("a_rather_long_directory_name_" * 3) / "missing_configuration_file.toml"
    r = runner.invoke(app, ["cell", str(deep)])
    assert r.exit_code == 2
    line = next(x for x in r.output.splitlines() if x.startswith("error:"))
    assert len(line) > 120 and str(deep) in line  # one line, the path whole


def test_steps_table_keeps_its_units(tmp_path):
    r = runner.invoke(app, ["cell", str(ROOT / "examples" / "cell_nmc.toml"), "--out", str(tmp_path)],
                      terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "start [s]" in r.output and "end [s]" in r.output
    r = runner.invoke(app, ["plot", str(tmp_path / "cell_nmc.nc"), "--out", str(tmp_path / "figs")])
    assert r.exit_code == 0, r.output
    names = sorted(f.name for f in (tmp_path / "figs").glob("*.png"))
    assert names == ["cell_nmc_soc_spread.png", "cell_nmc_temperature.png", "cell_nmc_voltage_fan.png"]


@pytest.mark.parametrize("kind", ["ring", "adjacent", "switched_capacitor", "modular", "bus"])
def test_topology_picture_title_gives_the_tables_lambda_2(kind, monkeypatch, tmp_path):
    """The picture is drawn from the graph and gain of the table (the figure ignored --weight)."""
    from cellbalance.analysis import graph as graph_mod

    drawn = {}

    def fake_plot(g, path, **kw):
        drawn["title"] = graph_mod.graph_figure(g, **kw).axes[0].get_title()
        return Path(path)

    monkeypatch.setattr(graph_mod, "plot_graph", fake_plot)
    r = runner.invoke(app, ["topology", "--cells", "24", "--kind", kind, "--weight", "37", "--plot",
                            str(tmp_path / "g.png")], terminal_width=250)
    assert r.exit_code == 0, r.output
    lam_title = float(re.search(r"lambda_2 = ([0-9.eE+-]+) A/SOC", drawn["title"]).group(1))
    table = graph_mod.compare_topologies(24, weight_A=37.0, kinds=[kind])
    assert lam_title == pytest.approx(float(table["lambda_2 [A/SOC]"].iloc[0]), rel=1e-3)
    row = next(x for x in r.output.splitlines()  # the name may wrap in its column
               if x.startswith("│") and x.split("│")[1].strip() and kind.startswith(x.split("│")[1].strip().rstrip("…")))
    assert float(row.split("│")[3]) == pytest.approx(lam_title, rel=1e-3)  # the printed table too
