"""warm_up compiles the segment kernel in a second process for the types the loop then uses: after it,
the run it prepared compiles nothing more in this process (the kernels load from numba's cache)."""

import numpy as np

from cellbalance.cell import get_parameter_set
from cellbalance.pack import PackLayout
from cellbalance.pack.variation import preset, sample
from cellbalance.scenarios.experiment import Experiment
from cellbalance.sim import SimulationOptions, simulate
from cellbalance.sim.warmup import _segment_kernel, warm_up


def test_the_helper_process_compiles_the_segment_types_the_loop_uses(monkeypatch):
    """The helper's entry, run here, leaves the segment kernel with exactly the signatures a real run
    of that layout adds (none more after it): a type the loop passes that the helper missed would
    compile again in the run and shows as a new signature."""
    import cellbalance.sim.segment as S

    p = get_parameter_set("nmc_lg_m50")
    lay = PackLayout(n_series=12, n_parallel=2)
    pack = sample(preset("typical"), p, lay, seed=3, mean_soc=0.6)  # a read-only ambient, as the demo's
    _segment_kernel(pack.cells, lay)
    before = (set(S._chunk.signatures), set(S._chunk_serial.signatures))
    ds = simulate(pack.cells, Experiment(["Run US06 for 3 minutes", "Rest for 1 minute"], period_s=1.0),
                  layout=lay, state=pack.initial_state, ambient_K=pack.ambient_K,
                  options=SimulationOptions(record_every=7))
    assert (set(S._chunk.signatures), set(S._chunk_serial.signatures)) == before
    assert float(ds.time.values[-1]) == 240.0


def test_warm_up_leaves_a_layout_run_with_nothing_to_compile_with_and_without_the_second_process():
    """Smoke test of both paths (helper process and this process alone): after warm_up, a run of that
    layout adds no segment-kernel signature."""
    import cellbalance.sim.segment as S

    cells = get_parameter_set("nmc_lg_m50").compile(8)
    lay = PackLayout(n_series=8)
    for two in (True, False):
        t = warm_up(cells, lay, two_processes=two)
        assert np.isfinite(t) and t > 0
        before = (set(S._chunk.signatures), set(S._chunk_serial.signatures))
        simulate(cells, Experiment(["Discharge at 1C for 3 minutes"], period_s=1.0), layout=lay)
        assert (set(S._chunk.signatures), set(S._chunk_serial.signatures)) == before
