"""The microsecond layer: a switched-mode model of the bidirectional buck-boost between two adjacent cells.

Circuit (the adjacent-cell inductor equaliser: N. H. Kutkut, D. M. Divan, "Dynamic equalization
techniques for series battery stacks", IEEE INTELEC 1996; S. W. Moore, P. J. Schneider, "A review
of cell equalization methods for lithium ion and lithium polymer battery systems", SAE 2001-01-0959;
Y.-S. Lee, M.-W. Cheng, "Intelligent control battery equalization for series connected lithium-ion
battery strings", IEEE Trans. Ind. Electron. 52 (2005) 1297-1307)::

      B1+ ──Q1──┐                 two series cells B1 (upper) and B2 (lower);
                X (switch node)   Q1 from B1+ to X, Q2 from X to B2-,
      B1- = J ──L──X              the inductor L from the junction J to X.
      B2- ──Q2──┘

Moving charge from cell 1 to cell 2, Q1 is switched at ``f_sw`` with duty ratio D and Q2 is the
rectifier. With ``i`` the inductor current (positive from X to J) and each cell an open-circuit
voltage ``U`` behind a series resistance:

* on-phase ``0 <= t mod T < D T`` (Q1 on; L across cell 1)::

      L di/dt = U1 - R_on i,       R_on  = r_cell1 + r_ds_on + r_L

  cell 1 is discharged by ``i``;
* off-phase (Q1 off; the current freewheels through Q2 into cell 2)::

      L di/dt = -(U2 + V_f) - R_off i,     R_off = r_cell2 + r_ds_on + r_L

  cell 2 is charged by ``i``. ``rectification`` selects Q2's behaviour:

  - ``"diode"``: Q2 stays off, its body diode conducts (constant drop ``V_f = v_diode_V`` in series
    with the die resistance, taken as ``r_ds_on``) and blocks at ``i = 0``;
  - ``"synchronous"``: Q2 is turned on while current flows (``V_f = 0``) and off at ``i = 0``
    (ideal-diode emulation by zero-current detection);
  - ``"complementary"``: Q2 is on for the whole off-phase, so the current may reverse (forced
    continuous conduction; the converter then moves charge either way depending on D).

  In the first two, once ``i`` reaches zero the converter idles at ``i = 0`` until the next
  period: discontinuous conduction mode (DCM). Ringing of L with the switch-node capacitance
  after that instant, dead times and switching transients are not modelled; a fixed energy
  ``e_sw_J`` per period (gate drive, output-capacitance discharge) is drawn from cell 1.

Time stepping: every phase is linear with a constant source, so each step of ``dt`` (split at
the phase boundaries) uses the exact solution ``i(t) = a + (i0 - a) exp(-t/tau)``,
``a = U/R``, ``tau = L/R``, with the exact integrals of ``i`` and ``i^2`` for charge and resistive
loss; a zero crossing inside a step is located exactly (``t0 = tau ln(1 + i0/|a_off|)``). The
cell voltages are constant over the short windows simulated (10 ms moves ~1e-6 of a cell's charge).

Cycle average (:func:`averaged_transfer`): the periodic steady state in closed form. DCM (the
current, started from 0, returns to 0 within the off-phase): integrals over one period from 0;
CCM: the periodic start current ``i0 = (a_off (1 - e_off) + a_on (1 - e_on) e_off) / (1 - e_on e_off)``
with ``e = exp(-t_phase / tau_phase)``. In the lossless limit these reduce to the textbook DCM
buck-boost results ``i_pk = U1 D T / L``, ``<i1> = U1 D^2 T / (2 L)``,
``<i2> = U1^2 D^2 T / (2 L (U2 + V_f))`` (R. W. Erickson, D. Maksimović, "Fundamentals of Power
Electronics", 2nd ed., Kluwer 2001, ch. 5; averaged modelling ch. 7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ..errors import ParameterError, check_range
from .converter import EfficiencyMap

__all__ = [
    "AveragedTransfer",
    "BuckBoostParams",
    "SwitchedResult",
    "averaged_transfer",
    "efficiency_map",
    "simulate_switched",
]

RECTIFICATION = ("synchronous", "diode", "complementary")


@dataclass(frozen=True)
class BuckBoostParams:
    """Component values of the adjacent-cell buck-boost equaliser.

    Parameters
    ----------
    inductance_H : float
        L [H].
    f_sw_Hz : float
        Switching frequency [Hz].
    r_cell1_ohm, r_cell2_ohm : float
        Series resistance of the source (upper) and destination (lower) cell, with their
        connections [Ohm].
    r_ds_on_ohm : float
        On-state resistance of each MOSFET [Ohm] (also the body diode's series resistance).
    r_inductor_ohm : float
        Winding (DC) resistance of L [Ohm].
    v_diode_V : float
        Forward drop of Q2's body diode [V] (used with ``rectification="diode"``).
    rectification : {"synchronous", "diode", "complementary"}
        Behaviour of Q2 in the off-phase (see the module docstring).
    e_sw_J : float
        Energy lost per switching period (gate drive, output capacitance) [J], drawn from cell 1.
    """

    inductance_H: float = 22e-6
    f_sw_Hz: float = 50e3
    r_cell1_ohm: float = 0.02
    r_cell2_ohm: float = 0.02
    r_ds_on_ohm: float = 0.01
    r_inductor_ohm: float = 0.03
    v_diode_V: float = 0.6
    rectification: str = "synchronous"
    e_sw_J: float = 0.0

    def __post_init__(self) -> None:
        o = "BuckBoostParams"
        check_range(o, "inductance_H", self.inductance_H, gt=0)
        check_range(o, "f_sw_Hz", self.f_sw_Hz, gt=0)
        for k in ("r_cell1_ohm", "r_cell2_ohm", "r_ds_on_ohm", "r_inductor_ohm"):
            check_range(o, k, getattr(self, k), ge=0)
        check_range(o, "v_diode_V", self.v_diode_V, ge=0, le=2)
        check_range(o, "e_sw_J", self.e_sw_J, ge=0)
        if self.rectification not in RECTIFICATION:
            raise ParameterError(f"{o}.rectification must be one of {list(RECTIFICATION)}; got {self.rectification!r}.")
        if self.r_on_ohm <= 0 or self.r_off_ohm <= 0:
            raise ParameterError(f"{o}: each conduction loop needs a resistance > 0 (cell, switch or inductor); "
                                 f"got R_on = {self.r_on_ohm:g}, R_off = {self.r_off_ohm:g} Ohm.")

    @property
    def period_s(self) -> float:
        """Switching period T [s]."""
        return 1.0 / self.f_sw_Hz

    @property
    def r_on_ohm(self) -> float:
        """Loop resistance of the on-phase: ``r_cell1 + r_ds_on + r_L`` [Ohm]."""
        return self.r_cell1_ohm + self.r_ds_on_ohm + self.r_inductor_ohm

    @property
    def r_off_ohm(self) -> float:
        """Loop resistance of the off-phase: ``r_cell2 + r_ds_on + r_L`` [Ohm]."""
        return self.r_cell2_ohm + self.r_ds_on_ohm + self.r_inductor_ohm

    @property
    def v_off_drop_V(self) -> float:
        """Rectifier drop in the off-phase [V] (``v_diode_V`` with a diode, else 0)."""
        return self.v_diode_V if self.rectification == "diode" else 0.0

    def swapped(self) -> BuckBoostParams:
        """The same converter seen moving charge from cell 2 to cell 1 (Q2 switched, Q1 rectifying)."""
        from dataclasses import replace

        return replace(self, r_cell1_ohm=self.r_cell2_ohm, r_cell2_ohm=self.r_cell1_ohm)


# ---------------------------------------------------------------------------------------------- kernels
@njit(cache=True)
def _seg(i0, a, tau, h):
    """Exact RL segment: end current and integrals of i and i^2 over h for di/dt = (a - i)/tau."""
    x = h / tau
    em = -math.expm1(-x)  # 1 - exp(-x)
    d = a - i0
    i1 = i0 + d * em
    phi1 = tau * (x - em)  # integral of (1 - exp(-t/tau)) dt
    if x < 1e-2:  # integral of (1 - exp(-s))^2 ds, by its series (the closed form cancels badly)
        g = x * x * x * (1.0 / 3.0 - x * (0.25 - x * (7.0 / 60.0 - x * (1.0 / 24.0 - x * 31.0 / 2520.0))))
    else:
        g = x - 2.0 * em - 0.5 * math.expm1(-2.0 * x)
    qi = i0 * h + d * phi1
    qi2 = i0 * i0 * h + 2.0 * i0 * d * phi1 + d * d * tau * g
    return i1, qi, qi2


@njit(cache=True)
def _kernel(u1, u2, duty, ind, r_on, r_off, v_drop, blocking, period, dt, n_warm, n_count, trace, trace_every):
    """Time-stepped switched model from i = 0; the first n_warm steps are not counted.

    Returns (q_on, s_on, q_off, s_off, n_turn_on, i_start, i_end): integrals of i and i^2 in the
    on- and off-phases over the counted steps, the number of turn-ons counted, the inductor
    current at the start and end of the counted window. ``trace`` receives i every
    ``trace_every`` counted steps (if trace_every > 0).
    """
    tau_on = ind / r_on
    tau_off = ind / r_off
    a_on = u1 / r_on
    a_off = -(u2 + v_drop) / r_off
    t_on = duty * period
    eps = 1e-9 * dt
    i = 0.0
    tc = period  # the first check wraps to a period start (a turn-on)
    q_on = s_on = q_off = s_off = 0.0
    n_on = 0
    i_start = 0.0
    counting = n_warm == 0
    for k in range(n_warm + n_count):
        if k == n_warm:
            counting = True
            i_start = i
            q_on = s_on = q_off = s_off = 0.0
            n_on = 0
        h_left = dt
        while h_left > eps:
            if tc >= period - eps:
                tc = 0.0
                if counting:
                    n_on += 1
            if tc < t_on - eps:
                h = min(h_left, t_on - tc)
                i, qi, qi2 = _seg(i, a_on, tau_on, h)
                q_on += qi
                s_on += qi2
            else:
                h = min(h_left, period - tc)
                if i != 0.0 or not blocking:
                    if blocking and i > 0.0:
                        # does the current reach zero within h? (exact crossing time)
                        h0 = tau_off * math.log1p(i / (-a_off))
                        if h0 <= h:
                            _, qi, qi2 = _seg(i, a_off, tau_off, h0)
                            i = 0.0
                        else:
                            i, qi, qi2 = _seg(i, a_off, tau_off, h)
                    else:
                        i, qi, qi2 = _seg(i, a_off, tau_off, h)
                    q_off += qi
                    s_off += qi2
            tc += h
            h_left -= h
        if trace_every > 0 and counting:
            j = k - n_warm
            if j % trace_every == 0:
                trace[j // trace_every] = i
    return q_on, s_on, q_off, s_off, n_on, i_start, i


# ---------------------------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class SwitchedResult:
    """Outcome of :func:`simulate_switched` over the counted window (all energies [J], charges [C]).

    ``energy_from_1_J`` is taken from cell 1's open-circuit source (``U1 * charge`` plus the
    switching energy), ``energy_to_2_J`` delivered to cell 2's source (``U2 * charge``). Closure:
    ``energy_from_1 = energy_to_2 + loss_J + inductor_energy_change_J``.
    """

    charge_from_1_C: float
    charge_to_2_C: float
    energy_from_1_J: float
    energy_to_2_J: float
    loss_cell1_J: float
    loss_cell2_J: float
    loss_switches_J: float
    loss_inductor_J: float
    loss_diode_J: float
    loss_switching_J: float
    inductor_energy_change_J: float
    i_start_A: float
    i_end_A: float
    steps: int
    t_window_s: float
    dt_s: float
    time_s: np.ndarray | None = field(default=None, repr=False)
    inductor_current_A: np.ndarray | None = field(default=None, repr=False)

    @property
    def loss_J(self) -> float:
        """All losses: resistances of cells, switches and inductor, diode drop, switching [J]."""
        return (self.loss_cell1_J + self.loss_cell2_J + self.loss_switches_J + self.loss_inductor_J
                + self.loss_diode_J + self.loss_switching_J)

    @property
    def bookkeeping_residual_J(self) -> float:
        """``energy_from_1 - energy_to_2 - losses - change of inductor energy`` [J] (zero to rounding)."""
        return self.energy_from_1_J - self.energy_to_2_J - self.loss_J - self.inductor_energy_change_J

    @property
    def mean_current_from_1_A(self) -> float:
        """Average current drawn from cell 1 over the window [A]."""
        return self.charge_from_1_C / self.t_window_s

    @property
    def mean_current_to_2_A(self) -> float:
        """Average current delivered to cell 2 over the window [A]."""
        return self.charge_to_2_C / self.t_window_s


def _check_point(owner: str, v1, v2, duty) -> None:
    check_range(owner, "v1", v1, gt=0)
    check_range(owner, "v2", v2, gt=0)
    check_range(owner, "duty", duty, gt=0, lt=1)


def simulate_switched(params: BuckBoostParams, v1: float, v2: float, duty: float, t_window_s: float = 10e-3,
                      dt_s: float = 20e-9, *, warmup_s: float = 0.0, record_every: int = 0) -> SwitchedResult:
    """Simulate the switched converter at time steps ``dt_s`` and integrate charge, energy and losses.

    Parameters
    ----------
    params : BuckBoostParams
        Component values.
    v1, v2 : float
        Open-circuit voltages of the source cell 1 and destination cell 2 [V].
    duty : float
        Duty ratio of Q1, in (0, 1).
    t_window_s : float
        Length of the counted window [s].
    dt_s : float
        Time step [s], at most one switching period (sub-microsecond for the PWM to be resolved;
        the RL solution inside a step is exact, so ``dt_s`` only sets the output resolution).
    warmup_s : float
        Simulated before the window and not counted [s], rounded up to whole switching periods
        (lets the current reach its periodic steady state: a few ``L/R`` in CCM; none needed in
        DCM, where every period starts from zero).
    record_every : int
        If > 0, also return the inductor current every ``record_every`` steps of the window.

    Returns
    -------
    SwitchedResult

    Notes
    -----
    The run starts from zero inductor current at the beginning of a period. Speed: tens of
    millions of steps per second (``benchmarks/bench_switched.py``).
    """
    o = "simulate_switched"
    if not isinstance(params, BuckBoostParams):
        raise ParameterError(f"{o}.params must be BuckBoostParams; got {type(params).__name__}.")
    _check_point(o, v1, v2, duty)
    T = params.period_s
    check_range(o, "dt_s", dt_s, gt=0, le=T)
    check_range(o, "t_window_s", t_window_s, gt=0)
    check_range(o, "warmup_s", warmup_s, ge=0)
    n_count = int(round(t_window_s / dt_s))
    if n_count < 1:
        raise ParameterError(f"{o}: t_window_s={t_window_s:g} is shorter than one step dt_s={dt_s:g}.")
    if isinstance(record_every, bool) or not isinstance(record_every, int | np.integer) or record_every < 0:
        raise ParameterError(f"{o}.record_every must be an integer >= 0; got {record_every!r}.")
    n_periods_warm = math.ceil(warmup_s / T - 1e-9) if warmup_s > 0 else 0
    n_warm = int(round(n_periods_warm * T / dt_s))
    trace = np.zeros((n_count - 1) // record_every + 1 if record_every else 0)
    q_on, s_on, q_off, s_off, n_on, i0, i1 = _kernel(
        float(v1), float(v2), float(duty), params.inductance_H, params.r_on_ohm, params.r_off_ohm,
        params.v_off_drop_V, params.rectification != "complementary", T, float(dt_s), n_warm, n_count, trace,
        int(record_every))
    p = params
    e_sw = p.e_sw_J * n_on
    t_rec = None
    if record_every:
        t_rec = (n_warm + 1 + np.arange(trace.size) * record_every) * dt_s
    return SwitchedResult(
        charge_from_1_C=q_on + e_sw / v1,
        charge_to_2_C=q_off,
        energy_from_1_J=v1 * q_on + e_sw,
        energy_to_2_J=v2 * q_off,
        loss_cell1_J=p.r_cell1_ohm * s_on,
        loss_cell2_J=p.r_cell2_ohm * s_off,
        loss_switches_J=p.r_ds_on_ohm * (s_on + s_off),
        loss_inductor_J=p.r_inductor_ohm * (s_on + s_off),
        loss_diode_J=p.v_off_drop_V * q_off,
        loss_switching_J=e_sw,
        inductor_energy_change_J=0.5 * p.inductance_H * (i1 * i1 - i0 * i0),
        i_start_A=i0,
        i_end_A=i1,
        steps=n_count,
        t_window_s=n_count * dt_s,
        dt_s=float(dt_s),
        time_s=t_rec,
        inductor_current_A=trace if record_every else None,
    )


@dataclass(frozen=True)
class AveragedTransfer:
    """Cycle-averaged operating point of the converter in periodic steady state.

    Attributes
    ----------
    mode : {"DCM", "CCM"}
    duty : float
    i_from_1_A, i_to_2_A : float
        Average current drawn from cell 1 (incl. the switching energy's share) and delivered to
        cell 2 [A].
    p_from_1_W, p_to_2_W : float
        Average power from cell 1's and into cell 2's open-circuit source [W].
    loss_W : float
        Average total loss [W] (``p_from_1 - p_to_2``).
    losses_W : dict
        Breakdown: cell1, cell2, switches, inductor, diode, switching [W].
    i_inductor_avg_A : float
        Average inductor current over the period [A] (``<i1> + <i2>`` less the switching share).
    i_peak_A, i_valley_A, i_rms_A : float
        Peak, minimum and RMS inductor current [A].
    t_off_conduction_s : float
        Conduction time of the off-phase [s] (shorter than the off-phase in DCM).
    """

    mode: str
    duty: float
    i_from_1_A: float
    i_to_2_A: float
    p_from_1_W: float
    p_to_2_W: float
    loss_W: float
    losses_W: dict
    i_inductor_avg_A: float
    i_peak_A: float
    i_valley_A: float
    i_rms_A: float
    t_off_conduction_s: float

    @property
    def efficiency(self) -> float:
        """``p_to_2 / p_from_1`` for a forward transfer (NaN if the power flows the other way)."""
        if self.p_from_1_W > 0 and self.p_to_2_W >= 0:
            return self.p_to_2_W / self.p_from_1_W
        return float("nan")


def averaged_transfer(params: BuckBoostParams, v1: float, v2: float, duty: float) -> AveragedTransfer:
    """Cycle-averaged currents, powers and losses in periodic steady state (closed form).

    Parameters
    ----------
    params : BuckBoostParams
    v1, v2 : float
        Open-circuit voltages of the source cell 1 and destination cell 2 [V].
    duty : float
        Duty ratio of Q1, in (0, 1).

    Returns
    -------
    AveragedTransfer
        DCM if the current returns to zero within the off-phase (diode/synchronous
        rectification), else CCM with the periodic start current (see the module docstring).
    """
    _check_point("averaged_transfer", v1, v2, duty)
    p = params
    T = p.period_s
    r_on, r_off, vd = p.r_on_ohm, p.r_off_ohm, p.v_off_drop_V
    tau_on, tau_off = p.inductance_H / r_on, p.inductance_H / r_off
    a_on, a_off = v1 / r_on, -(v2 + vd) / r_off
    t_on, t_off = duty * T, (1.0 - duty) * T
    blocking = p.rectification != "complementary"
    i_pk0 = float(_seg(0.0, a_on, tau_on, t_on)[0])
    t_zero = tau_off * math.log1p(i_pk0 / (-a_off))
    if blocking and t_zero <= t_off:
        mode, i0, h_off = "DCM", 0.0, t_zero
    else:
        e_on, e_off = math.exp(-t_on / tau_on), math.exp(-t_off / tau_off)
        i0 = (a_off * (1.0 - e_off) + a_on * (1.0 - e_on) * e_off) / (1.0 - e_on * e_off)
        mode, h_off = "CCM", t_off
    i_pk, q_on, s_on = (float(x) for x in _seg(i0, a_on, tau_on, t_on))
    _, q_off, s_off = (float(x) for x in _seg(i_pk, a_off, tau_off, h_off))
    losses = {
        "cell1": p.r_cell1_ohm * s_on / T,
        "cell2": p.r_cell2_ohm * s_off / T,
        "switches": p.r_ds_on_ohm * (s_on + s_off) / T,
        "inductor": p.r_inductor_ohm * (s_on + s_off) / T,
        "diode": vd * q_off / T,
        "switching": p.e_sw_J / T,
    }
    p1 = (v1 * q_on + p.e_sw_J) / T
    p2 = v2 * q_off / T
    return AveragedTransfer(
        mode=mode, duty=float(duty), i_from_1_A=p1 / v1, i_to_2_A=q_off / T, p_from_1_W=p1, p_to_2_W=p2,
        loss_W=sum(losses.values()), losses_W=losses, i_inductor_avg_A=(q_on + q_off) / T,
        i_peak_A=max(i_pk, i0), i_valley_A=min(i_pk, i0), i_rms_A=math.sqrt((s_on + s_off) / T),
        t_off_conduction_s=h_off)


def efficiency_map(params: BuckBoostParams, currents_A, v1: float = 3.7, v2: float = 3.6, *,
                   duty_max: float = 0.95) -> EfficiencyMap:
    """Efficiency versus average source current, from the cycle-averaged switched model.

    For every target current the duty ratio giving that average current drawn from cell 1 is
    found (the current rises monotonically with the duty), and the efficiency ``P_to_2 / P_from_1``
    there is tabulated.

    Parameters
    ----------
    params : BuckBoostParams
    currents_A : array
        Target average source currents [A], > 0 (sorted on output).
    v1, v2 : float
        Cell voltages the map is made at [V].
    duty_max : float
        Largest duty ratio allowed; currents beyond its current raise ParameterError.

    Returns
    -------
    EfficiencyMap
        Usable as ``ConverterModel(efficiency_map=...)`` or ``ConverterModel.from_efficiency_map``.
    """
    from scipy.optimize import brentq

    o = "efficiency_map"
    _check_point(o, v1, v2, 0.5)
    check_range(o, "duty_max", duty_max, gt=0, lt=1)
    cur = np.unique(np.asarray(currents_A, dtype=float).reshape(-1))
    if cur.size < 1:
        raise ParameterError(f"{o}.currents_A must hold at least one current.")
    check_range(o, "currents_A", cur, gt=0)
    d_min = 1e-4
    i_min = averaged_transfer(params, v1, v2, d_min).i_from_1_A
    i_max = averaged_transfer(params, v1, v2, duty_max).i_from_1_A
    if cur[0] <= i_min or cur[-1] >= i_max:
        raise ParameterError(f"{o}.currents_A must be > {i_min:.4g} and < {i_max:.4g} A (the currents at duty "
                             f"{d_min:g} and duty_max={duty_max:g} at v1={v1:g} V, v2={v2:g} V); "
                             f"got {cur[0]:.4g}..{cur[-1]:.4g} A.")
    duties, eff = [], []
    for target in cur:
        d = brentq(lambda x, t=target: averaged_transfer(params, v1, v2, x).i_from_1_A - t, d_min, duty_max,
                   xtol=1e-14, rtol=1e-12)
        r = averaged_transfer(params, v1, v2, d)
        duties.append(d)
        eff.append(min(max(r.p_to_2_W / r.p_from_1_W, 1e-12), 1.0))
    src = (f"switched buck-boost: L={params.inductance_H:g} H, f_sw={params.f_sw_Hz:g} Hz, "
           f"{params.rectification} rectification")
    return EfficiencyMap(cur, np.array(eff), float(v1), float(v2), src, np.array(duties))
