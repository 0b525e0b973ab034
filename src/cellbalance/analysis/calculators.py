"""Design calculators: the back-of-envelope numbers of a balancing design, each a pure function.

Each function validates its inputs (one :class:`~cellbalance.errors.ParameterError` naming the
argument, the value and the allowed range) and returns a frozen result whose :meth:`table` lists
``(quantity, value, unit)`` rows; ``cellbalance calc ...`` prints those rows and nothing else.
The formulas and their sources are in docs/calculators.md; in short (``Q`` capacity, ``dz``
imbalance as a SOC fraction, ``I`` balancing current, ``eta`` converter efficiency):

* :func:`soc_uncertainty`: ``dz = dV / |dU/dz|`` (first order) and the exact width of the SOC
  interval whose OCV lies within ``+-dV`` of the true one, per chemistry;
* :func:`balancing_time`: passive ``t = dz Q / I``; active cell-to-pack ``t = dz Q / I``; active
  between two cells ``t = dz Q / ((1 + eta) I)``; all divided by the duty;
* :func:`bleed_resistor`: ``R <= V_min t duty / (dz Q)`` for the time, ``R >= V_max^2 / P_cell`` and
  ``R >= n_on V_max^2 / P_pack`` for the power, an E24 value in between;
* :func:`usable_capacity`: now ``min_g D_g + min_g S_g`` (:func:`.metrics.usable_capacity_Ah`),
  perfect passive ``min_g Q_g``, perfect active the root ``u`` of
  ``eta sum_g (Q_g - u)^+ = sum_g (u - Q_g)^+`` (``mean Q`` when lossless);
* :func:`topology_balancing`: ``lambda_2`` and ``t = Q / (k lambda_2) ln(s0 / s)``
  (:func:`.graph.compare_topologies`);
* :func:`self_discharge_drift`: ``d(spread)/dt = (max i_sd - min i_sd) / Q`` and the balancing
  current ``I = (max i_sd - min i_sd) 24 h / h_bal`` that keeps up with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cell import CellParameters, get_parameter_set
from ..cell.model import docv_dsoc, open_circuit_voltage
from ..errors import ParameterError, check_range, warn

__all__ = [
    "BalancingTime",
    "BleedResistor",
    "SelfDischargeDrift",
    "SocUncertainty",
    "TopologyBalancing",
    "UsableCapacity",
    "balancing_time",
    "bleed_resistor",
    "draw_cells",
    "e_series",
    "plot_soc_uncertainty",
    "self_discharge_drift",
    "soc_uncertainty",
    "topology_balancing",
    "usable_capacity",
]

HOURS_PER_MONTH = 30 * 24  # a month is 30 days here (the parameter sets' self-discharge convention)
KELVIN = 273.15

Row = tuple[str, float | str, str]


def _positive_int(owner: str, name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(f"{owner}.{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------------------------------
# SOC uncertainty from voltage-measurement error

@dataclass(frozen=True, eq=False)
class SocUncertainty:
    """SOC error that a voltage error ``voltage_error_V`` causes, over ``soc`` (one chemistry).

    ``linear``: ``dV / |dU/dz|`` (first-order propagation; ``inf`` where the OCV is flat);
    ``interval``: the larger distance from ``z`` to either end of the set of SOCs whose OCV lies
    within ``+-dV`` of ``U(z)`` (exact on the tabulated curve, bounded by 0 and 1).
    """

    name: str
    voltage_error_V: float
    soc: np.ndarray
    ocv_V: np.ndarray
    slope_V: np.ndarray
    linear: np.ndarray
    interval: np.ndarray

    def fraction_above(self, threshold: float) -> float:
        """Share of the SOC points at which the exact SOC error exceeds ``threshold`` (a fraction)."""
        return float(np.mean(self.interval > threshold))

    def table(self, points=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), threshold: float = 0.02) -> list[Row]:
        rows: list[Row] = []
        for z in points:
            k = int(np.argmin(np.abs(self.soc - z)))
            rows.append((f"SOC {100 * self.soc[k]:.0f} %: OCV / slope / SOC error",
                         f"{self.ocv_V[k]:.4f} / {self.slope_V[k]:.4g} / {100 * self.interval[k]:.3g}",
                         "V / V per unit SOC / %-points"))
        rows.append((f"share of SOC {100 * self.soc[0]:.0f}-{100 * self.soc[-1]:.0f} % with SOC error > "
                     f"{100 * threshold:g} %-points", 100 * self.fraction_above(threshold), "%"))
        rows.append(("largest SOC error on that range", 100 * float(self.interval.max()), "%-points"))
        return rows


def _params(chemistry) -> CellParameters:
    return chemistry if isinstance(chemistry, CellParameters) else get_parameter_set(chemistry)


def soc_uncertainty(chemistry: str | CellParameters, voltage_error_V: float, soc=None,
                    temperature_K: float = 298.15) -> SocUncertainty:
    """SOC error from a voltage-measurement error, through the OCV slope of a parameter set.

    Parameters
    ----------
    chemistry : a packaged parameter set's name (``nmc_lg_m50``, ``lfp_a123_26650``, ...) or
        :class:`CellParameters`; its OCV curve ``U(z)`` at ``temperature_K`` is used.
    voltage_error_V : the voltage error (accuracy bound of the cell monitor plus what is not
        modelled, e.g. hysteresis) [V], > 0 and below 1 V.
    soc : SOC points (default 0.05, 0.06, ..., 0.95).
    """
    o = "soc_uncertainty"
    check_range(o, "voltage_error_V", voltage_error_V, gt=0, lt=1)
    check_range(o, "temperature_K", temperature_K, gt=0)
    z = np.round(np.linspace(0.05, 0.95, 91), 10) if soc is None else np.atleast_1d(np.asarray(soc, float))
    check_range(o, "soc", z, ge=0, le=1)
    p = _params(chemistry)
    zf = np.linspace(0.0, 1.0, 2001)  # holds every node of a 101-point table: exact for piecewise-linear OCV
    uf = open_circuit_voltage(p, zf, temperature_K)
    if not np.all(np.diff(uf) > 0):
        raise ParameterError(f"{o}: the OCV of {p.name!r} does not rise strictly with SOC at {temperature_K:g} K, "
                             "so a voltage does not name one SOC.")
    u = np.interp(z, zf, uf)
    slope = np.abs(docv_dsoc(p, z, temperature_K))
    with np.errstate(divide="ignore"):
        lin = np.where(slope > 0, voltage_error_V / np.where(slope > 0, slope, 1.0), np.inf)
    hi = np.interp(u + voltage_error_V, uf, zf)  # np.interp holds 0 and 1 beyond the curve's ends
    lo = np.interp(u - voltage_error_V, uf, zf)
    return SocUncertainty(p.name, float(voltage_error_V), z, u, slope, lin, np.maximum(hi - z, z - lo))


def plot_soc_uncertainty(results: list[SocUncertainty], path: str | Path, dpi: int = 110) -> Path:
    """OCV curves (top) and the SOC error they imply (bottom, log scale) per chemistry, to an image file."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 7))
    FigureCanvasAgg(fig)
    top, bot = fig.subplots(2, 1, sharex=True)
    for r in results:
        top.plot(100 * r.soc, r.ocv_V, label=r.name)
        bot.semilogy(100 * r.soc, 100 * r.interval, label=f"{r.name} (exact)")
        bot.semilogy(100 * r.soc, 100 * np.minimum(r.linear, 1.0), ls=":", color=bot.lines[-1].get_color(),
                     label=f"{r.name} (dV / |dU/dz|)")
    top.set_ylabel("OCV [V]")
    top.legend()
    top.grid(alpha=0.3)
    dv = ", ".join(sorted({f"{1000 * r.voltage_error_V:g} mV" for r in results}))
    top.set_title(f"SOC error from a voltage error of {dv}")
    bot.set_xlabel("SOC [%]")
    bot.set_ylabel("SOC error [%-points]")
    bot.grid(alpha=0.3, which="both")
    bot.legend(fontsize=7)
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi)
    return p


# --------------------------------------------------------------------------------------------------
# Balancing time

@dataclass(frozen=True)
class BalancingTime:
    """Time to remove an imbalance of ``charge_Ah`` by each method, and the energy each turns into heat."""

    charge_Ah: float
    current_A: float
    efficiency: float
    duty: float
    outlier: str
    passive_h: float
    passive_heat_Wh: float
    cell_to_pack_h: float
    cell_to_pack_loss_Wh: float
    cell_to_cell_h: float
    cell_to_cell_loss_Wh: float

    def table(self) -> list[Row]:
        return [
            ("imbalance to remove", self.charge_Ah, "Ah"),
            ("balancing current / duty", f"{self.current_A:g} / {self.duty:g}", "A / -"),
            (f"passive: bleed the {'high cell' if self.outlier == 'high' else 'other cells (low outlier)'}",
             self.passive_h, "h"),
            ("passive: heat", self.passive_heat_Wh, "Wh"),
            (f"active cell-to-pack (eta {self.efficiency:g})", self.cell_to_pack_h, "h"),
            ("active cell-to-pack: converter loss", self.cell_to_pack_loss_Wh, "Wh"),
            (f"active cell-to-cell, two cells (eta {self.efficiency:g})", self.cell_to_cell_h, "h"),
            ("active cell-to-cell: converter loss", self.cell_to_cell_loss_Wh, "Wh"),
        ]


def balancing_time(capacity_Ah: float, imbalance: float, current_A: float, *, efficiency: float = 0.9,
                   duty: float = 1.0, cell_voltage_V: float = 3.7, n_series: int = 96,
                   outlier: str = "high") -> BalancingTime:
    """Time to remove an imbalance ``imbalance`` (SOC fraction) of a ``capacity_Ah`` cell at ``current_A``.

    The outlier cell differs from the others by ``dQ = imbalance * capacity_Ah``; every current is
    the one at the cell, on for a share ``duty`` of the time. Passive: the high cell is bled (a low
    outlier: the ``n_series - 1`` others are), ``t = dQ / (I duty)``, all of the bled charge is heat.
    Active cell-to-pack (or pack-to-cell for a low outlier): the outlier's charge changes by ``I``
    and every cell's by the string share ``eta I / N`` (``I / (eta N)``), so the difference closes
    at ``I``: ``t = dQ / (I duty)``; loss ``(1 - eta) V dQ`` (``(1/eta - 1) V dQ``). Active between
    two cells: the source loses ``I``, the other gains ``eta I``: ``t = dQ / ((1 + eta) I duty)``.
    """
    o = "balancing_time"
    check_range(o, "capacity_Ah", capacity_Ah, gt=0)
    check_range(o, "imbalance", imbalance, gt=0, le=1)
    check_range(o, "current_A", current_A, gt=0)
    check_range(o, "efficiency", efficiency, gt=0, le=1)
    check_range(o, "duty", duty, gt=0, le=1)
    check_range(o, "cell_voltage_V", cell_voltage_V, gt=0, le=10)
    n = _positive_int(o, "n_series", n_series, 2)
    if outlier not in ("high", "low"):
        raise ParameterError(f"{o}.outlier must be 'high' or 'low'; got {outlier!r}.")
    dq = float(imbalance) * float(capacity_Ah)
    eta, v = float(efficiency), float(cell_voltage_V)
    t = dq / (current_A * duty)
    bled = dq if outlier == "high" else (n - 1) * dq
    pack_loss = (1 - eta) * v * dq if outlier == "high" else (1 / eta - 1) * v * dq
    t_pair = dq / ((1 + eta) * current_A * duty)
    return BalancingTime(dq, float(current_A), eta, float(duty), outlier, t, bled * v, t, pack_loss,
                         t_pair, (1 - eta) * v * current_A * duty * t_pair)


# --------------------------------------------------------------------------------------------------
# Bleed resistor

_E24 = (1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2.0, 2.2, 2.4, 2.7, 3.0, 3.3, 3.6, 3.9, 4.3, 4.7, 5.1, 5.6, 6.2, 6.8,
        7.5, 8.2, 9.1)


def e_series(low: float, high: float) -> np.ndarray:
    """The E24 resistor values (IEC 60063) in ``[low, high]`` [Ohm], ascending."""
    dec = np.arange(np.floor(np.log10(max(low, 1e-3))) - 1, np.ceil(np.log10(max(high, 1e-3))) + 1)
    vals = np.round(np.outer(10.0**dec, _E24).ravel(), 6)
    return vals[(vals >= low * (1 - 1e-9)) & (vals <= high * (1 + 1e-9))]


@dataclass(frozen=True)
class BleedResistor:
    """A bleed resistor sized (or checked) against a time target and per-cell / per-pack power limits."""

    r_ohm: float
    r_max_time_ohm: float
    r_min_cell_ohm: float
    r_min_pack_ohm: float
    channels_on: int
    current_at_v_min_A: float
    current_at_v_max_A: float
    cell_power_W: float
    pack_power_W: float
    time_h: tuple[float, float]
    time_target_h: float
    meets_target: bool
    within_power: bool
    note: str

    def table(self) -> list[Row]:
        return [
            ("resistor", self.r_ohm, "Ohm"),
            ("largest R meeting the time target (at V_min)", self.r_max_time_ohm, "Ohm"),
            ("smallest R within the per-cell power limit", self.r_min_cell_ohm, "Ohm"),
            (f"smallest R within the per-pack limit ({self.channels_on} channels on)", self.r_min_pack_ohm, "Ohm"),
            ("bleed current at V_min / V_max", f"{self.current_at_v_min_A:.4g} / {self.current_at_v_max_A:.4g}", "A"),
            ("dissipation per cell at V_max", self.cell_power_W, "W"),
            ("dissipation per pack at V_max", self.pack_power_W, "W"),
            ("balancing time (V_max .. V_min)", f"{self.time_h[0]:.4g} .. {self.time_h[1]:.4g}", "h"),
            (f"time target {self.time_target_h:g} h met", "yes" if self.meets_target else "no", ""),
            ("within the power limits", "yes" if self.within_power else "no", ""),
            ("note", self.note, ""),
        ]


def bleed_resistor(capacity_Ah: float, imbalance: float, time_target_h: float, *, v_min_V: float, v_max_V: float,
                   max_cell_power_W: float, max_pack_power_W: float | None = None, n_series: int = 96,
                   channels_on: int | None = None, duty: float = 1.0, r_ohm: float | None = None) -> BleedResistor:
    """Size a bleed resistor, or check ``r_ohm``: remove ``imbalance * capacity_Ah`` within ``time_target_h``.

    A bleed channel draws ``V / R`` at the cell voltage ``V`` in ``[v_min_V, v_max_V]`` for a share
    ``duty`` of the time. Time: ``dQ R / (V duty) <= t`` at the slowest, ``V = v_min_V``, so
    ``R <= v_min_V t duty / dQ``. Power: ``v_max_V^2 / R <= max_cell_power_W`` and
    ``channels_on v_max_V^2 / R <= max_pack_power_W`` (default ``channels_on = n_series - 1``, a
    single low cell). Sizing picks the largest E24 value that meets both (least heat); if the power
    limits leave none that meets the time, the smallest E24 value within the power limits.
    """
    o = "bleed_resistor"
    check_range(o, "capacity_Ah", capacity_Ah, gt=0)
    check_range(o, "imbalance", imbalance, gt=0, le=1)
    check_range(o, "time_target_h", time_target_h, gt=0)
    check_range(o, "v_min_V", v_min_V, gt=0, le=10)
    check_range(o, "v_max_V", v_max_V, gt=0, le=10)
    if not v_max_V >= v_min_V:
        raise ParameterError(f"{o}: v_max_V ({v_max_V:g} V) must be >= v_min_V ({v_min_V:g} V).")
    check_range(o, "max_cell_power_W", max_cell_power_W, gt=0)
    if max_pack_power_W is not None:
        check_range(o, "max_pack_power_W", max_pack_power_W, gt=0)
    check_range(o, "duty", duty, gt=0, le=1)
    n = _positive_int(o, "n_series", n_series, 1)
    on = n - 1 if channels_on is None else _positive_int(o, "channels_on", channels_on, 1)
    on = max(on, 1)
    if on > n:
        raise ParameterError(f"{o}.channels_on must be <= n_series ({n}); got {on}.")
    dq_As = float(imbalance) * float(capacity_Ah) * 3600.0
    r_time = v_min_V * time_target_h * 3600.0 * duty / dq_As
    r_cell = v_max_V**2 / max_cell_power_W
    r_pack = 0.0 if max_pack_power_W is None else on * v_max_V**2 / max_pack_power_W
    r_pow = max(r_cell, r_pack)
    if r_ohm is not None:
        check_range(o, "r_ohm", r_ohm, gt=0)
        r, note = float(r_ohm), "the resistor given, checked"
    else:
        fit = e_series(r_pow, r_time)
        if fit.size:
            r, note = float(fit[-1]), "largest E24 value meeting the time target within the power limits"
        else:
            r = float(e_series(r_pow, 10 * r_pow + 10)[0])
            note = ("the power limits allow no resistor that meets the time target: smallest E24 value within "
                    "them; raise the limits, the duty or the time target")
    t_slow = dq_As * r / (v_min_V * duty) / 3600.0
    t_fast = dq_As * r / (v_max_V * duty) / 3600.0
    p_cell = v_max_V**2 / r
    return BleedResistor(r, r_time, r_cell, r_pack, on, v_min_V / r, v_max_V / r, p_cell, on * p_cell,
                         (t_fast, t_slow), float(time_target_h), t_slow <= time_target_h * (1 + 1e-12),
                         r >= r_pow * (1 - 1e-12), note)


# --------------------------------------------------------------------------------------------------
# Usable capacity of a series string

@dataclass(frozen=True, eq=False)
class UsableCapacity:
    """Usable capacity of a series string now, and with perfect passive and perfect active balancing [Ah]."""

    element_capacity_Ah: np.ndarray
    deliverable_Ah: np.ndarray
    storable_Ah: np.ndarray
    now_Ah: float
    passive_Ah: float
    active_Ah: float
    efficiency: float
    bleed_Ah: float
    first_empty: int
    first_full: int
    weakest: int

    @property
    def recover_passive_Ah(self) -> float:
        return self.passive_Ah - self.now_Ah

    @property
    def recover_active_Ah(self) -> float:
        return self.active_Ah - self.now_Ah

    def table(self) -> list[Row]:
        q = self.element_capacity_Ah
        return [
            ("series elements", float(q.size), "-"),
            ("element capacity min / mean / max", f"{q.min():.4g} / {q.mean():.4g} / {q.max():.4g}", "Ah"),
            (f"deliverable now (min D_g, element {self.first_empty} empties first)", self.deliverable_Ah.min(), "Ah"),
            (f"storable now (min S_g, element {self.first_full} fills first)", self.storable_Ah.min(), "Ah"),
            ("usable now (min D + min S)", self.now_Ah, "Ah"),
            (f"perfect passive: min_g Q_g (element {self.weakest})", self.passive_Ah, "Ah"),
            ("  recovered by passive", self.recover_passive_Ah, "Ah"),
            ("  charge bled to get there (least)", self.bleed_Ah, "Ah"),
            (f"perfect active, eta {self.efficiency:g} (mean Q at eta 1)", self.active_Ah, "Ah"),
            ("  recovered by active", self.recover_active_Ah, "Ah"),
        ]


def _active_bound(q: np.ndarray, eta: float) -> float:
    """Root ``u`` of ``eta sum (q - u)^+ = sum (u - q)^+`` on ``[min q, max q]`` (``mean q`` for eta = 1)."""
    from scipy.optimize import brentq

    lo, hi = float(q.min()), float(q.max())
    if hi - lo <= 1e-15 * max(hi, 1.0):
        return lo
    return float(brentq(lambda u: eta * np.maximum(q - u, 0).sum() - np.maximum(u - q, 0).sum(), lo, hi,
                        xtol=1e-13 * hi, rtol=1e-14))


def usable_capacity(capacity_Ah, soc, *, efficiency: float = 1.0) -> UsableCapacity:
    """Usable capacity of a series string and what perfect passive and active balancing could recover.

    Parameters
    ----------
    capacity_Ah, soc : cell capacities [Ah] and SOCs, shaped (n_series,) or (n_series, n_parallel)
        (cells of a parallel group share their charge); broadcast to each other.
    efficiency : converter efficiency of one transfer, in (0, 1].

    ``now`` is :func:`cellbalance.analysis.metrics.usable_capacity_Ah` (``min_g D_g + min_g S_g``);
    perfect passive reaches its ``ideal``, ``min_g Q_g`` (bleeding only removes charge: leaving the
    emptiest element, every element ``g`` is bled to at most ``min D + Q_g - Q_w``, which makes the
    weakest element ``w`` both the first to empty and the first to fill; the least charge bled is
    ``sum_g (D_g - min D - (Q_g - Q_w))^+``); perfect active balancing during use moves charge so that
    every element empties (fills) together: ``u`` with ``eta sum_g (Q_g - u)^+ = sum_g (u - Q_g)^+``.
    """
    from .metrics import element_charge_Ah, usable_capacity_Ah

    o = "usable_capacity"
    q = np.asarray(capacity_Ah, float)
    z = np.asarray(soc, float)
    check_range(o, "capacity_Ah", q, gt=0)
    check_range(o, "soc", z, ge=0, le=1)
    check_range(o, "efficiency", efficiency, gt=0, le=1)
    try:
        q, z = np.broadcast_arrays(q, z)
    except ValueError:
        raise ParameterError(f"{o}: capacity_Ah {q.shape} and soc {z.shape} do not broadcast.") from None
    if q.ndim == 0 or q.ndim > 2:
        raise ParameterError(f"{o}: capacity_Ah and soc must be shaped (n_series,) or (n_series, n_parallel); "
                             f"got {q.shape}.")
    if q.ndim == 1:
        q, z = q[:, None], z[:, None]
    if q.shape[0] < 1:
        raise ParameterError(f"{o}: give at least one cell.")
    d, s = element_charge_Ah(z, q)
    now, ideal = usable_capacity_Ah(z, q)
    qg = q.sum(-1)
    w = int(np.argmin(qg))
    bleed = float(np.maximum(d - d.min() - (qg - qg[w]), 0).sum())
    return UsableCapacity(qg, d, s, float(now), float(ideal), _active_bound(qg, float(efficiency)), float(efficiency),
                          bleed, int(np.argmin(d)), int(np.argmin(s)), w)


def draw_cells(n_series: int, capacity_Ah: float, capacity_sigma: float, soc: float, soc_sigma: float,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded normal draws of cell capacities (relative sigma, clipped at 5 % of the mean, as
    :mod:`cellbalance.pack.variation`) and SOCs (absolute sigma, clipped to [0, 1], with a warning)."""
    from ..pack.variation import Distribution

    o = "draw_cells"
    n = _positive_int(o, "n_series", n_series, 1)
    check_range(o, "capacity_Ah", capacity_Ah, gt=0)
    check_range(o, "capacity_sigma", capacity_sigma, ge=0, lt=1)
    check_range(o, "soc", soc, ge=0, le=1)
    check_range(o, "soc_sigma", soc_sigma, ge=0, lt=1)
    _positive_int(o, "seed", seed, 0)
    rq, rz = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    rel, _ = Distribution(mean=1.0, sigma=float(capacity_sigma), low=0.05).draw(rq, n)
    z, clipped = Distribution(mean=float(soc), sigma=float(soc_sigma), low=0.0, high=1.0).draw(rz, n)
    if clipped:
        warn(f"draw_cells: {clipped} of {n} SOC draws (mean {soc:g}, sigma {soc_sigma:g}) fell outside [0, 1] and "
             "were set to the bound.")
    return capacity_Ah * rel, z


# --------------------------------------------------------------------------------------------------
# Topology

@dataclass(frozen=True)
class TopologyBalancing:
    """Algebraic connectivity and predicted balancing time of one topology (:mod:`.graph`)."""

    kind: str
    n_cells: int
    edges: int
    gain_A: float
    lambda2_unit: float
    lambda2_A: float
    tau_h: float
    time_h: float
    edge_current_A: float
    max_current_A: float | None
    parts: dict = field(default_factory=dict)

    def table(self) -> list[Row]:
        rows: list[Row] = [
            ("topology / cells / edges", f"{self.kind} / {self.n_cells} / {self.edges}", ""),
            ("algebraic connectivity of the graph (unit gains)", self.lambda2_unit, "-"),
            ("per-edge gain k", self.gain_A, "A per unit SOC"),
            ("lambda_2 with the gains", self.lambda2_A, "A per unit SOC"),
            ("time constant Q / (k lambda_2)", self.tau_h, "h"),
            ("predicted balancing time (worst case: the slowest mode)", self.time_h, "h"),
            ("largest edge current at the start", self.edge_current_A, "A"),
        ]
        if self.max_current_A is not None:
            ok = self.edge_current_A <= self.max_current_A * (1 + 1e-12)
            rows.append(("within the converter limit (linear prediction holds)", "yes" if ok else
                         f"no: saturates above {self.max_current_A:g} A, balancing is slower", ""))
        rows.append(("parts: switches / inductors / transformers / capacitors",
                     " / ".join(str(self.parts.get(k, 0)) for k in ("switches", "inductors", "transformers",
                                                                    "capacitors")), ""))
        return rows


def topology_balancing(kind: str, n_cells: int, *, capacity_Ah: float, spread0: float, target: float,
                       gain_A: float | None = None, max_current_A: float | None = None,
                       module_size: int | None = None) -> TopologyBalancing:
    """``lambda_2`` and the predicted time for the SOC spread to fall from ``spread0`` to ``target``.

    The per-edge gain ``k`` [A per unit SOC] is ``gain_A``, or, if only ``max_current_A`` is given,
    ``max_current_A / spread0`` (the largest gain whose edge currents stay within the converter
    limit from the start, where they are at most ``k spread0``). The numbers come from
    :func:`cellbalance.analysis.graph.compare_topologies` (``t = Q / (k lambda_2) ln(spread0/target)``).
    """
    from .graph import compare_topologies

    o = "topology_balancing"
    n = _positive_int(o, "n_cells", n_cells, 2)
    check_range(o, "capacity_Ah", capacity_Ah, gt=0)
    check_range(o, "spread0", spread0, gt=0, le=1)
    check_range(o, "target", target, gt=0, le=1)
    if max_current_A is not None:
        check_range(o, "max_current_A", max_current_A, gt=0)
    if gain_A is None:
        if max_current_A is None:
            raise ParameterError(f"{o}: give gain_A (A per unit SOC) or max_current_A (A), or both.")
        gain_A = max_current_A / spread0
    check_range(o, "gain_A", gain_A, gt=0)
    df = compare_topologies(n, weight_A=float(gain_A), capacity_Ah=float(capacity_Ah), spread0=float(spread0),
                            target=float(target), kinds=[kind], module_size=module_size)
    r = df.iloc[0]
    lam = float(r["lambda_2 [A/SOC]"])
    parts = {k: int(r[k]) for k in ("switches", "inductors", "transformers", "capacitors")}
    return TopologyBalancing(kind, n, int(r["edges"]), float(gain_A), lam / float(gain_A), lam, float(r["tau [h]"]),
                             float(r["t_balance [h]"]), float(r["i_edge@spread0 [A]"]), max_current_A, parts)


# --------------------------------------------------------------------------------------------------
# Self-discharge drift

@dataclass(frozen=True)
class SelfDischargeDrift:
    """SOC drift from a self-discharge spread, and the balancing current that keeps up with it."""

    capacity_Ah: float
    leak_spread_A: float
    drift_per_month: float
    months_to_limit: float
    limit: float
    balancing_hours_per_day: float
    current_A: float

    def table(self) -> list[Row]:
        return [
            ("self-discharge spread (max - min)", 1000 * self.leak_spread_A, "mA"),
            ("SOC drift", 100 * self.drift_per_month, "%-points per month"),
            ("charge drift", self.leak_spread_A * HOURS_PER_MONTH, "Ah per month"),
            (f"time until the spread reaches {100 * self.limit:g} %-points", self.months_to_limit, "months"),
            (f"balancing current that keeps up ({self.balancing_hours_per_day:g} h/day)", 1000 * self.current_A, "mA"),
        ]


def self_discharge_drift(capacity_Ah: float, *, leak_spread_A: float | None = None,
                         rate_pct_per_month: float | None = None, rate_sigma: float | None = None,
                         n_series: int = 96, seed: int = 0, balancing_hours_per_day: float = 24.0,
                         limit: float = 0.05) -> SelfDischargeDrift:
    """SOC drift per month that a self-discharge spread causes, and the balancing current that keeps up.

    The spread is ``leak_spread_A`` (largest minus smallest self-discharge current [A]) or drawn:
    ``n_series`` cells of mean rate ``rate_pct_per_month`` (% of capacity per 30 days) with lognormal
    relative spread ``rate_sigma`` (as the ``self_discharge`` of :mod:`cellbalance.pack.variation`),
    seeded. In a series string only the differences move the SOCs apart:
    ``d(spread)/dt = leak_spread / Q`` (:mod:`cellbalance.studies.drift`). Balancing allowed
    ``h`` hours a day must remove the same charge in that time: ``I = leak_spread * 24 / h``.
    """
    o = "self_discharge_drift"
    check_range(o, "capacity_Ah", capacity_Ah, gt=0)
    check_range(o, "balancing_hours_per_day", balancing_hours_per_day, gt=0, le=24)
    check_range(o, "limit", limit, gt=0, le=1)
    if (leak_spread_A is None) == (rate_pct_per_month is None):
        raise ParameterError(f"{o}: give either leak_spread_A or rate_pct_per_month (with rate_sigma), not both "
                             "or neither.")
    if leak_spread_A is not None:
        check_range(o, "leak_spread_A", leak_spread_A, gt=0)
        spread = float(leak_spread_A)
    else:
        from ..pack.variation import Distribution

        check_range(o, "rate_pct_per_month", rate_pct_per_month, gt=0, lt=100)
        if rate_sigma is None:
            raise ParameterError(f"{o}: rate_pct_per_month needs rate_sigma (relative spread, e.g. 0.3).")
        check_range(o, "rate_sigma", rate_sigma, gt=0, lt=5)
        n = _positive_int(o, "n_series", n_series, 2)
        _positive_int(o, "seed", seed, 0)
        rel, _ = Distribution(kind="lognormal", mean=1.0, sigma=float(rate_sigma), low=0.05).draw(
            np.random.default_rng(seed), n)
        i_sd = rate_pct_per_month / 100.0 * capacity_Ah / HOURS_PER_MONTH * rel
        spread = float(i_sd.max() - i_sd.min())
    drift = spread * HOURS_PER_MONTH / capacity_Ah
    return SelfDischargeDrift(float(capacity_Ah), spread, drift, limit / drift, float(limit),
                              float(balancing_hours_per_day), spread * 24.0 / balancing_hours_per_day)
