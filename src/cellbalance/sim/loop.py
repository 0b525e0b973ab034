"""The simulation loop: experiment -> (plant, estimator, controller, balancer) -> recorded results.

One loop serves a single cell (a 1s1p pack), a pack, and a batch of packs (Monte Carlo): every
array is over cells, ordered (pack, series, parallel). Each pack runs through the experiment on
its own (its steps may end at different times); time is shared: the plant advances on a uniform
grid of ``experiment.period_s``, and a step that ends inside a period (a voltage cut-off, say) is
ended at the crossing, located with :func:`scipy.optimize.brentq` on the exact step solution, and
the next step takes the rest of that period.

Rows are recorded on the grid (every ``record_every`` periods): the state at ``t``, the currents
applied from ``t`` on, and the terminal voltages ``V = E + I*R0`` they produce (right limits,
as in Plett's discrete-time model). Step ends are listed exactly in the ``event_*`` variables.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

from ..cell import kernels as K
from ..cell.model import CellState, initial_state
from ..cell.params import CellParameters, CompiledCells
from ..errors import CellBalanceError, ParameterError
from ..interfaces import HeldAction, LoopContext, NominalModel, TrueSignals
from ..pack.electrical import element_affine, element_currents, group_thevenin, split_group_current
from ..pack.faults import CellFault
from ..pack.layout import PackLayout
from ..scenarios.experiment import Experiment, Step
from .guards import check_finite, check_inputs, step_already_met
from .results import Recorder, RunDescription, row_buffers
from .segment import record_buffers, run_segment, segment_plan
from .slots import Slots
from .stepends import end_event, pack_terminal_voltage, run_length_events, warn_step_ends

__all__ = ["SimulationOptions", "simulate"]


@dataclass(frozen=True)
class SimulationOptions:
    """Knobs of the loop that are not physics.

    record_every : record one row every this many periods (1 = every period).
    max_time_s : the run-length limit [s]: a hard stop of the whole run, so a step that never ends cannot
        hang it. None (default): the steps' written durations added up, 30 days for each step without
        one (:meth:`run_length_s`). Reaching it warns (:class:`~cellbalance.errors.RunLengthWarning`)
        and marks the results partial.
    current_iterations : fixed-point passes between R0(I) and I when a resistance table depends on
        current (1 pass otherwise).
    record : record rows at all (False: only events, final state and the slots' logs).
    record_variables : None (all) or the names of the per-row variables to keep in the results
        (see :data:`cellbalance.sim.results.RECORDABLE`); the event table is always kept.
    record_precision : "float64" (default) or "float32" for the recorded per-cell floats (half the
        memory and file size; the simulation itself always runs in float64).
    """

    record_every: int = 1
    max_time_s: float | None = None
    current_iterations: int = 2
    record: bool = True
    record_variables: tuple[str, ...] | None = None
    record_precision: str = "float64"

    def __post_init__(self) -> None:
        from .results import RECORDABLE

        if self.record_precision not in ("float64", "float32"):
            raise ParameterError(f"SimulationOptions.record_precision must be 'float64' or 'float32'; got "
                                 f"{self.record_precision!r}.")
        if self.record_variables is not None:
            names = (self.record_variables,) if isinstance(self.record_variables, str) else tuple(self.record_variables)
            bad = [v for v in names if v not in RECORDABLE]
            if bad or not names:
                raise ParameterError(f"SimulationOptions.record_variables: unknown {bad or 'empty selection'}; "
                                     f"allowed: {', '.join(RECORDABLE)}.")
            object.__setattr__(self, "record_variables", names)
        if not (isinstance(self.record_every, int) and self.record_every >= 1):
            raise ParameterError(f"SimulationOptions.record_every must be an integer >= 1; got {self.record_every!r}.")
        if self.max_time_s is not None and not self.max_time_s > 0:
            raise ParameterError(f"SimulationOptions.max_time_s must be > 0 s (or None: from the steps); got "
                                 f"{self.max_time_s!r}.")

    def run_length_s(self, experiment: Experiment) -> float:
        """The run-length limit of ``experiment``: ``max_time_s`` if given, else the written step durations
        plus :data:`UNTIMED_STEP_LIMIT_S` for each step without one."""
        if self.max_time_s is not None:
            return float(self.max_time_s)
        return float(sum(UNTIMED_STEP_LIMIT_S if s.duration_s is None else s.duration_s for s in experiment.steps))


#: the run-length allowance of a step without a written duration (30 days)
UNTIMED_STEP_LIMIT_S = 30 * 86400.0


@dataclass
class _Buffers:
    n: int
    emf: np.ndarray = field(init=False)
    r0: np.ndarray = field(init=False)
    docv: np.ndarray = field(init=False)
    estep: np.ndarray = field(init=False)
    rstep: np.ndarray = field(init=False)
    heat: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        for name in ("emf", "r0", "docv", "estep", "rstep", "heat"):
            setattr(self, name, np.zeros(self.n))


def _current_dependent(cells: CompiledCells) -> bool:
    meta = cells.bank.meta
    return bool(np.any(meta[K.T_R0:, 1] > 1))


class _Run:
    """State of one simulation run (kept out of the public API)."""

    def __init__(self, cells, layout, experiment, x0, ambient, heat_in, opts):
        self.cells = cells
        self.layout = layout
        self.exp = experiment
        self.x = x0
        self.amb = ambient
        self.q_in = heat_in
        self.opts = opts
        self.B, self.Ns, self.Np = layout.shape
        self.w = layout.wired  # the wiring (None: ideal group nodes)
        self.cpp = layout.cells_per_pack
        self.n = cells.n
        self.buf = _Buffers(self.n)
        self.apply(HeldAction.off(layout.balancing_layout))
        self.energy = np.zeros((self.B, 5))
        self.charge = np.zeros(self.B)  # integral of each pack's current since the start [C]
        if layout.strings:  # each string's current and its integral (the balancing view: strings as packs)
            self.i_string = np.zeros((self.B, self.Np))
            self.s_charge = np.zeros(self.B * self.Np)
        self._valid_x = None  # the state the evaluation buffers hold (reused when nothing changed)
        self._valid_full = False
        self._valid_dt = 0.0
        self._valid_i = None
        self.i_cell = np.zeros(self.n)
        self.i_pack = np.zeros(self.B)
        self.cur_dep = _current_dependent(cells)
        self.nominal_Ah = cells.params.capacity_Ah * self.Np
        p = cells.params
        self.v_min, self.v_max, self.t_max = p.v_min, p.v_max, p.t_max_K
        self.cond = np.zeros((self.B, 6))  # lo, hi (cell V), t_max (K), taper (A), lo, hi (pack V)
        self.cond_set = np.zeros((self.B, 6))  # as set at the step's start (for the step-end report)
        self.limit_s = opts.run_length_s(experiment)
        self.taper = False
        self.profiles = {s.profile: s.cycle for s in experiment.steps if s.mode == "profile"}  # resolved when built
        self.grid_ok: dict = {}  # (profile, period) -> can the compiled segments run it
        self.seg_plan = False  # made on first use (None: the segments cannot run this layout)
        B = self.B
        self.no_rows = record_buffers(None, B)  # (a segment that records no row)

    def apply(self, held: HeldAction) -> None:
        """Hold the balancing hardware's action from now on (solved with the pack at every step)."""
        self.held = held
        self.i_bal = held.element_current_A
        self.g_sh = held.element_shunt_S
        self.lap = held.link_laplacian_S if held.has_links else None
        self.has_shunt = held.has_shunt
        self.has_bal = held.has_current
        self.shunt_heat = held.shunt_heat_to_cell if self.has_shunt else 0.0
        self._valid_x = None

    # -- per-pack views ---------------------------------------------------------------------------
    def pack_slice(self, b: int) -> slice:
        return slice(b * self.cpp, (b + 1) * self.cpp)

    # -- currents --------------------------------------------------------------------------------
    def evaluate(self, x, i_cell, dt, sl=None, full=False):
        """(emf, r0, estep, rstep) of every cell; the last two only if ``full`` (voltage control)."""
        c = self.cells
        if sl is None:
            if (x is self._valid_x and (self._valid_full or not full) and dt == self._valid_dt
                    and (not self.cur_dep or np.array_equal(i_cell, self._valid_i))):
                return self.buf.emf, self.buf.r0, self.buf.estep, self.buf.rstep  # already evaluated at x
            self._valid_x, self._valid_full, self._valid_dt = x, full, dt
            if self.cur_dep:
                self._valid_i = np.array(i_cell, copy=True)
            K.emf_r0(c.cp, c.gp, c.bank.data, c.bank.meta, x, i_cell, dt, self.buf.emf, self.buf.r0,
                     self.buf.docv, self.buf.estep, self.buf.rstep, full)
            return self.buf.emf, self.buf.r0, self.buf.estep, self.buf.rstep
        m = sl.stop - sl.start
        out = [np.empty(m) for _ in range(5)]
        K.emf_r0(c.cp[sl], c.gp, c.bank.data, c.bank.meta, x, i_cell, dt, *out, full)
        return out[0], out[1], out[3], out[4]

    def step_value(self, step: Step, t_in_step: float) -> float:
        if step.mode == "c_rate":
            return step.value * self.nominal_Ah
        if step.mode == "profile":
            prof = self.profiles[step.profile]
            return float(prof.value_at(t_in_step % prof.duration_s)) * self.profile_factor(step)
        return step.value

    def profile_factor(self, step: Step) -> float:
        """What a profile step's cycle values are multiplied by: its scale, times n_parallel (a current)
        or the cells of a pack (a power) when the values are one cell's ('per cell')."""
        if step.profile_basis == "pack":
            return step.profile_scale
        per = self.Np if self.profiles[step.profile].kind == "current_A" else self.cpp
        return step.profile_scale * per

    def refresh(self, steps: list[Step]) -> None:
        """Cache per-pack step properties as arrays (called when any pack changes step)."""
        self._st = steps
        self._code, self._val = self._modes(steps, np.zeros(len(steps)))
        self._prof = [b for b, s in enumerate(steps) if s.mode == "profile"]
        self._dur = np.array([np.inf if s.duration_s is None else s.duration_s for s in steps])

    def modes(self, steps: list[Step], t_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per pack: control mode code (0 current, 1 power, 2 voltage) and its set-point."""
        if steps is getattr(self, "_st", None):
            if not self._prof:
                return self._code, self._val
            val = self._val.copy()
            for b in self._prof:
                val[b] = self.step_value(steps[b], t_in[b])
            return self._code, val
        return self._modes(steps, t_in)

    def _modes(self, steps: list[Step], t_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        code = np.zeros(len(steps), dtype=np.int8)
        val = np.zeros(len(steps))
        for b, s in enumerate(steps):
            if s.mode == "rest":
                continue
            val[b] = self.step_value(s, t_in[b])
            if s.mode == "power" or (s.mode == "profile" and self.profiles[s.profile].kind == "power_W"):
                code[b] = 1
            elif s.mode == "voltage":
                code[b] = 2
        return code, val

    def pack_currents(self, code, val, emf, r0, estep, rstep, i_bal, g_sh, lap):
        """Pack current of each pack for its control mode (vectorised over packs), from the element
        voltages as an affine function of the pack current (:func:`element_affine`)."""
        B = code.shape[0]
        shp = (B, self.Ns, self.Np)
        i_p = np.where(code == 0, val, 0.0)
        if np.any(code == 1):
            a, b, e_p, r_p = self._affine(emf, r0, shp, i_bal, g_sh, lap)
            r_p = r_p + self.layout.series_ohm
            disc = e_p * e_p + 4.0 * r_p * val
            with np.errstate(invalid="ignore"):
                ip_pow = 2.0 * val / (e_p + np.sqrt(disc))
            ip_pow[disc < 0] = np.nan  # power not deliverable: the step ends
            i_p = np.where(code == 1, ip_pow, i_p)
        if np.any(code == 2):
            # implicit: the highest (charging) or lowest (discharging) element ends the step at V_hold
            a, b, _, _ = self._affine(estep, rstep, shp, i_bal, g_sh, lap)
            i_each = (val[:, None] - a) / b
            ip_v = np.where(i_each.mean(-1) >= 0, i_each.min(-1), i_each.max(-1))
            i_p = np.where(code == 2, ip_v, i_p)
        return i_p

    def _affine(self, emf, r0, shp, i_bal, g_sh, lap):
        """Element voltages ``a + b i_p`` (B, elements) and the pack's own ``e_p + r_p i_p`` (without
        the series resistance). Parallel strings: the elements are the cells with their connections,
        each at its string's share of the pack current (:meth:`_strings`)."""
        if self.layout.strings:
            a, b, e_p, r_p, sE, sI = self._strings(emf, r0, shp, i_bal, g_sh, lap)
            dE = np.diff(sE, axis=-1, prepend=0.0).reshape(-1, 1)
            dI = np.diff(sI, axis=-1, prepend=0.0).reshape(-1, 1)
            return (a + b * dE).reshape(shp[0], -1), (b * dI).reshape(shp[0], -1), e_p, r_p
        th = self.w.group_solve(emf, r0, shp)[:2] if self.w is not None else group_thevenin(emf, r0, shp)
        a, b = element_affine(*th, i_bal, g_sh, lap)
        return a, b, a.sum(-1), b.sum(-1)

    def _strings(self, emf, r0, shp, i_bal, g_sh, lap):
        """Parallel strings: every cell with its connection is an element with the held action,
        ``v = a + b i_s`` in its string's current (B * Np, Ns); the strings are the branches of the
        pack's ladder (``e_p + r_p i_p``; string currents' partial sums ``sE + sI i_p``)."""
        w = self.w
        a, b = element_affine(w.by_string(emf, shp), w.by_string(r0.reshape(shp) + w.rc, shp), i_bal, g_sh, lap)
        B, Np = shp[0], shp[2]
        e_p, r_p, sE, sI = w.string_solve(a.sum(-1).reshape(B, Np), b.sum(-1).reshape(B, Np))
        return a, b, e_p, r_p, sE, sI

    def _bal(self, b=None):
        if b is None:
            return self.i_bal, self.g_sh, self.lap
        k = self.Np if self.layout.strings else 1  # (parallel strings: the held action is per string)
        sl = slice(b * k, (b + 1) * k)
        return self.i_bal[sl], self.g_sh[sl], None if self.lap is None else self.lap[sl]

    def solve_currents(self, x, steps, t_in, dt, i_guess, b=None):
        """Pack currents, cell currents and cell voltages for state x (all packs, or pack b only)."""
        i_bal, g_sh, lap = self._bal(b)
        sl, B = (None, self.B) if b is None else (self.pack_slice(b), 1)
        code, val = self.modes(steps, t_in)
        if np.count_nonzero(code) == 0 and lap is None and self.Np == 1 and self.w is None and (not self.has_shunt or not self.cur_dep):
            # current control, no links, one cell per element: the cell current follows at once
            i_ext = val[:, None] + i_bal
            if not self.has_shunt:
                i_cell = i_ext.reshape(-1)
                emf, r0, _, _ = self.evaluate(x, i_cell, dt, sl)
                return val, i_cell, emf + i_cell * r0
            emf, r0, _, _ = self.evaluate(x, i_ext.reshape(-1), dt, sl)
            e, r = emf.reshape(i_ext.shape), r0.reshape(i_ext.shape)
            v = (e + i_ext * r) / (1.0 + g_sh * r)  # KCL at the element node with its shunt
            i_cell = (i_ext - g_sh * v).reshape(-1)
            return val, i_cell, emf + i_cell * r0
        i_cell = i_guess
        passes = self.opts.current_iterations if self.cur_dep else 1
        full = bool(np.any(code == 2))
        shp = (B, self.Ns, self.Np)
        for _ in range(passes):
            emf, r0, estep, rstep = self.evaluate(x, i_cell, dt, sl, full)
            i_p = self.pack_currents(code, val, emf, r0, estep, rstep, i_bal, g_sh, lap)
            i_pz = np.where(np.isnan(i_p), 0.0, i_p) if code.any() else i_p
            if self.layout.strings:
                a, bb, _, _, sE, sI = self._strings(emf, r0, shp, i_bal, g_sh, lap)
                i_s = self.w.currents(i_pz, sE, sI)
                i_sf = i_s.reshape(-1)
                i_el = element_currents(a + bb * i_sf[:, None], i_sf, i_bal, g_sh, lap)
                i_cell = self.w.to_cells(i_el, shp)
                if b is None:
                    self.i_string = i_s
                continue
            th = self.w.group_solve(emf, r0, shp) if self.w is not None else None
            if self.has_shunt or lap is not None:
                a, bb = element_affine(*(th[:2] if th is not None else group_thevenin(emf, r0, shp)), i_bal, g_sh, lap)
                i_g = element_currents(a + bb * i_pz[:, None], i_pz, i_bal, g_sh, lap)
            else:
                i_g = i_pz[:, None] + i_bal
            if self.w is not None:
                i_cell = self.w.currents(i_g, th[2], th[3]).reshape(-1)
            elif self.Np == 1:
                i_cell = i_g.reshape(-1)
            else:
                ic, _ = split_group_current(i_g, emf.reshape(shp), r0.reshape(shp))
                i_cell = ic.reshape(-1)
        if self.cur_dep:
            emf, r0, estep, rstep = self.evaluate(x, i_cell, dt, sl)
        return i_p, i_cell, emf + i_cell * r0

    # -- end conditions ---------------------------------------------------------------------------
    def set_conditions(self, b: int, step: Step, i_p: float, v_pack_cells: np.ndarray) -> None:
        """Thresholds that end pack b's current step (NaN/inf = none)."""
        lo, hi, tl, ith, plo, phi = -np.inf, np.inf, np.inf, np.nan, -np.inf, np.inf
        d = 0.0 if step.mode in ("profile", "rest") else float(np.sign(i_p))
        if step.mode != "rest":
            tl = self.t_max
            if step.mode != "voltage":
                if d <= 0:
                    lo = self.v_min
                if d >= 0:
                    hi = self.v_max
        if step.until_voltage_V is not None and step.mode != "voltage":
            if v_pack_cells.min() > step.until_voltage_V and d <= 0:
                lo = max(lo, step.until_voltage_V)
            else:
                hi = min(hi, step.until_voltage_V)
        if step.until_pack_voltage_V is not None:
            v_pack = float(pack_terminal_voltage(v_pack_cells, self.Ns, self.Np, i_p, self.layout.interconnect_ohm))
            if v_pack > step.until_pack_voltage_V and d <= 0:
                plo = step.until_pack_voltage_V
            else:
                phi = step.until_pack_voltage_V
        if step.until_temperature_K is not None:
            tl = min(tl, step.until_temperature_K)
        if step.mode == "voltage":
            if step.until_current_A is not None:
                ith = step.until_current_A
            elif step.until_c_rate is not None:
                ith = step.until_c_rate * self.nominal_Ah
        self.cond[b] = self.cond_set[b] = (lo, hi, tl, ith, plo, phi)
        # a current taper or a pack voltage ends some pack's step (conditions the compiled segments do not check)
        self.taper = bool(np.any(np.isfinite(self.cond[:, 3:])))

    def margins(self, x, i_cell, steps, t_in, dt, b=None) -> np.ndarray:
        """Per pack, min over its end conditions of the distance to the condition; <= 0 = reached."""
        sl = None if b is None else self.pack_slice(b)
        cond = self.cond if b is None else self.cond[b : b + 1]
        B = cond.shape[0]
        emf, r0, estep, rstep = self.evaluate(x, i_cell, dt, sl, bool(np.any(np.isfinite(cond[:, 3:]))))
        v = (emf + i_cell * r0).reshape(B, -1)
        T = x[:, K.X_T].reshape(B, -1)
        m = np.minimum(v.min(-1) - cond[:, 0], cond[:, 1] - v.max(-1))
        m = np.minimum(m, cond[:, 2] - T.max(-1))
        taper, pack = np.isfinite(cond[:, 3]), np.isfinite(cond[:, 4:]).any(-1)
        if taper.any() or pack.any():
            code, val = self.modes(steps, t_in)
            i_p = self.pack_currents(code, val, emf, r0, estep, rstep, *self._bal(b))
            m = np.where(taper, np.minimum(m, np.abs(i_p) - cond[:, 3]), m)
            if pack.any():
                v_p = pack_terminal_voltage(v, self.Ns, self.Np, i_p, self.layout.interconnect_ohm)
                m = np.where(pack, np.minimum(m, np.minimum(v_p - cond[:, 4], cond[:, 5] - v_p)), m)
        return m


def simulate(
    cells: CompiledCells | CellParameters,
    experiment: Experiment | list[str] | str,
    *,
    layout: PackLayout | None = None,
    state: CellState | None = None,
    ambient_K=None,
    heat_in_W=None,
    sensors=None,
    estimator=None,
    controller=None,
    balancer=None,
    supervisor=None,
    faults=(),
    options: SimulationOptions | None = None,
    progress: Callable[[float, float], None] | None = None,
    recorder: Recorder | None = None,
):
    """Run ``experiment`` on a cell, a pack, or a batch of packs, and return an xarray Dataset.

    Parameters
    ----------
    cells : CompiledCells or CellParameters
        The cells (``layout.n_cells`` of them); a CellParameters is compiled for the layout.
    experiment : Experiment, or step strings
    layout : PackLayout, default a single cell (1s1p, one pack)
    state : CellState, optional; default rested cells at the parameter set's initial SOC/ambient
    ambient_K : float or array (n_cells,), coolant/ambient temperature [K]
    heat_in_W : callable (t_s, x) -> array (n_cells,) or None; extra heat into each cell node [W]
    sensors, estimator, controller : the loop's slots (:mod:`cellbalance.interfaces`), each run at
        its own ``period_s`` (sensors default: perfect, read whenever a consumer runs). They get the
        *nominal* model (``cells.params`` and the layout), never the plant's per-cell values.
    balancer : the balancing hardware that carries out the controller's commands (a
        ``PassiveBalancer``, ``ActiveBalancer`` or ``BalancingHardware``); its held action is
        solved with the pack at every plant step until the next command.
    supervisor : the slow layer (hours, :class:`~cellbalance.interfaces.Supervisor`): its
        ``Directive`` derates or stops balancing (e.g. ``control.supervisory.ThermalDerating``).
    faults : :class:`~cellbalance.pack.faults.CellFault` s injected into the plant at their times
        (soft internal short, open cell, capacity fade); recorded as ``fault_*`` variables.
    options : SimulationOptions
    progress : callable (t_s, t_estimate_s), called about once a second of wall time at most
    recorder : Recorder, optional (e.g. streaming to NetCDF); default keeps rows in memory

    Returns
    -------
    xarray.Dataset with dims (time, pack, cell[, rc]) and (event,), and what each slot did on its
    own time axis (``measurement_time``, ``estimate_time``, ``control_time``); see ``sim/results.py``.
    """
    layout = layout or PackLayout()
    opts = options or SimulationOptions()
    if isinstance(cells, CellParameters):
        cells = cells.compile(layout.n_cells)
    if cells.n != layout.n_cells:
        raise ParameterError(f"simulate(): {cells.n} cells given but the layout {layout.shape} needs {layout.n_cells}.")
    if not isinstance(experiment, Experiment):
        experiment = Experiment(experiment)
    x0 = (state or initial_state(cells)).x
    if x0.shape != (cells.n, K.NX + cells.params.n_rc):
        raise ParameterError(f"simulate(): state has shape {x0.shape}; expected {(cells.n, K.NX + cells.params.n_rc)}.")
    # a fresh, writable array whatever the caller passed (a read-only one, e.g. a sampled pack's,
    # would make numba compile every kernel a second time for the read-only array type)
    amb = np.array(np.broadcast_to(
        np.asarray(cells.params.ambient_K if ambient_K is None else ambient_K, float), (cells.n,)), dtype=float)
    check_inputs(cells, layout, experiment, opts, recorder, amb)
    faults = sorted(faults, key=lambda f: f.time_s)
    for f in faults:
        if not isinstance(f, CellFault):
            raise ParameterError(f"simulate(): faults must be CellFault objects; got {type(f).__name__}.")
        f.check(layout.n_cells, layout.n_parallel)
    if faults:  # the plant's own copy of the per-cell parameters, changed by the faults as they come
        cells = dataclasses.replace(cells, cp=cells.cp.copy())
    run = _Run(cells, layout, experiment, np.ascontiguousarray(x0.copy()), amb, heat_in_W, opts)
    run.faults = list(faults)
    ctx = LoopContext(nominal=NominalModel(cell=cells.params, layout=layout.balancing_layout),
                      plant_period_s=experiment.period_s,
                      balancer=balancer, pack_current_range_A=experiment_current_range(run))
    slots = Slots(ctx, sensors, estimator, controller, balancer, supervisor)
    rec = recorder or Recorder(cells, layout)
    rec.expect(int(min(_estimate_duration(run), run.limit_s) / experiment.period_s / opts.record_every) + 2)
    rec.select(opts.record_variables, opts.record_precision)
    try:
        return _loop(run, rec, slots, progress)
    except KeyboardInterrupt as e:
        # keep what was done: the rows (a streamed file keeps every row written), the events so far, the
        # slots' logs and the state at the interruption, marked partial; the Dataset rides on the exception
        try:
            x_now = getattr(run, "cur_x", run.x)
            e.partial = rec.finish(getattr(run, "events", []), RunDescription(cells.params, layout, experiment, cells),
                                   truncated=True, final_state=CellState(np.array(x_now, copy=True)),
                                   extra=_merge(_slot_variables(run, slots), _fault_variables(getattr(run, "applied", []))),
                                   status=f"partial: interrupted at t = {getattr(run, 'cur_t', 0.0):g} s")
        except Exception:
            rec.abort()
        raise
    except CellBalanceError:
        rec.abort()  # a streaming recorder keeps every row written so far
        raise


def experiment_current_range(run: _Run) -> tuple[float, float] | None:
    """The range [A] the experiment's steps can impose on a pack's current (positive = charging), 0
    included (a load can always stop), per string for parallel strings (the even share: the balancing
    view sees each string as a pack):

    * current and C-rate steps: their value; current profiles: their lowest and highest value (scaled,
      times n_parallel when given per cell);
    * power steps and profiles: ``P / (n_series v_min)``, the most current a power can draw within the
      cells' limits (the pack voltage at its lowest);
    * voltage holds: the largest current of the other steps in the hold's direction (charging when the
      hold voltage is at or above the nominal OCV at 50 % SOC); None for holds alone (nothing bounds
      them before the run).

    Controllers take it as the pack's current limits (``LoopContext.pack_current_range_A``): it says
    which currents may come within a held period, not when.
    """
    p = run.cells.params
    lo = hi = 0.0
    holds = []
    v_pack_min = run.Ns * run.v_min
    for s in run.exp.steps:
        if s.mode == "rest":
            continue
        if s.mode == "voltage":
            holds.append(s.value >= float(p.ocv(p.ocv_reference_temperature_K, 0.0, 0.5)))
            continue
        if s.mode == "profile":
            prof = run.profiles[s.profile]
            vals = np.asarray(prof.values, float) * run.profile_factor(s)
            if prof.kind == "power_W":
                vals = vals / v_pack_min
            a, b = float(vals.min()), float(vals.max())
        elif s.mode == "power":
            a = b = s.value / v_pack_min
        else:
            a = b = run.step_value(s, 0.0)
        lo, hi = min(lo, a), max(hi, b)
    for charging in holds:
        if lo == 0.0 and hi == 0.0:
            return None
        m = hi if charging else -lo
        m = m if m > 0 else max(hi, -lo)
        lo, hi = (lo, max(hi, m)) if charging else (min(lo, -m), hi)
    k = run.Np if run.layout.strings else 1
    return lo / k, hi / k


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _element_voltage(run: _Run, v_cell, i_cell) -> np.ndarray:
    """Voltage across each balancing element: (B, Ns) its group's terminals (with wiring, the group's
    ladder; otherwise every cell of the group sits at it); parallel strings (B * Np, Ns) each cell
    with its connection, string by string."""
    shp = run.layout.shape
    if run.w is None:
        return v_cell.reshape(shp)[..., 0]
    return run.w.element_voltage(v_cell, i_cell, shp)


def _pack_voltage(run: _Run, v_cell, i_cell, ip) -> np.ndarray:
    """Pack terminal voltage (B,), series resistances included."""
    if run.w is None:
        return v_cell.reshape(run.layout.shape)[..., 0].sum(-1) + ip * run.layout.interconnect_ohm
    return run.w.pack_voltage(v_cell, i_cell, ip, run.layout.shape) + ip * run.layout.interconnect_ohm


def _truth(run: _Run, t, x, i_p, v_cell, i_cell) -> TrueSignals:
    """The plant's true signals at t, as read-only copies (sensors may hand them on as they are)."""
    shp = run.layout.shape
    ip = np.where(np.isnan(i_p), 0.0, i_p)  # (np.nan_to_num costs 5x as much here)
    if run.layout.strings:  # the balancing view: every string a pack of single-cell elements
        w, bshp = run.w, run.layout.balancing_layout.shape
        v_el = _element_voltage(run, v_cell, i_cell)
        return TrueSignals(
            t_s=t,
            cell_voltage_V=_readonly(v_el.reshape(bshp)),
            cell_temperature_K=_readonly(w.by_string(x[:, K.X_T], shp).reshape(bshp)),
            cell_soc=_readonly(w.by_string(x[:, K.X_Z], shp).reshape(bshp)),
            pack_current_A=_readonly(run.i_string.reshape(-1).copy()),
            pack_voltage_V=_readonly(v_el.sum(-1)),
            pack_charge_C=_readonly(run.s_charge.copy()),
        )
    v = v_cell.reshape(shp).copy()
    return TrueSignals(
        t_s=t,
        cell_voltage_V=_readonly(v),
        cell_temperature_K=_readonly(x[:, K.X_T].reshape(shp).copy()),
        cell_soc=_readonly(x[:, K.X_Z].reshape(shp).copy()),
        pack_current_A=_readonly(ip),
        pack_voltage_V=_readonly(_pack_voltage(run, v_cell, i_cell, ip)),
        pack_charge_C=_readonly(run.charge.copy()),
    )


def _loop(run: _Run, rec: Recorder, slots: Slots, progress):
    import time as _time

    exp = run.exp
    dt = exp.period_s
    steps = exp.steps
    B, cpp, n = run.B, run.cpp, run.n
    c = run.cells
    k_step = np.zeros(B, dtype=int)
    t_in = np.zeros(B)
    t_start_step = np.zeros(B)
    done = np.zeros(B, dtype=bool)
    events: list[tuple] = []  # stepends.EVENT_FIELDS
    run.events = events  # (kept on the run: an interrupted run still hands its events to the recorder)
    rest = Step(mode="rest", duration_s=1e30, description="(finished)")
    x = run.x
    x_try = np.empty_like(x)
    q = np.zeros(n)
    dts = np.zeros(n)
    t = 0.0
    k = 0
    t_est_total = _estimate_duration(run)
    last_progress = _time.monotonic()
    new_step = np.ones(B, dtype=bool)

    def cur_steps():
        return [rest if done[b] else steps[k_step[b]] for b in range(B)]

    st = None
    fast_ok = (run.Np == 1 or not run.cur_dep) and run.q_in is None
    applied: list = []
    run.applied = applied
    while not done.all() and t < run.limit_s:
        run.cur_x, run.cur_t = x, t
        while run.faults and t >= run.faults[0].time_s - 1e-9:
            f = run.faults.pop(0)
            f.apply(c.cp)
            applied.append((t, f))
            run._valid_x = None
        if slots.due(t):
            # the slots run at the start of this period, on the plant's state at t (right limits)
            if st is None:
                st = cur_steps()
                run.refresh(st)
            _slot_call(run, slots, x, st, t_in, dt, t)
        if fast_ok and st is not None and not new_step.any() and _segment_allowed(run):
            t_fault = run.faults[0].time_s if run.faults else math.inf
            if slots.deferrable and run.w is None and slots.next_est < min(slots.next_reader(), t_fault):
                # to the next reader of the estimate; the estimator's calls on the way are batched after
                n_to = _periods_to(min(slots.next_reader(), t_fault), t, dt)
                adv = _try_segment(run, rec, st, x, t, k, t_in, dt, k_step, n_to, deferred=slots)
            else:  # to the next fault, pausing for the slots when they are due
                adv = _try_segment(run, rec, st, x, t, k, t_in, dt, k_step, _periods_to(t_fault, t, dt),
                                   slots=slots)
            if adv:
                t += adv * dt
                k += adv
                check_finite(x, t, st, run.layout)
                t_in += adv * dt
                if progress is not None and _time.monotonic() - last_progress > 0.5:
                    progress(t, t_est_total)
                    last_progress = _time.monotonic()
                continue
        rem = np.full(B, dt)
        first = True
        while True:
            active = rem > 1e-9 * dt
            if not active.any():
                break
            if st is None:
                st = cur_steps()
                run.refresh(st)
            i_p, i_cell, v_cell = run.solve_currents(x, st, t_in, dt, run.i_cell)
            run.i_cell, run.i_pack = i_cell, i_p
            if new_step.any():
                for b in np.flatnonzero(new_step):
                    run.set_conditions(b, st[b], i_p[b], v_cell[run.pack_slice(b)])
                    if step_already_met(st[b], k_step[b], b, t + dt - rem[b], i_p[b], v_cell[run.pack_slice(b)],
                                        x[run.pack_slice(b), K.X_T], _pack_voltage_b(run, b, v_cell, i_p[b])):
                        run.cond[b, 0] = np.inf  # ends the step at once
                new_step[:] = False
            if first and run.opts.record and k % run.opts.record_every == 0:
                rec.append(t, x, i_cell, v_cell, i_p, k_step, run.energy)
            # how far each pack may go: its remaining period, its step's remaining duration
            tau = np.minimum(rem, run._dur - t_in)
            nan_packs = np.isnan(i_p)
            for b in run._prof:
                if not done[b]:
                    prof = run.profiles[st[b].profile]
                    # the profile value changes at its sample times: do not cross one
                    tp = t_in[b] % prof.duration_s
                    tau[b] = min(tau[b], prof.next_change_after(tp) - tp)
            tau = np.maximum(tau, 0.0)
            tau[nan_packs] = 0.0
            dts[:] = np.repeat(tau, cpp)
            if run.q_in is not None:
                q[:] = run.q_in(t + (dt - rem.min()), x)
            qq = q + _shunt_heat(run, v_cell, i_cell) if run.shunt_heat > 0 else q
            if run.w is not None and run.w.heat_to_cells > 0:
                qq = qq + run.w.cell_heat(i_cell, np.where(np.isnan(i_p), 0.0, i_p), run.layout.shape,
                                          run.i_string if run.layout.strings else None)
            K.step(c.cp, c.gp, c.bank.data, c.bank.meta, x, i_cell, run.amb, qq, dts, run.buf.heat, out=x_try)
            ended = np.zeros(B, dtype=bool)
            reason = [""] * B
            m1 = run.margins(x_try, i_cell, st, t_in + tau, dt)
            hit = (m1 <= 0.0) & ~done
            if hit.any():
                m0 = run.margins(x, i_cell, st, t_in, dt)
            if hit.any() or nan_packs.any():
                run._valid_x = None
            for b in np.flatnonzero(hit | nan_packs) if (hit.any() or nan_packs.any()) else ():
                sl = run.pack_slice(b)
                if nan_packs[b]:
                    reason[b] = "power"
                elif m0[b] <= 0.0:
                    tau[b] = 0.0
                    x_try[sl] = x[sl]
                    reason[b] = "condition"  # (at the start of the period)
                else:
                    tau[b] = _locate(run, b, st[b], x[sl], i_cell[sl], qq[sl], t_in[b], tau[b], dt, x_try)
                    reason[b] = "condition"
                ended[b] = True
            by_time = ~ended & ~done & (t_in + tau >= run._dur - 1e-9)
            if by_time.any():
                for b in np.flatnonzero(by_time):
                    ended[b], reason[b] = True, "duration"
            _account(run, i_p, i_cell, v_cell, tau)
            x, x_try = x_try, x
            rem -= tau
            check_finite(x, t + dt - rem.min(), st, run.layout)
            t_in += tau
            st_now = st
            for b in np.flatnonzero(ended) if ended.any() else ():
                t_end = t + (dt - rem[b])
                sl = run.pack_slice(b)
                events.append(end_event(run, b, k_step[b], st_now[b], t_start_step[b], t_end, reason[b], x[sl],
                                        i_cell[sl], float(i_p[b]), t_in[b], dt))
                k_step[b] += 1
                t_in[b] = 0.0
                t_start_step[b] = t_end
                new_step[b] = True
                if k_step[b] >= len(steps):
                    done[b] = True
                    k_step[b] = len(steps) - 1
                st = None
            first = False
            if (rem <= 1e-9 * dt).all():
                break
        t += dt
        k += 1
        if progress is not None and _time.monotonic() - last_progress > 0.5:
            progress(t, t_est_total)
            last_progress = _time.monotonic()
    if x is not run.x:
        run.x[:] = x
    st = cur_steps()
    run.refresh(st)
    i_p, i_cell, v_cell = run.solve_currents(x, st, t_in, dt, run.i_cell)
    if run.opts.record:
        rec.append(t, x, i_cell, v_cell, i_p, np.where(done, len(steps), k_step), run.energy)
    if progress is not None:
        progress(t, t)
    truncated = not done.all()
    status = "complete" if not truncated else f"partial: the run-length limit max_time_s = {run.limit_s:g} s"
    if truncated:
        events += run_length_events(run, steps, k_step, done, t_start_step, t)
    warn_step_ends(events, steps, B, run.limit_s, truncated)
    return rec.finish(events, RunDescription(c.params, run.layout, exp, c), truncated=truncated,
                      final_state=CellState(x.copy()), extra=_merge(_slot_variables(run, slots), _fault_variables(applied)),
                      status=status)


def _slot_call(run: _Run, slots: Slots, x, st, t_in, dt, t) -> None:
    """The slots due at ``t``, on the plant's state ``x`` there (right limits); the held action they
    return is applied from now on."""
    i_p, i_cell, v_cell = run.solve_currents(x, st, t_in, dt, run.i_cell)
    thevenin = None
    if slots.converters and run._valid_x is x and not run._valid_full and not run.has_shunt and run.lap is None \
            and not run.cur_dep and run.w is None:
        # the elements are Thevenin sources at this state (buf.emf/r0 hold its evaluation): the
        # balancer refines its converters' operating point itself, at the voltages its currents cause
        thevenin = (group_thevenin(run.buf.emf, run.buf.r0, run.layout.shape)[1], run.i_bal)
    held = slots.run(t, _truth(run, t, x, i_p, v_cell, i_cell), thevenin)
    if held is not None:
        run.apply(held)
        if held.converter_loss_W is not None and (thevenin is None or run.has_shunt or run.lap is not None):
            # converters: their operating point at the voltages they run at (one refinement of
            # the fixed point between the held currents and the element voltages they cause), the
            # pack solved again with the new action
            _, i2, v2 = run.solve_currents(x, st, t_in, dt, run.i_cell)
            run.apply(slots.rehold(_element_voltage(run, v2, i2)))


def _periods_to(t_next: float, t: float, dt: float) -> int:
    """Whole periods from ``t`` to ``t_next`` (inf: practically unbounded)."""
    return math.ceil((t_next - t) / dt - 1e-9) if math.isfinite(t_next) else 1 << 40


def _slot_variables(run: _Run, slots: Slots) -> tuple[dict, dict]:
    """The slots' logs; on parallel strings their packs are the strings (dimension ``string``,
    ordered pack by pack)."""
    data, coords = slots.variables()
    if not run.layout.strings:
        return data, coords
    ren = {}
    for k, (dims, *rest) in data.items():
        ren[k] = (tuple({"pack": "string", "cell": "string_cell"}.get(d, d) for d in dims), *rest)
    return ren, coords


def _merge(a: tuple[dict, dict], b: tuple[dict, dict]) -> tuple[dict, dict]:
    return {**a[0], **b[0]}, {**a[1], **b[1]}


def _fault_variables(applied: list) -> tuple[dict, dict]:
    if not applied:
        return {}, {}
    d = ("fault",)
    return {
        "fault_time_s": (d, np.array([t for t, _ in applied]), {"units": "s", "long_name": "When the fault acted"}),
        "fault_cell": (d, np.array([f.cell for _, f in applied]), {"long_name": "Flat cell index of the fault"}),
        "fault_kind": (d, np.array([f.kind for _, f in applied], dtype=str), {"long_name": "Fault kind"}),
        "fault_value": (d, np.array([f.value for _, f in applied]), {"long_name": "Fault value (A or fraction)"}),
    }, {}


def _pack_voltage_b(run: _Run, b: int, v_cell, i_p: float) -> float:
    """Terminal voltage of pack b without wiring: its element voltages and the interconnect drop (pack-voltage
    cut-offs are refused with wiring, ``guards.check_steps``)."""
    return float(pack_terminal_voltage(v_cell[run.pack_slice(b)], run.Ns, run.Np, i_p, run.layout.interconnect_ohm))


def _shunt_heat(run: _Run, v_cell, i_cell) -> np.ndarray:
    """Heat of the bleed shunts that reaches the cells, at this step's element voltages [W per cell]."""
    v_g = _element_voltage(run, v_cell, i_cell)
    if run.layout.strings:
        return run.w.to_cells(run.g_sh * v_g * v_g * run.shunt_heat, run.layout.shape)
    p = run.g_sh * v_g * v_g * run.shunt_heat / run.Np
    return np.repeat(p.reshape(-1), run.Np)


def _segment_allowed(run: _Run) -> bool:
    """Held actions the compiled segments solve: currents and shunts (no links; no shunt heat into
    the cells; no shunt with current-dependent tables, whose fixed point the general loop iterates)."""
    if run.lap is not None or run.layout.strings or (run.w is not None and run.w.heat_to_cells > 0):
        return False
    if run.has_shunt and (run.shunt_heat > 0 or run.cur_dep):
        return False
    return True


def _locate(run: _Run, b, s, x0, i_cell, q, t_in, tau, dt, x_out):
    """Time within (0, tau] at which pack b meets its end condition; writes that state into x_out."""
    c = run.cells
    sl = run.pack_slice(b)
    m = sl.stop - sl.start
    xb = np.empty_like(x0)
    heat = np.empty(m)
    cp = c.cp[sl]
    amb = run.amb[sl]

    def state_at(h):
        np.copyto(xb, x0)
        K.step(cp, c.gp, c.bank.data, c.bank.meta, xb, i_cell, amb, q, np.full(m, h), heat)
        return xb

    def g(h):
        return float(run.margins(state_at(h), i_cell, [s], np.array([t_in + h]), dt, b)[0])

    h = brentq(g, 0.0, tau, xtol=1e-9 * max(dt, 1.0), rtol=1e-12)
    # take the side on which the condition is met (<= 0), so the step really has ended
    if g(h) > 0:
        h = min(tau, h + 2e-9 * max(dt, 1.0))
    x_out[sl] = state_at(h)
    return h


ENERGY_TERMS = ("load", "cells", "bleed", "converter_loss", "interconnect")


def _segment_currents(run: _Run, step: Step, t_in: float, n_max: int, dt: float):
    """Pack current of each of the next n_max periods of a current-driven step, or None."""
    if step.mode not in ("current", "c_rate", "rest", "profile"):
        return None
    if step.mode == "profile":
        prof = run.profiles[step.profile]
        key = (step.profile, dt)
        if key not in run.grid_ok:
            run.grid_ok[key] = prof.kind == "current_A" and prof.on_grid(dt)
        grid = run.grid_ok[key]
        if grid is False:
            return None
        if grid is True:  # the cycle sampled once on the plant grid
            n_cyc = int(round(prof.duration_s / dt))
            idx = np.searchsorted(prof.time_s, dt * np.arange(n_cyc) + 1e-9 * dt, side="right") - 1
            grid = run.grid_ok[key] = prof.values[idx]
        r = (t_in % prof.duration_s) / dt
        j0 = int(round(r))
        if abs(r - j0) > 1e-9:
            return None  # a step that began inside a period: its periods straddle the samples
        j0 %= grid.shape[0]
        part = grid[j0:j0 + n_max] if j0 + n_max <= grid.shape[0] else np.take(grid, np.arange(j0, j0 + n_max),
                                                                                mode="wrap")
        return part * run.profile_factor(step)
    return np.full(n_max, 0.0 if step.mode == "rest" else run.step_value(step, t_in))


#: cell-rows of true signals a deferred estimation window holds at most (its period count is this
#: over the cell count, at least 1): bounds its memory (~100 MB) for large packs
DEFER_CELL_ROWS = 1 << 20


def _try_segment(run: _Run, rec: Recorder, steps: list[Step], x, t, k, t_in, dt, k_step, n_to: int,
                 deferred: Slots | None = None, slots: Slots | None = None) -> int:
    """Advance whole periods of every pack in compiled code when all their steps allow it (current
    driven, no current taper), ``n_to`` periods at most, with the held balancing currents and shunts;
    returns periods advanced. With ``deferred`` slots, every period's true signals are kept and the
    estimator calls due inside the advanced periods are made after it (:meth:`Slots.defer`). With
    ``slots``, the segment pauses at each instant the slots are due, runs them there
    (:func:`_slot_call`) and goes on with the action they hold, as long as the segments can solve it."""
    if run.limit_s - t < 3 * dt:
        return 0
    if run.seg_plan is False:
        run.seg_plan = segment_plan(run.cells, run.B, run.Np)
        if run.seg_plan is not None:
            run.seg_plan.wiring(run.w)
    if run.seg_plan is None:
        return 0  # a parallel group larger than a block: the general loop runs it
    n_max = int(min(float((run._dur - t_in).min()), run.limit_s - t) // dt) - 1
    if n_max < 2 or run.taper:
        return 0
    n_max = min(n_max, 100_000, n_to)  # (a single period up to the next slot call is worth a segment)
    if deferred is not None:
        n_max = min(n_max, max(2, DEFER_CELL_ROWS // run.n))
    B = run.B
    cur = np.empty((n_max, B))
    for b, step in enumerate(steps):
        c_b = _segment_currents(run, step, float(t_in[b]), n_max, dt)
        if c_b is None:
            return 0
        cur[:, b] = c_b
    every = run.opts.record_every
    row_of = np.full(n_max, -1, dtype=np.int64)
    view = None
    if run.opts.record:
        per = np.arange((-k) % every, n_max, every)
        if per.size:
            # the segment writes its rows straight into the recorder's chunk (as many as it holds)
            m, view = rec.reserve(per.size)
            if m < per.size:
                n_max = int(per[m])  # stop before the first row that does not fit; the loop comes back
                cur, row_of, per = cur[:n_max], row_of[:n_max], per[:m]
            row_of[per] = np.arange(per.size)
    else:
        per = row_of[:0]
    buffers = run.no_rows if view is None else record_buffers(view, B)
    bal = run.has_bal or run.has_shunt
    if deferred is not None:  # every period's row, into the window's own buffers
        q0 = run.charge.copy()
        win = _window_buffers(run, n_max)
        seg_rows, seg_buf = np.arange(n_max), record_buffers(win, B)
    else:
        seg_rows, seg_buf = row_of, buffers
    pause = first = None
    paused = [-1, 0]  # the period of the last pause, the rows committed by then
    if slots is not None and slots.active:
        first = _periods_to(slots.next_due(), t, dt)
        if first < 1:
            return 0  # (due within rounding of now: the general loop takes this period)

        def pause(j: int):
            """The slots at the start of period j of the segment: its state is the plant's there."""
            tj = t + j * dt
            run.cur_t, paused[0] = tj, j
            rows = int(per.searchsorted(j))  # the rows written so far are results (an interruption keeps them)
            if rows > paused[1]:
                rec.commit(rows - paused[1])
                paused[1] = rows
            check_finite(x, tj, steps, run.layout)
            _adopt_evaluation(run, x, dt)
            _slot_call(run, slots, x, steps, t_in + j * dt, dt, tj)
            if not _segment_allowed(run):
                return 0, None, None
            on = run.has_bal or run.has_shunt
            return _periods_to(slots.next_due(), tj, dt), run.i_bal if on else None, run.g_sh if on else None
    done = run_segment(run.cells, x, cur, run.amb, dt, run.cond[:, :3], run.Np, run.cur_dep,
                       run.layout.series_ohm, run.energy, run.charge, seg_rows, seg_buf, t, k_step,
                       run.i_bal if bal else None, run.g_sh if bal else None, plan=run.seg_plan,
                       pause=pause, pause_at=first)
    if done <= 0:
        return 0
    nrow = int(np.searchsorted(per, done))
    if deferred is not None:
        for key in view if nrow else ():  # the recorder's rows, copied from the window
            view[key][:nrow] = win[key][per[:nrow]]
        run.i_cell = win["i"][done - 1].copy()
        _run_deferred(run, deferred, win, q0, t, dt, done)
        if nrow:
            rec.commit(nrow)
    elif nrow:
        if nrow > paused[1]:
            rec.commit(nrow - paused[1])
        run.i_cell = buffers[1][nrow - 1].copy()
    if paused[0] != done:  # (after a pause the slots' action holds: the next solve evaluates afresh)
        _adopt_evaluation(run, x, dt)
    return int(done)


def _adopt_evaluation(run: _Run, x, dt) -> None:
    """The segment's evaluation of its end state ``x`` serves the next solve (when it made one)."""
    plan = run.seg_plan
    if plan.evaluated:
        run.buf.emf[:] = plan.emf
        run.buf.r0[:] = plan.r0
        run._valid_x, run._valid_full, run._valid_dt = x, False, dt
    else:
        run._valid_x = None


def _window_buffers(run: _Run, rows: int) -> dict:
    """Row buffers (as the recorder's, float64) for a deferred-estimation window, reused across windows."""
    w = getattr(run, "_win", None)
    if w is None or w["time"].shape[0] < rows:
        w = run._win = row_buffers(rows, run.n, run.B, K.NX + run.cells.params.n_rc)
        return w
    return {key: a[:rows] for key, a in w.items()}


def _run_deferred(run: _Run, slots: Slots, win: dict, q0: np.ndarray, t: float, dt: float, done: int) -> None:
    """The estimator calls due inside the ``done`` periods a segment advanced from ``t``, on the true
    signals it kept at the start of each period (those of :func:`_truth` there)."""
    js, dues = slots.deferred_offsets(t, dt, done)
    if js.size == 0:
        return
    shp = run.layout.shape
    m = js.size
    # the pack charge at the start of every period: the same running sum the segment made
    q = np.add.accumulate(np.concatenate([q0[None], win["ip"][:done] * dt]), axis=0)
    ip = win["ip"][js]
    v = win["v"][js].reshape(m, *shp)
    xs = win["x"][js]
    truth = TrueSignals(t_s=t + js * dt, cell_voltage_V=v, cell_temperature_K=xs[..., K.X_T].reshape(m, *shp),
                        cell_soc=xs[..., K.X_Z].reshape(m, *shp), pack_current_A=ip,
                        pack_voltage_V=v[..., 0].sum(-1) + ip * run.layout.interconnect_ohm, pack_charge_C=q[js])
    slots.defer(truth, float(dues[-1]))


def _account(run: _Run, i_p, i_cell, v_cell, tau) -> None:
    """Energy bookkeeping per pack over the sub-step (rectangle rule on the right-limit values).

    load = what the pack terminals receive (i_p * V_pack); cells = sum of I*V into every cell;
    bleed = g V^2 in the shunts; converter_loss = what the balancing network draws from the elements
    (held converter currents, ``-sum V i_b``, plus the links' ``v^T L v``); interconnect = i_p^2 R (the
    layout's interconnect and terminals) plus, with wiring, the I^2 R of every connection and busbar
    segment, summed from the branch currents.
    Kirchhoff makes load = cells + bleed + converter_loss + interconnect; whether the converters'
    draw matches their own loss model is checked independently (tests/balancing).
    """
    B = run.B
    ip = np.where(np.isnan(i_p), 0.0, i_p)
    v_g = _element_voltage(run, v_cell, i_cell)
    e = run.energy
    if run.w is None:
        p_ic = ip * ip * run.layout.interconnect_ohm
        e[:, 0] += (ip * v_g.sum(-1) + p_ic) * tau
    else:
        i_s = run.i_string if run.layout.strings else None
        p_ic = ip * ip * run.layout.interconnect_ohm + run.w.heat(i_cell, ip, run.layout.shape, i_s)
        e[:, 0] += ip * _pack_voltage(run, v_cell, i_cell, ip) * tau
        if i_s is not None:
            run.s_charge += (i_s * tau[:, None]).reshape(-1)
    e[:, 1] += (i_cell * v_cell).reshape(B, -1).sum(-1) * tau
    if run.has_shunt:
        e[:, 2] += (run.g_sh * v_g * v_g).reshape(B, -1).sum(-1) * tau
    if run.has_bal:
        e[:, 3] += -(run.i_bal * v_g).reshape(B, -1).sum(-1) * tau
    if run.lap is not None:
        e[:, 3] += np.einsum("bi,bij,bj->b", v_g, run.lap, v_g).reshape(B, -1).sum(-1) * tau
    e[:, 4] += p_ic * tau
    run.charge += ip * tau


def _estimate_duration(run: _Run) -> float:
    total = 0.0
    for s in run.exp.steps:
        if s.duration_s is not None:
            total += s.duration_s
        elif s.mode in ("current", "c_rate", "power"):
            total += 3600.0
        else:
            total += 1800.0
    return total
