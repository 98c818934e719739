"""Speed of the methods on the real datasets (pytest-benchmark; skipped without the data).

Run: `python -m pytest tests/benchmarks/test_bench_models.py -m benchmark --benchmark-enable -s -q`.
Figures are printed and written under `results/benchmarks/` (JSON, and the windows-per-second
table as markdown for the README).

- Pipeline efficiency: one Lightning epoch of FATHOM (first N batches) against the same model's
  forward + backward + optimizer steps over the same number of batches, pre-built in memory, in
  a bare loop. Both timed in the same test, alternating, best of several rounds.
- FATHOM's achieved FLOP/s (counted from its layer sizes, training = 3x forward) as a fraction of
  a plain fp32 1024^3 matmul measured in the same test.
- Training windows per second of every discovered trainable method on each dataset.

Settings (environment): FATHOM_BENCH_DATASETS (comma-separated; default all three),
FATHOM_BENCH_BATCHES (N, default 20), FATHOM_BENCH_ROUNDS (default 3), FATHOM_BENCH_THREADS
(default 1: see `fathom_bench.models.speed.bench_threads`), FATHOM_BENCH_SHAPED=1 (synthetic data
shaped like each dataset instead of the real files, for machines without them).
"""

from __future__ import annotations

import logging
import os

import pytest
import torch

from fathom_bench.datasets.datamodule import BenchDataModule
from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.methods import discover_methods, get_method
from fathom_bench.models import speed
from fathom_bench.paths import results_dir

pytestmark = [pytest.mark.benchmark,
              pytest.mark.filterwarnings("ignore:.*(LeafSpec|IterableDataset|does not have many workers).*")]

ALL_DATASETS = ("extrasensory", "beijing_air_quality", "fitrec")
DATASETS = [d for d in os.environ.get("FATHOM_BENCH_DATASETS", ",".join(ALL_DATASETS)).split(",") if d]
TITLES = {"extrasensory": "ExtraSensory", "beijing_air_quality": "Air Quality", "fitrec": "FitRec"}
BATCHES = int(os.environ.get("FATHOM_BENCH_BATCHES", "20"))
ROUNDS = int(os.environ.get("FATHOM_BENCH_ROUNDS", "3"))
PIPELINE_LIMIT = 1.15
#: synthetic stand-ins (FATHOM_BENCH_SHAPED=1): the real datasets' sizes
SHAPED = {
    "extrasensory": dict(task_type="classification", tasks=24, features=225, targets=51, window=20,
                         rows=3000, batch_size=60),
    "beijing_air_quality": dict(task_type="regression", tasks=9, features=7, targets=6, window=20,
                                rows=8218, batch_size=100),
    "fitrec": dict(task_type="regression", tasks=30, features=9, targets=2, window=10,
                   rows=8000, batch_size=100),
}
OUT = results_dir() / "benchmarks"


@pytest.fixture(scope="module", autouse=True)
def bench_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(speed.bench_threads())
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data_dir(request):
    if os.environ.get("FATHOM_BENCH_SHAPED") == "1":
        return None
    return request.getfixturevalue("real_data_dir")


_MODULES: dict[str, BenchDataModule] = {}


def datamodule(dataset: str, data_dir) -> BenchDataModule:
    if dataset not in _MODULES:
        if data_dir is None:
            shape = dict(SHAPED[dataset])
            batch_size = shape.pop("batch_size")
            dm = BenchDataModule(load_dataset_spec("synthetic", **shape), batch_size=batch_size)
        else:
            dm = BenchDataModule(dataset, data_dir=data_dir)
        dm.setup()
        _MODULES[dataset] = dm
    return _MODULES[dataset]


def build(key: str, dm: BenchDataModule, dataset: str):
    torch.manual_seed(0)
    return get_method(key).build(dm.problem, dataset)


def source(data_dir) -> str:
    return "synthetic, shaped like the dataset" if data_dir is None else "real data"


@pytest.mark.parametrize("dataset", DATASETS)
def test_pipeline_efficiency(benchmark, dataset, data_dir):
    dm = datamodule(dataset, data_dir)
    model = build("fathom", dm, dataset)
    n = min(BATCHES, len(dm.train_dataloader()))
    batches = speed.prebuilt_batches(dm, n)
    speed.train_loop_seconds(model, batches[:2])  # warm-up (allocator, oneDNN primitives)
    times = {"lightning": [], "bare": []}

    def one_round():
        order = ("lightning", "bare") if len(times["bare"]) % 2 == 0 else ("bare", "lightning")
        for kind in order:
            seconds = (speed.lightning_epoch_seconds(model, dm, n) if kind == "lightning"
                       else speed.train_loop_seconds(model, batches))
            times[kind].append(seconds)

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    ratio = min(times["lightning"]) / min(times["bare"])
    result = {"ratio": round(ratio, 4), "batches": n, "rounds": len(times["bare"]),
              "lightning_seconds": [round(t, 4) for t in times["lightning"]],
              "bare_loop_seconds": [round(t, 4) for t in times["bare"]],
              "data": source(data_dir), "limit": PIPELINE_LIMIT, **speed.machine()}
    benchmark.extra_info.update(result)
    speed.update_json(OUT / "pipeline_efficiency.json", dataset, result)
    print(f"\n[pipeline] {dataset}: Lightning epoch / bare loop = {ratio:.3f} over {n} batches "
          f"(best of {len(times['bare'])}: Lightning {min(times['lightning']):.2f} s, bare {min(times['bare']):.2f} s)")
    # measured 0.97-1.00 on all three datasets (best of 3), so the limit is asserted, not xfailed
    assert ratio <= PIPELINE_LIMIT, f"{dataset}: Lightning epoch / bare loop = {ratio:.3f} > {PIPELINE_LIMIT}"


@pytest.mark.parametrize("dataset", DATASETS)
def test_fathom_flops_fraction_of_matmul(benchmark, dataset, data_dir):
    dm = datamodule(dataset, data_dir)
    model = build("fathom", dm, dataset)
    batches = speed.prebuilt_batches(dm, min(5, len(dm.train_dataloader())))
    speed.train_loop_seconds(model, batches[:1])
    flops = sum(3 * speed.fathom_forward_flops(model, b["x"].shape[1]) for b in batches)
    loops: list[float] = []
    matmul = [speed.matmul_flops_per_second()]

    def one_round():
        loops.append(speed.train_loop_seconds(model, batches))

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    matmul.append(speed.matmul_flops_per_second())
    achieved, reference = flops / min(loops), max(matmul)
    result = {"fraction": round(achieved / reference, 4), "fathom_gflops_per_second": round(achieved / 1e9, 2),
              "matmul_gflops_per_second": round(reference / 1e9, 2),
              "gflop_per_step": round(flops / len(batches) / 1e9, 3),
              "steps": len(batches), "data": source(data_dir), **speed.machine()}
    benchmark.extra_info.update(result)
    speed.update_json(OUT / "fathom_flops.json", dataset, result)
    print(f"\n[flops] {dataset}: FATHOM {achieved / 1e9:.1f} GFLOP/s = {achieved / reference:.2f} of fp32 matmul "
          f"({reference / 1e9:.1f} GFLOP/s); {flops / len(batches) / 1e9:.2f} GFLOP per training step")


def test_windows_per_second_table(benchmark, data_dir):
    methods = discover_methods()
    rows: list[dict] = []

    def sweep():
        for dataset in DATASETS:
            dm = datamodule(dataset, data_dir)
            batches = speed.prebuilt_batches(dm, min(3, len(dm.train_dataloader())))
            for key, spec in methods.items():
                if not getattr(spec.load_class(), "trainable", True):
                    continue
                model = build(key, dm, dataset)
                measured = speed.windows_per_second(model, batches, min_seconds=1.0, max_passes=3)
                rows.append({"key": key, "name": spec.name, "dataset": dataset, **measured})
                print(f"[windows/s] {dataset} {spec.name}: {measured['windows_per_second']:,.0f}")

    benchmark.pedantic(sweep, rounds=1, iterations=1)
    info = speed.machine()
    note = (f"Training windows per second (one window = one task's `[T, D]` input; a batch holds K x B "
            f"of them): forward, loss, backward and optimizer step over batches in memory, each "
            f"dataset's batch size, {info['threads']} thread(s), torch {info['torch']}, "
            f"{info['cpus']} CPUs, {source(data_dir)}. Written by tests/benchmarks/test_bench_models.py.")
    table = speed.windows_table_markdown(rows, DATASETS, TITLES, note)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "windows_per_second.md").write_text(table)
    speed.update_json(OUT / "windows_per_second.json", "rows", rows)
    speed.update_json(OUT / "windows_per_second.json", "machine", info)
    print("\n" + table)
    assert rows and all(r["windows_per_second"] > 0 for r in rows)
