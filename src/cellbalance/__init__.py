"""cellbalance: design, simulate and verify the cell-balancing system of a lithium-ion pack."""

from .cell import CellParameters, CellState, get_parameter_set
from .errors import CellBalanceError, ConfigError, ParameterError, UnknownNameError

__version__ = "0.1.0"

__all__ = [
    "CellBalanceError",
    "CellParameters",
    "CellState",
    "ConfigError",
    "ParameterError",
    "UnknownNameError",
    "__version__",
    "get_parameter_set",
]
