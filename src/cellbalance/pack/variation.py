"""Cell-to-cell variation, sampled reproducibly, and the presets with their sources.

A :class:`Variation` holds one :class:`Distribution` per varied quantity; :func:`sample` draws every
cell of every pack from a seeded generator and returns the compiled cells, their initial state, the
ambient (coolant) temperature of each cell and the draws themselves.

What is varied, and how a draw ``d`` enters the model
------------------------------------------------------
=======================  =====================================================================
``capacity``             relative: ``Q_i = d_i * Q``
``r0``                   relative: ``r0_scale`` (multiplies the whole R0 table)
``rc_r``, ``rc_c``       relative: ``rc_r_scale``, ``rc_c_scale`` (every RC pair of a cell alike)
``self_discharge``       relative: ``i_sd,i = d_i * i_sd`` (nothing varies if the set's i_sd is 0)
``coulombic_efficiency`` relative on the deficit: ``1 - eta_i = d_i * (1 - eta)``
``initial_soc``          absolute offset from the mean SOC: ``z_i = z_mean + d_i`` (clipped to [0, 1]);
                         drawn once per series element (parallel group) and shared by its cells
                         (``initial_soc_scope = "element"``, the default) or per cell (``"cell"``)
``initial_hysteresis``   absolute offset from the mean hysteresis: ``h_i = h_mean + d_i`` (clipped to
                         [-1, 1]; ``h_mean`` is 0 unless :func:`sample` is given one)
``cooling``              relative: ``G_i = d_i * G`` (cell-to-coolant conductance)
``coolant_gradient_K``   ambient of series element ``s``: ``T_amb + gradient * s / (Ns - 1)``
                         (a linear coolant temperature rise from the inlet, element 0, to the
                         outlet, element Ns - 1; the same in every pack and parallel position)
=======================  =====================================================================

Initial SOC is drawn per element by default because the cells of a parallel group equalise within
minutes (they share one terminal voltage, so any SOC difference drives a circulating current through
their resistances): per-cell draws inside a group would report a "SOC spread at start" that is gone a
quarter of an hour later (96s2p at rest: 5.3 % -> 3.7 % in 15 min). ``initial_soc_scope = "cell"``
keeps per-cell draws (e.g. a group assembled from cells of unequal charge, just connected).

Each quantity has its own random stream (spawned from the seed), so changing one distribution does
not change the draws of the others; the same seed always gives the same pack. Correlations between
quantities (e.g. capacity and resistance) are not modelled: the draws are independent.

Presets and their sources
-------------------------
Measured spreads of fresh cells of one production lot. Large lots have been measured by
T. Baumhöfer, M. Brühl, S. Rothgang, D. U. Sauer, "Production caused variation in capacity aging
trend and correlation to initial cell performance", J. Power Sources 247 (2014) 332-338 (48 cells of
one type, aged under equal conditions: the spread of ageing trends correlates with initial
performance) and P. Rumpf, S. Naumann, A. Jossen, "Experimental investigation of parametric
cell-to-cell variation and correlation based on 1100 commercial lithium-ion cells", J. Energy
Storage 14 (2017) 224-243. L. Wildfeuer and M. Lienkamp, "Quantifiability of inherent cell-to-cell
variations of commercial lithium-ion batteries", eTransportation (2021), summarise such recent
single-lot studies as **capacity variations of 0.2-0.3 % and impedance variations of 0.7-3.8 %**
(their abstract; they show part of the impedance spread is measurement temperature and find 0.17 %
and 0.45 % once corrected). The origins of cell variations and how a pack model accommodates them
(capacity, resistance, initial SOC) follow M. Dubarry, N. Vuillaume, B. Y. Liaw, "Origins and
accommodation of cell variations in Li-ion battery pack modeling", Int. J. Energy Res. 34 (2010)
216-231; a review: "Inhomogeneities and cell-to-cell variations in lithium-ion batteries, a review",
Energies 14 (2021) 3276, doi:10.3390/en14113276.

Which number comes from where (sigma: standard deviation of the relative draw unless noted):

=========================  ==========  ==========  ============  ===========================
quantity                   ``tight``   ``typical`` ``second_life`` source
=========================  ==========  ==========  ============  ===========================
capacity sigma             0.3 %       0.6 %       3 %           tight: the 0.2-0.3 % single-lot
                                                                 figure (Wildfeuer & Lienkamp);
                                                                 typical: our choice, twice that,
                                                                 for a pack of several lots and
                                                                 after first use; second_life:
                                                                 our choice
R0 sigma                   1.5 %       3 %         10 %          tight, typical: inside the
                                                                 0.7-3.8 % range (Wildfeuer &
                                                                 Lienkamp); second_life: ours
RC R and C sigma           1.5 %       3 %         10 % / 5 %    our choice (as R0)
self-discharge (lognormal) 15 %        30 %        60 %          our choice
efficiency deficit sigma   10 %        20 %        50 %          our choice
initial SOC sigma [-]      0.005       0.01        0.03          our choice
cooling sigma              3 %         5 %         8 %           our choice
coolant gradient [K]       1           2           3             our choice
=========================  ==========  ==========  ============  ===========================

``second_life`` (alias ``aged``): repurposed cells from one retired pack; the magnitudes are our
choice, not a measurement -- use measured data for a real second-life study. ``none``: no variation.
Relative draws are clipped at 0.05 (a cell keeps at least 5 % of the nominal value).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..cell import CellParameters, CellState, CompiledCells, initial_state
from ..cell import kernels as K
from ..errors import ParameterError, UnknownNameError, check_range, warn
from .layout import PackLayout

__all__ = ["QUANTITIES", "Distribution", "SampledPack", "Variation", "available_presets", "preset", "sample"]

Kind = Literal["normal", "lognormal", "uniform", "fixed"]
KINDS = ("normal", "lognormal", "uniform", "fixed")

#: the per-cell quantities a Variation draws, in the order their random streams are spawned
QUANTITIES = ("capacity", "r0", "rc_r", "rc_c", "self_discharge", "coulombic_efficiency", "initial_soc",
              "initial_hysteresis", "cooling")


@dataclass(frozen=True)
class Distribution:
    """The spread of one quantity: ``kind``, ``mean``, ``sigma`` and optional clip bounds.

    * ``normal``: ``mean + sigma * N(0, 1)``
    * ``lognormal``: ``mean * exp(sigma * N(0, 1) - sigma^2 / 2)`` (the mean is kept; ``mean > 0``)
    * ``uniform``: ``mean + sigma * sqrt(12) * (U(0, 1) - 1/2)`` (``sigma`` is the standard deviation)
    * ``fixed``: ``mean`` for every cell

    For the multiplicative quantities (mean 1) ``sigma`` is the relative spread. Draws are clipped
    to ``[low, high]`` where given; :attr:`SampledPack.clipped` counts the clipped draws.
    """

    kind: Kind = "normal"
    mean: float = 1.0
    sigma: float = 0.0
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        o = "Distribution"
        if self.kind not in KINDS:
            close = difflib.get_close_matches(str(self.kind), KINDS, 1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ParameterError(f"{o}.kind must be one of {', '.join(KINDS)}; got {self.kind!r}.{hint}")
        for name in ("mean", "sigma", "low", "high"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float | np.number)):
                raise ParameterError(f"{o}.{name} must be a number; got {v!r}.")
        check_range(o, "sigma", self.sigma, ge=0)
        if self.kind == "lognormal":
            check_range(o, "mean", self.mean, gt=0)
        else:
            check_range(o, "mean", self.mean)
        if self.low is not None:
            check_range(o, "low", self.low)
        if self.high is not None:
            check_range(o, "high", self.high)
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ParameterError(f"{o}: low ({self.low:g}) must be < high ({self.high:g}).")
        if (self.low is not None and self.mean < self.low) or (self.high is not None and self.mean > self.high):
            raise ParameterError(f"{o}.mean ({self.mean:g}) must lie within the clip bounds "
                                 f"[{self.low if self.low is not None else '-inf'}, "
                                 f"{self.high if self.high is not None else 'inf'}].")

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, int]:
        """``n`` draws (clipped) and the number of draws that were clipped."""
        if self.kind == "fixed" or self.sigma == 0.0:
            v = np.full(n, float(self.mean))
        elif self.kind == "normal":
            v = self.mean + self.sigma * rng.standard_normal(n)
        elif self.kind == "lognormal":
            v = self.mean * np.exp(self.sigma * rng.standard_normal(n) - 0.5 * self.sigma**2)
        else:
            v = self.mean + self.sigma * math.sqrt(12.0) * (rng.random(n) - 0.5)
        lo = -np.inf if self.low is None else self.low
        hi = np.inf if self.high is None else self.high
        clipped = int(np.count_nonzero((v < lo) | (v > hi)))
        return np.clip(v, lo, hi), clipped


def _rel(sigma: float, kind: Kind = "normal") -> Distribution:
    """A relative (mean 1) spread, clipped at 5 % of the nominal value."""
    return Distribution(kind=kind, mean=1.0, sigma=sigma, low=0.05)


def _soc(sigma: float) -> Distribution:
    return Distribution(mean=0.0, sigma=sigma)


def _hyst(sigma: float = 0.0) -> Distribution:
    return Distribution(mean=0.0, sigma=sigma, low=-1.0, high=1.0)


@dataclass(frozen=True)
class Variation:
    """Cell-to-cell spreads (see the module docstring for how each draw enters the model).

    Relative quantities multiply the parameter set's value (mean 1): ``capacity``, ``r0``, ``rc_r``,
    ``rc_c``, ``self_discharge``, ``cooling``; ``coulombic_efficiency`` multiplies the deficit
    ``1 - eta``. Absolute: ``initial_soc`` (offset from the mean SOC) and ``initial_hysteresis``
    (h). ``coolant_gradient_K``: ambient rise from the first to the last series element [K].
    ``initial_soc_scope``: "element" (one initial-SOC draw per parallel group, default) or "cell".
    The default is no variation at all.
    """

    capacity: Distribution = field(default_factory=lambda: _rel(0.0))
    r0: Distribution = field(default_factory=lambda: _rel(0.0))
    rc_r: Distribution = field(default_factory=lambda: _rel(0.0))
    rc_c: Distribution = field(default_factory=lambda: _rel(0.0))
    self_discharge: Distribution = field(default_factory=lambda: _rel(0.0, "lognormal"))
    coulombic_efficiency: Distribution = field(default_factory=lambda: _rel(0.0))
    initial_soc: Distribution = field(default_factory=lambda: _soc(0.0))
    initial_hysteresis: Distribution = field(default_factory=_hyst)
    cooling: Distribution = field(default_factory=lambda: _rel(0.0))
    coolant_gradient_K: float = 0.0
    initial_soc_scope: str = "element"

    def __post_init__(self) -> None:
        for name in QUANTITIES:
            if not isinstance(getattr(self, name), Distribution):
                raise ParameterError(f"Variation.{name} must be a Distribution; got {getattr(self, name)!r}.")
        if isinstance(self.coolant_gradient_K, bool) or not isinstance(self.coolant_gradient_K, int | float | np.number):
            raise ParameterError(f"Variation.coolant_gradient_K must be a number [K]; got {self.coolant_gradient_K!r}.")
        check_range("Variation", "coolant_gradient_K", self.coolant_gradient_K, ge=-100, le=100)
        if self.initial_soc_scope not in ("element", "cell"):
            raise ParameterError(f"Variation.initial_soc_scope must be 'element' (one draw per parallel group, "
                                 f"the default) or 'cell'; got {self.initial_soc_scope!r}.")

    @classmethod
    def from_dict(cls, d: dict) -> Variation:
        """From a config mapping (e.g. the ``[variation]`` table of a TOML file).

        ``{preset = "typical", capacity = {sigma = 0.01}, self_discharge = {kind = "uniform"},
        coolant_gradient_K = 3}``: start from the preset (default: no variation) and change the
        given fields of the given quantities. Unknown keys are refused with the allowed ones.
        """
        if not isinstance(d, dict):
            raise ParameterError(f"variation: expected a table of settings; got {d!r}.")
        d = dict(d)
        names = (*QUANTITIES, "coolant_gradient_K", "initial_soc_scope")
        allowed_top = sorted((*names, "preset"))
        base = cls()
        if "preset" in d:
            name = d.pop("preset")
            if not isinstance(name, str):
                raise ParameterError(f"variation.preset must be a preset name (one of {available_presets()}); got {name!r}.")
            base = preset(name)
        dist_fields = [f.name for f in dataclasses.fields(Distribution)]
        changes = {}
        for k, v in d.items():
            if k not in names:
                close = difflib.get_close_matches(str(k), allowed_top, 1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ParameterError(f"variation: unknown key {k!r}; allowed {allowed_top}.{hint}")
            if k in ("coolant_gradient_K", "initial_soc_scope"):
                changes[k] = v
                continue
            if not isinstance(v, dict):
                raise ParameterError(f"variation.{k} must be a table like {{sigma = 0.01}} with keys "
                                     f"{dist_fields}; got {v!r}.")
            bad = sorted(set(v) - set(dist_fields))
            if bad:
                hints = {b: difflib.get_close_matches(str(b), dist_fields, 1) for b in bad}
                raise ParameterError(f"variation.{k}: unknown key(s) {bad}; allowed {dist_fields} "
                                     f"(closest: {hints}).")
            try:
                changes[k] = dataclasses.replace(getattr(base, k), **v)
            except ParameterError as e:
                raise ParameterError(f"variation.{k}: {e}") from None
        try:
            return dataclasses.replace(base, **changes)
        except ParameterError as e:
            raise ParameterError(f"variation: {e}") from None


def _presets() -> dict[str, Variation]:
    second_life = Variation(
        capacity=_rel(0.03), r0=_rel(0.10), rc_r=_rel(0.10), rc_c=_rel(0.05),
        self_discharge=_rel(0.6, "lognormal"), coulombic_efficiency=_rel(0.5),
        initial_soc=_soc(0.03), cooling=_rel(0.08), coolant_gradient_K=3.0)
    return {
        "none": Variation(),
        "tight": Variation(
            capacity=_rel(0.003), r0=_rel(0.015), rc_r=_rel(0.015), rc_c=_rel(0.015),
            self_discharge=_rel(0.15, "lognormal"), coulombic_efficiency=_rel(0.1),
            initial_soc=_soc(0.005), cooling=_rel(0.03), coolant_gradient_K=1.0),
        "typical": Variation(
            capacity=_rel(0.006), r0=_rel(0.03), rc_r=_rel(0.03), rc_c=_rel(0.03),
            self_discharge=_rel(0.3, "lognormal"), coulombic_efficiency=_rel(0.2),
            initial_soc=_soc(0.01), cooling=_rel(0.05), coolant_gradient_K=2.0),
        "second_life": second_life,
        "aged": second_life,
    }


def available_presets() -> list[str]:
    return sorted(_presets())


def preset(name: str) -> Variation:
    """``none``, ``tight``, ``typical``, ``second_life`` (alias ``aged``); sources: module docstring."""
    presets = _presets()
    try:
        return presets[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), presets, 1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"Unknown variation preset {name!r}; available: {sorted(presets)}.{hint}") from None


def _warn_clipped(variation: Variation, clipped: dict[str, int], n: int) -> None:
    """Warn for each quantity whose draws were clipped: those cells do not follow the distribution given.
    A few clipped tail draws (at most 5 %, sigma < 1) are the bounds doing their job and pass quietly."""
    for name, count in clipped.items():
        d = getattr(variation, name)
        if not count or (count <= 0.05 * n and d.sigma < 1.0):
            continue
        bounds = {"initial_soc": "[0, 1] (after adding the mean SOC)",
                  "initial_hysteresis": "[-1, 1] (after adding the mean hysteresis)"}.get(
            name, f"[{'-inf' if d.low is None else f'{d.low:g}'}, {'inf' if d.high is None else f'{d.high:g}'}]")
        slip = (f" A spread given in percent instead of as a fraction (sigma = {d.sigma / 100:g} for "
                f"{d.sigma:g} %)?" if d.sigma >= 1.0 and d.mean != 0 else "")
        warn(f"variation.{name}: {count} of {n} draws (sigma = {d.sigma:g}) were clipped to {bounds}, so those cells "
             f"sit at the bound instead of following the distribution.{slip}", stacklevel=3)


@dataclass(frozen=True, eq=False)
class SampledPack:
    """What :func:`sample` drew.

    cells : the compiled cells with their per-cell values (pass to :func:`cellbalance.sim.simulate`)
    initial_state : rested cells at the drawn SOC and hysteresis, at their ambient temperature (or the
        ``temperature_K`` given to :func:`sample`)
    ambient_K : (n_cells,) coolant temperature of each cell [K] (pass as ``ambient_K``)
    capacity_Ah : (n_cells,) drawn capacities [Ah]
    draws : the raw draw of each quantity, (n_cells,) arrays keyed as in :data:`QUANTITIES`
    clipped : how many draws of each quantity were clipped (``initial_soc`` also counts SOCs
        clipped to [0, 1])
    """

    cells: CompiledCells
    initial_state: CellState
    ambient_K: np.ndarray
    capacity_Ah: np.ndarray
    draws: dict[str, np.ndarray]
    clipped: dict[str, int]
    layout: PackLayout | None = None
    seed: int | None = None

    @property
    def self_discharge_A(self) -> np.ndarray:
        return self.cells.cp[:, K.C_ISD].copy()

    @property
    def coulombic_efficiency(self) -> np.ndarray:
        return self.cells.cp[:, K.C_ETA].copy()

    @property
    def initial_soc(self) -> np.ndarray:
        return self.initial_state.x[:, K.X_Z].copy()


def sample(variation: Variation, params: CellParameters, layout: PackLayout, seed: int = 0,
           mean_soc: float | None = None, ambient_K: float | None = None, *,
           temperature_K: float | None = None, mean_hysteresis: float = 0.0) -> SampledPack:
    """Draw every cell of ``layout`` (reproducible: the same seed gives the same pack).

    Parameters
    ----------
    variation : the spreads (:class:`Variation` or a :func:`preset`)
    params : the cell type; the draws scale its values per cell (``params.compile(n, **per_cell)``)
    layout : cells are ordered (pack, series, parallel)
    seed : seed of :class:`numpy.random.SeedSequence`; each quantity gets its own spawned stream
    mean_soc : mean initial SOC (default ``params.initial_soc``)
    ambient_K : coolant temperature at the inlet (element 0) [K] (default ``params.ambient_K``)
    temperature_K : initial temperature of every cell [K] (default: each cell's ambient)
    mean_hysteresis : mean initial hysteresis state in [-1, 1]; each cell adds its
        ``initial_hysteresis`` draw and is clipped to [-1, 1] (counted in ``clipped``)
    """
    if not isinstance(variation, Variation):
        raise ParameterError(f"sample(): variation must be a Variation (see preset()); got {type(variation).__name__}.")
    if not isinstance(layout, PackLayout):
        raise ParameterError(f"sample(): layout must be a PackLayout; got {type(layout).__name__}.")
    n = layout.n_cells
    streams = np.random.SeedSequence(seed).spawn(len(QUANTITIES))
    draws: dict[str, np.ndarray] = {}
    clipped: dict[str, int] = {}
    for name, ss in zip(QUANTITIES, streams, strict=True):
        if name == "initial_soc" and variation.initial_soc_scope == "element":
            # one draw per parallel group, shared by its cells (they equalise within minutes)
            d, clipped[name] = variation.initial_soc.draw(np.random.default_rng(ss), n // layout.n_parallel)
            draws[name] = np.repeat(d, layout.n_parallel)
        else:
            draws[name], clipped[name] = getattr(variation, name).draw(np.random.default_rng(ss), n)

    eta = 1.0 - (1.0 - params.coulombic_efficiency) * draws["coulombic_efficiency"]
    if np.any(eta <= 0) or np.any(eta > 1):
        bad = eta[(eta <= 0) | (eta > 1)][0]
        raise ParameterError(f"variation.coulombic_efficiency: a drawn efficiency is {bad:g}, outside (0, 1]; "
                             f"reduce sigma or clip the deficit factor (low >= 0, high <= "
                             f"{1.0 / max(1.0 - params.coulombic_efficiency, 1e-300):.4g}).")
    cap = params.capacity_Ah * draws["capacity"]
    try:
        cells = params.compile(
            n,
            capacity_Ah=cap,
            r0_scale=draws["r0"],
            rc_r_scale=draws["rc_r"],
            rc_c_scale=draws["rc_c"],
            self_discharge_A=params.self_discharge_A * draws["self_discharge"],
            coulombic_efficiency=eta,
            cooling_W_per_K=params.thermal.cooling_W_per_K * draws["cooling"],
        )
    except ParameterError as e:
        raise ParameterError(f"variation: the drawn values are out of range ({e}) -- give the distribution a "
                             "'low' bound or a smaller sigma.") from None

    z_mean = params.initial_soc if mean_soc is None else float(mean_soc)
    check_range("sample", "mean_soc", z_mean, ge=0, le=1)
    z = z_mean + draws["initial_soc"]
    clipped["initial_soc"] += int(np.count_nonzero((z < 0) | (z > 1)))
    soc = np.clip(z, 0.0, 1.0)

    t_in = params.ambient_K if ambient_K is None else float(ambient_K)
    check_range("sample", "ambient_K", t_in, gt=0)
    ramp = np.linspace(0.0, 1.0, layout.n_series) if layout.n_series > 1 else np.zeros(1)
    amb = t_in + variation.coolant_gradient_K * np.broadcast_to(ramp[None, :, None], layout.shape).reshape(-1)
    check_range("sample", "ambient_K (with the coolant gradient)", amb, gt=0)
    h = float(mean_hysteresis) + draws["initial_hysteresis"]
    check_range("sample", "mean_hysteresis", float(mean_hysteresis), ge=-1, le=1)
    clipped["initial_hysteresis"] += int(np.count_nonzero((h < -1) | (h > 1)))
    if temperature_K is not None:
        check_range("sample", "temperature_K", float(temperature_K), gt=0)
    state = initial_state(cells, soc=soc, temperature_K=amb if temperature_K is None else float(temperature_K),
                          hysteresis=np.clip(h, -1.0, 1.0))
    _warn_clipped(variation, clipped, n)
    return SampledPack(cells, state, np.ascontiguousarray(amb), cap, draws, clipped, layout,
                       None if seed is None else int(seed))
