"""Passive balancing: a bleed resistor and a switch per series element, with the limits of real AFEs.

A switched-on channel is a conductance ``1/R_bleed`` across its element; the simulation loop solves
it with the pack at every plant step, so the bleed current is ``V_element / R_bleed`` at every
instant (and the charge removed is the integral of V/R dt). The heat goes to the board, or a
configurable fraction of it into the cells' thermal nodes.

AFE limits modelled (as found in common monitor ICs, e.g. TI bq769x0 / bq7694x data sheets, which
forbid balancing two adjacent cells at once, and ADI/Linear LTC681x, whose discharge switches are
limited in current and thermally in total): at most ``max_channels`` at once, optionally no two
adjacent channels, a per-channel power limit (checked against the resistor at the maximum cell
voltage) and a per-pack bleed power limit. Channels are granted greedily in order of priority
(highest element voltage first unless priorities are given).

Measurement artefact: the bleed current flows through the shared sense/tab resistance, so a cell's
measured voltage reads low by ``2 R_s I_b`` while its own channel is on and high by ``R_s I_b`` for
each neighbour that bleeds; firmware pauses bleeding to measure (``pause_to_measure``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError, check_range
from ..interfaces import Command, HeldAction, as_pack_array
from ..pack.layout import PackLayout

__all__ = ["PassiveBalancer", "grant_channels", "measured_voltage"]


@dataclass(frozen=True)
class PassiveBalancer:
    """Bleed-resistor hardware of one string (the same on every element).

    Parameters
    ----------
    r_bleed_ohm : bleed resistance per channel [Ohm]
    max_channels : most channels on at once per pack (None = no limit)
    forbid_adjacent : refuse two adjacent channels at once (bq769x0-style)
    max_channel_power_W : resistor/switch rating [W]; ``v_max_V**2 / r_bleed_ohm`` must not exceed it
    max_pack_power_W : total bleed power per pack [W] (None = no limit)
    v_max_V : highest cell voltage the hardware sees [V], for the rating check
    heat_to_cell_fraction : share of the bleed heat that reaches the element's cells [0, 1]
    sense_resistance_ohm : shared sense-lead/tab resistance [Ohm] behind the measurement artefact
    pause_to_measure : firmware switches bleeding off while it measures: the monitor reads the true
        voltage, and the bleed is on only ``1 - pause_fraction`` of the time (averaged: the shunt
        conductance is scaled by that duty); without the pause the monitor reads the shifted voltage
        of :func:`measured_voltage` and the bleed runs all the time
    pause_fraction : share of each balancing period spent measuring with bleeding off [0, 1)
    """

    r_bleed_ohm: float = 33.0
    max_channels: int | None = None
    forbid_adjacent: bool = False
    max_channel_power_W: float = 1.0
    max_pack_power_W: float | None = None
    v_max_V: float = 4.25
    heat_to_cell_fraction: float = 0.0
    sense_resistance_ohm: float = 0.0
    pause_to_measure: bool = True
    pause_fraction: float = 0.1

    def __post_init__(self) -> None:
        o = "PassiveBalancer"
        check_range(o, "r_bleed_ohm", self.r_bleed_ohm, gt=0)
        check_range(o, "max_channel_power_W", self.max_channel_power_W, gt=0)
        check_range(o, "v_max_V", self.v_max_V, gt=0)
        check_range(o, "heat_to_cell_fraction", self.heat_to_cell_fraction, ge=0, le=1)
        check_range(o, "sense_resistance_ohm", self.sense_resistance_ohm, ge=0)
        check_range(o, "pause_fraction", self.pause_fraction, ge=0, lt=1)
        if self.max_channels is not None and (int(self.max_channels) != self.max_channels or self.max_channels < 1):
            raise ParameterError(f"{o}.max_channels must be an integer >= 1 or None; got {self.max_channels!r}.")
        if self.max_pack_power_W is not None:
            check_range(o, "max_pack_power_W", self.max_pack_power_W, gt=0)
        p = self.v_max_V**2 / self.r_bleed_ohm
        if p > self.max_channel_power_W:
            raise ParameterError(
                f"{o}: r_bleed_ohm={self.r_bleed_ohm:g} dissipates {p:.3g} W at v_max_V={self.v_max_V:g} V, above "
                f"max_channel_power_W={self.max_channel_power_W:g} W; use R >= {self.v_max_V**2 / self.max_channel_power_W:.3g} Ohm."
            )

    @property
    def conductance_S(self) -> float:
        """Average conductance of a channel that is on (reduced by the measurement pauses)."""
        duty = 1.0 - self.pause_fraction if self.pause_to_measure else 1.0
        return duty / self.r_bleed_ohm

    def monitor_reading(self, v_element, on) -> np.ndarray:
        """Element voltages as the monitor reads them with channels ``on``: true if bleeding is paused
        to measure, shifted by the bleed currents through the sense leads otherwise."""
        v = np.asarray(v_element, float)
        if self.pause_to_measure or self.sense_resistance_ohm == 0:
            return v.copy()
        return measured_voltage(v, np.where(np.asarray(on, bool), v / self.r_bleed_ohm, 0.0), self.sense_resistance_ohm)

    accepts = ("bleed",)

    def hold(self, command: Command, v_element, layout: PackLayout) -> HeldAction:
        """The per-step law of a ``bleed`` command: requested channels (duty > 0) are granted after the
        AFE limits (highest element voltage first), and a granted channel is the conductance
        ``duty * conductance_S`` across its element, solved with the pack at every plant step."""
        shp = (layout.n_packs, layout.n_series)
        if command.bleed is None:
            return HeldAction(np.zeros(shp), np.zeros(shp))
        duty = as_pack_array("Command", "bleed", command.bleed, shp)
        # (on/off channels, what the rules return, are within [0, 1] by type)
        if np.asarray(command.bleed).dtype != bool and (duty.min() < 0 or duty.max() > 1):
            bad = duty[(duty < 0) | (duty > 1)][:3]
            raise ParameterError(f"Command.bleed is a duty in [0, 1]; got {bad.tolist()}.")
        if self.max_channels is None and not self.forbid_adjacent and self.max_pack_power_W is None:
            g = duty * self.conductance_S  # no AFE limit: every requested channel is granted
        else:
            g = np.where(grant_channels(duty > 0, v_element, self), duty * self.conductance_S, 0.0)
        return HeldAction(np.zeros(shp), g, shunt_heat_to_cell=self.heat_to_cell_fraction)


def grant_channels(request, v_element, hw: PassiveBalancer, priority=None) -> np.ndarray:
    """Channels (B, Ns) switched on after the AFE limits, from the requested ones.

    Granted greedily by descending ``priority`` (default: element voltage), skipping a channel when
    it would be adjacent to one already on (``forbid_adjacent``), exceed ``max_channels``, or push
    the pack's bleed power above ``max_pack_power_W``.
    """
    req = np.atleast_2d(np.asarray(request, dtype=bool))
    v = np.atleast_2d(np.asarray(v_element, float))
    pr = v if priority is None else np.atleast_2d(np.asarray(priority, float))
    B, Ns = req.shape
    out = np.zeros_like(req)
    unconstrained = hw.max_channels is None and not hw.forbid_adjacent and hw.max_pack_power_W is None
    if unconstrained:
        return req.copy()
    for b in range(B):  # per pack, over its requested channels only: a decision, not a hot path
        order = np.flatnonzero(req[b])
        order = order[np.argsort(-pr[b, order], kind="stable")]
        power = 0.0
        count = 0
        for k in order:
            if hw.max_channels is not None and count >= hw.max_channels:
                break
            if hw.forbid_adjacent and ((k > 0 and out[b, k - 1]) or (k < Ns - 1 and out[b, k + 1])):
                continue
            pk = v[b, k] ** 2 / hw.r_bleed_ohm
            if hw.max_pack_power_W is not None and power + pk > hw.max_pack_power_W:
                continue
            out[b, k] = True
            power += pk
            count += 1
    return out


def measured_voltage(v_element, bleed_current_A, sense_resistance_ohm: float) -> np.ndarray:
    """What the monitor reads while channels bleed: ``v - R_s (2 I_b[i] - I_b[i-1] - I_b[i+1])``.

    Each element shares a sense lead with each neighbour; its own bleed current flows through both
    of its leads (reads low), a neighbour's through the shared one in the opposite sense (reads high).
    """
    v = np.asarray(v_element, float)
    ib = np.asarray(bleed_current_A, float)
    shift = 2.0 * ib
    shift[..., 1:] -= ib[..., :-1]
    shift[..., :-1] -= ib[..., 1:]
    return v - sense_resistance_ohm * shift
