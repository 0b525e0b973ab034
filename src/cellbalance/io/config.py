"""Run configurations read from TOML, validated with pydantic; errors become one readable paragraph."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..cell import CellParameters, get_parameter_set
from ..errors import CellBalanceError, ConfigError
from ..scenarios.experiment import Experiment

__all__ = ["CellRunConfig", "load_cell_config", "validation_message"]

KELVIN = 273.15


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CellSection(_Strict):
    parameter_set: str | None = Field(None, description="name of a packaged parameter set")
    file: str | None = Field(None, description="TOML file with a [cell] table of parameters")
    overrides: dict[str, Any] = Field(default_factory=dict, description="fields to change, e.g. capacity_Ah")


class ExperimentSection(_Strict):
    steps: list[str]
    period_s: float = Field(1.0, gt=0, le=3600)


class InitialSection(_Strict):
    soc: float | None = Field(None, ge=0, le=1)
    temperature_C: float | None = Field(None, gt=-60, lt=100)
    hysteresis: float = Field(0.0, ge=-1, le=1)


class OutputSection(_Strict):
    dir: str = "out"
    name: str = "run"
    plot: bool = True
    csv: bool = True


class CellRunConfig(_Strict):
    cell: CellSection
    experiment: ExperimentSection
    initial: InitialSection = InitialSection()
    ambient_C: float | None = Field(None, gt=-60, lt=100)
    output: OutputSection = OutputSection()

    @field_validator("cell")
    @classmethod
    def _one_source(cls, v: CellSection) -> CellSection:
        if (v.parameter_set is None) == (v.file is None):
            raise ValueError("give exactly one of cell.parameter_set or cell.file")
        return v

    def parameters(self, base_dir: Path) -> CellParameters:
        if self.cell.parameter_set is not None:
            p = get_parameter_set(self.cell.parameter_set)
        else:
            p = CellParameters.from_toml(base_dir / self.cell.file)
        return p.replace(**self.cell.overrides) if self.cell.overrides else p

    def build_experiment(self) -> Experiment:
        return Experiment(self.experiment.steps, period_s=self.experiment.period_s)


def validation_message(err: ValidationError, source: str) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        val = e.get("input")
        got = f" (got {val!r})" if not isinstance(val, dict) else ""
        parts.append(f"{loc}: {e['msg']}{got}")
    return f"{source}: " + "; ".join(parts) + "."


def read_toml(path: str | Path) -> dict:
    p = Path(path)
    try:
        return tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file.") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML ({e}).") from None


def load_cell_config(path: str | Path) -> CellRunConfig:
    data = read_toml(path)
    try:
        cfg = CellRunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(validation_message(e, str(path))) from None
    try:
        cfg.build_experiment()
    except CellBalanceError as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg
