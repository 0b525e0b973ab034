"""``cellbalance calc ...`` is wiring only: each command prints the library's numbers with units, writes the
plot it says, and turns an impossible input into one ``error:`` line and exit code 2."""

import re

import pytest
from typer.testing import CliRunner

from cellbalance.cli.app import app

runner = CliRunner()


def _calc(*args):
    return runner.invoke(app, ["calc", *args])


def _rows(output: str, label: str) -> list[list[str]]:
    """The value and unit cells of every table row whose quantity starts with ``label``."""
    found = []
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if cells and cells[0].startswith(label):
            found.append(cells[1:])
    assert found, f"no row {label!r} in\n{output}"
    return found


def _row(output: str, label: str) -> list[str]:
    return _rows(output, label)[0]


def test_balancing_time_prints_hours():
    # 5 % of 300 Ah at 0.3 A passive: 15 Ah / 0.3 A = 50 h; at 15 A cell-to-pack: 1 h
    r = _calc("balancing-time", "--capacity-Ah", "300", "--imbalance", "0.05", "--current-A", "0.3")
    assert r.exit_code == 0, r.output
    assert _row(r.output, "passive: bleed the high cell") == ["50", "h"]
    r = _calc("balancing-time", "--capacity-Ah", "300", "--imbalance", "0.05", "--current-A", "15")
    assert _row(r.output, "active cell-to-pack (eta 0.9)") == ["1", "h"]


def test_bleed_resistor_usable_topology_self_discharge_print_their_numbers():
    r = _calc("bleed-resistor", "--capacity-Ah", "100", "--imbalance", "0.05", "--time-target-h", "24", "--v-min-V",
              "3.0", "--v-max-V", "4.2", "--max-cell-power-W", "2", "--n-series", "4")
    assert r.exit_code == 0, r.output
    assert _row(r.output, "resistor") == ["13", "Ohm"]
    r = _calc("usable-capacity", "--capacities-Ah", "5,4,6", "--socs", "0.5,0.5,0.2", "--efficiency", "1")
    assert r.exit_code == 0, r.output
    assert _row(r.output, "usable now") == ["3.2", "Ah"]
    assert _row(r.output, "perfect passive") == ["4", "Ah"]
    r = _calc("usable-capacity", "--capacity-Ah", "5", "--capacity-sigma", "0.01", "--soc", "0.5", "--soc-sigma",
              "0.02", "--n-series", "16")
    assert r.exit_code == 0 and _row(r.output, "series elements") == ["16", "-"]
    r = _calc("usable-capacity", "--capacities-Ah", "5,4.8,5.1", "--soc", "0.5", "--soc-sigma", "0.02")
    assert r.exit_code == 0 and _row(r.output, "series elements") == ["3", "-"]  # SOCs drawn for the 3 cells given
    r = _calc("topology", "--kind", "adjacent", "--cells", "4", "--max-current-A", "1")
    assert r.exit_code == 0, r.output
    assert _row(r.output, "per-edge gain k") == ["20", "A per unit SOC"]
    r = _calc("self-discharge", "--capacity-Ah", "5", "--leak-spread-mA", "1", "--hours-per-day", "2")
    assert r.exit_code == 0, r.output
    assert _row(r.output, "SOC drift") == ["14.4", "%-points per month"]
    assert _row(r.output, "balancing current that keeps up") == ["12", "mA"]


def test_soc_uncertainty_writes_its_plot(tmp_path):
    out = tmp_path / "fig" / "soc.png"
    r = _calc("soc-uncertainty", "--voltage-error-mV", "2", "--plot", str(out))
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 10_000
    nmc, lfp = (float(v) for v, _ in _rows(r.output, "largest SOC error"))
    assert nmc < 1 < 5 < lfp  # 2 mV: under 1 %-point for NMC, several %-points on the LFP plateau


@pytest.mark.parametrize(("args", "text"), [
    (["balancing-time", "--capacity-Ah", "300", "--imbalance", "0.05", "--current-A", "0"],
     "balancing_time.current_A must be > 0 (finite); got 0."),
    (["balancing-time", "--capacity-Ah", "-300", "--imbalance", "0.05", "--current-A", "1"],
     "balancing_time.capacity_Ah must be > 0 (finite); got -300."),
    (["balancing-time", "--capacity-Ah", "300", "--imbalance", "0.05", "--current-A", "1", "--efficiency", "1.2"],
     "balancing_time.efficiency must be > 0 and <= 1 (finite); got 1.2."),
    (["usable-capacity", "--capacities-Ah", "5,x", "--socs", "0.5,0.5"], "--capacities-Ah must be numbers"),
    (["usable-capacity", "--socs", "0.5,0.5"], "give --capacities-Ah and --socs"),
    (["soc-uncertainty", "--voltage-error-mV", "0"], "voltage_error_mV must be > 0 and < 1000"),
    (["soc-uncertainty", "--chemistry", "nmc"], "Unknown cell parameter set 'nmc'"),
    (["self-discharge", "--capacity-Ah", "5"], "give either leak_spread_A or rate_pct_per_month"),
    (["topology", "--kind", "star", "--max-current-A", "1"], "star"),
])
def test_impossible_inputs_are_one_error(args, text):
    r = _calc(*args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    flat = " ".join(r.output.split())
    assert flat.startswith("error:") and text in flat
