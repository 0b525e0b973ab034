"""Semi-empirical aging models collected by NREL's BLAST-Lite, vectorised over cells.

Each model is a frozen dataclass of its fitted constants; :meth:`AgingModel.advance` is a pure
function taking an :class:`AgingState` (arrays over cells) and the :class:`~.stressors.Stressors` of
one period, returning the new state with relative capacity ``q`` and relative resistance ``r`` per
cell. The equations (and their sources) are in ``docs/models.md``, section "Aging"; they are the
ones of BLAST-Lite 1.1.1 (P. Gasper, K. Smith et al., NREL), written anew for arrays of cells.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from scipy.special import ndtr

from ..errors import ParameterError, UnknownNameError, check_range
from . import laws
from .stressors import Stressors, anode_potential

__all__ = [
    "AGING_MODEL_FOR_CELL",
    "AgingModel",
    "AgingRangeWarning",
    "AgingState",
    "FittedRange",
    "Lfp_Gr_SonyMurata3Ah_2018",
    "Nmc111_Gr_Kokam75Ah_2017",
    "Nmc811_GrSi_LGM50_5Ah_2021",
    "UnknownAgingModelError",
    "available_aging_models",
    "get_aging_model",
    "sample_rate_scalars",
]

_KELVIN = 273.15
_T_NORM_K = 273.15 + 35.0  # temperature normalisation of the NREL fits [K]
_UA_NORM_V = 0.123  # anode-potential normalisation of the NREL fits [V]


class AgingRangeWarning(UserWarning):
    """A stressor lies outside the range of the aging test data the model was fitted to."""


class UnknownAgingModelError(UnknownNameError, ParameterError):
    """No aging model has this name (both a ``KeyError`` and a :class:`ParameterError`)."""


@dataclass(frozen=True)
class FittedRange:
    """Range of the aging test data (BLAST-Lite's ``experimental_range`` and the source papers).

    Temperatures in degC, DOD as a fraction, C-rates in 1/h.
    """

    calendar_temperature_C: tuple[float, float]
    cycling_temperature_C: tuple[float, float]
    dod: tuple[float, float]
    max_discharge_crate: float


@dataclass(frozen=True, eq=False)
class AgingState:
    """Degradation state of ``n`` cells (every array has shape ``(n,)``).

    Attributes:
        model: name of the aging model the state belongs to.
        y: the model's degradation states (name -> array), see ``type(model).STATES``.
        t_days: elapsed time [day]; efc: equivalent full cycles (nominal capacity).
        q: relative capacity; r: relative resistance (1 for a model without resistance growth).
    """

    model: str
    y: dict[str, np.ndarray]
    t_days: np.ndarray
    efc: np.ndarray
    q: np.ndarray
    r: np.ndarray

    @property
    def n_cells(self) -> int:
        return int(self.q.shape[0])


@dataclass(frozen=True)
class AgingModel:
    """Base of the aging models: the constants are dataclass fields, the equations the methods."""

    NAME: ClassVar[str] = ""
    #: degradation states and their initial values (BLAST-Lite's)
    STATES: ClassVar[dict[str, float]] = {}
    FITTED: ClassVar[FittedRange]
    HAS_RESISTANCE: ClassVar[bool] = True

    @property
    def name(self) -> str:
        return self.NAME

    def initial_state(self, n_cells: int) -> AgingState:
        """Fresh cells: ``q = r = 1``, no elapsed time or throughput."""
        if int(n_cells) < 1:
            raise ParameterError(f"{self.NAME}.n_cells must be >= 1; got {n_cells}.")
        n = int(n_cells)
        y = {k: np.full(n, v) for k, v in self.STATES.items()}
        return AgingState(self.NAME, y, np.zeros(n), np.zeros(n), np.ones(n), np.ones(n))

    # -- per model ------------------------------------------------------------------------------
    def rates(self, st: Stressors, efc: np.ndarray, crate: np.ndarray, cdis: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def increments(self, y, rates, days, efc, s, scheme) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def outputs(self, y: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # -- common ---------------------------------------------------------------------------------
    def advance(
        self,
        state: AgingState,
        stressors: Stressors,
        rate_scalar=1.0,
        *,
        scheme: str = "blast",
        warn: bool = True,
    ) -> AgingState:
        """Age every cell over one stressor period; returns the new state (``q``, ``r`` per cell).

        ``rate_scalar``: per-cell multiplier (>= 0) on the degradation rates (cell-to-cell variation;
        BLAST-Lite's ``degradation_scalar``). ``scheme``: ``"blast"`` (BLAST-Lite's virtual-time step)
        or ``"exact"`` (closed form in virtual time), see :mod:`cellbalance.aging.laws`.
        ``warn``: warn (:class:`AgingRangeWarning`) when a stressor leaves the fitted range.
        """
        if state.model != self.NAME:
            raise ParameterError(f"{self.NAME}.advance: state.model must be {self.NAME!r}; got {state.model!r}.")
        if scheme not in laws.SCHEMES:
            raise ParameterError(f"{self.NAME}.scheme must be one of {list(laws.SCHEMES)}; got {scheme!r}.")
        check_range(self.NAME, "rate_scalar", rate_scalar, ge=0.0)
        n = state.n_cells
        s = np.asarray(rate_scalar, dtype=float)
        if s.ndim > 1 or (s.ndim == 1 and s.shape[0] not in (1, n)):
            raise ParameterError(f"{self.NAME}.rate_scalar must be a scalar or have shape ({n},); got {s.shape}.")
        rows = stressors.delta_t_days.shape[0]
        if rows not in (1, n):
            raise ParameterError(f"{self.NAME}.advance: stressors are for {rows} cells, the state for {n}.")
        efc, crate, cdis = stressors.scaled(state.q)
        if warn:
            self._warn_outside_fit(stressors, efc, cdis)
        rates = self.rates(stressors, efc, crate, cdis)
        dy = self.increments(state.y, rates, stressors.delta_t_days, efc, s, scheme)
        y = {k: state.y[k] + dy[k] for k in self.STATES}
        q, r = self.outputs(y)
        shape = (n,)
        return AgingState(
            self.NAME,
            y,
            np.broadcast_to(state.t_days + stressors.delta_t_days, shape).copy(),
            np.broadcast_to(state.efc + efc, shape).copy(),
            np.broadcast_to(q, shape).copy(),
            np.broadcast_to(r, shape).copy(),
        )

    def _warn_outside_fit(self, st: Stressors, efc: np.ndarray, cdis: np.ndarray) -> None:
        fit = self.FITTED
        t_lo = st.temperature_K.min(axis=-1) - _KELVIN
        t_hi = st.temperature_K.max(axis=-1) - _KELVIN
        cycling = efc > 0
        checks = [
            ("temperature (calendar)", "degC", fit.calendar_temperature_C, (t_lo, t_hi), True),
            ("temperature (cycling)", "degC", fit.cycling_temperature_C, (t_lo, t_hi), cycling),
            ("depth of discharge", "", fit.dod, (st.dod, st.dod), cycling),
            ("discharge C-rate", "1/h", (0.0, fit.max_discharge_crate), (cdis, cdis), cycling),
        ]
        for what, unit, (lo, hi), (vlo, vhi), where in checks:
            outside = np.asarray(where) & ((np.asarray(vlo) < lo - 1e-12) | (np.asarray(vhi) > hi + 1e-12))
            if np.any(outside):
                warnings.warn(
                    f"{self.NAME}: {what} outside the fitted range [{lo:g}, {hi:g}] {unit}".rstrip()
                    + " of the aging test data; the model extrapolates.",
                    AgingRangeWarning,
                    stacklevel=3,
                )


def _tn_ua(st: Stressors) -> tuple[np.ndarray, np.ndarray]:
    """Normalised temperature and normalised anode potential samples (NREL fits)."""
    return st.temperature_K / _T_NORM_K, anode_potential(st.soc) / _UA_NORM_V


# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Nmc111_Gr_Kokam75Ah_2017(AgingModel):
    """Kokam 75 Ah NMC(111)/graphite pouch cell: capacity fade (LLI + LAM) and resistance growth.

    Source: K. Smith, A. Saxon, M. Keyser, B. Lundstrom, Z. Cao, A. Roc, "Life prediction model for
    grid-connected Li-ion battery energy storage system", 2017 American Control Conference (ACC),
    IEEE, pp. 4062-4068 (2017), doi:10.23919/ACC.2017.7963578. Constants as in NREL's BLAST-Lite
    1.1.1 (``nmc111_gr_Kokam75Ah_2017``). Aging data: calendar 0-55 degC, cycling 0-45 degC at 1C,
    DOD 80 % (one 100 % test). No C-rate dependence.

    Calendar LLI ``q1 t^q2``, cycling LLI ``q3 EFC^q4``, LAM a sigmoid in EFC (knee) competing with
    LLI (``q = min(q_LLI, q_LAM)``); resistance from SEI (power laws) or from LAM, whichever is larger.
    """

    NAME: ClassVar[str] = "nmc111_gr_kokam75ah_2017"
    STATES: ClassVar[dict[str, float]] = {
        "qLoss_LLI_t": 0.0,
        "qLoss_LLI_EFC": 0.0,
        "qLoss_LAM": 1e-8,
        "rGain_LLI_t": 0.0,
        "rGain_LLI_EFC": 0.0,
    }
    FITTED: ClassVar[FittedRange] = FittedRange((0.0, 55.0), (0.0, 45.0), (0.8, 1.0), 1.0)

    q1_0: float = 2.66e7
    q1_1: float = -17.8
    q1_2: float = -5.21
    q2: float = 0.357
    q3_0: float = 3.80e3
    q3_1: float = -18.4
    q3_2: float = 1.04
    q4: float = 0.778
    q5_0: float = 1e4
    q5_1: float = 153.0
    p_LAM: float = 10.0
    r1: float = 0.0570
    r2: float = 1.25
    r3: float = 4.87
    r4: float = 0.712
    r5: float = -0.08
    r6: float = 1.09

    def rates(self, st, efc, crate, cdis):
        return st.memo((self, "rates"), lambda: self._stress_rates(st))  # the stressors alone set them

    def _stress_rates(self, st):
        tn, uan = _tn_ua(st)
        dod = st.dod[:, None]
        q1 = self.q1_0 * np.exp(self.q1_1 / tn) * np.exp(self.q1_2 * (uan / tn))
        q3 = self.q3_0 * np.exp(self.q3_1 / tn) * np.exp(self.q3_2 * np.exp(dod**2))
        q5 = self.q5_0 + self.q5_1 * (st.temperature_K - _KELVIN - 55.0) * dod * (st.soc_mean[:, None] / 0.6)
        return {"q1": st.time_average(q1), "q3": st.time_average(q3), "q5": st.time_average(q5)}

    def increments(self, y, rates, days, efc, s, scheme):
        q1, q3 = rates["q1"], rates["q3"]
        return {
            "qLoss_LLI_t": laws.power_step(y["qLoss_LLI_t"], days, q1, self.q2, s, scheme),
            "qLoss_LLI_EFC": laws.power_step(y["qLoss_LLI_EFC"], efc, q3, self.q4, s, scheme),
            "qLoss_LAM": laws.sigmoid_step(y["qLoss_LAM"], efc, 1.0, 1.0 / rates["q5"], self.p_LAM, s, scheme),
            "rGain_LLI_t": laws.power_step(y["rGain_LLI_t"], days, self.r1 * q1, self.r2, s, scheme),
            "rGain_LLI_EFC": laws.power_step(y["rGain_LLI_EFC"], efc, self.r3 * q3, self.r4, s, scheme),
        }

    def outputs(self, y):
        q_lli = 1.0 - y["qLoss_LLI_t"] - y["qLoss_LLI_EFC"]
        q_lam = 1.01 - y["qLoss_LAM"]
        r_lli = 1.0 + y["rGain_LLI_t"] + y["rGain_LLI_EFC"]
        r_lam = self.r5 + self.r6 * (1.0 / q_lam)
        return np.minimum(q_lli, q_lam), np.maximum(r_lli, r_lam)


# ---------------------------------------------------------------------------------------------------
def _skewnorm_pdf(x, skew, width):
    """Skew-normal density of ``(x - 0.5)/width`` (scale-free): ``2 phi(x') Phi(skew x')``."""
    xp = (x - 0.5) / width
    return 2.0 * np.exp(-(xp**2) / 2.0) / np.sqrt(2.0 * np.pi) * ndtr(skew * xp)


@dataclass(frozen=True)
class Lfp_Gr_SonyMurata3Ah_2018(AgingModel):
    """Sony-Murata US26650FTC1 3 Ah LFP/graphite cell: capacity fade and resistance growth.

    Sources: aging data from M. Naumann, M. Schimpe, P. Keil, H. C. Hesse, A. Jossen, "Analysis and
    modeling of calendar aging of a commercial LiFePO4/graphite cell", Journal of Energy Storage 17
    (2018) 153-169, doi:10.1016/j.est.2018.01.019, and M. Naumann, F. B. Spingler, A. Jossen,
    "Analysis and modeling of cycle aging of a commercial LiFePO4/graphite cell", Journal of Power
    Sources 451 (2020) 227666, doi:10.1016/j.jpowsour.2019.227666 (resistance model form); capacity
    model identified in P. Gasper, N. Collath, H. C. Hesse, A. Jossen, K. Smith, "Machine-learning
    assisted identification of accurate battery lifetime models with uncertainty", Journal of The
    Electrochemical Society 169 (2022) 080518, doi:10.1149/1945-7111/ac86a8. Constants as in
    BLAST-Lite 1.1.1 (``lfp_gr_SonyMurata3Ah_2018``). Cycling only at 25 and 45 degC: no temperature
    dependence of cycling fade.

    Calendar LLI: sigmoid in days; cycling LLI: ``(q5 EFC)^q6``; break-in: sigmoid in EFC, active only
    above 3 EFC per day; resistance: linear in time and in EFC.
    """

    NAME: ClassVar[str] = "lfp_gr_sonymurata3ah_2018"
    STATES: ClassVar[dict[str, float]] = {
        "qLoss_LLI_t": 0.0,
        "qLoss_LLI_EFC": 0.0,
        "qLoss_BreakIn_EFC": 1e-10,
        "rGain_LLI_t": 0.0,
        "rGain_LLI_EFC": 0.0,
    }
    FITTED: ClassVar[FittedRange] = FittedRange((0.0, 60.0), (20.0, 40.0), (0.8, 1.0), 2.0)

    q2: float = 0.000130510034211874
    q1_b0: float = 0.989687151293590
    q1_b1: float = -2881067.56019324
    q1_b2: float = 8742.06309157261
    q3_b0: float = 0.000332850281062177
    q3_b1: float = 734553185711.369
    q3_b2: float = -2.82161575620780e-06
    q3_b3: float = -3284991315.45121
    q3_b4: float = 0.00127227593657290
    q8: float = 0.00303553871631028
    q9: float = 1.43752162947637
    q7_b0: float = 0.582258029148225
    q7_soc_skew: float = 0.0583128906965484
    q7_soc_width: float = 0.208738181522897
    q7_dod_skew: float = -3.80744333129564
    q7_dod_width: float = 1.16126260428210
    q7_dod_growth: float = 25.4130804598602
    q6: float = 1.12847759334355
    q5_b0: float = -6.81260579372875e-06
    q5_b1: float = 2.59615973160844e-05
    q5_b2: float = 2.11559710307295e-06
    k_ref_r_cal: float = 3.4194e-10
    Ea_r_cal: float = 71827.0
    C_r_cal: float = -3.3903
    D_r_cal: float = 1.5604
    A_r_cyc: float = -0.002
    B_r_cyc: float = 0.0021
    C_r_cyc: float = 6.8477
    D_r_cyc: float = 0.91882
    #: break-in fade acts only above this many equivalent full cycles per day
    break_in_min_efc_per_day: float = 3.0
    R_gas: float = field(default=8.3144, repr=False)

    def rates(self, st, efc, crate, cdis):
        dod = st.dod
        q5 = np.abs(self.q5_b0 + self.q5_b1 * dod + self.q5_b2 * np.exp(dod**2 * crate**3))
        r_kcyc = (self.A_r_cyc * crate + self.B_r_cyc) * (self.C_r_cyc * (dod - 0.5) ** 3 + self.D_r_cyc)
        # the C-rate terms follow the cells' capacity; the others depend on the stressors alone
        return {**st.memo((self, "rates"), lambda: self._stress_rates(st)), "q5": q5, "r_kcyc": r_kcyc}

    def _stress_rates(self, st):
        T = st.temperature_K
        ua = anode_potential(st.soc)
        dod = st.dod
        q1 = np.abs(self.q1_b0 * np.exp(self.q1_b1 / T**2 * ua**0.5) * np.exp(self.q1_b2 / T * ua**0.5))
        q3 = np.abs(
            self.q3_b0
            * np.exp(self.q3_b1 / T**4 * ua ** (1 / 3))
            * np.exp(self.q3_b2 * T**3 * ua ** (1 / 4))
            * np.exp(self.q3_b3 / T**3 * ua ** (1 / 3))
            * np.exp(self.q3_b4 * T**2 * ua ** (1 / 4))
        )
        dod_sig = 2.0 * (0.5 - 1.0 / (1.0 + np.exp(self.q7_dod_growth * dod)))
        q7 = np.abs(
            self.q7_b0
            * _skewnorm_pdf(st.soc, self.q7_soc_skew, self.q7_soc_width)
            * (_skewnorm_pdf(dod, self.q7_dod_skew, self.q7_dod_width) * dod_sig)[:, None]
        )
        k_temp = self.k_ref_r_cal * np.exp(-self.Ea_r_cal / self.R_gas * (1.0 / T - 1.0 / 298.15))
        k_soc = self.C_r_cal * (st.soc - 0.5) ** 3 + self.D_r_cal
        return {
            "q1": st.time_average(q1),
            "q3": st.time_average(q3),
            "q7": st.time_average(q7),
            "r_kcal": st.time_average(k_temp) * st.time_average(k_soc),
        }

    def increments(self, y, rates, days, efc, s, scheme):
        with np.errstate(divide="ignore", invalid="ignore"):
            break_in = efc / days > self.break_in_min_efc_per_day
        d_break = laws.sigmoid_step(y["qLoss_BreakIn_EFC"], efc, rates["q7"], self.q8, self.q9, s, scheme)
        return {
            "qLoss_LLI_t": laws.sigmoid_step(y["qLoss_LLI_t"], days, rates["q1"], self.q2, rates["q3"], s, scheme),
            "qLoss_LLI_EFC": laws.power_b_step(y["qLoss_LLI_EFC"], efc, rates["q5"], self.q6, s, scheme),
            "qLoss_BreakIn_EFC": np.where(break_in, d_break, 0.0),
            "rGain_LLI_t": laws.linear_step(days * 86400.0, rates["r_kcal"], s),
            "rGain_LLI_EFC": laws.linear_step(efc / 100.0, rates["r_kcyc"], s),
        }

    def outputs(self, y):
        q = 1.0 - y["qLoss_LLI_t"] - y["qLoss_LLI_EFC"] - y["qLoss_BreakIn_EFC"]
        r = 1.0 + y["rGain_LLI_t"] + y["rGain_LLI_EFC"]
        return q, r


# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Nmc811_GrSi_LGM50_5Ah_2021(AgingModel):
    """LG M50 (INR21700-M50T) 5 Ah NMC811/graphite-SiOx cell: capacity fade (no resistance model).

    Aging data: T. M. N. Bui, M. Sheikh, T. Q. Dinh, A. Gupta, D. W. Widanalage, J. Marco, "A study of
    reduced battery degradation through state-of-charge pre-conditioning for vehicle-to-grid
    operations", IEEE Access 9 (2021) 155871-155896 (IEEE document 9617644); cell chemistry after
    K. O'Regan, F. Brosa Planella, W. D. Widanage, E. Kendrick, "Thermal-electrochemical parameters of
    a high energy lithium-ion cylindrical battery", Electrochimica Acta 425 (2022) 140700. Model form
    and constants fitted by P. Gasper (NREL) in BLAST-Lite 1.1.1 (``nmc811_grSi_LGM50_5Ah_2021``).
    Calendar 0-60 degC over SOC 0-100 %; cycling 0-25 degC, 100 % DOD, varied discharge rate
    (charge C/3): no DOD or charge-rate dependence.

    Calendar ``k_cal (t/1e4)^p_cal`` and cycling ``k_cyc (EFC/1e4)^p_cyc`` power laws; ``r`` stays 1.
    """

    NAME: ClassVar[str] = "nmc811_grsi_lgm50_5ah_2021"
    STATES: ClassVar[dict[str, float]] = {"qLoss_t": 0.0, "qLoss_EFC": 0.0}
    FITTED: ClassVar[FittedRange] = FittedRange((0.0, 60.0), (0.0, 25.0), (1.0, 1.0), 2.0)
    HAS_RESISTANCE: ClassVar[bool] = False

    p_cal: float = 0.651697743905278
    q1_b0: float = -2.39156628786525
    q1_b1: float = 2.44205317834185
    q1_b2: float = -4.45998246136905
    q1_b3: float = 0.448140062203916
    q1_b4: float = -0.185337797906876
    p_cyc: float = 0.441996792536332
    q3_b0: float = 0.181235015387132
    q3_b1: float = -0.123779206033993
    q3_b2: float = 1.24459541295018

    def rates(self, st, efc, crate, cdis):
        # k_cal and tn^3 depend on the stressors alone; k_cyc on the discharge C-rate too (the cells' capacity)
        k_cal, tn3 = st.memo((self, "k_cal, tn^3"), lambda: self._stress_terms(st))
        c = np.asarray(cdis, dtype=float)[:, None]
        k_cyc = self.q3_b0 * np.exp(self.q3_b1 * c**3) * np.exp(self.q3_b2 * tn3 * c**0.5)
        return {"k_cal": k_cal, "k_cyc": st.time_average(k_cyc)}

    def _stress_terms(self, st):
        tn, uan = _tn_ua(st)
        z = st.soc
        k_cal = (
            self.q1_b0
            + self.q1_b1 * np.exp(tn**3 * (1.0 / uan ** (1 / 3)))
            + self.q1_b2 * tn**3 * (1.0 / uan**0.5)
            + self.q1_b3 * np.exp(1.0 / tn**2 * z**0.5)
            + self.q1_b4 * np.exp(z**3)
        )
        return st.time_average(k_cal), tn**3

    def increments(self, y, rates, days, efc, s, scheme):
        return {
            "qLoss_t": laws.power_step(y["qLoss_t"], days / 1e4, rates["k_cal"], self.p_cal, s, scheme),
            "qLoss_EFC": laws.power_step(y["qLoss_EFC"], efc / 1e4, rates["k_cyc"], self.p_cyc, s, scheme),
        }

    def outputs(self, y):
        q = 1.0 - y["qLoss_t"] - y["qLoss_EFC"]
        return q, np.ones_like(q)


# ---------------------------------------------------------------------------------------------------
_MODELS: dict[str, type[AgingModel]] = {
    m.NAME: m for m in (Nmc111_Gr_Kokam75Ah_2017, Lfp_Gr_SonyMurata3Ah_2018, Nmc811_GrSi_LGM50_5Ah_2021)
}

#: aging model matching each packaged cell parameter set
AGING_MODEL_FOR_CELL: dict[str, str] = {"nmc_lg_m50": Nmc811_GrSi_LGM50_5Ah_2021.NAME}


def available_aging_models() -> list[str]:
    """Names accepted by :func:`get_aging_model`."""
    return sorted(_MODELS)


def get_aging_model(name: str) -> AgingModel:
    """The aging model called ``name`` with its published constants."""
    try:
        return _MODELS[name]()
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), _MODELS, 1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownAgingModelError(
            f"Unknown aging model {name!r} (field 'model'); allowed: {available_aging_models()}.{hint}"
        ) from None


def sample_rate_scalars(n: int, sigma: float, seed=None) -> np.ndarray:
    """``n`` per-cell rate scalars, log-normal with mean 1 and log-standard deviation ``sigma``.

    ``s = exp(sigma z - sigma^2 / 2)``, ``z ~ N(0, 1)`` drawn from ``numpy.random.default_rng(seed)``
    (``seed`` may be an int, a ``SeedSequence`` or a ``Generator``); always positive.
    """
    check_range("sample_rate_scalars", "n", n, ge=1)
    check_range("sample_rate_scalars", "sigma", sigma, ge=0.0)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(int(n))
    return np.exp(sigma * z - sigma**2 / 2.0)
