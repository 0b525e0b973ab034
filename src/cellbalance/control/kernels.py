"""Compiled cores of the controllers' Lyapunov filter and step (:mod:`.base` wraps them).

A controller call on a 96-cell ring spent ~90 us in about forty small numpy operations for these two
functions; compiled, they take a few microseconds. The element-current map ``D`` (elements x edges)
is read edge by edge from its nonzeros (``ptr``, ``idx``, ``val``: column ``k`` has rows
``idx[ptr[k]:ptr[k + 1]]`` with values ``val[...]``), as :class:`.base.ElementMap` stores them. The
equations are those of :func:`.base.lyapunov_filter` and :func:`.base.lyapunov_step` (docs/models.md,
"Lyapunov filter"); each pack of a batch is independent.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _filter_pack(c, delta, ptr, idx, val, eta, out):
    """One pack: ``out[k] = c[k]`` where the edge's lossy transfer lowers V, else 0."""
    for k in range(c.shape[0]):
        a = 0.0  # delta . D+[:, k]
        b = 0.0  # delta . D-[:, k]
        for p in range(ptr[k], ptr[k + 1]):
            d = val[p]
            if d > 0.0:
                a += delta[idx[p]] * d
            else:
                b -= delta[idx[p]] * d
        rate = eta * b - a if c[k] >= 0.0 else eta * a - b
        out[k] = c[k] if rate < 0.0 else 0.0


@njit(cache=True)
def _scale_pack(c, delta, ptr, idx, val, eta, a, dz):
    """One pack: (delta . Delta, the step scale s) for the predicted SOC change ``Delta`` of ``c``."""
    dz[:] = 0.0
    for k in range(c.shape[0]):
        cp = c[k] if c[k] > 0.0 else 0.0
        cn = -c[k] if c[k] < 0.0 else 0.0
        if cp == 0.0 and cn == 0.0:
            continue
        for p in range(ptr[k], ptr[k + 1]):
            d = val[p]
            dp = d if d > 0.0 else 0.0
            dn = -d if d < 0.0 else 0.0
            dz[idx[p]] += a * (-(cp * dp + cn * dn) + eta * (cp * dn + cn * dp))
    n = dz.shape[0]
    mean = 0.0
    for i in range(n):
        mean += dz[i]
    mean /= n
    lin = 0.0
    quad = 0.0
    for i in range(n):
        lin += delta[i] * dz[i]
        e = dz[i] - mean
        quad += e * e
    s = 1.0
    if quad > 0.0:
        s = min(1.0, 0.9 * -lin / max(quad, 1e-300))
    return lin, s


@njit(cache=True)
def _step_pack(c, delta, ptr, idx, val, eta, a, dz, work, out):
    """One pack of :func:`.base.lyapunov_step` into ``out``."""
    lin, s = _scale_pack(c, delta, ptr, idx, val, eta, a, dz)
    src = c
    if lin >= 0.0:
        _filter_pack(c, delta, ptr, idx, val, eta, work)
        src = work
        lin, s = _scale_pack(work, delta, ptr, idx, val, eta, a, dz)
        if lin >= 0.0:
            s = 0.0
    s = min(max(s, 0.0), 1.0)
    for k in range(c.shape[0]):
        out[k] = src[k] * s


@njit(cache=True)
def _deltas(z):
    delta = np.empty_like(z)
    for b in range(z.shape[0]):
        m = 0.0
        for i in range(z.shape[1]):
            m += z[b, i]
        m /= z.shape[1]
        for i in range(z.shape[1]):
            delta[b, i] = z[b, i] - m
    return delta


@njit(cache=True)
def lyapunov_filter_k(c, z, ptr, idx, val, eta):
    out = np.empty_like(c)
    delta = _deltas(z)
    for b in range(c.shape[0]):
        _filter_pack(c[b], delta[b], ptr, idx, val, eta, out[b])
    return out


@njit(cache=True)
def lyapunov_step_k(c, z, ptr, idx, val, eta, a, size0, size1, dead_band):
    """:func:`.base.lyapunov_step`, and with ``dead_band > 0`` :func:`.base.lyapunov_step_run`: edges
    whose command (``c / size0`` forward, ``c / size1`` backward) falls under the dead band are taken
    out and the step is made again on the rest, from the unscaled ``c``."""
    out = np.empty_like(c)
    delta = _deltas(z)
    m = c.shape[1]
    dz = np.empty(z.shape[1])
    work = np.empty(m)
    masked = np.empty(m)
    off = np.zeros(m, np.bool_)
    for b in range(c.shape[0]):
        _step_pack(c[b], delta[b], ptr, idx, val, eta, a, dz, work, out[b])
        if dead_band <= 0.0:
            continue
        off[:] = False
        for _ in range(m):
            small = False
            for k in range(m):
                o = out[b, k]
                if o != 0.0:
                    cmd = o / size0[k] if o >= 0.0 else o / size1[k]
                    if abs(cmd) < dead_band:
                        off[k] = True
                        small = True
            if not small:
                break
            for k in range(m):
                masked[k] = 0.0 if off[k] else c[b, k]
            _step_pack(masked, delta[b], ptr, idx, val, eta, a, dz, work, out[b])
    return out


@njit(cache=True)
def voltage_scale_k(c, v, temp, r0, r_end, i_pack, lims_on, lo, hi, v_max, v_min, margin_V, t_lim, heat_cap,
                    n_par, period, ptr, idx, val):
    """The core of :func:`.consensus.voltage_scale` (its docstring has the law): per element the worst-case
    charging and discharging sums of the edges, the scale from the voltage headroom (at the worst current
    of ``(lo, hi)`` when ``lims_on``) and the one-period heating, then each edge the smallest scale of the
    elements it touches. ``r0`` and ``r_end`` (B, Ns) come from the nominal tables."""
    B, m = c.shape
    n = v.shape[1]
    out = np.empty_like(c)
    up = np.empty(n)
    dn = np.empty(n)
    s = np.empty(n)
    for b in range(B):
        up[:] = 0.0
        dn[:] = 0.0
        for k in range(m):
            cp = c[b, k] if c[b, k] > 0.0 else 0.0
            cn = -c[b, k] if c[b, k] < 0.0 else 0.0
            for p in range(ptr[k], ptr[k + 1]):
                d = val[p]
                i = idx[p]
                if d > 0.0:  # D+ part: discharges the element for c > 0, charges it for c < 0
                    up[i] += cn * d
                    dn[i] += cp * d
                else:
                    up[i] += cp * -d
                    dn[i] += cn * -d
        ip = i_pack[b]
        for i in range(n):
            h_up = v_max - margin_V - v[b, i]
            h_dn = v[b, i] - v_min - margin_V
            if lims_on:
                h_up -= 2.0 * r0[b, i] * max(hi - ip, 0.0)
                h_dn -= 2.0 * r0[b, i] * max(ip - lo, 0.0)
            h_up = max(h_up, 0.0)
            h_dn = max(h_dn, 0.0)
            si = 1.0
            if up[i] > 0.0:
                si = min(si, h_up / max(r_end[b, i] * up[i], 1e-300))
            if dn[i] > 0.0:
                si = min(si, h_dn / max(r_end[b, i] * dn[i], 1e-300))
            if temp[b, i] >= t_lim:
                si = 0.0
            if period > 0.0:
                room = max(t_lim - temp[b, i], 0.0) * heat_cap
                i_el = max(np.sqrt(room / (r0[b, i] * n_par * period)) * n_par - abs(ip), 0.0)
                tot = max(up[i], dn[i])
                if tot > 0.0:
                    si = min(si, i_el / max(tot, 1e-300))
            s[i] = si
        for k in range(m):
            e = 1.0
            for p in range(ptr[k], ptr[k + 1]):
                e = min(e, s[idx[p]])
            out[b, k] = c[b, k] * e
    return out
