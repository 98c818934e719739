"""End-to-end `reproduce` on the synthetic dataset: records, resume, determinism, failures, W&B files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fathom_bench.cli import main
from fathom_bench.records import iter_runs, read_record

FIXTURES = Path(__file__).parent / "fixtures"
TABLE = str(FIXTURES / "table_synthetic.yaml")
REPO = Path(__file__).resolve().parents[1]


def reproduce(out, *extra):
    return main(["reproduce", "--table", TABLE, "--out", str(out), "--wandb", "disabled", "--no-progress", *extra])


def test_quick_reproduce_writes_records_and_tables(tmp_path):
    assert reproduce(tmp_path, "--quick") == 0
    runs = list(iter_runs(tmp_path, "corrected"))
    assert len(runs) == 4 * 2  # (lr, m_lstm, fathom, persistence) x 2 quick seeds
    assert all(r.ok and r.record["quick"] for r in runs)
    rec = runs[0].record
    for key in ("config", "config_hash", "versions", "epochs_run", "best_epoch", "train_seconds", "num_parameters"):
        assert key in rec
    assert set(rec["metrics"]["test"]) >= {"mae", "smape", "mae/y0", "per_task"}
    for name in ("table_synthetic.md", "table_synthetic.csv", "table_synthetic.tex", "table_synthetic-vs-paper.md"):
        assert (tmp_path / name).is_file(), name
    assert "QUICK" in (tmp_path / "table_synthetic.md").read_text().upper()


def test_rerun_skips_recorded_runs_and_changed_config_reruns(tmp_path, capsys):
    args = ["--methods", "lr", "--seeds", "1", "--max-epochs", "1"]
    assert reproduce(tmp_path, *args) == 0
    path = next(iter_runs(tmp_path)).path
    first = path.stat().st_mtime_ns
    assert reproduce(tmp_path, *args) == 0
    assert "1 reused" in capsys.readouterr().out
    assert path.stat().st_mtime_ns == first
    assert reproduce(tmp_path, "--methods", "lr", "--seeds", "1", "--max-epochs", "2") == 0
    assert path.stat().st_mtime_ns != first  # a changed config is a different run


def test_same_seed_gives_bit_identical_metrics(tmp_path):
    for sub in ("a", "b"):
        assert reproduce(tmp_path / sub, "--methods", "fathom", "--seeds", "1", "--max-epochs", "2") == 0
    a, b = (next(iter_runs(tmp_path / s)).record["metrics"] for s in ("a", "b"))
    assert a == b


def test_paired_seeds_differ_between_seeds(tmp_path):
    assert reproduce(tmp_path, "--methods", "fathom", "--seeds", "2", "--max-epochs", "1") == 0
    a, b = (r.record["metrics"]["test"]["mae"] for r in iter_runs(tmp_path))
    assert a != b


def test_failed_run_is_recorded_and_retried(tmp_path, monkeypatch):
    from fathom_bench.runner import train as train_mod

    real = train_mod.train_one

    def boom(run, **kw):
        if run.method.key == "lr":
            raise FloatingPointError("non-finite training loss at epoch 0, batch 0")
        return real(run, **kw)

    monkeypatch.setattr(train_mod, "train_one", boom)
    assert reproduce(tmp_path, "--methods", "lr", "persistence", "--seeds", "1", "--max-epochs", "1") == 1
    recs = {r.record["method"]: r.record for r in iter_runs(tmp_path)}
    assert recs["lr"]["status"] == "failed" and "non-finite" in recs["lr"]["error"]
    assert recs["persistence"]["status"] == "ok"
    monkeypatch.setattr(train_mod, "train_one", real)
    assert reproduce(tmp_path, "--methods", "lr", "persistence", "--seeds", "1", "--max-epochs", "1") == 0
    assert read_record(recs and next(r.path for r in iter_runs(tmp_path) if r.record["method"] == "lr"))["status"] == "ok"


def test_save_predictions_writes_original_units(tmp_path):
    import numpy as np

    assert reproduce(tmp_path, "--methods", "persistence", "--seeds", "1", "--save-predictions") == 0
    run = next(iter_runs(tmp_path))
    npz = np.load(run.path.with_suffix(".npz"))
    pred, target, mask = npz["predictions"], npz["targets"], npz["mask"]
    assert pred.shape == target.shape == mask.shape and pred.shape[0] == 4
    mae = float(np.mean([np.abs(pred[k] - target[k])[mask[k][:, j], j].mean()
                         for k in range(pred.shape[0]) for j in range(pred.shape[2])]))
    assert mae == pytest.approx(run.record["metrics"]["test"]["mae"], rel=1e-5)
    assert target[mask].mean() > 5  # synthetic targets live around 10, i.e. original units, not [0, 1]


def test_wandb_offline_files_hold_the_run_metrics(tmp_path):
    from wandb_files import read_run

    assert main(["reproduce", "--table", TABLE, "--out", str(tmp_path), "--wandb", "offline", "--no-progress",
                 "--methods", "lr", "--seeds", "1", "--max-epochs", "2"]) == 0
    rec = next(iter_runs(tmp_path)).record
    files = sorted((tmp_path / "wandb").glob("wandb/offline-run-*/run-*.wandb"))
    runs = [read_run(f) for f in files]
    training = [r for r in runs if r["job_type"] == "lr"]
    assert len(training) == 1 and training[0]["project"] == "fathom-bench"
    assert training[0]["group"] == "table_synthetic-synthetic"
    assert training[0]["config"]["seed"] == 0
    assert training[0]["summary"]["test/mae"] == pytest.approx(rec["metrics"]["test"]["mae"])
    assert any("val/loss" in h for h in training[0]["history"])
    assert any(r["job_type"] == "summary" for r in runs)


def _records(out):
    return sorted((out / "runs").glob("**/seed=*.json"))


def test_resume_after_kill_gives_the_same_tables(tmp_path):
    args = [sys.executable, "-m", "fathom_bench", "reproduce", "--table", TABLE, "--seeds", "2", "--max-epochs", "2",
            "--wandb", "disabled", "--no-progress", "--methods", "lr", "m_lstm", "persistence"]
    env = {**os.environ, "WANDB_MODE": "disabled"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--out", str(killed)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(_records(killed)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(_records(killed))
    assert 0 < done_before < 6, "the kill must land mid-grid"
    assert all(json.loads(p.read_text())["status"] == "ok" for p in _records(killed))  # no half-written record
    assert not list(killed.glob("runs/**/.*.tmp"))
    subprocess.run([*args, "--out", str(killed)], cwd=REPO, env=env, check=True, capture_output=True)
    whole = tmp_path / "whole"
    subprocess.run([*args, "--out", str(whole)], cwd=REPO, env=env, check=True, capture_output=True)
    assert len(_records(killed)) == 6
    for name in ("table_synthetic.md", "table_synthetic.csv", "table_synthetic-vs-paper.md"):
        assert (killed / name).read_text() == (whole / name).read_text(), name
