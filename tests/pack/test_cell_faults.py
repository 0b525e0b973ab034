"""Cell faults injected into the plant: a soft short drains exactly its current, an open cell carries
nothing, a faded cell's SOC moves faster; bad faults are refused."""

import numpy as np
import pytest

from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout
from cellbalance.pack.faults import CellFault
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import simulate


def _cells(n):
    return get_parameter_set("nmc_lg_m50").compile(n, self_discharge_A=0.0)


def test_soft_short_drains_exactly_its_current_from_its_time_on():
    cells = _cells(4)
    q = cells.params.capacity_Ah * 3600.0
    ds = simulate(cells, Experiment(["Rest for 2 hours"], period_s=10.0), layout=PackLayout(n_series=4),
                  state=initial_state(cells, soc=0.6), faults=[CellFault(1800.0, 2, "soft_short", 0.01)])
    z = ds.soc.values[:, 0, :]
    t = ds.time.values
    before = t <= 1800.0
    np.testing.assert_allclose(z[before, 2], z[before, 1], rtol=0, atol=1e-15)  # nothing before the fault
    assert q * (z[-1, 1] - z[-1, 2]) == pytest.approx(0.01 * (7200.0 - 1800.0), rel=1e-9)
    assert ds.fault_time_s.values.tolist() == [1800.0] and ds.fault_kind.values.tolist() == ["soft_short"]


def test_an_open_cell_carries_no_current_and_its_group_carries_the_load():
    cells = _cells(6)
    lay = PackLayout(n_series=3, n_parallel=2)
    ds = simulate(cells, Experiment(["Discharge at 4 A for 20 minutes"], period_s=1.0), layout=lay,
                  state=initial_state(cells, soc=0.7), faults=[CellFault(600.0, 3, "open")])
    on = ds.time.values < 1200.0  # (the last row is after the step: no current)
    i = ds.current_A.values[on, 0, :]
    after = ds.time.values[on] >= 600.0
    assert np.abs(i[after, 3]).max() < 1e-6
    np.testing.assert_allclose(i[after][:, 2], -4.0, rtol=1e-6)  # its neighbour carries the whole group
    np.testing.assert_allclose(i[~after][:, 2], i[~after][:, 3], rtol=1e-9)  # equal cells share before


def test_a_faded_cell_moves_faster_by_the_inverse_capacity_fraction():
    cells = _cells(2)
    ds = simulate(cells, Experiment(["Discharge at 2 A for 30 minutes"], period_s=1.0), layout=PackLayout(n_series=2),
                  state=initial_state(cells, soc=0.8), faults=[CellFault(0.0, 1, "capacity_fade", 0.8)])
    dz = ds.soc.values[-1, 0] - ds.soc.values[0, 0]
    assert dz[1] / dz[0] == pytest.approx(1 / 0.8, rel=1e-9)


def test_bad_faults_are_refused():
    cells = _cells(2)
    with pytest.raises(ParameterError, match="kind must be one of soft_short, open, capacity_fade; got 'short'"):
        CellFault(0.0, 1, "short", 0.01)
    with pytest.raises(ParameterError, match=r"CellFault.cell = 5 but the pack has 2 cells \(0 .. 1\)"):
        simulate(cells, ["Rest for 1 minute"], layout=PackLayout(n_series=2), faults=[CellFault(0.0, 5, "soft_short", 0.01)])
    with pytest.raises(ParameterError, match="open faults need n_parallel >= 2"):
        simulate(cells, ["Rest for 1 minute"], layout=PackLayout(n_series=2), faults=[CellFault(0.0, 1, "open")])
    with pytest.raises(ParameterError, match=r"CellFault\.value"):
        CellFault(0.0, 1, "soft_short", -0.01)
