"""Aging feeds the cells (issue 15): the aged cells the plant simulates hold q x the capacity and r x the
resistance of the fresh ones, seen through the cell model itself (charge counted, instantaneous voltage drop)."""

import numpy as np
import pytest

from cellbalance.aging import get_aging_model
from cellbalance.aging.models import AgingState
from cellbalance.cell import get_parameter_set, initial_state, terminal_voltage
from cellbalance.cell import kernels as K
from cellbalance.errors import ParameterError
from cellbalance.pack import PackLayout
from cellbalance.pack.aged import age_cells
from cellbalance.pack.variation import preset, sample
from cellbalance.sim import simulate


def _state(q, r):
    n = len(q)
    return AgingState("x", {}, np.zeros(n), np.zeros(n), np.asarray(q, float), np.asarray(r, float))


def test_aged_cells_deliver_q_times_the_charge_and_drop_r_times_the_voltage():
    p = get_parameter_set("nmc_lg_m50")
    sp = sample(preset("typical"), p, PackLayout(3, 1), seed=2, mean_soc=0.8)
    q = np.array([0.95, 0.85, 0.7])
    r = np.array([1.0, 1.2, 1.5])
    aged = age_cells(sp.cells, _state(q, r))
    # the other per-cell values are the fresh cells' own
    for col in (K.C_ETA, K.C_ISD, K.C_MS, K.C_CTH, K.C_GCOOL):
        np.testing.assert_array_equal(aged.cp[:, col], sp.cells.cp[:, col])
    np.testing.assert_allclose(aged.cp[:, K.NCP + 1 :: 2], sp.cells.cp[:, K.NCP + 1 :: 2])
    # charge: a 1 A discharge for 30 min lowers each SOC by 0.5 Ah / (q Q0)
    x0 = initial_state(aged, soc=0.8, temperature_K=298.15)
    ds = simulate(aged, ["Discharge at 1 A for 30 minutes"], layout=PackLayout(3, 1), state=x0, ambient_K=298.15)
    dz = 0.8 - ds.soc.values[-1, 0]
    i_sd = sp.cells.cp[:, K.C_ISD]
    np.testing.assert_allclose(dz, (0.5 + i_sd * 0.5) / (q * sp.capacity_Ah), rtol=1e-9)
    # resistance: the instantaneous drop under a current step (RC branches start at 0 V) scales with r,
    # and so does every RC resistance
    x_f = initial_state(sp.cells, soc=0.8, temperature_K=298.15)
    ocv = terminal_voltage(sp.cells, x_f, 0.0)
    drop_fresh = ocv - terminal_voltage(sp.cells, x_f, -5.0)
    drop_aged = ocv - terminal_voltage(aged, x0, -5.0)
    np.testing.assert_allclose(drop_aged / drop_fresh, r, rtol=1e-9)
    np.testing.assert_allclose(aged.cp[:, K.NCP::2], sp.cells.cp[:, K.NCP::2] * r[:, None], rtol=1e-12)


def test_age_cells_refuses_a_dead_cell_and_a_wrong_size():
    p = get_parameter_set("nmc_lg_m50")
    cells = p.compile(2)
    with pytest.raises(ParameterError, match="cell 1 has relative capacity"):
        age_cells(cells, _state([0.9, 0.0], [1, 1]))
    with pytest.raises(ParameterError, match="3 cells; the cells are 2"):
        age_cells(cells, get_aging_model("nmc811_grsi_lgm50_5ah_2021").initial_state(3))
