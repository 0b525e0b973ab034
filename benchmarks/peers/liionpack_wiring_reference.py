"""Reference traces of liionpack 0.4 for the pack-wiring peer test (tests/pack/test_wiring_liionpack.py).

Run once, in liionpack's own environment (liionpack is not a dependency of cellbalance or its tests):

    python -m venv /work/lp04-venv
    /work/lp04-venv/bin/pip install "liionpack==0.4.0" "pybamm==25.1.1" "pandas==2.2.3"
    /work/lp04-venv/bin/python benchmarks/peers/liionpack_wiring_reference.py

Writes tests/peer/data/liionpack_wiring_reference.npz: the inputs (resistances, variation, terminals)
and, per circuit, liionpack's outputs at every 1 s row as float32 (the test reads everything from it).

Row k of liionpack's output (liionpack/solvers.py): ``Cell current [A]`` and ``Pack current [A]`` are
the currents applied from t_k to t_k+1; ``SoC`` is the state at t_k; ``Terminal voltage [V]`` is the
cell voltage at t_k evaluated with the current of the step before (row k-1); the last row repeats the
currents of the one before and is not stepped. liionpack gives its first experiment step one row more
(901 rows of "Discharge ... for 900 seconds"; the charge then has 599 stepped rows), so the test takes
the applied profile from the stored pack current, not from PROFILE.

Versions (2026-12-03): liionpack 0.4.0 (its requirement: pybamm >= 24.9) runs with **pybamm 25.1.1**
(casadi 3.7.2, numpy 1.26.4) and **pandas 2.2.3**. It fails with pybamm 26.10.1.1
(``solver_utils._create_casadi_objects`` line 295 reads ``model.len_rhs_sens``: "AttributeError:
'Thevenin' object has no attribute 'len_rhs_sens'", also with liionpack's default SPM) and, with pybamm 25.1.1, with pandas 3.0.6 (``netlist_utils.power_loss``:
``R_map *= ~Ri_map`` -> "ValueError: output array is read-only", pandas 3's copy-on-write). Its own
example (``setup_circuit(Np=4, Ns=3, ...)``, Chen2020, 30 min charge + 15 min rest) runs with these.

Cells: ``pybamm.equivalent_circuit.Thevenin`` with ``ECM_Example`` (cellbalance's ``ecm_example``
is the same tables), with per-cell variation passed as liionpack ``inputs`` (one value per battery):
``Cell capacity [A.h]``, ``Initial SoC`` and a factor on ``R0 [Ohm]``; cellbalance gets the same
numbers as ``capacity_Ah``, the initial ``soc`` and ``r0_scale`` (see :func:`variation`).

Circuits (liionpack's netlist of ``setup_circuit``, its resistor values then set per element):

* ``parallel-strings``: ``setup_circuit(..., configuration="parallel-strings")`` as it is: per string
  per cell a connection resistor ``Rc``, the busbar segments ``Rbn``/``Rbp`` between the strings on the
  two pack rails, ``Rt`` at each terminal. cellbalance's ``Wiring("parallel-strings")`` is this circuit.
* ``series-groups``: liionpack's ``series-groups`` puts one busbar row between consecutive groups,
  shared by both (the top of group s is the bottom of group s+1, node for node), which couples every
  group to the next; cellbalance's ``series-groups`` gives each group its own two rails (busbar
  segments on both, the same values) and joins group s's positive-rail terminal position to group
  s+1's negative-rail terminal position, so each group is a two-terminal element. The two are the same
  circuit only when the busbars are ideal. So two circuits are run:

  - ``series-groups``: liionpack's netlist with each shared row split into the two rails of cellbalance
    (the cells of group s+1 moved to new nodes of their own negative rail, its segments added, that
    rail joined to the previous group's positive rail at the terminal positions): liionpack's solver
    on the circuit cellbalance models;
  - ``series-groups-shared``: liionpack's own ``series-groups`` circuit, unchanged; cellbalance cannot
    express it with busbar resistances (it is reported, not asserted to the tolerances).

Current (pack, positive = charge in cellbalance; liionpack's experiment): 100 A discharge for 900 s,
rest 300 s, 50 A charge for 600 s, at 1 s. Cell-level outputs are per battery in liionpack's order
(string by string, cell by cell along the string: battery ``j * Ns + s``), stored here in
cellbalance's order ``(time, series s, parallel j)`` and sign (liionpack's ``Cell current [A]`` is
positive on discharge).

How liionpack couples cells and circuit (liionpack/solvers.py ``_step``): at each step it replaces each
cell by its open-circuit voltage behind ``R_i = |OCV - V| / |I|`` of the previous step (not
recalculated during rests or the first step after one), solves the circuit, then steps every cell
with its branch current for ``dt``. cellbalance solves with each cell's emf (OCV + RC voltage) and R0
at the step. The difference is the test's tolerance budget.
"""

from __future__ import annotations

import sys
from pathlib import Path

import liionpack as lp
import numpy as np
import pandas as pd
import pybamm

OUT = Path(__file__).resolve().parents[2] / "tests" / "peer" / "data" / "liionpack_wiring_reference.npz"

NS, NP = 2, 4
#: connection resistance per cell (series s, parallel j), ohm
RC = [[1.0e-3, 1.5e-3, 0.8e-3, 1.2e-3], [1.1e-3, 0.9e-3, 1.3e-3, 1.0e-3]]
#: busbar segments between neighbouring positions: parallel-strings (NP-1,) on both pack rails;
#: series-groups (NS, NP-1), group s's on both of its rails
RB_STRINGS = [2e-4, 3e-4, 1e-4]
RB_GROUPS = [[2e-4, 3e-4, 1e-4], [1.5e-4, 2.5e-4, 2e-4]]
RT = 1e-4  # each terminal
TERMINALS = {"parallel-strings": "left", "series-groups": "left-right", "series-groups-shared": "left-right",
             "series-groups-ideal": "left-right"}
RB_IDEAL = 1e-9
PROFILE = [(-100.0, 900), (0.0, 300), (50.0, 600)]  # (pack current A, positive = charge; seconds)
DT = 1.0


def variation():
    """Per cell (series s, parallel j): capacity (A.h), initial SoC, R0 factor; fixed numbers."""
    cap = np.array([[100.0, 97.0, 103.0, 99.0], [101.5, 98.5, 96.0, 102.0]])
    soc = np.array([[0.60, 0.63, 0.58, 0.61], [0.62, 0.59, 0.60, 0.57]])
    r0 = np.array([[1.00, 1.10, 0.92, 1.05], [0.95, 1.08, 1.00, 0.90]])
    return cap, soc, r0


def _experiment():
    steps = []
    for i, d in PROFILE:
        steps.append(f"Rest for {d} seconds" if i == 0 else
                     f"{'Charge' if i > 0 else 'Discharge'} at {abs(i):g} A for {d} seconds")
    return pybamm.Experiment(steps, period=f"{DT:g} second")


def _parameter_values():
    pv = pybamm.ParameterValues("ECM_Example")
    r0 = pv["R0 [Ohm]"]

    def r0_scaled(T_cell, current, soc):
        return r0(T_cell, current, soc) * pybamm.InputParameter("R0 factor")

    pv.update({"Cell capacity [A.h]": pybamm.InputParameter("Per-cell capacity [A.h]"),
               "Initial SoC": "[input]", "R0 [Ohm]": r0_scaled})
    return pv


def sim_func(parameter_values):
    model = pybamm.equivalent_circuit.Thevenin()
    # the two variables liionpack reads from every cell model
    model.variables["Terminal voltage [V]"] = model.variables["Voltage [V]"]
    model.variables["Surface open-circuit voltage [V]"] = model.variables["Open-circuit voltage [V]"]
    return pybamm.Simulation(model=model, parameter_values=parameter_values.copy(),
                             solver=pybamm.CasadiSolver(mode="safe"))


def _battery_rows(net: pd.DataFrame, prefix: str) -> np.ndarray:
    rows = net.index[net["desc"].str.match(prefix + r"\d+$")]
    return np.asarray(sorted(rows, key=lambda r: int(net.at[r, "desc"][len(prefix):])))


def netlist(case: str) -> pd.DataFrame:
    conf = "parallel-strings" if case == "parallel-strings" else "series-groups"
    net = lp.setup_circuit(Np=NP, Ns=NS, Rb=1e-4, Rc=1e-3, Ri=1e-3, Rt=RT, V=3.6, I=100.0,
                           terminals=TERMINALS[case], configuration=conf)
    rc = _battery_rows(net, "Rc")  # battery b = j * NS + s
    for b, r in enumerate(rc):
        net.at[r, "value"] = RC[b % NS][b // NS]
    nodes = np.arange((3 * NS + 1) * NP).reshape(3 * NS + 1, NP) + 1  # setup_circuit's grid (all nodes used)
    rb = net.index[net["desc"].str.startswith("Rb")]
    rails = np.zeros((NS + 1, NP - 1), dtype=int) - 1  # per rail row (0 .. NS): the segment rows
    rows_of_rail = [0, 3 * NS] if conf == "parallel-strings" else list(range(0, 3 * NS + 1, 3))
    for r in rb:
        n1 = int(net.at[r, "node1"])
        row, col = np.argwhere(nodes == n1)[0]
        rails[rows_of_rail.index(row) if conf == "series-groups" else (0 if row == 0 else NS), col] = r
    if conf == "parallel-strings":
        for k in range(NP - 1):
            net.at[rails[0, k], "value"] = RB_STRINGS[k]
            net.at[rails[NS, k], "value"] = RB_STRINGS[k]
        return net
    # series-groups: rail row r (0 .. NS) is group r's negative rail and group r-1's positive rail
    for k in range(NP - 1):
        net.at[rails[0, k], "value"] = RB_GROUPS[0][k]
        net.at[rails[NS, k], "value"] = RB_GROUPS[NS - 1][k]
        for r in range(1, NS):
            net.at[rails[r, k], "value"] = RB_GROUPS[r - 1][k]  # (shared: group r-1's positive rail)
    if case == "series-groups-ideal":
        net.loc[net["desc"].str.startswith("Rb"), "value"] = RB_IDEAL
    if case != "series-groups":
        return net
    tp = {"left": 0, "right": NP - 1, "left-right": 0, "right-left": NP - 1}[TERMINALS[case]]
    tn = {"left": 0, "right": NP - 1, "left-right": NP - 1, "right-left": 0}[TERMINALS[case]]
    new = []
    nxt = int(max(net["node1"].max(), net["node2"].max())) + 1
    for r in range(1, NS):
        # group r's own negative rail: new nodes, except at tn, where it meets group r-1's rail at tp
        own = {}
        for j in range(NP):
            if j == tn:
                own[j] = int(nodes[3 * r, tp])
            else:
                own[j] = nxt
                nxt += 1
        for j in range(NP):  # the connection resistor of cell (r, j) hangs from its own rail now
            row = rc[j * NS + r]
            assert int(net.at[row, "node2"]) == nodes[3 * r, j]
            net.at[row, "node2"] = own[j]
        for k in range(NP - 1):
            new.append({"desc": f"Rbx{r}_{k}", "node1": own[k], "node2": own[k + 1], "value": RB_GROUPS[r][k]})
    add = pd.DataFrame(new)
    for c in ("node1_x", "node1_y", "node2_x", "node2_y"):
        add[c] = 0
    return pd.concat([net, add], ignore_index=True)


def run(case: str) -> dict:
    cap, soc, r0 = variation()
    order = lambda a: np.asarray(a).T.reshape(-1)  # (s, j) -> battery j * NS + s  # noqa: E731
    # liionpack 0.4 passes the inputs to the integrator in this dict's order after "Current function [A]",
    # PyBaMM 25.1 builds it with the inputs sorted by name (base_solver.py, ``ordered_inputs_names.sort()``):
    # the names here sort after "Current function [A]" and in this order, so both agree (with the
    # capacity named "Cell capacity [A.h]", it and the current are swapped: checked)
    inputs = {"Initial SoC": order(soc), "Per-cell capacity [A.h]": order(cap), "R0 factor": order(r0)}
    assert list(inputs) == sorted(inputs) and min(inputs) > "Current function [A]"
    out = lp.solve(netlist=netlist(case), sim_func=sim_func, parameter_values=_parameter_values(),
                   experiment=_experiment(), inputs=inputs, initial_soc=None, manager="casadi",
                   output_variables=["SoC", "Cell temperature [degC]"])
    back = lambda a: np.asarray(a).reshape(len(a), NP, NS).transpose(0, 2, 1)  # noqa: E731
    return {
        "time_s": np.asarray(out["Time [s]"], float),
        "pack_current_A": -np.asarray(out["Pack current [A]"], np.float32),
        "pack_voltage_V": np.asarray(out["Pack terminal voltage [V]"], np.float32),
        "current_A": -back(out["Cell current [A]"]).astype(np.float32),
        "voltage_V": back(out["Terminal voltage [V]"]).astype(np.float32),
        "soc": back(out["SoC"]).astype(np.float32),
        "temperature_C": back(out["Cell temperature [degC]"]).astype(np.float32),
    }


def main() -> None:
    arrays = {"versions": np.array([f"liionpack {lp.__version__}", f"pybamm {pybamm.__version__}",
                                    f"pandas {pd.__version__}", f"python {sys.version.split()[0]}"])}
    cap, soc, r0 = variation()
    arrays.update({"ns": NS, "np": NP, "connection_ohm": np.array(RC), "terminal_ohm": RT, "capacity_Ah": cap,
                   "initial_soc": soc, "r0_scale": r0})
    for case in ("parallel-strings", "series-groups", "series-groups-shared", "series-groups-ideal"):
        arrays[f"{case}/busbar_ohm"] = np.array(RB_STRINGS if case == "parallel-strings" else
                                                np.zeros((NS, NP - 1)) if case == "series-groups-ideal" else RB_GROUPS)
        arrays[f"{case}/terminals"] = np.array(TERMINALS[case])
        r = run(case)
        for k, v in r.items():
            arrays[f"{case}/{k}"] = v
        print(case, {k: v.shape for k, v in r.items()}, "SoC at 0:", r["soc"][0].ravel())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print("wrote", OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
