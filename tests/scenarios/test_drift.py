"""Without balancing the SOC spread grows as the self-discharge differences predict."""

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import Distribution, Variation
from cellbalance.scenarios.drift import plot_drift, run_drift


def test_spread_grows_as_the_self_discharge_spread_predicts(tmp_path):
    p = get_parameter_set("nmc_lg_m50").replace(coulombic_efficiency=1.0, self_discharge_A=5.0 * 0.03 / (30 * 24))
    lay = PackLayout(n_series=12)
    var = Variation(self_discharge=Distribution(kind="uniform", mean=1.0, sigma=0.4, low=0.0))
    res = run_drift(p, lay, var, days=6, seed=3, period_s=60.0)
    df = res.per_day
    isd = res.pack.cells.cp[:, 2]  # self-discharge current per cell [A]
    q = res.pack.cells.capacity_As
    rate = (isd / q).max() - (isd / q).min()  # spread growth per second (identical capacities)
    growth = np.diff(df.soc_spread.values[1:])  # after the first day (initial spread 0 here)
    assert growth == pytest.approx(np.full(growth.size, rate * 86400), rel=0.02)
    assert df.usable_Ah.values[-1] < df.usable_Ah.values[0]
    assert plot_drift(res, tmp_path / "drift.png").exists()
