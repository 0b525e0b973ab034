"""Lifetime: years of daily use and aging, with the balancing controller in the loop, by timescale separation.

The seed article's strategy for long horizons: the fast layers (cells at the plant period, the
balancing controller at its period) are simulated in full only for *representative cycles*; the slow
layers (aging, SOC drift) are integrated at the rate of days to months in between, and a
representative cycle is simulated again when the cells have changed.

One slow step (an *interval* of ``N`` days, one duty cycle a day) for one design:

1. the aged cells: :func:`cellbalance.pack.aged.age_cells` (capacities ``q Q_0`` and resistances ``r R_0``
   through ``params.compile``); the supervisory layer re-estimates the capacity the controllers and
   estimators see (``supervisor = "perfect"``: the true mean aged capacity of the pack, i.e. a capacity
   estimator with no error -- the WTLS estimator of :mod:`cellbalance.estimation.capacity` would add its
   error; ``"none"``: the controllers keep the beginning-of-life capacity);
2. the representative cycle: one day simulated at the plant period with the design's balancer,
   controller and estimator in the loop (:func:`cellbalance.sim.simulate`), from the current state;
3. its per-cell stressors (:meth:`cellbalance.aging.Stressors.from_timeseries` on the recorded SOC and
   temperature: throughput, DOD, mean SOC, temperature; a cycle shorter than 24 h is padded with rest at
   its last SOC and temperature so that each cycle is one calendar day), its balancing energies, the
   per-cell SOC change over the cycle ``dz_i`` and the element SOC spread at its start and end;
4. what the day shows about the fast layers (the balancing loop) decides how the SOCs go on:

   * *periodic steady state* ("hold"): a design with a feedback controller whose day neither lowers nor
     raises the element SOC spread of any pack by more than ``soc_tol / 10``: the balancer moves per day
     what drifts per day, the relative SOCs are held at the day's end state for the interval (a
     cycle-to-cycle steady state, the envelope of the fast periodic motion standing still);
   * *settling* ("settle"): the day lowered the spread by more than that (the balancer still converges, or a
     threshold rule's bleed day): the next day is simulated too (``N = 1``);
   * *drift* (no feedback controller, or a balancer that lets the spread grow): the SOCs are extrapolated
     linearly, ``z_i <- z_i + (N - 1) dz_i`` after the simulated day, then shifted per pack so that its
     highest cell keeps its end-of-cycle SOC (the common mode is pinned every day by the charge that ends
     when the highest element reaches ``v_max``);

5. the slow integration over the interval: aging advanced day by day with the day's stressors (the models'
   own daily step; the stressor-only rate terms are computed once, :meth:`Stressors.memo`); energies: the
   simulated day's, plus ``N - 1`` times the mean over the days simulated in a row up to it in a steady
   state (a threshold rule bleeds one day and not the next: those are samples of its limit cycle), else
   the day's.

Error control (when a representative cycle is simulated again), :class:`Stepping`: the interval ends,
and the next day is simulated in full, at the first of

* any cell's relative capacity ``q`` or resistance ``r`` has moved by more than ``capacity_tol`` since the
  last representative cycle (the cells the plant simulates, the drift and the steady state they set are
  then stale by at most that much);
* steady state: ``N >= soc_tol / rise`` where the day raised the spread by ``rise`` (a balancer short of
  authority lets the spread grow a little every day: it is looked at again before it can have grown by
  ``soc_tol``);
* drift: ``N >= soc_tol / max_i |rel_i - rel_i,prev|``, the change of the relative SOC rate
  (``rel_i = dz_i - mean_pack(dz)``) since the previous representative day: the extrapolation's error
  over the interval stays under ``soc_tol`` while the rate changes at the pace it did (the first drift day
  has no previous one: the next day is simulated too, which also takes the transient of an arbitrary
  initial state out of the rate); and the extrapolated SOCs must stay >= 0;
* ``max_days`` days (and every year's end, where the results are taken).

This is envelope following (multirate integration of a periodically forced system: the state at the ends of
the cycles is integrated on the slow time scale, each step's rate taken from one cycle simulated in full;
L. Petzold, "An efficient numerical method for highly oscillatory ordinary differential equations", SIAM J.
Numer. Anal. 18 (1981) 455-479; K. Kundert, J. White, A. Sangiovanni-Vincentelli, "Steady-state methods
for simulating analog and microwave circuits", Kluwer 1990, periodic steady state), with the stiff part
(the balancing loop, which settles within a day or two) taken at its periodic steady state instead of
being extrapolated.

``Stepping(max_days=1)`` (:data:`BRUTE_FORCE`) simulates every day in full with aging advanced daily:
the reference the method is validated against (``tests/studies/test_lifetime.py``).

Energies over the life, per pack: ``energy_bleed_Wh`` (heat in the bleed resistors), ``energy_converter_loss_Wh``
(converter losses), ``energy_balancing_lost_Wh`` (the sum: energy lost to balancing), and
``energy_moved_Wh``: the energy the converters draw out of the source elements,
``sum_k sum_g max(-i_g,k, 0) v_g,k dt_k`` over the controller calls ``k`` (held element balancing current
``i_g,k`` < 0 for a source, the element voltage measured at the call, held for ``dt_k``): the gross
transfer, which counts charge a controller without a dead band moves back and forth within the day (SOC
differences from unequal capacities come and go with the drive); ``energy_moved_net_Wh``: per day,
``sum_g max(-sum_k i_g,k dt_k, 0) x mean v_g``, the charge each element gave up net over the day, which is
what holding the spread against the drift takes (passive balancing must *burn* at least that much: it
can only take charge away, from every element above the lowest).

Usable capacity (Plett's ``min_g D_g + min_g S_g``, :mod:`cellbalance.analysis.metrics`) and the element
SOC spread are taken at the end of each day's cycle (after the rest that follows the charge).
"""

from __future__ import annotations

import datetime as _dt
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..aging import AgingModel, AgingState, Stressors, get_aging_model, sample_rate_scalars
from ..cell import CellParameters, CellState
from ..cell import kernels as K
from ..errors import ParameterError, SimulationError, check_range
from ..pack.aged import age_cells
from ..pack.layout import PackLayout
from ..pack.variation import SampledPack, Variation, sample
from ..scenarios.experiment import Experiment
from ..sim import SimulationOptions, simulate
from ..sim.results import final_state
from .compare import Design

__all__ = ["BRUTE_FORCE", "AgingSetup", "Stepping", "element_metrics", "lifetime_table", "plot_lifetime", "run_lifetime"]

_DAY_S = 86400.0
DAYS_PER_YEAR = 365
#: a design whose usable capacity has fallen below this x eol_fraction x the initial one (every pack) is
#: retired: far past its end of life, it is not simulated further (its later years are NaN)
RETIRE_FRACTION = 0.5


@dataclass(frozen=True)
class Stepping:
    """Error control of the timescale separation (module docstring)."""

    capacity_tol: float = 0.02
    soc_tol: float = 0.01
    max_days: int = 365

    def __post_init__(self) -> None:
        check_range("Stepping", "capacity_tol", self.capacity_tol, ge=0.0, lt=1.0)
        check_range("Stepping", "soc_tol", self.soc_tol, ge=0.0, le=1.0)
        if isinstance(self.max_days, bool) or not isinstance(self.max_days, int | np.integer) or self.max_days < 1:
            raise ParameterError(f"Stepping.max_days must be an integer >= 1; got {self.max_days!r}.")


#: every day simulated in full at the plant period, aging advanced daily (the reference)
BRUTE_FORCE = Stepping(capacity_tol=0.0, soc_tol=0.0, max_days=1)


@dataclass(frozen=True)
class AgingSetup:
    """Which aging model, and the cell-to-cell spread of its rates.

    ``rate_sigma``: log-standard deviation of the per-cell rate scalars (log-normal, mean ``rate_mean``;
    :func:`cellbalance.aging.sample_rate_scalars`); ``seed``: their seed (default: the pack's seed).
    ``scheme``: ``"blast"`` or ``"exact"`` (:mod:`cellbalance.aging.laws`).
    """

    model: str
    rate_sigma: float = 0.05
    rate_mean: float = 1.0
    seed: int | None = None
    scheme: str = "blast"

    def __post_init__(self) -> None:
        get_aging_model(self.model)  # unknown name: one message with the allowed names
        check_range("AgingSetup", "rate_sigma", self.rate_sigma, ge=0.0, le=2.0)
        check_range("AgingSetup", "rate_mean", self.rate_mean, ge=0.0)


@dataclass
class _Track:
    """The evolving state of one design (private; one per design)."""

    aging: AgingState
    x: CellState
    day: int = 0
    q_ref: np.ndarray | None = None
    r_ref: np.ndarray | None = None
    energy: np.ndarray = field(default_factory=lambda: np.zeros((4, 1)))  # bleed, conv loss, moved, net [J] x pack
    cycles: int = 0
    history: list = field(default_factory=list)  # (day, usable (B,), spread (B,)) at every interval end
    rel: np.ndarray | None = None  # the last representative day's SOC change of each cell relative to its pack
    mode: str = ""  # what the last representative day showed: "hold", "settle" or "drift"
    run_e: list = field(default_factory=list)  # energies of the days simulated in a row up to the last one
    retired: bool = False  # far past end of life: no longer simulated


def element_metrics(soc, capacity_Ah, layout: PackLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(usable, ideal, element SOC spread) per pack from cell SOCs and capacities [Ah] (Plett's usable
    capacity ``min_g D_g + min_g S_g``, the same formula as :func:`cellbalance.analysis.metrics.usable_capacity_Ah`)."""
    B, Ns, Np = layout.shape
    z = np.asarray(soc, float).reshape(B, Ns, Np)
    q = np.asarray(capacity_Ah, float).reshape(B, Ns, Np)
    d = (z * q).sum(-1)
    s = ((1.0 - z) * q).sum(-1)
    qg = q.sum(-1)
    zg = d / qg
    return d.min(-1) + s.min(-1), qg.min(-1), zg.max(-1) - zg.min(-1)


def _moved_energy_J(ds: xr.Dataset, B: int) -> tuple[np.ndarray, np.ndarray]:
    """(gross, net) energy moved by the converters over the run [J] per pack (module docstring)."""
    if "balancer_element_current_A" not in ds or "measured_element_voltage_V" not in ds:
        return np.zeros(B), np.zeros(B)
    tc = ds.control_time.values
    i = ds.balancer_element_current_A.values  # (k, B, Ns)
    tm = ds.measurement_time.values
    v = ds.measured_element_voltage_V.values
    j = np.clip(np.searchsorted(tm, tc + 1e-9, side="right") - 1, 0, tm.size - 1)
    t_end = float(ds.time.values[-1])
    dt = np.diff(np.append(tc, max(t_end, float(tc[-1]))))[:, None, None]
    gross = (np.maximum(-i, 0.0) * v[j] * dt).sum(axis=(0, 2))
    net_charge = (i * dt).sum(axis=0)  # (B, Ns) [C], > 0: the element received charge over the day
    net = (np.maximum(-net_charge, 0.0) * v.mean(axis=0)).sum(axis=1)
    return gross, net


def _cycle_stressors(ds: xr.Dataset, t0: float) -> tuple[Stressors, float]:
    """Per-cell stressors of one recorded cycle (padded with rest to 24 h); and the cycle length [s]."""
    t = ds.time.values - t0
    z = ds.soc.values.reshape(t.size, -1).T  # (n, m)
    temp = ds.temperature_K.values.reshape(t.size, -1).T
    span = float(t[-1] - t[0])
    if span < _DAY_S - 1.0:
        t = np.append(t, t[0] + _DAY_S)
        z = np.concatenate([z, z[:, -1:]], axis=1)
        temp = np.concatenate([temp, temp[:, -1:]], axis=1)
    if np.any(z < -1e-9) or np.any(z > 1.0 + 1e-9):
        raise SimulationError(f"run_lifetime: a cell's SOC left [0, 1] during the representative day "
                              f"(min {z.min():.6g}, max {z.max():.6g}); the duty over-charges or over-discharges it.")
    return Stressors.from_timeseries(t, np.clip(z, 0.0, 1.0), temp), span  # clip: rounding only (checked above)


def run_lifetime(
    params: CellParameters,
    layout: PackLayout,
    variation: Variation | SampledPack,
    designs: Mapping[str, Design],
    *,
    years: float,
    aging: AgingSetup,
    cycle: list[str],
    period_s: float = 60.0,
    seed: int = 0,
    mean_soc: float | None = None,
    ambient_K: float | None = None,
    stepping: Stepping = Stepping(),
    supervisor: str = "perfect",
    eol_fraction: float = 0.8,
    start_date: str | None = None,
    record_every_s: float = 600.0,
    progress: Callable[[float, float], None] | None = None,
    checkpoint: Callable[[xr.Dataset], None] | None = None,
) -> xr.Dataset:
    """Years of one duty cycle a day on the same aged pack, once per design; see the module docstring.

    Parameters
    ----------
    params, layout, variation : the cell type, the pack(s) and the cell-to-cell variation drawn with
        ``seed`` (or an already sampled pack); every design starts from the same cells and state
    designs : name -> :class:`~cellbalance.studies.compare.Design` (``Design()`` = no balancing)
    years : horizon [years of 365 days]; aging : the model and the spread of its rates
    cycle : the steps of one day (e.g. :func:`cellbalance.studies.drift.daily_cycle`); ``period_s`` the plant period
    stepping : error control (:class:`Stepping`; :data:`BRUTE_FORCE` simulates every day)
    supervisor : "perfect" (controllers see the true mean aged capacity) or "none" (the initial one)
    eol_fraction : end of life when the usable capacity falls below this fraction of the initial one
    start_date : ISO date of day 0 (for the end-of-life dates); default none (years only)
    progress : called ``(days done, days in total)`` over all designs after every interval
    checkpoint : called with the results so far after every simulated year (all designs at that year)

    Returns an :class:`xarray.Dataset` with dims ``design``, ``year`` (0, 1, ..., the years completed) and
    ``pack``; variables in the module docstring and their attributes.
    """
    if not designs:
        raise ParameterError("run_lifetime: no designs given.")
    for name, d in designs.items():
        if not isinstance(d, Design):
            raise ParameterError(f"run_lifetime: design {name!r} must be a Design; got {type(d).__name__}.")
    check_range("run_lifetime", "years", years, gt=0, le=100)
    check_range("run_lifetime", "eol_fraction", eol_fraction, gt=0, lt=1)
    check_range("run_lifetime", "record_every_s", record_every_s, gt=0)
    if supervisor not in ("perfect", "none"):
        raise ParameterError(f"run_lifetime: supervisor must be 'perfect' or 'none'; got {supervisor!r}.")
    if not isinstance(stepping, Stepping):
        raise ParameterError(f"run_lifetime: stepping must be a Stepping; got {type(stepping).__name__}.")
    if not isinstance(aging, AgingSetup):
        raise ParameterError(f"run_lifetime: aging must be an AgingSetup; got {type(aging).__name__}.")
    date0 = None
    if start_date is not None:
        try:
            date0 = _dt.date.fromisoformat(str(start_date))
        except ValueError:
            raise ParameterError(f"run_lifetime: start_date must be an ISO date like 2027-01-01; got {start_date!r}.") from None
    total_days = int(round(years * DAYS_PER_YEAR))
    if total_days < 1:
        raise ParameterError(f"run_lifetime: years = {years!r} is less than one day.")
    if isinstance(variation, SampledPack):
        sp = variation
    else:
        sp = sample(variation, params, layout, seed=seed, mean_soc=mean_soc, ambient_K=ambient_K)
    if sp.cells.n != layout.n_cells:
        raise ParameterError(f"run_lifetime: the sampled pack has {sp.cells.n} cells; the layout needs {layout.n_cells}.")
    model: AgingModel = get_aging_model(aging.model)
    n = layout.n_cells
    B = layout.n_packs
    rates = aging.rate_mean * sample_rate_scalars(n, aging.rate_sigma, seed=seed if aging.seed is None else aging.seed)
    exp = Experiment(list(cycle), period_s=period_s)
    every = max(1, round(record_every_s / period_s))
    opts = SimulationOptions(record_every=every, max_time_s=2.0 * _DAY_S,
                             record_variables=("soc", "temperature_K", "energy_bleed_J", "energy_converter_loss_J"))
    cap0 = sp.capacity_Ah
    tracks = {name: _Track(model.initial_state(n), sp.initial_state, energy=np.zeros((4, B))) for name in designs}
    u0 = element_metrics(sp.initial_state.soc, cap0, layout)[0]
    names = list(designs)
    done_years: list[dict] = [_snapshot(tracks, names, cap0, layout, 0)]

    def advance_interval(name: str, end_day: int) -> None:
        tr = tracks[name]
        d = designs[name]
        nominal = float(np.mean(cap0 * tr.aging.q)) if supervisor == "perfect" else None
        cells = age_cells(sp.cells, tr.aging, nominal_capacity_Ah=nominal)
        ds = simulate(cells, exp, layout=layout, state=tr.x, ambient_K=sp.ambient_K, balancer=d.balancer,
                      controller=d.controller, estimator=d.estimator, sensors=d.sensors, supervisor=d.supervisor,
                      options=opts)
        if int(ds.attrs.get("truncated", 0)):
            raise SimulationError(f"run_lifetime: design {name!r}, day {tr.day}: the daily cycle did not end within "
                                  "48 h; check the cycle's steps.")
        x_end = final_state(ds)
        st, span = _cycle_stressors(ds, float(ds.time.values[0]))
        e_day = np.stack([ds.energy_bleed_J.values[-1], ds.energy_converter_loss_J.values[-1],
                          *_moved_energy_J(ds, B)])
        dz = x_end.soc - tr.x.soc
        rel = (dz.reshape(B, -1) - dz.reshape(B, -1).mean(axis=1, keepdims=True)).reshape(-1)
        s0 = element_metrics(tr.x.soc, cap0 * tr.aging.q, layout)[2]
        s1 = element_metrics(x_end.soc, cap0 * tr.aging.q, layout)[2]
        settle = stepping.soc_tol / 10.0
        controlled = d.controller is not None and d.balancer is not None
        if controlled and np.all(np.abs(s1 - s0) <= settle):
            # periodic steady state: the balancer holds the spread (per day it moves what drifts): the
            # relative SOCs are held; a spread that rose over the day may be one a balancer short of
            # authority lets grow: held for at most soc_tol / rise days
            mode = "hold"
            rise = float(np.max(s1 - s0))
            n_soc = stepping.soc_tol / rise if rise > 0 else math.inf
        elif controlled and np.any(s1 < s0 - settle):
            mode = "settle"  # still converging: the next day too
            n_soc = 1.0
        else:
            # a steady drift (no feedback, or a balancer that cannot hold it): extrapolated linearly; the error
            # of holding the day's rate grows with the change of the rate since the last representative day
            mode = "drift"
            change = math.inf if tr.rel is None or tr.mode != "drift" else float(np.abs(rel - tr.rel).max())
            worst = float(np.abs(rel).max())
            n_soc = min(math.inf if change == 0.0 else stepping.soc_tol / change,
                        math.inf if worst == 0.0 else stepping.soc_tol / worst)
        # keep the extrapolated SOCs >= 0: against the pinned highest cell, a cell falling behind by ``fall`` a
        # day reaches 0 after z_end / fall days
        zb = x_end.soc.reshape(B, -1)
        if mode == "drift":
            top = np.take_along_axis(dz.reshape(B, -1), zb.argmax(axis=1)[:, None], axis=1)
            fall = np.maximum(top - dz.reshape(B, -1), 0.0)
            with np.errstate(divide="ignore"):
                n_pos = float(np.min(np.where(fall > 0, zb / fall, np.inf))) + 1.0
        else:
            n_pos = math.inf
        n_max = max(1, min(stepping.max_days, end_day - tr.day, int(min(n_soc, n_pos, 1e9))))
        q_ref, r_ref = tr.aging.q.copy(), tr.aging.r.copy()
        ag = tr.aging
        used = 0
        while used < n_max:
            ag = model.advance(ag, st, rate_scalar=rates, scheme=aging.scheme, warn=used == 0)
            used += 1
            if np.abs(ag.q - q_ref).max() > stepping.capacity_tol or np.abs(ag.r - r_ref).max() > stepping.capacity_tol:
                break
        x = x_end.x.copy()
        if used > 1 and mode == "drift":
            z = x[:, K.X_Z].reshape(B, -1)
            z_end = z.copy()
            z = z + (used - 1) * dz.reshape(B, -1)
            z -= (z.max(axis=1) - z_end.max(axis=1))[:, None]
            if np.any(z < 0.0):
                raise SimulationError(f"run_lifetime: design {name!r}, day {tr.day}: the extrapolated SOC of a cell "
                                      f"fell below 0 over {used} days; lower stepping.soc_tol ({stepping.soc_tol:g}) or max_days.")
            x[:, K.X_Z] = z.reshape(-1)
        # energies: the simulated day's, and for the extrapolated days the mean over the days simulated in a
        # row up to this one (a threshold rule's limit cycle bleeds one day, not the next)
        if tr.day > 0:  # (the first day starts from the given initial state: its transient is counted once)
            tr.run_e.append(e_day)
        rate = np.mean(tr.run_e, axis=0) if mode == "hold" and tr.run_e else e_day
        tr.energy = tr.energy + e_day + (used - 1) * rate
        if used > 1:
            tr.run_e = []
        tr.aging = ag
        tr.x = CellState(x)
        tr.day += used
        tr.cycles += 1
        tr.rel, tr.mode = rel, mode
        usable, _, spread = element_metrics(x[:, K.X_Z], cap0 * ag.q, layout)
        tr.history.append((tr.day, usable, spread))
        if np.all(usable < RETIRE_FRACTION * eol_fraction * u0):
            tr.retired = True
        if span > _DAY_S + 1.0 and tr.cycles == 1:
            warnings.warn(f"run_lifetime: the daily cycle lasts {span / 3600:.2f} h, more than a day; each cycle is "
                          "counted as one day of use.", stacklevel=3)

    n_years = math.ceil(total_days / DAYS_PER_YEAR)
    total = float(total_days * len(names))
    done = 0.0
    for y in range(1, n_years + 1):
        end_day = min(y * DAYS_PER_YEAR, total_days)
        for name in names:
            tr = tracks[name]
            while tr.day < end_day and not tr.retired:
                before = tr.day
                advance_interval(name, end_day)
                done += tr.day - before
                if tr.retired:
                    done += total_days - tr.day  # its remaining days are not simulated
                if progress is not None:
                    progress(done, total)
        done_years.append(_snapshot(tracks, names, cap0, layout, end_day))
        if checkpoint is not None:
            checkpoint(_dataset(done_years, tracks, names, u0, layout, model, aging, stepping, eol_fraction, date0,
                                supervisor, period_s))
    return _dataset(done_years, tracks, names, u0, layout, model, aging, stepping, eol_fraction, date0, supervisor,
                    period_s)


def _snapshot(tracks, names, cap0, layout, day: int) -> dict:
    """Every design's metrics at ``day`` (NaN for a design retired before it)."""
    rows = {}
    B = layout.n_packs
    for name in names:
        tr = tracks[name]
        u, ideal, spread = element_metrics(tr.x.soc, cap0 * tr.aging.q, layout)
        q = tr.aging.q.reshape(B, -1)
        r = tr.aging.r.reshape(B, -1)
        row = {"day": day, "usable": u, "ideal": ideal, "spread": spread, "q_mean": q.mean(1), "q_min": q.min(1),
               "r_mean": r.mean(1), "r_max": r.max(1), "energy": tr.energy.copy(), "cycles": tr.cycles}
        if tr.day < day:  # retired earlier
            row = {k: (v if k in ("day", "cycles") else np.full_like(np.asarray(v, float), np.nan)) for k, v in row.items()}
        rows[name] = row
    return rows


def _eol_day(history, u0, fraction) -> np.ndarray:
    """First day the usable capacity falls below ``fraction`` of the initial one (linear between interval
    ends), per pack; NaN if not within the run."""
    days = np.array([0] + [h[0] for h in history], float)
    u = np.vstack([u0] + [h[1] for h in history])  # (k, B)
    out = np.full(u.shape[1], np.nan)
    for b in range(u.shape[1]):
        below = np.flatnonzero(u[:, b] < fraction * u0[b])
        if below.size:
            k = int(below[0])
            a, c = u[k - 1, b], u[k, b]
            target = fraction * u0[b]
            w = (a - target) / (a - c) if a != c else 1.0
            out[b] = days[k - 1] + w * (days[k] - days[k - 1])
    return out


def _dataset(done_years, tracks, names, u0, layout, model, aging, stepping, eol_fraction, date0, supervisor,
             period_s) -> xr.Dataset:
    Y = len(done_years)
    B = layout.n_packs

    def stack(key, idx=None):
        a = np.array([[done_years[y][nm][key] if idx is None else done_years[y][nm][key][idx] for y in range(Y)]
                      for nm in names], float)
        return a.reshape(len(names), Y, -1) if a.ndim == 2 else a

    usable = stack("usable")
    days = np.array([done_years[y][names[0]]["day"] for y in range(Y)], float)
    dims = ("design", "year", "pack")
    wh = 1.0 / 3600.0
    bleed, conv, moved, net = (stack("energy", k) * wh for k in range(4))
    eol = np.array([_eol_day(tracks[nm].history, u0, eol_fraction) for nm in names]) / DAYS_PER_YEAR
    data = {
        "usable_capacity_Ah": (dims, usable, {"units": "Ah", "long_name": "Usable capacity of the string (Plett: "
                                                                            "min D + min S) at the end of the day's cycle"}),
        "ideal_capacity_Ah": (dims, stack("ideal"), {"units": "Ah", "long_name": "Capacity of the weakest element "
                                                                                  "(a perfectly balanced string)"}),
        "usable_fraction": (dims, usable / u0[None, None, :], {"units": "1", "long_name": "Usable capacity / initial"}),
        "soc_spread": (dims, stack("spread"), {"units": "1", "long_name": "Element SOC spread (max - min) at the end "
                                                                          "of the day's cycle"}),
        "capacity_mean_rel": (dims, stack("q_mean"), {"units": "1", "long_name": "Mean relative cell capacity q"}),
        "capacity_min_rel": (dims, stack("q_min"), {"units": "1", "long_name": "Lowest relative cell capacity q"}),
        "resistance_mean_rel": (dims, stack("r_mean"), {"units": "1", "long_name": "Mean relative cell resistance r"}),
        "resistance_max_rel": (dims, stack("r_max"), {"units": "1", "long_name": "Highest relative cell resistance r"}),
        "energy_bleed_Wh": (dims, bleed, {"units": "Wh", "long_name": "Heat in the bleed resistors since day 0"}),
        "energy_converter_loss_Wh": (dims, conv, {"units": "Wh", "long_name": "Converter losses since day 0"}),
        "energy_balancing_lost_Wh": (dims, bleed + conv, {"units": "Wh", "long_name": "Energy lost to balancing "
                                                                                       "(bleed + converter losses)"}),
        "energy_moved_Wh": (dims, moved, {"units": "Wh", "long_name": "Energy the converters drew out of source "
                                                                      "elements since day 0"}),
        "energy_moved_net_Wh": (dims, net, {"units": "Wh", "long_name": "Net energy moved: per day, the charge each "
                                                                        "element gave up net x its mean voltage"}),
        "representative_cycles": (("design", "year"), stack("cycles").reshape(len(names), Y),
                                  {"long_name": "Days simulated in full at the plant period (cumulative)"}),
        "eol_years": (("design", "pack"), eol, {"units": "year", "long_name": f"Years until the usable capacity "
                                                f"falls below {eol_fraction:g} of the initial one (NaN: not within the run)"}),
    }
    # every interval end (the day after a representative day and its extrapolation), NaN-padded per design
    n_int = max(len(tracks[nm].history) for nm in names)
    hday = np.full((len(names), n_int), np.nan)
    hu = np.full((len(names), n_int, B), np.nan)
    hs = np.full((len(names), n_int, B), np.nan)
    for k, nm in enumerate(names):
        for j, (day, u, spread) in enumerate(tracks[nm].history):
            hday[k, j], hu[k, j], hs[k, j] = day, u, spread
    data["interval_day"] = (("design", "interval"), hday, {"units": "day", "long_name": "Day at the end of each "
                                                         "interval (a representative day and its extrapolation)"})
    data["interval_usable_capacity_Ah"] = (("design", "interval", "pack"), hu, {"units": "Ah", "long_name":
                                           "Usable capacity at the end of each interval"})
    data["interval_soc_spread"] = (("design", "interval", "pack"), hs, {"units": "1", "long_name":
                                   "Element SOC spread at the end of each interval"})
    if date0 is not None:
        dates = [[(date0 + _dt.timedelta(days=float(v) * DAYS_PER_YEAR)).isoformat() if np.isfinite(v) else ""
                  for v in row] for row in eol]
        data["eol_date"] = (("design", "pack"), np.array(dates, dtype=str), {"long_name": "Date of end of life"})
    ds = xr.Dataset(data, coords={"design": names, "year": days / DAYS_PER_YEAR, "pack": np.arange(B)})
    ds.attrs.update({
        "aging_model": model.name, "rate_sigma": aging.rate_sigma, "rate_mean": aging.rate_mean,
        "capacity_tol": stepping.capacity_tol, "soc_tol": stepping.soc_tol, "max_days": stepping.max_days,
        "eol_fraction": eol_fraction, "supervisor": supervisor, "period_s": period_s,
        "completed_years": Y - 1, "days": int(done_years[-1][names[0]]["day"]), "days_per_year": DAYS_PER_YEAR,
        "layout": f"{layout.n_series}s{layout.n_parallel}p x {B}",
        "method": "timescale separation (cellbalance.studies.lifetime): representative daily cycles with the "
                  "controller in the loop, aging and SOC drift integrated between them",
    })
    return ds


def lifetime_table(ds: xr.Dataset):
    """One row per design at the last year of ``ds`` (mean over packs): the numbers the CLI prints.

    Columns: ``years``, ``usable_Ah``, ``usable_pct`` (of the initial usable capacity), ``kept_vs_none_Ah``
    (over the first design, the baseline), ``soc_spread_pct``, ``capacity_mean_pct``, ``resistance_mean_pct``,
    ``balancing_lost_Wh``, ``moved_Wh``, ``moved_net_Wh``, ``eol_years``, ``eol_date``, ``representative_days``.
    """
    import pandas as pd

    last = ds.isel(year=-1).mean("pack")
    base = ds.design.values[0]
    rows = {}
    for d in ds.design.values:
        r = last.sel(design=d)
        eol = ds.eol_years.sel(design=d).values
        rows[str(d)] = {
            "years": float(ds.year.values[-1]),
            "usable_Ah": float(r.usable_capacity_Ah),
            "usable_pct": 100.0 * float(r.usable_fraction),
            "kept_vs_none_Ah": float(r.usable_capacity_Ah - last.sel(design=base).usable_capacity_Ah),
            "soc_spread_pct": 100.0 * float(r.soc_spread),
            "capacity_mean_pct": 100.0 * float(r.capacity_mean_rel),
            "resistance_mean_pct": 100.0 * float(r.resistance_mean_rel),
            "balancing_lost_Wh": float(r.energy_balancing_lost_Wh),
            "moved_Wh": float(r.energy_moved_Wh),
            "moved_net_Wh": float(r.energy_moved_net_Wh),
            "eol_years": float(np.nanmin(eol)) if np.isfinite(eol).any() else float("nan"),
            "eol_date": _first_date(ds, d),
            "representative_days": int(ds.representative_cycles.sel(design=d).values[-1]),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _first_date(ds: xr.Dataset, design) -> str:
    """The earliest end-of-life date over the packs of a design ("" if none reached it or no start date)."""
    if "eol_date" not in ds:
        return ""
    dates = [str(x) for x in ds.eol_date.sel(design=design).values if str(x)]
    return min(dates) if dates else ""


def plot_lifetime(ds: xr.Dataset, path):
    """Usable capacity, SOC spread, resistance growth and energy lost to balancing over the years, per design
    (PNG); returns the path."""
    from pathlib import Path

    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 9))
    ax = fig.subplots(4, 1, sharex=True)
    y = ds.year.values
    eol = float(ds.attrs.get("eol_fraction", 0.8))
    for d in ds.design.values:
        r = ds.sel(design=d).mean("pack")
        line = ax[0].plot(y, 100 * r.usable_fraction, marker="o", ms=3, label=str(d))[0]
        ax[1].plot(y, 100 * r.soc_spread, marker="o", ms=3, color=line.get_color())
        ax[2].plot(y, 100 * (r.resistance_mean_rel - 1), marker="o", ms=3, color=line.get_color())
        ax[3].plot(y, r.energy_balancing_lost_Wh / 1000, marker="o", ms=3, color=line.get_color())
    ax[0].axhline(100 * eol, ls="--", color="grey", lw=1, label="end of life")
    ax[0].set_ylabel("usable capacity\n[% of initial]")
    ax[1].set_ylabel("element SOC spread\n[%-points]")
    ax[2].set_ylabel("resistance growth\n(mean) [%]")
    ax[3].set_ylabel("energy lost to\nbalancing [kWh]")
    ax[3].set_xlabel("years of daily use")
    ax[0].legend(fontsize=8)
    for a in ax:
        a.grid(alpha=0.3)
    fig.suptitle(f"Lifetime ({ds.attrs.get('layout', '')}, aging model {ds.attrs.get('aging_model', '')})")
    fig.tight_layout()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=110)
    return p
