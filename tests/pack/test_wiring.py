"""Pack wiring: closed forms, energy books with an independent wiring heat, the compiled path, an
independent sparse nodal-analysis reference, and bad input."""

from pathlib import Path

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout, Wiring
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate

REF = Path(__file__).parents[1] / "peer" / "data" / "wiring_reference.npz"


def _wiring_heat(i, ip, rc, rb, strings, tp, tn):
    """I^2 R of connections, busbars and nothing else, from branch currents (rows, Ns, Np), written
    out node by node (KCL at each rail node from the terminal side), not from the library."""
    q = (rc * i * i).sum((-1, -2))
    npar = i.shape[-1]
    branches = i[:, 0, :][:, None, :] if strings else i
    I = ip[:, None] if strings else i.sum(-1)
    rb = np.atleast_2d(rb)
    for k in range(npar - 1):
        left = branches[..., : k + 1].sum(-1)  # current drawn by the branches left of the segment
        pos = left - (I if tp <= k else 0.0)  # positive rail: what the left part needs beyond its feed
        neg = (I if tn <= k else 0.0) - left
        q = q + (rb[:, k] * (pos * pos + neg * neg)).sum(-1)
    return q


def test_two_cells_with_unequal_connections_split_in_inverse_proportion():
    p = get_parameter_set("nmc_lg_m50")  # (R0 independent of the current)
    rc = np.array([[1e-3, 4e-3]])
    lay = PackLayout(n_series=1, n_parallel=2, wiring=Wiring(connection_ohm=rc, busbar_ohm=0.0))
    ds = simulate(p, Experiment(["Discharge at 15 A for 10 s"], period_s=1.0), layout=lay)
    i0 = ds.current_A.values[0, 0]
    # identical cells at t = 0: the same emf, the same R0; the branches are R0 + Rc
    g = 1.0 / (p.r0(298.15, 0.0, 0.5) + rc[0])
    assert i0 == pytest.approx(-15.0 * g / g.sum(), rel=1e-12, abs=0)
    assert i0[0] / i0[1] == pytest.approx(g[0] / g[1], rel=1e-12)


@pytest.mark.parametrize("conf", ["series-groups", "parallel-strings"])
def test_energy_books_close_with_an_independent_wiring_heat(conf):
    p = get_parameter_set("ecm_example")
    ns, npar = 3, 4
    rng = np.random.default_rng(5)
    rc = 1e-3 * (1 + 0.3 * rng.random((ns, npar)))
    rb = 2e-4 * (1 + rng.random((ns, npar - 1) if conf == "series-groups" else (npar - 1,)))
    w = Wiring(conf, connection_ohm=rc, busbar_ohm=rb, terminal_ohm=1e-4, terminals="left-right")
    lay = PackLayout(n_series=ns, n_parallel=npar, interconnect_ohm=5e-4, wiring=w)
    cells = p.compile(lay.n_cells, capacity_Ah=100 * (1 + 0.03 * rng.standard_normal(lay.n_cells)))
    s0 = initial_state(cells, soc=0.6 + 0.03 * rng.standard_normal(lay.n_cells))
    ds = simulate(cells, Experiment(["Discharge at 100 A for 5 minutes", "Rest for 2 minutes",
                                     "Charge at 60 A for 3 minutes"], period_s=1.0), layout=lay, state=s0)
    i = ds.current_A.values.reshape(-1, ns, npar)[:-1]
    ip = ds.pack_current_A.values[:-1, 0]
    dt = np.diff(ds.time.values)
    heat = ((_wiring_heat(i, ip, rc, rb, conf == "parallel-strings", 0, npar - 1) + ip * ip * (5e-4 + 2e-4)) * dt).sum()
    e = {k: float(ds[f"energy_{k}_J"].values[-1, 0]) for k in ("load", "cells", "bleed", "converter_loss")}
    assert heat > 100.0  # the wiring dissipates something worth checking
    assert abs(e["load"] - (e["cells"] + heat + e["bleed"] + e["converter_loss"])) <= 1e-9 * abs(e["load"])
    assert float(ds.energy_interconnect_J.values[-1, 0]) == pytest.approx(heat, rel=1e-9)
    if conf == "parallel-strings":  # every cell of a string carries the string current; KCL at the terminals
        iv = ds.current_A.values.reshape(-1, ns, npar)
        assert np.abs(iv - iv[:, :1]).max() == 0.0
        assert np.abs(iv[:, 0].sum(-1) - ds.pack_current_A.values[:, 0]).max() < 1e-9
    else:
        iv = ds.current_A.values.reshape(-1, ns, npar)
        assert np.abs(iv.sum(-1) - ds.pack_current_A.values[:, :1]).max() < 1e-9


@pytest.mark.parametrize("balanced", [False, True])
def test_compiled_segments_agree_with_the_general_loop(balanced, monkeypatch):
    import cellbalance.sim.loop as L
    from cellbalance.balancing import PassiveBalancer
    from cellbalance.control import BleedAboveMinimum

    p = get_parameter_set("nmc_lg_m50")  # (R0 independent of current: parallel groups take the compiled path)
    w = Wiring(connection_ohm=2e-3, busbar_ohm=1e-3, terminal_ohm=1e-4, terminals="right-left")
    lay = PackLayout(n_series=4, n_parallel=3, wiring=w)
    rng = np.random.default_rng(2)
    cells = p.compile(lay.n_cells, capacity_Ah=5 * (1 + 0.03 * rng.standard_normal(lay.n_cells)))
    s0 = initial_state(cells, soc=0.6 + 0.03 * rng.standard_normal(lay.n_cells))
    exp = Experiment(["Discharge at 15 A for 4 minutes", "Rest for 1 minute"], period_s=1.0)
    advanced = []
    orig = L._try_segment
    monkeypatch.setattr(L, "_try_segment", lambda *a, **kw: advanced.append(orig(*a, **kw)) or advanced[-1])
    kw = dict(controller=BleedAboveMinimum(period_s=30.0, threshold_V=0.001),
              balancer=PassiveBalancer(r_bleed_ohm=20.0)) if balanced else {}
    fast = simulate(cells, exp, layout=lay, state=s0, **kw)
    slow = simulate(cells, exp, layout=lay, state=s0, heat_in_W=lambda t, x: np.zeros(x.shape[0]), **kw)  # general loop
    assert sum(advanced) > 200  # the fast run went through the compiled segments, the other did not
    if balanced:
        assert float(fast.energy_bleed_J.values[-1, 0]) > 1.0
    for v in ("current_A", "voltage_V", "soc", "pack_voltage_V", "energy_interconnect_J", "energy_load_J",
              "energy_bleed_J"):
        assert np.allclose(fast[v].values, slow[v].values, rtol=1e-10, atol=1e-9), v


@pytest.mark.parametrize("conf", ["parallel-strings", "series-groups"])
def test_agrees_with_sparse_nodal_analysis_reference(conf):
    """Stored traces of tests/peer/wiring_reference.py (MNA with scipy, per step)."""
    from tests.peer.wiring_reference import CASES, DT, EVERY, PROFILE, variation

    ref = np.load(REF)
    spec = CASES[conf]
    ns, npar = spec["ns"], spec["npar"]
    w = Wiring(conf, connection_ohm=np.array(spec["rc"]), busbar_ohm=np.array(spec["rb"]),
               terminal_ohm=spec["rt"], terminals=spec["terminals"])
    lay = PackLayout(n_series=ns, n_parallel=npar, wiring=w)
    cap, soc = variation(lay.n_cells)
    cells = get_parameter_set("ecm_example").compile(lay.n_cells, capacity_Ah=cap)
    steps = [f"{'Charge' if i > 0 else 'Discharge'} at {abs(i):g} A for {d:g} seconds" if i else f"Rest for {d:g} seconds"
             for i, d in PROFILE]
    ds = simulate(cells, Experiment(steps, period_s=DT), layout=lay, state=initial_state(cells, soc=soc))
    rows = np.searchsorted(ds.time.values, ref[f"{conf}/time_s"] - 1e-9)
    assert np.allclose(ds.time.values[rows], ref[f"{conf}/time_s"])
    i = ds.current_A.values[rows, 0]
    i_ref = ref[f"{conf}/current_A"]
    on = np.abs(ds.pack_current_A.values[rows, 0]) > 0
    rms_i = np.sqrt(np.mean((i - i_ref)[on] ** 2)) / np.sqrt(np.mean(i_ref[on] ** 2))
    dv = np.sqrt(np.mean((ds.voltage_V.values[rows, 0] - ref[f"{conf}/voltage_V"]) ** 2))
    dz = np.abs(ds.soc.values[rows, 0] - ref[f"{conf}/soc"]).max()
    dvp = np.abs(ds.pack_voltage_V.values[rows, 0] - ref[f"{conf}/pack_voltage_V"]).max()
    print(f"{conf}: branch current {rms_i:.2e} RMS (relative), cell voltage {dv * 1e3:.2e} mV RMS, "
          f"SOC {dz:.1e}, pack voltage {dvp * 1e3:.2e} mV")
    assert rms_i <= 5e-3
    assert dz <= 1e-3
    assert dv <= 1e-3
    assert dvp <= 1e-3
    assert np.ptp(i_ref[on], axis=-1).max() > 1.0  # the wiring does split the current unevenly
    assert EVERY >= 1


@pytest.mark.parametrize(("kwargs", "words"), [
    (dict(configuration="parallel-groups"), ["Wiring.configuration", "'series-groups'", "'parallel-strings'"]),
    (dict(connection_ohm=-1e-3), ["Wiring.connection_ohm", ">= 0"]),
    (dict(busbar_ohm=np.array([1e-4, -1e-4, 1e-4])), ["Wiring.busbar_ohm", ">= 0"]),
    (dict(terminals="middle"), ["Wiring.terminals", "'left'", "'right-left'"]),
])
def test_bad_wiring_values_name_field_and_allowed_values(kwargs, words):
    with pytest.raises(ParameterError) as e:
        Wiring(**kwargs)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize(("conf", "field", "value", "shape"), [
    ("series-groups", "connection_ohm", np.ones((3, 3)) * 1e-3, "(2, 4)"),
    ("series-groups", "busbar_ohm", np.ones((2, 4)) * 1e-4, "(2, 3)"),
    ("parallel-strings", "busbar_ohm", np.ones((2, 3)) * 1e-4, "(3,)"),
])
def test_wrong_shape_names_field_and_expected_shape(conf, field, value, shape):
    with pytest.raises(ParameterError) as e:
        PackLayout(n_series=2, n_parallel=4, wiring=Wiring(conf, **{field: value}))
    assert f"Wiring.{field}" in str(e.value) and shape in str(e.value)


def test_balanced_parallel_strings_are_balanced_per_string():
    """Two identical strings on ideal rails: each is the single string at half the pack current,
    with the same balancer acting on each string's cells (and twice the bleed energy)."""
    from cellbalance.balancing import PassiveBalancer
    from cellbalance.control import BleedAboveMinimum

    p = get_parameter_set("ecm_example")
    ns = 4
    rng = np.random.default_rng(4)
    cap = 100 * (1 + 0.03 * rng.standard_normal(ns))
    soc = 0.7 + 0.03 * rng.standard_normal(ns)
    exp = ["Discharge at 100 A for 5 minutes", "Rest for 10 minutes"]
    kw = lambda: dict(controller=BleedAboveMinimum(period_s=60.0, threshold_V=0.002),  # noqa: E731
                      balancer=PassiveBalancer(r_bleed_ohm=20.0))
    two = PackLayout(n_series=ns, n_parallel=2, wiring=Wiring("parallel-strings", connection_ohm=1e-3, terminal_ohm=1e-4))
    c2 = p.compile(2 * ns, capacity_Ah=np.repeat(cap, 2))
    d2 = simulate(c2, Experiment(exp, period_s=1.0), layout=two, state=initial_state(c2, soc=np.repeat(soc, 2)), **kw())
    one = PackLayout(n_series=ns, wiring=Wiring("series-groups", connection_ohm=1e-3, terminal_ohm=1e-4 / 2))
    c1 = p.compile(ns, capacity_Ah=cap)
    d1 = simulate(c1, Experiment([e.replace("100 A", "50 A") for e in exp], period_s=1.0), layout=one,
                  state=initial_state(c1, soc=soc), **kw())
    z2 = d2.soc.values[:, 0].reshape(-1, ns, 2)
    z1 = d1.soc.values[:, 0]
    assert np.abs(z2[..., 0] - z1).max() < 1e-12 and np.abs(z2[..., 1] - z1).max() < 1e-12
    assert float(d1.energy_bleed_J.values[-1, 0]) > 1.0  # the bleed acted
    assert float(d2.energy_bleed_J.values[-1, 0]) == pytest.approx(2 * float(d1.energy_bleed_J.values[-1, 0]), rel=1e-9)
    assert d2.balancer_shunt_S.dims[1] == "string" and d2.sizes["string"] == 2
    e = {k: float(d2[f"energy_{k}_J"].values[-1, 0]) for k in ("load", "cells", "bleed", "interconnect")}
    assert abs(e["load"] - (e["cells"] + e["bleed"] + e["interconnect"])) <= 1e-9 * abs(e["load"])


def test_wiring_heat_fed_to_the_cells_warms_them_by_its_energy():
    """With ``heat_to_cells=1`` the cells receive the connections' and busbars' I^2 R: the extra
    heat stored plus the extra heat cooled away equals that energy (summed here from the currents),
    to within the warmer cells' own lower I^2 R0 (Arrhenius) over 20 s and the trapezoid rule."""
    p = get_parameter_set("nmc_lg_m50")
    th = p.thermal
    ns, npar = 2, 3
    rc = np.array([[2e-3, 3e-3, 4e-3], [3e-3, 2e-3, 5e-3]])
    rb = np.array([[1e-3, 2e-3], [2e-3, 1e-3]])
    runs = {}
    for f in (0.0, 1.0):
        lay = PackLayout(n_series=ns, n_parallel=npar, wiring=Wiring(connection_ohm=rc, busbar_ohm=rb,
                                                                      terminal_ohm=1e-3, heat_to_cells=f))
        runs[f] = simulate(p, Experiment(["Discharge at 15 A for 20 seconds"], period_s=1.0), layout=lay)
    a, b = runs[1.0], runs[0.0]
    assert not th.has_jig
    dT = (a.temperature_K.values - b.temperature_K.values)[:, 0]
    dt = np.diff(a.time.values)
    dTs = dT.sum(-1)
    stored = th.heat_capacity_J_per_K * dTs[-1] + th.cooling_W_per_K * (0.5 * (dTs[1:] + dTs[:-1]) * dt).sum()
    i = a.current_A.values.reshape(-1, ns, npar)[:-1]
    q = _wiring_heat(i, a.pack_current_A.values[:-1, 0], rc, rb, False, 0, 0)
    fed = (q * dt).sum()
    assert fed > 10.0
    assert stored == pytest.approx(fed, rel=2e-3)
    assert a.energy_interconnect_J.values[-1, 0] == pytest.approx(b.energy_interconnect_J.values[-1, 0], rel=1e-2)


def test_usable_capacity_of_parallel_strings_is_limited_per_string():
    from cellbalance.analysis.metrics import usable_capacity_Ah, usable_capacity_over_time

    # two strings of two cells; string 0 has its weak cell empty, string 1 is balanced
    z = np.array([[0.0, 0.5], [0.5, 0.5]])  # (series, parallel)
    q = np.array([[2.0, 4.0], [4.0, 4.0]])
    u, ideal = usable_capacity_Ah(z, q, strings=True)
    # string 0: min D = 0, min S = min(2*1, 4*0.5) = 2 -> 2; string 1: 2 + 2 = 4
    assert u == pytest.approx(6.0) and ideal == pytest.approx(2.0 + 4.0)
    u_sg, _ = usable_capacity_Ah(z, q)  # the same cells as groups: group 0 (6 Ah, D 2), group 1 (8 Ah, D 4)
    assert u_sg == pytest.approx(2.0 + min(6.0 - 2.0, 8.0 - 4.0))
    lay = PackLayout(n_series=2, n_parallel=2, wiring=Wiring("parallel-strings"))
    p = get_parameter_set("ecm_example")
    ds = simulate(p, Experiment(["Rest for 10 s"], period_s=5.0), layout=lay)
    assert ds.attrs["configuration"] == "parallel-strings"
    u_ds, ideal_ds = usable_capacity_over_time(ds, p.capacity_Ah)
    assert u_ds[0, 0] == pytest.approx(2 * p.capacity_Ah) and ideal_ds[0, 0] == pytest.approx(2 * p.capacity_Ah)


@pytest.mark.parametrize("conf", ["parallel-strings", "series-groups"])
def test_power_and_voltage_hold_with_wiring_and_balancing_in_a_batch(conf):
    """Two packs, a power step and CC-CV with a bleed balancer: the power is met, the hold keeps the
    highest cell at 4.1 V, and each pack's books close."""
    from cellbalance.balancing import PassiveBalancer
    from cellbalance.control import BleedAboveMinimum

    p = get_parameter_set("ecm_example")
    lay = PackLayout(n_series=3, n_parallel=3, n_packs=2,
                     wiring=Wiring(conf, connection_ohm=1e-3, busbar_ohm=2e-4, terminal_ohm=1e-4))
    rng = np.random.default_rng(1)
    cells = p.compile(lay.n_cells, capacity_Ah=100 * (1 + 0.03 * rng.standard_normal(lay.n_cells)))
    s0 = initial_state(cells, soc=0.85 + 0.03 * rng.standard_normal(lay.n_cells))
    exp = Experiment(["Discharge at 2000 W for 2 minutes", "Charge at 100 A until 4.1 V", "Hold at 4.1 V until 40 A"],
                     period_s=2.0)
    ds = simulate(cells, exp, layout=lay, state=s0, controller=BleedAboveMinimum(period_s=60.0, threshold_V=0.002),
                  balancer=PassiveBalancer(r_bleed_ohm=20.0))
    first = ds.time.values < 119
    power = (ds.pack_current_A * ds.pack_voltage_V).values[first]
    assert np.abs(power + 2000.0).max() < 0.01  # (R0 depends on current: two fixed-point passes)
    assert 4.09 < ds.voltage_V.values.max() < 4.1 + 1e-6  # (charging: a cell sits below its element's terminals)
    assert sum(str(r) == "cut-off" for r in ds.event_reason.values) == 4
    for b in range(2):
        e = {k: float(ds[f"energy_{k}_J"].values[-1, b]) for k in ("load", "cells", "bleed", "interconnect")}
        assert e["bleed"] > 0
        assert abs(e["load"] - (e["cells"] + e["bleed"] + e["interconnect"])) <= 1e-9 * abs(e["load"])
