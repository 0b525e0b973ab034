"""Two simple balancing controllers on measured element voltages (the issue-12 controllers — firmware
rules, SOC consensus with a stability bound, MPC — build on the same slot shape).

* :class:`BleedAboveMinimum`: the common "bleed to the lowest" rule of passive BMSs (e.g. the
  textbook rule in G. L. Plett, "Battery Management Systems, Vol. II", Artech House 2016, ch. 7:
  bleed every cell whose voltage exceeds the string minimum by more than a threshold).
* :class:`VoltageDifferenceTransfer`: each converter edge carries a current proportional to the
  voltage difference along it, saturated: ``u = -k B^T v`` over the balancing graph, the Laplacian
  consensus law (R. Olfati-Saber, R. M. Murray, "Consensus problems in networks of agents with
  switching topology and time-delays", IEEE Trans. Autom. Control 49 (2004) 1520-1533) on voltages.

Both are vectorised over packs and elements, keep no state and see only the measurement. They have
none of the guards of the registered controllers (voltage, temperature, Lyapunov filter), so they
are not in the registry the CLI offers; they pass the same conformance checks
(``tests/control/test_conformance.py``) and serve the loop's own tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, check_range
from ..interfaces import Command, LoopContext, Measurement
from . import base as cb

__all__ = ["BleedAboveMinimum", "VoltageDifferenceTransfer"]


@dataclass(frozen=True)
class BleedAboveMinimum:
    """Bleed every element more than ``threshold_V`` above the lowest element of its pack.

    period_s : controller period [s]; threshold_V : [V]; only_at_rest_A : if set, bleed only while
    the measured pack current is within +- this value [A].
    """

    period_s: float = 60.0
    threshold_V: float = 0.005
    only_at_rest_A: float | None = None

    def __post_init__(self) -> None:
        check_range("BleedAboveMinimum", "period_s", self.period_s, gt=0)
        check_range("BleedAboveMinimum", "threshold_V", self.threshold_V, ge=0)
        if self.only_at_rest_A is not None:
            check_range("BleedAboveMinimum", "only_at_rest_A", self.only_at_rest_A, ge=0)

    def init(self, context: LoopContext):
        cb.require_passive("BleedAboveMinimum", context)
        return None

    def step(self, t_s: float, measurement: Measurement, estimate, state):
        v = measurement.element_voltage_V
        on = v > v.min(-1, keepdims=True) + self.threshold_V
        if self.only_at_rest_A is not None:
            on &= (np.abs(measurement.pack_current_A) <= self.only_at_rest_A)[:, None]
        return Command(bleed=on), state


@dataclass(frozen=True)
class VoltageDifferenceTransfer:
    """Converter edge currents ``clip(k (v_a - v_b), -i_max, i_max)`` along each edge ``(a, b)``.

    edges : (m, 2) element indices (default None: the ``edges`` of the balancer's converters);
    gain_A_per_V : k; max_current_A : saturation [A]; period_s : controller period [s].
    """

    edges: tuple | None = None
    gain_A_per_V: float = 20.0
    max_current_A: float = 1.0
    period_s: float = 60.0

    def __post_init__(self) -> None:
        if self.edges is not None:
            e = np.asarray(self.edges)
            if e.ndim != 2 or e.shape[1] != 2 or e.size == 0:
                raise ConfigError(f"VoltageDifferenceTransfer.edges must be (m, 2) element pairs; got shape {e.shape}.")
            object.__setattr__(self, "edges", tuple(map(tuple, e.astype(int).tolist())))
        check_range("VoltageDifferenceTransfer", "gain_A_per_V", self.gain_A_per_V, ge=0)
        check_range("VoltageDifferenceTransfer", "max_current_A", self.max_current_A, gt=0)
        check_range("VoltageDifferenceTransfer", "period_s", self.period_s, gt=0)

    def init(self, context: LoopContext):
        hw = cb.require_active("VoltageDifferenceTransfer", context)
        e = np.asarray(hw.edges if self.edges is None else self.edges, dtype=int)
        if self.edges is not None and (e.shape != np.asarray(hw.edges).shape):
            raise ConfigError(f"VoltageDifferenceTransfer.edges has {e.shape[0]} edges but the balancer's topology "
                              f"{hw.graph.kind!r} has {len(hw.edges)}.")
        if e.max() >= context.layout.n_series:
            raise ConfigError(f"VoltageDifferenceTransfer.edges refer to element {e.max()} but the pack has "
                              f"{context.layout.n_series} series elements.")
        return e

    def step(self, t_s: float, measurement: Measurement, estimate, edges):
        v = measurement.element_voltage_V
        dv = v[:, edges[:, 0]] - v[:, edges[:, 1]]
        i = self.gain_A_per_V * dv
        np.minimum(i, self.max_current_A, out=i)  # (= np.clip, which costs several times as much on small arrays)
        np.maximum(i, -self.max_current_A, out=i)
        return Command(edge_current_A=i), edges
