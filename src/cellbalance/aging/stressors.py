"""Aging stressors of one period (e.g. one day), per cell, and their extraction from SOC/temperature series.

Two ways to build :class:`Stressors`:

- :meth:`Stressors.from_timeseries`: sampled time, SOC and temperature per cell over the period; the
  summary stressors are extracted exactly as BLAST-Lite 1.1.1 does (``_extract_stressors``), and the
  degradation rates are time averages (trapezoid rule) of the instantaneous rates. Throughput and
  C-rates are then per unit of the cell's *current* capacity (SOC-based) and are multiplied by the
  relative capacity ``q`` when the period is applied, as BLAST-Lite does.
- :meth:`Stressors.constant`: summary stressors held constant over the period (mean SOC,
  temperature, DOD, equivalent full cycles and C-rates, in units of the *nominal* capacity).

Arrays have the cell axis first and, for samples, the time axis last: shape ``(n, m)`` or ``(1, m)``
(the same series for every cell).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError, check_range

__all__ = ["MAX_TEMPERATURE_K", "MIN_TEMPERATURE_K", "Stressors", "anode_potential"]

#: physical bounds on a cell temperature given to the aging models [K]
MIN_TEMPERATURE_K = 200.0
MAX_TEMPERATURE_K = 400.0
#: instantaneous |C-rates| below this count as rest when C-rates are extracted (BLAST-Lite's threshold) [1/h]
_REST_CRATE = 1e-2
_DAY_S = 86400.0


def anode_potential(soc) -> np.ndarray:
    """Graphite anode potential vs Li/Li+ [V] from SOC, as BLAST-Lite estimates it.

    Lithiation ``x_a = 0.0085 + soc (0.78 - 0.0085)`` (stoichiometry after M. Schimpe et al.,
    J. Electrochem. Soc. 165 (2018) A181) and the graphite OCP fit of M. Safari and C. Delacourt,
    "Modeling of a commercial graphite/LiFePO4 cell", J. Electrochem. Soc. 158 (2011) A562.
    """
    xa = 8.5e-3 + np.asarray(soc, dtype=float) * (0.78 - 8.5e-3)
    return (
        0.6379
        + 0.5416 * np.exp(-305.5309 * xa)
        + 0.044 * np.tanh(-(xa - 0.1958) / 0.1088)
        - 0.1978 * np.tanh((xa - 1.0571) / 0.0854)
        - 0.6875 * np.tanh((xa + 0.0117) / 0.0529)
        - 0.0175 * np.tanh((xa - 0.5692) / 0.0875)
    )


def _trapz_rows(y: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Trapezoid integral along the last axis with interval widths ``dx`` (numpy's formula)."""
    return (dx * (y[..., 1:] + y[..., :-1]) / 2.0).sum(axis=-1)


@dataclass(frozen=True, eq=False)
class Stressors:
    """Per-cell stressors of one aging period.

    Attributes (``n`` cells or 1, ``m`` samples):
        soc, temperature_K: samples ``(n, m)``; ``m == 1`` for constant stress.
        dt_s: sample intervals ``(n, m - 1)`` [s] for the trapezoid time averages (``None`` if ``m == 1``).
        delta_t_days: period length ``(n,)`` [day].
        delta_efc: equivalent full cycles ``(n,)`` (half the summed |dSOC|).
        dod: depth of discharge ``(n,)`` (max - min SOC).
        crate: time-averaged |C-rate| ``(n,)`` [1/h] (rest counts as 0).
        crate_discharge: mean discharge C-rate while discharging ``(n,)`` [1/h] (LG M50 model).
        soc_mean: plain mean of the SOC samples ``(n,)``.
        span_s: period length [s] (``t_s[-1] - t_s[0]``), the divisor of the time averages.
        per_current_capacity: ``delta_efc``, ``crate`` and ``crate_discharge`` are per unit of the
            cell's current capacity (from an SOC series) and get multiplied by ``q`` when applied.
    """

    soc: np.ndarray
    temperature_K: np.ndarray
    dt_s: np.ndarray | None
    delta_t_days: np.ndarray
    delta_efc: np.ndarray
    dod: np.ndarray
    crate: np.ndarray
    crate_discharge: np.ndarray
    soc_mean: np.ndarray
    per_current_capacity: bool

    span_s: np.ndarray
    #: time averages already computed for these stressors (:meth:`memo`)
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def memo(self, key, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()`` once per ``key`` for these (immutable) stressors: a model's rate terms that depend
        on the stressors alone (not on the cells' state) are computed on the first day they are applied
        and reused on every further day with the same stressors (the lifetime study advances many days with
        one representative day's stressors). ``key`` must name the model and its constants (the frozen
        model itself) and the term."""
        try:
            return self._memo[key]
        except KeyError:
            v = self._memo[key] = compute()
            return v

    def time_average(self, f: np.ndarray) -> np.ndarray:
        """Time average over the period of samples ``f`` (shape ``(n, m)``): trapezoid integral / span."""
        f = np.asarray(f, dtype=float)
        if self.dt_s is None:
            return f[..., 0]
        return _trapz_rows(f, self.dt_s) / self.span_s

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_timeseries(cls, t_s, soc, temperature_K) -> Stressors:
        """Stressors of a sampled period: time [s], SOC [-] and temperature [K], time axis last.

        ``t_s`` has shape ``(m,)`` or ``(n, m)``; ``soc`` and ``temperature_K`` ``(m,)``, ``(n, m)`` or
        ``(n, 1)`` (constant per cell). Extraction follows BLAST-Lite 1.1.1 ``_extract_stressors``.
        """
        t = np.atleast_2d(np.asarray(t_s, dtype=float))
        z = np.atleast_2d(np.asarray(soc, dtype=float))
        T = np.atleast_2d(np.asarray(temperature_K, dtype=float))
        try:
            t, z, T = np.broadcast_arrays(t, z, T)
        except ValueError:
            raise ParameterError(
                f"Stressors: t_s {np.shape(t_s)}, soc {np.shape(soc)} and temperature_K "
                f"{np.shape(temperature_K)} do not broadcast to one (cells, samples) shape."
            ) from None
        if t.shape[-1] < 2:
            raise ParameterError(f"Stressors.t_s needs at least 2 samples per period; got {t.shape[-1]}.")
        check_range("Stressors", "soc", z, ge=0.0, le=1.0)
        check_range("Stressors", "temperature_K", T, ge=MIN_TEMPERATURE_K, le=MAX_TEMPERATURE_K)
        check_range("Stressors", "t_s", t)
        dt = np.diff(t, axis=-1)
        check_range("Stressors", "time step (diff of t_s)", dt, ge=0.0)
        t_days = t / _DAY_S
        delta_t_days = t_days[:, -1] - t_days[:, 0]
        check_range("Stressors", "period length (t_s[-1] - t_s[0])", delta_t_days, gt=0.0)

        dz = np.diff(z, axis=-1)
        efc = np.abs(dz).sum(axis=-1) / 2.0
        dod = z.max(axis=-1) - z.min(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            inst = dz / np.diff(t / 3600.0, axis=-1)  # signed instantaneous C-rate [1/h]
        inst = np.where(np.abs(inst) < _REST_CRATE, 0.0, inst)
        abs_inst = np.abs(inst)
        # BLAST-Lite integrates the interval C-rates against the interval end times t[1:]
        crate = _trapz_rows(abs_inst, np.diff(t_days[:, 1:], axis=-1)) / delta_t_days
        undefined = np.isnan(crate)  # repeated time stamps (0/0): BLAST-Lite then sets both rates to 0
        crate = np.where(undefined, 0.0, crate)
        cdis = np.where(undefined, 0.0, np.abs(_discharge_crate(inst, dt)))
        return cls(
            soc=z,
            temperature_K=T,
            dt_s=dt,
            delta_t_days=delta_t_days,
            delta_efc=efc,
            dod=dod,
            crate=crate,
            crate_discharge=cdis,
            soc_mean=z.mean(axis=-1),
            per_current_capacity=True,
            span_s=t[:, -1] - t[:, 0],
        )

    @classmethod
    def constant(
        cls,
        *,
        days,
        temperature_K,
        soc,
        dod=0.0,
        efc=0.0,
        crate=None,
        crate_discharge=None,
    ) -> Stressors:
        """Summary stressors held constant over a period of ``days`` (arrays over cells or scalars).

        ``efc``: equivalent full cycles in the period (Ah throughput / (2 x nominal Ah)); ``soc``: mean
        SOC; ``dod``: depth of discharge; ``crate``: time-averaged |current| / nominal Ah [1/h], by
        default ``2 efc / (24 days)`` (the throughput spread over the whole period);
        ``crate_discharge``: mean discharge C-rate while discharging, by default ``crate``.
        """
        check_range("Stressors", "days", days, ge=0.0)
        check_range("Stressors", "temperature_K", temperature_K, ge=MIN_TEMPERATURE_K, le=MAX_TEMPERATURE_K)
        check_range("Stressors", "soc", soc, ge=0.0, le=1.0)
        check_range("Stressors", "dod", dod, ge=0.0, le=1.0)
        check_range("Stressors", "efc", efc, ge=0.0)
        days_a, T, z, d, e = np.broadcast_arrays(
            *(np.atleast_1d(np.asarray(a, dtype=float)) for a in (days, temperature_K, soc, dod, efc))
        )
        if crate is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                c = np.where(days_a > 0, 2.0 * e / (24.0 * days_a), 0.0)
        else:
            check_range("Stressors", "crate", crate, ge=0.0)
            c = np.broadcast_to(np.asarray(crate, dtype=float), days_a.shape)
        if crate_discharge is None:
            cd = c
        else:
            check_range("Stressors", "crate_discharge", crate_discharge, ge=0.0)
            cd = np.broadcast_to(np.asarray(crate_discharge, dtype=float), days_a.shape)
        return cls(
            soc=z[:, None],
            temperature_K=T[:, None],
            dt_s=None,
            delta_t_days=days_a,
            delta_efc=e,
            dod=d,
            crate=c,
            crate_discharge=cd,
            soc_mean=z,
            per_current_capacity=False,
            span_s=days_a * _DAY_S,
        )

    def scaled(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(delta_efc, crate, crate_discharge)`` in units of the nominal capacity, given relative capacity ``q``."""
        if not self.per_current_capacity:
            return self.delta_efc, self.crate, self.crate_discharge
        return self.delta_efc * q, self.crate * q, self.crate_discharge * q


def _discharge_crate(inst: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Mean discharge C-rate while discharging (signed, <= 0), per row, as BLAST-Lite's LG M50 model.

    Over the discharging intervals only, joined end to end (their widths ``dt``), the trapezoid
    integral of the interval C-rates divided by the joined duration less the first interval; one
    discharging interval gives its C-rate, none gives 0.
    """
    n, k = inst.shape
    mask = inst < 0.0
    cols = np.broadcast_to(np.arange(k), (n, k))
    last = np.maximum.accumulate(np.where(mask, cols, -1), axis=-1)
    prev = np.concatenate([np.full((n, 1), -1), last[:, :-1]], axis=-1)  # previous discharging interval
    has_prev = mask & (prev >= 0)
    c_prev = np.take_along_axis(inst, np.maximum(prev, 0), axis=-1)
    num = np.where(has_prev, (c_prev + inst) / 2.0 * dt, 0.0).sum(axis=-1)
    den = np.where(has_prev, dt, 0.0).sum(axis=-1)
    count = mask.sum(axis=-1)
    first = np.take_along_axis(inst, np.argmax(mask, axis=-1)[:, None], axis=-1)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        many = num / den
    return np.where(count > 1, many, np.where(count == 1, first, 0.0))
