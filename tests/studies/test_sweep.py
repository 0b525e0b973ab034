"""Sweeps through the Python API: the same table on any backend and worker count, a failing task
retried once and reported while the rest completes, resume checks, and the sensitivity measures
against their closed forms."""

import functools
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cellbalance.analysis.sweep import pack_metrics, scenario_summary, sensitivity
from cellbalance.errors import ConfigError
from cellbalance.io.sweep import load_sweep
from cellbalance.studies.sweep import cells_seed, run_sweep, task_seed_sequence

SWEEP = """
seed = 11
[cell]
parameter_set = "ecm_example"
[pack]
n_series = 3
n_packs = 4
[variation]
preset = "typical"
initial_soc = {{ sigma = 0.02 }}
[experiment]
steps = ["Discharge at 1C for 120 s", "Rest for 60 s"]
period_s = 5.0
[balancing]
hardware = "passive"
controller = "bleed_to_lowest_soc"
controller_period_s = 30
[output]
name = "s"
record_every = 4
[sweep]
packs_per_task = 2
{extra}
[sweep.grid]
"balancing.passive.r_bleed_ohm" = [20.0, 60.0]
[sweep.random]
ambient_C = {{ kind = "uniform", mean = 25.0, sigma = 4.0 }}
"""


@pytest.fixture(scope="module")
def sweep_cfg(tmp_path_factory):
    d = tmp_path_factory.mktemp("cfg")
    f = d / "sweep.toml"
    f.write_text(SWEEP.format(extra=""))
    return f


@pytest.fixture(scope="module")
def reference(sweep_cfg, tmp_path_factory):
    """The sweep run in this process (no pool): the table every backend must reproduce bit for bit."""
    run = load_sweep(sweep_cfg)
    res = run_sweep(run.tasks, tmp_path_factory.mktemp("ref"), metrics=pack_metrics, seed=run.seed, workers=0)
    assert res.complete
    return run, res.table


def test_the_table_has_one_row_per_pack_and_scenario(reference):
    run, table = reference
    assert len(run.tasks) == 4  # 2 resistances x 4 packs / 2 packs per task
    assert len(table) == 8 and set(table["scenario"]) == {0, 1}
    assert sorted(table.groupby("scenario")["pack"].apply(list).iloc[0]) == [0, 1, 2, 3]
    # the random parameter is drawn once per scenario, and differs between the scenarios
    amb = table.groupby("scenario")["ambient_C"].nunique()
    assert (amb == 1).all() and table["ambient_C"].nunique() == 2
    assert np.all((table["ambient_C"] > 25 - 4 * 3**0.5) & (table["ambient_C"] < 25 + 4 * 3**0.5))
    assert np.all(table["capacity_sd_pct"] > 0) and np.all(table["spread_start_pct"] > 0)


def test_task_seeds_are_numpy_spawned_children_and_distinct():
    ss = np.random.SeedSequence(11).spawn(2)[0].spawn(5)
    for k in range(5):
        assert np.array_equal(task_seed_sequence(11, k).generate_state(4), ss[k].generate_state(4))
    assert len({cells_seed(11, k) for k in range(50)}) == 50


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_local_pool_gives_the_same_table_with_any_number_of_workers(reference, tmp_path, workers):
    run, ref = reference
    res = run_sweep(run.tasks, tmp_path, metrics=pack_metrics, seed=run.seed, workers=workers)
    assert res.complete and res.computed == [0, 1, 2, 3]
    _same(res.table, ref)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_table(reference, tmp_path):
    import dask
    from distributed import Client, LocalCluster

    run, ref = reference
    scratch = tempfile.mkdtemp(dir=tmp_path)
    with dask.config.set({"temporary-directory": scratch}), \
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", local_directory=scratch,
                         processes=True) as cluster, Client(cluster) as client:
        res = run_sweep(run.tasks, tmp_path / "out", metrics=pack_metrics, seed=run.seed, scheduler=client)
        # and through the address, as the CLI's --scheduler does
        res2 = run_sweep(run.tasks, tmp_path / "out2", metrics=pack_metrics, seed=run.seed,
                         scheduler=cluster.scheduler_address)
    assert res.complete and res2.complete
    _same(res.table, ref)
    _same(res2.table, ref)
    assert not any(Path.cwd().glob("dask-worker-space*"))


def failing_on_first_cell(capacity: float, log: str, ds, sampled=None):
    """Fails for the task whose first drawn cell has this capacity (one task of the sweep)."""
    with open(log, "a") as f:
        f.write(f"{float(sampled.capacity_Ah[0])!r}\n")
    if sampled.capacity_Ah[0] == capacity:
        raise RuntimeError(f"injected failure at capacity {capacity!r}")
    return pack_metrics(ds, sampled)


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_a_failing_task_is_retried_once_then_reported_and_the_rest_completes(reference, tmp_path, workers):
    run, ref = reference
    victim = 2
    t = run.tasks[victim]
    cap = float(t.scenario.run(t.n_packs, cells_seed(run.seed, victim))[1].capacity_Ah[0])
    log = tmp_path / "calls.log"
    fn = functools.partial(failing_on_first_cell, cap, str(log))
    res = run_sweep(run.tasks, tmp_path / "out", metrics=fn, seed=run.seed, workers=workers)
    assert not res.complete
    assert [f["task"] for f in res.failed] == [victim]
    f = res.failed[0]
    assert f["params"] == dict(run.tasks[victim].params) and "injected failure" in f["error"]
    calls = [float(x) for x in log.read_text().split()]
    assert calls.count(cap) == 2  # tried, retried once, then given up
    assert len(calls) == len(run.tasks) + 1
    assert sorted(res.computed) == [0, 1, 3]
    _same(res.table, ref[ref.task != victim])
    assert not (tmp_path / "out" / "chunks" / f"task-{victim:06d}.parquet").exists()


def test_resuming_into_another_sweeps_directory_is_refused(reference, tmp_path):
    run, _ = reference
    run_sweep(run.tasks[:1], tmp_path, metrics=pack_metrics, seed=run.seed, workers=0)
    with pytest.raises(ConfigError, match="different sweep"):
        run_sweep(run.tasks[:1], tmp_path, metrics=pack_metrics, seed=run.seed + 1, workers=0)


def test_finished_chunks_are_reused_and_the_table_is_unchanged(reference, tmp_path):
    run, ref = reference
    first = run_sweep(run.tasks, tmp_path, metrics=pack_metrics, seed=run.seed, workers=0)
    chunk = tmp_path / "chunks" / "task-000001.parquet"
    before = chunk.stat()
    os.remove(tmp_path / "chunks" / "task-000002.parquet")
    again = run_sweep(run.tasks, tmp_path, metrics=pack_metrics, seed=run.seed, workers=0)
    assert again.computed == [2] and again.reused == [0, 1, 3]
    assert chunk.stat().st_mtime_ns == before.st_mtime_ns and chunk.stat().st_ino == before.st_ino
    _same(again.table, first.table)
    _same(again.table, ref)
    assert not list((tmp_path / "chunks").glob(".*tmp"))


def test_spearman_and_eta2_against_closed_forms():
    # additive model on a full 3 x 4 grid: y = a(x1) + b(x2); eta^2 of each = its share of Var(y) (Sobol S1)
    x1, x2 = np.meshgrid([0.0, 1.0, 2.0], [10.0, 20.0, 30.0, 40.0], indexing="ij")
    a = np.array([0.0, 3.0, 1.0])[np.searchsorted([0.0, 1.0, 2.0], x1)]
    b = 0.1 * x2
    df = pd.DataFrame({"x1": x1.ravel(), "x2": x2.ravel(), "y": (a + b).ravel()})
    s = sensitivity(df, "y", ["x1", "x2"], grid=["x1", "x2"]).set_index("parameter")
    va, vb = np.var(a), np.var(b)
    assert s.loc["x1", "eta2"] == pytest.approx(va / (va + vb), rel=1e-12)
    assert s.loc["x2", "eta2"] == pytest.approx(vb / (va + vb), rel=1e-12)
    # a monotone but non-linear influence: rank correlation exactly 1; an unrelated column near 0
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3, 400)
    df = pd.DataFrame({"x": x, "noise": rng.uniform(size=400), "y": np.exp(x), "k": "same"})
    s = sensitivity(df, "y", ["x", "noise", "k"]).set_index("parameter")
    assert s.loc["x", "spearman_rho"] == pytest.approx(1.0, abs=1e-12)
    assert abs(s.loc["noise", "spearman_rho"]) < 0.15
    assert "k" not in s.index  # constant: left out
    assert np.isnan(s.loc["x", "eta2"])  # a different value in every row: no grouping


def test_scenario_summary_matches_the_rows(reference):
    run, table = reference
    summ = scenario_summary(table, run.params, ["spread_end_pct"]).set_index("scenario")
    for sid, g in table.groupby("scenario"):
        assert summ.loc[sid, "packs"] == len(g)
        assert summ.loc[sid, "spread_end_pct_mean"] == pytest.approx(g["spread_end_pct"].mean(), rel=1e-14)
