"""Cell-to-cell variation: reproducible draws, the requested statistics, validation and configs."""

import dataclasses

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set
from cellbalance.cell import kernels as K
from cellbalance.errors import ParameterError, UnknownNameError
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import QUANTITIES, Distribution, Variation, available_presets, preset, sample

P = get_parameter_set("nmc_lg_m50")


def test_sampling_is_reproducible_and_has_the_requested_spread():
    lay = PackLayout(n_series=100, n_parallel=4, n_packs=5)
    v = preset("typical")
    a = sample(v, P, lay, seed=7)
    b = sample(v, P, lay, seed=7)
    c = sample(v, P, lay, seed=8)
    np.testing.assert_array_equal(a.capacity_Ah, b.capacity_Ah)
    np.testing.assert_array_equal(a.cells.cp, b.cells.cp)
    np.testing.assert_array_equal(a.initial_state.x, b.initial_state.x)
    assert not np.array_equal(a.capacity_Ah, c.capacity_Ah)
    rel = a.capacity_Ah / P.capacity_Ah
    assert rel.mean() == pytest.approx(1.0, abs=3 * 0.006 / np.sqrt(rel.size))
    assert rel.std() == pytest.approx(0.006, rel=0.05)
    assert a.draws["r0"].std() == pytest.approx(0.03, rel=0.05)
    # lognormal self-discharge keeps its mean
    assert a.self_discharge_A.mean() == pytest.approx(P.self_discharge_A, rel=0.03)
    assert a.initial_soc.std() == pytest.approx(0.01, rel=0.05)
    assert a.initial_soc.mean() == pytest.approx(P.initial_soc, abs=1e-3)


def test_each_quantity_has_its_own_stream():
    """Changing (or switching off) one distribution leaves the draws of the others unchanged."""
    lay = PackLayout(n_series=20, n_parallel=2)
    base = preset("typical")
    other = dataclasses.replace(base, capacity=Distribution(kind="fixed"), r0=Distribution(kind="uniform", sigma=0.1))
    a, b = sample(base, P, lay, seed=1), sample(other, P, lay, seed=1)
    for name in QUANTITIES:
        if name not in ("capacity", "r0"):
            np.testing.assert_array_equal(a.draws[name], b.draws[name])
    assert np.all(b.capacity_Ah == P.capacity_Ah)


def test_draws_enter_the_compiled_cells_and_the_state():
    lay = PackLayout(n_series=6, n_parallel=2, n_packs=3)
    v = dataclasses.replace(preset("second_life"), initial_hysteresis=Distribution(mean=0.0, sigma=0.3, low=-1, high=1))
    s = sample(v, P, lay, seed=3, mean_soc=0.4, ambient_K=300.0)
    d, cp = s.draws, s.cells.cp
    np.testing.assert_allclose(cp[:, K.C_CAP], P.capacity_Ah * d["capacity"] * 3600)
    np.testing.assert_allclose(cp[:, K.C_R0S], d["r0"])
    np.testing.assert_allclose(cp[:, K.NCP::2], np.repeat(d["rc_r"][:, None], P.n_rc, 1))
    np.testing.assert_allclose(cp[:, K.NCP + 1::2], np.repeat(d["rc_c"][:, None], P.n_rc, 1))
    np.testing.assert_allclose(cp[:, K.C_ISD], P.self_discharge_A * d["self_discharge"])
    np.testing.assert_allclose(1 - cp[:, K.C_ETA], (1 - P.coulombic_efficiency) * d["coulombic_efficiency"])
    np.testing.assert_allclose(cp[:, K.C_GCOOL], P.thermal.cooling_W_per_K * d["cooling"])
    x = s.initial_state.x
    np.testing.assert_allclose(x[:, K.X_Z], np.clip(0.4 + d["initial_soc"], 0, 1))
    np.testing.assert_allclose(x[:, K.X_H], d["initial_hysteresis"])
    # coolant gradient: linear in the series position, same in every pack and parallel position
    amb = s.ambient_K.reshape(3, 6, 2)
    np.testing.assert_allclose(amb, 300.0 + 3.0 * np.linspace(0, 1, 6)[None, :, None] * np.ones((3, 6, 2)))
    np.testing.assert_allclose(x[:, K.X_T], s.ambient_K)
    assert s.layout == lay and s.seed == 3


@pytest.mark.parametrize(("kind", "sigma"), [("normal", 0.02), ("lognormal", 0.3), ("uniform", 0.05)])
def test_distribution_moments(kind, sigma):
    v, clipped = Distribution(kind=kind, mean=2.0, sigma=sigma).draw(np.random.default_rng(0), 200_000)
    assert clipped == 0
    assert v.mean() == pytest.approx(2.0, rel=5 * sigma / np.sqrt(v.size) + 1e-4)
    expected_sd = 2.0 * np.sqrt(np.exp(sigma**2) - 1) if kind == "lognormal" else sigma
    assert v.std() == pytest.approx(expected_sd, rel=0.01)
    if kind == "uniform":
        half = sigma * np.sqrt(3)
        assert v.min() >= 2.0 - half and v.max() <= 2.0 + half


def test_clipping_is_counted():
    d = Distribution(mean=1.0, sigma=1.0, low=0.5, high=1.5)
    v, clipped = d.draw(np.random.default_rng(1), 10_000)
    assert v.min() == 0.5 and v.max() == 1.5
    assert clipped == np.count_nonzero((v == 0.5) | (v == 1.5))
    assert 0.55 < clipped / v.size < 0.65  # P(|N| > 0.5) = 0.617
    from cellbalance.errors import CellBalanceWarning

    with pytest.warns(CellBalanceWarning, match=r"variation\.initial_soc: \d+ of 50 draws .* clipped to \[0, 1\]"):
        s = sample(Variation(initial_soc=Distribution(mean=0.0, sigma=0.2)), P, PackLayout(n_series=50), seed=0,
                   mean_soc=0.95)
    assert s.clipped["initial_soc"] == np.count_nonzero(s.initial_soc == 1.0) > 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sigma": -0.01}, r"Distribution.sigma must be >= 0 \(finite\); got -0.01"),
    ({"sigma": float("nan")}, r"Distribution.sigma must be >= 0 \(finite\); got nan"),
    ({"kind": "gauss"}, r"Distribution.kind must be one of normal, lognormal, uniform, fixed; got 'gauss'"),
    ({"kind": "lognormal", "mean": 0.0}, r"Distribution.mean must be > 0 \(finite\); got 0"),
    ({"low": 1.0, "high": 0.5}, r"low \(1\) must be < high \(0.5\)"),
    ({"mean": 2.0, "high": 1.5}, r"Distribution.mean \(2\) must lie within the clip bounds"),
    ({"sigma": "0.1"}, r"Distribution.sigma must be a number; got '0.1'"),
])
def test_distribution_validation(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        Distribution(**kwargs)


def test_variation_config():
    with pytest.raises(ParameterError, match=r"variation.capacity: Distribution.sigma must be >= 0.*got -0.01"):
        Variation.from_dict({"capacity": {"sigma": -0.01}})
    with pytest.raises(ParameterError, match=r"unknown key 'capacty'.*Did you mean 'capacity'"):
        Variation.from_dict({"capacty": {"sigma": 0.01}})
    with pytest.raises(ParameterError, match=r"variation.r0: unknown key\(s\) \['sgima'\].*'sigma'"):
        Variation.from_dict({"r0": {"sgima": 0.01}})
    with pytest.raises(ParameterError, match=r"variation.r0 must be a table like \{sigma = 0.01\}"):
        Variation.from_dict({"r0": 0.01})
    with pytest.raises(ParameterError, match=r"coolant_gradient_K must be a number"):
        Variation.from_dict({"coolant_gradient_K": "hot"})
    with pytest.raises(ParameterError, match=r"coolant_gradient_K must be >= -100 and <= 100"):
        Variation.from_dict({"coolant_gradient_K": 500})
    with pytest.raises(UnknownNameError, match="Did you mean 'typical'"):
        Variation.from_dict({"preset": "typcal"})
    v = Variation.from_dict({"preset": "typical", "r0": {"sigma": 0.05}, "coolant_gradient_K": 4})
    assert v.r0.sigma == 0.05 and v.r0.low == 0.05 and v.capacity.sigma == 0.006 and v.coolant_gradient_K == 4
    assert Variation.from_dict({}) == Variation() == preset("none")
    assert preset("aged") == preset("second_life")
    assert {"none", "tight", "typical", "second_life", "aged"} == set(available_presets())
    assert Distribution(kind="fixed", mean=2.0).draw(np.random.default_rng(0), 3)[0].tolist() == [2.0, 2.0, 2.0]


def test_out_of_range_draws_are_refused_with_advice():
    huge = Variation(coulombic_efficiency=Distribution(mean=1.0, sigma=5000.0, low=0.0))
    with pytest.raises(ParameterError, match=r"coulombic_efficiency: a drawn efficiency is .* outside \(0, 1\]"):
        sample(huge, P, PackLayout(n_series=20), seed=0)
    neg = Variation(capacity=Distribution(mean=1.0, sigma=0.5))  # no 'low' bound: negative capacities
    with pytest.raises(ParameterError, match=r"capacity_Ah must be > 0.*give the distribution a 'low' bound"):
        sample(neg, P, PackLayout(n_series=200), seed=0)


def test_initial_temperature_and_mean_hysteresis():
    lay = PackLayout(n_series=40, n_parallel=2)
    v = Variation(initial_hysteresis=Distribution(mean=0.0, sigma=0.3, low=-1, high=1), coolant_gradient_K=4.0)
    base = sample(v, P, lay, seed=5, ambient_K=300.0)
    from cellbalance.errors import CellBalanceWarning

    with pytest.warns(CellBalanceWarning, match=r"variation\.initial_hysteresis: \d+ of 80 draws"):
        s = sample(v, P, lay, seed=5, ambient_K=300.0, temperature_K=283.15, mean_hysteresis=0.8)
    x0, x = base.initial_state.x, s.initial_state.x
    np.testing.assert_array_equal(x[:, K.X_T], 283.15)
    np.testing.assert_array_equal(x[:, K.X_TJ], 283.15)
    np.testing.assert_array_equal(s.ambient_K, base.ambient_K)  # the coolant keeps its own temperature
    np.testing.assert_allclose(x[:, K.X_H], np.clip(0.8 + s.draws["initial_hysteresis"], -1, 1))
    np.testing.assert_array_equal(x0[:, K.X_H], base.draws["initial_hysteresis"])  # default mean 0: as before
    assert s.clipped["initial_hysteresis"] == np.count_nonzero(0.8 + s.draws["initial_hysteresis"] > 1) > 0
    with pytest.raises(ParameterError, match="mean_hysteresis"):
        sample(v, P, lay, mean_hysteresis=1.5)
    with pytest.raises(ParameterError, match="temperature_K"):
        sample(v, P, lay, temperature_K=-3.0)


def test_a_spread_that_clips_cells_warns_and_a_preset_does_not():
    import warnings

    from cellbalance.cell import get_parameter_set
    from cellbalance.errors import CellBalanceWarning
    from cellbalance.pack import PackLayout
    from cellbalance.pack.variation import Variation, preset, sample

    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=96)
    with pytest.warns(CellBalanceWarning, match=r"variation\.capacity: \d+ of 96 draws \(sigma = 2\) were clipped to "
                                                 r"\[0\.05, inf\].*sigma = 0\.02 for 2 %"):
        sp = sample(Variation.from_dict({"capacity": {"sigma": 2.0}}), p, lay, seed=1)
    assert sp.clipped["capacity"] > 20
    with warnings.catch_warnings():
        warnings.simplefilter("error", CellBalanceWarning)
        for name in ("tight", "typical", "second_life"):
            sample(preset(name), p, lay, seed=2026)


def test_initial_soc_is_drawn_per_parallel_group_by_default():
    """Issue 11: cells of a parallel group equalise within minutes, so one initial-SOC draw per element is the
    default; 'cell' keeps per-cell draws, and a 1p pack draws the same either way."""
    from cellbalance.sim import simulate

    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=4, n_parallel=3)
    z = sample(preset("typical"), p, lay, seed=3, mean_soc=0.5).initial_soc.reshape(4, 3)
    assert np.all(z == z[:, :1]) and np.ptp(z[:, 0]) > 0
    per_cell = dataclasses.replace(preset("typical"), initial_soc_scope="cell")
    sp = sample(per_cell, p, lay, seed=3, mean_soc=0.5)
    assert np.ptp(sp.initial_soc.reshape(4, 3), axis=1).min() > 0
    one = PackLayout(n_series=6)
    np.testing.assert_array_equal(sample(preset("typical"), p, one, seed=3).initial_soc,
                                  sample(per_cell, p, one, seed=3).initial_soc)
    assert Variation.from_dict({"preset": "typical", "initial_soc_scope": "cell"}) == per_cell
    with pytest.raises(ParameterError, match=r"initial_soc_scope must be 'element' .* or 'cell'; got 'group'"):
        Variation.from_dict({"initial_soc_scope": "group"})
    # why: per-cell draws inside a group equalise at rest (a circulating current through the resistances)
    ds = simulate(sp.cells, ["Rest for 15 minutes"], layout=lay, state=sp.initial_state, ambient_K=sp.ambient_K)
    within = np.ptp(ds.soc.values[[0, -1], 0].reshape(2, 4, 3), axis=-1).max(-1)
    assert within[1] < 0.5 * within[0], within
