"""PyBaMM reference runs for the peer cross-check (test-only: this module imports pybamm).

Model: ``pybamm.equivalent_circuit.Thevenin()`` (1 RC element; its lumped cell + jig thermal
submodel is always on, there is no option to switch it off) with ``pybamm.ParameterValues("ECM_Example")``,
solved by IDAKLU at tight tolerances (rtol = atol = 1e-8 by default).

Every array returned is in **cellbalance's sign convention, positive = charging** (PyBaMM's
``Current [A]`` is positive on discharge and is negated here). Temperatures are in K (PyBaMM's
states are in degC; its ``... temperature [K]`` variables are those + 273.15). ``rc_voltage_V`` is
PyBaMM's ``Element-1 overpotential [V]``, which is already our RC voltage (``V = OCV + I*R0 + v1``
with I positive on charge; negative on discharge), no sign change.

Functions
---------
- :func:`run_pybamm_discharge_rest`: "Discharge at 1C until 3.2 V", "Rest for 1 hour", period dt_s.
- :func:`run_pybamm_drive_cycle`: a current profile held constant between samples (zero-order hold).
- :func:`us06_profile_100ah` / :func:`run_pybamm_us06`: the packaged US06 cell current scaled for
  the 100 A·h ECM_Example cell, repeated to ~30 min, started at SoC 0.8.

Each returns a dict of numpy arrays ``time_s, voltage_V, current_A, soc, temperature_K,
jig_temperature_K, ocv_V, rc_voltage_V, heat_W`` (plus a few scalars, see each function).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pybamm
from scipy.interpolate import CubicSpline

from cellbalance.scenarios.profiles import DriveCycle, load_drive_cycle

__all__ = [
    "ATOL",
    "KELVIN",
    "RTOL",
    "US06_INITIAL_SOC",
    "US06_REPEATS",
    "US06_SCALE",
    "ZOH_RAMP_S",
    "run_pybamm_discharge_rest",
    "run_pybamm_drive_cycle",
    "run_pybamm_us06",
    "us06_profile_100ah",
]

KELVIN = 273.15
RTOL = 1e-8
ATOL = 1e-8
#: width of the linear ramp that stands for each step change of a zero-order-hold current profile
ZOH_RAMP_S = 1e-6
#: US06 cell current (peak 8.1 A, for a cell of a few A·h) x20: 162 A (1.62C) discharge peak,
#: 84 A (0.84C) regeneration peak, 16.8 A mean discharge on the 100 A·h ECM_Example cell
US06_SCALE = 20.0
#: 3 x 601 s = 1803 s (about 30 minutes)
US06_REPEATS = 3
#: SoC 0.8 -> ~0.716 after 3 repeats; the voltage stays within 3.78-3.97 V (limits 3.2 and 4.2 V)
US06_INITIAL_SOC = 0.8

# PyBaMM variable -> (our key, factor, offset): our = factor * pybamm + offset
_VARIABLES = {
    "Voltage [V]": ("voltage_V", 1.0, 0.0),
    "Current [A]": ("current_A", -1.0, 0.0),  # PyBaMM: positive = discharge; ours: positive = charge
    "SoC": ("soc", 1.0, 0.0),
    "Cell temperature [degC]": ("temperature_K", 1.0, KELVIN),
    "Jig temperature [degC]": ("jig_temperature_K", 1.0, KELVIN),
    "Open-circuit voltage [V]": ("ocv_V", 1.0, 0.0),
    "Element-1 overpotential [V]": ("rc_voltage_V", 1.0, 0.0),
    "Total heat generation [W]": ("heat_W", 1.0, 0.0),
}


def _parameter_values(initial_soc: float | None) -> pybamm.ParameterValues:
    pv = pybamm.ParameterValues("ECM_Example")
    if initial_soc is not None:
        pv["Initial SoC"] = float(initial_soc)
    return pv


def _solver(rtol: float, atol: float) -> pybamm.IDAKLUSolver:
    return pybamm.IDAKLUSolver(rtol=rtol, atol=atol)


def _raw(sol: pybamm.Solution) -> dict[str, np.ndarray]:
    """Every variable at the solution's own output times, converted to our units and sign."""
    out = {"time_s": np.asarray(sol.t, float).copy()}
    for name, (key, f, off) in _VARIABLES.items():
        out[key] = f * np.asarray(sol[name].entries, float) + off
    return out


def _at(sol: pybamm.Solution, t: np.ndarray) -> dict[str, np.ndarray]:
    """Variables at times ``t`` (which must lie in the solution's span) in our units and sign."""
    out = {"time_s": np.asarray(t, float).copy()}
    for name, (key, f, off) in _VARIABLES.items():
        out[key] = f * np.asarray(sol[name](t), float) + off
    return out


def run_pybamm_discharge_rest(dt_s: float = 1.0, *, on_grid: bool = True, rtol: float = RTOL,
                              atol: float = ATOL) -> dict[str, Any]:
    """ECM_Example: "Discharge at 1C until 3.2 V" then "Rest for 1 hour", experiment period ``dt_s``.

    Starts from the parameter set's state: SoC 0.5, cell and jig at 25 degC, RC voltage 0; ambient
    25 degC. 1C = 100 A. The discharge lasts ~1746.1 s (SoC 0.5 -> 0.01497).

    What PyBaMM reports (``on_grid=False``, the arrays straight from the solution):
      - the discharge step at t = 0, dt, 2 dt, ... and at the cut-off time ``discharge_end_s``
        (IDAKLU's root of V - 3.2 V, located to the solver tolerance: V = 3.2 V to ~1e-12);
      - the rest step at ``rest_start_s`` = the next float after ``discharge_end_s`` (one ulp later),
        then ``rest_start_s + k*dt`` (k = 1 .. 3600/dt): its samples are *not* on the global grid;
      - so the switch appears twice, ~2e-13 s apart: the left limit (I = -100 A, V = 3.2 V) and
        the right limit (I = 0, V jumps up by R0*100 A ~ 48 mV).

    ``on_grid=True`` (default) returns instead every quantity on the global grid t = k*dt
    (k = 0 .. floor(end/dt)), as right limits (at a grid time the current applied from then on),
    which is how cellbalance records rows: discharge-step samples are PyBaMM's own; rest-step values
    between PyBaMM's samples come from a cubic spline through them (checked against an adaptive,
    Hermite-interpolated PyBaMM solve: within 5e-9 V and 2e-7 K, the solver tolerance, where the
    linear interpolation ``sol[var](t)`` would be off by ~3.5 uV and ~7 uK).

    Extra keys: ``discharge_end_s`` (float), ``rest_start_s`` (float), ``end_s`` (last time),
    ``at_discharge_end`` (dict of the left-limit values at the cut-off: voltage_V, soc,
    temperature_K, jig_temperature_K, rc_voltage_V, ocv_V), ``termination`` (PyBaMM's string for the
    discharge step), ``pybamm_version``.
    """
    experiment = pybamm.Experiment(["Discharge at 1C until 3.2 V", "Rest for 1 hour"], period=float(dt_s))
    sim = pybamm.Simulation(pybamm.equivalent_circuit.Thevenin(), experiment=experiment,
                            parameter_values=_parameter_values(None), solver=_solver(rtol, atol))
    sol = sim.solve()
    if len(sol.sub_solutions) != 2 or "3.2" not in str(sol.sub_solutions[0].termination):
        raise RuntimeError(f"PyBaMM experiment did not run as expected: {len(sol.sub_solutions)} steps, "
                           f"terminations {[s.termination for s in sol.sub_solutions]}")
    dis, rest = sol.sub_solutions
    t_cut = float(dis.t[-1])
    raw_dis = _raw(dis)
    at_end = {k: float(raw_dis[k][-1]) for k in
              ("voltage_V", "soc", "temperature_K", "jig_temperature_K", "rc_voltage_V", "ocv_V")}
    meta = {"discharge_end_s": t_cut, "rest_start_s": float(rest.t[0]), "end_s": float(rest.t[-1]),
            "at_discharge_end": at_end, "termination": str(dis.termination),
            "pybamm_version": pybamm.__version__}
    if not on_grid:
        return {**_raw(sol), **meta}

    n = int(np.floor(rest.t[-1] / dt_s + 1e-9))
    grid = np.arange(n + 1) * float(dt_s)
    before = grid < t_cut
    out_dis = _at(dis, grid[before])  # grid times are PyBaMM's own discharge samples
    raw_rest = _raw(rest)
    t_rest = grid[~before]
    out: dict[str, Any] = {"time_s": grid}
    for key, a in out_dis.items():
        if key == "time_s":
            continue
        b = raw_rest[key]
        rest_vals = CubicSpline(raw_rest["time_s"], b)(t_rest) if np.ptp(b) > 0 else np.full(t_rest.size, b[0])
        out[key] = np.concatenate([a, rest_vals])
    return {**out, **meta}


def _zoh_current_interpolant(t: np.ndarray, i_pybamm: np.ndarray, t_end: float, ramp_s: float):
    """Knots of a linear interpolant equal to the zero-order hold of ``i_pybamm`` on [0, t_end].

    Each change at t_k becomes a ramp from (t_k - ramp_s, I_{k-1}) to (t_k, I_k): at every sample
    time the current is the new sample's (a right limit), and the charge differs from the exact hold
    by (I_{k-1} - I_k) * ramp_s / 2 per change, which telescopes to |I_0 - I_last| * ramp_s / 2 at most.
    """
    ch = np.flatnonzero(i_pybamm[1:] != i_pybamm[:-1]) + 1
    kt = np.concatenate([[0.0], t[ch] - ramp_s, t[ch], [t_end]])
    kv = np.concatenate([[i_pybamm[0]], i_pybamm[ch - 1], i_pybamm[ch], [i_pybamm[-1]]])
    order = np.argsort(kt, kind="stable")
    return kt[order], kv[order]


def run_pybamm_drive_cycle(profile_time_s, profile_current_A_ours, *, t_end_s: float | None = None,
                           initial_soc: float | None = None, ramp_s: float = ZOH_RAMP_S, rtol: float = RTOL,
                           atol: float = ATOL) -> dict[str, Any]:
    """ECM_Example under a current profile given in OUR sign (positive = charging), thermal model on.

    The profile is a zero-order hold: ``I(t) = I_k`` for ``t_k <= t < t_{k+1}``, the last sample
    held to ``t_end_s`` (default: last time + median interval, like ``DriveCycle.duration_s``).
    ``profile_time_s`` must start at 0 and increase strictly.

    PyBaMM itself interpolates a drive cycle *linearly* between samples (``pybamm.step.current(array)``
    in an experiment, or a ``pybamm.Interpolant`` current function, whose only interpolators are
    linear / cubic / pchip). So the current function here is a linear ``pybamm.Interpolant`` whose
    knots make every change a ramp of ``ramp_s`` (1e-6 s) ending at the sample time, and the IDAKLU
    solver is told to stop at every knot (``t_eval``), so each ramp is integrated in its own step.
    Against the exact hold: SoC within ~1e-9, and the current at every sample time is exactly I_k.

    Returns every quantity at the profile sample times (right limits: the current is I_k, the
    voltage the one it produces), plus ``end_s``, ``at_end`` (values at ``end_s``, left limit: the
    last sample's current), ``initial_soc``, ``termination``, ``pybamm_version``. Raises
    RuntimeError if PyBaMM stops early (a voltage or SoC limit of ECM_Example: 3.2 V, 4.2 V, SoC 0 or 1).
    """
    t = np.asarray(profile_time_s, float)
    i_ours = np.asarray(profile_current_A_ours, float)
    if t.ndim != 1 or t.shape != i_ours.shape or t.size < 2:
        raise ValueError(f"time and current must be 1-D of equal length >= 2; got {t.shape}, {i_ours.shape}")
    if t[0] != 0.0 or np.any(np.diff(t) <= 0):
        raise ValueError("profile_time_s must start at 0 and increase strictly")
    t_end = float(t[-1] + np.median(np.diff(t))) if t_end_s is None else float(t_end_s)
    if not t_end > t[-1]:
        raise ValueError(f"t_end_s ({t_end}) must be after the last sample ({t[-1]})")
    if not 0 < ramp_s < 0.01 * np.min(np.diff(t)):
        raise ValueError("ramp_s must be positive and much shorter than the sample interval")

    kt, kv = _zoh_current_interpolant(t, -i_ours, t_end, ramp_s)  # PyBaMM: positive = discharge
    pv = _parameter_values(initial_soc)
    pv["Current function [A]"] = pybamm.Interpolant(kt, kv, pybamm.t, name="zoh current", interpolator="linear")
    sim = pybamm.Simulation(pybamm.equivalent_circuit.Thevenin(), parameter_values=pv, solver=_solver(rtol, atol))
    sol = sim.solve(np.unique(kt), t_interp=np.append(t, t_end))
    if sol.termination != "final time" or sol.t[-1] < t_end * (1 - 1e-12):
        raise RuntimeError(f"PyBaMM stopped early at t = {sol.t[-1]:.3f} s ({sol.termination}); keep the profile "
                           "within ECM_Example's limits (3.2-4.2 V, SoC 0-1)")
    out: dict[str, Any] = _at(sol, t)
    end = _at(sol, np.array([t_end]))
    out["end_s"] = t_end
    out["at_end"] = {k: float(v[0]) for k, v in end.items() if k != "time_s"}
    out["initial_soc"] = float(pv["Initial SoC"])
    out["termination"] = str(sol.termination)
    out["pybamm_version"] = pybamm.__version__
    return out


def us06_profile_100ah(scale: float = US06_SCALE, repeats: int = US06_REPEATS) -> DriveCycle:
    """The packaged US06 cell current (our sign) x ``scale``, repeated ``repeats`` times (601 s each).

    The file's current (peak 8.1 A) is for a cell of a few A·h; x20 puts it on the 100 A·h
    ECM_Example cell at a 1.62C discharge peak and 0.84C regeneration peak.
    """
    base = load_drive_cycle("US06")
    t = np.concatenate([base.time_s + k * base.duration_s for k in range(repeats)])
    i = np.tile(base.values, repeats) * float(scale)
    return DriveCycle(t, i, "current_A", f"US06x{scale:g}_100Ah",
                      f"US06 (PyBaMM, EPA) x{scale:g}, {repeats} repeats, for a 100 Ah cell")


def run_pybamm_us06(scale: float = US06_SCALE, repeats: int = US06_REPEATS,
                    initial_soc: float = US06_INITIAL_SOC, **kwargs: Any) -> dict[str, Any]:
    """:func:`run_pybamm_drive_cycle` on :func:`us06_profile_100ah`, from ``initial_soc`` (0.8).

    The result also holds ``profile`` (the DriveCycle, whose ``duration_s`` is ``end_s``).
    """
    cyc = us06_profile_100ah(scale, repeats)
    out = run_pybamm_drive_cycle(cyc.time_s, cyc.values, t_end_s=cyc.duration_s, initial_soc=initial_soc, **kwargs)
    out["profile"] = cyc
    return out
