"""Attempt: liionpack 0.4 on PyBaMM's Thevenin ECM (ECM_Example), 4 strings x 2 cells, with
connection and busbar resistances. Run with /work/lp-venv/bin/python (liionpack 0.4.0, PyBaMM
26.10.1.1). Records whether it runs.

Result (2026-12-03): it does not. ``lp.solve`` -> ``CasadiManager.setup_actors`` ->
``solver_utils._create_casadi_objects`` line 295 reads ``model.len_rhs_sens``, which PyBaMM 26 no
longer has: ``AttributeError: 'Thevenin' object has no attribute 'len_rhs_sens'`` (liionpack's own
default, the SPM of ``basic_simulation`` with Chen2020, fails at the same line: checked). The wiring tests therefore use the
independent sparse nodal-analysis reference of tests/peer/wiring_reference.py.
"""
import sys
import traceback

import liionpack as lp
import numpy as np
import pybamm


def sim_func(parameter_values):
    model = pybamm.equivalent_circuit.Thevenin()
    # liionpack reads these two variables from every cell model
    model.variables["Terminal voltage [V]"] = model.variables["Voltage [V]"]
    model.variables["Surface open-circuit voltage [V]"] = model.variables["Open-circuit voltage [V]"]
    return pybamm.Simulation(model=model, parameter_values=parameter_values.copy(),
                             solver=pybamm.CasadiSolver(mode="safe"))


def main():
    pv = pybamm.ParameterValues("ECM_Example")
    net = lp.setup_circuit(Np=4, Ns=2, Rb=1e-4, Rc=1e-3, Ri=1e-3, V=3.6, I=50.0, configuration="parallel-strings")
    exp = pybamm.Experiment(["Discharge at 50 A for 60 seconds"], period="1 second")
    try:
        out = lp.solve(netlist=net, sim_func=sim_func, parameter_values=pv, experiment=exp,
                       initial_soc=None, manager="casadi")
        print("ran:", {k: np.shape(v) for k, v in out.items()})
        print(out["Cell current [A]"][:3])
    except Exception:
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()
