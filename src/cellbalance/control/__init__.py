"""Balancing controllers for the loop's controller slot (:mod:`cellbalance.interfaces`)."""

from .simple import BleedAboveMinimum, VoltageDifferenceTransfer

__all__ = ["BleedAboveMinimum", "VoltageDifferenceTransfer"]
