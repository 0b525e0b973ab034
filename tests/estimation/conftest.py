"""Shared runs for the estimation tests (each simulated once per session)."""

import pytest
from est_helpers import run_filter

from cellbalance.estimation import EKFEstimator, SPKFEstimator


@pytest.fixture(scope="session")
def runs():
    cache = {}

    def get(name, kind="ekf"):
        key = (name, kind)
        if key not in cache:
            cache[key] = run_filter(name, {"ekf": EKFEstimator, "spkf": SPKFEstimator}[kind])
        return cache[key]

    return get
