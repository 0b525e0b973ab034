"""A run built from its configuration, the configuration stored with its results, and the run rebuilt
from a results file.

:func:`build_cell_run` and :func:`build_pack_run` turn a validated configuration into everything
:func:`cellbalance.sim.simulate` needs (cells drawn with the seed, layout, experiment, options,
balancing slots); :meth:`Run.simulate` runs it with the configuration embedded in the results as
global attributes (``config_toml``: the whole validated configuration, defaults included;
``config_kind``; ``config_dir``: where its relative files were read; ``seed``). :func:`rerun` reads a
results file back and runs the same configuration again: the same seed draws the same cells, so the
rows equal the original's (``cellbalance`` is deterministic; a test holds it to 1e-12). Files the
configuration names (``[profiles]`` CSVs, ``cell.file``) are read again from ``config_dir``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import xarray as xr

from ..errors import ConfigError
from .config import KELVIN, CellRunConfig, PackRunConfig

__all__ = ["Run", "build_cell_run", "build_pack_run", "config_attrs", "rerun", "sample_pack"]


@dataclasses.dataclass
class Run:
    """What :func:`cellbalance.sim.simulate` is called with, and the attributes stored with the results."""

    cells: Any
    experiment: Any
    layout: Any
    state: Any
    ambient_K: Any = None
    options: Any = None
    slots: dict = dataclasses.field(default_factory=dict)
    attrs: dict = dataclasses.field(default_factory=dict)
    sampled: Any = None  # the SampledPack of a pack run (capacities for the metrics)

    def simulate(self, *, progress=None, recorder=None) -> xr.Dataset:
        """Run it (``recorder``: e.g. a :class:`~cellbalance.sim.results.NetCDFRecorder` streaming the rows;
        default in memory); the results carry :attr:`attrs`."""
        from ..sim import simulate
        from ..sim.results import Recorder

        rec = Recorder(self.cells, self.layout) if recorder is None else recorder
        rec.attrs.update(self.attrs)
        return simulate(self.cells, self.experiment, layout=self.layout, state=self.state, ambient_K=self.ambient_K,
                        options=self.options, progress=progress, recorder=rec, **self.slots)


def config_attrs(cfg: CellRunConfig | PackRunConfig, base_dir: str | Path) -> dict:
    """The configuration as global attributes of the results (see the module docstring)."""
    import tomli_w

    kind = "pack" if isinstance(cfg, PackRunConfig) else "cell"
    attrs = {"config_kind": kind, "config_dir": str(Path(base_dir).resolve()),
             "config_toml": tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True))}
    if kind == "pack":
        attrs["seed"] = int(cfg.seed)
    return attrs


def build_cell_run(cfg: CellRunConfig, base_dir: str | Path) -> Run:
    """The single-cell run of ``cfg`` (files relative to ``base_dir``)."""
    from ..cell import initial_state
    from ..pack import PackLayout

    p = cfg.parameters(Path(base_dir))
    cells = p.compile(1)
    t0 = None if cfg.initial.temperature_C is None else cfg.initial.temperature_C + KELVIN
    s0 = initial_state(cells, soc=cfg.initial.soc, temperature_K=t0, hysteresis=cfg.initial.hysteresis)
    return Run(cells, cfg.build_experiment(), PackLayout(), s0, options=cfg.simulation.options(),
               attrs=config_attrs(cfg, base_dir))


def sample_pack(cfg: PackRunConfig, base_dir: str | Path):
    """The cells of ``cfg`` drawn with ``cfg.seed`` (a :class:`~cellbalance.pack.variation.SampledPack`)."""
    from ..pack.variation import Variation, sample

    ini = cfg.initial
    return sample(Variation.from_dict(cfg.variation), cfg.parameters(Path(base_dir)), cfg.layout(), seed=cfg.seed,
                  mean_soc=ini.soc, temperature_K=None if ini.temperature_C is None else ini.temperature_C + KELVIN,
                  mean_hysteresis=ini.hysteresis)


def build_pack_run(cfg: PackRunConfig, base_dir: str | Path) -> Run:
    """The pack (or batch) run of ``cfg``: the cells drawn with ``cfg.seed``, the balancing design built."""
    sp = sample_pack(cfg, base_dir)
    lay = cfg.layout()
    d = cfg.balancing.build(lay.n_series) if cfg.balancing is not None else None
    slots = {} if d is None else dict(balancer=d.balancer, controller=d.controller, estimator=d.estimator,
                                      supervisor=d.supervisor)
    return Run(sp.cells, cfg.build_experiment(), lay, sp.initial_state, sp.ambient_K, cfg.options(), slots,
               config_attrs(cfg, base_dir), sp)


def rerun(path: str | Path, *, progress=None) -> xr.Dataset:
    """Run the configuration stored in the results file ``path`` again (in memory) and return the new
    results; the same configuration and seed give the same rows."""
    import tomllib

    from pydantic import ValidationError

    from .config import _check_experiment, validation_message

    p = Path(path)
    with xr.open_dataset(p, decode_times=False) as ds:
        attrs = dict(ds.attrs)
    if "config_toml" not in attrs:
        raise ConfigError(f"{p}: holds no configuration (attribute 'config_toml'); only results written by "
                          "'cellbalance cell' or 'cellbalance simulate' (or io.runs.Run.simulate) can be rerun.")
    kind, base = attrs.get("config_kind"), Path(str(attrs.get("config_dir", p.parent)))
    model = {"pack": PackRunConfig, "cell": CellRunConfig}.get(kind)
    if model is None:
        raise ConfigError(f"{p}: config_kind is {kind!r}; expected 'pack' or 'cell'.")
    try:
        cfg = model.model_validate(tomllib.loads(attrs["config_toml"]))
    except (ValidationError, tomllib.TOMLDecodeError) as e:
        msg = validation_message(e, f"{p} (config_toml)") if isinstance(e, ValidationError) else f"{p}: {e}"
        raise ConfigError(msg) from None
    if kind == "pack":
        cfg.read_profiles(base)
    _check_experiment(cfg, p)
    run = build_pack_run(cfg, base) if kind == "pack" else build_cell_run(cfg, base)
    return run.simulate(progress=progress)
