"""The steps table every simulating command prints: how each step ended, for every pack."""

from __future__ import annotations

import numpy as np
from rich.markup import escape
from rich.table import Table as RichTable

__all__ = ["steps_table"]

#: above this many packs, the rows of one step are grouped by how it ended (count of packs, time range)
MAX_PACK_ROWS = 4


def _fmt_t(t: float) -> str:
    return f"{t:,.1f}"


def _span(a: np.ndarray) -> str:
    return _fmt_t(a.min()) if np.ptp(a) == 0 else f"{_fmt_t(a.min())} - {_fmt_t(a.max())}"


def steps_table(ds) -> RichTable:
    """Every step end of ``ds`` (its ``event_*`` variables): the step, when it started and ended, why
    (duration, a cut-off the step names, a cell limit it does not, ...) and which cell or the pack ended
    it with the value reached. Batches of more than :data:`MAX_PACK_ROWS` packs show one row per step
    and reason, with the number of packs and the range of end times."""
    n_ev = ds.sizes.get("event", 0)
    n_packs = ds.sizes.get("pack", 1)
    tab = RichTable(title="Steps")
    has_detail = "event_detail" in ds
    grouped = n_packs > MAX_PACK_ROWS
    heads = ["#", "step"] + (["packs"] if grouped else ["pack"] if n_packs > 1 else []) + \
        ["start [s]", "end [s]", "ended by"] + (["how (first pack)" if grouped else "how"] if has_detail else [])
    for h in heads:
        tab.add_column(escape(h), justify="right" if h.endswith("[s]") or h in ("#", "pack", "packs") else "left")
    if n_ev == 0:
        return tab
    step = ds.event_step.values
    pack = ds.event_pack.values
    reason = ds.event_reason.values.astype(str)
    start, end = ds.event_start_s.values, ds.event_end_s.values
    desc = ds.event_description.values.astype(str)
    detail = ds.event_detail.values.astype(str) if has_detail else None
    if not grouped:
        for k in range(n_ev):
            row = [str(int(step[k]) + 1), escape(desc[k])] + ([str(int(pack[k]))] if n_packs > 1 else []) + \
                [_fmt_t(start[k]), _fmt_t(end[k]), escape(reason[k])] + ([escape(detail[k])] if has_detail else [])
            tab.add_row(*row)
        return tab
    order = np.lexsort((reason, step))
    keys = [(int(step[k]), reason[k]) for k in order]
    for key in dict.fromkeys(keys):
        idx = [k for k, kk in zip(order, keys, strict=True) if kk == key]
        first = idx[0]
        tab.add_row(str(key[0] + 1), escape(desc[first]), f"{len(idx)} of {n_packs}", _span(start[idx]),
                    _span(end[idx]), escape(key[1]), *([escape(detail[first])] if has_detail else []))
    return tab
