"""Pack wiring: connection (tab/weld) resistances, busbar ladders, terminals; two configurations.

The topology is that of liionpack's ``setup_circuit`` (Tranter et al., "liionpack: A Python package
for simulating packs of batteries with PyBaMM", JOSS 7(70) 4051, 2022), with every resistance
settable per position:

* ``"parallel-strings"``: ``n_parallel`` strings of ``n_series`` cells, each cell with its own
  connection resistance in series; the strings' ends sit on two pack rails (negative and positive
  busbar) whose segments between neighbouring strings have ``busbar_ohm``; the pack terminals are
  at the left or right end of each rail (``terminals``), each through ``terminal_ohm``. Exactly
  liionpack's default circuit.
* ``"series-groups"``: every parallel group has its own two rails (segments ``busbar_ohm`` between
  neighbouring cells), its cells (each with its connection resistance) between them, and its
  terminals at the ``terminals`` ends; group terminals are joined in series. (liionpack's
  ``series-groups`` shares one busbar between consecutive groups, which couples every group to the
  next; here each group is a two-terminal network, so the balancing hardware sees one element
  voltage per group and a group is solved on its own.)

Both reduce to one network per group (or per pack, over strings): a **ladder** of ``n`` branches
``V_j = E_j + R_j I_j`` between two rails with segments ``a_k`` (positive rail) and ``b_k``
(negative rail), current ``I`` entering at positive-rail position ``tp`` and leaving at
negative-rail position ``tn``. With the partial sums ``S_k = sum_{j<=k} I_j`` (mesh currents) as
unknowns, Kirchhoff's voltage law round the loop of branches k and k+1 reads (k = 0 .. n-2)

    R_k S_{k-1} - (R_k + R_{k+1} + a_k + b_k) S_k + R_{k+1} S_{k+1} = E_k - E_{k+1} - c_k I,
    c_k = a_k [tp <= k] + b_k [tn <= k],   S_{-1} = 0,   S_{n-1} = I,

a tridiagonal, diagonally dominant system solved exactly by one forward elimination and back
substitution (the Thomas algorithm) for the two right-hand sides (emf part, unit current). So the
branch currents are affine in ``I`` and the ladder is one Thevenin element ``V = E_g + R_g I``,
with ``V = P_tp - N_tn = V_tn + (P_tp - P_tn)``. The wiring heat is
``sum_j Rc_j I_j^2 + sum_k a_k (S_k - I [tp<=k])^2 + b_k (I - S_k - I [tn>k])^2`` plus ``2 R_t I^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import ParameterError, check_range

__all__ = ["CONFIGURATIONS", "TERMINALS", "WiredLayout", "Wiring", "ladder_solve"]

CONFIGURATIONS = ("series-groups", "parallel-strings")
TERMINALS = ("left", "right", "left-right", "right-left")


@dataclass(frozen=True, eq=False)
class Wiring:
    """Resistances of a pack's wiring (SI: ohm), each a scalar or an array over its positions.

    configuration : "series-groups" (series chain of parallel groups) or "parallel-strings"
        (parallel strings of series cells).
    connection_ohm : per cell, shape (n_series, n_parallel): tab/weld resistance in series with the cell.
    busbar_ohm : per busbar segment between neighbouring cells (series-groups: shape
        (n_series, n_parallel - 1), the same on both rails of each group) or neighbouring strings
        (parallel-strings: shape (n_parallel - 1,), on both pack rails).
    terminal_ohm : each of the two pack terminals.
    terminals : where the current enters and leaves each rail pair: "left" (position 0 on both
        rails), "right", "left-right" (positive at the left, negative at the right), "right-left".
    heat_to_cells : fraction (0..1) of the wiring's heat that reaches the neighbouring cells'
        thermal nodes: a connection's to its cell, a busbar segment's half to each cell it joins
        (parallel strings: the strings' end cells); the terminals' to none. 0 (default): the
        wiring's heat leaves with the coolant (the compiled segments run only then).
    """

    configuration: str = "series-groups"
    connection_ohm: float | np.ndarray = 0.0
    busbar_ohm: float | np.ndarray = 0.0
    terminal_ohm: float = 0.0
    terminals: str = "left"
    heat_to_cells: float = 0.0

    def __post_init__(self) -> None:
        if self.configuration not in CONFIGURATIONS:
            raise ParameterError(f"Wiring.configuration must be one of {', '.join(map(repr, CONFIGURATIONS))}; "
                                 f"got {self.configuration!r}.")
        if self.terminals not in TERMINALS:
            raise ParameterError(f"Wiring.terminals must be one of {', '.join(map(repr, TERMINALS))}; "
                                 f"got {self.terminals!r}.")
        for name in ("connection_ohm", "busbar_ohm", "terminal_ohm"):
            check_range("Wiring", name, getattr(self, name), ge=0)
        check_range("Wiring", "heat_to_cells", self.heat_to_cells, ge=0, le=1)
        if np.ndim(self.terminal_ohm) != 0:
            raise ParameterError(f"Wiring.terminal_ohm must be a scalar (each of the two pack terminals); got shape "
                                 f"{np.shape(self.terminal_ohm)}.")

    def resolve(self, n_series: int, n_parallel: int) -> WiredLayout:
        """The arrays over positions, checked against the layout (one message naming field and shape)."""
        rc = _shaped("connection_ohm", self.connection_ohm, (n_series, n_parallel))
        seg = (n_series, n_parallel - 1) if self.configuration == "series-groups" else (n_parallel - 1,)
        rb = _shaped("busbar_ohm", self.busbar_ohm, seg)
        tp, tn = {"left": (0, 0), "right": (-1, -1), "left-right": (0, -1), "right-left": (-1, 0)}[self.terminals]
        return WiredLayout(self.configuration == "parallel-strings", rc, rb, tp % n_parallel, tn % n_parallel,
                           2.0 * float(self.terminal_ohm), n_series, n_parallel, float(self.heat_to_cells))


def _shaped(name: str, value, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        return np.full(shape, float(a))
    if a.shape != shape:
        raise ParameterError(f"Wiring.{name} must be a scalar or an array of shape {shape} for this layout; "
                             f"got shape {a.shape}.")
    return a.copy()


@njit(cache=True, inline="always")
def ladder1(E, R, a, b, tp, tn, n, sE, sI, cp):
    """One ladder (see the module docstring): fills ``sE``, ``sI`` (length n: S_k = sE_k + I sI_k,
    with S_{n-1} = I) and returns the Thevenin (E_g, R_g); ``cp`` is scratch of length n."""
    sE[n - 1] = 0.0
    sI[n - 1] = 1.0
    if n > 1:
        # forward elimination (rows k = 0 .. n-2), then back substitution
        for k in range(n - 1):
            d = -(R[k] + R[k + 1] + a[k] + b[k])
            re = E[k] - E[k + 1]
            ri = 0.0
            if tp <= k:
                ri -= a[k]
            if tn <= k:
                ri -= b[k]
            if k == n - 2:
                ri -= R[n - 1]
            if k > 0:
                d -= R[k] * cp[k - 1]
                re -= R[k] * sE[k - 1]
                ri -= R[k] * sI[k - 1]
            cp[k] = R[k + 1] / d
            sE[k] = re / d
            sI[k] = ri / d
        for k in range(n - 3, -1, -1):
            sE[k] -= cp[k] * sE[k + 1]
            sI[k] -= cp[k] * sI[k + 1]
    e_prev = sE[tn - 1] if tn > 0 else 0.0
    i_prev = sI[tn - 1] if tn > 0 else 0.0
    eg = E[tn] + R[tn] * (sE[tn] - e_prev)
    rg = R[tn] * (sI[tn] - i_prev)
    if tp >= tn:
        for k in range(tn, tp):
            eg += a[k] * sE[k]
            rg += a[k] * sI[k]
    else:
        for k in range(tp, tn):
            eg -= a[k] * sE[k]
            rg -= a[k] * (sI[k] - 1.0)
    return eg, rg


@njit(cache=True)
def ladder_solve(E, R, a, b, tp, tn, sE, sI, eg, rg):
    """Many ladders at once: ``E``, ``R``, ``sE``, ``sI`` (M, n); ``a``, ``b`` (M, max(n-1, 1));
    ``eg``, ``rg`` (M,) are filled."""
    M, n = E.shape
    cp = np.empty(n)
    for m in range(M):
        eg[m], rg[m] = ladder1(E[m], R[m], a[m], b[m], tp, tn, n, sE[m], sI[m], cp)


class WiredLayout:
    """A :class:`Wiring` resolved for one layout (arrays over positions); the solves and the sums."""

    def __init__(self, strings, rc, rb, tp, tn, r_terminals, ns, npar, heat_to_cells=0.0):
        self.strings = bool(strings)
        self.rc = rc  # (Ns, Np)
        self.rb = rb  # (Ns, Np-1) or (Np-1,)
        self.tp, self.tn = int(tp), int(tn)
        self.r_terminals = float(r_terminals)  # both terminals: in series with the pack
        self.ns, self.npar = ns, npar
        self.heat_to_cells = heat_to_cells
        # the busbar segments as (ladders, max(n-1, 1)) rows for the compiled solve
        seg = rb.reshape(-1, npar - 1) if npar > 1 else np.zeros((1 if strings else ns, 1))
        self._seg = np.ascontiguousarray(seg)

    # -- solves ---------------------------------------------------------------------------------
    def _ladders(self, E, R, seg):
        M, n = E.shape
        sE, sI = np.empty((M, n)), np.empty((M, n))
        eg, rg = np.empty(M), np.empty(M)
        s = np.ascontiguousarray(np.broadcast_to(seg[None], (M // seg.shape[0], *seg.shape)).reshape(M, -1))
        ladder_solve(np.ascontiguousarray(E), np.ascontiguousarray(R), s, s, self.tp, self.tn, sE, sI, eg, rg)
        return eg, rg, sE, sI

    def group_solve(self, emf, r0, shape):
        """Series-groups: Thevenin (E_g, R_g) of each group (B, Ns) and the ladder solution (sE, sI)."""
        B, Ns, Np = shape
        R = r0.reshape(shape) + self.rc
        eg, rg, sE, sI = self._ladders(emf.reshape(B * Ns, Np), R.reshape(B * Ns, Np), self._seg)
        return eg.reshape(B, Ns), rg.reshape(B, Ns), sE.reshape(shape), sI.reshape(shape)

    def string_solve(self, e_string, r_string):
        """Parallel-strings: the pack's Thevenin over its strings (B,) from each string's Thevenin
        (B, Np), and the ladder solution (sE, sI) (B, Np) of the string currents' partial sums."""
        return self._ladders(e_string, r_string, self._seg)

    def by_string(self, a, shape) -> np.ndarray:
        """A per-cell array in the strings' order, (B * Np, Ns): string by string."""
        B, Ns, Np = shape
        return np.ascontiguousarray(a.reshape(shape).transpose(0, 2, 1)).reshape(B * Np, Ns)

    @staticmethod
    def to_cells(a, shape) -> np.ndarray:
        """Inverse of :meth:`by_string`: back to cells ordered (pack, series, parallel), flat."""
        B, Ns, Np = shape
        return np.ascontiguousarray(a.reshape(B, Np, Ns).transpose(0, 2, 1)).reshape(-1)

    @staticmethod
    def currents(i, sE, sI):
        """Branch currents from the ladder solution at terminal current ``i`` (broadcast on the last axis)."""
        s = sE + i[..., None] * sI
        return np.diff(s, axis=-1, prepend=0.0)

    # -- sums from the branch currents (independent of the solve) --------------------------------
    def _rails(self, i_branch, i):
        """Positive- and negative-rail segment currents (leftward), (..., n-1)."""
        n = i_branch.shape[-1]
        s = np.cumsum(i_branch, axis=-1)[..., :-1]
        k = np.arange(n - 1)
        pos = s - i[..., None] * (self.tp <= k)
        neg = i[..., None] - s - i[..., None] * (self.tn > k)
        return pos, neg

    def _ladder_voltage(self, v_branch, i_branch, i):
        """``P_tp - N_tn`` from the branch voltages and currents."""
        pos, _ = self._rails(i_branch, i)
        a = self.rb if self.strings else self.rb[None]
        v = v_branch[..., self.tn]
        if self.npar > 1:
            lo, hi = sorted((self.tn, self.tp))
            drop = (a[..., lo:hi] * pos[..., lo:hi]).sum(-1)
            v = v + (drop if self.tp >= self.tn else -drop)
        return v

    def element_voltage(self, v_cell, i_cell, shape):
        """Voltage across each balancing element. Series-groups: each group's terminals (B, Ns);
        parallel strings: each cell with its connection, string by string (B * Np, Ns)."""
        i = i_cell.reshape(shape)
        v_branch = v_cell.reshape(shape) + self.rc * i
        if self.strings:
            return self.by_string(v_branch, shape)
        return self._ladder_voltage(v_branch, i, i.sum(-1))

    def pack_voltage(self, v_cell, i_cell, i_p, shape):
        """Pack terminal voltage (B,) (terminal resistances included; the layout's interconnect not),
        from the cells' voltages and currents and the pack current."""
        if not self.strings:
            return self.element_voltage(v_cell, i_cell, shape).sum(-1) + self.r_terminals * i_p
        i = i_cell.reshape(shape)
        vs = (v_cell.reshape(shape) + self.rc * i).sum(1)  # each string's voltage (B, Np)
        v = vs[:, self.tn]
        if self.npar > 1:
            # the rail currents from the ladder's loop equations (V_{k+1} - V_k = 2 rb_k S_k - c_k I)
            k = np.arange(self.npar - 1)
            c = self.rb * ((self.tp <= k) + (self.tn <= k))
            rb2 = np.where(self.rb > 0, 2.0 * self.rb, 1.0)
            s = (np.diff(vs, axis=-1) + c * i_p[:, None]) / rb2
            pos = s - i_p[:, None] * (self.tp <= k)
            lo, hi = sorted((self.tn, self.tp))
            drop = (self.rb[lo:hi] * pos[:, lo:hi]).sum(-1)
            v = v + (drop if self.tp >= self.tn else -drop)
        return v + self.r_terminals * i_p

    def cell_heat(self, i_cell, i_p, shape, i_string=None) -> np.ndarray:
        """Wiring heat that reaches each cell [W] (flat over cells): ``heat_to_cells`` times its
        connection's I^2 R and half of each busbar segment next to it."""
        i = i_cell.reshape(shape)
        q = self.rc * i * i
        if self.npar > 1:
            if self.strings:
                pos, neg = self._rails(i[:, 0, :] if i_string is None else i_string, i_p)
                qp, qn = 0.5 * self.rb * pos * pos, 0.5 * self.rb * neg * neg
                q[:, -1, :-1] += qp
                q[:, -1, 1:] += qp
                q[:, 0, :-1] += qn
                q[:, 0, 1:] += qn
            else:
                pos, neg = self._rails(i, i.sum(-1))
                qs = 0.5 * self.rb * (pos * pos + neg * neg)
                q[..., :-1] += qs
                q[..., 1:] += qs
        return (self.heat_to_cells * q).reshape(-1)

    def heat(self, i_cell, i_p, shape, i_string=None):
        """I^2 R of connections, busbars and terminals (B,) [W]; ``i_string`` (B, Np): the string
        currents of parallel strings (default: the cells', i.e. no balancing currents)."""
        i = i_cell.reshape(shape)
        q = (self.rc * i * i).sum((-1, -2)) + self.r_terminals * i_p * i_p
        if self.npar > 1:
            if self.strings:
                pos, neg = self._rails(i[:, 0, :] if i_string is None else i_string, i_p)
                q = q + (self.rb * (pos * pos + neg * neg)).sum(-1)
            else:
                pos, neg = self._rails(i, i.sum(-1))
                q = q + (self.rb * (pos * pos + neg * neg)).sum((-1, -2))
        return q
