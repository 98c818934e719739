"""A run killed mid-fit resumes from its last saved epoch to a bit-identical record (CPU): every
trainable Table III method in process, and a real SIGKILL of `reproduce` (synthetic data)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fathom_bench.errors import BadInput
from fathom_bench.records import iter_runs
from fathom_bench.runner import resume
from fathom_bench.runner.grid import plan
from fathom_bench.tables import load_table_config
from fathom_bench.runner.train import train_one

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[1]
TABLE = str(REPO / "tests" / "fixtures" / "table_synthetic.yaml")


def _trainable_table3_methods() -> list[str]:
    from fathom_bench.methods import get_method

    cfg = load_table_config("3")
    return [m for m in cfg["methods"] if getattr(get_method(m).load_class(), "trainable", True)]


def _same_fit(a: dict, b: dict) -> None:
    """Everything a record says about the fit, but wall-clock seconds."""
    def without_seconds(history):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in history]

    assert a["metrics"] == b["metrics"]
    assert (a["epochs_run"], a["best_epoch"]) == (b["epochs_run"], b["best_epoch"])
    assert without_seconds(a["history"]) == without_seconds(b["history"])


def _killed_after_epoch(monkeypatch, epoch: int):
    """The saver's epoch end, then an exception as from a kill (Lightning would exit on Ctrl-C)."""
    real = resume.EpochCheckpoint.on_train_epoch_end

    def save_then_die(self, trainer, module):
        real(self, trainer, module)
        if trainer.current_epoch == epoch:
            raise RuntimeError("killed")

    monkeypatch.setattr(resume.EpochCheckpoint, "on_train_epoch_end", save_then_die)


@pytest.mark.parametrize("method", _trainable_table3_methods())
def test_a_resumed_fit_is_bit_identical_to_an_uninterrupted_one(tmp_path, monkeypatch, method):
    """Killed after epoch 2 of 8 (patience 2: several methods early-stop after the resume, so the
    early-stopping counter and the best weights must come back too; dropout needs the RNGs)."""
    run = plan(["synthetic"], [method], [1], ["corrected"], max_epochs=8, patience=2, limit_train_batches=4)[0]
    whole = train_one(run, progress_bar=False)
    assert "resumed_at_epochs" not in whole
    ckpt = tmp_path / "seed-1.partial.ckpt"
    with monkeypatch.context() as m:
        _killed_after_epoch(m, 1)
        with pytest.raises(RuntimeError, match="killed"):
            train_one(run, progress_bar=False, checkpoint=ckpt, checkpoint_every=0)
    assert resume.usable(ckpt, run.config_hash())["epoch"] == 2
    resumed = train_one(run, progress_bar=False, checkpoint=ckpt, checkpoint_every=0)
    assert resumed["resumed_at_epochs"] == [2]
    _same_fit(whole, resumed)
    assert [row["epoch"] for row in resumed["history"]] == list(range(len(whole["history"])))
    times = [row["seconds"] for row in resumed["history"]]
    assert times == sorted(times)  # the resumed process's seconds go on from the killed one's
    assert resumed["train_seconds"] >= times[-1]  # and so does the record's: one clock for both


def test_early_stopping_counts_the_epochs_before_the_resume(tmp_path, monkeypatch):
    """lr = 0: no epoch improves on epoch 0, so the fit stops on the counter alone (patience 3:
    after epoch 3); killed after epoch 1, the resumed fit must stop there too, not an epoch later."""
    run = plan(["synthetic"], ["mlp"], [0], ["corrected"], max_epochs=10, patience=3, limit_train_batches=3,
               hparam_overrides={"lr": 0.0})[0]
    whole = train_one(run, progress_bar=False)
    assert (whole["epochs_run"], whole["best_epoch"]) == (4, 0)
    ckpt = tmp_path / "seed-0.partial.ckpt"
    with monkeypatch.context() as m:
        _killed_after_epoch(m, 1)
        with pytest.raises(RuntimeError):
            train_one(run, progress_bar=False, checkpoint=ckpt, checkpoint_every=0)
    resumed = train_one(run, progress_bar=False, checkpoint=ckpt, checkpoint_every=0)
    assert resumed["resumed_at_epochs"] == [2]
    _same_fit(whole, resumed)


def test_a_checkpoint_of_another_config_or_a_torn_one_is_not_resumed(tmp_path, monkeypatch):
    run = plan(["synthetic"], ["mlp"], [0], ["corrected"], max_epochs=4, limit_train_batches=3)[0]
    other = plan(["synthetic"], ["mlp"], [0], ["corrected"], max_epochs=5, limit_train_batches=3)[0]
    ckpt = tmp_path / "seed-0.partial.ckpt"
    with monkeypatch.context() as m:
        _killed_after_epoch(m, 1)
        with pytest.raises(RuntimeError):
            train_one(other, progress_bar=False, checkpoint=ckpt, checkpoint_every=0)
    assert resume.usable(ckpt, other.config_hash()) is not None
    assert resume.usable(ckpt, run.config_hash()) is None
    fresh = train_one(run, progress_bar=False, checkpoint=ckpt, checkpoint_every=0)
    assert "resumed_at_epochs" not in fresh
    _same_fit(train_one(run, progress_bar=False), fresh)
    ckpt.write_bytes(b"not a checkpoint")
    assert resume.usable(ckpt, run.config_hash()) is None
    assert resume.usable(tmp_path / "missing.ckpt", run.config_hash()) is None


def test_checkpoint_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("FATHOM_BENCH_CHECKPOINT_SECONDS", raising=False)
    assert resume.every_seconds() == resume.DEFAULT_EVERY_SECONDS
    monkeypatch.setenv("FATHOM_BENCH_CHECKPOINT_SECONDS", "0")
    assert resume.every_seconds() == 0
    for bad in ("soon", "-5", "nan"):
        monkeypatch.setenv("FATHOM_BENCH_CHECKPOINT_SECONDS", bad)
        with pytest.raises(BadInput, match="FATHOM_BENCH_CHECKPOINT_SECONDS"):
            resume.every_seconds()


def _checkpoint_epoch(out: Path) -> int:
    found = list(out.glob("runs/**/*.partial.ckpt"))
    state = resume.saved(found[0]) if found else None
    return state["epoch"] if state else 0


def test_a_checkpoint_keeps_the_peak_rss_of_the_processes_before_it(tmp_path):
    saver = resume.EpochCheckpoint(tmp_path / "seed=0.partial.ckpt", "hash", resume.FitClock())
    assert 0 < saver.state_dict()["peak_rss_mb"] < 1e6
    saver.load_state_dict({**saver.state_dict(), "peak_rss_mb": 1e6})  # resumed from a process that took more
    assert saver.state_dict()["peak_rss_mb"] == 1e6


def test_reproduce_killed_mid_fit_resumes_to_the_same_record(tmp_path):
    """SIGKILL a real `reproduce` once its FATHOM run has saved epoch 5 of 40; the same command
    resumes it there, writes a record equal to an uninterrupted run's, and removes the checkpoint."""
    args = [sys.executable, "-m", "fathom_bench", "reproduce", "--table", TABLE, "--seeds", "1", "--max-epochs", "40",
            "--methods", "fathom", "--wandb", "disabled", "--no-progress"]
    env = {**os.environ, "WANDB_MODE": "disabled", "FATHOM_BENCH_CHECKPOINT_SECONDS": "0"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*args, "--out", str(killed)], cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while _checkpoint_epoch(killed) < 5 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    at = _checkpoint_epoch(killed)
    assert 5 <= at < 40 and not list(killed.glob("runs/**/*.json")), "the kill must land mid-fit"
    subprocess.run([*args, "--out", str(killed)], cwd=REPO, env=env, check=True, capture_output=True)
    whole = tmp_path / "whole"
    subprocess.run([*args, "--out", str(whole)], cwd=REPO, env=env, check=True, capture_output=True)
    (a,), (b,) = (list(iter_runs(folder)) for folder in (whole, killed))
    assert b.record["resumed_at_epochs"] == [at] and "resumed_at_epochs" not in a.record
    _same_fit(a.record, b.record)
    assert not list(killed.glob("runs/**/*.ckpt*")) and not list(whole.glob("runs/**/*.ckpt*"))
    assert (killed / "table_synthetic.md").read_text() == (whole / "table_synthetic.md").read_text()


def test_plan_costs_a_killed_run_from_its_saved_epoch(tmp_path, monkeypatch):
    from fathom_bench.records import CHECKPOINT_SUFFIX, record_path
    from fathom_bench.runner.cost import estimate

    run = plan(["synthetic"], ["mlp"], [0], ["corrected"], max_epochs=8, patience=20, limit_train_batches=3)[0]
    (before,) = estimate([run], tmp_path)
    ckpt = record_path(tmp_path, "corrected", "synthetic", "mlp", 0, CHECKPOINT_SUFFIX)
    with monkeypatch.context() as m:
        _killed_after_epoch(m, 2)
        with pytest.raises(RuntimeError):
            train_one(run, progress_bar=False, checkpoint=ckpt, checkpoint_every=0)
    (after,) = estimate([run], tmp_path)
    assert after.epochs == before.epochs - 3 and after.epochs_source.endswith("; resumes after epoch 3")
    saved = resume.saved(ckpt)
    assert after.seconds >= after.epochs * saved["seconds"] / 3  # at the run's own seconds per epoch


def test_plan_costs_fresh_seeds_no_lower_than_a_seed_saved_mid_fit(tmp_path, monkeypatch):
    """The study says 6 epochs, but seed 0 is saved after its 5th epoch of a fit that early stopping
    cannot end before its best epoch + 1 + patience (10): seeds 1 and 2 are costed at that floor and
    at seed 0's seconds per epoch; seed 0 itself from its own checkpoint; a checkpoint of another
    budget is not evidence."""
    from dataclasses import replace

    from fathom_bench.records import CHECKPOINT_SUFFIX, record_path
    from fathom_bench.runner import cost
    from fathom_bench.runner.memory import peak_rss_mb

    history = [{"epoch": e, "seconds": 0.5 * (e + 1), "val_loss": 1.0 + e} for e in range(6)]  # best epoch 0
    monkeypatch.setattr(cost, "_study_histories", lambda: {("synthetic", "mlp", "corrected"): history})
    runs = plan(["synthetic"], ["mlp"], [0, 1, 2], ["corrected"], max_epochs=40, patience=10, limit_train_batches=3)
    before = estimate_by_seed(runs, tmp_path)
    assert before[1].epochs == 6 and before[1].epochs_source == "study" and before[1].epoch_seconds_from == "study"
    ckpt = record_path(tmp_path, "corrected", "synthetic", "mlp", 0, CHECKPOINT_SUFFIX)
    with monkeypatch.context() as m:
        _killed_after_epoch(m, 4)
        with pytest.raises(RuntimeError):
            train_one(replace(runs[0], trainer=replace(runs[0].trainer, patience=40)), progress_bar=False,
                      checkpoint=ckpt, checkpoint_every=0)
    foreign = estimate_by_seed(runs, tmp_path)  # saved under patience 40: another config
    assert foreign[1] == before[1] and foreign[0] == before[0]
    with monkeypatch.context() as m:
        _killed_after_epoch(m, 4)
        with pytest.raises(RuntimeError):
            train_one(runs[0], progress_bar=False, checkpoint=ckpt, checkpoint_every=0)
    saved = resume.saved(ckpt)
    assert saved["epoch"] == 5 and saved["best_epoch"] is not None
    floor = cost.mid_fit_floor(saved, 10, 40)
    assert floor == saved["best_epoch"] + 11 >= 11
    assert cost.mid_fit_floor(saved, 10, 8) == 8  # the budget ends it there at the latest
    after = estimate_by_seed(runs, tmp_path)
    for seed in (1, 2):
        assert after[seed].epochs == floor and after[seed].epochs_source == "study; no fewer than 1 mid-fit seed"
        assert after[seed].epoch_seconds_from == "mid-fit seeds (1)"
        assert after[seed].seconds > floor * saved["seconds"] / 5
    assert after[0].epoch_seconds_from == "checkpoint" and after[0].epochs_source.endswith("resumes after epoch 5")
    # no record of the cell yet: its memory per job is what the process that saved seed 0 took
    assert saved["peak_rss_mb"] > 50 and peak_rss_mb([("synthetic", "mlp", "corrected")], tmp_path) == {
        "synthetic": (saved["peak_rss_mb"], "mlp corrected")}
    reads = []  # the checkpoint is seed 0's own and seeds 1-2's sibling: its header is read once per plan
    monkeypatch.setattr(resume, "saved", lambda path, read=resume.saved: reads.append(path) or read(path))
    assert estimate_by_seed(runs, tmp_path) == after and reads.count(ckpt) == 1
    reads.clear()  # and once in a whole --plan, its memory line included
    from fathom_bench.runner.execution import Execution
    from fathom_bench.runner.schedule import plan_text

    text = plan_text(runs, 3, tmp_path, Execution())
    assert f"synthetic {saved['peak_rss_mb'] / 1024:.1f} GiB (mlp corrected)" in text and reads.count(ckpt) == 1


def estimate_by_seed(runs, out) -> dict:
    from fathom_bench.runner.cost import estimate

    return {run.seed: cost for run, cost in zip(runs, estimate(runs, out))}


def test_epochs_left_after_a_resume_respect_early_stopping_and_the_budget():
    from fathom_bench.runner.cost import epochs_left

    assert epochs_left(40, 10, 8, 20, 100) == 30  # the estimate of the whole fit, less what is done
    assert epochs_left(40, 35, 30, 20, 100) == 16  # past the estimate: early stopping needs 51 in all
    assert epochs_left(40, 35, 30, 20, 45) == 10  # ... but the budget ends at 45
    assert epochs_left(40, 44, 10, 5, 45) == 1  # at least one
    assert epochs_left(40, 10, None, 20, 100) == 30


def test_a_resumed_run_records_the_peak_rss_of_every_process_that_trained_it(tmp_path, monkeypatch):
    """A run killed while its process held 1e6 MiB and resumed in a small one: the record says
    1e6 (it said the resuming process's own peak, so a plan's memory per job read too little)."""
    from fathom_bench.records import checkpoint_path, read_record
    from fathom_bench.runner.executors.task import RunTask, execute

    run = plan(["synthetic"], ["mlp"], [0], ["corrected"], max_epochs=4, limit_train_batches=2)[0]
    path = tmp_path / "seed=0.json"
    with monkeypatch.context() as m:
        _killed_after_epoch(m, 1)
        m.setattr(resume, "peak_rss_mb", lambda: 1e6)
        with pytest.raises(RuntimeError, match="killed"):
            train_one(run, progress_bar=False, checkpoint=checkpoint_path(path), checkpoint_every=0)
    outcome = execute(RunTask(run, path, tmp_path))
    rec = read_record(path)
    assert rec["resumed_at_epochs"] == [2] and rec["peak_rss_mb"] == outcome.peak_rss_mb == 1e6
    fresh = tmp_path / "fresh" / "seed=0.json"
    execute(RunTask(run, fresh, tmp_path / "fresh"))
    assert 50 < read_record(fresh)["peak_rss_mb"] < 1e6
