"""Capacity by weighted total least squares (Plett 2011) against the closed-form bias of ordinary
least squares when the SOC changes are noisy too."""

import numpy as np

from cellbalance.estimation import CapacityEstimator, capacity_wls, capacity_wtls


def test_wtls_is_unbiased_where_least_squares_is_attenuated():
    rng = np.random.default_rng(7)
    Q = 5.0 * 3600.0
    n = 5000
    x_true = rng.uniform(0.2, 0.8, n)
    sx, sy = 0.05, 30.0
    x = x_true + sx * rng.standard_normal(n)
    y = Q * x_true + sy * rng.standard_normal(n)
    q_tls, sd = capacity_wtls(x, y, sx**2, sy**2)
    q_ls = capacity_wls(x, y, sy**2)
    attenuation = np.sum(x_true**2) / (np.sum(x_true**2) + n * sx**2)
    print(f"\nQ true {Q:.0f} A s; WTLS {q_tls:.0f} +- {sd:.0f}; WLS {q_ls:.0f} (attenuation predicts {Q * attenuation:.0f})")
    assert abs(q_tls - Q) < 3 * sd
    assert Q - q_ls > 5 * sd  # least squares is biased low...
    assert abs(q_ls - Q * attenuation) < 3 * sd  # ...by the attenuation factor


def test_recursive_estimator_converges_from_a_wrong_prior():
    rng = np.random.default_rng(1)
    Q = 4.5 * 3600.0
    est = CapacityEstimator(nominal_As=5.0 * 3600.0, prior_rel_std=0.1)
    for _ in range(200):
        dz = rng.uniform(0.3, 0.7)
        est, (q, sd) = est.update(dz + 0.005 * rng.standard_normal(), Q * dz + 10.0 * rng.standard_normal(),
                                  0.005**2, 10.0**2)
    assert abs(q - Q) < 3 * sd and sd < 0.01 * Q
    assert len(est.pairs) == 200
