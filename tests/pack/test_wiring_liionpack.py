"""Pack wiring against liionpack 0.4: stored traces of benchmarks/peers/liionpack_wiring_reference.py
(generated once in liionpack's own environment; neither liionpack nor PyBaMM is needed here).

Same cells (ECM_Example), per-cell capacity, initial SOC and R0 factor, per-position connection and
busbar resistances, terminal resistances and the same pack current (100 A discharge, rest, 50 A charge,
1 s) as liionpack ran.
"""

from pathlib import Path

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.pack import PackLayout, Wiring
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate

REF = Path(__file__).parents[1] / "peer" / "data" / "liionpack_wiring_reference.npz"


def _profile(ip: np.ndarray) -> list[str]:
    """The steps liionpack applied, from its pack current per row (the last row is not stepped)."""
    ip = ip[:-1]
    cut = np.flatnonzero(np.diff(ip)) + 1
    steps = []
    for a, b in zip(np.r_[0, cut], np.r_[cut, len(ip)], strict=True):
        i = float(ip[a])
        steps.append(f"Rest for {b - a} seconds" if i == 0 else
                     f"{'Charge' if i > 0 else 'Discharge'} at {abs(i):g} A for {b - a} seconds")
    return steps


def _run(ref, case: str):
    ns, npar = int(ref["ns"]), int(ref["np"])
    conf = "parallel-strings" if case == "parallel-strings" else "series-groups"
    w = Wiring(conf, connection_ohm=ref["connection_ohm"], busbar_ohm=ref[f"{case}/busbar_ohm"],
               terminal_ohm=float(ref["terminal_ohm"]), terminals=str(ref[f"{case}/terminals"]))
    lay = PackLayout(n_series=ns, n_parallel=npar, wiring=w)
    cells = get_parameter_set("ecm_example").compile(lay.n_cells, capacity_Ah=ref["capacity_Ah"].ravel(),
                                                     r0_scale=ref["r0_scale"].ravel())
    ds = simulate(cells, Experiment(_profile(ref[f"{case}/pack_current_A"]), period_s=1.0), layout=lay,
                  state=initial_state(cells, soc=ref["initial_soc"].ravel()))
    n = len(ref[f"{case}/time_s"])
    assert np.array_equal(ds.time.values[:n], ref[f"{case}/time_s"])
    shape = (-1, ns, npar)
    return {k: ds[v].values[:n, 0].reshape(shape) for k, v in
            (("current_A", "current_A"), ("voltage_V", "voltage_V"), ("soc", "soc"))} | {
        "pack_current_A": ds.pack_current_A.values[:n, 0]}


def _rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def _metrics(ref, case: str, ours: dict) -> dict:
    ip = ref[f"{case}/pack_current_A"]
    n = len(ip)
    stepped = np.arange(n) < n - 1  # liionpack's last row repeats the currents and is not stepped
    on = stepped & (ip != 0)
    # liionpack's cell voltage at row k is evaluated with the current of row k-1: compare it where the
    # pack current did not change between k-1 and k (all rows but the first and the two at step changes)
    same = np.r_[False, ip[1:] == ip[:-1]] & stepped
    i, i_ref = ours["current_A"], ref[f"{case}/current_A"].astype(float)
    return {
        "current_on": _rms((i - i_ref)[on]) / _rms(i_ref[on]),
        "current_all": _rms((i - i_ref)[stepped]) / _rms(i_ref[stepped]),
        "voltage": _rms((ours["voltage_V"] - ref[f"{case}/voltage_V"])[same]),
        "soc": float(np.abs(ours["soc"] - ref[f"{case}/soc"]).max()),
        "pack_current": float(np.abs(ours["pack_current_A"] - ip)[stepped].max()),
        "spread": float(np.ptp(i_ref[on].reshape(on.sum(), -1), axis=-1).max()),
    }


@pytest.fixture(scope="module")
def ref():
    return np.load(REF)


@pytest.mark.parametrize("case", ["parallel-strings", "series-groups", "series-groups-ideal"])
def test_agrees_with_liionpack(ref, case):
    """parallel-strings: liionpack's own ``setup_circuit`` netlist. series-groups: liionpack's solver on
    cellbalance's series-groups circuit (each group with its own two rails; liionpack's own
    ``series-groups`` shares them between groups, see test_liionpack_shared_busbars_are_another_circuit).
    series-groups-ideal: liionpack's own series-groups netlist with 1e-9 ohm busbars, which is
    cellbalance's series-groups with ideal busbars (the connection resistances still split the current)."""
    m = _metrics(ref, case, _run(ref, case))
    print(f"{case} vs liionpack: branch current {m['current_on'] * 100:.3f} % RMS under load "
          f"({m['current_all'] * 100:.2f} % with the rest), cell voltage {m['voltage'] * 1e3:.3f} mV RMS, "
          f"SOC {m['soc']:.1e}")
    assert m["pack_current"] < 1e-4  # the same profile, row for row
    assert m["spread"] > 5.0  # the wiring and the variation do split the current unevenly (A)
    assert m["current_on"] <= 5e-3
    assert m["soc"] <= 1e-3
    assert m["voltage"] <= 1e-3


def test_liionpack_shared_busbars_are_another_circuit(ref):
    """liionpack's own series-groups (one busbar row shared by consecutive groups) is not cellbalance's
    series-groups circuit with the same busbar values: the group split differs by far more than the
    coupling error measured above, so the cases above do compare the circuit, not a loose tolerance."""
    m = _metrics(ref, "series-groups-shared", _run(ref, "series-groups-shared"))
    print(f"liionpack shared-busbar series-groups vs cellbalance series-groups: branch current "
          f"{m['current_on'] * 100:.1f} % RMS, cell voltage {m['voltage'] * 1e3:.2f} mV RMS, SOC {m['soc']:.1e}")
    assert m["current_on"] > 10 * 5e-3
