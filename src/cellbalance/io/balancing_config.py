"""The ``[balancing]`` section of a pack TOML (one design) and ``[compare]`` (several), validated
with pydantic, and their translation into the loop's slots (hardware, controller, estimator,
supervisor).

```toml
[balancing]
hardware = "active"                 # "none", "passive", "active" or "both"
controller = "consensus"            # cellbalance.control.available_controllers()
controller_period_s = 60
controller_params = { max_current_A = 1.0 }
estimator = "ekf"                   # "perfect", "ekf", "coulomb" or "none"
estimator_period_s = 10
[balancing.active]
topology = "ring"                   # cellbalance.balancing.available_topologies()
efficiency = 0.9
max_current_A = 1.0
[balancing.passive]
r_bleed_ohm = 33.0
[balancing.supervisor]              # optional: thermal derating every hour
derate_from_C = 45
stop_at_C = 55

[[compare.design]]                  # cellbalance compare: the same keys, one table per design
name = "none"
hardware = "none"
```
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import ConfigError

__all__ = ["BalancingSection", "CompareSection"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PassiveSection(_Strict):
    r_bleed_ohm: float = Field(33.0, gt=0, description="bleed resistance per channel [Ohm]")
    max_channels: int | None = Field(None, ge=1, description="channels on at once per pack")
    forbid_adjacent: bool = Field(False, description="no two adjacent channels at once")
    max_pack_power_W: float | None = Field(None, gt=0, description="bleed power per pack [W]")
    heat_to_cell_fraction: float = Field(0.0, ge=0, le=1, description="share of the bleed heat into the cells [1]")
    pause_to_measure: bool = Field(True, description="firmware pauses bleeding to measure")


class ActiveSection(_Strict):
    topology: str = Field("ring", description="a name of cellbalance.balancing.available_topologies()")
    topology_params: dict[str, Any] = Field(default_factory=dict, description="extra arguments of the topology")
    efficiency: float = Field(0.9, gt=0, le=1, description="converter efficiency [1]")
    max_current_A: float = Field(1.0, gt=0, description="converter current limit [A]")


class SupervisorSection(_Strict):
    period_s: float = Field(3600.0, gt=0, description="how often the supervisor looks [s]")
    derate_from_C: float = Field(45.0, gt=-40, lt=150, description="derating starts [degC]")
    stop_at_C: float = Field(55.0, gt=-40, lt=150, description="balancing stops [degC]")


class BalancingSection(_Strict):
    """One balancing design."""

    name: str = Field("balanced", description="the design's name in tables and figures")
    hardware: Literal["none", "passive", "active", "both"] = Field("passive", description="balancing hardware: bleed resistors, converters, both or none")
    controller: str | None = Field(None, description="cellbalance.control.available_controllers()")
    controller_period_s: float = Field(60.0, gt=0, description="controller period [s]")
    controller_params: dict[str, Any] = Field(default_factory=dict, description="parameters of the controller")
    estimator: Literal["perfect", "ekf", "coulomb", "none"] = Field("perfect", description="SOC estimator the controller sees")
    estimator_period_s: float = Field(10.0, gt=0, description="estimator period [s]")
    estimator_uses_commanded_current: bool = Field(
        True, description="the EKF / Coulomb counter is told the balancing currents it commanded (a BMS knows "
                          "them; False shows the unmodelled-current trap)")
    passive: PassiveSection = Field(PassiveSection(), description="the bleed resistors (hardware passive/both)")
    active: ActiveSection = Field(ActiveSection(), description="the converters (hardware active/both)")
    supervisor: SupervisorSection | None = Field(None, description="thermal derating (None: none)")

    def build(self, n_series: int):
        """The :class:`~cellbalance.studies.compare.Design` for a string of ``n_series`` elements."""
        from ..balancing import ActiveBalancer, BalancingHardware, ConverterModel, PassiveBalancer, get_topology
        from ..control import get_controller
        from ..control.supervisory import ThermalDerating
        from ..estimation import CoulombCounter, EKFEstimator, PerfectEstimator
        from ..studies.compare import Design

        passive = active = None
        if self.hardware in ("passive", "both"):
            passive = PassiveBalancer(**self.passive.model_dump())
        if self.hardware in ("active", "both"):
            a = self.active
            active = ActiveBalancer(get_topology(a.topology, n_series, **a.topology_params),
                                    ConverterModel(efficiency=a.efficiency, max_current_A=a.max_current_A))
        balancer = BalancingHardware(passive, active) if (passive and active) else (passive or active)
        if balancer is None:
            if self.controller:
                raise ConfigError(f"[balancing] {self.name!r}: controller = {self.controller!r} needs hardware; "
                                  "hardware is 'none' (use 'passive', 'active' or 'both', or controller = \"\").")
            return Design()
        if not self.controller:
            raise ConfigError(f"[balancing] {self.name!r}: hardware = {self.hardware!r} needs a controller; "
                              "allowed: cellbalance.control.available_controllers().")
        ctl = get_controller(self.controller, period_s=self.controller_period_s, **self.controller_params)
        est = {"perfect": PerfectEstimator, "ekf": EKFEstimator, "coulomb": CoulombCounter}.get(self.estimator)
        sup = None
        if self.supervisor is not None:
            sup = ThermalDerating(self.supervisor.period_s, self.supervisor.derate_from_C, self.supervisor.stop_at_C)
        kw = {} if self.estimator in ("perfect", "none") else {"use_commanded_current": self.estimator_uses_commanded_current}
        return Design(balancer, ctl, None if est is None else est(period_s=self.estimator_period_s, **kw), None, sup)


class CompareSection(_Strict):
    """``cellbalance compare``: the designs, the baseline (default the first) and the spread target."""

    design: list[BalancingSection] = Field(..., min_length=1, description="the designs, one [[compare.design]] table each (the keys of [balancing])")
    baseline: str | None = Field(None, description="name of the design the others are compared with (None: the first)")
    spread_target_pct: float = Field(1.0, gt=0, lt=100, description="SOC spread target [%-points]")

    def designs(self, n_series: int) -> dict:
        names = [d.name for d in self.design]
        if len(set(names)) != len(names):
            raise ConfigError(f"[compare] design names must differ; got {names}.")
        if self.baseline is not None and self.baseline not in names:
            raise ConfigError(f"[compare] baseline = {self.baseline!r} is not a design; designs: {names}.")
        return {d.name: d.build(n_series) for d in self.design}
