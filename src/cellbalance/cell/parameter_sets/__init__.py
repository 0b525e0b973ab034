"""Named cell parameter sets, each with its public source in its docstring and ``source`` field.

``get_parameter_set(name)`` returns a :class:`~cellbalance.cell.params.CellParameters`; an unknown
name raises with the list of valid names and the closest match.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib import resources

import numpy as np

from ...errors import UnknownNameError
from ..params import CellParameters, RCPair, ThermalParameters
from ..tables import Table

__all__ = ["available", "ecm_example", "get_parameter_set", "lfp_a123_26650", "nmc_lg_m50"]

KELVIN = 273.15
_SOC = np.linspace(0.0, 1.0, 101)


def _data(name: str):
    return resources.files(__package__).joinpath("data", name)


def _graphite_ocp_chen2020(x):
    """Graphite-SiOx OCP fit of Chen et al. (2020), J. Electrochem. Soc. 167 080534, Eq. (8)."""
    return (
        1.9793 * np.exp(-39.3631 * x)
        + 0.2482
        - 0.0909 * np.tanh(29.8538 * (x - 0.1234))
        - 0.04478 * np.tanh(14.9159 * (x - 0.2769))
        - 0.0205 * np.tanh(30.4444 * (x - 0.6103))
    )


def _nmc811_ocp_chen2020(y):
    """NMC811 OCP fit of Chen et al. (2020), J. Electrochem. Soc. 167 080534, Eq. (9)."""
    return (
        -0.8090 * y
        + 4.4875
        - 0.0428 * np.tanh(18.5138 * (y - 0.5542))
        - 17.7326 * np.tanh(15.7890 * (y - 0.3117))
        + 17.5842 * np.tanh(15.9308 * (y - 0.3120))
    )


def _lfp_ocp_afshar2017(y):
    """LFP OCP of Afshar, Morris & Khajepour (2017), arXiv:1709.03970."""
    return 3.4077 - 0.020269 * y + 0.5 * np.exp(-150.0 * y) - 0.9 * np.exp(-30.0 * (1.0 - y))


def nmc_lg_m50() -> CellParameters:
    """LG INR21700-M50 (NMC811 / graphite-SiOx, 5 Ah), two RC pairs, thermal, no hysteresis to speak of.

    Sources
    -------
    * OCV: full-cell OCV built from the electrode OCP fits and the stoichiometry windows
      (negative 0.0279 -> 0.9014, positive 0.9084 -> 0.2661 from 0 % to 100 % SOC) of
      Chen, C.-H. et al. (2020), "Development of Experimental Techniques for Parameterization of
      Multi-scale Lithium-ion Battery Models", J. Electrochem. Soc. 167, 080534.
    * Capacity 5.0 Ah, 2.5 V / 4.2 V limits: LG Chem INR21700-M50 product specification.
    * Resistances, time constants, activation energies, entropic coefficient, thermal mass
      (69 g x ~1100 J/(kg K)) and cooling conductance are *representative* values of the magnitude
      reported for 21700 NMC cells (DCIR of a few tens of mOhm at 25 degC), not a fit to measured
      data of this cell; use a fitted set for quantitative work.
    """
    x = 0.0279 + _SOC * (0.9014 - 0.0279)
    y = 0.9084 + _SOC * (0.2661 - 0.9084)
    ocv = _nmc811_ocp_chen2020(y) - _graphite_ocp_chen2020(x)
    r0_soc = 0.018 * (1.0 + 0.5 * (_SOC - 0.5) ** 2 + 0.6 * np.exp(-_SOC / 0.08))
    return CellParameters(
        name="nmc_lg_m50",
        source="OCV: Chen et al. 2020 JES 167 080534 (LG M50 electrode OCPs); capacity: LG INR21700-M50 spec; "
        "R/RC/thermal: representative magnitudes, not fitted",
        capacity_Ah=5.0,
        ocv=Table.of_soc(_SOC, ocv, "ocv"),
        entropic_coefficient=Table.of_soc(_SOC, -1.0e-4 + 1.5e-4 * _SOC, "entropic_coefficient"),
        r0=Table.of_soc(_SOC, r0_soc, "r0"),
        rc=(RCPair.constant(0.008, 12.0), RCPair.constant(0.010, 250.0)),
        activation_energy_r0_J_per_mol=20_000.0,
        activation_energy_rc_J_per_mol=35_000.0,
        hysteresis_rate=50.0,
        hysteresis_magnitude=Table.constant(0.002, "hysteresis_magnitude"),
        hysteresis_instantaneous_V=0.0,
        hysteresis_current_threshold_A=0.05,
        coulombic_efficiency=0.9995,
        self_discharge_A=5.0 * 0.02 / (30 * 24),  # ~2 % per month
        thermal=ThermalParameters(heat_capacity_J_per_K=76.0, cooling_W_per_K=0.35),
        v_min=2.5,
        v_max=4.2,
        t_max_K=60 + KELVIN,
        initial_soc=0.5,
        ambient_K=25 + KELVIN,
    )


def lfp_a123_26650() -> CellParameters:
    """A123 ANR26650M1 class LFP/graphite cell (2.3 Ah): flat OCV plateau and marked hysteresis.

    Sources
    -------
    * OCV: LFP OCP of Afshar et al. (2017), arXiv:1709.03970, minus the graphite OCP fit of
      Chen et al. (2020) JES 167 080534, over stoichiometry windows chosen to put the cell
      between 2.0 V and 3.6 V as in Prada et al. (2013), J. Electrochem. Soc. 160 A616 (A123 26650,
      2.3 Ah, 2.0 V / 3.6 V).
    * Hysteresis model: Plett (2004), J. Power Sources 134, 262-276 (Part 2, "enhanced
      self-correcting" cell model). Magnitude ~15 mV, of the order measured for LFP by
      Roscher & Sauer (2011), J. Power Sources 196, 331-336; the rate constant is representative.
    * Resistances, time constants and thermal values: representative magnitudes for a 26650 LFP
      power cell (DCIR ~10-15 mOhm), not a fit.
    """
    x = 0.015 + _SOC * (0.81 - 0.015)
    y = 0.93 + _SOC * (0.0038 - 0.93)
    ocv = _lfp_ocp_afshar2017(y) - _graphite_ocp_chen2020(x)
    return CellParameters(
        name="lfp_a123_26650",
        source="OCV: Afshar et al. 2017 (LFP) and Chen et al. 2020 (graphite) OCPs; limits: Prada et al. 2013; "
        "hysteresis: Plett 2004 model, magnitude after Roscher & Sauer 2011; R/RC/thermal representative",
        capacity_Ah=2.3,
        ocv=Table.of_soc(_SOC, ocv, "ocv"),
        entropic_coefficient=Table.of_soc(_SOC, -5.0e-5 + 0.0 * _SOC, "entropic_coefficient"),
        r0=Table.of_soc(_SOC, 0.010 * (1.0 + 0.8 * np.exp(-_SOC / 0.1)), "r0"),
        rc=(RCPair.constant(0.004, 8.0), RCPair.constant(0.006, 400.0)),
        activation_energy_r0_J_per_mol=25_000.0,
        activation_energy_rc_J_per_mol=40_000.0,
        hysteresis_rate=90.0,
        hysteresis_magnitude=Table.constant(0.015, "hysteresis_magnitude"),
        hysteresis_instantaneous_V=0.002,
        hysteresis_current_threshold_A=0.02,
        coulombic_efficiency=0.9998,
        self_discharge_A=2.3 * 0.01 / (30 * 24),
        thermal=ThermalParameters(heat_capacity_J_per_K=76.0 * 1.0, cooling_W_per_K=0.4),
        v_min=2.0,
        v_max=3.6,
        t_max_K=60 + KELVIN,
        initial_soc=0.5,
        ambient_K=25 + KELVIN,
    )


def _read_3d(name: str, value_col: str) -> Table:
    import pandas as pd

    with _data(name).open() as f:
        df = pd.read_csv(f)
    t_c = np.unique(df["Temperature [degC]"].to_numpy(float))
    i_pb = np.unique(df["Current [A]"].to_numpy(float))
    z = np.unique(df["SoC"].to_numpy(float))
    df = df.sort_values(["Temperature [degC]", "Current [A]", "SoC"])
    v = df[value_col].to_numpy(float).reshape(t_c.size, i_pb.size, z.size)
    # PyBaMM's current is positive on discharge; ours is positive on charge: flip the axis.
    return Table(v[:, ::-1, :], temperature_K=t_c + KELVIN, current_A=-i_pb[::-1], soc=z, name=value_col)


def ecm_example() -> CellParameters:
    """PyBaMM's ``ECM_Example`` set (100 Ah, one RC pair, cell + jig thermal nodes), for cross-checks.

    Source: PyBaMM, ``pybamm/input/parameters/ecm/example_set.py`` and its data files
    (BSD-3-Clause, (c) the PyBaMM team), shipped here unchanged under ``parameter_sets/data``.
    PyBaMM states the set is for demonstration only and does not describe a real cell: DCIR 1 mOhm
    at 25 degC / 50 % SOC, quadratic in SOC, Arrhenius in temperature (Ea = 20 kJ/mol, baked into the
    tables), linear in |I|; R0 = 40 % and R1 = 60 % of DCIR; C1 = 30 s / R1.

    Differences of representation, none of substance: R0, R1, C1 are the same 3-D tables
    (temperature, current, SOC) with the current axis flipped to our sign convention; the entropic
    coefficient, tabulated by PyBaMM over (OCV, T), is re-tabulated over (T, SOC) at the OCV table's
    SOC nodes. As in PyBaMM, the entropic term heats the cell but does not shift the OCV
    (``ocv_includes_entropic = False``).
    """
    import pandas as pd
    from scipy.interpolate import RegularGridInterpolator

    with _data("ecm_example_ocv.csv").open() as f:
        ocv = pd.read_csv(f, comment="#", header=None).to_numpy(float)
    z_ocv, u_ocv = ocv[:, 0], ocv[:, 1]
    with _data("ecm_example_dudt.csv").open() as f:
        dd = pd.read_csv(f)
    u_ax = np.unique(dd["OCV [V]"].to_numpy(float))
    t_ax = np.unique(dd["Temperature [degC]"].to_numpy(float))
    dd = dd.sort_values(["OCV [V]", "Temperature [degC]"])
    grid = dd["dUdT [V/K]"].to_numpy(float).reshape(u_ax.size, t_ax.size)
    interp = RegularGridInterpolator((u_ax, t_ax), grid, bounds_error=False, fill_value=None)
    uu, tt = np.meshgrid(u_ocv, t_ax, indexing="xy")
    dudt = interp(np.stack([uu.ravel(), tt.ravel()], axis=1)).reshape(t_ax.size, z_ocv.size)
    return CellParameters(
        name="ecm_example",
        source="PyBaMM ECM_Example (pybamm/input/parameters/ecm/example_set.py, BSD-3-Clause); "
        "demonstration values, not a real cell",
        capacity_Ah=100.0,
        ocv=Table.of_soc(z_ocv, u_ocv, "ocv"),
        entropic_coefficient=Table.of_soc_temperature(z_ocv, t_ax + KELVIN, dudt, "entropic_coefficient"),
        ocv_includes_entropic=False,
        r0=_read_3d("ecm_example_r0.csv", "R0 [Ohm]"),
        rc=(RCPair(_read_3d("ecm_example_r1.csv", "R1 [Ohm]"), _read_3d("ecm_example_c1.csv", "C1 [F]")),),
        thermal=ThermalParameters(
            heat_capacity_J_per_K=1000.0,
            cooling_W_per_K=10.0,
            jig_heat_capacity_J_per_K=500.0,
            jig_cooling_W_per_K=10.0,
        ),
        hysteresis_current_threshold_A=1.0,
        v_min=3.2,
        v_max=4.2,
        t_max_K=80 + KELVIN,
        initial_soc=0.5,
        ambient_K=25 + KELVIN,
    )


_SETS: dict[str, Callable[[], CellParameters]] = {
    "nmc_lg_m50": nmc_lg_m50,
    "lfp_a123_26650": lfp_a123_26650,
    "ecm_example": ecm_example,
}


def available() -> list[str]:
    return sorted(_SETS)


def get_parameter_set(name: str) -> CellParameters:
    """The parameter set called ``name`` (see :func:`available`)."""
    try:
        return _SETS[name]()
    except KeyError:
        close = difflib.get_close_matches(name, _SETS, 1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"Unknown cell parameter set {name!r}; available: {available()}.{hint}") from None
