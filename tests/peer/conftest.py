"""Session-wide PyBaMM reference runs (computed once, shared by the peer tests); skipped without pybamm."""

import pytest


@pytest.fixture(scope="session")
def pybamm_discharge_rest() -> dict:
    """``run_pybamm_discharge_rest()``: 1C to 3.2 V + 1 h rest, on the 1 s grid (~0.3 s)."""
    pytest.importorskip("pybamm")
    from .pybamm_reference import run_pybamm_discharge_rest

    return run_pybamm_discharge_rest()


@pytest.fixture(scope="session")
def pybamm_us06() -> dict:
    """``run_pybamm_us06()``: US06 x20 on 100 Ah, 3 repeats (1803 s), from SoC 0.8 (~1.3 s).

    ``result["profile"]`` is the DriveCycle to give cellbalance (``register_drive_cycle``).
    """
    pytest.importorskip("pybamm")
    from .pybamm_reference import run_pybamm_us06

    return run_pybamm_us06()
