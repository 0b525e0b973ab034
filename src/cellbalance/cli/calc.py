"""``cellbalance calc ...``: the sizing calculators of :mod:`cellbalance.analysis.calculators`.

Each command parses its options, calls one library function and prints its ``(quantity, value,
unit)`` rows as a table. The error guard and console are the main app's, handed over by
:func:`register` (so this module does not import ``cli.app``).
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["calc_app", "register"]

calc_app = typer.Typer(no_args_is_help=True, help="Sizing calculators: back-of-envelope numbers of a balancing "
                                                  "design, before you simulate (formulas: docs/calculators.md).")
_cli: dict = {}


def register(parent: typer.Typer, guarded, console) -> None:
    """Add ``calc`` to ``parent`` with its error guard (a context manager) and console."""
    _cli.update(guarded=guarded, console=console)
    parent.add_typer(calc_app, name="calc")


def _show(title: str, rows) -> None:
    from rich.markup import escape
    from rich.table import Table

    tab = Table(title=escape(title))
    tab.add_column("quantity")
    tab.add_column("value", justify="right")
    tab.add_column("unit")
    for name, value, unit in rows:
        tab.add_row(escape(name), f"{value:.4g}" if isinstance(value, float) else escape(str(value)), escape(unit))
    _cli["console"].print(tab)


def _floats(text: str | None, what: str) -> list[float] | None:
    from ..errors import ParameterError

    if text is None:
        return None
    try:
        return [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise ParameterError(f"{what} must be numbers separated by commas (e.g. 5.0,4.9,5.1); got {text!r}.") from None


@calc_app.command("soc-uncertainty")
def soc_uncertainty(voltage_error_mV: float = typer.Option(2.0, "--voltage-error-mV", help="voltage error [mV]"),
                    chemistry: list[str] = typer.Option(["nmc_lg_m50", "lfp_a123_26650"], "--chemistry",
                                                        help="a packaged parameter set (repeat for several)"),
                    threshold: float = typer.Option(0.02, "--threshold", help="SOC error that counts as "
                                                    "unreliable (fraction)"),
                    temperature_C: float = typer.Option(25.0, "--temperature-C", help="cell temperature [degC]"),
                    plot: Path | None = typer.Option(None, "--plot", help="write the curves to this PNG")):
    """SOC error from a voltage-measurement error through the OCV slope dU/dz, per chemistry."""
    from ..analysis.calculators import plot_soc_uncertainty
    from ..analysis.calculators import soc_uncertainty as calc
    from ..errors import check_range

    with _cli["guarded"]():
        check_range("calc soc-uncertainty", "threshold", threshold, gt=0, lt=1)
        check_range("calc soc-uncertainty", "voltage_error_mV", voltage_error_mV, gt=0, lt=1000)
        res = [calc(c, voltage_error_mV / 1000.0, temperature_K=temperature_C + 273.15) for c in chemistry]
        for r in res:
            _show(f"{r.name}: SOC error from a {voltage_error_mV:g} mV voltage error", r.table(
                threshold=threshold))
        if plot is not None:
            from ..io.preflight import prepare_output_file, writing

            prepare_output_file(plot, what="--plot file")
            with writing(plot, "figure"):
                _cli["console"].print(f"wrote {plot_soc_uncertainty(res, plot)}")


@calc_app.command("balancing-time")
def balancing_time(capacity_Ah: float = typer.Option(..., "--capacity-Ah", help="cell capacity [Ah]"),
                   imbalance: float = typer.Option(..., "--imbalance", help="imbalance as a SOC fraction (0.05 = 5 %)"),
                   current_A: float = typer.Option(..., "--current-A", help="balancing current at the cell [A]"),
                   efficiency: float = typer.Option(0.9, "--efficiency", help="converter efficiency (0, 1]"),
                   duty: float = typer.Option(1.0, "--duty", help="share of the time balancing runs (0, 1]"),
                   cell_voltage_V: float = typer.Option(3.7, "--cell-voltage-V", help="cell voltage [V]"),
                   n_series: int = typer.Option(96, "--n-series", help="series cells"),
                   outlier: str = typer.Option("high", "--outlier", help="the odd cell is 'high' or 'low'")):
    """Time to remove an imbalance, passive and active, and the energy turned into heat."""
    from ..analysis.calculators import balancing_time as calc

    with _cli["guarded"]():
        r = calc(capacity_Ah, imbalance, current_A, efficiency=efficiency, duty=duty,
                 cell_voltage_V=cell_voltage_V, n_series=n_series, outlier=outlier)
        _show(f"Balancing {imbalance:.3g} of a {capacity_Ah:g} Ah cell at {current_A:g} A", r.table())


@calc_app.command("bleed-resistor")
def bleed_resistor(capacity_Ah: float = typer.Option(..., "--capacity-Ah", help="cell capacity [Ah]"),
                   imbalance: float = typer.Option(..., "--imbalance", help="imbalance as a SOC fraction (0.05 = 5 %)"),
                   time_target_h: float = typer.Option(..., "--time-target-h", help="time to remove it [h]"),
                   v_min_V: float = typer.Option(..., "--v-min-V", help="lowest cell voltage while bleeding [V]"),
                   v_max_V: float = typer.Option(..., "--v-max-V", help="highest cell voltage while bleeding [V]"),
                   max_cell_power_W: float = typer.Option(..., "--max-cell-power-W", help="per-channel limit [W]"),
                   max_pack_power_W: float | None = typer.Option(None, "--max-pack-power-W",
                                                                 help="per-pack bleed power limit [W]"),
                   n_series: int = typer.Option(96, "--n-series", help="series cells"),
                   channels_on: int | None = typer.Option(None, "--channels-on",
                                                          help="channels bleeding at once (default n_series - 1)"),
                   duty: float = typer.Option(1.0, "--duty", help="share of the time bleeding runs (0, 1]"),
                   r_ohm: float | None = typer.Option(None, "--r-ohm", help="check this resistor instead of sizing")):
    """Size a bleed resistor (E24) under per-cell and per-pack power limits and a time target."""
    from ..analysis.calculators import bleed_resistor as calc

    with _cli["guarded"]():
        r = calc(capacity_Ah, imbalance, time_target_h, v_min_V=v_min_V, v_max_V=v_max_V,
                 max_cell_power_W=max_cell_power_W, max_pack_power_W=max_pack_power_W, n_series=n_series,
                 channels_on=channels_on, duty=duty, r_ohm=r_ohm)
        _show(f"Bleed resistor: {imbalance:.3g} of {capacity_Ah:g} Ah within {time_target_h:g} h", r.table())


@calc_app.command("usable-capacity")
def usable_capacity(capacities_Ah: str | None = typer.Option(None, "--capacities-Ah",
                                                             help="cell capacities, comma-separated [Ah]"),
                    socs: str | None = typer.Option(None, "--socs", help="cell SOCs, comma-separated (fractions)"),
                    capacity_Ah: float | None = typer.Option(None, "--capacity-Ah",
                                                             help="mean capacity to draw cells from [Ah]"),
                    capacity_sigma: float = typer.Option(0.0, "--capacity-sigma", help="relative sigma of capacity"),
                    soc: float | None = typer.Option(None, "--soc", help="mean SOC to draw from (fraction)"),
                    soc_sigma: float = typer.Option(0.0, "--soc-sigma", help="sigma of SOC (fraction)"),
                    n_series: int = typer.Option(96, "--n-series",
                                                 help="series cells to draw (a list given sets the count)"),
                    seed: int = typer.Option(0, "--seed", help="seed of the draws"),
                    efficiency: float = typer.Option(1.0, "--efficiency", help="active converter efficiency (0, 1]")):
    """Usable capacity of a series string; what perfect passive and active balancing could recover."""
    from ..analysis.calculators import draw_cells
    from ..analysis.calculators import usable_capacity as calc
    from ..errors import ParameterError

    with _cli["guarded"]():
        q, z = _floats(capacities_Ah, "--capacities-Ah"), _floats(socs, "--socs")
        if q is None or z is None:
            if (q is None and capacity_Ah is None) or (z is None and soc is None):
                raise ParameterError("usable-capacity: give --capacities-Ah and --socs (lists), or --capacity-Ah and "
                                     "--soc (with --capacity-sigma, --soc-sigma, --n-series) to draw the cells.")
            given = q if q is not None else z  # one list given: draw the other for as many cells
            dq, dz = draw_cells(n_series if given is None else len(given), capacity_Ah if q is None else 1.0,
                                capacity_sigma, soc if z is None else 0.5, soc_sigma, seed)
            q = dq if q is None else q
            z = dz if z is None else z
        r = calc(q, z, efficiency=efficiency)
        _show(f"Usable capacity of a {r.element_capacity_Ah.size}-cell series string", r.table())


@calc_app.command("topology")
def topology(kind: str = typer.Option("ring", "--kind", help="a topology name (cellbalance topology --kind all)"),
             n_cells: int = typer.Option(96, "--cells", help="series cells"),
             capacity_Ah: float = typer.Option(5.0, "--capacity-Ah", help="cell capacity [Ah]"),
             spread: float = typer.Option(0.05, "--spread", help="initial SOC spread (fraction)"),
             target: float = typer.Option(0.005, "--target", help="target SOC spread (fraction)"),
             gain_A: float | None = typer.Option(None, "--gain-A", help="per-edge gain [A per unit SOC]"),
             max_current_A: float | None = typer.Option(None, "--max-current-A", help="converter limit [A]"),
             module_size: int | None = typer.Option(None, "--module-size", help="cells per module (modular)")):
    """Algebraic connectivity and predicted balancing time of one topology."""
    from ..analysis.calculators import topology_balancing

    with _cli["guarded"]():
        r = topology_balancing(kind, n_cells, capacity_Ah=capacity_Ah, spread0=spread,
                               target=target, gain_A=gain_A, max_current_A=max_current_A,
                               module_size=module_size)
        _show(f"{kind}, {n_cells} cells of {capacity_Ah:g} Ah: spread {spread:.3g} -> {target:.3g}",
              r.table())


@calc_app.command("self-discharge")
def self_discharge(capacity_Ah: float = typer.Option(..., "--capacity-Ah", help="cell capacity [Ah]"),
                   leak_spread_mA: float | None = typer.Option(None, "--leak-spread-mA",
                                                               help="largest minus smallest self-discharge [mA]"),
                   rate_pct_per_month: float | None = typer.Option(None, "--rate-pct-per-month",
                                                                   help="mean self-discharge [% per month]"),
                   rate_sigma: float | None = typer.Option(None, "--rate-sigma", help="its relative (lognormal) sigma"),
                   n_series: int = typer.Option(96, "--n-series", help="series cells to draw"),
                   seed: int = typer.Option(0, "--seed", help="seed of the draws"),
                   hours_per_day: float = typer.Option(24.0, "--hours-per-day", help="hours a day balancing may run"),
                   limit: float = typer.Option(0.05, "--limit", help="SOC spread to report the time to (fraction)")):
    """SOC drift per month from a self-discharge spread, and the balancing current that keeps up."""
    from ..analysis.calculators import self_discharge_drift
    from ..errors import check_range

    with _cli["guarded"]():
        if leak_spread_mA is not None:
            check_range("calc self-discharge", "leak_spread_mA", leak_spread_mA, gt=0)
        r = self_discharge_drift(capacity_Ah, leak_spread_A=None if leak_spread_mA is None else leak_spread_mA / 1000,
                                 rate_pct_per_month=rate_pct_per_month, rate_sigma=rate_sigma, n_series=n_series,
                                 seed=seed, balancing_hours_per_day=hours_per_day, limit=limit)
        _show(f"Self-discharge drift of {capacity_Ah:g} Ah cells", r.table())
