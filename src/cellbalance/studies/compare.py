"""Side-by-side runs: one pack, one scenario, several balancing designs (hardware, controller,
estimator). The runs are independent pure functions of their inputs; the table of what each design
costs and recovers is :func:`cellbalance.analysis.comparison.comparison_table`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import xarray as xr

from ..errors import ConfigError
from ..pack.layout import PackLayout
from ..scenarios.experiment import Experiment
from ..sim import SimulationOptions, simulate

__all__ = ["Design", "run_comparison"]


@dataclass(frozen=True)
class Design:
    """One balancing design: hardware (None = none), controller, estimator, sensors, supervisor."""

    balancer: object = None
    controller: object = None
    estimator: object = None
    sensors: object = None
    supervisor: object = None


def run_comparison(cells, experiment: Experiment, designs: Mapping[str, Design], *, layout: PackLayout,
                   state=None, ambient_K=None, options: SimulationOptions | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, xr.Dataset]:
    """Run ``experiment`` on the same pack (``cells``, ``state``, ``ambient_K``) once per design.

    Returns the results by design name (insertion order kept), each with ``attrs['design']``.
    """
    if not designs:
        raise ConfigError("run_comparison: no designs given.")
    out: dict[str, xr.Dataset] = {}
    for name, d in designs.items():
        if not isinstance(d, Design):
            raise ConfigError(f"run_comparison: design {name!r} must be a Design; got {type(d).__name__}.")
        if progress is not None:
            progress(name)
        ds = simulate(cells, experiment, layout=layout, state=state, ambient_K=ambient_K, balancer=d.balancer,
                      controller=d.controller, estimator=d.estimator, sensors=d.sensors, supervisor=d.supervisor,
                      options=options)
        ds.attrs["design"] = name
        out[name] = ds
    return out
