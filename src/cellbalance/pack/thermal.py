"""Heat conduction between neighbouring cells: a thermal network added to the lumped cell nodes.

Cell ``i`` exchanges ``k_ij (T_j - T_i)`` [W] with each neighbour ``j``:

* series neighbours: the cell in the same parallel position of the next and of the previous series
  element (``k_series_W_per_K``: busbars, cell-to-cell interface), and
* parallel neighbours: the adjacent cells of its own parallel group, position ``p`` with ``p +- 1``
  (``k_parallel_W_per_K``; cells of a group sit side by side, so a chain, not all pairs).

Packs of a batch do not touch. In matrix form the heat into the cells is ``q = -K T`` with ``K`` the
weighted graph Laplacian (``K_ii = sum_j k_ij``, ``K_ij = -k_ij``; symmetric, rows sum to zero), so
the exchanged heat sums to zero in every pack (conservation).

Coupling with the loop
----------------------
``q`` is fed through :func:`cellbalance.sim.simulate`'s ``heat_in_W`` slot and held over each step
(explicit coupling); each cell's own node is then integrated exactly. This is fine because the
coupling time constants ``C_th / k`` are minutes against an electrical step of seconds. Forward
coupling of ``C dT/dt = -K T`` is stable when ``dt * lambda_max(C^-1 K) < 2``; Gershgorin's theorem
gives ``lambda_max(C^-1 K) <= 2 max_i K_ii / C_i``, so

    dt < min_i C_th,i / K_ii        (K_ii = max row sum of conductances of cell i)

is sufficient (and necessary to within a factor of 2 on long chains, where ``lambda_max -> 2 K_ii``).
:func:`max_stable_step_s` gives the bound and :meth:`NeighbourCoupling.check_step` refuses a longer
step with a message; the cooling to the coolant (integrated exactly) only adds damping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..cell import kernels as K
from ..cell.params import CompiledCells
from ..errors import ParameterError, check_range
from .layout import PackLayout

__all__ = ["NeighbourCoupling", "max_stable_step_s", "neighbour_heat", "neighbour_laplacian"]


def neighbour_laplacian(layout: PackLayout, k_series_W_per_K: float, k_parallel_W_per_K: float = 0.0) -> sp.csr_matrix:
    """Sparse conductance Laplacian ``K`` [W/K], (n_cells x n_cells), cells ordered (pack, series, parallel)."""
    check_range("neighbour_laplacian", "k_series_W_per_K", k_series_W_per_K, ge=0)
    check_range("neighbour_laplacian", "k_parallel_W_per_K", k_parallel_W_per_K, ge=0)
    B, Ns, Np = layout.shape
    idx = np.arange(layout.n_cells).reshape(B, Ns, Np)
    rows, cols, w = [], [], []
    if Ns > 1 and k_series_W_per_K > 0:
        a, b = idx[:, :-1, :].ravel(), idx[:, 1:, :].ravel()
        rows.append(a)
        cols.append(b)
        w.append(np.full(a.size, float(k_series_W_per_K)))
    if Np > 1 and k_parallel_W_per_K > 0:
        a, b = idx[:, :, :-1].ravel(), idx[:, :, 1:].ravel()
        rows.append(a)
        cols.append(b)
        w.append(np.full(a.size, float(k_parallel_W_per_K)))
    n = layout.n_cells
    if not rows:
        return sp.csr_matrix((n, n))
    r, c, ww = np.concatenate(rows), np.concatenate(cols), np.concatenate(w)
    adj = sp.coo_matrix((np.concatenate([ww, ww]), (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n, n))
    return (sp.diags(np.asarray(adj.sum(1)).ravel()) - adj).tocsr()


def neighbour_heat(K_lap, T) -> np.ndarray:
    """Heat into each cell from its neighbours [W]: ``-K T`` (sums to zero over each connected pack)."""
    return -np.asarray(K_lap @ np.asarray(T, float)).ravel()


def max_stable_step_s(K_lap, heat_capacity_J_per_K) -> float:
    """Longest step for the explicit coupling: ``min_i C_th,i / K_ii`` [s] (inf without coupling).

    ``heat_capacity_J_per_K``: a number, an array (n_cells,), or :class:`CompiledCells` (its
    per-cell heat capacities).
    """
    d = np.asarray(K_lap.diagonal(), float)
    if isinstance(heat_capacity_J_per_K, CompiledCells):
        c = heat_capacity_J_per_K.cp[:, K.C_CTH]
    else:
        c = np.asarray(heat_capacity_J_per_K, float)
    try:
        c = np.broadcast_to(c, d.shape)
    except ValueError:
        raise ParameterError(f"max_stable_step_s: heat capacities of shape {c.shape} do not match "
                             f"{d.size} cells.") from None
    check_range("max_stable_step_s", "heat_capacity_J_per_K", c, gt=0)
    on = d > 0
    return float((c[on] / d[on]).min()) if on.any() else float("inf")


@dataclass(frozen=True, eq=False)
class NeighbourCoupling:
    """Callable ``(t_s, x) -> heat into each cell [W]`` for :func:`cellbalance.sim.simulate`'s ``heat_in_W``.

    ``x[:, 3]`` is the cell temperature [K]. Call :meth:`check_step` with the experiment's
    ``period_s`` and the cells' heat capacities before running.
    """

    layout: PackLayout
    k_series_W_per_K: float
    k_parallel_W_per_K: float = 0.0
    matrix: sp.csr_matrix = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix", neighbour_laplacian(self.layout, self.k_series_W_per_K,
                                                                self.k_parallel_W_per_K))

    def __call__(self, t_s: float, x: np.ndarray) -> np.ndarray:
        return neighbour_heat(self.matrix, x[:, K.X_T])

    def max_step_s(self, heat_capacity_J_per_K) -> float:
        return max_stable_step_s(self.matrix, heat_capacity_J_per_K)

    def check_step(self, dt_s: float, heat_capacity_J_per_K) -> None:
        """Refuse a step for which the explicit coupling would be unstable (``dt >= min C_th / K_ii``)."""
        dt_max = self.max_step_s(heat_capacity_J_per_K)
        if not dt_s < dt_max:
            raise ParameterError(
                f"NeighbourCoupling: the step {dt_s:g} s is too long for conductances up to "
                f"{self.matrix.diagonal().max():g} W/K per cell; it must be < {dt_max:.3g} s "
                "(C_th / max row sum of K) for the explicit coupling to be stable: shorten period_s.")
