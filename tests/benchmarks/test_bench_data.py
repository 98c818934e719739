"""Speed and peak memory of `prepare` (windows and splits from per-task arrays) on the real datasets.

Run with `pytest tests/benchmarks -m benchmark --benchmark-enable`. The memory target: the peak
allocated while preparing is at most twice the raw float32 arrays the protocol uses (inputs and
targets), because windows are views on one contiguous array per task, never copies.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.datasets.windows import prepare
from fathom_bench.protocol import get_protocol

pytestmark = [pytest.mark.benchmark, pytest.mark.realdata]

NAMES = ("extrasensory", "beijing_air_quality", "fitrec")
PROTOCOLS = ("corrected", "paper")
MAX_PEAK_RATIO = 2.0


@pytest.fixture(scope="module")
def raws(real_data_dir, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("FATHOM_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    out = {}
    for name in NAMES:
        if (real_data_dir / name).is_dir():
            spec = load_dataset_spec(name, allow_download=False)
            out[name] = (spec, spec.load_function()(spec, real_data_dir / name))
    mp.undo()
    return out


def raw_bytes(raw, protocol) -> int:
    """Bytes of the float32 arrays `prepare` reads under `protocol`."""
    paper = get_protocol(protocol).target_history_in_input
    total = 0
    for t in raw.tasks:
        x = t.paper_features if paper and t.paper_features is not None else t.features
        total += x.nbytes + t.targets.nbytes
    return total


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", NAMES)
def test_prepare_speed(benchmark, raws, name, protocol):
    if name not in raws:
        pytest.skip(f"{name} not found")
    spec, raw = raws[name]
    data = benchmark(prepare, raw, spec, get_protocol(protocol))
    assert data.problem.num_tasks == len(raw.tasks)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", NAMES)
def test_prepare_peak_memory(raws, name, protocol):
    if name not in raws:
        pytest.skip(f"{name} not found")
    spec, raw = raws[name]
    gc.collect()
    tracemalloc.start()
    try:
        data = prepare(raw, spec, get_protocol(protocol))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = raw_bytes(raw, protocol)
    ratio = peak / size
    print(f"{name} {protocol}: raw {size / 1e6:.1f} MB, peak {peak / 1e6:.1f} MB, ratio {ratio:.2f}")
    assert data.inputs
    assert ratio <= MAX_PEAK_RATIO, f"prepare peaked at {ratio:.2f}x the raw arrays ({peak / 1e6:.1f} MB)"
