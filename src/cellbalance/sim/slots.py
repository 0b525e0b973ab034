"""The loop's slots at their own periods: sensors -> estimator -> controller -> balancer.

:class:`Slots` owns the components' states, decides which of them run at a plant grid time, and
keeps what each produced (measurements, estimates, commands, held actions) for the results. The
timing rules (``docs/architecture.md``):

* the estimator and the controller each run at ``t = 0, P, 2P, ...`` of their own period ``P``
  (at the first plant grid time at or after each of those instants), independently of each other;
  when both are due at one instant the estimator runs first and the controller sees its estimate;
* sensors with ``period_s = None`` are read whenever a consumer runs; with a period they are
  sampled on their own clock and consumers get the latest sample;
* a component with ``uses_truth = True`` also receives the plant's true signals
  (``Measurement.truth``); others never do;
* the controller's :class:`~cellbalance.interfaces.Command` becomes a
  :class:`~cellbalance.interfaces.HeldAction` (``balancing.hold_command``) held until its next call;
* the supervisor (the slow layer, hours) runs after the estimator and before the controller; its
  :class:`~cellbalance.interfaces.Directive` (stop, or derate by a factor) applies to every command
  from then on, and to the one in force at once;
* deferred estimation: when the sensors (read on demand) and the estimator offer ``step_many`` and
  the estimator does not use the truth, the estimator calls between two calls of the controller,
  the supervisor or a fault (which are what read its output) may be made after the plant has run
  through them (:meth:`Slots.deferred_offsets`, :meth:`Slots.defer`): the same calls, at the
  same instants, on the same true signals, in the same order (batched with the call at the reading
  instant when the estimator is due there too).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from ..balancing.hardware import hold_command
from ..errors import ConfigError
from ..estimation.perfect import PerfectSensors
from ..interfaces import (
    Command,
    Directive,
    Estimate,
    HeldAction,
    LoopContext,
    Measurement,
    TrueSignals,
    at_instant,
    stack_instants,
)

__all__ = ["Slots"]

_EPS = 1e-9


def _check_component(kind: str, comp, methods: tuple[str, ...]) -> None:
    missing = [m for m in ("init", *methods) if not callable(getattr(comp, m, None))]
    period = getattr(comp, "period_s", "missing")
    if missing:
        raise ConfigError(f"the {kind} {type(comp).__name__} has no {', '.join(missing)}() method; a {kind} needs "
                          "init(context) and step(...), see cellbalance.interfaces.")
    if kind != "sensors" and not (isinstance(period, int | float) and period > 0):
        raise ConfigError(f"the {kind} {type(comp).__name__} needs period_s > 0; got {period!r}.")


def _next(due: float, period: float, t: float) -> float:
    """The next due time after a call at ``t`` of a slot due at ``due`` with this period."""
    return due + period * max(1, math.floor((t - due) / period + _EPS) + 1)


def _derate(cmd: Command, d: Directive) -> Command:
    """The command as the hardware carries it out under directive ``d``."""
    k = float(d.derate) if d.balancing_enabled else 0.0
    if k == 1.0:
        return cmd
    def sc(a):
        return None if a is None else np.asarray(a, float) * k
    return Command(bleed=sc(cmd.bleed), edge_current_A=sc(cmd.edge_current_A),
                   links_on=cmd.links_on if k > 0 else None, element_current_A=sc(cmd.element_current_A))


class Slots:
    """Sensors, estimator, controller, supervisor and balancer of one run, with their states and logs."""

    def __init__(self, ctx: LoopContext, sensors, estimator, controller, balancer, supervisor=None):
        self.ctx = ctx
        self.layout = ctx.layout
        self.sensors = sensors if sensors is not None else PerfectSensors()
        self.estimator = estimator
        self.controller = controller
        self.balancer = balancer
        _check_component("sensors", self.sensors, ("step",))
        if estimator is not None:
            _check_component("estimator", estimator, ("step",))
        if controller is not None:
            _check_component("controller", controller, ("step",))
        if supervisor is not None:
            _check_component("supervisor", supervisor, ("step",))
        self.supervisor = supervisor
        if balancer is not None and not hasattr(balancer, "hold"):
            raise ConfigError(f"the balancer {type(balancer).__name__} has no hold() method (see "
                              "cellbalance.interfaces.Balancer).")
        self.sensor_state = self.sensors.init(ctx)
        self.est_state = estimator.init(ctx) if estimator is not None else None
        self.ctl_state = controller.init(ctx) if controller is not None else None
        self.sup_state = supervisor.init(ctx) if supervisor is not None else None
        self.next_sup = 0.0 if supervisor is not None else np.inf
        self.directive = Directive()
        self.log_sup: list[tuple[float, Directive]] = []
        sp = self.sensor_period = getattr(self.sensors, "period_s", None)
        self.next_sensor = 0.0 if (sp is not None and (estimator or controller or supervisor)) else np.inf
        self.next_est = 0.0 if estimator is not None else np.inf
        self.next_ctl = 0.0 if controller is not None else np.inf
        self.measurement: Measurement | None = None
        self.estimate: Estimate | None = None
        self.command: Command | None = None
        self.held = HeldAction.off(self.layout)
        self.converters = "edge_current_A" in tuple(getattr(balancer, "accepts", ()))  # (held currents at an operating point)
        self.log_meas: list[Measurement] = []
        self.log_est: list[tuple[float, Estimate]] = []
        self.log_ctl: list[tuple[float, Command, HeldAction]] = []
        self.ctl_wall: list[float] = []  # wall time of each controller call [s] (an observation, not physics)
        self.pending: TrueSignals | None = None  # the deferred estimator calls' instants (Slots.defer)
        self.deferrable = (estimator is not None and sp is None and not getattr(estimator, "uses_truth", False)
                      and callable(getattr(estimator, "step_many", None))
                      and callable(getattr(self.sensors, "step_many", None)))

    @property
    def active(self) -> bool:
        return self.estimator is not None or self.controller is not None or self.supervisor is not None

    def next_due(self) -> float:
        """The earliest instant at which a slot runs next [s] (inf: never)."""
        return min(self.next_sensor, self.next_est, self.next_ctl, self.next_sup)

    def due(self, t: float) -> bool:
        return t >= self.next_due() - _EPS

    def next_reader(self) -> float:
        """The next instant at which something reads the estimate (controller or supervisor) [s]."""
        return min(self.next_ctl, self.next_sup)

    def deferred_offsets(self, t: float, dt: float, n_stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The plant periods j (1 <= j < n_stop) after ``t`` at whose start the estimator is due, as the
        loop would run it on a grid of step ``dt``, and its next due time after each of those calls."""
        per = self.estimator.period_s
        due = self.next_est
        j0 = max(1, math.ceil((due - _EPS - t) / dt - 1e-12))
        if j0 >= n_stop:
            return np.empty(0, np.int64), np.empty(0)
        if abs(per - dt) <= 1e-12 * dt and due - _EPS <= t + j0 * dt < due + dt - _EPS:
            # one call a period: each call at its due time's grid point, the next due one period on
            js = np.arange(j0, n_stop)
            dues = np.add.accumulate(np.concatenate([[due], np.full(js.size, per)]))[1:]
            return js, dues
        js, dues = [], []
        j = j0
        while j < n_stop:
            due = _next(due, per, t + j * dt)
            js.append(j)
            dues.append(due)
            j = max(j + 1, math.ceil((due - _EPS - t) / dt - 1e-12))
        return np.array(js, np.int64), np.array(dues)

    def defer(self, truth: TrueSignals, next_due: float) -> None:
        """The estimator's calls at the instants of ``truth`` (a batch: a leading time axis), made later:
        at the next slot call, with that instant's own call when the estimator is due there too (one
        batch), or by :meth:`flush`; ``next_due`` the estimator's due time after the last."""
        self.flush()
        self.pending = truth
        self.next_est = next_due

    def flush(self) -> None:
        """Make the deferred calls now."""
        if self.pending is not None:
            truth, self.pending = self.pending, None
            self.run_many(truth)

    def run_many(self, truth: TrueSignals) -> None:
        """The sensors and the estimator at each instant of ``truth`` (a batch: a leading time axis) in
        one batched call each."""
        ts = truth.t_s
        meas, self.sensor_state = self.sensors.step_many(ts, truth, self.sensor_state)
        est, self.est_state = self.estimator.step_many(ts, meas, self.command, self.est_state)
        if not isinstance(est, Estimate) or np.shape(est.soc)[:1] != ts.shape:
            raise ConfigError(f"the estimator {type(self.estimator).__name__}.step_many must return a "
                              f"cellbalance.interfaces.Estimate with a leading axis of {ts.size} instants.")
        self.log_meas.append(meas)
        self.log_est.append((ts, est))
        self.measurement = at_instant(meas, -1)
        self.estimate = Estimate(soc=est.soc[-1], soc_std=None if est.soc_std is None else est.soc_std[-1],
                                 extra={k: v[-1] for k, v in est.extra.items()})

    def _for(self, comp, meas: Measurement, truth: TrueSignals) -> Measurement:
        return dataclasses.replace(meas, truth=truth) if getattr(comp, "uses_truth", False) else meas

    def run(self, t: float, truth: TrueSignals, thevenin=None) -> HeldAction | None:
        """Run every slot due at ``t``; returns the new held action if the controller or the
        supervisor changed it (converters' operating points refined with ``thevenin``, the elements'
        Thevenin resistance and present balancing current, when given: see ``hold_command``)."""
        est_due = t >= self.next_est - _EPS
        ctl_due = t >= self.next_ctl - _EPS
        sup_due = t >= self.next_sup - _EPS
        sp = self.sensor_period
        merged = False
        if self.pending is not None:
            if est_due and sp is None:  # this instant's call joins the deferred ones: one batch
                tr, self.pending = self.pending, None
                self.run_many(stack_instants([tr, truth]))
                self.next_est = _next(self.next_est, self.estimator.period_s, t)
                merged, est_due = True, False
            else:
                self.flush()
        if not merged and ((sp is not None and t >= self.next_sensor - _EPS)
                           or (sp is None and (est_due or ctl_due or sup_due))):
            self.measurement, self.sensor_state = self.sensors.step(t, truth, self.sensor_state)
            self.log_meas.append(self.measurement)
            if sp is not None:
                self.next_sensor = _next(self.next_sensor, sp, t)
        held = None
        if est_due:
            est, self.est_state = self.estimator.step(t, self._for(self.estimator, self.measurement, truth),
                                                      self.command, self.est_state)
            if not isinstance(est, Estimate):
                raise ConfigError(f"the estimator {type(self.estimator).__name__} must return a "
                                  f"cellbalance.interfaces.Estimate; got {type(est).__name__}.")
            self.estimate = est
            self.log_est.append((t, est))
            self.next_est = _next(self.next_est, self.estimator.period_s, t)
        if sup_due:
            d, self.sup_state = self.supervisor.step(t, self._for(self.supervisor, self.measurement, truth),
                                                     self.estimate, self.sup_state)
            if not isinstance(d, Directive):
                raise ConfigError(f"the supervisor {type(self.supervisor).__name__} must return a "
                                  f"cellbalance.interfaces.Directive; got {type(d).__name__}.")
            changed = d != self.directive
            self.directive = d
            self.log_sup.append((t, d))
            self.next_sup = _next(self.next_sup, self.supervisor.period_s, t)
            if changed and not ctl_due and self.command is not None:
                held = self.rehold(truth.element_voltage_V, log=False, thevenin=thevenin)
        if ctl_due:
            t0 = time.perf_counter()
            cmd, self.ctl_state = self.controller.step(t, self._for(self.controller, self.measurement, truth),
                                                       self.estimate, self.ctl_state)
            self.ctl_wall.append(time.perf_counter() - t0)
            if not isinstance(cmd, Command):
                raise ConfigError(f"a controller must return a cellbalance.interfaces.Command; got {type(cmd).__name__}.")
            self.command = cmd
            held = self._hold(truth.element_voltage_V, thevenin)
            self.log_ctl.append((t, cmd, held))
            self.next_ctl = _next(self.next_ctl, self.controller.period_s, t)
        return held

    def rehold(self, v_element: np.ndarray, log: bool = True, thevenin=None) -> HeldAction:
        """The command in force held again at element voltages ``v_element`` (the loop refines a
        converter's operating point with the voltages its own currents cause; a new directive
        applies at once)."""
        held = self._hold(v_element, thevenin)
        if log:
            t, cmd, _ = self.log_ctl[-1]
            self.log_ctl[-1] = (t, cmd, held)
        self.held = held
        return held

    def _hold(self, v_element, thevenin=None) -> HeldAction:
        d = self.directive
        held = hold_command(self.balancer, _derate(self.command, d), v_element, self.layout, thevenin)
        if held.has_links and d.balancing_enabled and d.derate < 1.0:  # links switch on/off: duty-cycle them
            held = HeldAction(held.element_current_A, held.element_shunt_S, held.link_laplacian_S * d.derate,
                              held.shunt_heat_to_cell, held.converter_loss_W)
        self.held = held
        return held

    # -- results ----------------------------------------------------------------------------------
    def variables(self) -> tuple[dict, dict]:
        """What each layer did when: measurements, estimates, commands and held actions, each on
        its own time axis (``measurement_time``, ``estimate_time``, ``control_time``)."""
        self.flush()
        B, Ns, Np = self.layout.shape
        el = ("pack", "element")
        data: dict = {}
        coords: dict = {}
        if self.log_meas:
            m = self.log_meas

            def rows(f, shape):  # every entry as (instants, *shape): single calls and batches alike
                return np.concatenate([np.reshape(getattr(x, f), (-1, *shape)) for x in m])

            coords["measurement_time"] = ("measurement_time", np.concatenate([np.atleast_1d(x.t_s) for x in m]),
                                          {"units": "s", "long_name": "Sensor sample time"})
            d = ("measurement_time",)
            data["measured_element_voltage_V"] = (d + el, rows("element_voltage_V", (B, Ns)),
                                                  {"units": "V", "long_name": "Measured element voltage"})
            data["measured_temperature_K"] = ((*d, "pack", "cell"), rows("temperature_K", (B, Ns * Np)),
                                              {"units": "K", "long_name": "Measured cell temperature"})
            data["measured_pack_current_A"] = ((*d, "pack"), rows("pack_current_A", (B,)),
                                               {"units": "A", "long_name": "Measured pack current"})
            data["measured_pack_charge_C"] = ((*d, "pack"), rows("pack_charge_C", (B,)),
                                              {"units": "C", "long_name": "Pack charge since start (current sensor)"})
        if self.log_est:
            ests = self.log_est

            def est_rows(get):  # a single call's (B, Ns) (or broadcastable) or a batch's (m, B, Ns)
                return np.concatenate([a.reshape(-1, B, Ns) if a.size == np.size(t) * B * Ns else
                                       np.broadcast_to(a, (np.size(t), B, Ns))
                                       for t, e in ests for a in (np.asarray(get(e)),)])

            coords["estimate_time"] = ("estimate_time", np.concatenate([np.atleast_1d(t) for t, _ in ests]),
                                       {"units": "s", "long_name": "Estimator call time"})
            d = ("estimate_time",)
            data["estimated_soc"] = (d + el, est_rows(lambda e: e.soc),
                                     {"units": "1", "long_name": "Estimated element SOC"})
            if all(e.soc_std is not None for _, e in ests):
                data["estimated_soc_std"] = (d + el, est_rows(lambda e: e.soc_std),
                                             {"units": "1", "long_name": "Estimated element SOC standard deviation"})
        if self.log_ctl:
            coords["control_time"] = ("control_time", np.array([t for t, _, _ in self.log_ctl]),
                                      {"units": "s", "long_name": "Controller call time"})
            d = ("control_time",)
            data["controller_wall_s"] = (d, np.array(self.ctl_wall),
                                         {"units": "s", "long_name": "Wall time of the controller call"})
            rng = self.ctx.pack_current_range_A
            if rng is not None:
                data["experiment_pack_current_range_A"] = (("bound",), np.array(rng, float), {
                    "units": "A", "long_name": "Lowest and highest pack current the experiment's steps can impose "
                    "(per string for parallel strings; positive = charging)",
                    "comment": "LoopContext.pack_current_range_A: the voltage guards of Consensus and MPC keep their "
                               "headroom for it unless given pack_current_limits_A"})
            data["balancer_element_current_A"] = (d + el, np.stack([h.element_current_A for _, _, h in self.log_ctl]),
                                                  {"units": "A", "long_name": "Held balancing current into each element"})
            data["balancer_shunt_S"] = (d + el, np.stack([h.element_shunt_S for _, _, h in self.log_ctl]),
                                        {"units": "S", "long_name": "Held shunt (bleed) conductance per element"})
            data["balancer_converter_loss_W"] = (
                (*d, "pack"), np.stack([np.zeros(B) if h.converter_loss_W is None else h.converter_loss_W
                                        for _, _, h in self.log_ctl]),
                {"units": "W", "long_name": "Converter loss of the held operating point (converter model, at the "
                                            "command instant)"})
            cmds = [c for _, c, _ in self.log_ctl]
            if any(c.bleed is not None for c in cmds):
                data["command_bleed"] = (d + el, np.stack([np.zeros((B, Ns)) if c.bleed is None else
                                                           np.broadcast_to(np.asarray(c.bleed, float), (B, Ns))
                                                           for c in cmds]),
                                         {"units": "1", "long_name": "Commanded bleed duty"})
            for name, unit in (("edge_current_A", "A"), ("links_on", "1")):
                given = [np.asarray(getattr(c, name), float) for c in cmds if getattr(c, name) is not None]
                if given:
                    m_e = given[0].shape[-1]
                    rows = [np.zeros((B, m_e)) if getattr(c, name) is None else
                            np.broadcast_to(np.asarray(getattr(c, name), float), (B, m_e)) for c in cmds]
                    data[f"command_{name}"] = ((*d, "pack", "edge"), np.stack(rows),
                                               {"units": unit, "long_name": f"Commanded {name}"})
        if self.log_sup:
            coords["supervisor_time"] = ("supervisor_time", np.array([t for t, _ in self.log_sup]),
                                         {"units": "s", "long_name": "Supervisor call time"})
            d = ("supervisor_time",)
            data["supervisor_balancing_enabled"] = (d, np.array([x.balancing_enabled for _, x in self.log_sup], np.int8),
                                                    {"long_name": "Balancing enabled by the supervisor (1/0)"})
            data["supervisor_derate"] = (d, np.array([x.derate for _, x in self.log_sup]),
                                         {"units": "1", "long_name": "Supervisor's derating factor"})
            data["supervisor_reason"] = (d, np.array([x.reason for _, x in self.log_sup], dtype=str),
                                         {"long_name": "Why the supervisor decided so"})
            data["supervisor_alarms"] = (d, np.array(["; ".join(x.alarms) for _, x in self.log_sup], dtype=str),
                                         {"long_name": "What the supervisory layer's detectors flag"})
        return data, coords
