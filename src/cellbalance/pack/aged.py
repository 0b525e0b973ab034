"""Aged cells: the plant's per-cell parameters after capacity fade and resistance growth.

:func:`age_cells` takes the cells at the beginning of life (the :class:`~cellbalance.cell.CompiledCells`
that :func:`~cellbalance.pack.variation.sample` drew) and an :class:`~cellbalance.aging.AgingState` of
the same cells, and compiles the aged cells through the same path the plant uses
(``params.compile(n, **per_cell)``), every other per-cell value kept:

    Q_i      = q_i * Q_i,0                    capacity          (aging model's relative capacity q)
    r0_i     = r_i * r0_i,0                   series resistance (relative resistance r, on the R0 scale)
    R_rc,i,k = r_i * R_rc,i,k,0               every RC resistance alike (BLAST-Lite's r is the relative DC
                                              resistance; its split between R0 and the RC pairs is not
                                              modelled, so all resistances grow together, the RC time
                                              constants grow with them: capacitances are kept)

The state of charge is a fraction of the cell's *current* capacity and is kept as it is when the
capacity changes (the charge a fading cell holds shrinks with its capacity: a loss of lithium
inventory removes cyclable charge at every SOC).

``nominal_capacity_Ah`` sets the capacity of the nominal model (``cells.params``) the controllers and
estimators see: the supervisory layer's capacity estimate (see ``studies/lifetime.py``).
"""

from __future__ import annotations

import numpy as np

from ..aging import AgingState
from ..cell import CompiledCells
from ..cell import kernels as K
from ..errors import ParameterError, check_range

__all__ = ["age_cells"]


def age_cells(fresh: CompiledCells, state: AgingState, *, nominal_capacity_Ah: float | None = None) -> CompiledCells:
    """The cells of ``fresh`` aged to ``state`` (relative capacity ``state.q``, resistance ``state.r``).

    ``fresh`` are the beginning-of-life cells (never already aged ones: ``q`` and ``r`` are relative to
    the start of life). Returns new compiled cells; ``fresh`` is not changed.
    """
    if not isinstance(fresh, CompiledCells):
        raise ParameterError(f"age_cells: fresh must be CompiledCells; got {type(fresh).__name__}.")
    if not isinstance(state, AgingState):
        raise ParameterError(f"age_cells: state must be an AgingState; got {type(state).__name__}.")
    n = fresh.n
    if state.n_cells != n:
        raise ParameterError(f"age_cells: the aging state has {state.n_cells} cells; the cells are {n}.")
    q = np.asarray(state.q, float)
    r = np.asarray(state.r, float)
    if np.any(~(q > 0)):
        i = int(np.flatnonzero(~(q > 0))[0])
        raise ParameterError(f"age_cells: cell {i} has relative capacity {q[i]:g} (<= 0): the aging model has "
                             "run the cell past any usable life; shorten the horizon or lower the rate scalars.")
    check_range("age_cells", "relative resistance r", r, gt=0)
    cp = fresh.cp
    p = fresh.params
    if nominal_capacity_Ah is not None:
        check_range("age_cells", "nominal_capacity_Ah", nominal_capacity_Ah, gt=0)
        p = p.replace(capacity_Ah=float(nominal_capacity_Ah))
    rc = cp[:, K.NCP:]
    return p.compile(
        n,
        capacity_Ah=cp[:, K.C_CAP] * q / 3600.0,
        r0_scale=cp[:, K.C_R0S] * r,
        rc_r_scale=rc[:, 0::2] * r[:, None],
        rc_c_scale=rc[:, 1::2],
        coulombic_efficiency=cp[:, K.C_ETA],
        self_discharge_A=cp[:, K.C_ISD],
        hysteresis_scale=cp[:, K.C_MS],
        heat_capacity_J_per_K=cp[:, K.C_CTH],
        cooling_W_per_K=cp[:, K.C_GCOOL],
    )
