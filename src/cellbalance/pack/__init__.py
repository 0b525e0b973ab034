"""Packs: layout of series/parallel cells, the electrical (Kirchhoff) solve, cell-to-cell variation."""

from .electrical import element_affine, element_currents, group_thevenin, split_group_current
from .layout import PackLayout

__all__ = ["PackLayout", "element_affine", "element_currents", "group_thevenin", "split_group_current"]
