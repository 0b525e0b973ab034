"""Heat conduction between neighbouring cells: a thermal network added to the lumped cell nodes.

Cell ``i`` exchanges ``k_ij (T_j - T_i)`` with each neighbour: the next and previous element of the
string (``k_series_W_per_K``, e.g. through busbars and the cell-to-cell interface) and the other
cells of its parallel group (``k_parallel_W_per_K``). In matrix form the heat into the cells is
``-K T`` with ``K`` a weighted graph Laplacian, so the exchanged heat sums to zero. It is applied
explicitly (held over a step) through the loop's ``heat_in_W`` slot: the coupling time constants
(C_th / k, minutes) are long against the electrical step; stable if ``dt < 2 C_th / lambda_max(K)``,
which :meth:`NeighbourCoupling.check_step` enforces with ``lambda_max <= 2 max_i K_ii``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..cell import kernels as K
from ..errors import ParameterError, check_range
from .layout import PackLayout

__all__ = ["NeighbourCoupling", "neighbour_laplacian"]


def neighbour_laplacian(layout: PackLayout, k_series_W_per_K: float, k_parallel_W_per_K: float = 0.0) -> sp.csr_matrix:
    """Sparse K (n_cells x n_cells) over cells ordered (pack, series, parallel); packs do not touch."""
    check_range("neighbour_laplacian", "k_series_W_per_K", k_series_W_per_K, ge=0)
    check_range("neighbour_laplacian", "k_parallel_W_per_K", k_parallel_W_per_K, ge=0)
    B, Ns, Np = layout.shape
    idx = np.arange(layout.n_cells).reshape(B, Ns, Np)
    rows, cols, w = [], [], []
    if Ns > 1 and k_series_W_per_K > 0:
        a, b = idx[:, :-1, :].ravel(), idx[:, 1:, :].ravel()
        rows += [a]
        cols += [b]
        w += [np.full(a.size, k_series_W_per_K)]
    if Np > 1 and k_parallel_W_per_K > 0:
        a, b = idx[:, :, :-1].ravel(), idx[:, :, 1:].ravel()
        rows += [a]
        cols += [b]
        w += [np.full(a.size, k_parallel_W_per_K)]
    n = layout.n_cells
    if not rows:
        return sp.csr_matrix((n, n))
    r, c, ww = np.concatenate(rows), np.concatenate(cols), np.concatenate(w)
    adj = sp.coo_matrix((np.concatenate([ww, ww]), (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n, n))
    return (sp.diags(np.asarray(adj.sum(1)).ravel()) - adj).tocsr()


@dataclass(frozen=True, eq=False)
class NeighbourCoupling:
    """Callable ``(t_s, x) -> heat into each cell [W]`` for :func:`cellbalance.sim.simulate`'s ``heat_in_W``."""

    layout: PackLayout
    k_series_W_per_K: float
    k_parallel_W_per_K: float = 0.0
    matrix: sp.csr_matrix = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix", neighbour_laplacian(self.layout, self.k_series_W_per_K,
                                                                self.k_parallel_W_per_K))

    def __call__(self, t_s: float, x: np.ndarray) -> np.ndarray:
        return -(self.matrix @ x[:, K.X_T])

    def check_step(self, dt_s: float, heat_capacity_J_per_K) -> None:
        """Refuse a step for which the explicit coupling would be unstable."""
        d = self.matrix.diagonal()
        if d.size == 0 or d.max() == 0:
            return
        c = np.broadcast_to(np.asarray(heat_capacity_J_per_K, float), d.shape)
        dt_max = float((c / (2.0 * d)).min() * 2.0)  # 2 C / lambda_max with lambda_max <= 2 max K_ii
        if dt_s >= dt_max:
            raise ParameterError(
                f"NeighbourCoupling: the step {dt_s:g} s is too long for conductances up to {d.max():g} W/K; "
                f"it must be < {dt_max:.3g} s (C_th / max row sum) for the explicit coupling to be stable.")
