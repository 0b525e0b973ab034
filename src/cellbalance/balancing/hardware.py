"""Balancing hardware as one balancer slot: passive channels, active converters or links, or both.

:func:`hold_command` is what the simulation loop calls at every controller call: it checks that the
balancer carries out every field the command sets (a field nobody carries out is an error, never
silently ignored), and turns the command into the :class:`~cellbalance.interfaces.HeldAction` the
loop solves with the pack at every plant step until the next command. A command field left None is
*off*: each call builds the action from nothing, so no earlier action survives it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..interfaces import Command, HeldAction, as_pack_array
from ..pack.layout import PackLayout
from .converter import ActiveBalancer
from .passive import PassiveBalancer

__all__ = ["BalancingHardware", "hold_command"]


@dataclass(frozen=True, eq=False)
class BalancingHardware:
    """Passive channels and active converters (or links) on the same string; either may be None."""

    passive: PassiveBalancer | None = None
    active: ActiveBalancer | None = None

    def __post_init__(self) -> None:
        if self.passive is None and self.active is None:
            raise ConfigError("BalancingHardware needs passive=PassiveBalancer(...) and/or active=ActiveBalancer(...).")

    @property
    def accepts(self) -> tuple[str, ...]:
        return tuple(a for part in (self.passive, self.active) if part is not None for a in part.accepts)

    def hold(self, command: Command, v_element, layout: PackLayout) -> HeldAction:
        parts = [p.hold(command, v_element, layout) for p in (self.passive, self.active) if p is not None]
        return _combine(parts, layout)


def _combine(parts: list[HeldAction], layout: PackLayout) -> HeldAction:
    cur = sum(p.element_current_A for p in parts)
    g = sum(p.element_shunt_S for p in parts)
    laps = [p.link_laplacian_S for p in parts if p.link_laplacian_S is not None]
    losses = [p.converter_loss_W for p in parts if p.converter_loss_W is not None]
    return HeldAction(
        np.asarray(cur, float) + np.zeros((layout.n_packs, layout.n_series)),
        np.asarray(g, float) + np.zeros((layout.n_packs, layout.n_series)),
        link_laplacian_S=sum(laps) if laps else None,
        shunt_heat_to_cell=max(p.shunt_heat_to_cell for p in parts),
        converter_loss_W=sum(losses) if losses else None,
    )


def hold_command(balancer, command: Command, v_element, layout: PackLayout, thevenin=None) -> HeldAction:
    """The held action of ``command`` on ``balancer`` (None = no hardware) at element voltages
    ``v_element`` (B, Ns) of the command instant.

    ``command.element_current_A`` (ideal current sources, for studies) needs no hardware.
    ``thevenin`` = (r_element, i_element), optional: the elements' Thevenin resistance and the
    balancing current flowing in ``v_element``; converters' operating points are then refined once at
    the voltages the held currents cause (see :meth:`ActiveBalancer.hold`). Only for an action
    without shunts or links (their voltages need the pack solved again: the caller's part).
    """
    if not isinstance(command, Command):
        raise ConfigError(f"a controller must return a cellbalance.interfaces.Command; got {type(command).__name__}.")
    accepts = () if balancer is None else tuple(balancer.accepts)
    hw_fields = [f for f in command.given() if f != "element_current_A"]
    refused = [f for f in hw_fields if f not in accepts]
    if refused:
        what = "no balancing hardware (simulate(..., balancer=None))" if balancer is None else \
            f"{type(balancer).__name__}, which carries out {', '.join(accepts) or 'nothing'}"
        raise ConfigError(f"the controller commanded {', '.join(refused)} but the balancer is {what}.")
    if thevenin is not None and isinstance(balancer, ActiveBalancer) and command.element_current_A is None:
        return balancer.hold(command, v_element, layout, thevenin=thevenin)  # (refined in compiled code)
    held = _hold(balancer, command, v_element, layout)
    if thevenin is not None and held.converter_loss_W is not None and not (held.has_shunt or held.has_links):
        r, i0 = thevenin
        held = _hold(balancer, command, v_element + r * (held.element_current_A - i0), layout)
    return held


def _hold(balancer, command: Command, v_element, layout: PackLayout) -> HeldAction:
    shp = (layout.n_packs, layout.n_series)
    parts = []
    if balancer is not None:
        parts.append(balancer.hold(command, v_element, layout))
    if command.element_current_A is not None:
        ideal = as_pack_array("Command", "element_current_A", command.element_current_A, shp)
        parts.append(HeldAction(ideal, np.zeros(shp)))
    if not parts:
        return HeldAction.off(layout)
    return parts[0] if len(parts) == 1 else _combine(parts, layout)
