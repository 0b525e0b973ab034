"""Every registered controller through the same checks (as scikit-learn's ``check_estimator``): one
interface, shapes, determinism, no mutation of inputs, a batch of packs equal to the packs one by one,
refusal of hardware it cannot drive, commands the hardware accepts, calls at arbitrary times."""

import copy

import numpy as np
import pytest

from cellbalance.balancing import ActiveBalancer, get_topology, hold_command
from cellbalance.control import BleedAboveMinimum, VoltageDifferenceTransfer, available_controllers, get_controller
from cellbalance.errors import ConfigError
from cellbalance.interfaces import Command, Controller

from .conftest import (
    ACTIVE_CAPABLE,
    ACTIVE_ONLY,
    ACTIVE_PARAMS,
    context,
    estimate,
    layout,
    measurement,
    passive_hw,
    ring_hw,
)

NS, B = 6, 3
#: irregular call times: repeated instants, fractions of a second, long gaps (past every rest timer)
TIMES = [0.0, 0.0, 37.3, 700.0, 2500.5, 2501.0, 5000.0]
#: unregistered controllers (no safety guards: not offered by the CLI) go through the same checks
SIMPLE = {"bleed_above_minimum": BleedAboveMinimum, "voltage_difference_transfer": VoltageDifferenceTransfer}
CASES = [(name, kind) for name in (*available_controllers(), *SIMPLE)
         for kind in (("active",) if name in ACTIVE_ONLY else ("passive", "active") if name in ACTIVE_CAPABLE
                      else ("passive",))]


def _hw(kind, ns=NS):
    return passive_hw() if kind == "passive" else ring_hw(ns)


def _inputs(cell, b=B, ns=NS):
    """A deterministic sequence of (t, measurement, estimate): spread SOCs, rest and small currents."""
    rng = np.random.default_rng(7)
    out = []
    for k, t in enumerate(TIMES):
        z = np.clip(0.55 + 0.03 * rng.standard_normal((b, ns)), 0.05, 0.95)
        i = np.where(np.arange(b) == k % b, 0.05, 0.0)
        out.append((t, measurement(cell, z, t, i), estimate(z)))
    return out


def _run(ctl, ctx, seq):
    state = ctl.init(ctx)
    cmds = []
    for t, m, e in seq:
        cmd, state = ctl.step(t, m, e, state)
        cmds.append(cmd)
    return cmds


def _arrays(cmd: Command):
    return {f: np.asarray(getattr(cmd, f), float) for f in cmd.given()}


@pytest.fixture(params=CASES, ids=[f"{n}-{k}" for n, k in CASES])
def case(request, cell):
    name, kind = request.param
    if name in SIMPLE:
        return name, kind, SIMPLE[name](period_s=30.0)
    return name, kind, get_controller(name, **ACTIVE_PARAMS.get(name, {}))


def test_follows_the_controller_protocol_and_shapes(case, cell):
    name, kind, ctl = case
    assert isinstance(ctl, Controller)
    assert ctl.period_s > 0
    hw = _hw(kind)
    cmds = _run(ctl, context(cell, layout(NS, B), hw), _inputs(cell))
    acted = False
    for cmd in cmds:
        assert isinstance(cmd, Command)
        given = cmd.given()
        assert set(given) <= set(hw.accepts), (name, given)
        for f, a in _arrays(cmd).items():
            m = hw.n_edges if f == "edge_current_A" else NS
            assert a.shape == (B, m), (name, f, a.shape)
            assert np.all(np.isfinite(a))
            acted |= bool(np.any(a != 0))
    assert acted, f"{name} never acted on a spread pack"


def test_is_deterministic(case, cell):
    name, kind, ctl = case
    seq = _inputs(cell)
    a = _run(ctl, context(cell, layout(NS, B), _hw(kind)), seq)
    b = _run(copy.deepcopy(ctl), context(cell, layout(NS, B), _hw(kind)), seq)
    for x, y in zip(a, b, strict=True):
        ax, ay = _arrays(x), _arrays(y)
        assert ax.keys() == ay.keys()
        for f in ax:
            np.testing.assert_array_equal(ax[f], ay[f], err_msg=name)


def test_does_not_mutate_its_inputs(case, cell):
    name, kind, ctl = case
    ctx = context(cell, layout(NS, B), _hw(kind))
    state = ctl.init(ctx)
    for t, m, e in _inputs(cell):
        before_m = {k: np.array(getattr(m, k), copy=True) for k in
                    ("element_voltage_V", "temperature_K", "pack_current_A", "pack_voltage_V", "pack_charge_C")}
        before_e = (e.soc.copy(), e.soc_std.copy())
        fields = vars(state) if hasattr(state, "__dict__") else {"": state}  # a dataclass, an array or None
        before_s = {k: np.array(v, copy=True) for k, v in fields.items() if isinstance(v, np.ndarray)}
        _, new = ctl.step(t, m, e, state)
        for k, v in before_m.items():
            np.testing.assert_array_equal(getattr(m, k), v, err_msg=f"{name} changed measurement.{k}")
        np.testing.assert_array_equal(e.soc, before_e[0])
        np.testing.assert_array_equal(e.soc_std, before_e[1])
        for k, v in before_s.items():
            now = state if k == "" else getattr(state, k)
            np.testing.assert_array_equal(now, v, err_msg=f"{name} changed state.{k} in place")
        state = new


def test_a_batch_of_packs_equals_the_packs_one_by_one(case, cell):
    name, kind, ctl = case
    seq = _inputs(cell)
    batch = _run(ctl, context(cell, layout(NS, B), _hw(kind)), seq)
    for p in range(B):
        one = [(t, measurement(cell, e.soc[p:p + 1], t, m.pack_current_A[p:p + 1]), estimate(e.soc[p:p + 1]))
               for t, m, e in seq]
        single = _run(ctl, context(cell, layout(NS, 1), _hw(kind)), one)
        for cb_, cs in zip(batch, single, strict=True):
            ab, as_ = _arrays(cb_), _arrays(cs)
            assert ab.keys() == as_.keys()
            for f in ab:
                np.testing.assert_allclose(ab[f][p], as_[f][0], rtol=0, atol=1e-12, err_msg=f"{name} pack {p}")


def test_refuses_hardware_it_cannot_drive(case, cell):
    name, _kind, ctl = case
    lay = layout(NS, 1)
    impossible = [None, ActiveBalancer(get_topology("switched_capacitor", NS, capacitance_F=1e-3, f_sw_Hz=1e4))]
    if name not in ACTIVE_CAPABLE:
        impossible.append(ring_hw(NS))
    if name in ACTIVE_ONLY:
        impossible.append(passive_hw())
    for hw in impossible:
        with pytest.raises(ConfigError) as err:
            ctl.init(context(cell, lay, hw))
        msg = str(err.value)
        assert type(ctl).__name__ in msg, msg  # names the controller...
        hw_name = "no balancing hardware" if hw is None else type(hw).__name__
        assert hw_name in msg, msg  # ...and the hardware


def test_commands_are_within_what_the_hardware_accepts(case, cell):
    _name, kind, ctl = case
    hw = _hw(kind)
    lay = layout(NS, B)
    for (_t, m, _e), cmd in zip(_inputs(cell), _run(ctl, context(cell, lay, hw), _inputs(cell)), strict=True):
        held = hold_command(hw, cmd, m.element_voltage_V, lay)  # raises if a field or value is refused
        assert held.element_current_A.shape == (B, NS)
        if cmd.bleed is not None:
            d = np.asarray(cmd.bleed, float)
            assert np.all((d >= 0) & (d <= 1))
        if cmd.edge_current_A is not None:
            assert np.all(np.abs(cmd.edge_current_A) <= hw.converter.max_current_A + 1e-12)


def test_works_when_called_at_arbitrary_times(case, cell):
    """Out-of-grid, repeated and far-apart instants (a supervisory layer may call at any time); and the
    first call may come late."""
    _name, kind, ctl = case
    ctx = context(cell, layout(NS, B), _hw(kind))
    state = ctl.init(ctx)
    z = np.full((B, NS), 0.5)
    z[:, 0] += 0.02
    for t in (1e6 + 0.123, 1e6 + 0.123, 1e6 + 1.0, 1e6 + 86400.0):
        cmd, state = ctl.step(t, measurement(cell, z, t), estimate(z), state)
        for a in _arrays(cmd).values():
            assert np.all(np.isfinite(a))


def test_registry_refuses_unknown_names_and_parameters():
    from cellbalance.errors import ParameterError, UnknownNameError

    with pytest.raises(UnknownNameError, match=r"controller: unknown name 'consensos'.*allowed: \[.*'consensus'"):
        get_controller("consensos")
    with pytest.raises(ParameterError, match=r"controller 'mpc' has no parameter 'horizont'; allowed: .*'horizon'"):
        get_controller("mpc", horizont=5)
