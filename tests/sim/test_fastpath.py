"""The compiled fast path (whole periods of a current-driven pack) gives what the general loop gives."""

import numpy as np
import pytest

import cellbalance.sim.loop as L
from cellbalance.cell import get_parameter_set, initial_state
from cellbalance.pack import PackLayout
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate


@pytest.mark.parametrize("name,layout,steps,every", [
    ("nmc_lg_m50", PackLayout(n_series=1), ["Discharge at 1C until 3.0 V", "Rest for 10 minutes",
                                            "Charge at 0.5C until 4.1 V", "Hold at 4.1 V until C/10"], 1),
    ("ecm_example", PackLayout(n_series=1), ["Discharge at 1C until 3.2 V", "Rest for 1 hour"], 3),
    ("lfp_a123_26650", PackLayout(n_series=5), ["Run US06 for 30 minutes", "Rest for 5 minutes",
                                                "Run UDDS until 3.2 V"], 7),
    ("nmc_lg_m50", PackLayout(n_series=40), ["Discharge at 1C until 3.3 V", "Rest for 10 minutes"], 2),
    ("nmc_lg_m50", PackLayout(n_series=6, n_parallel=3), ["Run US06 per cell for 15 minutes",
                                                          "Discharge at 2C until 3.4 V", "Rest for 5 minutes"], 1),
    ("lfp_a123_26650", PackLayout(n_series=30, n_parallel=20), ["Discharge at 1C for 20 minutes",
                                                               "Rest for 5 minutes"], 4),
])
def test_fast_path_equals_general_loop(monkeypatch, name, layout, steps, every, period_s=2.0):
    p = get_parameter_set(name)
    cells = p.compile(layout.n_cells)
    s0 = initial_state(cells, soc=np.linspace(0.7, 0.8, layout.n_cells))
    exp = Experiment(steps, period_s=period_s)
    opts = SimulationOptions(record_every=every)
    fast = simulate(cells, exp, layout=layout, state=s0, options=opts)
    monkeypatch.setattr(L, "_try_segment", lambda *a, **kw: 0)
    slow = simulate(cells, exp, layout=layout, state=s0, options=opts)
    assert fast.sizes == slow.sizes
    np.testing.assert_allclose(fast.event_end_s.values, slow.event_end_s.values, rtol=0, atol=1e-9)
    for v in ("soc", "voltage_V", "current_A", "temperature_K", "energy_load_J", "energy_cells_J"):
        np.testing.assert_allclose(fast[v].values, slow[v].values, rtol=1e-11, atol=1e-9, err_msg=v)
    np.testing.assert_array_equal(fast.step.values, slow.step.values)


def test_fast_path_equals_general_loop_current_dependent_tables_under_a_drive_cycle(monkeypatch):
    """ECM_Example's R0, R1, C1 over current under US06 at 20x (-160 .. +85 A, across several current
    intervals of the tables), on the cycle's 1 s grid so the segments run it: each period's new current
    is looked up again (the tables from R0 on) before the step."""
    from cellbalance.sim import segment as S

    done = []
    run = S.run_segment

    def spy(*a, **kw):
        done.append(run(*a, **kw))
        return done[-1]

    monkeypatch.setattr(L, "run_segment", spy)
    test_fast_path_equals_general_loop(monkeypatch, "ecm_example", PackLayout(n_series=3),
                                       ["Run US06 scaled by 20 for 10 minutes", "Rest for 2 minutes"], 5, 1.0)
    assert sum(d for d in done if d > 0) >= 500  # most of the cycle ran in segments


def _blocks_stop_apart_case():
    """A 40s1p pack whose weakest cell sits in the last block: that block meets the cut-off while the
    others could go on, so the chunk is re-run up to the stop."""
    p = get_parameter_set("nmc_lg_m50")
    layout = PackLayout(n_series=40)
    cells = p.compile(layout.n_cells)
    soc = np.full(layout.n_cells, 0.6)
    soc[37] = 0.35
    return cells, layout, initial_state(cells, soc=soc)


def test_segment_blocks_stopping_apart_equal_the_general_loop(monkeypatch):
    import numba

    from cellbalance.sim import segment as S

    cells, layout, s0 = _blocks_stop_apart_case()
    assert S.block_bounds(layout.n_cells, 1, 2)[0].size == 2  # two blocks on two threads
    exp = Experiment(["Discharge at 1C until 3.0 V", "Rest for 20 minutes"], period_s=1.0)
    opts = SimulationOptions(record_every=7)  # rows do not line up with the chunks of S.CHUNK periods
    fast = simulate(cells, exp, layout=layout, state=s0, options=opts)
    t_cut = float(fast.event_end_s.values[0])
    assert t_cut > 3 * S.CHUNK  # the stop falls in a later chunk
    i_weak = int(np.argmin(fast.voltage_V.sel(time=t_cut - 7, method="nearest").values[0]))
    assert i_weak == 37
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)  # one block per thread -> other block bounds: same numbers
        one = simulate(cells, exp, layout=layout, state=s0, options=opts)
    finally:
        numba.set_num_threads(threads)
    monkeypatch.setattr(L, "_try_segment", lambda *a, **kw: 0)
    slow = simulate(cells, exp, layout=layout, state=s0, options=opts)
    for other in (slow, one):
        assert fast.sizes == other.sizes
        np.testing.assert_allclose(fast.event_end_s.values, other.event_end_s.values, rtol=0, atol=1e-9)
        for v in ("soc", "voltage_V", "temperature_K", "energy_load_J", "energy_cells_J"):
            np.testing.assert_allclose(fast[v].values, other[v].values, rtol=1e-11, atol=1e-9, err_msg=v)


def test_segment_state_is_the_one_before_the_stopping_period():
    """run_segment hands back the state before the first period whose end meets a condition: one
    more general step from it crosses the limit, the state itself does not."""
    from cellbalance.cell import kernels as K
    from cellbalance.sim import segment as S

    cells, layout, s0 = _blocks_stop_apart_case()
    n = layout.n_cells
    x = s0.x.copy()
    cur = np.full((5000, 1), -2.0 * cells.params.capacity_Ah)
    lo = 3.0
    energy = np.zeros((1, 5))
    rows = np.full(cur.shape[0], -1, dtype=np.int64)
    e = (np.empty((0, n, x.shape[1])), np.empty((0, n)), np.empty((0, n)), np.empty((0, 1, 5)), np.empty(0),
         np.empty((0, 1)), np.empty((0, 1), np.int32))
    done = S.run_segment(cells, x, cur, np.full(n, 298.15), 1.0, [(lo, np.inf, np.inf)], 1, False, 0.0, energy,
                         np.zeros(1), rows, e, 0.0, np.zeros(1, np.int64))
    assert 0 < done < cur.shape[0]
    args = (cells.cp, cells.gp, cells.bank.data, cells.bank.meta)
    bufs = [np.empty(n) for _ in range(5)]
    ic = np.full(n, cur[0, 0])

    def v_of(xx):
        K.emf_r0(*args, xx, ic, 1.0, *bufs, False)
        return bufs[0] + ic * bufs[1]

    assert v_of(x).min() > lo
    x1 = x.copy()
    K.step(*args, x1, ic, np.full(n, 298.15), np.zeros(n), np.full(n, 1.0), np.empty(n))
    assert v_of(x1).min() <= lo
    # the energy into the cells: sum over periods of I V dt, negative on discharge
    assert energy[0, 1] < 0 and energy[0, 0] == pytest.approx(energy[0, 1], rel=1e-12)


@pytest.mark.parametrize("npar", [1, 3])
def test_batch_of_packs_fast_path_equals_general_loop(monkeypatch, npar):
    """A Monte Carlo batch: packs with their own variation end their steps at different times (each
    pack's cut-off), run profile and constant-current steps side by side; the segments stop whenever
    any pack's step ends and resume after the general loop has taken that period."""
    from cellbalance.pack.variation import preset, sample

    p = get_parameter_set("nmc_lg_m50")
    layout = PackLayout(n_series=8, n_parallel=npar, n_packs=4)
    pack = sample(preset("second_life"), p, layout, seed=3)
    exp = Experiment(["Run US06 for 10 minutes", "Discharge at 1C until 3.2 V", "Rest for 10 minutes",
                      "Charge at 0.5C for 10 minutes"], period_s=1.0)
    opts = SimulationOptions(record_every=5)
    calls = []
    orig = L._try_segment
    monkeypatch.setattr(L, "_try_segment", lambda *a, **kw: calls.append(orig(*a, **kw)) or calls[-1])
    fast = simulate(pack.cells, exp, layout=layout, state=pack.initial_state, ambient_K=pack.ambient_K,
                    options=opts)
    assert sum(calls) > 0.9 * fast.sizes["time"] * 5  # nearly all periods ran in segments
    cut = fast.event_end_s.values[fast.event_step.values == 1]
    assert cut.size == 4 and np.ptp(cut) > 10  # the packs' cut-offs differ
    monkeypatch.setattr(L, "_try_segment", lambda *a, **kw: 0)
    slow = simulate(pack.cells, exp, layout=layout, state=pack.initial_state, ambient_K=pack.ambient_K,
                    options=opts)
    assert fast.sizes == slow.sizes
    # crossings are located to brentq's 1e-9 s; rounding differences move them within that
    np.testing.assert_allclose(fast.event_end_s.values, slow.event_end_s.values, rtol=0, atol=1e-8)
    for v in ("soc", "voltage_V", "current_A", "temperature_K", "pack_current_A", "energy_load_J",
              "energy_cells_J"):
        np.testing.assert_allclose(fast[v].values, slow[v].values, rtol=1e-11, atol=1e-9, err_msg=v)
    np.testing.assert_array_equal(fast.step.values, slow.step.values)


def test_groups_larger_than_a_block_run_in_the_general_loop(monkeypatch):
    """Parallel groups of more than BLOCK cells cannot be cut into blocks: the segment declines
    (-1) and the general loop runs them (the older per-period compiled segment, a second copy of
    the Kirchhoff split and of the step sequence, is gone)."""
    from cellbalance.cell import kernels as K
    from cellbalance.sim import segment as S

    p = get_parameter_set("nmc_lg_m50")
    layout = PackLayout(n_series=2, n_parallel=K.BLOCK + 44)
    assert S.block_bounds(layout.n_cells, layout.n_parallel, 2) is None
    cells = p.compile(layout.n_cells)
    s0 = initial_state(cells, soc=np.linspace(0.5, 0.6, layout.n_cells))
    exp = Experiment(["Discharge at 1C for 5 minutes", "Rest for 2 minutes"], period_s=2.0)
    opts = SimulationOptions(record_every=3)
    fast = simulate(cells, exp, layout=layout, state=s0, options=opts)
    monkeypatch.setattr(L, "_try_segment", lambda *a, **kw: 0)
    slow = simulate(cells, exp, layout=layout, state=s0, options=opts)
    assert fast.sizes == slow.sizes
    for v in ("soc", "voltage_V", "current_A", "temperature_K", "energy_load_J"):
        np.testing.assert_allclose(fast[v].values, slow[v].values, rtol=1e-11, atol=1e-9, err_msg=v)


@pytest.mark.parametrize("layout", [PackLayout(n_series=24), PackLayout(n_series=6, n_parallel=4, n_packs=2)])
def test_serial_and_threaded_builds_of_the_segment_give_identical_numbers(monkeypatch, layout):
    """Short chunks run the serial build of the segment kernel, long ones the threaded build: the same
    body over independent blocks, so the results are bit for bit the same whichever runs."""
    import cellbalance.sim.segment as S

    cells = get_parameter_set("nmc_lg_m50").compile(layout.n_cells)
    s0 = initial_state(cells, soc=np.linspace(0.6, 0.8, layout.n_cells))
    exp = Experiment(["Run US06 for 10 minutes", "Discharge at 1C until 3.5 V"], period_s=1.0)
    runs = []
    for threshold in (0, 1 << 60):  # every chunk threaded; every chunk serial
        monkeypatch.setattr(S, "SERIAL_CELL_PERIODS", threshold)
        runs.append(simulate(cells, exp, layout=layout, state=s0))
    for v in ("soc", "voltage_V", "current_A", "temperature_K", "energy_cells_J", "event_end_s"):
        np.testing.assert_array_equal(runs[0][v].values, runs[1][v].values, err_msg=v)


def test_a_read_only_ambient_array_compiles_no_second_kernel():
    """simulate hands the kernels a fresh writable ambient array: a read-only one (a sampled pack's
    ambient_K) is another numba type, and compiling the segment kernel again for it cost the demo's
    cold start 11 s."""
    import cellbalance.sim.segment as S

    cells = get_parameter_set("nmc_lg_m50").compile(24)
    exp = Experiment(["Discharge at 1C for 2 minutes"], period_s=1.0)
    lay = PackLayout(n_series=24)
    simulate(cells, exp, layout=lay, ambient_K=298.15)  # a scalar
    before = (len(S._chunk.signatures), len(S._chunk_serial.signatures))
    amb = np.full(24, 298.15)
    amb.setflags(write=False)
    ds = simulate(cells, exp, layout=lay, ambient_K=amb)  # a read-only array
    assert (len(S._chunk.signatures), len(S._chunk_serial.signatures)) == before
    assert float(ds.time.values[-1]) == 120.0


def test_serial_and_threaded_builds_keep_separate_disk_caches():
    """numba keys its on-disk cache by function name and line, not by compile options: a serial and a
    threaded build of one function under one name load each other's machine code from the cache
    (found 2026-12-03: the segment's threaded build then ran serially, 10k cells at half speed)."""
    import cellbalance.estimation.kernels as EK
    import cellbalance.sim.segment as S
    from cellbalance.cell import kernels as K

    pairs = [(S._chunk_serial, S._chunk), (K.step_serial, K.step_parallel), (K.emf_r0_serial, K.emf_r0_parallel),
             (EK.ekf_step_serial, EK.ekf_step_parallel), (EK.bardelta_step_serial, EK.bardelta_step_parallel)]
    for ser, par in pairs:
        assert ser.targetoptions.get("parallel") is not True and par.targetoptions.get("parallel")
        assert ser._cache._cache_file._index_name != par._cache._cache_file._index_name, ser.py_func.__name__
