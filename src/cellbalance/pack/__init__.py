"""Packs: layout of series/parallel cells, the electrical (Kirchhoff) solve, cell-to-cell variation."""

from .electrical import element_affine, element_currents, group_thevenin, split_group_current
from .layout import PackLayout
from .wiring import Wiring

__all__ = ["PackLayout", "Wiring", "element_affine", "element_currents", "group_thevenin", "split_group_current"]
