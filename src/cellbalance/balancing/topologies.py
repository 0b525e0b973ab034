"""Balancing topologies as :class:`~cellbalance.balancing.graph.BalancingGraph` constructors, and their registry.

Each constructor takes the number of series cells and a few parameters and returns a graph whose
edges are the balancing devices. Classification and circuits follow the reviews

* J. Gallardo-Lozano, E. Romero-Cadaval, M. I. Milanés-Montero, M. A. Guerrero-Martínez, "Battery
  equalization active methods", J. Power Sources 246 (2014) 934-949;
* M. Daowd, N. Omar, P. Van den Bossche, J. Van Mierlo, "Passive and active battery balancing
  comparison based on MATLAB simulation", IEEE Vehicle Power and Propulsion Conf. (VPPC) 2011;
* J. Cao, N. Schofield, A. Emadi, "Battery balancing methods: a comprehensive review", IEEE VPPC 2008.

Edge weights are gains of the averaged law ``i = w (x_a - x_b)`` (see :mod:`.graph`): for converter
topologies ``weight`` is in A per unit SOC difference (or a relative gain, 1 by default, scaled by
the analysis' ``gain``); the switched-capacitor topology has conductances [S].

Use :func:`get_topology` with a name from :func:`available_topologies`, or call a constructor.
User-defined networks: :meth:`BalancingGraph.from_edge_list`, :meth:`BalancingGraph.from_networkx`,
:meth:`BalancingGraph.from_incidence`, and :func:`register_topology` to add a name to the registry.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable

import numpy as np

from ..errors import ParameterError, UnknownNameError, check_range
from .graph import BalancingGraph

__all__ = [
    "adjacent",
    "available_topologies",
    "bus",
    "cell_to_pack",
    "complete",
    "get_topology",
    "modular",
    "pack_to_cell",
    "register_topology",
    "ring",
    "switched_capacitor",
    "switched_capacitor_conductance",
]


def _check_n(owner: str, n_cells, minimum: int) -> int:
    if isinstance(n_cells, bool) or not isinstance(n_cells, int | np.integer) or n_cells < minimum:
        raise ParameterError(f"{owner}.n_cells must be an integer >= {minimum}; got {n_cells!r}.")
    return int(n_cells)


def _cells(n: int) -> tuple[str, ...]:
    return ("cell",) * n


def adjacent(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    """Adjacent cell-to-cell balancers: a path ``0 - 1 - ... - (N-1)``.

    Each edge is a bidirectional converter between neighbouring cells, e.g. the inductor-based
    buck-boost equaliser (:mod:`cellbalance.balancing.switched`; Gallardo-Lozano et al. 2014;
    Daowd et al. 2011). Unit weights give ``lambda_2 = 2 - 2 cos(pi / N)``.

    Parameters
    ----------
    n_cells : int
        Series cells N >= 2.
    weight : float
        Edge gain [A per unit SOC difference, or relative].
    """
    n = _check_n("adjacent", n_cells, 2)
    check_range("adjacent", "weight", weight, gt=0)
    e = np.stack([np.arange(n - 1), np.arange(1, n)], 1)
    return BalancingGraph(e, np.full(n - 1, float(weight)), _cells(n), kind="adjacent")


def ring(n_cells: int, weight: float = 1.0, link_weight: float | None = None) -> BalancingGraph:
    """Adjacent balancers plus one link from the last cell back to the first: a cycle.

    The closing link spans the whole string, so in hardware it is an isolated converter (e.g. a
    bidirectional flyback) rated for the string voltage; its gain may differ (``link_weight``).
    Unit weights give ``lambda_2 = 2 - 2 cos(2 pi / N)``.

    Parameters
    ----------
    n_cells : int
        Series cells N >= 3.
    weight : float
        Gain of the adjacent edges.
    link_weight : float, optional
        Gain of the end-to-end edge; default ``weight``.
    """
    n = _check_n("ring", n_cells, 3)
    check_range("ring", "weight", weight, gt=0)
    lw = float(weight) if link_weight is None else link_weight
    check_range("ring", "link_weight", lw, gt=0)
    e = np.stack([np.arange(n), (np.arange(n) + 1) % n], 1)
    w = np.full(n, float(weight))
    w[-1] = lw
    return BalancingGraph(e, w, _cells(n), kind="ring")


def switched_capacitor_conductance(capacitance_F: float, f_sw_Hz: float, r_loop_ohm: float = 0.0) -> float:
    """Averaged conductance ``1 / R_eq`` [S] of a flying capacitor switched between two cells.

    At a 50 % duty ratio the capacitor swings by ``(V_a - V_b) tanh(1 / (4 f C R))`` each half
    period, so the mean current is ``f C (V_a - V_b) tanh(1 / (4 f C R))``:
    ``1/R_eq = f_sw C tanh(1 / (4 f_sw C R))``, with ``R`` the resistance of the loop in each phase.
    Slow-switching limit (R -> 0): ``R_eq = 1 / (f_sw C)``; fast-switching limit: ``R_eq = 4 R``.

    Parameters
    ----------
    capacitance_F : float
        Flying capacitance C [F].
    f_sw_Hz : float
        Switching frequency [Hz].
    r_loop_ohm : float
        Loop resistance per phase (two switches, capacitor ESR, the cells) [Ohm]; 0 for the ideal
        slow-switching limit.

    Notes
    -----
    C. Pascual, P. T. Krein, "Switched capacitor system for automatic series battery
    equalization", IEEE APEC 1997; M. D. Seeman, S. R. Sanders, "Analysis and optimization of
    switched-capacitor DC-DC converters", IEEE Trans. Power Electron. 23 (2008) 841-851 (the
    slow- and fast-switching limits). The tanh form is the exact periodic solution of the RC
    charge exchange: with ``e = exp(-1/(2 f R C))`` the capacitor swings by
    ``(V_a - V_b)(1 - e)/(1 + e)``.
    """
    o = "switched_capacitor"
    check_range(o, "capacitance_F", capacitance_F, gt=0)
    check_range(o, "f_sw_Hz", f_sw_Hz, gt=0)
    check_range(o, "r_loop_ohm", r_loop_ohm, ge=0)
    if r_loop_ohm == 0:
        return float(f_sw_Hz * capacitance_F)
    return float(f_sw_Hz * capacitance_F * math.tanh(1.0 / (4.0 * f_sw_Hz * capacitance_F * r_loop_ohm)))


def switched_capacitor(n_cells: int, capacitance_F: float = 1e-3, f_sw_Hz: float = 10e3,
                       r_loop_ohm: float = 0.0) -> BalancingGraph:
    """A flying capacitor between every pair of neighbours: a path of conductances ``1/R_eq`` [S].

    Averaged over a switching period, a capacitor C switched at ``f_sw`` between two cells is a
    resistor ``R_eq = 1 / (f_sw C)`` (slow-switching limit; with loop resistance see
    :func:`switched_capacitor_conductance`): the edge current is ``(V_a - V_b) / R_eq``, driven by
    the voltage difference and not commanded. ``weight_unit`` is ``"S"``; to compare with
    converter topologies multiply by ``dOCV/dSOC`` [V per unit SOC] (analysis ``gain``).

    Parameters
    ----------
    n_cells : int
        Series cells N >= 2.
    capacitance_F : float
        Flying capacitance per pair [F].
    f_sw_Hz : float
        Switching frequency [Hz].
    r_loop_ohm : float
        Loop resistance per phase [Ohm] (0: ideal slow-switching limit).

    Notes
    -----
    Pascual & Krein, IEEE APEC 1997; Gallardo-Lozano et al. 2014.
    """
    n = _check_n("switched_capacitor", n_cells, 2)
    g = switched_capacitor_conductance(capacitance_F, f_sw_Hz, r_loop_ohm)
    e = np.stack([np.arange(n - 1), np.arange(1, n)], 1)
    return BalancingGraph(e, np.full(n - 1, g), _cells(n), kind="switched_capacitor", weight_unit="S")


def _star(owner: str, n_cells, hub: str, weight: float, outward: bool) -> BalancingGraph:
    n = _check_n(owner, n_cells, 2)
    check_range(owner, "weight", weight, gt=0)
    cells, centre = np.arange(n), np.full(n, n)
    e = np.stack([centre, cells] if outward else [cells, centre], 1)
    return BalancingGraph(e, np.full(n, float(weight)), (*_cells(n), hub), kind=owner)


def cell_to_pack(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    """One converter per cell from the cell to the whole string: a star around the ``"pack"`` node.

    Edges are oriented cell -> pack (a positive command discharges the cell into the string).
    Typical hardware: a flyback per cell, often unidirectional (use
    ``ConverterModel(bidirectional=False)``). Physically the converter's output current flows
    through every cell of the string, including the source cell: the graph edge weight describes
    the charge moved, and the series-current effect is applied by the balancer / pack simulator
    (the ``"pack"`` node is the series connection of all cells, see :mod:`.graph`). Its reduced
    Laplacian is the complete graph with weights ``w / N`` (``lambda_2 = w``).

    Parameters
    ----------
    n_cells : int
        Series cells N >= 2.
    weight : float
        Gain of each cell's converter.

    Notes
    -----
    Gallardo-Lozano et al. 2014 ("cell to pack"); Daowd et al. 2011.
    """
    return _star("cell_to_pack", n_cells, "pack", weight, outward=False)


def pack_to_cell(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    """One converter per cell from the whole string to the cell: a star around the ``"pack"`` node.

    Edges are oriented pack -> cell (a positive command charges the cell from the string). The
    input current is a series current drawn from every cell, including the destination: handled
    as for :func:`cell_to_pack`. Typical hardware: a forward/flyback converter per cell or one
    shared multi-output transformer.

    Parameters
    ----------
    n_cells : int
        Series cells N >= 2.
    weight : float
        Gain of each converter edge [A per unit SOC difference, or relative].

    Notes
    -----
    Gallardo-Lozano et al. 2014 ("pack to cell"); Daowd et al. 2011.
    """
    return _star("pack_to_cell", n_cells, "pack", weight, outward=True)


def bus(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    """Any-to-any through a shared bus or multi-winding transformer: a star around a ``"bus"`` node.

    The bus has no storage, so what one cell delivers to it others take at once: Kron reduction
    of the bus gives the complete graph with weights ``w_i w_j / sum_k w_k`` (``w / N`` here,
    ``lambda_2 = w``). Every transfer passes two conversion stages (cell -> bus -> cell).

    Parameters
    ----------
    n_cells : int
        Series cells N >= 2.
    weight : float
        Gain of each converter edge [A per unit SOC difference, or relative].

    Notes
    -----
    Gallardo-Lozano et al. 2014 ("cell to pack to cell", multi-winding transformer);
    Kron reduction: Dörfler & Bullo, IEEE TCAS-I 60 (2013) 150.
    """
    return _star("bus", n_cells, "bus", weight, outward=False)


def complete(n_cells: int, weight: float = 1.0) -> BalancingGraph:
    """A direct converter between every pair of cells (the ideal any-to-any): ``N (N - 1) / 2`` edges.

    Unit weights give ``lambda_2 = N``. A reference for what any-to-any balancing could achieve;
    hardware needs isolation between non-adjacent cells.

    Parameters
    ----------
    n_cells : int
        Series cells N >= 2.
    weight : float
        Gain of each converter edge [A per unit SOC difference, or relative].
    """
    n = _check_n("complete", n_cells, 2)
    check_range("complete", "weight", weight, gt=0)
    a, b = np.triu_indices(n, 1)
    return BalancingGraph(np.stack([a, b], 1), np.full(a.size, float(weight)), _cells(n), kind="complete")


def modular(n_cells: int, module_size: int = 12, weight: float = 1.0, inter_weight: float | None = None,
            inter: str = "modules") -> BalancingGraph:
    """Two-level (hierarchical) balancing: adjacent balancers inside modules, balancers between modules.

    The string is cut into ``N / module_size`` modules of consecutive cells; inside each module
    neighbouring cells are joined by adjacent converters (gain ``weight``). Between modules:

    * ``inter="modules"`` (default): a ``"module k"`` node per module (the series connection of its
      cells) and a module-to-module converter between neighbouring modules. Its current is a
      series current through every cell of both modules; at the level of one cell it moves
      ``module_size`` times the charge, so the default ``inter_weight = module_size * weight``
      is a module converter with the same current gain as a cell converter.
    * ``inter="ends"``: an extra cell-to-cell converter across each module boundary, from the last
      cell of module k to the first of module k+1 (default ``inter_weight = weight``; with equal
      weights this is :func:`adjacent`).

    Parameters
    ----------
    n_cells : int
        Series cells N >= 2.
    module_size : int
        Cells per module m >= 2; must divide N.
    weight : float
        Gain of the intra-module converters.
    inter_weight : float, optional
        Gain of the inter-module converters (at cell level), see above.
    inter : {"modules", "ends"}
        Where the inter-module converters sit.

    Notes
    -----
    Hierarchical / modularised equalisers: Gallardo-Lozano et al. 2014 (modular
    equalisers); e.g. C.-H. Kim, M.-Y. Kim, G.-W. Moon, "A modularized charge equalizer using a
    battery monitoring IC for series-connected Li-ion battery strings in electric vehicles",
    IEEE Trans. Power Electron. 28 (2013) 3779-3787.
    """
    o = "modular"
    n = _check_n(o, n_cells, 2)
    if isinstance(module_size, bool) or not isinstance(module_size, int | np.integer) or not 2 <= module_size <= n \
            or n % module_size:
        raise ParameterError(f"{o}.module_size must be an integer in [2, {n}] dividing n_cells={n}; "
                             f"got {module_size!r}.")
    if inter not in ("modules", "ends"):
        raise ParameterError(f"{o}.inter must be 'modules' or 'ends'; got {inter!r}.")
    check_range(o, "weight", weight, gt=0)
    m = int(module_size)
    n_mod = n // m
    wi = (m * weight if inter == "modules" else weight) if inter_weight is None else inter_weight
    check_range(o, "inter_weight", wi, gt=0)
    edges, weights = [], []
    for k in range(n_mod):
        base = k * m
        edges += [(base + j, base + j + 1) for j in range(m - 1)]
        weights += [float(weight)] * (m - 1)
    if inter == "ends":
        edges += [(k * m + m - 1, (k + 1) * m) for k in range(n_mod - 1)]
        weights += [float(wi)] * (n_mod - 1)
        return BalancingGraph(np.array(edges), np.array(weights), _cells(n), kind=o)
    edges += [(n + k, n + k + 1) for k in range(n_mod - 1)]
    weights += [float(wi)] * (n_mod - 1)
    kinds = (*_cells(n), *("module",) * n_mod)
    names = (*(str(k) for k in range(n)), *(f"module {k}" for k in range(n_mod)))
    members = {n + k: range(k * m, (k + 1) * m) for k in range(n_mod)}
    return BalancingGraph(np.array(edges).reshape(-1, 2), np.array(weights), kinds, names, members, kind=o)


_REGISTRY: dict[str, Callable[..., BalancingGraph]] = {
    "adjacent": adjacent,
    "ring": ring,
    "switched_capacitor": switched_capacitor,
    "cell_to_pack": cell_to_pack,
    "pack_to_cell": pack_to_cell,
    "bus": bus,
    "complete": complete,
    "modular": modular,
}


def available_topologies() -> list[str]:
    """Names accepted by :func:`get_topology`, in registry order."""
    return list(_REGISTRY)


def register_topology(name: str, builder: Callable[..., BalancingGraph], *, replace: bool = False) -> None:
    """Add a user-defined topology ``builder(n_cells, **params) -> BalancingGraph`` to the registry."""
    if not isinstance(name, str) or not name:
        raise ParameterError(f"register_topology.name must be a non-empty string; got {name!r}.")
    if name in _REGISTRY and not replace:
        raise ParameterError(f"register_topology: {name!r} is already registered (pass replace=True).")
    if not callable(builder):
        raise ParameterError(f"register_topology.builder must be callable; got {builder!r}.")
    _REGISTRY[name] = builder


def get_topology(kind: str, n_cells: int, **params) -> BalancingGraph:
    """Build the topology ``kind`` for a string of ``n_cells`` series cells.

    Parameters
    ----------
    kind : str
        One of :func:`available_topologies`.
    n_cells : int
        Series cells.
    **params
        The constructor's parameters (e.g. ``weight``, ``module_size``, ``capacitance_F``).

    Raises
    ------
    UnknownNameError
        Unknown ``kind`` (the message lists the names and the closest match).
    ParameterError
        A parameter the constructor does not take, or a value out of range.
    """
    try:
        builder = _REGISTRY[kind]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(kind), list(_REGISTRY), 1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"Unknown topology {kind!r}; available: {available_topologies()}.{hint}") from None
    try:
        sig = inspect.signature(builder)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        sig = None
    if sig is not None and not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        allowed = [p for p in list(sig.parameters)[1:]]
        for key in params:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, 1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ParameterError(f"topology {kind!r} has no parameter {key!r}; its parameters: {allowed}.{hint}")
    return builder(n_cells, **params)
