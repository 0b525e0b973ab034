"""HTML reports: self-contained (every figure an embedded PNG that decodes to a non-blank image, no
external reference), the sections follow the variables present, the estimator error of a perfect
estimator is zero, a long run stays small, and the page renders in headless Chromium without
console errors (skipped, with the reason, where Chromium or Playwright is absent)."""

import base64
import io
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from cellbalance.analysis.metrics import estimator_error
from cellbalance.cell import get_parameter_set
from cellbalance.cli.app import app
from cellbalance.estimation import EKFEstimator, NoisySensors
from cellbalance.io.balancing_config import BalancingSection
from cellbalance.io.report import render_report, write_report
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import preset, sample
from cellbalance.sim import SimulationOptions, simulate

CHROMIUM = os.environ.get("CELLBALANCE_CHROMIUM", "/usr/bin/chromium")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.h2, self.refs, self._in_h2 = [], [], [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "h2":
            self._in_h2 = True
        for k in ("href", "src"):
            if k in a and not a[k].startswith("data:"):
                self.refs.append(a[k])
        if tag in ("script", "link", "iframe"):
            self.refs.append(tag)

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data)


def check_page(text: str) -> _Page:
    """Every <img> an embedded PNG that decodes to a non-blank picture; nothing fetched from outside."""
    from matplotlib.image import imread

    page = _Page()
    page.feed(text)
    assert page.imgs, "no figure"
    assert not page.refs, f"external references: {page.refs}"
    for src in page.imgs:
        assert src.startswith("data:image/png;base64,")
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        img = imread(io.BytesIO(raw), format="png")
        assert img.shape[0] > 100 and img.shape[1] > 100 and float(img[..., :3].std()) > 0.01
    return page


def _run(estimator=None, sensors=None):
    p = get_parameter_set("ecm_example")
    lay = PackLayout(n_series=4, n_packs=2)
    sp = sample(preset("typical"), p, lay, seed=2)
    d = BalancingSection(hardware="passive", controller="bleed_to_lowest_soc", controller_period_s=30).build(4)
    return simulate(sp.cells, ["Discharge at 1C for 5 minutes", "Rest for 5 minutes"], layout=lay,
                    state=sp.initial_state, ambient_K=sp.ambient_K, balancer=d.balancer, controller=d.controller,
                    estimator=estimator or d.estimator, sensors=sensors, options=SimulationOptions())


@pytest.fixture(scope="module")
def run_ds():
    return _run()


def test_a_run_report_is_self_contained_with_every_section(run_ds, tmp_path):
    out = write_report(run_ds, tmp_path / "r.html", config_text="[pack]\nn_series = 4  # <b>not markup</b>")
    page = check_page(out.read_text())
    for section in ("Summary metrics", "SOC spread and voltages", "Temperature", "Balancing energy",
                    "Estimator error", "Configuration", "Attributes"):
        assert section in page.h2
    assert len(page.imgs) == 5  # spread, voltage fan, temperature map, balancing energy, estimator error
    text = out.read_text()
    assert "&lt;b&gt;not markup&lt;/b&gt;" in text and "cellbalance 0.1.0" in text


def test_the_sections_follow_the_variables_present(run_ds):
    bare = run_ds.drop_vars(["estimated_soc", "estimated_soc_std", "energy_bleed_J", "energy_converter_loss_J"])
    page = check_page(render_report(bare))
    assert "Estimator error" not in page.h2 and "Balancing energy" not in page.h2
    assert len(page.imgs) == 3


def test_estimator_error_is_zero_for_the_perfect_estimator_and_not_for_a_noisy_ekf(run_ds):
    te, err = estimator_error(run_ds)
    assert te.size > 10 and np.abs(err).max() < 1e-12
    noisy = _run(EKFEstimator(period_s=10.0), NoisySensors(seed=1))
    _, err = estimator_error(noisy)
    assert np.abs(err).max() > 1e-4


def test_lifetime_and_comparison_reports(run_ds):
    years = np.arange(11)
    designs = ["none", "passive", "active"]
    fade = 1.0 - 0.02 * years[:, None] * np.array([1.3, 1.1, 1.0])[None, :]
    life = xr.Dataset({"capacity_retention": (("year", "design"), fade),
                       "cell_capacity_Ah": (("year", "design", "cell"), 5.0 * fade[..., None] * np.ones(96))},
                      coords={"year": years, "design": designs}, attrs={"title": "lifetime"})
    page = check_page(render_report(life))
    assert "Lifetime" in page.h2 and len(page.imgs) == 2
    comp = check_page(render_report({"none": run_ds, "passive": run_ds}))
    assert "Design none" in comp.h2 and "Design passive" in comp.h2


def test_a_sweep_report_from_its_parquet(tmp_path):
    from cellbalance.analysis.sweep import pack_metrics
    from cellbalance.io.sweep import load_sweep, write_sweep_outputs
    from cellbalance.studies.sweep import run_sweep

    cfg = tmp_path / "s.toml"
    cfg.write_text("""seed = 1
[cell]
parameter_set = "ecm_example"
[pack]
n_series = 3
n_packs = 3
[variation]
preset = "typical"
[experiment]
steps = ["Discharge at 1C for 60 s"]
period_s = 5.0
[output]
name = "s"
[sweep]
[sweep.grid]
"initial.soc" = [0.5, 0.8]
""")
    run = load_sweep(cfg)
    res = run_sweep(run.tasks, tmp_path / "o", metrics=pack_metrics, seed=run.seed, workers=0)
    files = write_sweep_outputs(run, res.table, tmp_path / "o")
    page = check_page(render_report(files[0]))
    assert "Sensitivity of spread_end_pct" in page.h2 and "Scenarios" in page.h2 and len(page.imgs) == 2
    assert "initial.soc" in render_report(files[0])


def test_a_long_96_cell_run_and_a_10_year_study_stay_under_20_MB(tmp_path):
    rng = np.random.default_rng(0)
    n_t, n_c = 40_000, 96
    t = np.arange(n_t) * 60.0
    soc = 0.5 + 0.3 * np.sin(t / 9e4)[:, None, None] + 0.01 * rng.standard_normal((n_t, 1, n_c))
    ds = xr.Dataset({"soc": (("time", "pack", "cell"), soc), "voltage_V": (("time", "pack", "cell"), 3.2 + soc),
                     "temperature_K": (("time", "pack", "cell"), 298.0 + 5 * soc),
                     "energy_bleed_J": (("time", "pack"), np.cumsum(np.ones((n_t, 1)), 0))},
                    coords={"time": t, "series_index": ("cell", np.arange(n_c)), "parallel_index": ("cell", np.zeros(n_c, int))})
    years = np.arange(11)
    ds["capacity_retention"] = (("year", "design", "cell"), 1 - 0.02 * years[:, None, None] * np.ones((11, 3, n_c)))
    out = write_report(ds, tmp_path / "big.html")
    assert out.stat().st_size < 20 * 2**20
    page = check_page(out.read_text())
    assert "Lifetime" in page.h2 and "SOC spread and voltages" in page.h2


def test_report_and_report_options_of_the_commands(tmp_path):
    cfg = tmp_path / "p.toml"
    cfg.write_text("""[cell]
parameter_set = "ecm_example"
[pack]
n_series = 4
[variation]
preset = "typical"
[experiment]
steps = ["Discharge at 1C for 2 minutes"]
[output]
name = "p"
plot = false
[[compare.design]]
name = "none"
hardware = "none"
[[compare.design]]
name = "bleed"
hardware = "passive"
controller = "bleed_to_lowest_soc"
""")
    runner = CliRunner()
    r = runner.invoke(app, ["simulate", str(cfg), "--out", str(tmp_path / "o"), "--report"])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "o" / "p_report.html").read_text()
    check_page(html)
    assert "parameter_set = &quot;ecm_example&quot;" in html  # the configuration that produced it
    r = runner.invoke(app, ["report", str(tmp_path / "o" / "p.nc"), "--out", str(tmp_path / "again.html")])
    assert r.exit_code == 0, r.output
    again = (tmp_path / "again.html").read_text()
    check_page(again)
    assert "parameter_set = &quot;ecm_example&quot;" in again  # kept in the NetCDF's attributes
    r = runner.invoke(app, ["compare", str(cfg), "--out", str(tmp_path / "c"), "--report"])
    assert r.exit_code == 0, r.output
    assert "Design bleed" in check_page((tmp_path / "c" / "p_compare_report.html").read_text()).h2
    r = runner.invoke(app, ["report", str(tmp_path / "p.toml")])
    assert r.exit_code == 2 and "not a readable NetCDF or Parquet" in " ".join(r.output.split())


def _browser_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright Python package is not installed (pip install playwright); the non-browser "
                    "checks of this file still decode every figure")
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; or set CELLBALANCE_CHROMIUM); "
                    "the non-browser checks of this file still decode every figure")
    return sync_playwright


def test_the_report_renders_in_headless_chromium_without_console_errors(run_ds, tmp_path):
    sync_playwright = _browser_or_skip()
    out = write_report(run_ds, tmp_path / "r.html", config_text="seed = 1")
    errors = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                     headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(out.resolve().as_uri())
            page.wait_for_load_state("load")
            sizes = page.eval_on_selector_all(
                "img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight, e.getBoundingClientRect().width])")
            shot = page.screenshot(full_page=True)
        finally:
            browser.close()
    assert not errors, errors
    assert len(sizes) == 5
    assert all(c and w > 100 and h > 100 and shown > 100 for c, w, h, shown in sizes), sizes
    (tmp_path / "shot.png").write_bytes(shot)
    from matplotlib.image import imread

    img = imread(io.BytesIO(shot), format="png")
    assert img.shape[0] > 1000 and float(img[..., :3].std()) > 0.05
