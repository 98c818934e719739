"""Stopping a real `reproduce --jobs 2`: no worker process outlives it, and none goes on to a queued
run. Before this, SIGTERM to the grid's process group killed the parent while its spawned
workers ended their fits (Lightning's SIGTERM handler) and then each took its next queued run,
training it with no one to collect it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fathom_bench.runner import resume

REPO = Path(__file__).resolve().parents[1]
TABLE = str(REPO / "tests" / "fixtures" / "table_synthetic.yaml")


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of a process group that still run (zombies left to an init that may not reap them
    are dead for this purpose)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            alive.append(int(stat.parent.name))
    return alive


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _grid_training(out: Path, jobs: int = 2) -> subprocess.Popen:
    """`reproduce --jobs N` over three long FATHOM runs, in its own session, once N runs have saved
    a mid-fit checkpoint (with 2 jobs the third run is queued behind them)."""
    env = {**os.environ, "WANDB_MODE": "disabled", "FATHOM_BENCH_CHECKPOINT_SECONDS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "fathom_bench", "reproduce", "--table", TABLE, "--seeds", "3",
                             "--max-epochs", "5000", "--methods", "fathom", "--wandb", "disabled", "--no-progress",
                             "--jobs", str(jobs), "--out", str(out)],
                            cwd=REPO, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)

    def training():
        saved = [resume.saved(p) for p in out.glob("runs/**/*.partial.ckpt")]
        return len([s for s in saved if s and s["epoch"] >= 2]) == jobs

    if not _wait_for(lambda: training() or proc.poll() is not None, 240) or proc.poll() is not None:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"the grid did not get {jobs} runs training: {proc.communicate()[1][-2000:]}")
    if jobs > 1:
        assert len(_alive_in_group(proc.pid)) >= 1 + jobs  # the parent and its workers
    return proc


def test_sigterm_to_a_jobs_2_grid_stops_every_worker_and_starts_no_queued_run(tmp_path):
    proc = _grid_training(tmp_path)
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        stderr = proc.communicate(timeout=60)[1]
        gone = _wait_for(lambda: not _alive_in_group(proc.pid), 30)
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if _alive_in_group(proc.pid) else None
    assert gone, "worker processes outlived the grid"
    assert proc.returncode == 130 and "interrupted" in stderr, stderr[-2000:]
    time.sleep(2)  # an orphaned worker would be writing by now
    assert not list(tmp_path.glob("runs/**/*.json")), "a run was recorded after the grid was stopped"
    assert not list(tmp_path.glob("runs/**/seed=2.partial.ckpt")), "the queued run started"
    assert len(list(tmp_path.glob("runs/**/*.partial.ckpt"))) == 2  # both stopped fits resume next time


def test_workers_of_a_grid_killed_outright_exit_on_their_own(tmp_path):
    """SIGKILL to the parent alone (no handler can run): its workers notice and exit."""
    proc = _grid_training(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        gone = _wait_for(lambda: not _alive_in_group(proc.pid), 30)
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if _alive_in_group(proc.pid) else None
    assert gone, "workers went on after their grid was killed"
    assert not list(tmp_path.glob("runs/**/*.json"))


def test_sigterm_to_a_jobs_1_grid_is_an_interruption_not_a_success(tmp_path):
    """In one process Lightning turns SIGTERM mid-fit into an exit (status 0 before): now the grid
    says it was interrupted, exits 130, records nothing and keeps the fit's checkpoint."""
    proc = _grid_training(tmp_path, jobs=1)
    proc.terminate()
    try:
        stderr = proc.communicate(timeout=60)[1]
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if _alive_in_group(proc.pid) else None
    assert proc.returncode == 130 and "interrupted" in stderr, stderr[-2000:]
    assert not list(tmp_path.glob("runs/**/*.json"))
    assert len(list(tmp_path.glob("runs/**/*.partial.ckpt"))) == 1


def test_an_interruption_between_two_outcomes_reaches_the_executor_at_once(tmp_path):
    """Ctrl-C or SIGTERM while the grid handles an outcome, not while the executor waits: the
    executor's generator is closed (so it stops its workers) before the interruption leaves
    `run_grid`, not whenever the generator is garbage-collected (the traceback keeps it alive)."""
    from fathom_bench.runner.executors.task import Outcome
    from fathom_bench.runner.grid import plan, run_grid

    stopped = []

    class FailingRuns:
        def check(self):
            pass

        def run(self, tasks):
            try:
                for task in tasks:
                    yield Outcome(task.run.key, "failed", "no reason")
            except GeneratorExit:
                stopped.append(True)
                raise

    def log(line):  # the grid logs a failed outcome as it handles it: Ctrl-C lands there
        if line.startswith("run failed"):
            raise KeyboardInterrupt

    runs = plan(["synthetic"], ["persistence"], [0, 1], ["corrected"], max_epochs=1)
    with pytest.raises(KeyboardInterrupt) as caught:
        run_grid(runs, tmp_path, progress=False, log=log, executor=FailingRuns())
    assert stopped and caught.traceback  # closed while the traceback still holds the grid's frame
