"""``cellbalance sweep`` from the command line: killed with SIGKILL half-way and resumed by the same
command (finished chunks untouched, the table equal to an uninterrupted run's), a failing task named
with a non-zero exit, and bad input refused with one message before any output exists."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cellbalance.cli.app import app

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src"

CFG = """
seed = 3
[cell]
parameter_set = "ecm_example"
[pack]
n_series = 3
n_packs = {n_packs}
[variation]
preset = "typical"
{variation}
[experiment]
steps = ["{step}"]
period_s = 1.0
[balancing]
hardware = "passive"
controller = "bleed_to_lowest_soc"
controller_period_s = 30
[output]
name = "k"
record_every = 60
[sweep]
packs_per_task = 1
{sweep}
"""


def _cfg(tmp_path, n_packs=8, variation="", sweep="", step="Discharge at 0.5C for 40 minutes") -> Path:
    f = tmp_path / "sweep.toml"
    f.write_text(CFG.format(n_packs=n_packs, variation=variation, sweep=sweep, step=step))
    return f


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "cellbalance.cli.app", "sweep", *map(str, args)]


def _env():
    return {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.slow
def test_sigkill_half_way_then_the_same_command_resumes_without_redoing_chunks(tmp_path):
    cfg = _cfg(tmp_path)
    out = tmp_path / "out"
    chunks = out / "chunks"
    cmd = _cli(cfg, "--out", out, "--workers", "1")
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not list(chunks.glob("task-*.parquet")):
            assert proc.poll() is None, "the sweep ended before its first chunk appeared"
            assert time.monotonic() < deadline, "no chunk within 240 s"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its pool worker: the group this test started
        proc.wait()
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in chunks.glob("task-*.parquet")}
    assert 1 <= len(before) < 8, f"killed too late to test a resume: {sorted(before)}"
    assert not (out / "k.parquet").exists()  # no table presented as complete

    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    assert f"{8 - len(before)} task(s) computed, {len(before)} found on disk" in " ".join(r.stdout.split())
    for name, stat in before.items():  # finished chunks were not recomputed
        p = chunks / name
        assert (p.stat().st_mtime_ns, p.stat().st_ino) == stat
    assert len(list(chunks.glob("task-*.parquet"))) == 8 and not list(chunks.glob(".*"))

    ref = tmp_path / "ref"
    r2 = subprocess.run(_cli(cfg, "--out", ref, "--workers", "2"), env=_env(), capture_output=True, text=True,
                        timeout=600)
    assert r2.returncode == 0, r2.stderr
    a, b = pd.read_parquet(out / "k.parquet"), pd.read_parquet(ref / "k.parquet")
    assert len(a) == 8
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_task_failing_twice_is_named_and_the_exit_is_non_zero(tmp_path, monkeypatch):
    import cellbalance.analysis.sweep as an

    calls = []
    real = an.pack_metrics

    def metrics(ds, sampled=None):
        calls.append(float(sampled.capacity_Ah[0]))
        if len(calls) >= 2 and calls[-1] == calls[1]:  # the second task fails, and again when retried
            raise RuntimeError("injected failure")
        return real(ds, sampled)

    # a transient fault of the standard metrics (same name, so the sweep's fingerprint is unchanged)
    metrics.__module__, metrics.__qualname__ = real.__module__, real.__qualname__
    monkeypatch.setattr(an, "pack_metrics", metrics)
    cfg = _cfg(tmp_path, n_packs=3, step="Discharge at 1C for 60 s")
    r = runner.invoke(app, ["sweep", str(cfg), "--out", str(tmp_path / "o"), "--workers", "0"])
    assert r.exit_code == 1, r.output
    text = " ".join(r.output.split())
    assert "tasks 1 failed" in text and "injected failure" in text
    assert calls.count(calls[1]) == 2 and len(calls) == 4  # the failed task ran twice, the others once
    assert not (tmp_path / "o" / "k.parquet").exists()
    assert (tmp_path / "o" / "k_failed.json").exists()
    assert sorted(p.name for p in (tmp_path / "o" / "chunks").iterdir()) == ["task-000000.parquet",
                                                                             "task-000002.parquet"]
    # the same command with the fault gone computes only the failed task and completes (a comment added to
    # the configuration in between does not make it another sweep)
    monkeypatch.setattr(an, "pack_metrics", real)
    cfg.write_text(cfg.read_text() + "\n# retried after the fault was fixed\n")
    r = runner.invoke(app, ["sweep", str(cfg), "--out", str(tmp_path / "o"), "--workers", "0"])
    assert r.exit_code == 0, r.output
    assert "1 task(s) computed, 2 found on disk" in " ".join(r.output.split())
    assert len(pd.read_parquet(tmp_path / "o" / "k.parquet")) == 3 and not (tmp_path / "o" / "k_failed.json").exists()


@pytest.mark.parametrize("kw, needle", [
    (dict(variation="capacity = { sigma = -0.01 }"), "sigma"),
    (dict(sweep='[sweep.grid]\n"balancing.passive.r_bleed_ohm" = []'), "empty list"),
    (dict(sweep='[sweep.grid]\n"balancing.passive.r_bleed_ohms" = [20.0]'), "r_bleed_ohm"),
    (dict(sweep='[sweep.grid]\n"variation.capacity.sigma" = [0.01, -0.02]'), "sigma"),
    (dict(sweep='[sweep.random]\nambient_C = { kind = "normal", mean = 25.0, sigma = -2.0 }'), "sigma"),
    (dict(sweep='[sweep.grid]\n"pack.n_packs" = [1, 2]'), "cannot be swept"),
])
def test_bad_sweep_input_is_one_message_and_no_output(tmp_path, kw, needle):
    cfg = _cfg(tmp_path, n_packs=2, **kw)
    out = tmp_path / "o"
    r = runner.invoke(app, ["sweep", str(cfg), "--out", str(out), "--workers", "0"])
    assert r.exit_code == 2, r.output
    assert r.output.count("error:") == 1 and "Traceback" not in r.output
    assert needle in " ".join(r.output.split())
    assert not out.exists()


def test_unknown_parameter_name_suggests_the_field(tmp_path):
    cfg = _cfg(tmp_path, n_packs=2, sweep='[sweep.grid]\n"balancing.pasive.r_bleed_ohm" = [20.0]')
    r = runner.invoke(app, ["sweep", str(cfg), "--out", str(tmp_path / "o"), "--workers", "0"])
    assert r.exit_code == 2
    assert "Did you mean 'balancing.passive'?" in " ".join(r.output.split())


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_message_and_no_output(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _cfg(tmp_path, n_packs=2)
    out = tmp_path / "o"
    r = subprocess.run(_cli(cfg, "--out", out, "--scheduler", f"tcp://127.0.0.1:{port}"), env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("error:") == 1 and "Traceback" not in r.stderr
    assert f"127.0.0.1:{port}" in " ".join(r.stderr.split()) and "cannot reach a Dask scheduler" in " ".join(r.stderr.split())
    assert not out.exists()
