"""The controller registry: :func:`available_controllers`, :func:`get_controller` and
:func:`register_controller` (user controllers: any class with ``period_s``, ``init`` and ``step``)."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable

from ..errors import ParameterError, UnknownNameError
from .consensus import Consensus
from .mpc import MPC
from .rules import BleedToLowestSOC, DiyBMSRunaway, EnnoidTopN, FoxBMSHistory, FoxBMSVoltage, LibreSolarIdle

__all__ = ["available_controllers", "get_controller", "register_controller"]

_REGISTRY: dict[str, Callable] = {
    "consensus": Consensus,
    "mpc": MPC,
    "foxbms_voltage": FoxBMSVoltage,
    "foxbms_history": FoxBMSHistory,
    "libresolar_idle": LibreSolarIdle,
    "ennoid_top_n": EnnoidTopN,
    "diybms_runaway": DiyBMSRunaway,
    "bleed_to_lowest_soc": BleedToLowestSOC,
}


def register_controller(name: str, cls: Callable, *, replace: bool = False) -> None:
    """Add a controller class (called as ``cls(**params)``) to the registry under ``name``."""
    if not isinstance(name, str) or not name:
        raise ParameterError(f"register_controller.name must be a non-empty string; got {name!r}.")
    if name in _REGISTRY and not replace:
        raise ParameterError(f"register_controller: {name!r} is already registered (pass replace=True).")
    _REGISTRY[name] = cls


def available_controllers() -> list[str]:
    """Names accepted by :func:`get_controller`, in registry order."""
    return list(_REGISTRY)


def get_controller(name: str, **params):
    """The controller ``name`` configured with ``params``.

    Raises UnknownNameError for an unknown name (the message lists the names allowed and the
    closest one) and ParameterError for a parameter the controller does not have or a value out of
    range (naming the field, the value and what is allowed).
    """
    try:
        cls = _REGISTRY[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_REGISTRY), 1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"controller: unknown name {name!r}; allowed: {list(_REGISTRY)}.{hint}") from None
    allowed = [p for p in inspect.signature(cls).parameters]
    for key in params:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, 1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ParameterError(f"controller {name!r} has no parameter {key!r}; allowed: {allowed}.{hint}")
    return cls(**params)
