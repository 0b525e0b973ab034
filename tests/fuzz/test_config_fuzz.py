"""Issue 10, item 8: a property-based fuzz test over the whole config surface, through the CLI entry
points. Random mutations of valid configs (types, signs, NaN/inf, huge and tiny values, missing and
extra tables, unicode, binary junk, truncation) must each either run or exit 2 with exactly one
message of cellbalance's own error type: never a traceback, a crash, a signal or a hang (each example
has a wall-clock bound). The corpus of cases this found, fixed since, is in test_fuzz_corpus.py.

``CELLBALANCE_FUZZ_EXAMPLES`` sets the number of examples (default 500; derandomized, so CI runs the
same examples every time)."""

import contextlib
import copy
import os
import re
import signal
import warnings
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cellbalance.cli.app import app

N_EXAMPLES = int(os.environ.get("CELLBALANCE_FUZZ_EXAMPLES", "500"))
DERANDOMIZE = not os.environ.get("CELLBALANCE_FUZZ_RANDOM")  # set it to explore new examples locally
TIME_BOUND_S = 60

CELL = {
    "ambient_C": 25.0,
    "cell": {"parameter_set": "nmc_lg_m50", "overrides": {"capacity_Ah": 5.0}},
    "experiment": {"steps": ["Discharge at 1C for 20 s", "Rest for 10 s"], "period_s": 5.0},
    "initial": {"soc": 0.5, "temperature_C": 25.0, "hysteresis": 0.0},
    "output": {"dir": "out", "name": "r", "plot": False, "csv": True},
}
PACK = {
    "seed": 1,
    "ambient_C": 25.0,
    "cell": {"parameter_set": "nmc_lg_m50", "overrides": {"r0": 0.02}},
    "pack": {"n_series": 3, "n_parallel": 2, "n_packs": 1, "interconnect_ohm": 0.0},
    "variation": {"preset": "tight", "capacity": {"sigma": 0.01}},
    "experiment": {"steps": ["Run cyc for 20 s", "Charge at 1 A for 10 s"], "period_s": 5.0},
    "profiles": {"cyc": {"file": "cyc.csv", "kind": "current_A", "scale": 1.0}},
    "initial": {"soc": 0.5, "hysteresis": 0.0},
    "output": {"dir": "out", "name": "p", "plot": False, "record_every": 1, "stream": False},
}
CYC = "time_s,current_A\n0,-5\n10,-8\n"


def _paths(d, prefix=()):
    for k, v in d.items():
        yield (*prefix, k)
        if isinstance(v, dict):
            yield from _paths(v, (*prefix, k))


junk_values = st.one_of(
    st.none(),  # delete the key
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 10**6, 10**9, 2**63, -(2**63)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-300, -1e-300, 1e300, 5e-324, float("nan"), float("inf"), float("-inf")]),
    st.text(max_size=30),
    st.sampled_from(["", "..", "../../x", "nmc_lg_m50", "Rest for 1 s", "typical", "current_A", "power_W",
                     "\u00e9\u00e8", "\U0001f50b", "1 banana", "Hold at 4.2 V until C/20",
                     "Discharge at 1e400 A for 1 minute", "Charge at 1C until 5 V", "Run US06 for 5 s"]),
    st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=10), st.floats()), max_size=4),
    st.dictionaries(st.text(max_size=8), st.one_of(st.integers(-3, 3), st.floats(), st.text(max_size=5)),
                    max_size=3),
)


@st.composite
def mutated(draw, base):
    cfg = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(cfg))
        kind = draw(st.sampled_from(["tweak", "tweak", "tweak", "value", "value", "extra", "delete"]))
        if kind == "extra" or not paths:
            where = cfg
            if paths:
                parent = draw(st.sampled_from([p for p in paths if isinstance(_get(cfg, p), dict)] or [()]))
                where = _get(cfg, parent) if parent else cfg
            where[draw(st.text(min_size=1, max_size=12))] = draw(junk_values.filter(lambda v: v is not None))
            continue
        path = draw(st.sampled_from(paths))
        parent = _get(cfg, path[:-1]) if len(path) > 1 else cfg
        if kind == "tweak":  # a plausible slip: a scaled, negated or zeroed number, a step with another number
            v = parent[path[-1]]
            if isinstance(v, bool):
                parent[path[-1]] = not v
            elif isinstance(v, int | float):
                f = draw(st.sampled_from([-1, 0, 0.5, 2, 10, 1000, 1e-3, 1e6]))
                parent[path[-1]] = type(v)(v * f)
            elif isinstance(v, list) and v and all(isinstance(x, str) for x in v):
                k = draw(st.integers(0, len(v) - 1))
                num = draw(st.sampled_from(["0", "0.001", "3.0", "4.2", "5", "1e6", "-1", "1e-9", "100"]))
                v[k] = draw(st.sampled_from([
                    f"Discharge at {num}C for 10 s", f"Charge at {num} A until 4.1 V", f"Rest for {num} s",
                    f"Hold at {num} V until C/20", f"Discharge at {num} W for 5 s", f"Run cyc scaled by {num} for 10 s",
                    f"Discharge at 1C until {num} V", f"Charge at 1C for 10 s or until {num} degC",
                    f"Repeat {num} times: Rest for 1 s; Discharge at 1C for 1 s"]))
            else:
                parent[path[-1]] = draw(junk_values.filter(lambda x: x is not None))
        elif kind == "delete":
            parent.pop(path[-1], None)
        else:
            v = draw(junk_values)
            if v is None:
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = v
    return cfg


def _get(d, path):
    for k in path:
        d = d[k]
    return d


def _toml_bytes(cfg) -> bytes:
    try:
        return tomli_w.dumps(cfg).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):  # a value TOML cannot hold (e.g. an integer beyond 64 bits)
        return repr(cfg).encode("utf-8", "surrogatepass")


@contextlib.contextmanager
def _time_bound(seconds):
    def fire(signum, frame):
        raise TimeoutError(f"an example ran for more than {seconds} s (a hang)")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_cli(args, where: Path):
    runner = CliRunner()
    with _time_bound(TIME_BOUND_S), contextlib.chdir(where):  # a deleted output.dir defaults to ./out
        r = runner.invoke(app, [str(a) for a in args])
    text = " ".join(r.output.split())
    assert r.exception is None or isinstance(r.exception, SystemExit), (
        f"{args}: {type(r.exception).__name__}: {r.exception}\n{text}")
    assert r.exit_code in (0, 2), (r.exit_code, text)
    assert "Traceback" not in r.output, text
    if r.exit_code == 2:  # one message (its text may quote a library's own "... error: ...")
        assert len(re.findall(r"^error:", r.output, flags=re.M)) == 1, r.output
    event(f"exit {r.exit_code}")
    return r


#: an example may simulate at most this many cell-periods: a valid but long run (a mutated "Rest for 1e6 s"
#: at a 5 ms period) is a run, not a hang, and is left out so the time bound catches real hangs only
MAX_CELL_PERIODS = 3e5


def _small_enough(f: Path, cmd: str) -> bool:
    """False for a config that loads and asks for a long simulation (see MAX_CELL_PERIODS)."""
    from cellbalance.errors import CellBalanceError
    from cellbalance.io.config import load_cell_config, load_pack_config
    from cellbalance.sim.memory import expected_duration_s

    try:
        with contextlib.chdir(f.parent), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the CLI itself shows them; here only the size matters
            cfg = (load_cell_config if cmd == "cell" else load_pack_config)(f)
            p = cfg.parameters(f.parent)
            exp = cfg.build_experiment()
    except (CellBalanceError, OSError):
        return True  # refused by the CLI as well: a fast example
    cells, par = (1, 1) if cmd == "cell" else (cfg.pack.n_series * cfg.pack.n_parallel * cfg.pack.n_packs,
                                               cfg.pack.n_parallel)
    periods = expected_duration_s(exp, p.capacity_Ah, par, 30 * 86400.0) / exp.period_s
    return periods * cells <= MAX_CELL_PERIODS


def _write_inputs(tmp: Path, cyc: bytes | None = None):
    (tmp / "cyc.csv").write_bytes(cyc if cyc is not None else CYC.encode())


def _prepare(tmp_path_factory, cfg, damage=None, cyc: bytes | None = None) -> Path:
    tmp = tmp_path_factory.mktemp("fuzz", numbered=True)
    _write_inputs(tmp, cyc)
    if isinstance(cfg.get("output"), dict) and isinstance(cfg["output"].get("dir"), str):
        cfg["output"]["dir"] = str(tmp / cfg["output"]["dir"])  # stay inside the test's folder
    f = tmp / "config.toml"
    raw = _damaged(cfg, damage)
    f.write_bytes(raw if raw is not None else _toml_bytes(cfg))
    return f


SETTINGS = settings(max_examples=N_EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])

file_damage = st.one_of(
    st.none(), st.none(), st.none(), st.none(), st.none(), st.none(),
    st.binary(max_size=200).map(lambda b: ("binary", b)),
    st.integers(0, 400).map(lambda n: ("truncate", n)),
    st.sampled_from([("encoding", "latin-1"), ("encoding", "utf-16")]),
)


def _damaged(cfg, damage) -> bytes | None:
    if damage is None:
        return None
    kind, arg = damage
    text = _toml_bytes(cfg)
    if kind == "binary":
        return arg
    if kind == "truncate":
        return text[:arg]
    return text.decode("utf-8", "replace").replace("nmc", "n\u00e9mc").encode(arg, "replace")


@pytest.mark.slow
@SETTINGS
@given(cfg=mutated(CELL), damage=file_damage)
def test_fuzz_cell_config(tmp_path_factory, cfg, damage):
    f = _prepare(tmp_path_factory, cfg, damage)
    assume(_small_enough(f, "cell"))
    check_cli(["cell", f], f.parent)


@pytest.mark.slow
@SETTINGS
@given(cfg=mutated(PACK), damage=file_damage,
       cyc=st.one_of(st.none(), st.none(), st.none(), st.none(), st.binary(max_size=80), st.text(max_size=80).map(lambda s: s.encode("utf-8", "replace")),
                     st.sampled_from([b"time_s,current_A\n", b"time_s,current_A\n0,nan\n1,2\n", b"time_s\n0\n1\n",
                                      b"time_s,current_A\n0,1e400\n1,2\n", b"time_s,current_A\n1,1\n0,2\n"])))
def test_fuzz_pack_config(tmp_path_factory, cfg, damage, cyc):
    f = _prepare(tmp_path_factory, cfg, damage, cyc)
    assume(_small_enough(f, "simulate"))
    check_cli(["simulate", f], f.parent)


@pytest.mark.slow
@settings(max_examples=max(N_EXAMPLES // 5, 20), deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(cells=st.one_of(st.integers(-3, 40), st.sampled_from([0, 1, 2, 3, 1501, 5000])),
       kind=st.one_of(st.sampled_from(["all", "ring", "bus", "modular", "complete", "adjacent"]), st.text(max_size=8)),
       weight=st.floats(allow_nan=True, allow_infinity=True), spread=st.floats(-1, 2),
       plot=st.booleans())
def test_fuzz_topology_options(tmp_path_factory, cells, kind, weight, spread, plot):
    tmp = tmp_path_factory.mktemp("fuzz_topo", numbered=True)
    args = ["topology", "--cells", cells, "--kind", kind, "--weight", weight, "--spread", spread]
    if plot:
        args += ["--plot", tmp / "g.png"]
    check_cli(args, tmp)


@pytest.mark.slow
@settings(max_examples=max(N_EXAMPLES // 10, 20), deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), st.sampled_from([b"CDF\x01", b"\x89HDF\r\n\x1a\n", b""])))
def test_fuzz_plot_input(tmp_path_factory, content):
    tmp = tmp_path_factory.mktemp("fuzz_plot", numbered=True)
    f = tmp / "r.nc"
    f.write_bytes(content)
    check_cli(["plot", f], tmp)


def _param_base() -> dict:
    from cellbalance.cell import get_parameter_set

    d = get_parameter_set("ecm_example").to_dict()
    return {k: v for k, v in d.items() if k != "source"} | {"source": "fuzz"}


@pytest.mark.slow
@settings(max_examples=max(N_EXAMPLES // 2, 20), deadline=None, derandomize=DERANDOMIZE, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(params=mutated(_param_base()), damage=file_damage)
def test_fuzz_parameter_file(tmp_path_factory, params, damage):
    """A cell parameter TOML (the [cell] table of `cell.file`), mutated the same way."""
    cfg = copy.deepcopy(CELL)
    cfg["cell"] = {"file": "cellp.toml"}
    f = _prepare(tmp_path_factory, cfg)
    (f.parent / "cellp.toml").write_bytes(_damaged({"cell": params}, damage) or _toml_bytes({"cell": params}))
    assume(_small_enough(f, "cell"))
    check_cli(["cell", f], f.parent)
