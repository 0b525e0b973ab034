"""Balancing controllers for the loop's controller slot (:mod:`cellbalance.interfaces`).

One interface for all (``init(context) -> state``, ``step(t_s, measurement, estimate, state) ->
(Command, state)``) and a registry: :func:`available_controllers`, :func:`get_controller`.

* :mod:`.rules`: firmware rules (foxBMS 2 voltage and history, LibreSolar idle, ENNOID top-N,
  diyBMS run-away, bleed to the lowest on SOC);
* :mod:`.consensus`: SOC consensus over the balancing graph with the discrete-time stability bound,
  and its projected bleed-only form;
* :mod:`.mpc`: constrained MPC of the SOC variance (OSQP);
* :mod:`.simple`: two stateless voltage controllers.
"""

from .consensus import Consensus
from .mpc import MPC
from .registry import available_controllers, get_controller, register_controller
from .rules import BleedToLowestSOC, DiyBMSRunaway, EnnoidTopN, FoxBMSHistory, FoxBMSVoltage, LibreSolarIdle
from .simple import BleedAboveMinimum, VoltageDifferenceTransfer

__all__ = [
    "MPC",
    "BleedAboveMinimum",
    "BleedToLowestSOC",
    "Consensus",
    "DiyBMSRunaway",
    "EnnoidTopN",
    "FoxBMSHistory",
    "FoxBMSVoltage",
    "LibreSolarIdle",
    "VoltageDifferenceTransfer",
    "available_controllers",
    "get_controller",
    "register_controller",
]
