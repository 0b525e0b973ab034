"""Drive-cycle loader: packaged files (shape, sign flip, units), zero-order hold, user CSV errors."""

from importlib import resources

import numpy as np
import pytest

from cellbalance.errors import ConfigError, UnknownNameError
from cellbalance.scenarios.profiles import DriveCycle, available_drive_cycles, load_drive_cycle


def _raw(name: str) -> np.ndarray:
    with resources.files("cellbalance").joinpath("data", "drive_cycles", f"{name}.csv").open() as f:
        return np.loadtxt(f, delimiter=",", comments="#")


def test_packaged_cycles_are_listed_and_documented():
    names = available_drive_cycles()
    assert {"US06", "UDDS", "WLTC"} <= set(names)
    folder = resources.files("cellbalance").joinpath("data", "drive_cycles")
    readme = folder.joinpath("README.md").read_text()
    for name in ("US06", "UDDS", "WLTC"):
        assert f"{name}.csv" in readme
    assert "BSD-3-Clause" in readme and "EPA" in readme and "UNECE" in readme
    assert "PyBaMM team" in folder.joinpath("LICENSE-PyBaMM.txt").read_text()


@pytest.mark.parametrize(("name", "rows", "dt", "kind", "unit"), [
    ("US06", 601, 1.0, "current_A", 1.0),
    ("UDDS", 1370, 1.0, "current_A", 1.0),
    ("WLTC", 18001, 0.1, "power_W", 1000.0),
])
def test_packaged_shapes_units_and_sign_flip(name, rows, dt, kind, unit):
    cyc = load_drive_cycle(name)
    raw = _raw(name)
    assert cyc.name == name and cyc.kind == kind and cyc.source
    assert cyc.time_s.shape == cyc.values.shape == (rows,)
    np.testing.assert_allclose(np.diff(cyc.time_s), dt, rtol=1e-9)
    assert cyc.time_s[0] == 0.0
    assert cyc.duration_s == pytest.approx(rows * dt)
    # the files are positive on discharge (PyBaMM); ours is positive on charge
    np.testing.assert_array_equal(cyc.values, -raw[:, 1] * unit)
    # the arrays are read-only
    with pytest.raises(ValueError):
        cyc.values[0] = 1.0


def test_us06_discharge_is_negative_in_our_convention():
    cyc = load_drive_cycle("US06")
    assert cyc.values.min() == pytest.approx(-8.1)  # peak discharge (8.1 A in the file)
    assert cyc.values.max() == pytest.approx(4.2071)  # peak regeneration, charging
    assert np.mean(cyc.values) < 0  # a drive cycle discharges on balance


def test_zero_order_hold_lookup():
    cyc = DriveCycle(np.array([0.0, 1.0, 3.0]), np.array([5.0, -2.0, 7.0]), "current_A", "zoh")
    assert cyc.duration_s == pytest.approx(4.5)  # the last sample holds for the median interval, 1.5 s
    assert cyc.value_at(0.0) == 5.0
    assert cyc.value_at(0.999) == 5.0
    assert cyc.value_at(1.0) == -2.0  # at a sample time: that sample
    assert cyc.value_at(2.999) == -2.0
    assert cyc.value_at(3.0) == 7.0
    assert cyc.value_at(3.9) == 7.0
    assert cyc.value_at(-1.0) == 5.0  # before the start: the first value
    assert cyc.value_at(100.0) == 7.0  # after the end: the last value
    assert cyc.next_change_after(0.0) == 1.0
    assert cyc.next_change_after(1.0) == 3.0
    assert cyc.next_change_after(3.0) == pytest.approx(cyc.duration_s)


def test_zero_order_hold_on_packaged_cycle_matches_samples():
    cyc = load_drive_cycle("UDDS")
    k = np.arange(0, cyc.time_s.size, 97)
    for j in k:
        assert cyc.value_at(cyc.time_s[j]) == cyc.values[j]
        assert cyc.value_at(cyc.time_s[j] + 0.5) == cyc.values[j]


def test_scaled_and_time_shift():
    cyc = DriveCycle(np.array([10.0, 11.0, 12.0]), np.array([1.0, 2.0, 3.0]), "power_W", "p", "src")
    np.testing.assert_array_equal(cyc.time_s, [0.0, 1.0, 2.0])  # shifted to start at 0
    s = cyc.scaled(-20.0)
    np.testing.assert_array_equal(s.values, [-20.0, -40.0, -60.0])
    assert s.kind == "power_W" and s.source == "src"
    np.testing.assert_array_equal(cyc.values, [1.0, 2.0, 3.0])  # the original is unchanged


def test_constructor_rejects_bad_arrays():
    with pytest.raises(ConfigError, match="increase strictly"):
        DriveCycle(np.array([0.0, 2.0, 1.0]), np.zeros(3), "current_A")
    with pytest.raises(ConfigError, match="equal length"):
        DriveCycle(np.array([0.0, 1.0]), np.zeros(3), "current_A")
    with pytest.raises(ConfigError, match="kind"):
        DriveCycle(np.array([0.0, 1.0]), np.zeros(2), "voltage_V")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="finite"):
        DriveCycle(np.array([0.0, 1.0]), np.array([0.0, np.nan]), "current_A")


def test_unknown_name_suggests_a_close_match():
    with pytest.raises(UnknownNameError, match="US06"):
        load_drive_cycle("US6")
    assert load_drive_cycle("us06").name == "US06"  # case-insensitive when unambiguous


def test_from_csv_reads_a_user_file(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("# my cycle\ntime_s,current_A\n0,10\n1,-20\n2,5\n")
    cyc = DriveCycle.from_csv(p, "current_A")
    assert cyc.name == "mine" and "mine.csv" in cyc.source
    np.testing.assert_array_equal(cyc.values, [10.0, -20.0, 5.0])
    flipped = DriveCycle.from_csv(p, "current_A", discharge_positive=True, name="pb")
    np.testing.assert_array_equal(flipped.values, [-10.0, 20.0, -5.0])
    assert flipped.value_at(1.5) == 20.0

    q = tmp_path / "power.csv"
    q.write_text("t, P_kW\n0, 1.5\n0.5, -2\n")
    pc = DriveCycle.from_csv(q, "power_W", time_column="t", value_column="P_kW", scale=1000.0)
    np.testing.assert_array_equal(pc.values, [1500.0, -2000.0])


def test_from_csv_missing_column_names_file_and_column(tmp_path):
    p = tmp_path / "cycle.csv"
    p.write_text("time_s,power_W\n0,1\n1,2\n")
    with pytest.raises(ConfigError) as e:
        DriveCycle.from_csv(p, "current_A")
    msg = str(e.value)
    assert str(p) in msg
    assert "current_A" in msg and "missing" in msg
    assert "power_W" in msg  # what was found


def test_from_csv_bad_value_names_file_column_and_row(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("time_s,current_A\n0,1\n1,abc\n2,3\n")
    with pytest.raises(ConfigError) as e:
        DriveCycle.from_csv(p, "current_A")
    msg = str(e.value)
    assert str(p) in msg and "'current_A'" in msg and "'abc'" in msg and "row 2" in msg

    q = tmp_path / "gap.csv"
    q.write_text("time_s,current_A\n0,1\n,2\n")
    with pytest.raises(ConfigError, match=r"column 'time_s'.*row 2"):
        DriveCycle.from_csv(q, "current_A")


def test_from_csv_time_not_increasing_names_file(tmp_path):
    p = tmp_path / "order.csv"
    p.write_text("time_s,current_A\n0,1\n2,1\n1,1\n")
    with pytest.raises(ConfigError, match=r"order\.csv.*increase strictly"):
        DriveCycle.from_csv(p, "current_A")


def test_from_csv_missing_or_empty_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        DriveCycle.from_csv(tmp_path / "nope.csv", "current_A")
    e = tmp_path / "empty.csv"
    e.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        DriveCycle.from_csv(e, "current_A")


def _custom_cycle(name: str) -> DriveCycle:
    return DriveCycle(np.array([0.0, 20.0, 40.0, 60.0]), np.array([-3.0, 1.5, -6.0, 0.0]), "current_A", name)


def test_experiment_carries_its_drive_cycles():
    """Profiles are resolved when the Experiment is built: a run does not need the registry any more."""
    import dataclasses

    from cellbalance.cell import get_parameter_set
    from cellbalance.errors import ConfigError
    from cellbalance.pack import PackLayout
    from cellbalance.scenarios import profiles
    from cellbalance.scenarios.experiment import Experiment
    from cellbalance.sim import simulate

    cyc = _custom_cycle("test_resolved_cycle")
    profiles.register_drive_cycle(cyc)
    try:
        exp = Experiment(["Run test_resolved_cycle for 2 minutes", "Run US06 scaled by 2 for 30 s"], period_s=5.0)
    finally:
        del profiles._REGISTERED["test_resolved_cycle"]
    assert exp.steps[0].cycle is cyc and exp.steps[1].cycle.name == "US06"
    with pytest.raises(UnknownNameError):
        load_drive_cycle("test_resolved_cycle")
    ds = simulate(get_parameter_set("nmc_lg_m50"), exp, layout=PackLayout(n_series=2))
    t = ds.time.values
    first = t < 120  # the row at t holds the current applied from t on; the 80 s cycle repeats
    np.testing.assert_array_equal(ds.pack_current_A.isel(pack=0).values[first], [cyc.value_at(s % 80.0)
                                                                                 for s in t[first]])
    # a step built by hand carries its cycle too; one name cannot stand for two different cycles
    other = _custom_cycle("test_resolved_cycle")
    step = dataclasses.replace(exp.steps[0], cycle=other)
    assert Experiment([step]).steps[0].cycle is other
    with pytest.raises(ConfigError, match="two different drive cycles"):
        Experiment([exp.steps[0], step])
    with pytest.raises(UnknownNameError, match="test_resolved_cycle"):
        Experiment(["Run test_resolved_cycle for 1 minute"])  # unknown names fail when built, not when run


def test_experiment_runs_in_a_spawned_worker():
    """A pickled Experiment with a user cycle runs in a fresh process that never registered it."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from cellbalance.cell import get_parameter_set
    from cellbalance.pack import PackLayout
    from cellbalance.scenarios import profiles
    from cellbalance.scenarios.experiment import Experiment
    from cellbalance.sim import simulate

    profiles.register_drive_cycle(_custom_cycle("test_spawned_cycle"))
    try:
        exp = Experiment(["Run test_spawned_cycle for 100 s", "Rest for 20 s"], period_s=5.0)
    finally:
        del profiles._REGISTERED["test_spawned_cycle"]
    cells = get_parameter_set("nmc_lg_m50").compile(3)
    kw = {"layout": PackLayout(n_series=3)}
    here = simulate(cells, exp, **kw)
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        there = pool.submit(simulate, cells, exp, **kw).result(timeout=600)
    for name in ("pack_current_A", "voltage_V", "soc", "temperature_K"):
        np.testing.assert_array_equal(there[name].values, here[name].values)
