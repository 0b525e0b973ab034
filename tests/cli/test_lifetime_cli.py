"""``cellbalance lifetime``: table, figure and results file; Ctrl-C keeps the finished years."""

import xarray as xr
from typer.testing import CliRunner

import cellbalance.studies.lifetime as lt
from cellbalance.cli.app import app

runner = CliRunner()

CONFIG = """
seed = 2
[cell]
parameter_set = "nmc_lg_m50"
[pack]
n_series = 4
[variation]
preset = "typical"
[initial]
soc = 0.9
[duty]
period_s = 300
[lifetime]
years = 2
start_date = "2027-01-01"
capacity_tol = 0.9        # few representative days: a fast test of the command, not of the method
soc_tol = 0.05
max_days = 365
[output]
dir = "out"
name = "life"
[[design]]
name = "none"
hardware = "none"
[[design]]
name = "passive"
hardware = "passive"
controller = "bleed_to_lowest_soc"
controller_period_s = 600
estimator_period_s = 600
controller_params = { threshold_soc = 0.01 }
"""


def test_lifetime_writes_results_table_and_figure(tmp_path):
    cfg = tmp_path / "life.toml"
    cfg.write_text(CONFIG)
    r = runner.invoke(app, ["lifetime", str(cfg), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    ds = xr.open_dataset(tmp_path / "o" / "life.nc")
    assert list(ds.design.values) == ["none", "passive"]
    assert ds.sizes["year"] == 3 and ds.attrs["completed_years"] == 2
    # two years of fade on every cell, and passive bleeding only in the passive design
    assert (ds.capacity_mean_rel.values[:, -1] < ds.capacity_mean_rel.values[:, 0]).all()
    assert ds.energy_bleed_Wh.values[0, -1, 0] == 0 < ds.energy_bleed_Wh.values[1, -1, 0]
    ds.close()
    assert (tmp_path / "o" / "life.png").stat().st_size > 1000
    assert "after 2.00 years" in r.output and "passive" in r.output


def test_ctrl_c_keeps_the_finished_years(tmp_path, monkeypatch):
    cfg = tmp_path / "life.toml"
    cfg.write_text(CONFIG)
    real = lt.simulate

    def interrupted_in_year_two(*a, **k):
        if (tmp_path / "o" / "life.nc").exists():  # written when year 1 was finished
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(lt, "simulate", interrupted_in_year_two)
    r = runner.invoke(app, ["lifetime", str(cfg), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    ds = xr.open_dataset(tmp_path / "o" / "life.nc")
    assert ds.attrs["completed_years"] == 1 and ds.sizes["year"] == 2
    ds.close()
    assert "interrupted" in r.output and "after 1.00 years" in r.output
