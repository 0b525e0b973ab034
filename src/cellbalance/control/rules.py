"""Passive balancing rules as real BMS firmware ships them, so a design can be compared with what runs
today. Each is named after what it mirrors and cites its defaults; all are vectorised over packs and
elements (the only loops run over the five positions of a monitor section or over packs inside
:func:`~cellbalance.balancing.passive.grant_channels`), keep their timers and latches in the
explicit state, and are followed by the common guard (:func:`.base.bleed_guard`): a channel is never
on where its bleed would take the element under the nominal cell's ``v_min`` (plus a margin) or where
the element is within a margin of ``t_max``.

Rest timers count the time since the last controller call while ``|I_pack|`` stays under the rest
current; the first call counts zero (the firmware's timer starts at boot).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..balancing.passive import PassiveBalancer, grant_channels
from ..errors import check_range
from ..interfaces import Command, Estimate, LoopContext, Measurement
from .base import NominalTables, bleed_guard, controller_soc, element_temperature, require_passive

__all__ = [
    "BleedToLowestSOC",
    "DiyBMSRunaway",
    "EnnoidTopN",
    "FoxBMSHistory",
    "FoxBMSVoltage",
    "LibreSolarIdle",
]


@dataclass(frozen=True, eq=False)
class RuleState:
    """What a rule remembers between calls (all arrays per pack or per element).

    t_last_s : time of the previous call (None before the first)
    rest_s : (B,) time at rest so far [s]
    latch : (B,) per-pack latch (foxBMS hysteresis: balancing in progress)
    surplus_C : (B, Ns) charge still to bleed (foxBMS history) [C]
    duty : (B, Ns) duty commanded at the previous call (what ran since then)
    v_last : (B, Ns) voltages measured at the previous call [V]
    """

    t_last_s: float | None
    rest_s: np.ndarray
    latch: np.ndarray
    surplus_C: np.ndarray
    duty: np.ndarray
    v_last: np.ndarray
    hw: PassiveBalancer = field(repr=False, default=None)
    tables: NominalTables = field(repr=False, default=None)


@dataclass(frozen=True)
class _PassiveRule:
    """Shared set-up and guard of the firmware rules (subclasses implement :meth:`_decide`)."""

    period_s: float = 10.0
    margin_V: float = 0.05
    margin_K: float = 2.0

    def __post_init__(self) -> None:
        o = type(self).__name__
        for name in ("period_s",):
            check_range(o, name, getattr(self, name), gt=0)
        for name in ("margin_V", "margin_K"):
            check_range(o, name, getattr(self, name), ge=0)
        self._check()

    def _check(self) -> None:  # subclass parameter checks
        pass

    def init(self, context: LoopContext) -> RuleState:
        hw = require_passive(type(self).__name__, context)
        tables = NominalTables.of(context.nominal)
        lay = context.layout
        b, ns = lay.n_packs, lay.n_series
        return RuleState(None, np.zeros(b), np.zeros(b, bool), np.zeros((b, ns)), np.zeros((b, ns)),
                         np.full((b, ns), np.nan), hw, tables)

    def step(self, t_s: float, measurement: Measurement, estimate: Estimate | None, state: RuleState):
        v = np.asarray(measurement.element_voltage_V, float)
        i = np.asarray(measurement.pack_current_A, float)
        temp = element_temperature(measurement, state.tables.t_max_K - 50.0)
        dt = 0.0 if state.t_last_s is None else max(float(t_s) - state.t_last_s, 0.0)
        duty, state = self._decide(dt, v, i, temp, measurement, estimate, state)
        duty = bleed_guard(duty, v, temp, state.tables, state.hw, self.margin_V, self.margin_K)
        state = replace(state, t_last_s=float(t_s), duty=duty, v_last=v.copy())
        return Command(bleed=duty), state

    def _decide(self, dt, v, i, temp, measurement, estimate, state):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _rest(state: RuleState, i: np.ndarray, dt: float, rest_current_A: float) -> np.ndarray:
        return np.where(np.abs(i) < rest_current_A, state.rest_s + dt, 0.0)


@dataclass(frozen=True)
class FoxBMSVoltage(_PassiveRule):
    """foxBMS 2 voltage-based strategy (foxBMS 2, ``bal_strategy_voltage.c`` with ``bal_cfg.h``).

    Only at rest (``|I| < rest_current_A`` for ``rest_time_s``: 0.2 A, 600 s), every element above the
    string minimum + threshold bleeds. Threshold 200 mV with 200 mV hysteresis: a pack that is not
    balancing starts only above ``threshold_V + hysteresis_V``; once started it bleeds down to
    ``threshold_V``, then the latch clears. Abort (all channels off) while any cell is at or below
    ``abort_voltage_V`` = 2.0 V or at or above ``abort_temperature_K`` = 70 °C.
    """

    rest_current_A: float = 0.2
    rest_time_s: float = 600.0
    threshold_V: float = 0.2
    hysteresis_V: float = 0.2
    abort_voltage_V: float = 2.0
    abort_temperature_K: float = 343.15

    def _check(self) -> None:
        o = "FoxBMSVoltage"
        for n in ("rest_current_A", "rest_time_s", "threshold_V", "hysteresis_V"):
            check_range(o, n, getattr(self, n), ge=0)
        check_range(o, "abort_temperature_K", self.abort_temperature_K, gt=0)

    def _decide(self, dt, v, i, temp, measurement, estimate, state):
        rest = self._rest(state, i, dt, self.rest_current_A)
        thr = np.where(state.latch, self.threshold_V, self.threshold_V + self.hysteresis_V)
        on = v > v.min(-1, keepdims=True) + thr[:, None]
        ok = (rest >= self.rest_time_s) & ~np.any(v <= self.abort_voltage_V, -1) & \
            ~np.any(temp >= self.abort_temperature_K, -1)
        on &= ok[:, None]
        return on.astype(float), replace(state, rest_s=rest, latch=on.any(-1))


@dataclass(frozen=True)
class FoxBMSHistory(_PassiveRule):
    """foxBMS 2 history-based strategy (foxBMS 2, ``bal_strategy_history.c``), in consistent units.

    At rest (0.2 A for 600 s, as the voltage strategy) and while no surplus is left, the per-element
    charge surplus against the most discharged element is computed from the OCV table (here the
    nominal cell's): ``dq_i = (z(V_i) - min_j z(V_j)) Q`` [C], if the voltage spread exceeds
    ``threshold_V``. Every element with ``dq > 0`` then bleeds, and at each call its surplus falls by
    the charge bled since the last call, ``(V/R) duty dt`` [C] (V in volts, R in ohms, dt in seconds:
    the firmware's release passes volts to a millivolt API, which this does not copy). Channels the
    AFE did not grant (``grant_channels``) bleed nothing and keep their surplus. Abort as foxBMS.
    """

    rest_current_A: float = 0.2
    rest_time_s: float = 600.0
    threshold_V: float = 0.2
    abort_voltage_V: float = 2.0
    abort_temperature_K: float = 343.15

    def _check(self) -> None:
        o = "FoxBMSHistory"
        for n in ("rest_current_A", "rest_time_s", "threshold_V"):
            check_range(o, n, getattr(self, n), ge=0)

    def _decide(self, dt, v, i, temp, measurement, estimate, state):
        hw, tab = state.hw, state.tables
        ran = grant_channels(state.duty > 0, np.nan_to_num(state.v_last, nan=0.0), hw) if dt > 0 else \
            np.zeros_like(state.duty, bool)
        bled = np.where(ran, np.nan_to_num(state.v_last) * hw.conductance_S * state.duty * dt, 0.0)
        surplus = np.maximum(state.surplus_C - bled, 0.0)
        rest = self._rest(state, i, dt, self.rest_current_A)
        fresh = (rest >= self.rest_time_s) & ~np.any(surplus > 0, -1) & \
            (np.ptp(v, -1) > self.threshold_V)
        z = tab.soc_from_voltage(v)
        new = (z - z.min(-1, keepdims=True)) * tab.q_As
        surplus = np.where(fresh[:, None], new, surplus)
        ok = ~np.any(v <= self.abort_voltage_V, -1) & ~np.any(temp >= self.abort_temperature_K, -1)
        on = (surplus > 0) & ok[:, None]
        return on.astype(float), replace(state, rest_s=rest, surplus_C=surplus)


@dataclass(frozen=True)
class LibreSolarIdle(_PassiveRule):
    """LibreSolar BMS idle balancing (LibreSolar ``bms-firmware``, ``bms_common.c`` balancing with the
    bq769x0 section rule).

    After ``idle_time_s`` = 1800 s with ``|I| <= idle_current_A`` = 0.1 A, bleed the elements more
    than ``threshold_V`` = 10 mV above the minimum and above ``min_voltage_V`` = 3.2 V. Channels are
    taken in index order within each monitor section of ``section_size`` = 5 cells (one bq769x0
    section), skipping one whose neighbour in the section is already on: never two adjacent channels
    on the same section.
    """

    idle_time_s: float = 1800.0
    idle_current_A: float = 0.1
    threshold_V: float = 0.01
    min_voltage_V: float = 3.2
    section_size: int = 5

    def _check(self) -> None:
        o = "LibreSolarIdle"
        for n in ("idle_time_s", "idle_current_A", "threshold_V", "min_voltage_V"):
            check_range(o, n, getattr(self, n), ge=0)
        check_range(o, "section_size", self.section_size, ge=1)

    def _decide(self, dt, v, i, temp, measurement, estimate, state):
        rest = np.where(np.abs(i) <= self.idle_current_A, state.rest_s + dt, 0.0)
        want = (v > v.min(-1, keepdims=True) + self.threshold_V) & (v > self.min_voltage_V)
        want &= (rest >= self.idle_time_s)[:, None]
        return no_adjacent_in_sections(want, int(self.section_size)).astype(float), replace(state, rest_s=rest)


def no_adjacent_in_sections(want: np.ndarray, size: int) -> np.ndarray:
    """Greedy in index order inside each section of ``size`` elements: a wanted channel is taken unless
    the previous channel of its section is on (vectorised over packs and sections)."""
    b, ns = want.shape
    n_sec = -(-ns // size)
    w = np.zeros((b, n_sec * size), bool)
    w[:, :ns] = want
    w = w.reshape(b, n_sec, size)
    out = np.zeros_like(w)
    out[..., 0] = w[..., 0]
    for j in range(1, size):  # the positions of one section (5 on a bq769x0), not the cells
        out[..., j] = w[..., j] & ~out[..., j - 1]
    return out.reshape(b, -1)[:, :ns]


@dataclass(frozen=True)
class EnnoidTopN(_PassiveRule):
    """ENNOID-BMS style top-N balancing during charge (ENNOID-BMS firmware, cell-monitor module; its
    settings ``cellBalanceStart``, ``cellBalanceDifferenceThreshold``, ``maxSimultaneousDischargingCells``,
    ``cellBalanceUpdateInterval``, ``cellBalanceAllTime``).

    Every ``period_s`` = 4 s (the update interval), while charging (``I > charge_current_A``, or always
    with ``all_time``), the ``n_max`` = 5 highest elements that are above ``start_V`` and more than
    ``delta_V`` above the minimum bleed. Each interval opens with a measurement window of
    ``window_s`` with bleeding off, modelled as the bleed duty ``1 - window_s / period_s``.
    ``start_V`` = 3.5 V and ``delta_V`` = 10 mV are typical settings of the configuration tool.
    """

    period_s: float = 4.0
    n_max: int = 5
    start_V: float = 3.5
    delta_V: float = 0.01
    charge_current_A: float = 0.1
    all_time: bool = False
    window_s: float = 0.4

    def _check(self) -> None:
        o = "EnnoidTopN"
        check_range(o, "n_max", self.n_max, ge=1)
        for n in ("start_V", "delta_V", "charge_current_A"):
            check_range(o, n, getattr(self, n), ge=0)
        check_range(o, "window_s", self.window_s, ge=0, lt=self.period_s)

    def _decide(self, dt, v, i, temp, measurement, estimate, state):
        want = (v > self.start_V) & (v > v.min(-1, keepdims=True) + self.delta_V)
        if not self.all_time:
            want &= (i > self.charge_current_A)[:, None]
        on = top_n(want, v, int(self.n_max))
        return on * (1.0 - self.window_s / self.period_s), state


def top_n(want: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    """The at most ``n`` highest-voltage wanted elements of each pack (ties by index)."""
    if n >= want.shape[-1]:
        return want.copy()
    key = np.where(want, v, -np.inf)
    order = np.argsort(-key, axis=-1, kind="stable")[:, :n]
    out = np.zeros_like(want)
    np.put_along_axis(out, order, True, -1)
    return out & want


@dataclass(frozen=True)
class DiyBMSRunaway(_PassiveRule):
    """diyBMS v4 run-away cell balancing (diyBMS v4 controller rules, settings
    ``runawayCellMinimumVoltage`` = 3400 mV and ``runawayCellDifferential`` = 75 mV).

    Bleed an element more than ``differential_V`` above the pack average and above ``min_voltage_V``;
    the module's bypass switches off at ``over_temperature_K`` = 65 °C (``BypassOverTempShutdown``).
    """

    period_s: float = 10.0
    differential_V: float = 0.075
    min_voltage_V: float = 3.4
    over_temperature_K: float = 338.15

    def _check(self) -> None:
        check_range("DiyBMSRunaway", "differential_V", self.differential_V, ge=0)
        check_range("DiyBMSRunaway", "over_temperature_K", self.over_temperature_K, gt=0)

    def _decide(self, dt, v, i, temp, measurement, estimate, state):
        on = (v > v.mean(-1, keepdims=True) + self.differential_V) & (v > self.min_voltage_V)
        on &= temp < self.over_temperature_K
        return on.astype(float), state


@dataclass(frozen=True)
class BleedToLowestSOC(_PassiveRule):
    """Bleed to the lowest, on SOC: every element whose SOC exceeds the pack minimum by more than
    ``threshold_soc`` bleeds (the textbook rule: G. L. Plett, "Battery Management Systems, Vol. II",
    Artech House 2016, ch. 7; the behaviour of MATLAB/Simscape's passive cell-balancing example).

    Uses the estimator's SOC (or, without an estimator, the SOC of the nominal OCV at the measured
    voltage). ``only_at_rest_A``: if set, bleed only while ``|I_pack|`` is within it [A].
    """

    period_s: float = 60.0
    threshold_soc: float = 0.002
    only_at_rest_A: float | None = None

    def _check(self) -> None:
        check_range("BleedToLowestSOC", "threshold_soc", self.threshold_soc, ge=0)
        if self.only_at_rest_A is not None:
            check_range("BleedToLowestSOC", "only_at_rest_A", self.only_at_rest_A, ge=0)

    def _decide(self, dt, v, i, temp, measurement, estimate, state):
        z = controller_soc("BleedToLowestSOC", measurement, estimate, state.tables)
        on = z > z.min(-1, keepdims=True) + self.threshold_soc
        if self.only_at_rest_A is not None:
            on &= (np.abs(i) <= self.only_at_rest_A)[:, None]
        return on.astype(float), state
