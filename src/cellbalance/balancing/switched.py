"""The microsecond layer: a switched-mode model of the bidirectional buck-boost between two cells.

Circuit (the adjacent-cell inductor equaliser, e.g. N. H. Kutkut, D. M. Divan, "Dynamic
equalization techniques for series battery stacks", IEEE INTELEC 1996; T. H. Phung, A. Collet,
J.-C. Crebier, "An optimized topology for next-to-next balancing of series-connected lithium-ion
cells", IEEE Trans. Power Electron. 29 (2014) 4603-4613): two series cells, two switches and an
inductor L from their junction to the switch node. Transferring from cell 1 to cell 2:

* on-phase (0 < t mod T < D T): switch 1 closes, L sits across cell 1:
  ``L di/dt = V1 - R_on1 i``, with ``R_on1 = R_cell + R_switch + R_L``;
* off-phase: the current freewheels through switch 2 (its body diode, drop ``v_diode``, or
  synchronous rectification with ``v_diode = 0``) into cell 2: ``L di/dt = -(V2 + v_diode) - R_off i``;
  the diode (or ideal-diode-emulating FET) blocks at i = 0: discontinuous conduction.

Each phase is linear with a constant source, so every time step uses the exact solution
``i(t) = a + (i0 - a) exp(-t R/L)`` (and exact integrals of i and i^2 for charge and losses); a zero
crossing inside a step is located exactly. The cycle-averaged model solves one switching period in
closed form (DCM: from i = 0 back to 0; CCM: the periodic steady state), which is what the pack
simulation's averaged converter uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import check_range

__all__ = ["BuckBoostParams", "averaged_transfer", "efficiency_map", "fit_loss_model", "simulate_switched"]


@dataclass(frozen=True)
class BuckBoostParams:
    """inductance_H, resistances [Ohm] (cell, switch on-state, inductor), diode drop [V], switching frequency [Hz]."""

    inductance_H: float = 22e-6
    r_cell_ohm: float = 0.02
    r_switch_ohm: float = 0.01
    r_inductor_ohm: float = 0.03
    v_diode_V: float = 0.0
    f_sw_Hz: float = 50e3

    def __post_init__(self) -> None:
        o = "BuckBoostParams"
        check_range(o, "inductance_H", self.inductance_H, gt=0)
        for k in ("r_cell_ohm", "r_switch_ohm", "r_inductor_ohm"):
            check_range(o, k, getattr(self, k), gt=0)
        check_range(o, "v_diode_V", self.v_diode_V, ge=0, le=2)
        check_range(o, "f_sw_Hz", self.f_sw_Hz, gt=0)

    @property
    def r_loop_ohm(self) -> float:
        return self.r_cell_ohm + self.r_switch_ohm + self.r_inductor_ohm


@njit(cache=True)
def _seg(i0, a, tau, h):
    """State and exact integrals of i and i^2 over h for i(t) = a + (i0 - a) exp(-t/tau)."""
    b = i0 - a
    e = math.exp(-h / tau)
    i1 = a + b * e
    qi = a * h + b * tau * (1.0 - e)
    qi2 = a * a * h + 2.0 * a * b * tau * (1.0 - e) + b * b * 0.5 * tau * (1.0 - e * e)
    return i1, qi, qi2


@njit(cache=True)
def _run(v1, v2, duty, L, R, vd, T, t_end, dt, n_warm):
    """Time-stepped switched model; the first ``n_warm`` steps are not counted.

    Returns (q1, q2, e1, e2, loss_R, loss_d, i_start, i_end, steps counted).
    """
    tau = L / R
    a_on = v1 / R
    a_off = -(v2 + vd) / R
    i = 0.0
    q1 = q2 = e1 = e2 = loss_r = loss_d = 0.0
    n = int(round(t_end / dt)) + n_warm
    t_on = duty * T
    i_start = 0.0
    for k in range(n):
        if k == n_warm:
            q1 = q2 = e1 = e2 = loss_r = loss_d = 0.0
            i_start = i
        t = k * dt
        tc = t - math.floor(t / T) * T
        h_left = dt
        while h_left > 1e-18:
            if tc < t_on - 1e-15:
                h = min(h_left, t_on - tc)
                i1, qi, qi2 = _seg(i, a_on, tau, h)
                q1 += qi
                e1 += v1 * qi
                loss_r += R * qi2
                i = i1
            else:
                h = min(h_left, T - tc)
                if i > 0.0:
                    i1, qi, qi2 = _seg(i, a_off, tau, h)
                    if i1 < 0.0:  # the diode blocks at zero: stop there
                        h0 = tau * math.log((i - a_off) / (-a_off))
                        i1, qi, qi2 = _seg(i, a_off, tau, h0)
                        i1 = 0.0
                    q2 += qi
                    e2 += v2 * qi
                    loss_d += vd * qi
                    loss_r += R * qi2
                    i = i1
            tc += h
            if tc >= T - 1e-15:
                tc = 0.0
            h_left -= h
    return q1, q2, e1, e2, loss_r, loss_d, i_start, i, n - n_warm


def simulate_switched(p: BuckBoostParams, v1: float, v2: float, duty: float, t_window_s: float = 10e-3,
                      dt_s: float = 20e-9, warmup_s: float = 0.0) -> dict:
    """Run the switched-mode model from zero inductor current at steps ``dt_s``; count ``t_window_s``
    after ``warmup_s`` (the start-up transient in CCM lasts a few L/R).

    Returns charges [C] drawn from cell 1 and delivered to cell 2, energies [J], resistive and diode
    losses [J], the change of inductor energy over the window [J] and the number of steps.
    """
    check_range("simulate_switched", "duty", duty, gt=0, lt=1)
    check_range("simulate_switched", "v1", v1, gt=0)
    check_range("simulate_switched", "v2", v2, gt=0)
    check_range("simulate_switched", "dt_s", dt_s, gt=0, le=1.0 / p.f_sw_Hz)
    check_range("simulate_switched", "warmup_s", warmup_s, ge=0)
    q1, q2, e1, e2, lr, ld, i0, i_end, n = _run(v1, v2, duty, p.inductance_H, p.r_loop_ohm, p.v_diode_V,
                                               1.0 / p.f_sw_Hz, t_window_s, dt_s, int(round(warmup_s / dt_s)))
    return {"charge_from_1_C": q1, "charge_to_2_C": q2, "energy_from_1_J": e1, "energy_to_2_J": e2,
            "loss_resistive_J": lr, "loss_diode_J": ld,
            "inductor_energy_change_J": 0.5 * p.inductance_H * (i_end**2 - i0**2), "steps": n,
            "t_window_s": t_window_s}


def averaged_transfer(p: BuckBoostParams, v1: float, v2: float, duty: float) -> dict:
    """Cycle-averaged currents and powers of the converter in periodic steady state (closed form).

    DCM when the off-phase current reaches zero within the period, CCM otherwise (then the periodic
    start current solves ``i0 = a_off + (a_on + (i0 - a_on) e_on - a_off) e_off``).
    """
    R, L, T = p.r_loop_ohm, p.inductance_H, 1.0 / p.f_sw_Hz
    tau = L / R
    a_on, a_off = v1 / R, -(v2 + p.v_diode_V) / R
    t_on, t_off = duty * T, (1 - duty) * T
    e_on, e_off = math.exp(-t_on / tau), math.exp(-t_off / tau)
    i_pk = a_on * (1 - e_on)
    t_zero = tau * math.log((i_pk - a_off) / (-a_off))
    if t_zero <= t_off:  # DCM
        i0 = 0.0
        mode = "DCM"
        h_off = t_zero
    else:
        i0 = (a_off * (1 - e_off) + a_on * (1 - e_on) * e_off) / (1 - e_on * e_off)
        mode = "CCM"
        h_off = t_off
    i1, q_on, q2_on = (float(x) for x in _seg(i0, a_on, tau, t_on))
    _, q_off, q2_off = (float(x) for x in _seg(i1, a_off, tau, h_off))
    return {"mode": mode, "i_from_1_A": q_on / T, "i_to_2_A": q_off / T,
            "p_from_1_W": v1 * q_on / T, "p_to_2_W": v2 * q_off / T,
            "p_loss_W": (R * (q2_on + q2_off) + p.v_diode_V * q_off) / T, "i_peak_A": i1}


def efficiency_map(p: BuckBoostParams, v1: float, v2: float, duties) -> dict:
    """Averaged source current, loss and efficiency over a sweep of duty cycles."""
    rows = [averaged_transfer(p, v1, v2, float(d)) for d in np.atleast_1d(duties)]
    i1 = np.array([r["i_from_1_A"] for r in rows])
    loss = np.array([r["p_loss_W"] for r in rows])
    eff = np.array([r["p_to_2_W"] / r["p_from_1_W"] for r in rows])
    return {"duty": np.atleast_1d(np.asarray(duties, float)), "i_from_1_A": i1, "p_loss_W": loss, "efficiency": eff}


def fit_loss_model(current_A, loss_W) -> tuple[float, float, float]:
    """Non-negative least squares ``P_loss = p0 + v_drop |I| + k I^2`` for :class:`ConverterModel`.

    Returns (p0_W, v_drop_V, k_ohm).
    """
    from scipy.optimize import nnls

    i = np.abs(np.asarray(current_A, float))
    a = np.stack([np.ones_like(i), i, i * i], 1)
    (p0, vd, k), _ = nnls(a, np.asarray(loss_W, float))
    return float(p0), float(vd), float(k)
