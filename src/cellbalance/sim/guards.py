"""Checks the loop makes on its inputs and its state, kept out of the loop itself.

* :func:`check_inputs`: before the run: the experiment's steps against the cells' limits (a step whose
  end condition can never be met is an error, as PyBaMM reports an infeasible experiment), the
  memory the run needs (:mod:`cellbalance.sim.memory`), and temperatures that look like Celsius
  given as kelvin.
* :func:`step_already_met`: when a pack starts a step whose end condition already holds, a warning;
  the step then ends at once (a no-op).
* :func:`check_finite`: a non-finite value anywhere in the state stops the run with one message
  naming the step, the time and the cells.
"""

from __future__ import annotations

import numpy as np

from ..cell import kernels as K
from ..errors import SimulationError, warn, warn_if_celsius
from .memory import check_run_memory, estimate_run_memory, expected_duration_s, expected_rows
from .results import Recorder

__all__ = ["check_finite", "check_inputs", "check_run_size", "check_steps", "step_already_met"]

_TOL_V = 1e-9


def check_steps(experiment, params, layout=None) -> None:
    """Raise :class:`SimulationError` for a cut-off or hold outside the cells' limits (nothing is clamped:
    the message gives the limit that would end the step instead) or a step whose end condition the cells
    can never meet. ``layout`` (default one cell) bounds a pack-voltage cut-off by ``n_series`` times the
    cell limits; a cell-voltage cut-off that looks like a pack voltage is refused with the conversion."""
    v_min, v_max, t_max = params.v_min, params.v_max, params.t_max_K
    ns = 1 if layout is None else layout.n_series
    for k, s in enumerate(experiment.steps):
        where = f"step {k + 1} {s.description!r}"
        u = s.until_voltage_V
        if u is not None and not (v_min - _TOL_V <= u <= v_max + _TOL_V):
            hint = ""
            if ns > 1 and ns * v_min <= u <= ns * v_max:
                hint = (f" It looks like a pack voltage: on this {ns}s pack it is {u / ns:.4g} V per cell; write "
                        f"'until pack {u:g} V' for the pack terminal voltage or 'until {u / ns:.4g} V' for a cell.")
            side = "the cells' lower limit v_min" if u < v_min else "the cells' upper limit v_max"
            lim = v_min if u < v_min else v_max
            raise SimulationError(f"{where}: the cut-off {u:g} V is outside the cells' voltage limits "
                                  f"[{v_min:g}, {v_max:g}] V, so {side} = {lim:g} V would end the step instead "
                                  f"(a cut-off is a cell voltage, of the lowest cell on discharge and the highest "
                                  f"on charge).{hint} Give a voltage inside the limits, or change v_min / v_max "
                                  "in the cell parameters.")
        up = s.until_pack_voltage_V
        if up is not None and layout is not None and getattr(layout, "wired", False):
            raise SimulationError(f"{where}: a pack-voltage cut-off ('until pack {up:g} V') is not supported with "
                                  "[pack.wiring] resistances yet (the cut-off would not count the wiring's drop); "
                                  "give a cell-voltage cut-off instead.")
        if up is not None and not (ns * v_min - _TOL_V <= up <= ns * v_max + _TOL_V):
            raise SimulationError(f"{where}: the pack cut-off {up:g} V is outside what {ns} cell(s) in series can "
                                  f"reach inside their limits, [{ns * v_min:g}, {ns * v_max:g}] V; a cell limit "
                                  "would end the step first. Give a pack voltage inside that range.")
        if s.mode == "voltage" and not (v_min - _TOL_V <= s.value <= v_max + _TOL_V):
            hint = (f" (on this {ns}s pack that is {s.value / ns:.4g} V per cell)" if ns > 1 and
                    ns * v_min <= s.value <= ns * v_max else "")
            raise SimulationError(f"{where}: the hold voltage {s.value:g} V{hint} is outside the cells' limits "
                                  f"[{v_min:g}, {v_max:g}] V (v_min, v_max of the cell parameters); a hold is "
                                  "the voltage of the extreme cell, not clamped.")
        tu = s.until_temperature_K
        if tu is not None and s.mode != "rest" and tu > t_max + _TOL_V:
            raise SimulationError(f"{where} can never end by its condition: {tu:g} K ({tu - 273.15:.1f} degC) is "
                                  f"above the cells' temperature limit t_max_K = {t_max:g} K, which ends the step "
                                  "first.")


#: more plant periods than this is a run that would not end in a human time
MAX_PERIODS = 1e10


def check_run_size(params, layout, experiment, opts, *, streaming: bool, what: str | None = None) -> int:
    """Refuse a run of more than :data:`MAX_PERIODS` periods, or one whose memory exceeds what the machine
    has (warn near it); returns the expected number of recorded rows."""
    dur = expected_duration_s(experiment, params.capacity_Ah, layout.n_parallel, opts.run_length_s(experiment))
    periods = dur / experiment.period_s
    if not periods <= MAX_PERIODS:
        raise SimulationError(f"the experiment takes about {dur:,.0f} s at period_s = {experiment.period_s:g} s, "
                              f"{periods:.3g} periods (at most {MAX_PERIODS:.0e}); give a longer period_s.")
    rows = expected_rows(experiment, params.capacity_Ah, layout.n_parallel, opts.run_length_s(experiment),
                         opts.record_every)
    est = estimate_run_memory(layout.n_cells, params.n_rc, layout.n_packs, rows, record=opts.record,
                              streaming=streaming)
    check_run_memory(est, what=what or f"simulating {layout.n_cells:,} cells for about {dur:,.0f} s")
    return rows


def check_inputs(cells, layout, experiment, opts, recorder, ambient_K) -> None:
    """Everything ``simulate`` checks before it allocates the run (see the module docstring)."""
    check_steps(experiment, cells.params, layout)
    warn_if_celsius("simulate(): ambient_K", ambient_K, stacklevel=5)
    check_run_size(cells.params, layout, experiment, opts, streaming=recorder is not None and type(recorder) is not Recorder)


def step_already_met(step, k: int, b: int, t: float, i_p: float, v_cells: np.ndarray, t_cells: np.ndarray,
                     v_pack: float = np.nan) -> bool:
    """Whether pack ``b`` starts step ``k`` with its end condition already met (warns; the loop then
    ends the step at once). A voltage condition counts in the step's direction: a discharge to a
    voltage the lowest cell is already at or below, a charge to one the highest is at or above."""
    if not np.isfinite(i_p):
        return False
    why = None
    u = step.until_voltage_V
    sign = np.sign(step.value) if step.mode in ("current", "c_rate", "power") else 0.0
    if u is not None and sign < 0 and v_cells.min() <= u:
        why = f"the lowest cell is already at {v_cells.min():.4g} V <= {u:g} V"
    elif u is not None and sign > 0 and v_cells.max() >= u:
        why = f"the highest cell is already at {v_cells.max():.4g} V >= {u:g} V"
    elif step.until_pack_voltage_V is not None and sign < 0 and v_pack <= step.until_pack_voltage_V:
        why = f"the pack is already at {v_pack:.5g} V <= {step.until_pack_voltage_V:g} V"
    elif step.until_pack_voltage_V is not None and sign > 0 and v_pack >= step.until_pack_voltage_V:
        why = f"the pack is already at {v_pack:.5g} V >= {step.until_pack_voltage_V:g} V"
    elif step.until_temperature_K is not None and t_cells.max() >= step.until_temperature_K:
        why = f"the warmest cell is already at {t_cells.max():.2f} K >= {step.until_temperature_K:g} K"
    if why is None:
        return False
    warn(f"step {k + 1} {step.description!r} (pack {b}, t = {t:g} s): its end condition already holds ({why}); "
         "the step does nothing.", stacklevel=4)
    return True


def check_finite(x: np.ndarray, t: float, steps, layout) -> None:
    """Raise :class:`SimulationError` if the state ``x`` holds a NaN or an infinity (cheap when it does not)."""
    if np.isfinite(x.sum()):
        return
    bad_rows = ~np.isfinite(x).all(axis=1)
    if not bad_rows.any():
        return  # a huge but finite sum
    cells = np.flatnonzero(bad_rows)
    cpp = layout.cells_per_pack
    packs = sorted({int(c // cpp) for c in cells})
    names = {K.X_Z: "soc", K.X_H: "hysteresis", K.X_S: "last_sign", K.X_T: "temperature_K",
             K.X_TJ: "jig_temperature_K"}
    cols = np.flatnonzero(~np.isfinite(x[cells]).all(axis=0))
    what = ", ".join(names.get(int(c), f"v_rc_{int(c) - K.NX}_V") for c in cols)
    shown = ", ".join(f"pack {int(c // cpp)} cell {int(c % cpp)}" for c in cells[:5])
    more = f" and {cells.size - 5} more" if cells.size > 5 else ""
    where = "; ".join(f"pack {p}: {steps[p].description!r}" for p in packs[:3])
    raise SimulationError(f"the run produced a non-finite state ({what}) at t = {t:g} s in step {where}, in "
                          f"{cells.size} cell(s): {shown}{more}. A current, power or parameter beyond what the "
                          "model can represent (check the step's rate and the cell parameters).")
