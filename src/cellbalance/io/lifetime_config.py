"""``cellbalance lifetime CONFIG.toml``: the configuration (pydantic) and the run behind it.

```toml
seed = 3
ambient_C = 25

[cell]
parameter_set = "nmc_lg_m50"

[pack]
n_series = 96

[variation]
preset = "typical"

[initial]
soc = 0.9

[aging]
model = "nmc811_grsi_lgm50_5ah_2021"    # default: the model matching the cell (cellbalance.aging.AGING_MODEL_FOR_CELL)
rate_sigma = 0.05                       # cell-to-cell spread of the aging rates (log-normal)
rate_mean = 1.0                         # multiplier on every cell's aging rates (>= 0)

[duty]                                  # one day: drive, rest, CC-CV charge, rest (studies.drift.daily_cycle)
depth = 0.5
discharge_C = 0.5
charge_C = 0.5
period_s = 60

[lifetime]
years = 10
eol_fraction = 0.8
start_date = "2027-01-01"
capacity_tol = 0.02                     # error control (studies.lifetime.Stepping)
soc_tol = 0.01
max_days = 365

[[design]]                              # the keys of [balancing] (io/balancing_config.py)
name = "none"
hardware = "none"
```

:func:`run_lifetime_config` is the Python function behind the command: a validated
:class:`LifetimeConfig` (picklable; ``LifetimeConfig.model_validate(dict)`` builds one without a file)
-> the results Dataset of :func:`cellbalance.studies.lifetime.run_lifetime`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from ..aging import AGING_MODEL_FOR_CELL, get_aging_model
from ..errors import CellBalanceError, ConfigError
from .balancing_config import BalancingSection
from .config import KELVIN, CellRunConfig, CellSection, InitialSection, OutputSection, PackSection, _Strict, _validate

__all__ = ["AgingSection", "DutySection", "LifetimeConfig", "LifetimeSection", "load_lifetime_config",
           "run_lifetime_config"]


class AgingSection(_Strict):
    model: str | None = Field(None, description="aging model (cellbalance.aging.available_aging_models()); "
                                                "default: the one matching the cell parameter set")
    rate_sigma: float = Field(0.05, ge=0, le=2, description="log-standard deviation of the per-cell rate scalars")
    rate_mean: float = Field(1.0, ge=0, le=100, description="multiplier on every cell's aging rates")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="seed of the rate scalars (default: seed)")
    scheme: str = Field("blast", pattern="^(blast|exact)$", description="state-law integration (aging.laws)")

    @field_validator("model")
    @classmethod
    def _known(cls, v):
        if v is not None:
            try:
                get_aging_model(v)
            except CellBalanceError as e:
                raise ValueError(str(e).replace(" (field 'model')", "")) from None
        return v


class DutySection(_Strict):
    """The daily cycle of :func:`cellbalance.studies.drift.daily_cycle`, or explicit ``steps``."""

    depth: float = Field(0.5, gt=0, le=1, description="fraction of the capacity driven out each day")
    discharge_C: float = Field(0.5, gt=0, le=20)
    charge_C: float = Field(0.5, gt=0, le=20)
    rest_after_drive_h: float = Field(1.0, gt=0, le=24)
    rest_after_charge_h: float = Field(20.0, gt=0, le=24)
    steps: list[str] | None = Field(None, description="the steps of one day instead of the cycle above")
    period_s: float = Field(60.0, gt=0, le=3600, description="plant period of the representative days [s]")
    record_every_s: float = Field(600.0, gt=0, le=86400, description="spacing of the rows the stressors are read from")


class LifetimeSection(_Strict):
    years: float = Field(10.0, gt=0, le=100)
    eol_fraction: float = Field(0.8, gt=0, lt=1, description="end of life: usable capacity below this x initial")
    start_date: str | None = Field(None, description="ISO date of day 0, for the end-of-life dates")
    capacity_tol: float = Field(0.02, ge=0, lt=1, description="re-simulate when q or r moved by more than this")
    soc_tol: float = Field(0.01, ge=0, le=1, description="drift: largest SOC error of an extrapolated interval; "
                           "steady state: a day changing the spread by under soc_tol/10")
    max_days: int = Field(365, ge=1, le=3650, description="longest interval between representative days")
    supervisor: str = Field("perfect", pattern="^(perfect|none)$",
                            description="capacity the controllers see: the true aged one, or the initial one")

    @field_validator("start_date")
    @classmethod
    def _iso(cls, v):
        import datetime

        if v is not None:
            try:
                datetime.date.fromisoformat(v)
            except ValueError:
                raise ValueError("must be an ISO date like 2027-01-01") from None
        return v


class LifetimeConfig(_Strict):
    """``cellbalance lifetime``: one pack, its aging, a daily duty and the balancing designs to compare."""

    cell: CellSection
    pack: PackSection
    variation: dict[str, Any] = Field(default_factory=dict, description="see cellbalance.pack.variation")
    seed: int = Field(0, ge=0, le=2**63 - 1)
    initial: InitialSection = InitialSection()
    ambient_C: float | None = Field(None, gt=-60, lt=100)
    aging: AgingSection = AgingSection()
    duty: DutySection = DutySection()
    lifetime: LifetimeSection = LifetimeSection()
    design: list[BalancingSection] = Field(..., min_length=1)
    output: OutputSection = OutputSection(dir="out/lifetime", name="lifetime")

    _one_source = field_validator("cell")(CellRunConfig._one_source.__func__)

    @model_validator(mode="after")
    def _names(self):
        names = [d.name for d in self.design]
        if len(set(names)) != len(names):
            raise ValueError(f"design names must differ; got {names}")
        return self

    def parameters(self, base_dir: Path):
        return CellRunConfig.parameters(self, base_dir)  # type: ignore[arg-type]

    def aging_model_name(self) -> str:
        if self.aging.model is not None:
            return self.aging.model
        name = AGING_MODEL_FOR_CELL.get(self.cell.parameter_set or "")
        if name is None:
            raise ConfigError(f"aging.model: the cell {self.cell.parameter_set or self.cell.file!r} has no matching "
                              f"aging model; name one (cellbalance.aging.available_aging_models()).")
        return name

    def cycle(self, params) -> list[str]:
        from ..studies.drift import daily_cycle

        if self.duty.steps is not None:
            return list(self.duty.steps)
        d = self.duty
        return daily_cycle(params, depth=d.depth, discharge_C=d.discharge_C, charge_C=d.charge_C,
                           rest_after_drive_h=d.rest_after_drive_h, rest_after_charge_h=d.rest_after_charge_h)

    def check_duty(self, params) -> None:
        """The duty against the aging model's test range: an ambient outside every temperature the model
        was aged at, or a C-rate above the highest tested, is an error (the model has no data there);
        cycling temperature or DOD outside the fitted range warns while running (AgingRangeWarning)."""
        m = get_aging_model(self.aging_model_name())
        fit = type(m).FITTED
        amb_C = (params.ambient_K - KELVIN) if self.ambient_C is None else self.ambient_C
        lo, hi = fit.calendar_temperature_C
        if not lo <= amb_C <= hi:
            raise ConfigError(f"ambient_C = {amb_C:g} degC is outside the temperatures the aging model {m.name!r} was "
                              f"tested at ([{lo:g}, {hi:g}] degC); choose an ambient within it or another model.")
        if self.duty.steps is None:
            for key in ("discharge_C", "charge_C"):
                v = getattr(self.duty, key)
                if v > fit.max_discharge_crate:
                    raise ConfigError(f"duty.{key} = {v:g} is above the highest C-rate the aging model {m.name!r} "
                                      f"was tested at ({fit.max_discharge_crate:g} 1/h).")

    def run(self, base_dir: Path | str = ".", *, progress: Callable[[float, float], None] | None = None,
            checkpoint=None):
        return run_lifetime_config(self, base_dir, progress=progress, checkpoint=checkpoint)


def run_lifetime_config(cfg: LifetimeConfig, base_dir: Path | str = ".", *,
                        progress: Callable[[float, float], None] | None = None, checkpoint=None):
    """Run a :class:`LifetimeConfig` (``base_dir``: where relative files of the config live) -> xarray.Dataset."""
    from ..pack import PackLayout
    from ..pack.variation import Variation, sample
    from ..studies.lifetime import AgingSetup, Stepping, run_lifetime

    base = Path(base_dir)
    p = cfg.parameters(base)
    cfg.check_duty(p)
    lay = PackLayout(cfg.pack.n_series, cfg.pack.n_parallel, cfg.pack.n_packs, cfg.pack.interconnect_ohm)
    designs = {d.name: d.build(lay.n_series) for d in cfg.design}
    a, lt, ini = cfg.aging, cfg.lifetime, cfg.initial
    sp = sample(Variation.from_dict(cfg.variation), p, lay, seed=cfg.seed, mean_soc=ini.soc,
                temperature_K=None if ini.temperature_C is None else ini.temperature_C + KELVIN,
                mean_hysteresis=ini.hysteresis)
    return run_lifetime(
        p, lay, sp, designs, years=lt.years,
        aging=AgingSetup(cfg.aging_model_name(), a.rate_sigma, a.rate_mean, a.seed, a.scheme),
        cycle=cfg.cycle(p), period_s=cfg.duty.period_s, seed=cfg.seed,
        stepping=Stepping(lt.capacity_tol, lt.soc_tol, lt.max_days), supervisor=lt.supervisor,
        eol_fraction=lt.eol_fraction, start_date=lt.start_date, record_every_s=cfg.duty.record_every_s,
        progress=progress, checkpoint=checkpoint)


def load_lifetime_config(path: str | Path) -> LifetimeConfig:
    """Read and validate a lifetime TOML (one :class:`ConfigError` naming the file and field)."""
    cfg = _validate(path, LifetimeConfig)
    try:
        cfg.aging_model_name()
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg
