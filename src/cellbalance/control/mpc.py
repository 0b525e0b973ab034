"""Model predictive balancing control: a sparse QP over a horizon of H controller periods, solved by
OSQP (B. Stellato et al., "OSQP: an operator splitting solver for quadratic programs", Math. Prog.
Comp. 12 (2020) 637-672), matrices built once at init, only vectors updated per call, warm-started.

Model (per pack; element SOC ``z`` of capacity ``Q``, step ``dt`` = the controller period, ``a = dt/Q``,
measured pack current ``i_p`` held over the horizon)::

    converters:  z_{k+1} = z_k + a (i_p 1 - D u_k),        u_k in R^m   (edge currents, D = P^T B)
    bleed:       z_{k+1} = z_k + a (i_p 1 - b_k),          b_k in R^N   (bleed currents >= 0)

Cost, with one free mean ``m_k`` per step (``min_m sum_i (z_i - m)^2`` is the SOC variance times N,
so no dense N x N matrix appears)::

    sum_{k=1..H} q_soc ||z_k - m_k 1||^2 + sum_{k=0..H-1} (r_effort + r_loss k_loss) ||u_k||^2
    (bleed: + r_loss sum_k V . b_k, the bleed power)

with ``k_loss = k_ohm + (1 - eta) V / I_max`` [W/A^2] of the converter model (exact for conduction
losses, a secant under-estimate of losses proportional to the current). Constraints:

* edge currents ``|u| <= I_max`` (``u >= 0`` for unidirectional converters); bleed
  ``0 <= b_i <= g V_i`` (duty in [0, 1]), ``sum_i b <= min(P_pack / V_max, n_channels g V_max)`` per
  step, ``b_i + b_{i+1} <= g V_max`` where adjacent channels are forbidden (the relaxations of the AFE's
  channel and power limits; the hardware then grants channels as it does);
* cell voltage, linearised at the present operating point with the nominal cell's ``dU/dz`` and
  ``R0``: ``V_{k,i} = V_i^0 + dU/dz (z_{k+1,i} - z_i^0) + R0 (I_bal,k,i - I_bal,prev,i)`` within
  ``[v_min + margin, v_max - margin]``, written per row as ``z_{k+1,i} + rho_i I_bal,k,i`` with
  ``rho = R0 / (dU/dz)`` fixed at init (mid SOC) and the bounds tightened by
  ``|rho_now - rho_init| I_bal,max`` so the matrix never changes;
* temperature, from the nominal lumped thermal model ``C dT/dt = R0 I_cell^2 - h (T - T_amb)``:
  ``|i_p + I_bal,k,i| <= I_T,i`` with ``I_T`` the current that keeps ``T`` under ``t_max - margin`` over
  the horizon (converters; bleed heat goes to the board and is covered by the guard).

Bounds are relaxed where needed so that "no balancing" is always feasible (balancing may never push an
element further past a limit the pack current already crossed). An infeasible problem or a solver
failure falls back to no balancing, is counted in the state (:meth:`MPC.report`) and never stops a
run. The first move then passes the same guards as consensus (Lyapunov filter, voltage scaling).
Batches: one solver per pack (each pack is its own QP), all built at init.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigError, check_range
from ..interfaces import Command, Estimate, LoopContext, Measurement
from . import base as cb
from .consensus import voltage_scale

__all__ = ["MPC", "MPCState", "QPData"]


@dataclass(frozen=True, eq=False)
class QPData:
    """The fixed part of one pack's QP: ``min 1/2 x'Px + q'x  s.t.  l <= A x <= u`` (CSC, upper P).

    Layout of x: ``[w_0..w_{H-1}, z_1..z_H, m_1..m_H]`` with ``w`` the edge currents (m each) or the
    bleed currents (N each). Row blocks of A: dynamics (N H, equalities), actuator bounds, voltage
    (N H), temperature (N H, converters) or per-step sums and adjacency (bleed).
    """

    mode: str
    n: int
    n_w: int
    horizon: int
    P: sp.csc_matrix
    A: sp.csc_matrix
    rows: dict
    a: float
    rho_init: np.ndarray
    emap: cb.ElementMap | None  # the element map D (converters) and the guards' view of it

    @property
    def d_el(self) -> np.ndarray | None:
        """The element-current map D (element current = -D u), or None for bleeding."""
        return None if self.emap is None else self.emap.d


@dataclass(frozen=True, eq=False)
class MPCState:
    """Solvers (one OSQP workspace per pack, mutated by warm starts), the fixed QP, and what the
    controller reports: ``failures`` (B,) count of infeasible/failed solves (safe action taken),
    ``solves`` (B,) count of calls, ``last_status`` (B,) solver status strings, ``solve_time_s`` (B,)
    wall time of the last solve, ``prev_current`` (B, N) element balancing currents of the last
    command (for the voltage base point)."""

    qp: QPData
    solvers: tuple
    tables: cb.NominalTables
    hw: object
    failures: np.ndarray
    solves: np.ndarray
    last_status: tuple
    solve_time_s: np.ndarray
    prev_current: np.ndarray
    i_max: float = 0.0
    eta: float = 1.0
    bidirectional: bool = True
    t_amb_K: float = 298.15
    sizes: tuple = (1.0, 1.0)
    current_limits: tuple | None = None


@dataclass(frozen=True)
class MPC:
    """Constrained MPC of the SOC variance (see the module docstring).

    period_s : controller period = prediction step dt [s]; horizon : H steps
    q_soc : weight of the SOC deviation [per unit SOC^2]; r_effort : [per A^2]; r_loss : [per W]
    max_current_A : edge current limit [A] (None = the converter's); margin_V, margin_K : to the
    nominal limits; eps : OSQP absolute and relative tolerance (default 1e-3, OSQP's own default;
    warm-started iterations per call at 1000 cells about 52 against about 1,100 at 1e-6, counted;
    ``benchmarks/bench_mpc.py`` records the closed-loop SOC spread after 20 calls against a 1e-9
    sequence: both bring a 4 % spread to below 0.1 %-point std);
    pack_current_limits_A : (i_lo, i_hi) [A], i_lo <= 0 <= i_hi: the range the pack current may take
    between two calls; the final voltage guard keeps its headroom for them (as Consensus's; None:
    the context's ``pack_current_range_A``, the range the experiment's steps can impose, or where it
    has none the current measured at the call);
    max_iter : OSQP iteration cap; polish : OSQP's solution polishing (off by default: one more
    factorisation per call for digits the first move does not need); check_every : OSQP's
    termination-check interval in iterations (its default 25 rounds every solve up to a multiple)
    """

    period_s: float = 60.0
    horizon: int = 10
    q_soc: float = 1e4
    r_effort: float = 1e-3
    r_loss: float = 1e-3
    max_current_A: float | None = None
    margin_V: float = 0.05
    margin_K: float = 2.0
    eps: float = 1e-3
    max_iter: int = 4000
    polish: bool = False
    check_every: int = 5
    pack_current_limits_A: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        o = "MPC"
        check_range(o, "period_s", self.period_s, gt=0)
        if isinstance(self.horizon, bool) or int(self.horizon) != self.horizon:
            raise ConfigError(f"MPC.horizon must be an integer >= 1; got {self.horizon!r}.")
        check_range(o, "horizon", self.horizon, ge=1)
        check_range(o, "q_soc", self.q_soc, gt=0)
        check_range(o, "r_effort", self.r_effort, gt=0)
        check_range(o, "r_loss", self.r_loss, ge=0)
        if self.max_current_A is not None:
            check_range(o, "max_current_A", self.max_current_A, gt=0)
        check_range(o, "margin_V", self.margin_V, ge=0)
        check_range(o, "margin_K", self.margin_K, ge=0)
        check_range(o, "eps", self.eps, gt=0, lt=1)
        check_range(o, "max_iter", self.max_iter, ge=1)
        check_range(o, "check_every", self.check_every, ge=1)
        object.__setattr__(self, "pack_current_limits_A", cb.current_limits(o, self.pack_current_limits_A))

    # ------------------------------------------------------------------------------------ set-up
    def init(self, context: LoopContext) -> MPCState:
        import osqp

        bal = context.balancer
        tab = cb.NominalTables.of(context.nominal)
        lay = context.layout
        if cb.active_part(bal) is None and cb.passive_part(bal) is not None:
            hw = cb.require_passive("MPC", context)
            qp = self.build_qp(tab, lay.n_series, None, hw)
            i_max, eta, bidir = 0.0, 1.0, True
        else:
            hw = cb.require_active("MPC", context)
            if hw.working_graph.weight_unit == "S":  # pragma: no cover - require_active refuses links already
                raise ConfigError("MPC cannot command switched-capacitor links.")
            conv = hw._conv
            i_max = conv.max_current_A if self.max_current_A is None else min(self.max_current_A, conv.max_current_A)
            v_nom = float(np.interp(0.5, tab.soc, tab.ocv))
            eta = float(1.0 - conv.loss_W(0.5 * i_max, v_nom) / (v_nom * 0.5 * i_max))
            k_loss = conv.k_ohm + (1.0 - eta) * v_nom / i_max
            qp = self.build_qp(tab, lay.n_series, hw, None, k_loss=k_loss)
            bidir = conv.bidirectional
        solvers = []
        for _ in range(lay.n_packs):
            s = osqp.OSQP()
            n_rows = qp.A.shape[0]
            s.setup(qp.P, np.zeros(qp.P.shape[0]), qp.A, -np.ones(n_rows), np.ones(n_rows), verbose=False,
                    eps_abs=self.eps, eps_rel=self.eps, max_iter=int(self.max_iter), polishing=self.polish,
                    warm_starting=True, check_termination=int(self.check_every))
            solvers.append(s)
        b = lay.n_packs
        sizes = cb.endpoint_sizes(hw) if qp.mode == "edges" else (1.0, 1.0)
        return MPCState(qp, tuple(solvers), tab, hw, np.zeros(b, int), np.zeros(b, int), ("",) * b, np.zeros(b),
                        np.zeros((b, lay.n_series)), i_max, eta, bidir, float(context.nominal.cell.ambient_K), sizes,
                        self.pack_current_limits_A or context.pack_current_range_A)

    def build_qp(self, tab: cb.NominalTables, n: int, active, passive, k_loss: float = 0.0) -> QPData:
        """The fixed matrices P and A of one pack's QP (see :class:`QPData`)."""
        h = int(self.horizon)
        a = self.period_s / tab.q_As
        if active is not None:
            _, d_el = cb.node_map(active)
            m = d_el.shape[1]
            mode = "edges"
            act_map = sp.csc_matrix(-d_el)  # balancing element current = -D u
            r = self.r_effort + self.r_loss * k_loss
        else:
            d_el = None
            m = n
            mode = "bleed"
            act_map = -sp.identity(n, format="csc")  # balancing element current = -b
            r = self.r_effort
        nw, nz = h * m, h * n
        ih, i_n = sp.identity(h, format="csc"), sp.identity(n, format="csc")
        ones = sp.csc_matrix(np.ones((n, 1)))
        # cost: q ||z_k - m_k 1||^2 = q (z'z - 2 m 1'z + N m^2); OSQP minimises 1/2 x'Px
        pz = 2.0 * self.q_soc * sp.identity(nz)
        pzm = -2.0 * self.q_soc * sp.kron(ih, ones)
        pm = 2.0 * self.q_soc * n * sp.identity(h)
        pw = 2.0 * r * sp.identity(nw)
        big = sp.bmat([[pw, None, None], [None, pz, pzm], [None, None, pm]], format="csc")
        p_upper = sp.triu(big, format="csc")
        # dynamics: z_{k+1} - z_k - a act_map w_k = a i_p 1  (z_0 moved to the right-hand side)
        shift = sp.identity(h) - sp.eye(h, k=-1)
        dyn = sp.hstack([-a * sp.kron(ih, act_map), sp.kron(shift, i_n), sp.csc_matrix((nz, h))])
        blocks = [dyn]
        rows = {"dyn": (0, nz)}
        r0 = nz
        # actuator bounds
        blocks.append(sp.hstack([sp.identity(nw), sp.csc_matrix((nw, nz + h))]))
        rows["act"] = (r0, r0 + nw)
        r0 += nw
        # voltage rows: z_{k+1} + rho act_map w_k
        zmid = 0.5
        rho = tab.r0_element(zmid) / tab.docv_at(zmid)
        rho_v = np.full(n, rho)
        volt = sp.hstack([sp.kron(ih, sp.diags(rho_v) @ act_map), sp.identity(nz), sp.csc_matrix((nz, h))])
        blocks.append(volt)
        rows["volt"] = (r0, r0 + nz)
        r0 += nz
        if mode == "edges":
            blocks.append(sp.hstack([sp.kron(ih, act_map), sp.csc_matrix((nz, nz + h))]))
            rows["temp"] = (r0, r0 + nz)
            r0 += nz
        else:
            blocks.append(sp.hstack([sp.kron(ih, sp.csc_matrix(np.ones((1, n)))), sp.csc_matrix((h, nz + h))]))
            rows["sum"] = (r0, r0 + h)
            r0 += h
            if passive.forbid_adjacent and n > 1:
                adj = sp.eye(n - 1, n) + sp.eye(n - 1, n, k=1)
                blocks.append(sp.hstack([sp.kron(ih, adj), sp.csc_matrix((h * (n - 1), nz + h))]))
                rows["adj"] = (r0, r0 + h * (n - 1))
                r0 += h * (n - 1)
        amat = sp.vstack(blocks, format="csc")
        return QPData(mode, n, m, h, p_upper, amat, rows, a, rho_v, None if d_el is None else cb.ElementMap.of(d_el))

    # ------------------------------------------------------------------------------------ vectors
    def qp_vectors(self, state: MPCState, b: int, z0: np.ndarray, v: np.ndarray, temp: np.ndarray,
                   i_p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(q, l, u) of pack ``b``'s QP at the present operating point (1-D arrays for that pack)."""
        qp, tab = state.qp, state.tables
        n, h, m, a = qp.n, qp.horizon, qp.n_w, qp.a
        ksteps = np.arange(1, h + 1)[:, None]
        z_free = (z0[None, :] + a * i_p * ksteps).ravel()  # SOC with no balancing
        n_rows = qp.A.shape[0]
        lo, hi = np.full(n_rows, -np.inf), np.full(n_rows, np.inf)
        q = np.zeros(qp.P.shape[0])
        # dynamics
        rhs = np.tile(a * i_p * np.ones(n), h)
        rhs[:n] += z0
        s, e = qp.rows["dyn"]
        lo[s:e] = hi[s:e] = rhs
        # actuators
        s, e = qp.rows["act"]
        r0 = tab.r0_element(z0, temp)
        dudz = tab.docv_at(z0)
        if qp.mode == "edges":
            lo_w = 0.0 if not state.bidirectional else -state.i_max * state.sizes[1]
            hi_w = state.i_max * state.sizes[0]  # cell-level transfer limits (cb.endpoint_sizes)
            lo[s:e] = np.tile(lo_w * np.ones(m), h)
            hi[s:e] = np.tile(hi_w * np.ones(m), h)
            i_bal_max = np.abs(qp.d_el) @ np.maximum(hi_w, -lo_w * np.ones(m))
        else:
            hw = state.hw
            bmax = cb.bleed_guard(np.ones(n), v, temp, tab, hw, self.margin_V, self.margin_K) * v * hw.conductance_S
            lo[s:e] = 0.0
            hi[s:e] = np.tile(bmax, h)
            i_bal_max = bmax
            q[: h * n] = self.r_loss * np.tile(v, h)  # bleed power V b
            vmx = float(v.max())
            cap = np.inf
            if hw.max_pack_power_W is not None:
                cap = hw.max_pack_power_W / vmx
            if hw.max_channels is not None:
                cap = min(cap, hw.max_channels * hw.conductance_S * vmx)
            s2, e2 = qp.rows["sum"]
            lo[s2:e2] = 0.0
            hi[s2:e2] = cap
            if "adj" in qp.rows:
                s2, e2 = qp.rows["adj"]
                lo[s2:e2] = 0.0
                hi[s2:e2] = hw.conductance_S * vmx
        # voltage rows: z_{k+1} + rho_init I_bal,k in [z0 + (vlim - V_base)/dUdz, ...] tightened
        rho_now = r0 / dudz
        tight = np.abs(rho_now - qp.rho_init) * i_bal_max
        v_base = v - r0 * state.prev_current[b]
        up = z0 + (tab.v_max - self.margin_V - v_base) / dudz - tight
        dn = z0 + (tab.v_min + self.margin_V - v_base) / dudz + tight
        s, e = qp.rows["volt"]
        hi[s:e] = np.maximum(np.tile(up, h), z_free + 1e-12)
        lo[s:e] = np.minimum(np.tile(dn, h), z_free - 1e-12)
        if "temp" in qp.rows:
            i_t = self._thermal_current(tab, temp, z0, state.t_amb_K)
            s, e = qp.rows["temp"]
            hi[s:e] = np.tile(np.maximum(i_t - i_p, 0.0), h)
            lo[s:e] = np.tile(np.minimum(-i_t - i_p, 0.0), h)
        return q, lo, hi

    def _thermal_current(self, tab: cb.NominalTables, temp: np.ndarray, z0: np.ndarray, t_amb: float) -> np.ndarray:
        """Largest element current that keeps the nominal lumped cell under ``t_max - margin_K`` over the
        horizon: ``T(t) = T_amb + (T0 - T_amb) e^{-t/tau} + (R0 I_c^2 / h)(1 - e^{-t/tau})``, tau = C/h,
        taken at its worst point of the horizon (the end when heating, the start when cooling)."""
        c, hc = tab.heat_capacity_J_per_K, tab.cooling_W_per_K
        t_lim = tab.t_max_K - self.margin_K
        if hc <= 0:
            return np.where(temp < t_lim, np.inf, 0.0)
        ex = np.exp(-self.horizon * self.period_s * hc / c)
        room = hc * (t_lim - t_amb - (temp - t_amb) * ex) / max(1.0 - ex, 1e-12)
        r0_cell = tab.r0_element(z0, temp) * tab.n_parallel
        i_cell = np.sqrt(np.maximum(room, 0.0) / r0_cell)
        return np.where(temp < t_lim, i_cell * tab.n_parallel, 0.0)

    # ------------------------------------------------------------------------------------ step
    def step(self, t_s: float, measurement: Measurement, estimate: Estimate | None, state: MPCState):
        qp, tab = state.qp, state.tables
        v = np.asarray(measurement.element_voltage_V, float)
        z = cb.controller_soc("MPC", measurement, estimate, tab)
        temp = cb.element_temperature(measurement, tab.t_max_K - 50.0)
        i_p = np.asarray(measurement.pack_current_A, float)
        b_n = v.shape[0]
        w0 = np.zeros((b_n, qp.n_w))
        failures, solves = state.failures.copy(), state.solves.copy()
        times = np.zeros(b_n)
        status = list(state.last_status)
        for b in range(b_n):  # one QP per pack (a batch is B independent problems)
            q, lo, hi = self.qp_vectors(state, b, z[b], v[b], temp[b], float(i_p[b]))
            solver = state.solvers[b]
            t0 = time.perf_counter()
            ok = False
            try:
                solver.update(q=q, l=lo, u=hi)
                res = solver.solve(raise_error=False)
                st = str(res.info.status)
                ok = st in ("solved", "solved inaccurate") and np.all(np.isfinite(res.x))
            except Exception as exc:
                st = f"error: {exc}"
            times[b] = time.perf_counter() - t0
            solves[b] += 1
            status[b] = st
            if ok:
                w0[b] = res.x[: qp.n_w]
            else:
                failures[b] += 1
        if qp.mode == "bleed":
            hw = state.hw
            duty = np.clip(w0 / (v * hw.conductance_S), 0.0, 1.0)
            duty = np.where(duty > 1e-3, duty, 0.0)
            duty = cb.bleed_guard(duty, v, temp, tab, hw, self.margin_V, self.margin_K)
            cur = -duty * v * hw.conductance_S
            cmd = Command(bleed=duty)
        else:
            lo_c = 0.0 if not state.bidirectional else -state.i_max * state.sizes[1]
            c = np.clip(w0, lo_c, state.i_max * state.sizes[0])
            c = np.where(np.abs(c) > 1e-6 * state.i_max, c, 0.0)
            # the limits first, the step size after them (as Consensus: per-edge scaling can undo the
            # joint decrease of V; the step size keeps the limits)
            c = voltage_scale(c, v, z, temp, qp.emap, tab, self.margin_V, self.margin_K, i_p, self.period_s,
                              state.current_limits)
            c = cb.lyapunov_step_run(c, z, qp.emap, state.eta, qp.a, state.sizes, state.hw._conv.dead_band_A)
            cur = -(c @ qp.d_el.T)
            cmd = Command(edge_current_A=cb.to_command(c, state.sizes))
        new = replace(state, failures=failures, solves=solves, last_status=tuple(status), solve_time_s=times,
                      prev_current=cur)
        return cmd, new

    @staticmethod
    def report(state: MPCState) -> dict:
        """Counts of calls and of failed/infeasible solves (safe action taken), per pack, and the
        last solver status and solve time."""
        return {"solves": state.solves.tolist(), "failures": state.failures.tolist(),
                "last_status": list(state.last_status), "solve_time_s": state.solve_time_s.tolist()}

