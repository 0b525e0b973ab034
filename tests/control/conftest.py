"""Shared set-ups for the controller tests: hardware a controller can drive, synthetic measurements."""

import numpy as np
import pytest

from cellbalance.balancing import ActiveBalancer, ConverterModel, PassiveBalancer, get_topology
from cellbalance.cell import get_parameter_set, open_circuit_voltage
from cellbalance.interfaces import Estimate, LoopContext, Measurement, NominalModel
from cellbalance.pack import PackLayout

#: parameters that make every firmware rule act within minutes (their defaults wait 10-30 min at rest
#: or need 200 mV of spread); the defaults themselves are tested in test_rules.py
ACTIVE_PARAMS = {
    "foxbms_voltage": {"rest_time_s": 60.0, "threshold_V": 0.005, "hysteresis_V": 0.005},
    "foxbms_history": {"rest_time_s": 60.0, "threshold_V": 0.005},
    "libresolar_idle": {"idle_time_s": 60.0, "threshold_V": 0.005, "min_voltage_V": 3.0},
    "ennoid_top_n": {"start_V": 3.0, "delta_V": 0.005, "all_time": True, "period_s": 20.0, "window_s": 1.0},
    "diybms_runaway": {"differential_V": 0.005, "min_voltage_V": 3.0},
}

#: controllers that can drive converter graphs (the others drive bleed channels only)
ACTIVE_CAPABLE = ("consensus", "mpc", "voltage_difference_transfer")
ACTIVE_ONLY = ("voltage_difference_transfer",)  # converters only: refuses bleed hardware


@pytest.fixture(scope="session")
def cell():
    return get_parameter_set("nmc_lg_m50")


def passive_hw():
    return PassiveBalancer(r_bleed_ohm=33.0)


def ring_hw(n, **conv):
    return ActiveBalancer(get_topology("ring", n), ConverterModel(**({"max_current_A": 1.0, "efficiency": 0.9} | conv)))


def context(cell, layout, balancer):
    return LoopContext(NominalModel(cell, layout), 1.0, balancer)


def measurement(cell, soc, t_s=0.0, current_A=0.0, temperature_K=298.15):
    """A rested pack's measurement: element voltages on the nominal OCV at ``soc`` (B, Ns)."""
    z = np.asarray(soc, float)
    b, ns = z.shape
    return Measurement(
        t_s=t_s,
        element_voltage_V=np.asarray(open_circuit_voltage(cell, z), float),
        temperature_K=np.full((b, ns, 1), temperature_K),
        pack_current_A=np.broadcast_to(np.asarray(current_A, float), (b,)).copy(),
        pack_voltage_V=np.asarray(open_circuit_voltage(cell, z), float).sum(-1),
        pack_charge_C=np.zeros(b),
    )


def estimate(soc):
    z = np.asarray(soc, float)
    return Estimate(soc=z.copy(), soc_std=np.full(z.shape, 0.01))


def layout(ns, n_packs=1):
    return PackLayout(n_series=ns, n_packs=n_packs)
