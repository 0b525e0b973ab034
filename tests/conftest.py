import numpy as np
import pytest

from cellbalance.cell import CellParameters, RCPair, Table, ThermalParameters


@pytest.fixture
def simple_cell() -> CellParameters:
    """Constant-parameter cell: linear OCV, fixed R0 and one RC pair, no temperature dependence."""
    return CellParameters(
        name="simple",
        source="test fixture",
        capacity_Ah=2.0,
        ocv=Table.of_soc([0.0, 1.0], [3.0, 4.2], "ocv"),
        r0=Table.constant(0.02, "r0"),
        rc=(RCPair.constant(0.01, 30.0),),
        thermal=ThermalParameters(heat_capacity_J_per_K=50.0, cooling_W_per_K=0.2),
        v_min=2.9,
        v_max=4.3,
        initial_soc=0.5,
    )


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
