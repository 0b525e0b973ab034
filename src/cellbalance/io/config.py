"""Run configurations read from TOML, validated with pydantic; errors become one readable paragraph."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from ..cell import CellParameters, get_parameter_set
from ..errors import CellBalanceError, ConfigError, read_text_file
from ..scenarios.experiment import Experiment
from .balancing_config import BalancingSection, CompareSection

__all__ = ["CellRunConfig", "PackRunConfig", "load_cell_config", "load_pack_config", "validation_message"]

KELVIN = 273.15


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=False)


class CellSection(_Strict):
    parameter_set: str | None = Field(None, description="name of a packaged parameter set")
    file: str | None = Field(None, description="TOML file with a [cell] table of parameters")
    overrides: dict[str, Any] = Field(default_factory=dict, description="fields to change, e.g. capacity_Ah")


class ExperimentSection(_Strict):
    steps: list[str] = Field(..., description="the steps, PyBaMM-style strings, e.g. \"Charge at 0.5C until 4.2 V\"")
    period_s: float = Field(1.0, gt=0, le=3600, description="simulation time step [s]")


class SimulationSection(_Strict):
    max_time_s: float | None = Field(None, gt=0, description=(
        "run-length limit [s]: the run stops there (a warning; the results are marked partial). Default: the "
        "steps' written durations added up, 30 days for each step without one"))

    def options(self, **kw):
        from ..sim import SimulationOptions

        return SimulationOptions(max_time_s=self.max_time_s, **kw)


class InitialSection(_Strict):
    soc: float | None = Field(None, ge=0, le=1, description="initial SOC [1] (None: the parameter set's)")
    temperature_C: float | None = Field(None, gt=-60, lt=100, description="initial cell temperature [degC] "
                                                                           "(None: the ambient)")
    hysteresis: float = Field(0.0, ge=-1, le=1, description="initial hysteresis state h [1]")


class OutputSection(_Strict):
    dir: str = Field("out", min_length=1, description="output directory (created if missing)")
    name: str = Field("run", description="file name stem of every output file (a plain name, no path)")
    plot: bool = Field(True, description="write the standard figures (PNG)")
    csv: bool = Field(True, description="also write the rows as a long-format CSV")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[^/\\\x00-\x1f:*?\"<>|]{1,120}", v) or v.strip(". ") == "":
            raise ValueError("must be a plain file name (no '/', '\\', '..', control characters or "
                             "* ? : \" < > |; at most 120 characters), written inside output.dir")
        return v

    @field_validator("dir")
    @classmethod
    def _no_nul(cls, v: str) -> str:
        if "\x00" in v:
            raise ValueError("must not contain a NUL character")
        return v


class CellRunConfig(_Strict):
    """``cellbalance cell``: one cell through an experiment."""

    cell: CellSection = Field(..., description="the cell: a packaged parameter set or a file (exactly one)")
    experiment: ExperimentSection = Field(..., description="the steps and the time step")
    initial: InitialSection = Field(InitialSection(), description="the state at the start")
    ambient_C: float | None = Field(None, gt=-60, lt=100, description="ambient temperature [degC] (None: the "
                                                                    "parameter set's)")
    simulation: SimulationSection = Field(SimulationSection(), description="the run-length limit")
    output: OutputSection = Field(OutputSection(), description="what is written, and where")

    @field_validator("cell")
    @classmethod
    def _one_source(cls, v: CellSection) -> CellSection:
        if (v.parameter_set is None) == (v.file is None):
            raise ValueError("give exactly one of cell.parameter_set or cell.file")
        return v

    def parameters(self, base_dir: Path) -> CellParameters:
        """The cell parameters: the named set or file, with overrides and ``ambient_C`` applied."""
        if self.cell.parameter_set is not None:
            p = get_parameter_set(self.cell.parameter_set)
        else:
            p = CellParameters.from_toml(base_dir / self.cell.file)
        changes = dict(self.cell.overrides)
        if self.ambient_C is not None:
            changes["ambient_K"] = self.ambient_C + KELVIN
        if not changes:
            return p
        try:
            return p.with_overrides(changes, base_dir=base_dir)
        except CellBalanceError as e:
            raise ConfigError(f"cell.overrides: {e}") from None

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


def read_toml(path: str | Path, what: str = "a TOML run configuration") -> dict:
    """The TOML file decoded at the door: one :class:`ConfigError` naming the file for a missing,
    empty, binary, non-UTF-8 or malformed file."""
    p = Path(path)
    text = read_text_file(p, what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML ({e}); expected {what}.") from None


def _validate(path: str | Path, model):
    try:
        return model.model_validate(read_toml(path))
    except ValidationError as e:
        raise ConfigError(validation_message(e, str(path))) from None


def _check_experiment(cfg, path: str | Path):
    try:
        cfg.build_experiment()
    except CellBalanceError as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg


def load_cell_config(path: str | Path) -> CellRunConfig:
    return _check_experiment(_validate(path, CellRunConfig), path)


class WiringSection(_Strict):
    """``[pack.wiring]``: see :class:`cellbalance.pack.wiring.Wiring` (arrays as nested lists)."""

    configuration: Literal["series-groups", "parallel-strings"] = Field(
        "series-groups", description="series of parallel groups, or parallel strings of series cells")
    connection_ohm: float | list[list[float]] = Field(
        0.0, description="tab/weld resistance of each cell [Ohm]: one value, or (n_series, n_parallel) values")
    busbar_ohm: float | list[float] | list[list[float]] = Field(
        0.0, description="busbar segment resistance between neighbouring cells of a group (or string) [Ohm]: one "
                         "value, per segment, or per element and segment")
    terminal_ohm: float = Field(0.0, ge=0, description="resistance of each pack terminal lead [Ohm]")
    terminals: Literal["left", "right", "left-right", "right-left"] = Field(
        "left", description="where the group rails meet the terminals (first cell, last cell, or one at each end)")
    heat_to_cells: float = Field(0.0, ge=0, le=1, description="share [1] of the wiring's I^2 R heat that goes into "
                                                                 "the neighbouring cells' thermal nodes")


class PackSection(_Strict):
    n_series: int = Field(..., ge=1, le=100_000, description="series elements per pack")
    n_parallel: int = Field(1, ge=1, le=1000, description="cells in parallel per element")
    n_packs: int = Field(1, ge=1, le=100_000, description="packs simulated side by side (a batch, each drawn anew)")
    interconnect_ohm: float = Field(0.0, ge=0, description="total busbar/interconnect resistance in series with each string [Ohm]")
    wiring: WiringSection | None = Field(None, description="connection, busbar and terminal resistances")

    def layout(self):
        """The :class:`~cellbalance.pack.PackLayout` of this section (wiring checked against it)."""
        from ..pack import PackLayout, Wiring

        w = None if self.wiring is None else Wiring(**self.wiring.model_dump())
        return PackLayout(self.n_series, self.n_parallel, self.n_packs, self.interconnect_ohm, w)


class PackOutputSection(OutputSection):
    csv: bool = Field(False, description="also write the rows as a long-format CSV (large for a pack)")
    record_every: int = Field(1, ge=1, le=10**9, description="record one row every this many time steps")
    stream: bool = Field(False, description="stream rows to NetCDF while running (bounded memory); informational "
                                            "for the results: the same rows and file, written as they come")


class ProfileSpec(_Strict):
    file: str = Field(..., description="CSV file of the cycle, relative to the TOML file")
    kind: str = Field("current_A", pattern="^(current_A|power_W)$",
                      description="what the values are: a current [A] or a power [W]")
    time_column: str = Field("time_s", description="name of the time column [s]")
    value_column: str | None = Field(None, description="name of the value column (None: the column named as kind)")
    discharge_positive: bool = Field(False, description="the file counts discharge positive (flipped on reading)")
    scale: float = Field(1.0, description="multiplies every value [1]")


class PackRunConfig(_Strict):
    """``cellbalance simulate``: a pack (or a batch of packs) with cell-to-cell variation."""

    cell: CellSection = Field(..., description="the cell: a packaged parameter set or a file (exactly one)")
    pack: PackSection = Field(..., description="the layout: series elements, cells in parallel, packs in the batch")
    experiment: ExperimentSection = Field(..., description="the steps and the time step")
    variation: dict[str, Any] = Field(default_factory=dict, description="cell-to-cell variation (cellbalance.pack.variation)")
    profiles: dict[str, ProfileSpec] = Field(default_factory=dict, description="user drive cycles by name")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seed of the cell-to-cell variation draws")
    initial: InitialSection = Field(InitialSection(), description="the state at the start (means; the variation "
                                                                 "draws around them)")
    ambient_C: float | None = Field(None, gt=-60, lt=100, description="ambient temperature [degC] (None: the "
                                                                    "parameter set's)")
    simulation: SimulationSection = Field(SimulationSection(), description="the run-length limit")
    output: PackOutputSection = Field(PackOutputSection(), description="what is written, and where")
    balancing: BalancingSection | None = Field(None, description="the balancing design (io/balancing_config.py)")
    compare: CompareSection | None = Field(None, description="informational for simulate: the designs that "
                                                             "cellbalance compare runs")
    _cycles: dict = PrivateAttr(default_factory=dict)  # the [profiles] read by load_pack_config

    _one_source = field_validator("cell")(CellRunConfig._one_source.__func__)

    def parameters(self, base_dir: Path) -> CellParameters:
        return CellRunConfig.parameters(self, base_dir)  # type: ignore[arg-type]

    def layout(self):
        """The :class:`~cellbalance.pack.PackLayout` of ``[pack]`` (wiring included)."""
        return self.pack.layout()

    def options(self):
        """The :class:`~cellbalance.sim.SimulationOptions` of ``[output]`` and ``[simulation]``."""
        return self.simulation.options(record_every=self.output.record_every)

    def read_profiles(self, base_dir: Path) -> None:
        """Read the ``[profiles]`` files (relative to ``base_dir``) for :meth:`build_experiment`."""
        from ..scenarios.profiles import DriveCycle

        self._cycles = {name: DriveCycle.from_csv(
            base_dir / spec.file, spec.kind, name=name, time_column=spec.time_column,  # type: ignore[arg-type]
            value_column=spec.value_column, discharge_positive=spec.discharge_positive, scale=spec.scale)
            for name, spec in self.profiles.items()}

    def build_experiment(self) -> Experiment:
        """The experiment, its "Run NAME" steps carrying the ``[profiles]`` cycles (no global registry)."""
        return Experiment(self.experiment.steps, period_s=self.experiment.period_s, cycles=self._cycles)


def load_pack_config(path: str | Path) -> PackRunConfig:
    cfg = _validate(path, PackRunConfig)
    cfg.read_profiles(Path(path).parent)
    return _check_experiment(cfg, path)
