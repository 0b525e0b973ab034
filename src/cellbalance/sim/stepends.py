"""How each step ended, for every pack: the reason, the cell or element, the value reached and the limit.

Each step end is one event (``event_*`` variables of the results, see :data:`EVENT_FIELDS`). The reasons:

* ``duration``: the step ran its written duration (or its repeats of a drive cycle);
* ``cut-off``: a condition the step's text names (a cell or pack voltage, a temperature, a hold's end
  current) was reached, by the cell (or the pack) the event names;
* ``cell limit``: a safety limit of the cells the text does not name (``v_min``, ``v_max``, ``t_max_K``)
  ended the step;
* ``power not deliverable``: a power step asked for more than the pack can give;
* ``run-length limit``: the run stopped (``SimulationOptions.max_time_s``) with the step still running.

A step that ended for a limit it does not name, before its duration or its own cut-off, is a
:class:`~cellbalance.errors.StepEndWarning`; reaching the run-length limit is a
:class:`~cellbalance.errors.RunLengthWarning`.
"""

from __future__ import annotations

import numpy as np

from ..cell import kernels as K
from ..errors import RunLengthWarning, StepEndWarning, warn


def pack_terminal_voltage(v_cells, n_series: int, n_parallel: int, i_p, interconnect_ohm: float):
    """Terminal voltage of pack(s) without wiring (pack-voltage cut-offs are refused with wiring): the
    element voltages (one cell of each group) summed, plus the interconnect drop; ``v_cells`` (..., cells
    of a pack), ``i_p`` (...) with NaN (no deliverable current) taken as 0."""
    v = np.asarray(v_cells).reshape(*np.shape(i_p), n_series, n_parallel)[..., 0].sum(-1)
    return v + np.nan_to_num(i_p, nan=0.0) * interconnect_ohm

__all__ = ["EVENT_FIELDS", "end_event", "run_length_events", "warn_step_ends"]

#: the fields of one event, in order (the results store each as ``event_<name>``)
EVENT_FIELDS = ("pack", "step", "start_s", "end_s", "reason", "detail", "quantity", "cell", "element", "value",
                "limit", "written")

_UNIT = {"cell_voltage_V": "V", "pack_voltage_V": "V", "cell_temperature_K": "K", "pack_current_A": "A"}


def end_event(run, b: int, k: int, step, t_start: float, t_end: float, how: str, x_b: np.ndarray,
              i_cell_b: np.ndarray, i_p: float, t_in: float, dt: float) -> tuple:
    """The event of pack ``b`` ending step ``k`` (see :data:`EVENT_FIELDS`). ``how``: 'duration',
    'condition' (a condition met inside or at the start of the period; which one is found here from the
    state ``x_b`` of the pack's cells at the end, with the cell currents ``i_cell_b`` and pack current
    ``i_p`` applied) or 'power'."""
    head = (int(b), int(k), float(t_start), float(t_end))
    if how == "duration":
        return (*head, "duration", f"its duration, {step.duration_s:g} s", "", -1, -1, np.nan,
                float(step.duration_s), 1)
    if how == "power":
        return (*head, "power not deliverable", f"the pack cannot deliver {abs(step.value):g} W (or the profile's "
                "power) at its present voltage and resistance", "", -1, -1, np.nan, np.nan, 0)
    # the voltages the end conditions were checked on: the state at the end, the cell currents applied
    emf, r0, estep, rstep = run.evaluate(x_b, i_cell_b, dt, run.pack_slice(b), step.mode == "voltage")
    v = emf + i_cell_b * r0
    if step.mode == "voltage":  # a hold's current follows the state: the one at the end
        code, val = run.modes([step], np.array([t_in]))
        i_p = float(run.pack_currents(code, val, emf, r0, estep, rstep, *run._bal(b))[0])
    temp = x_b[:, K.X_T]
    np_ = run.Np
    lo, hi, tl, ith, plo, phi = run.cond_set[b]
    v_pack = float(pack_terminal_voltage(v, run.Ns, np_, i_p, run.layout.interconnect_ohm))
    c_lo, c_hi, c_t = int(np.argmin(v)), int(np.argmax(v)), int(np.argmax(temp))
    u, ut = step.until_voltage_V, step.until_temperature_K
    # (margin, quantity, cell, value, limit, written by the user, the cells' limit it is, verb)
    cands = [(v[c_lo] - lo, "cell_voltage_V", c_lo, v[c_lo], lo, u is not None and lo == u, "v_min", "fell to"),
             (hi - v[c_hi], "cell_voltage_V", c_hi, v[c_hi], hi, u is not None and hi == u, "v_max", "rose to"),
             (tl - temp[c_t], "cell_temperature_K", c_t, temp[c_t], tl, ut is not None and tl == ut, "t_max_K",
              "reached"),
             (abs(i_p) - ith if np.isfinite(ith) else np.inf, "pack_current_A", -1, i_p, ith, True, "", "reached"),
             (v_pack - plo, "pack_voltage_V", -1, v_pack, plo, True, "", "fell to"),
             (phi - v_pack, "pack_voltage_V", -1, v_pack, phi, True, "", "rose to")]
    _, qty, cell, val, lim, written, name, verb = min((c for c in cands if np.isfinite(c[0])), key=lambda c: c[0],
                                                      default=cands[0])
    unit = _UNIT[qty]
    where = "the pack" if cell < 0 else f"cell {cell} (element {cell // np_}, position {cell % np_})"
    what = (f"the cut-off {lim:g} {unit}" if written else
            f"the cells' limit {name} = {lim:g} {unit}, which the step does not name")
    detail = f"{where} {verb} {val:.4f} {unit}: {what}"
    if name in ("v_max", "v_min") and not written:
        detail += _balancing_part(run, b, cell, v, up=name == "v_max")
    return (*head, "cut-off" if written else "cell limit", detail, qty, cell, cell // np_ if cell >= 0 else -1,
            float(val), float(lim), int(bool(written)))


def _balancing_part(run, b: int, cell: int, v: np.ndarray, up: bool) -> str:
    """What the balancing hardware was doing to the element of ``cell`` when that cell reached the cells'
    v_max (``up``) or v_min: a clause for the event's detail when it was charging (v_max) or discharging
    (v_min) that element, else "". The currents are those of the action held since the last controller
    call: element current (converters), shunt (bleed, ``g v``) and links (``-L v``), positive = charging."""
    i_bal, g_sh, lap = run._bal(b)
    np_ = run.Np
    el = cell // np_
    row = cell % np_ if run.layout.strings else 0  # parallel strings: the action is held per string
    v_el = np.asarray(v, float).reshape(run.Ns, np_)[:, row]
    i = float(np.asarray(i_bal)[row, el]) - float(np.asarray(g_sh)[row, el]) * float(v_el[el])
    if lap is not None:
        i -= float(np.asarray(lap)[row, el] @ v_el)
    if not (i > 1e-9 if up else i < -1e-9):
        return ""
    return (f"; the balancer was {'charging' if up else 'discharging'} element {el} at {abs(i):.3g} A then (the "
            "action held since the controller's last call)")


def run_length_events(run, steps, k_step, done, t_start_step, t_end: float) -> list[tuple]:
    """One event per pack still in a step when the run stopped at its run-length limit."""
    return [(int(b), int(k_step[b]), float(t_start_step[b]), float(t_end), "run-length limit",
             f"the run-length limit, {run.limit_s:g} s ({run.limit_s / 86400:.3g} days)", "", -1, -1, np.nan,
             float(run.limit_s), 0) for b in np.flatnonzero(~done)]


def _unplanned(ev, step) -> bool:
    """Whether an event ended its step for a limit the step's text does not name, while the text named an
    end of its own (a duration, a cut-off) that had not come yet."""
    named = step.duration_s is not None or any(
        getattr(step, f) is not None for f in ("until_voltage_V", "until_pack_voltage_V", "until_temperature_K",
                                               "until_current_A", "until_c_rate"))
    return ev[4] in ("cell limit", "power not deliverable") and named


def warn_step_ends(events: list[tuple], steps, n_packs: int, limit_s: float, truncated: bool) -> None:
    """A :class:`StepEndWarning` per step that ended early in some pack (the first such pack named, the count
    of packs given) and a :class:`RunLengthWarning` if the run stopped at its limit."""
    early: dict[int, list[tuple]] = {}
    for ev in events:
        if _unplanned(ev, steps[ev[1]]):
            early.setdefault(ev[1], []).append(ev)
    for k, evs in early.items():
        ev, s = evs[0], steps[k]
        planned = f" of its {s.duration_s:g} s" if s.duration_s is not None else ""
        packs = f"pack {ev[0]}" + (f" and {len(evs) - 1} other pack(s) of {n_packs}" if len(evs) > 1 else "")
        warn(f"step {k + 1} {s.description!r} ended after {ev[3] - ev[2]:g} s{planned} in {packs} (at t = "
             f"{ev[3]:g} s): {ev[5]}.", stacklevel=5, category=StepEndWarning)
    if truncated:
        stuck = [ev for ev in events if ev[4] == "run-length limit"]
        where = "; ".join(f"pack {ev[0]} in step {ev[1] + 1} {steps[ev[1]].description!r}" for ev in stuck[:3])
        more = f" and {len(stuck) - 3} more pack(s)" if len(stuck) > 3 else ""
        warn(f"the run stopped at its run-length limit, {limit_s:g} s ({limit_s / 86400:.3g} days), before every "
             f"step ended ({where}{more}); the results are partial. Set the limit with "
             "SimulationOptions(max_time_s=...), [simulation] max_time_s in a config file or --max-time-s on the "
             "command line.", stacklevel=5, category=RunLengthWarning)
