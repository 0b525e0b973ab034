"""Every estimator honours the slot contract: shapes, determinism, no mutation of its inputs, and a
batch of packs gives each pack's own results. The seeded sensors are reproducible."""

import copy

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.estimation import (
    BarDeltaEstimator,
    CoulombCounter,
    CurrentSensor,
    EKFEstimator,
    NoisySensors,
    SPKFEstimator,
    TemperatureSensors,
    VoltageSensor,
)
from cellbalance.interfaces import LoopContext, Measurement, NominalModel
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate

B, NS = 3, 4
P = get_parameter_set("nmc_lg_m50")
SENS = NoisySensors(current=CurrentSensor(noise_std_A=0.05, offset_A=0.01),
                    voltage=VoltageSensor(noise_std_V=2e-3), temperature=TemperatureSensors(cells=(0, 2), noise_std_K=0.5),
                    seed=11)
ESTIMATORS = {
    "ekf": lambda: EKFEstimator(initial_soc=0.5),
    "spkf": lambda: SPKFEstimator(initial_soc=0.5),
    "bardelta": lambda: BarDeltaEstimator(initial_soc=0.5),
    "coulomb": lambda: CoulombCounter(initial_soc=0.5, recalibrate_after_rest_s=60.0),
    "ekf_ocv_start": lambda: EKFEstimator(),
}


@pytest.fixture(scope="module")
def measurements():
    layout = PackLayout(n_series=NS, n_packs=B)
    cells = P.compile(layout.n_cells)
    z0 = np.linspace(0.45, 0.6, layout.n_cells)
    ds = simulate(cells, Experiment(["Run US06 for 200 s", "Rest for 100 s"], period_s=1.0), layout=layout,
                  state=initial_state(cells, soc=z0), sensors=SENS, estimator=EKFEstimator(initial_soc=0.5))
    out = []
    for k, t in enumerate(ds.measurement_time.values):
        out.append(Measurement(t_s=float(t), element_voltage_V=ds.measured_element_voltage_V.values[k],
                               temperature_K=ds.measured_temperature_K.values[k].reshape(B, NS, 1),
                               pack_current_A=ds.measured_pack_current_A.values[k],
                               pack_voltage_V=ds.measured_element_voltage_V.values[k].sum(-1),
                               pack_charge_C=ds.measured_pack_charge_C.values[k]))
    return out


def _ctx(n_packs):
    return LoopContext(NominalModel(P, PackLayout(n_series=NS, n_packs=n_packs)), 1.0)


def _run(est, meas, n_packs, check_inputs=False):
    st = est.init(_ctx(n_packs))
    socs, stds = [], []
    for m in meas:
        if check_inputs:
            m_before, st_before = copy.deepcopy(m), copy.deepcopy(st)
        e, st_new = est.step(m.t_s, m, None, st)
        if check_inputs:
            for f in ("element_voltage_V", "temperature_K", "pack_current_A", "pack_charge_C"):
                np.testing.assert_array_equal(getattr(m, f), getattr(m_before, f))
            for f in ("x", "P", "s", "z", "charge_C", "voltage_V"):
                a, b = getattr(st, f, None), getattr(st_before, f, None)
                if a is not None:
                    np.testing.assert_array_equal(a, b)
        st = st_new
        socs.append(e.soc)
        stds.append(e.soc_std)
    return np.array(socs), np.array(stds)


def _slice(m, b):
    return Measurement(t_s=m.t_s, element_voltage_V=m.element_voltage_V[b:b + 1], temperature_K=m.temperature_K[b:b + 1],
                       pack_current_A=m.pack_current_A[b:b + 1], pack_voltage_V=m.pack_voltage_V[b:b + 1],
                       pack_charge_C=m.pack_charge_C[b:b + 1])


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimator_contract(name, measurements):
    est = ESTIMATORS[name]()
    soc, std = _run(est, measurements, B, check_inputs=True)
    assert soc.shape == std.shape == (len(measurements), B, NS)
    assert np.all(np.isfinite(soc)) and np.all(std > 0)
    soc2, std2 = _run(ESTIMATORS[name](), measurements, B)
    np.testing.assert_array_equal(soc, soc2)  # deterministic
    np.testing.assert_array_equal(std, std2)
    for b in range(B):
        sb, db = _run(ESTIMATORS[name](), [_slice(m, b) for m in measurements], 1)
        np.testing.assert_allclose(sb[:, 0], soc[:, b], rtol=0, atol=1e-12)
        np.testing.assert_allclose(db[:, 0], std[:, b], rtol=0, atol=1e-12)


def test_sensors_are_seeded_pure_and_partial():
    p = get_parameter_set("nmc_lg_m50")
    layout = PackLayout(n_series=NS, n_packs=B)
    runs = [simulate(p, ["Run US06 for 30 s"], layout=layout, sensors=s, estimator=EKFEstimator(initial_soc=0.5))
            for s in (SENS, SENS, NoisySensors(current=SENS.current, voltage=SENS.voltage,
                                               temperature=SENS.temperature, seed=12))]
    a, b, c = (r.measured_element_voltage_V.values for r in runs)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    lsb = 5.0 / 2**16
    np.testing.assert_allclose(a / lsb, np.round(a / lsb), rtol=0, atol=1e-6)  # on the ADC grid
    t = runs[0].measured_temperature_K.values  # (time, pack, cell)
    assert np.all(np.isfinite(t[:, :, [0, 2]])) and np.all(np.isnan(t[:, :, [1, 3]]))


def _stack(meas):
    from cellbalance.interfaces import stack_instants

    return stack_instants(meas)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_step_many_is_the_steps_in_order(name, measurements):
    """step_many over a stretch of instants gives what step gives call by call (the loop's deferred
    estimation relies on it): the EKF's compiled batch to rounding, the others exactly."""
    soc, std = _run(ESTIMATORS[name](), measurements, B)
    est = ESTIMATORS[name]()
    st = est.init(_ctx(B))
    e0, st = est.step(measurements[0].t_s, measurements[0], None, st)  # (the first call starts the filter)
    k = 1
    rows_soc, rows_std = [e0.soc], [e0.soc_std]
    for stretch in (59, 1, 120, len(measurements)):
        part = measurements[k:k + stretch]
        if not part:
            break
        eb, st = est.step_many(np.array([m.t_s for m in part]), _stack(part), None, st)
        assert eb.soc.shape == (len(part), B, NS)
        rows_soc.extend(eb.soc)
        rows_std.extend(eb.soc_std)
        k += len(part)
    np.testing.assert_allclose(np.array(rows_soc), soc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.array(rows_std), std, rtol=0, atol=1e-12)


def test_sensors_step_many_draws_as_the_steps():
    """NoisySensors.step_many: the same random draws in the same order as step called at each instant
    (voltages, currents, temperatures equal; the charge accumulator to rounding), and the same state after."""
    from cellbalance.interfaces import TrueSignals

    layout = PackLayout(n_series=NS, n_packs=B)
    ctx = LoopContext(NominalModel(P, layout), 1.0)
    rng = np.random.default_rng(3)
    m = 50
    ts = np.arange(m) * 1.0 + 1.0
    ip = rng.normal(0, 30, (m, B))
    truth = TrueSignals(t_s=ts, cell_voltage_V=3.7 + 0.01 * rng.standard_normal((m, B, NS, 1)),
                        cell_temperature_K=298 + rng.standard_normal((m, B, NS, 1)), cell_soc=np.full((m, B, NS, 1), 0.5),
                        pack_current_A=ip, pack_voltage_V=rng.normal(15, 0.1, (m, B)),
                        pack_charge_C=np.cumsum(ip, axis=0))
    st0 = SENS.init(ctx)
    _, st0 = SENS.step(0.0, TrueSignals(0.0, truth.cell_voltage_V[0], truth.cell_temperature_K[0], truth.cell_soc[0],
                                        ip[0], truth.pack_voltage_V[0], np.zeros(B)), st0)
    st = st0
    seq = []
    for j in range(m):
        mj, st = SENS.step(float(ts[j]), TrueSignals(float(ts[j]), *(getattr(truth, f)[j] for f in (
            "cell_voltage_V", "cell_temperature_K", "cell_soc", "pack_current_A", "pack_voltage_V", "pack_charge_C"))), st)
        seq.append(mj)
    mb, stb = SENS.step_many(ts, truth, st0)
    for f in ("element_voltage_V", "temperature_K", "pack_current_A", "pack_voltage_V"):
        np.testing.assert_array_equal(getattr(mb, f), np.stack([getattr(x, f) for x in seq]), err_msg=f)
    np.testing.assert_allclose(mb.pack_charge_C, np.stack([x.pack_charge_C for x in seq]), rtol=1e-13, atol=1e-9)
    assert stb.rng_state == st.rng_state
