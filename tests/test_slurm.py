"""`--executor slurm` on a real one-node cluster on 127.0.0.1 (scripts/slurm-local.sh).

Run with `pytest -m slurm`. Uses the cluster named by $SLURM_CONF when it answers; otherwise
starts one with the script (installing slurm-wlm and munge when missing, as root) and stops every
daemon it started at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fathom_bench.records import computed_fields, iter_runs
from slurm_cluster import slurm_cluster  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
TABLE = str(REPO / "tests" / "fixtures" / "table_synthetic.yaml")


def cli(*args, check=True, timeout=600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "fathom_bench", *args], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"exit {res.returncode}: {res.stderr[-2000:]}")
    return res


def comparable(out: Path) -> dict:
    return {str(r.path.relative_to(out)): computed_fields(r.record)
            for r in iter_runs(out)}


def test_two_dataset_quick_grid_through_slurm_equals_local_records(slurm_cluster, real_data_dir, tmp_path):
    grid = ["reproduce", "--table", "3", "--quick", "--seeds", "1", "--datasets", "beijing_air_quality", "fitrec",
            "--methods", "lr", "m_lstm", "persistence", "--data-dir", str(real_data_dir), "--no-progress"]
    slurm = cli(*grid, "--out", str(tmp_path / "slurm"), "--executor", "slurm", "--jobs", "2", "--runs-per-task", "3")
    assert "6 runs trained, 0 reused, 0 failed" in slurm.stdout
    cli(*grid, "--out", str(tmp_path / "local"))
    local, remote = comparable(tmp_path / "local"), comparable(tmp_path / "slurm")
    assert len(local) == 6 and remote == local
    assert (tmp_path / "slurm" / "table3.md").read_text() == (tmp_path / "local" / "table3.md").read_text()


def _queued(array_id: str, state: str | None = None) -> list[str]:
    args = ["squeue", "-h", "-r", "-j", array_id, "-o", "%i"] + (["-t", state] if state else [])
    res = subprocess.run(args, capture_output=True, text=True, timeout=20)
    return res.stdout.split() if res.returncode == 0 else []


def test_a_killed_array_task_leaves_no_record_and_is_resubmitted(slurm_cluster, tmp_path):
    out = tmp_path / "out"
    # no early stopping: each run trains all 600 epochs (~45 s on an idle core), so the kill below
    # lands inside training whatever the load (with early stopping an idle machine finished in 8 s)
    table = tmp_path / "table_synthetic.yaml"
    table.write_text(Path(TABLE).read_text() + "patience: 100000\n")
    shutil.copy(Path(TABLE).with_name("table_synthetic_published.csv"), tmp_path)
    grid = ["reproduce", "--table", str(table), "--methods", "fathom", "--seeds", "3", "--max-epochs", "600",
            "--out", str(out), "--no-progress", "--executor", "slurm"]
    submitted = cli(*grid, "--no-wait")
    array_id = re.search(r"SLURM array (\d+)", submitted.stdout + submitted.stderr).group(1)
    deadline = time.time() + 120
    while not (running := _queued(array_id, "R")) and time.time() < deadline:
        time.sleep(0.2)
    assert running, "no task started"
    victim = running[0]
    time.sleep(8)  # mid-run: past start-up (~5 s), inside training (~15-30 s on 2 busy cores)
    subprocess.run(["scancel", victim], check=True, timeout=20)
    while _queued(array_id) and time.time() < deadline + 600:
        time.sleep(0.5)
    records = list(iter_runs(out))
    assert len(records) == 2 and all(r.ok for r in records), "the killed task must leave no record"
    assert not list(out.glob("runs/**/.*.tmp")), "no half-written record"
    again = cli(*grid)
    assert "1 runs trained, 2 reused, 0 failed" in again.stdout
    assert len(list(iter_runs(out))) == 3


def test_unknown_partition_is_one_line_and_submits_nothing(slurm_cluster, tmp_path):
    res = cli("reproduce", "--table", TABLE, "--methods", "lr", "--seeds", "1", "--out", str(tmp_path),
              "--executor", "slurm", "--partition", "nosuch", check=False)
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error: --partition: unknown partition 'nosuch'; this cluster has debug")
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "slurm").exists() and not list(iter_runs(tmp_path))


def test_cluster_down_is_one_line_and_submits_nothing(slurm_cluster, tmp_path):
    conf = Path(slurm_cluster).read_text()
    conf = conf.replace("SlurmctldPort=6817", "SlurmctldPort=6897").replace("SlurmdPort=6818", "SlurmdPort=6898")
    down = tmp_path / "down.conf"
    down.write_text(conf + "MessageTimeout=1\n")  # nobody listens there: fail fast
    env = {**os.environ, "SLURM_CONF": str(down), "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-m", "fathom_bench", "reproduce", "--table", TABLE, "--methods", "lr",
                          "--seeds", "1", "--out", str(tmp_path / "out"), "--executor", "slurm"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "the cluster is not answering" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "slurm").exists()
