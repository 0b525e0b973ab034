"""SOC observability along a run: how much the measured voltage says about each element's SOC.

The EKF's measurement Jacobian has the SOC entry ``dy/dz = dU/dz + (dM/dz) h + (dR0/dz) i``; its
open-circuit part ``dU/dz`` dominates and is what a chemistry sets (NMC's steep OCV, LFP's flat
plateau). For ``N`` voltage samples with independent noise ``sigma_y`` and the SOC nearly constant
over a window, the Fisher information about the SOC is ``sum_k (dU/dz)_k^2 / sigma_y^2``, so no
estimator can know the SOC better than the Cramer-Rao bound

    sigma_z >= sigma_y / sqrt(sum_k (dU/dz)_k^2)

(S. M. Kay, "Fundamentals of Statistical Signal Processing: Estimation Theory", Prentice Hall
1993, ch. 3; the windowed observability of a battery's SOC as reported by PyBatterySE's
observability analysis and by G. L. Plett, "Battery Management Systems, Vol. II", Artech House 2016,
ch. 3 on where voltage-based estimation is weak). :func:`soc_observability` evaluates both along a
results Dataset, per pack and series element.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..cell import CellParameters
from ..cell.model import docv_dsoc
from ..errors import ParameterError, check_range

__all__ = ["soc_observability"]


def soc_observability(ds: xr.Dataset, cell: CellParameters, *, voltage_noise_std_V: float, window_s: float,
                      sample_period_s: float, soc: str = "true") -> xr.Dataset:
    """``dU/dz`` and the windowed Cramer-Rao bound of the SOC per element along the run.

    Parameters
    ----------
    ds : results of :func:`cellbalance.sim.simulate` (``soc`` and ``temperature_K`` per cell;
        with ``soc="estimated"``, ``estimated_soc`` on ``estimate_time``)
    cell : the (nominal) cell whose OCV the estimator uses
    voltage_noise_std_V : sigma_y of one voltage sample [V] (> 0)
    window_s : trailing window over which the SOC is taken as constant [s] (> 0)
    sample_period_s : voltage sampling period [s] (> 0); each recorded row stands for
        ``row spacing / sample_period_s`` samples
    soc : "true" (the plant's SOC) or "estimated" (the estimator's, what a BMS could compute)

    Returns
    -------
    Dataset over (time, pack, element): ``docv_dsoc_V`` and ``soc_std_bound`` (NaN until the
    window has filled).
    """
    o = "soc_observability"
    check_range(o, "voltage_noise_std_V", voltage_noise_std_V, gt=0)
    check_range(o, "window_s", window_s, gt=0)
    check_range(o, "sample_period_s", sample_period_s, gt=0)
    if soc not in ("true", "estimated"):
        raise ParameterError(f"{o}.soc must be 'true' or 'estimated'; got {soc!r}.")
    ns = int(ds.series_index.max()) + 1
    temp = ds.temperature_K.values
    t = ds.time.values.astype(float)
    temp = temp.reshape(temp.shape[0], temp.shape[1], ns, -1).mean(-1)
    if soc == "estimated":
        if "estimated_soc" not in ds:
            raise ParameterError(f"{o}: soc='estimated' but the results hold no estimated_soc (run with an estimator).")
        te = ds.estimate_time.values.astype(float)
        z = ds.estimated_soc.values
        idx = np.clip(np.searchsorted(t, te), 0, t.size - 1)
        temp, t = temp[idx], te
    else:
        z = ds.soc.values
        z = z.reshape(z.shape[0], z.shape[1], ns, -1).mean(-1)
    slope = np.abs(docv_dsoc(cell, np.clip(z, 0.0, 1.0), temp))
    # samples each row stands for: the spacing to the next row (the last row: the one before)
    dt = np.diff(t, append=t[-1] + (t[-1] - t[-2] if t.size > 1 else sample_period_s))
    info = np.cumsum(slope ** 2 * (dt / sample_period_s)[:, None, None], axis=0)
    info = np.concatenate([np.zeros((1, *info.shape[1:])), info])
    start = np.searchsorted(t, t - window_s + 1e-9 * max(window_s, 1.0))
    window_info = info[1:] - info[start]
    bound = voltage_noise_std_V / np.sqrt(np.where(window_info > 0, window_info, np.nan))
    bound[t - t[0] < window_s - 1e-9 * window_s] = np.nan
    dims = ("time", "pack", "element")
    return xr.Dataset(
        {"docv_dsoc_V": (dims, slope, {"units": "V", "long_name": "OCV slope dU/dz at the element's SOC"}),
         "soc_std_bound": (dims, bound, {"units": "1", "long_name": f"Cramer-Rao bound of the SOC from voltage "
                                                                   f"alone over a {window_s:g} s window"})},
        coords={"time": ("time", t, {"units": "s"})},
        attrs={"voltage_noise_std_V": voltage_noise_std_V, "window_s": window_s, "sample_period_s": sample_period_s,
               "soc": soc})
