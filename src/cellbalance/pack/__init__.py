"""Packs: layout of series/parallel cells, the Kirchhoff solve, cell-to-cell variation."""

from .layout import PackLayout, split_group_current

__all__ = ["PackLayout", "split_group_current"]
