"""``cellbalance sweep CONFIG.toml``: a pack TOML (as for ``simulate``) plus a ``[sweep]`` table.

```toml
seed = 7                       # the whole sweep's seed (tasks spawn theirs from it)
[pack]
n_series = 12
n_packs = 200                  # packs per scenario (split into tasks of packs_per_task)
# [cell], [experiment], [variation], [balancing], [initial], ambient_C, [output] as for simulate

[sweep]
packs_per_task = 50            # packs simulated in one call (one task, one chunk file)
samples = 1                    # draws of the [sweep.random] parameters per grid point
metric = "spread_end_pct"      # the metric of the sensitivity table and figure
workers = 2                    # local processes (default: the CPU count; the CLI's --workers wins)

[sweep.grid]                   # every combination of these values is a scenario
"variation.preset" = ["tight", "typical"]
"variation.capacity.sigma" = [0.003, 0.01]
"balancing.passive.r_bleed_ohm" = [10.0, 33.0, 100.0]
"balancing.controller" = ["bleed_to_lowest_soc", "consensus"]
"experiment.steps" = [["Discharge at 1C for 1 hour"], ["Run US06 for 1 hour"]]

[sweep.random]                 # drawn once per scenario (Distribution: normal, lognormal, uniform, fixed)
ambient_C = { kind = "uniform", mean = 25.0, sigma = 5.0 }
```

A parameter is the dotted path of a field of the pack configuration (``balancing.active.topology``,
``balancing.controller_params.gain``, ``cell.overrides.capacity_Ah``, ``initial.soc``,
``ambient_C``, ...); each scenario's configuration is validated as a whole, so a value out of range
is refused with its field and scenario before anything runs. Not sweepable: ``seed``, ``pack.n_packs``,
``output``, ``profiles``, ``compare`` (they define the sweep itself, not a scenario).
"""

from __future__ import annotations

import itertools
import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import CellBalanceError, ConfigError
from .config import KELVIN, PackRunConfig, read_toml, validation_message

__all__ = ["SweepRun", "SweepSection", "load_sweep", "write_sweep_outputs"]

NOT_SWEEPABLE = ("seed", "pack.n_packs", "output", "profiles", "compare")


class SweepSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    packs_per_task: int | None = Field(None, ge=1, le=100_000, description="packs per task (default min(n_packs, 32))")
    samples: int = Field(1, ge=1, le=1_000_000, description="draws of the random parameters per grid point")
    metric: str = Field("spread_end_pct", description="metric of the sensitivity analysis")
    workers: int | None = Field(None, ge=0, le=1024, description="local processes (0: in this process)")
    threads_per_task: int | None = Field(None, ge=1, le=1024, description="numba threads inside a task")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="parameter -> values")
    random: dict[str, dict[str, Any]] = Field(default_factory=dict, description="parameter -> distribution")


def _unwrap(tp):
    """The model class (or dict / scalar type) behind ``X | None``."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return args[0]
    return tp


def check_parameter_name(name: str, where: str) -> None:
    """Refuse a dotted name that is no field of the pack configuration (with the closest names)."""
    import difflib

    if not isinstance(name, str) or not name or any(not p for p in name.split(".")):
        raise ConfigError(f"{where}: {name!r} is not a parameter name (a dotted path such as "
                          "'balancing.passive.r_bleed_ohm').")
    for bad in NOT_SWEEPABLE:
        if name == bad or name.startswith(bad + "."):
            raise ConfigError(f"{where}: {name!r} cannot be swept (it defines the sweep, not a scenario); "
                              f"not sweepable: {', '.join(NOT_SWEEPABLE)}.")
    model: Any = PackRunConfig
    parts = name.split(".")
    for k, part in enumerate(parts):
        if isinstance(model, type) and issubclass(model, BaseModel):
            fields = model.model_fields
            if part not in fields:
                prefix = ".".join(parts[:k])
                options = [f"{prefix}.{f}" if prefix else f for f in fields if (f"{prefix}.{f}" if prefix else f)
                           not in NOT_SWEEPABLE]
                close = difflib.get_close_matches(".".join(parts[: k + 1]), options, 1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"{where}: unknown parameter {name!r}: {part!r} is not a field of "
                                  f"{prefix or 'the pack configuration'}; allowed there: {sorted(options)}.{hint}")
            model = _unwrap(fields[part].annotation)
        elif typing.get_origin(model) is dict or model is dict:
            return  # free-form tables (variation, controller_params, overrides): checked when built
        else:
            raise ConfigError(f"{where}: unknown parameter {name!r}: {'.'.join(parts[:k])!r} is a single value, "
                              "it has no fields.")


def _set(d: dict, name: str, value) -> None:
    parts = name.split(".")
    for p in parts[:-1]:
        nxt = d.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            d[p] = nxt
        d = nxt
    d[parts[-1]] = value


def _display(v):
    """A table cell for a parameter value (lists of steps joined)."""
    if isinstance(v, list | tuple):
        return " | ".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return v


class SweepRun(BaseModel):
    """A validated sweep: its configuration text (and ``key``, its parsed content, which identifies it for
    resuming), the base config, the [sweep] table and the tasks."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    path: Path
    text: str
    key: str
    seed: int
    section: SweepSection
    base: PackRunConfig
    params: list[str]
    tasks: list[Any]


def load_sweep(path: str | Path, *, check_size: bool = True) -> SweepRun:
    """Read, validate and expand a sweep configuration into its tasks (nothing is run or written).

    Every scenario is built (configuration validated, cells compiled, design built) so that a bad value
    is one :class:`ConfigError` naming the parameter and the scenario before any output exists.
    """
    from ..errors import read_text_file
    from ..pack.layout import PackLayout
    from ..pack.variation import Distribution, Variation
    from ..sim import SimulationOptions
    from ..studies.compare import Design
    from ..studies.sweep import PackScenario, SweepTask, scenario_rng
    from .config import _check_experiment

    p = Path(path)
    text = read_text_file(p, "a sweep configuration (TOML)")
    raw = read_toml(p, "a sweep configuration (TOML)")
    sweep_raw = raw.pop("sweep", None)
    if sweep_raw is None:
        raise ConfigError(f"{p}: a sweep needs a [sweep] table (with [sweep.grid] and/or [sweep.random]); see "
                          "cellbalance.io.sweep.")
    try:
        sec = SweepSection.model_validate(sweep_raw)
    except ValidationError as e:
        raise ConfigError(validation_message(e, f"{p} [sweep]")) from None
    try:
        base = PackRunConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(validation_message(e, str(p))) from None
    base.read_profiles(p.parent)
    _check_experiment(base, p)
    for name, values in sec.grid.items():
        check_parameter_name(name, f"{p} [sweep.grid]")
        if len(values) == 0:
            raise ConfigError(f"{p} [sweep.grid]: {name!r} has an empty list of values; give at least one value "
                              "(or remove it).")
    dists: dict[str, Distribution] = {}
    for name, spec in sec.random.items():
        check_parameter_name(name, f"{p} [sweep.random]")
        if name in sec.grid:
            raise ConfigError(f"{p}: {name!r} is both in [sweep.grid] and [sweep.random]; give it in one.")
        try:
            dists[name] = Distribution(**spec)
        except TypeError:
            raise ConfigError(f"{p} [sweep.random] {name!r}: expected a table with keys kind, mean, sigma, low, "
                              f"high; got {spec!r}.") from None
        except CellBalanceError as e:
            raise ConfigError(f"{p} [sweep.random] {name!r}: {e}") from None
    from ..analysis.sweep import METRICS, RECORD_VARIABLES

    if sec.metric not in METRICS:
        raise ConfigError(f"{p} [sweep] metric = {sec.metric!r} is not a sweep metric; allowed: {list(METRICS)}.")
    n_packs = base.pack.n_packs
    ppt = min(sec.packs_per_task or min(n_packs, 32), n_packs)
    names = list(sec.grid) + list(dists)
    combos = list(itertools.product(*sec.grid.values())) if sec.grid else [()]
    tasks: list[SweepTask] = []
    built: dict[str, PackScenario] = {}
    sid = 0
    for combo in combos:
        for _ in range(sec.samples if dists else 1):
            rng = scenario_rng(base.seed, sid)
            drawn = {k: float(d.draw(rng, 1)[0][0]) for k, d in dists.items()}
            values = dict(zip(sec.grid, combo, strict=True)) | drawn
            shown = {k: _display(v) for k, v in values.items()}
            where = f"{p}: scenario {sid} ({', '.join(f'{k} = {v!r}' for k, v in shown.items()) or 'the base'})"
            d = base.model_dump(exclude_unset=True, by_alias=True)
            for k, v in values.items():
                _set(d, k, v)
            key = json.dumps(d, sort_keys=True, default=str)
            try:
                cfg = PackRunConfig.model_validate(d)
            except ValidationError as e:
                raise ConfigError(validation_message(e, where)) from None
            if key not in built:
                try:
                    cfg.read_profiles(p.parent)
                    params = cfg.parameters(p.parent)
                    var = Variation.from_dict(cfg.variation)
                    exp = cfg.build_experiment()
                    design = cfg.balancing.build(cfg.pack.n_series) if cfg.balancing is not None else Design()
                    opts = SimulationOptions(record_every=cfg.output.record_every, record_variables=RECORD_VARIABLES)
                    ini = cfg.initial
                    sc = PackScenario(params=params, experiment=exp, n_series=cfg.pack.n_series,
                                      n_parallel=cfg.pack.n_parallel, interconnect_ohm=cfg.pack.interconnect_ohm,
                                      variation=var, design=design, mean_soc=ini.soc,
                                      temperature_K=None if ini.temperature_C is None else ini.temperature_C + KELVIN,
                                      mean_hysteresis=ini.hysteresis, options=opts)
                    from ..sim.guards import check_run_size, check_steps

                    check_steps(exp, params)
                    if check_size:
                        check_run_size(params, PackLayout(cfg.pack.n_series, cfg.pack.n_parallel, ppt), exp, opts,
                                       streaming=False, what=f"{where}: a task of {ppt} packs")
                except CellBalanceError as e:
                    raise ConfigError(f"{where}: {e}") from None
                built[key] = sc
            for first in range(0, n_packs, ppt):
                tasks.append(SweepTask(index=len(tasks), scenario_id=sid, first_pack=first,
                                       n_packs=min(ppt, n_packs - first), params=shown, scenario=built[key]))
            sid += 1
    key = json.dumps({**raw, "sweep": sweep_raw}, sort_keys=True, default=str)  # comments and layout do not count
    return SweepRun(path=p, text=text, key=key, seed=base.seed, section=sec, base=base, params=names, tasks=tasks)


def write_sweep_outputs(run: SweepRun, table, out_dir: str | Path) -> list[Path]:
    """The complete sweep's files: ``NAME.parquet`` (the tidy table, with the configuration and version
    in its metadata), ``NAME_summary.csv`` (per scenario), ``NAME_sensitivity.csv`` and ``.png``.
    Each written under a temporary name and renamed into place."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..sim.results import _version

    __version__ = _version()
    from ..analysis.sweep import plot_sensitivity, scenario_summary, sensitivity

    out = Path(out_dir)
    name = run.base.output.name
    files = []
    meta = {"kind": "sweep", "version": __version__, "config": run.text, "config_file": str(run.path),
            "seed": run.seed, "metric": run.section.metric, "params": run.params, "grid": list(run.section.grid)}
    tab = pa.Table.from_pandas(table, preserve_index=False)
    tab = tab.replace_schema_metadata({**(tab.schema.metadata or {}), b"cellbalance": json.dumps(meta).encode()})

    def atomic(path: Path, write):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        write(tmp)
        os.replace(tmp, path)
        files.append(path)

    atomic(out / f"{name}.parquet", lambda t: pq.write_table(tab, t))
    summ = scenario_summary(table, run.params)
    atomic(out / f"{name}_summary.csv", lambda t: summ.to_csv(t, index=False, float_format="%.9g"))
    sens = sensitivity(table, run.section.metric, run.params, list(run.section.grid))
    atomic(out / f"{name}_sensitivity.csv", lambda t: sens.to_csv(t, index=False, float_format="%.9g"))
    fig = plot_sensitivity(table, run.section.metric, sens)
    atomic(out / f"{name}_sensitivity.png", lambda t: fig.savefig(t, dpi=100, format="png"))
    return files


def read_sweep_table(path: str | Path):
    """A sweep's Parquet table and its metadata (``{}`` when it has none)."""
    import pyarrow.parquet as pq

    p = Path(path)
    try:
        t = pq.read_table(p)
    except Exception as e:
        raise ConfigError(f"{p}: not a readable Parquet file ({type(e).__name__}: {e}).") from None
    raw = (t.schema.metadata or {}).get(b"cellbalance")
    meta = json.loads(raw) if raw else {}
    return t.to_pandas(), meta
