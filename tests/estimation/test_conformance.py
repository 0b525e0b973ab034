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
