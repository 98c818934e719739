"""Federated FATHOM (3 node processes + the central one, gloo over 127.0.0.1) against one process.

Run: `python -m pytest tests/benchmarks/test_bench_federated.py -m benchmark --benchmark-enable -s -q`.
Per dataset and method (FATHOM, FATHOM-ga), in one test and on the same machine:
- time per epoch: `train_seconds` of a 1-epoch run (training + validation, no set-up; the
  federated one measured on the central node), federated / single-process;
- traffic: bytes every node sent and received in that epoch (tensor payloads), against the bytes of
  the prepared arrays that stayed on the nodes (inputs, targets and masks of every part).
Writes `results/benchmarks/federated.json` and `federated.md` (the README table).

Settings: FATHOM_BENCH_DATASETS (comma-separated; default all three), FATHOM_BENCH_FED_BATCHES
(training batches per epoch; default: the whole epoch), FATHOM_BENCH_FED_METHODS (default
fathom,fathom_ga).
"""

from __future__ import annotations

import json
import os
import platform

import pytest

from fathom_bench.paths import results_dir

pytestmark = [pytest.mark.benchmark, pytest.mark.realdata]

ALL_DATASETS = ("extrasensory", "beijing_air_quality", "fitrec")
DATASETS = [d for d in os.environ.get("FATHOM_BENCH_DATASETS", ",".join(ALL_DATASETS)).split(",") if d]
METHODS = [m for m in os.environ.get("FATHOM_BENCH_FED_METHODS", "fathom,fathom_ga").split(",") if m]
BATCHES = int(os.environ["FATHOM_BENCH_FED_BATCHES"]) if os.environ.get("FATHOM_BENCH_FED_BATCHES") else None
NODES = 3
TITLES = {"extrasensory": "ExtraSensory", "beijing_air_quality": "Air Quality", "fitrec": "FitRec"}
OUT = results_dir() / "benchmarks"
RESULTS: dict[str, dict] = {}


@pytest.fixture(scope="module", autouse=True)
def write_results():
    yield
    if not RESULTS:
        return
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "federated.json").write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                                    "cpus": os.cpu_count(), "nodes": NODES,
                                                    "results": RESULTS}, indent=1) + "\n")
    (OUT / "federated.md").write_text(render(RESULTS))


def render(results: dict) -> str:
    rows = ["| Dataset | Method | tasks per node | s per epoch: 1 process | federated | ratio | "
            "MB per node per epoch (sent + received) | MB of data per node (stayed home) | traffic / data |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in results.values():
        rows.append(f"| {TITLES.get(r['dataset'], r['dataset'])} | {r['method_name']} | {r['tasks_per_node']} | "
                    f"{r['single_seconds']:.1f} | {r['federated_seconds']:.1f} | {r['time_ratio']:.2f} | "
                    f"{r['mb_per_node_epoch']:.1f} | {r['mb_data_per_node']:.2f} | {r['traffic_over_data']:.0f} |")
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", DATASETS)
def test_federated_epoch_against_one_process(benchmark, real_data_dir, name, method):
    from fathom_bench.federated.launch import train_federated
    from fathom_bench.runner.grid import plan
    from fathom_bench.runner.train import train_one

    if not (real_data_dir / name).is_dir():
        pytest.skip(f"{name} not found")
    run = plan([name], [method], [0], ["corrected"], max_epochs=1, limit_train_batches=BATCHES)[0]
    single = train_one(run, data_dir=real_data_dir, progress_bar=False)
    fed = benchmark.pedantic(train_federated, args=(run,), kwargs={"data_dir": real_data_dir, "nodes": NODES,
                                                                   "timeout": 600}, rounds=1, iterations=1)
    assert fed["epochs_run"] == single["epochs_run"] == 1
    per_node = fed["federated"]["per_node"].values()
    traffic = [n["epoch_bytes_sent"][0] + n["epoch_bytes_received"][0] for n in per_node]
    data = [n["data_bytes"] for n in per_node]
    result = {
        "dataset": name, "method": method, "method_name": run.method.name,
        "tasks_per_node": "/".join(str(len(n["tasks"])) for n in per_node),
        "train_batches": BATCHES or "all",
        "single_seconds": single["train_seconds"], "federated_seconds": fed["train_seconds"],
        "time_ratio": fed["train_seconds"] / single["train_seconds"],
        "step_seconds": [n["step_seconds"][0] for n in per_node],
        "step_comm_seconds": [n["step_comm_seconds"][0] for n in per_node],
        "step_bytes_sent": [n["step_bytes_sent"] for n in per_node],
        "mb_per_node_epoch": sum(traffic) / len(traffic) / 1e6,
        "mb_data_per_node": sum(data) / len(data) / 1e6,
        "traffic_over_data": sum(traffic) / sum(data),
        "test_metrics_equal": {k: (fed["metrics"]["test"][k], v) for k, v in single["metrics"]["test"].items()
                               if isinstance(v, float)},
    }
    RESULTS[f"{name}/{method}"] = result
    benchmark.extra_info.update({k: v for k, v in result.items() if k != "test_metrics_equal"})
    print(f"\n{name} {method}: {result['time_ratio']:.2f}x time, {result['traffic_over_data']:.0f}x data moved")
