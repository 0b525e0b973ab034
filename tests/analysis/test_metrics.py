"""Metrics on cases with known answers."""

import numpy as np
import pytest

from cellbalance.analysis.metrics import usable_capacity_Ah
from cellbalance.cell import get_parameter_set
from cellbalance.errors import ParameterError, UnknownNameError
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import Distribution, Variation, preset, sample


def test_usable_capacity_closed_form():
    q = np.array([[5.0], [5.0], [4.8]])
    # balanced at the same SOC: usable = the weakest element
    u, ideal = usable_capacity_Ah(np.full((3, 1), 0.5), q)
    assert u == pytest.approx(4.8) and ideal == pytest.approx(4.8)
    # one element 10 %-points high: it fills first and the lowest empties first
    z = np.array([[0.5], [0.6], [0.5]])
    u, _ = usable_capacity_Ah(z, q)
    drawable = min(2.5, 3.0, 2.4)
    storable = min(2.5, 2.0, 2.4)
    assert u == pytest.approx(drawable + storable)


def test_sampling_is_reproducible_and_has_the_requested_spread():
    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=100, n_parallel=4, n_packs=5)
    v = preset("typical")
    a = sample(v, p, lay, seed=7)
    b = sample(v, p, lay, seed=7)
    c = sample(v, p, lay, seed=8)
    np.testing.assert_array_equal(a.capacity_Ah, b.capacity_Ah)
    assert not np.array_equal(a.capacity_Ah, c.capacity_Ah)
    rel = a.capacity_Ah / p.capacity_Ah
    assert rel.std() == pytest.approx(0.006, rel=0.1)
    assert a.ambient_K.reshape(5, 100, 4)[0, -1, 0] - a.ambient_K.reshape(5, 100, 4)[0, 0, 0] == pytest.approx(2.0)


def test_variation_config_errors():
    with pytest.raises(ParameterError, match=r"Distribution.sigma must be >= 0.*got -0.01"):
        Variation.from_dict({"capacity": {"sigma": -0.01}})
    with pytest.raises(ParameterError, match=r"unknown key 'capacty'.*Did you mean 'capacity'"):
        Variation.from_dict({"capacty": {"sigma": 0.01}})
    with pytest.raises(UnknownNameError, match="Did you mean 'typical'"):
        Variation.from_dict({"preset": "typcal"})
    v = Variation.from_dict({"preset": "typical", "r0": {"sigma": 0.05}})
    assert v.r0.sigma == 0.05 and v.capacity.sigma == 0.006
    assert Distribution(kind="fixed", mean=2.0).draw(np.random.default_rng(0), 3)[0].tolist() == [2.0, 2.0, 2.0]
