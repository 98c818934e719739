"""Executors (`--jobs`, `--executor`), `--accelerator`, `reproduce --plan`, W&B without a network,
and the bad input of all of them. The SLURM cluster itself is exercised in test_slurm.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fathom_bench.cli import main
from fathom_bench.records import computed_fields, iter_runs

TABLE = str(Path(__file__).parent / "fixtures" / "table_synthetic.yaml")


def reproduce(out, *extra):
    return main(["reproduce", "--table", TABLE, "--out", str(out), "--wandb", "disabled", "--no-progress", *extra])


def comparable(out) -> dict:
    return {str(r.path.relative_to(out)): computed_fields(r.record)
            for r in iter_runs(out)}


def test_jobs_2_records_are_bit_identical_to_jobs_1(tmp_path):
    import os
    import subprocess
    import sys

    args = ["--methods", "m_lstm", "persistence", "--seeds", "1", "--max-epochs", "1"]
    assert reproduce(tmp_path / "one", *args) == 0
    # the process pool in a child process: W&B's process-wide state in this one stays untouched
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-m", "fathom_bench", "reproduce", "--table", TABLE, "--out", str(tmp_path / "two"),
                    "--no-progress", *args, "--jobs", "2"], env=env, check=True, capture_output=True, timeout=600)
    one, two = comparable(tmp_path / "one"), comparable(tmp_path / "two")
    assert len(one) == 2 and one == two
    assert all(r.record["peak_rss_mb"] > 50 for r in iter_runs(tmp_path / "two"))  # measured per process


def test_executors_are_found_by_module_name():
    from fathom_bench.errors import BadInput
    from fathom_bench.runner.executors import available, get_executor

    assert {"local", "slurm"} <= set(available()) and "task" not in available()
    with pytest.raises(BadInput, match="unknown executor 'nope'.*local"):
        get_executor("nope")


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    return err[0]


@pytest.mark.parametrize("extra, says", [
    (["--jobs", "0"], "--jobs: needs at least 1"),
    (["--executor", "ray"], "unknown executor 'ray'"),
    (["--accelerator", "tpu"], "--accelerator: unknown 'tpu'"),
    (["--devices", "first"], "--devices: expected GPU indices"),
])
def test_bad_execution_options_are_one_line_and_nothing_runs(tmp_path, capsys, extra, says):
    assert reproduce(tmp_path / "out", "--methods", "lr", "--seeds", "1", *extra) == 2
    assert says in _one_error_line(capsys)
    assert not list(iter_runs(tmp_path / "out"))


def test_accelerator_gpu_without_a_gpu_is_bad_input(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    for command in (["reproduce", "--table", TABLE, "--methods", "lr"], ["train", "--dataset", "synthetic", "--method", "lr"]):
        assert main([*command, "--out", str(tmp_path), "--accelerator", "gpu", "--wandb", "disabled"]) == 2
        assert "sees no GPU" in _one_error_line(capsys)
    assert not any(tmp_path.iterdir())


def test_out_that_is_a_file_or_unwritable_is_bad_input(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert reproduce(target, "--methods", "lr", "--seeds", "1") == 2
    assert "is a file, not a folder" in _one_error_line(capsys)
    assert main(["train", "--dataset", "synthetic", "--method", "lr", "--out", str(target), "--wandb", "disabled"]) == 2
    assert "is a file, not a folder" in _one_error_line(capsys)
    assert reproduce(target / "below", "--methods", "lr", "--seeds", "1") == 2
    assert "--out: cannot write" in _one_error_line(capsys)


def test_slurm_without_sbatch_is_bad_input_and_submits_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert reproduce(tmp_path / "out", "--methods", "lr", "--seeds", "1", "--executor", "slurm") == 2
    assert "sbatch, squeue, sinfo not found" in _one_error_line(capsys)
    assert not (tmp_path / "out" / "slurm").exists() and not list(iter_runs(tmp_path / "out"))


def test_plan_prints_cost_trains_nothing_and_warns_on_memory(tmp_path, capsys):
    assert reproduce(tmp_path, "--quick", "--plan") == 0
    out = capsys.readouterr().out
    assert "8 of 8 runs left" in out and "CPU-hours" in out and "wall time with --jobs 1" in out
    assert not (tmp_path / "runs").exists()
    assert reproduce(tmp_path, "--quick", "--methods", "lr", "persistence") == 0
    capsys.readouterr()
    assert reproduce(tmp_path, "--quick", "--plan", "--jobs", "100000") == 0
    out = capsys.readouterr().out
    assert "4 of 8 runs left" in out and "wall time with --jobs 100000" in out
    assert "memory per job (measured peak RSS, the most of the cells left): synthetic" in out and "WARNING: --jobs 100000" in out
    assert reproduce(tmp_path, "--quick", "--plan", "--executor", "slurm", "--jobs", "4") == 0
    assert "an array of 4 concurrent tasks" in capsys.readouterr().out


def test_wandb_with_a_key_and_no_route_logs_offline_without_waiting(tmp_path, monkeypatch):
    """A configured key and a server that never answers (TEST-NET-1): one line, offline files, no hang.
    In a fresh process, so W&B's process-wide state cannot leak into other tests."""
    import os
    import subprocess
    import sys

    from fathom_bench.runner import tracking

    env = {k: v for k, v in os.environ.items() if k != "WANDB_MODE"}
    env.update(WANDB_API_KEY="0" * 40, WANDB_BASE_URL="http://192.0.2.1:9", HOME=str(tmp_path),
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    for key in ("WANDB_API_KEY", "WANDB_BASE_URL", "HOME"):
        monkeypatch.setenv(key, env[key])
    started = time.perf_counter()
    assert tracking.resolve_mode(None, log=lambda line: None) == "offline"
    assert time.perf_counter() - started < tracking.PROBE_SECONDS + 1
    started = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "fathom_bench", "train", "--dataset", "synthetic", "--method", "lr",
                          "--max-epochs", "1", "--out", str(tmp_path / "o"), "--no-progress"],
                         env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stderr.count("logging offline") == 1 and "wandb sync" in res.stderr
    assert list((tmp_path / "o" / "wandb").glob("wandb/offline-run-*/run-*.wandb"))
    assert elapsed < 90, f"train took {elapsed:.0f} s: something waited on the network"


def test_lightning_requeue_is_off_inside_slurm_jobs(monkeypatch):
    from fathom_bench.runner.train import _plugins

    assert _plugins() == [] or not _plugins()[0].auto_requeue
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "fathom-bench")
    (env,) = _plugins()
    assert env.auto_requeue is False


def test_records_say_where_they_ran(tmp_path):
    assert reproduce(tmp_path, "--methods", "m_lstm", "--seeds", "1", "--max-epochs", "1") == 0
    rec = next(iter_runs(tmp_path)).record
    from fathom_bench.numerics import cpu_model, mkl_branch

    assert rec["device"] == {"accelerator": "cpu", "name": "cpu", "lstm_forms": ["loop"], "deterministic": True,
                             "cpu": cpu_model(), "mkl_cbwr": mkl_branch()}
    assert "accelerator" not in rec["config"]["trainer"]  # CPU config hashes are unchanged
    assert json.loads(json.dumps(rec))["peak_rss_mb"] > 0


def test_a_slurm_task_that_ended_early_keeps_the_runs_it_recorded(tmp_path):
    """--runs-per-task: of a killed task's runs, those with a valid record count, the rest are lost."""
    from fathom_bench.records import record_path
    from fathom_bench.runner.executors.slurm import Executor
    from fathom_bench.runner.executors.task import RunTask, execute
    from fathom_bench.runner.grid import plan

    runs = plan(["synthetic"], ["persistence"], [0, 1], ["corrected"])
    tasks = [RunTask(r, record_path(tmp_path, r.protocol.name, r.dataset.name, r.method.key, r.seed), tmp_path)
             for r in runs]
    assert execute(tasks[0]).status == "ok"  # the first run finished before the kill
    first, second = Executor._salvage(tasks, "killed")
    assert (first.key, first.status) == (runs[0].key, "ok") and first.peak_rss_mb > 0
    assert (second.key, second.status, second.error) == (runs[1].key, "lost", "killed")


def test_a_record_names_the_commit_its_process_started_on(tmp_path, monkeypatch):
    import subprocess

    import lightning as L

    from fathom_bench.records import read_record
    from fathom_bench.runner import spec
    from fathom_bench.runner.executors.task import RunTask, execute
    from fathom_bench.runner.grid import plan

    repo = tmp_path / "checkout"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "code.py").write_text("a = 1\n")
    subprocess.run([*git, "add", "code.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "the code that trains"], check=True)
    started = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    fit = L.Trainer.fit

    def commit_while_training(self, *args, **kwargs):  # a commit lands while the run trains
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "later"], check=True)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(spec, "checkout_root", lambda: repo)
    monkeypatch.setattr(L.Trainer, "fit", commit_while_training)
    spec.versions.cache_clear()
    try:
        run = plan(["synthetic"], ["m_lstm"], [0], ["corrected"], max_epochs=1)[0]
        path = tmp_path / "seed=0.json"
        assert execute(RunTask(run, path, tmp_path)).status == "ok"
        assert read_record(path)["versions"]["git_commit"] == started
    finally:
        spec.versions.cache_clear()
