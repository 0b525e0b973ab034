"""One cell's batched EKF against filterpy's ExtendedKalmanFilter, driven with the same model,
Jacobians, noise and data. The model here is written again from the public cell functions
(open_circuit_voltage, the parameter tables, the Arrhenius law of docs/models.md), not taken from
the estimation kernels."""

import math

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set, initial_state, open_circuit_voltage
from cellbalance.cell.params import GAS_CONSTANT
from cellbalance.estimation import EKFEstimator, FilterTuning
from cellbalance.interfaces import LoopContext, Measurement, NominalModel
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate

filterpy_ekf = pytest.importorskip("filterpy.kalman").ExtendedKalmanFilter

from est_helpers import SENSORS  # noqa: E402

DZ = 1e-4


class CellModel:
    """The enhanced self-correcting cell of docs/models.md, state [z, v_1, v_2, h]."""

    def __init__(self, p, tuning):
        self.p = p
        self.tu = tuning

    def arr(self, ea, T):
        return math.exp(ea / GAS_CONSTANT * (1.0 / T - 1.0 / self.p.arrhenius_reference_K))

    def rc(self, j, T, I, z):
        pair = self.p.rc[j]
        R = float(pair.r(T, I, z)) * self.arr(self.p.activation_energy_rc_J_per_mol, T)
        return R, float(pair.c(T, I, z))

    def f(self, x, I, T, dt):
        p = self.p
        Q = p.capacity_As
        eta = p.coulombic_efficiency if I > 0 else 1.0
        out = x.copy()
        a = []
        for j in range(p.n_rc):
            R, C = self.rc(j, T, I, x[0])
            a.append(math.exp(-dt / (R * C)))
            out[1 + j] = a[-1] * x[1 + j] + (1 - a[-1]) * R * I
        sg = float(np.sign(I))
        ah = math.exp(-p.hysteresis_rate * abs(eta * I) * dt / Q)
        out[-1] = sg + (x[-1] - sg) * ah
        out[0] = x[0] + (eta * I - p.self_discharge_A) * dt / Q
        return out, np.diag([1.0, *a, ah])

    def Q(self, x, I, T, dt):
        tu, p = self.tu, self.p
        eta = p.coulombic_efficiency if I > 0 else 1.0
        q = [(eta * dt / p.capacity_As * tu.current_noise_std_A) ** 2 + tu.soc_random_walk**2 * dt]
        for j in range(p.n_rc):
            R, C = self.rc(j, T, I, x[0])
            q.append(((1 - math.exp(-dt / (R * C))) * R * tu.current_noise_std_A) ** 2 + tu.rc_random_walk_V**2 * dt)
        q.append(tu.hysteresis_random_walk**2 * dt)
        return np.diag(q)

    def y_static(self, z, h, s, I, T):
        p = self.p
        u = float(open_circuit_voltage(p, z, T))
        m = float(p.hysteresis_magnitude(T, 0.0, z))
        r0 = float(p.r0(T, I, z)) * self.arr(p.activation_energy_r0_J_per_mol, T)
        return u + m * h + p.hysteresis_instantaneous_V * s + r0 * I

    def hx(self, x, s, I, T):
        return np.array([[self.y_static(x[0, 0], x[-1, 0], s, I, T) + x[1:-1, 0].sum()]])

    def H(self, x, s, I, T):
        z, h = x[0, 0], x[-1, 0]
        dydz = (self.y_static(z + DZ, h, s, I, T) - self.y_static(z - DZ, h, s, I, T)) / (2 * DZ)
        m = float(self.p.hysteresis_magnitude(T, 0.0, z))
        return np.array([[dydz] + [1.0] * self.p.n_rc + [m]])


def test_batched_ekf_equals_filterpy_step_by_step():
    p = get_parameter_set("nmc_lg_m50")
    steps = ["Run US06 for 600 s", "Rest for 5 minutes", "Run UDDS for 600 s"]
    ds = simulate(p, Experiment(steps, period_s=1.0), state=initial_state(p.compile(1), soc=0.8),
                  sensors=SENSORS, estimator=EKFEstimator(period_s=1.0, initial_soc=0.8))
    meas = [Measurement(t_s=float(t), element_voltage_V=ds.measured_element_voltage_V.values[k],
                        temperature_K=ds.measured_temperature_K.values[k].reshape(1, 1, 1),
                        pack_current_A=ds.measured_pack_current_A.values[k], pack_voltage_V=np.zeros(1),
                        pack_charge_C=ds.measured_pack_charge_C.values[k])
            for k, t in enumerate(ds.measurement_time.values)]
    tu = FilterTuning(gate_sigma=None, bump_sigma=None, soc_limits=(-10.0, 10.0))
    est = EKFEstimator(period_s=1.0, initial_soc=0.75, tuning=tu)
    st = est.init(LoopContext(NominalModel(p, PackLayout()), 1.0))
    model = CellModel(p, tu)
    kf = filterpy_ekf(dim_x=4, dim_z=1)
    kf.x = np.array([[0.75], [0.0], [0.0], [0.0]])
    kf.P = tu.covariance0(p.n_rc).copy()
    kf.R = np.array([[tu.voltage_noise_std_V**2]])
    s = 0.0
    prev = None
    worst_x = worst_p = 0.0
    for m in meas:
        T = float(m.temperature_K[0, 0, 0])
        i_now = float(m.pack_current_A[0])
        if prev is not None:
            dt = m.t_s - prev.t_s
            I = float(m.pack_charge_C[0] - prev.pack_charge_C[0]) / dt
            xp, F = model.f(kf.x[:, 0], I, T, dt)
            kf.F = F
            kf.Q = model.Q(kf.x[:, 0], I, T, dt)
            kf.predict_x = lambda u=0, xp=xp: setattr(kf, "x", xp[:, None].copy())
            kf.predict()
            if abs(I) > p.hysteresis_current_threshold_A:
                s = float(np.sign(I))
        kf.update(np.array([[m.element_voltage_V[0, 0]]]), model.H, model.hx, args=(s, i_now, T),
                  hx_args=(s, i_now, T))
        kf.x[-1, 0] = min(max(kf.x[-1, 0], -1.0), 1.0)  # the same clipping of h
        _, st = est.step(m.t_s, m, None, st)
        worst_x = max(worst_x, float(np.abs(st.x[0] - kf.x[:, 0]).max()))
        worst_p = max(worst_p, float(np.abs(st.P[0] - kf.P).max() / np.abs(kf.P).max()))
        prev = m
    print(f"\nfilterpy vs batched EKF over {len(meas)} steps: max |dx| {worst_x:.2e}, max |dP|/max|P| {worst_p:.2e}")
    assert worst_x <= 1e-9
    assert worst_p <= 1e-9
    assert abs(st.x[0, 0] - ds.soc.values[-1, 0, 0]) < 0.01  # and it did converge from 5 % off
