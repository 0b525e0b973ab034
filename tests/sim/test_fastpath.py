"""The compiled fast path (whole periods of a current-driven pack) gives what the general loop gives."""

import numpy as np
import pytest

import cellbalance.sim.loop as L
from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate


@pytest.mark.parametrize("name,layout,steps,every", [
    ("nmc_lg_m50", PackLayout(n_series=1), ["Discharge at 1C until 3.0 V", "Rest for 10 minutes",
                                            "Charge at 0.5C until 4.1 V", "Hold at 4.1 V until C/10"], 1),
    ("ecm_example", PackLayout(n_series=1), ["Discharge at 1C until 3.2 V", "Rest for 1 hour"], 3),
    ("lfp_a123_26650", PackLayout(n_series=5), ["Run US06 for 30 minutes", "Rest for 5 minutes",
                                                "Run UDDS until 3.2 V"], 7),
    ("nmc_lg_m50", PackLayout(n_series=40), ["Discharge at 1C until 3.3 V", "Rest for 10 minutes"], 2),
    ("nmc_lg_m50", PackLayout(n_series=6, n_parallel=3), ["Run US06 x 3 for 15 minutes",
                                                          "Discharge at 2C until 3.4 V", "Rest for 5 minutes"], 1),
    ("lfp_a123_26650", PackLayout(n_series=30, n_parallel=20), ["Discharge at 1C for 20 minutes",
                                                               "Rest for 5 minutes"], 4),
])
def test_fast_path_equals_general_loop(monkeypatch, name, layout, steps, every):
    p = get_parameter_set(name)
    cells = p.compile(layout.n_cells)
    s0 = initial_state(cells, soc=np.linspace(0.7, 0.8, layout.n_cells))
    exp = Experiment(steps, period_s=2.0)
    opts = SimulationOptions(record_every=every)
    fast = simulate(cells, exp, layout=layout, state=s0, options=opts)
    monkeypatch.setattr(L, "_try_segment", lambda *a: 0)
    slow = simulate(cells, exp, layout=layout, state=s0, options=opts)
    assert fast.sizes == slow.sizes
    np.testing.assert_allclose(fast.event_end_s.values, slow.event_end_s.values, rtol=0, atol=1e-9)
    for v in ("soc", "voltage_V", "current_A", "temperature_K", "energy_load_J", "energy_cells_J"):
        np.testing.assert_allclose(fast[v].values, slow[v].values, rtol=1e-11, atol=1e-9, err_msg=v)
    np.testing.assert_array_equal(fast.step.values, slow.step.values)
