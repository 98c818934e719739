"""Federated runs as real processes over torch.distributed (gloo) on 127.0.0.1.

Where the machine allows it (`unshare -rn`), each command runs in a network namespace of its own
holding only a loopback interface, so nothing it opens can be reached from outside; elsewhere the
code itself binds 127.0.0.1 only. Every process a command starts is gone when it returns.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from fathom_bench.federated.parts import assemble_state
from fathom_bench.records import read_record
from fathom_bench.runner.grid import plan
from test_federated import _close, _single_process

REPO = Path(__file__).resolve().parents[1]
TABLE = str(REPO / "tests" / "fixtures" / "table_synthetic.yaml")
TIMEOUT = 20


def _namespace_works() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run(["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True)
    return probe.returncode == 0


ISOLATE = _namespace_works()


def _run(args: list[str], env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, *args]
    if ISOLATE:
        cmd = ["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]
    full_env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    full_env.update({"PYTHONPATH": str(REPO), "WANDB_MODE": "disabled", **(env or {})})
    return subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)


def _error_lines(proc) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]


def _workers_left(token: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if "fathom_bench.federated.worker" in ln and token in ln]


def test_reproduce_names_a_dead_node_then_resumes_and_equals_one_process(tmp_path):
    """A node killed mid-epoch: one line naming it, exit 2, no record, no process left. The same
    command again trains that run; 3 nodes over gloo then equal one process (24 steps)."""
    out, parts, data = tmp_path / "out", tmp_path / "parts", tmp_path / "data"  # `data`: a token in the workers' args
    args = ["-m", "fathom_bench", "reproduce", "--table", TABLE, "--methods", "fathom", "--seeds", "1",
            "--max-epochs", "4", "--federated", "3", "--out", str(out), "--no-progress", "--data-dir", str(data),
            "--federated-timeout", str(TIMEOUT)]
    started = time.monotonic()
    died = _run(args, env={"FATHOM_BENCH_FEDERATED_FAULT": "2:1"})
    assert died.returncode == 2, died.stderr[-2000:]
    assert _error_lines(died) == ["error: node 2 (rank 2): died during the run (killed by signal 9)"]
    assert "Traceback" not in died.stderr
    assert time.monotonic() - started < 120
    assert not list(out.glob("runs/**/*.json"))
    assert not _workers_left(str(data))

    resumed = _run(args, env={"FATHOM_BENCH_FEDERATED_SAVE_PARTS": str(parts)})
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not _workers_left(str(data))
    rec = read_record(next(out.glob("runs/corrected/synthetic/fathom/seed=0.json")))
    fed = rec["federated"]
    assert fed["nodes"] == 3 and fed["backend"] == "gloo" and rec["config"]["federated"] == {"nodes": 3}
    assert [len(fed["per_node"][str(r)]["epoch_bytes_sent"]) for r in (1, 2, 3)] == [4, 4, 4]

    # the same run in one process (the planned run of `reproduce --max-epochs 4`)
    run = plan(["synthetic"], ["fathom"], [0], ["corrected"], max_epochs=4)[0]
    single, single_state = _single_process(run)
    saved = {r: torch.load(parts / f"rank{r}.pt") for r in range(4)}
    as_part = lambda d: SimpleNamespace(rows=d["rows"], state_dict=lambda: d["state"])  # noqa: E731
    fed_state = assemble_state(as_part(saved[0]), [as_part(saved[r]) for r in (1, 2, 3)])
    assert max(float((fed_state[k] - v).abs().max()) for k, v in single_state.items()) <= 1e-5
    for key, value in single["metrics"]["test"].items():
        if isinstance(value, float):
            assert _close(rec["metrics"]["test"][key], value), key


def test_a_node_that_cannot_reach_the_central_node_says_so_within_the_timeout(tmp_path):
    with socket.socket() as s:  # a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    proc = _run(["-m", "fathom_bench", "train", "--dataset", "synthetic", "--method", "fathom", "--federated", "2",
                 "--federated-timeout", "3", "--out", str(tmp_path)],
                env={"RANK": "1", "WORLD_SIZE": "3", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = _error_lines(proc)
    assert len(lines) == 1 and lines[0].startswith(
        f"error: node 1 (rank 1): cannot reach the other ranks at 127.0.0.1:{port} within 3 s"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - started < 60


@pytest.mark.slow
def test_air_quality_three_nodes_over_gloo_equal_one_process(real_data_dir, tmp_path, monkeypatch):
    """The real Air Quality data (9 stations, 3 per node), 20 steps: the same parameters and test
    metrics as one process with the same seed. Each node process reads only its stations' files."""
    from fathom_bench.federated.launch import train_federated

    run = plan(["beijing_air_quality"], ["fathom"], [0], ["corrected"], max_epochs=1, limit_train_batches=20,
               limit_val_batches=4)[0]
    monkeypatch.setenv("FATHOM_BENCH_FEDERATED_SAVE_PARTS", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    fed = train_federated(run, data_dir=real_data_dir, nodes=3, timeout=120)
    single, single_state = _single_process(run, data_dir=real_data_dir)
    saved = {r: torch.load(tmp_path / f"rank{r}.pt") for r in range(4)}
    as_part = lambda d: SimpleNamespace(rows=d["rows"], state_dict=lambda: d["state"])  # noqa: E731
    fed_state = assemble_state(as_part(saved[0]), [as_part(saved[r]) for r in (1, 2, 3)])
    assert max(float((fed_state[k] - v).abs().max()) for k, v in single_state.items()) <= 1e-5
    for key, value in single["metrics"]["test"].items():
        if isinstance(value, float):
            assert _close(fed["metrics"]["test"][key], value), key
    assert fed["federated"]["per_node"]["1"]["tasks"] == ["Aotizhongxin", "Changping", "Dingling"]


@pytest.mark.slow
def test_ranks_started_by_hand_as_on_several_machines(tmp_path):
    """RANK / MASTER_ADDR / MASTER_PORT: every rank runs the same `train` command; rank 0 (the
    central node) writes the record, the nodes only train their part."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "fathom_bench", "train", "--dataset", "synthetic", "--method", "fathom_ta",
            "--federated", "2", "--max-epochs", "2", "--out", str(tmp_path), "--no-progress",
            "--federated-timeout", "60"]
    base = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    base.update(PYTHONPATH=str(REPO), WANDB_MODE="disabled", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                WORLD_SIZE="3")
    procs = [subprocess.Popen(args, cwd=REPO, env={**base, "RANK": str(r)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in range(3)]
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-1000:] for o in outs]
    assert outs[1][0].strip() == "node 1: done" and outs[2][0].strip() == "node 2: done"
    rec = read_record(tmp_path / "runs" / "corrected" / "synthetic" / "fathom_ta" / "seed=0.json")
    assert rec["status"] == "ok" and rec["federated"]["processes"] == "started by the user (RANK)"
    assert rec["epochs_run"] == 2


@pytest.mark.slow
def test_a_node_that_fails_before_joining_is_named_at_once(monkeypatch):
    """A node whose data is bad exits before joining; the central node names it without waiting
    for the timeout, and stops the other node."""
    from fathom_bench.datasets.spec import load_dataset_spec
    from fathom_bench.federated.launch import train_federated
    from fathom_bench.federated.session import FederationError

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    run = plan([load_dataset_spec("synthetic", rows=12)], ["fathom"], [0], ["corrected"], max_epochs=1)[0]
    started = time.monotonic()
    with pytest.raises(FederationError, match=r"^node 1 \(rank 1\): dataset synthetic: task task00 has 12 rows"):
        train_federated(run, nodes=2, timeout=300)
    assert time.monotonic() - started < 120
    assert not _workers_left('"rows": 12')
