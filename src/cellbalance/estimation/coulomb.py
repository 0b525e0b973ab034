"""Coulomb counting per series element, with OCV recalibration after a rest.

Each element integrates the pack's measured charge (the current sensor's accumulator, exact at
any estimator period) plus, if told, the balancer's commanded current into that element::

    z_k = z_{k-1} + (eta (dQ_pack + I_bal dt) - n_p i_sd dt) / (n_p Q)      (eta on charge only)

A current-sensor offset ``b`` therefore drifts the estimate by exactly ``b t / (n_p Q)``; an
unmodelled bleed current ``I_b`` by ``I_b t / (n_p Q)``. After ``recalibrate_after_rest_s`` of rest
(``|I_pack| <= rest_current_A``) the rested voltage, less the hysteresis the nominal model tracks
(``M h + M0 s``), is turned into a SOC through the OCV and fused with the counted SOC by inverse
variance (``sigma_ocv = ocv_voltage_std_V / |dU/dz|``: a flat OCV, as LFP's plateau, gives little).
The reported standard deviation grows as ``sqrt(sigma_0^2 + (sigma_b t / (n_p Q))^2)`` with
``current_offset_std_A = sigma_b`` since the last recalibration.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..cell.model import docv_dsoc
from ..errors import ParameterError, check_range
from ..interfaces import Command, Estimate, LoopContext, Measurement
from .common import Nominal, element_temperature, interval_inputs, stack_steps
from .ekf import initial_soc_array

__all__ = ["CoulombCounter", "CoulombState"]


@dataclass(frozen=True, eq=False)
class CoulombState:
    """z, h, s, var0 (variance at the last recalibration), t_cal [s], rest_s [s] per element /
    pack; the previous call's time, charge and voltages."""

    nominal: Nominal
    context: LoopContext
    z: np.ndarray | None = None
    h: np.ndarray | None = None
    s: np.ndarray | None = None
    var0: np.ndarray | None = None
    t_cal: np.ndarray | None = None
    rest_s: np.ndarray | None = None
    calibrated: np.ndarray | None = None
    t_s: float | None = None
    charge_C: np.ndarray | None = None
    voltage_V: np.ndarray | None = None


@dataclass(frozen=True)
class CoulombCounter:
    """Coulomb counting per element (see the module docstring).

    period_s : call period [s]; initial_soc : scalar, (n_packs, n_series), or None (OCV at the
    first call); use_commanded_current : count the balancer's commanded currents too;
    recalibrate_after_rest_s : rest needed before an OCV recalibration [s] (None: never);
    rest_current_A : pack current below which the pack rests [A]; soc_std0 : initial standard
    deviation; current_offset_std_A : standard deviation of the current sensor's offset [A];
    ocv_voltage_std_V : uncertainty of a rested voltage as an OCV [V].
    """

    period_s: float = 1.0
    initial_soc: float | np.ndarray | None = None
    use_commanded_current: bool = False
    recalibrate_after_rest_s: float | None = 1800.0
    rest_current_A: float = 0.05
    soc_std0: float = 0.02
    current_offset_std_A: float = 0.01
    ocv_voltage_std_V: float = 2e-3

    def __post_init__(self) -> None:
        o = "CoulombCounter"
        check_range(o, "period_s", self.period_s, gt=0)
        if self.initial_soc is not None:
            check_range(o, "initial_soc", self.initial_soc, ge=-0.05, le=1.05)
        if self.recalibrate_after_rest_s is not None:
            check_range(o, "recalibrate_after_rest_s", self.recalibrate_after_rest_s, gt=0)
        check_range(o, "rest_current_A", self.rest_current_A, ge=0)
        check_range(o, "soc_std0", self.soc_std0, gt=0)
        check_range(o, "current_offset_std_A", self.current_offset_std_A, ge=0)
        check_range(o, "ocv_voltage_std_V", self.ocv_voltage_std_V, gt=0)
        if not isinstance(self.use_commanded_current, bool):
            raise ParameterError(f"{o}.use_commanded_current must be True or False; got {self.use_commanded_current!r}.")

    def init(self, context: LoopContext) -> CoulombState:
        return CoulombState(nominal=Nominal.from_context(context), context=context)

    def step(self, t_s: float, measurement: Measurement, command: Command | None, state: CoulombState):
        nom = state.nominal
        p = state.context.nominal.cell
        shp = nom.shape
        st = state
        if st.z is None:
            z0 = initial_soc_array("CoulombCounter", self.initial_soc, nom, measurement).reshape(shp)
            st = replace(st, z=z0, h=np.zeros(shp), s=np.zeros(shp), var0=np.full(shp, self.soc_std0**2),
                         t_cal=np.full(shp, float(t_s)), rest_s=np.zeros(nom.n_packs),
                         calibrated=np.zeros(nom.n_packs, bool))
        dt, i_pred, _, ip = interval_inputs(nom, st.context, self.use_commanded_current, measurement, command,
                                            st.t_s, st.charge_C, st.voltage_V)
        npar = nom.n_parallel
        z, h, s = st.z.copy(), st.h.copy(), st.s.copy()
        var0, t_cal, rest, cal = st.var0.copy(), st.t_cal.copy(), st.rest_s.copy(), st.calibrated.copy()
        if dt > 0:
            i_cell = i_pred / npar
            eta = np.where(i_cell > 0, nom.coulombic_efficiency, 1.0)
            z = z + (eta * i_cell - nom.self_discharge_A) * dt / nom.capacity_As
            # hysteresis as the nominal model has it (for the rested-voltage correction)
            sg = np.sign(i_cell)
            k = p.hysteresis_rate * np.abs(eta * i_cell) / nom.capacity_As
            h = sg + (h - sg) * np.exp(-k * dt)
            s = np.where(np.abs(i_cell) > p.hysteresis_current_threshold_A, sg, s)
        at_rest = (np.abs(np.asarray(measurement.pack_current_A, float)) <= self.rest_current_A) & (
            np.abs(ip) <= self.rest_current_A)
        rest = np.where(at_rest, rest + dt, 0.0)
        cal &= at_rest
        var = var0 + (self.current_offset_std_A * (t_s - t_cal) / (npar * nom.capacity_As)) ** 2
        if self.recalibrate_after_rest_s is not None:
            due = (rest >= self.recalibrate_after_rest_s) & ~cal
            if due.any():
                T = element_temperature(measurement, nom.ambient_K)
                m = p.hysteresis_magnitude(T, 0.0, np.clip(z, 0, 1))
                u = np.asarray(measurement.element_voltage_V, float) - m * h - p.hysteresis_instantaneous_V * s
                z_ocv = nom.soc_from_ocv(u, T)
                var_ocv = (self.ocv_voltage_std_V / np.maximum(np.abs(docv_dsoc(p, z_ocv, T)), 1e-6)) ** 2
                fused = (z / var + z_ocv / var_ocv) / (1.0 / var + 1.0 / var_ocv)
                fvar = 1.0 / (1.0 / var + 1.0 / var_ocv)
                d = due[:, None]
                z = np.where(d, fused, z)
                var0 = np.where(d, fvar, var0)
                var = np.where(d, fvar, var)
                t_cal = np.where(d, float(t_s), t_cal)
                cal |= due
        new = replace(st, z=z, h=h, s=s, var0=var0, t_cal=t_cal, rest_s=rest, calibrated=cal, t_s=float(t_s),
                      charge_C=np.asarray(measurement.pack_charge_C, float).copy(),
                      voltage_V=np.asarray(measurement.element_voltage_V, float).copy())
        return Estimate(soc=z.copy(), soc_std=np.sqrt(var), extra={"hysteresis": h.copy()}), new

    def step_many(self, t_s, measurement: Measurement, command: Command | None, state: CoulombState):
        """:meth:`step` at each instant (arrays of ``measurement`` with a leading time axis)."""
        return stack_steps(self, np.asarray(t_s, float), measurement, command, state)
