"""Parameters of the equivalent-circuit cell model: typed, validated at construction, immutable."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ParameterError, check_range, warn_if_celsius
from . import kernels as K
from .tables import Table, TableBank

__all__ = ["CellParameters", "CompiledCells", "RCPair", "ThermalParameters"]

GAS_CONSTANT = 8.314462618  # J/(mol K)


@dataclass(frozen=True, eq=False)
class RCPair:
    """One polarization branch: resistance ``r`` [Ohm] and capacitance ``c`` [F] tables.

    The time constant is tau = R*C; R carries the Arrhenius factor of
    ``CellParameters.activation_energy_rc_J_per_mol`` so tau falls with temperature as R does.
    """

    r: Table
    c: Table

    @classmethod
    def constant(cls, r_ohm: float, tau_s: float) -> RCPair:
        return cls(Table.constant(r_ohm, "r"), Table.constant(tau_s / r_ohm, "c"))


@dataclass(frozen=True)
class ThermalParameters:
    """Lumped thermal model: a cell node, optionally a second (case, jig or module) node.

    Without a second node: ``heat_capacity * dT/dt = P - cooling * (T - T_amb)``.
    With one (``jig_heat_capacity_J_per_K > 0``), ``cooling_W_per_K`` links cell to jig and
    ``jig_cooling_W_per_K`` links jig to ambient, as in PyBaMM's Thevenin thermal submodel.
    """

    heat_capacity_J_per_K: float
    cooling_W_per_K: float
    jig_heat_capacity_J_per_K: float = 0.0
    jig_cooling_W_per_K: float = 0.0

    def __post_init__(self) -> None:
        o = "ThermalParameters"
        check_range(o, "heat_capacity_J_per_K", self.heat_capacity_J_per_K, gt=0)
        check_range(o, "cooling_W_per_K", self.cooling_W_per_K, ge=0)
        check_range(o, "jig_heat_capacity_J_per_K", self.jig_heat_capacity_J_per_K, ge=0)
        check_range(o, "jig_cooling_W_per_K", self.jig_cooling_W_per_K, ge=0)
        if self.has_jig and (self.jig_cooling_W_per_K <= 0 or self.cooling_W_per_K <= 0):
            raise ParameterError(
                f"{o}: with a second node (jig_heat_capacity_J_per_K={self.jig_heat_capacity_J_per_K:g}) "
                f"both cooling_W_per_K and jig_cooling_W_per_K must be > 0; got "
                f"{self.cooling_W_per_K:g} and {self.jig_cooling_W_per_K:g}."
            )

    @property
    def has_jig(self) -> bool:
        return self.jig_heat_capacity_J_per_K > 0


@dataclass(frozen=True, eq=False)
class CellParameters:
    """Enhanced self-correcting equivalent-circuit cell (Plett 2004) with a lumped thermal model.

    Terminal voltage (current ``I`` positive = charging)::

        V = U(z, T) + M(z, T) h + M0 s + I R0(T, I, z) + sum_j v_j
        U(z, T) = U0(z) + (T - T_ref) dU/dT(z)          (if ocv_includes_entropic)

    See ``docs/models.md`` for every equation, its discretisation and its source; each parameter
    set names its own source in ``source``.
    """

    name: str
    source: str
    capacity_Ah: float
    ocv: Table
    r0: Table
    rc: tuple[RCPair, ...] = ()
    entropic_coefficient: Table = field(default_factory=lambda: Table.constant(0.0, "entropic_coefficient"))
    ocv_includes_entropic: bool = True
    ocv_reference_temperature_K: float = 298.15
    activation_energy_r0_J_per_mol: float = 0.0
    activation_energy_rc_J_per_mol: float = 0.0
    arrhenius_reference_K: float = 298.15
    hysteresis_rate: float = 0.0
    hysteresis_magnitude: Table = field(default_factory=lambda: Table.constant(0.0, "hysteresis_magnitude"))
    hysteresis_instantaneous_V: float = 0.0
    hysteresis_current_threshold_A: float = 1e-3
    coulombic_efficiency: float = 1.0
    self_discharge_A: float = 0.0
    thermal: ThermalParameters = field(
        default_factory=lambda: ThermalParameters(heat_capacity_J_per_K=100.0, cooling_W_per_K=0.5)
    )
    v_min: float = 2.5
    v_max: float = 4.2
    t_max_K: float = 333.15
    initial_soc: float = 0.5
    ambient_K: float = 298.15

    def __post_init__(self) -> None:
        o = f"CellParameters({self.name!r})"
        check_range(o, "capacity_Ah", self.capacity_Ah, gt=0, le=1e5)
        self.ocv.covers_soc(o)
        ocv_nodes = self.ocv.values[..., (self.ocv.soc >= 0) & (self.ocv.soc <= 1)]
        if np.any(np.diff(ocv_nodes, axis=-1) <= 0):
            raise ParameterError(f"{o}.ocv must increase strictly with SOC over [0, 1] (needed for z(U)).")
        self.r0.require_positive(o)
        if not isinstance(self.rc, tuple):
            object.__setattr__(self, "rc", tuple(self.rc))
        for j, pair in enumerate(self.rc):
            pair.r.require_positive(f"{o}.rc[{j}]")
            pair.c.require_positive(f"{o}.rc[{j}]")
        check_range(o, "ocv_reference_temperature_K", self.ocv_reference_temperature_K, gt=0)
        check_range(o, "activation_energy_r0_J_per_mol", self.activation_energy_r0_J_per_mol, ge=0, le=2e5)
        check_range(o, "activation_energy_rc_J_per_mol", self.activation_energy_rc_J_per_mol, ge=0, le=2e5)
        check_range(o, "arrhenius_reference_K", self.arrhenius_reference_K, gt=0)
        check_range(o, "hysteresis_rate", self.hysteresis_rate, ge=0)
        if np.any(self.hysteresis_magnitude.values < 0):
            raise ParameterError(f"{o}.hysteresis_magnitude must be >= 0 everywhere in its table.")
        check_range(o, "hysteresis_instantaneous_V", self.hysteresis_instantaneous_V, ge=0, le=1)
        check_range(o, "hysteresis_current_threshold_A", self.hysteresis_current_threshold_A, ge=0)
        check_range(o, "coulombic_efficiency", self.coulombic_efficiency, gt=0, le=1)
        check_range(o, "self_discharge_A", self.self_discharge_A, ge=0)
        check_range(o, "v_min", self.v_min, gt=0)
        check_range(o, "v_max", self.v_max, gt=self.v_min)
        check_range(o, "t_max_K", self.t_max_K, gt=0)
        check_range(o, "initial_soc", self.initial_soc, ge=0, le=1)
        check_range(o, "ambient_K", self.ambient_K, gt=0)
        for name in ("ambient_K", "t_max_K", "ocv_reference_temperature_K", "arrhenius_reference_K"):
            warn_if_celsius(f"{o}.{name}", getattr(self, name))

    # ------------------------------------------------------------------------------------------
    @property
    def n_rc(self) -> int:
        return len(self.rc)

    @property
    def capacity_As(self) -> float:
        return self.capacity_Ah * 3600.0

    def replace(self, **changes) -> CellParameters:
        """A copy with some fields changed (validated again; see :meth:`with_overrides` for the values
        each field takes, e.g. a number for a table field)."""
        return self.with_overrides(changes)

    def compile(self, n: int = 1, **per_cell) -> CompiledCells:
        """Arrays the kernels read, for ``n`` cells of this type.

        Keyword arrays (broadcast to (n,)) override per cell: ``capacity_Ah``, ``r0_scale``,
        ``rc_r_scale`` and ``rc_c_scale`` (shape (n,) or (n, n_rc)), ``coulombic_efficiency``,
        ``self_discharge_A``, ``hysteresis_scale``, ``heat_capacity_J_per_K``, ``cooling_W_per_K``.
        """
        return CompiledCells.build(self, n, **per_cell)

    # ---- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        d: dict = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Table):
                d[f.name] = v.to_dict()
            elif f.name == "rc":
                d["rc"] = [{"r": p.r.to_dict(), "c": p.c.to_dict()} for p in v]
            elif isinstance(v, ThermalParameters):
                d["thermal"] = dataclasses.asdict(v)
            else:
                d[f.name] = v
        return d

    def with_overrides(self, changes: dict, base_dir: Path | None = None) -> CellParameters:
        """A copy with ``changes`` applied to any field, validated as a parameter file is: a table field
        takes a table (``{soc = [...], values = [...]}``, ``{file = "r0.csv"}``) or a number (a constant
        table); ``thermal`` takes a table of the ThermalParameters fields to change; ``rc`` a list of
        ``{r = ..., c = ...}`` (each a table or a number)."""
        if not isinstance(changes, dict):
            raise ParameterError(f"overrides must be a table of field = value; got {changes!r}.")
        _check_names(changes, "CellParameters has no field(s) {bad}; closest: {hints}.")
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for k, v in changes.items():
            kw[k] = _coerce_field(k, v, base_dir, current=kw[k])
        return type(self)(**kw)

    @classmethod
    def from_dict(cls, d: dict, base_dir: Path | None = None) -> CellParameters:
        """Build from a mapping (as read from TOML). Tables may be inline, a number (constant) or
        ``{file = "x.csv"}``; every value is type-checked and named in the error."""
        if not isinstance(d, dict):
            raise ParameterError(f"cell parameters: expected a table of parameters; got {d!r}.")
        _check_names(d, "cell parameters: unknown key(s) {bad}; closest matches {hints}.")
        kw = {k: _coerce_field(k, v, base_dir) for k, v in d.items()}
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                   and f.name not in kw]
        if missing:
            raise ParameterError(f"cell parameters: missing required key(s) {missing}.")
        return cls(**kw)

    @classmethod
    def from_toml(cls, path: str | Path) -> CellParameters:
        import tomllib

        from ..errors import read_text_file

        p = Path(path)
        what = "a TOML file of cell parameters ([cell] table)"
        text = read_text_file(p, what, ParameterError)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ParameterError(f"{p}: not valid TOML ({e}); expected {what}.") from None
        try:
            return cls.from_dict(data.get("cell", data), base_dir=p.parent)
        except ParameterError as e:
            raise ParameterError(f"{p}: {e}") from None

    def to_toml(self, path: str | Path) -> None:
        import tomli_w

        Path(path).write_text(tomli_w.dumps({"cell": self.to_dict()}))


_FIELD_KIND = {"name": "str", "source": "str", "ocv": "table", "r0": "table", "entropic_coefficient": "table",
               "hysteresis_magnitude": "table", "rc": "rc", "thermal": "thermal", "ocv_includes_entropic": "bool"}


def _check_names(d: dict, template: str) -> None:
    names = [f.name for f in dataclasses.fields(CellParameters)]
    unknown = sorted(str(k) for k in set(d) - set(names))
    if unknown:
        import difflib

        hints = {u: difflib.get_close_matches(u, names, 1) for u in unknown}
        raise ParameterError(template.format(bad=unknown, hints=hints))


def _is_number(v) -> bool:
    return isinstance(v, int | float | np.number) and not isinstance(v, bool)


def _coerce_field(name: str, v, base_dir: Path | None, current=None):
    """One field of CellParameters from a config value (type checked; ranges are checked by the class)."""
    kind = _FIELD_KIND.get(name, "float")
    where = f"cell parameters.{name}"
    if kind == "str":
        if not isinstance(v, str):
            raise ParameterError(f"{where} must be text; got {v!r}.")
        return v
    if kind == "bool":
        if not isinstance(v, bool | np.bool_):
            raise ParameterError(f"{where} must be true or false; got {v!r}.")
        return bool(v)
    if kind == "float":
        if not _is_number(v):
            raise ParameterError(f"{where} must be a number; got {v!r}.")
        return float(v)
    if kind == "table":
        return _table_from_spec(v, name, base_dir)
    if kind == "thermal":
        if isinstance(v, ThermalParameters):
            return v
        if not isinstance(v, dict):
            raise ParameterError(f"{where} must be a table like {{cooling_W_per_K = 0.5}}; got {v!r}.")
        fields = [f.name for f in dataclasses.fields(ThermalParameters)]
        bad = sorted(str(k) for k in set(v) - set(fields))
        if bad:
            raise ParameterError(f"{where}: unknown key(s) {bad}; allowed {fields}.")
        for k, x in v.items():
            if not _is_number(x):
                raise ParameterError(f"{where}.{k} must be a number; got {x!r}.")
        base = dataclasses.asdict(current) if isinstance(current, ThermalParameters) else {}
        try:
            return ThermalParameters(**{**base, **{k: float(x) for k, x in v.items()}})
        except TypeError as e:
            raise ParameterError(f"{where}: {e}") from None
    # rc: a list of pairs
    if isinstance(v, tuple) and all(isinstance(p, RCPair) for p in v):
        return v
    if not isinstance(v, list | tuple):
        raise ParameterError(f"{where} must be a list of {{r = ..., c = ...}} tables; got {v!r}.")
    pairs = []
    for j, p in enumerate(v):
        if isinstance(p, RCPair):
            pairs.append(p)
            continue
        if not isinstance(p, dict) or set(p) != {"r", "c"}:
            raise ParameterError(f"{where}[{j}] must be a table with exactly the keys 'r' and 'c'; got {p!r}.")
        pairs.append(RCPair(_table_from_spec(p["r"], f"rc[{j}].r", base_dir),
                            _table_from_spec(p["c"], f"rc[{j}].c", base_dir)))
    return tuple(pairs)


def _table_from_spec(spec, name: str, base_dir: Path | None) -> Table:
    if isinstance(spec, Table):
        return spec
    if _is_number(spec):
        return Table.constant(float(spec), name)
    if not isinstance(spec, dict):
        raise ParameterError(f"cell parameters.{name}: expected a number (a constant table), a table "
                             f"{{soc = [...], values = [...]}} or {{file = \"x.csv\"}}; got {spec!r}.")
    if "file" in spec:
        if set(spec) != {"file"} or not isinstance(spec["file"], str):
            raise ParameterError(f"cell parameters.{name}: a file table is {{file = \"x.csv\"}} alone; got {spec!r}.")
        return _table_from_csv(Path(base_dir or ".") / spec["file"], name)
    try:
        return Table.from_dict(spec, name=name)
    except ParameterError as e:
        raise ParameterError(f"cell parameters.{name}: {e}") from None


def _table_from_csv(path: Path, name: str) -> Table:
    """Long-format CSV: columns ``soc`` and ``value``, optionally ``temperature_K`` and ``current_A``."""
    import io

    import pandas as pd

    from ..errors import numeric_column, read_text_file

    what = "a CSV table with columns 'soc' and 'value' (optionally 'temperature_K', 'current_A')"
    text = read_text_file(path, what, ParameterError)
    try:
        df = pd.read_csv(io.StringIO(text), comment="#", skipinitialspace=True)
    except Exception as e:
        raise ParameterError(f"cell parameters.{name}: {path} cannot be read as CSV ({e}); expected {what}.") from None
    df.columns = [str(c).strip() for c in df.columns]
    cols = set(df.columns)
    if not {"soc", "value"} <= cols:
        raise ParameterError(
            f"cell parameters.{name}: {path} must have columns 'soc' and 'value' "
            f"(optionally 'temperature_K', 'current_A'); found {sorted(cols)}."
        )
    keys = [c for c in ("temperature_K", "current_A", "soc") if c in cols]
    for c in [*keys, "value"]:
        df[c] = numeric_column(df, c, f"cell parameters.{name}: {path}", ParameterError)
    df = df.sort_values(keys)
    axes = {k: np.unique(df[k].to_numpy(float)) for k in keys}
    shape = tuple(axes[k].size for k in keys)
    if int(np.prod(shape)) != len(df):
        raise ParameterError(f"cell parameters.{name}: {path} is not a full grid over {keys} "
                             f"({len(df)} rows for a {' x '.join(map(str, shape))} grid).")
    try:
        return Table(
            df["value"].to_numpy(float).reshape(shape),
            temperature_K=axes.get("temperature_K", np.array([298.15])),
            current_A=axes.get("current_A", np.array([0.0])),
            soc=axes["soc"],
            name=name,
        )
    except ParameterError as e:
        raise ParameterError(f"cell parameters.{name}: {path}: {e}") from None


@dataclass(frozen=True, eq=False)
class CompiledCells:
    """The flat arrays the kernels read for ``n`` cells (see ``cell/kernels.py`` for the layout)."""

    params: CellParameters
    cp: np.ndarray
    gp: np.ndarray
    bank: TableBank

    @property
    def n(self) -> int:
        return self.cp.shape[0]

    @property
    def capacity_As(self) -> np.ndarray:
        return self.cp[:, K.C_CAP]

    @classmethod
    def build(cls, p: CellParameters, n: int, **per_cell) -> CompiledCells:
        allowed = {
            "capacity_Ah", "r0_scale", "rc_r_scale", "rc_c_scale", "coulombic_efficiency",
            "self_discharge_A", "hysteresis_scale", "heat_capacity_J_per_K", "cooling_W_per_K",
        }
        bad = sorted(set(per_cell) - allowed)
        if bad:
            raise ParameterError(f"compile(): unknown per-cell override(s) {bad}; allowed {sorted(allowed)}.")
        if int(n) < 1:
            raise ParameterError(f"compile(): n must be >= 1; got {n}.")
        n = int(n)

        def col(key, default):
            v = np.asarray(per_cell.get(key, default), dtype=float)
            try:
                return np.broadcast_to(v, (n,)).astype(float)
            except ValueError:
                raise ParameterError(f"per-cell {key} must have shape ({n},); got {v.shape}.") from None

        o = f"per-cell parameters of {p.name!r}"
        th = p.thermal
        cp = np.zeros((n, K.NCP + 2 * p.n_rc))
        cap_ah = col("capacity_Ah", p.capacity_Ah)
        check_range(o, "capacity_Ah", cap_ah, gt=0)
        cp[:, K.C_CAP] = cap_ah * 3600.0
        cp[:, K.C_ETA] = col("coulombic_efficiency", p.coulombic_efficiency)
        cp[:, K.C_ISD] = col("self_discharge_A", p.self_discharge_A)
        cp[:, K.C_R0S] = col("r0_scale", 1.0)
        cp[:, K.C_GAMMA] = p.hysteresis_rate
        cp[:, K.C_M0] = p.hysteresis_instantaneous_V
        cp[:, K.C_MS] = col("hysteresis_scale", 1.0)
        cp[:, K.C_CTH] = col("heat_capacity_J_per_K", th.heat_capacity_J_per_K)
        cp[:, K.C_GCOOL] = col("cooling_W_per_K", th.cooling_W_per_K)
        cp[:, K.C_CJIG] = th.jig_heat_capacity_J_per_K
        cp[:, K.C_GJIG] = th.jig_cooling_W_per_K
        for key, off in (("rc_r_scale", 0), ("rc_c_scale", 1)):
            v = np.asarray(per_cell.get(key, 1.0), dtype=float)
            if v.ndim == 1 and p.n_rc > 0:
                v = v[:, None]
            try:
                cp[:, K.NCP + off :: 2] = np.broadcast_to(v, (n, p.n_rc))
            except ValueError:
                raise ParameterError(f"per-cell {key} must have shape ({n},) or ({n}, {p.n_rc}); got {v.shape}.") from None
        check_range(o, "coulombic_efficiency", cp[:, K.C_ETA], gt=0, le=1)
        check_range(o, "self_discharge_A", cp[:, K.C_ISD], ge=0)
        check_range(o, "r0_scale", cp[:, K.C_R0S], gt=0)
        check_range(o, "hysteresis_scale", cp[:, K.C_MS], ge=0)
        check_range(o, "heat_capacity_J_per_K", cp[:, K.C_CTH], gt=0)
        check_range(o, "cooling_W_per_K", cp[:, K.C_GCOOL], ge=0)
        if p.n_rc:
            check_range(o, "rc_r_scale / rc_c_scale", cp[:, K.NCP:], gt=0)
        gp = np.zeros(K.NGP)
        gp[K.G_EA0] = p.activation_energy_r0_J_per_mol / GAS_CONSTANT
        gp[K.G_EARC] = p.activation_energy_rc_J_per_mol / GAS_CONSTANT
        gp[K.G_TREF_R] = p.arrhenius_reference_K
        gp[K.G_TREF_OCV] = p.ocv_reference_temperature_K
        gp[K.G_ENTROPIC] = 1.0 if p.ocv_includes_entropic else 0.0
        gp[K.G_ITHRESH] = p.hysteresis_current_threshold_A
        gp[K.G_HASJIG] = 1.0 if th.has_jig else 0.0
        gp[K.G_NRC] = p.n_rc
        tables = [p.ocv, p.entropic_coefficient, p.hysteresis_magnitude, p.r0]
        for pair in p.rc:
            tables += [pair.r, pair.c]
        return cls(p, np.ascontiguousarray(cp), gp, TableBank(tables))
