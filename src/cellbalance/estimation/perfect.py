"""The default sensors (perfect) and a "perfect" estimator that passes the true SOC on.

Both fill the loop's slots (:mod:`cellbalance.interfaces`) for studies that want the truth; real
sensor models and filters (noise, ADC, bias; Coulomb counting, EKF, sigma-point) come with the
estimation issue and share these shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..interfaces import Command, Estimate, LoopContext, Measurement, TrueSignals

__all__ = ["PerfectEstimator", "PerfectSensors"]


@dataclass(frozen=True)
class PerfectSensors:
    """Measurements equal to the true signals at the instant they are read.

    period_s : None = read whenever an estimator or controller runs; a number = sampled at that
        period and held (consumers see the latest sample).
    """

    period_s: float | None = None

    def __post_init__(self) -> None:
        if self.period_s is not None and not self.period_s > 0:
            raise ParameterError(f"PerfectSensors.period_s must be > 0 or None; got {self.period_s!r}.")

    def init(self, context: LoopContext):
        return None

    def step(self, t_s: float, truth: TrueSignals, state):
        # the loop's true signals are read-only copies: handed on as they are
        m = Measurement(
            t_s=t_s,
            element_voltage_V=truth.element_voltage_V,
            temperature_K=truth.cell_temperature_K,
            pack_current_A=truth.pack_current_A,
            pack_voltage_V=truth.pack_voltage_V,
            pack_charge_C=truth.pack_charge_C,
        )
        return m, state

    def step_many(self, t_s, truth: TrueSignals, state):
        """step at each of the instants ``t_s`` (arrays with a leading time axis)."""
        return self.step(np.asarray(t_s, float), truth, state)


@dataclass(frozen=True)
class PerfectEstimator:
    """Passes the true element SOC (the mean over the cells of each parallel group) through the
    estimator slot, with zero uncertainty. ``uses_truth = True``: the loop hands it the plant's
    true signals with the measurement."""

    period_s: float = 1.0
    uses_truth = True

    def __post_init__(self) -> None:
        if not self.period_s > 0:
            raise ParameterError(f"PerfectEstimator.period_s must be > 0; got {self.period_s!r}.")

    def init(self, context: LoopContext):
        return None

    def step(self, t_s: float, measurement: Measurement, command: Command | None, state):
        if measurement.truth is None:
            raise ParameterError("PerfectEstimator needs the true signals (the loop hands them to components with "
                                 "uses_truth = True).")
        soc = measurement.truth.cell_soc.mean(-1)
        return Estimate(soc=soc, soc_std=np.zeros_like(soc)), state
