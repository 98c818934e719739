"""A SLURM cluster through submitit: the runs left go out as one job array, one run per task
(`--runs-per-task K`: K runs one after another in each task, to spread the start-up of Python,
torch and Lightning over K runs).

Each task writes its atomic record into `--out` (a filesystem the nodes share), so a task killed
by the scheduler (time limit, preemption, node failure) leaves no half record, and the next
`reproduce` resubmits exactly the runs without a valid record. Waiting reads submitit's result
files and `squeue` (not `sacct`, which needs accounting the cluster may not have): a task that
left the queue without a result is reported lost. Lightning's own requeue is off inside jobs
(`runner/train.py`), W&B logs offline there (`runner/tracking.py`).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Iterator

from ...errors import BadInput
from .task import Outcome, RunTask, execute_all, recorded

#: seconds a task may be gone from the queue before its result file shows up (shared-FS lag)
GRACE_SECONDS = 5.0
POLL_SECONDS = 0.5


def _sinfo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sinfo", "-h", *args], capture_output=True, text=True, timeout=15)


class Executor:
    def __init__(self, jobs: int = 1, threads: int = 1, partition: str | None = None, time_min: int | None = None,
                 cpus: int | None = None, mem_gb: float | None = None, gpus: int = 0, wait: bool = True,
                 folder: Path | None = None, runs_per_task: int = 1, **_other):
        self.jobs, self.threads, self.partition, self.time_min = jobs, threads, partition, time_min
        self.runs_per_task = runs_per_task
        self.cpus, self.mem_gb, self.gpus, self.wait = cpus or threads, mem_gb, gpus, wait
        self.folder = folder
        self.submitted = 0
        self.array_id: str | None = None

    def check(self) -> None:
        """One line and nothing submitted when the cluster cannot take the array."""
        if self.jobs < 1:
            raise BadInput(f"--jobs: needs at least 1, not {self.jobs}")
        if self.runs_per_task < 1:
            raise BadInput(f"--runs-per-task: needs at least 1, not {self.runs_per_task}")
        missing = [tool for tool in ("sbatch", "squeue", "sinfo") if shutil.which(tool) is None]
        if missing:
            raise BadInput(f"--executor slurm: {', '.join(missing)} not found on PATH; install SLURM's client "
                           "tools (Debian: apt-get install slurm-client) or start a local cluster with "
                           "scripts/slurm-local.sh")
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise BadInput("--executor slurm: the submitit package is missing; pip install submitit") from None
        try:
            info = _sinfo("-o", "%P")
        except subprocess.TimeoutExpired:
            raise BadInput("--executor slurm: the cluster did not answer `sinfo` within 15 s (slurmctld down?)") from None
        if info.returncode != 0:
            why = (info.stderr.strip().splitlines() or ["no output"])[-1]
            raise BadInput(f"--executor slurm: the cluster is not answering (`sinfo`: {why}); is slurmctld running? "
                           "(a local one: scripts/slurm-local.sh start)")
        partitions = [p.strip().rstrip("*") for p in info.stdout.split() if p.strip()]
        if self.partition and self.partition not in partitions:
            raise BadInput(f"--partition: unknown partition {self.partition!r}; this cluster has "
                           f"{', '.join(partitions) or 'none'}")

    def _executor(self, folder: Path):
        import submitit

        ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
        params = {"name": "fathom-bench", "timeout_min": int(self.time_min or 60) * self.runs_per_task,
                  "cpus_per_task": int(self.cpus),
                  "tasks_per_node": 1, "nodes": 1}
        if self.jobs > 1:
            params["slurm_array_parallelism"] = self.jobs
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.mem_gb:
            params["mem_gb"] = self.mem_gb
        if self.gpus:
            params["gpus_per_node"] = self.gpus
        ex.update_parameters(**params)
        return ex

    def run(self, tasks: list[RunTask]) -> Iterator[Outcome]:
        if not tasks:
            return
        folder = self.folder or Path(tasks[0].out) / "slurm" / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        n = -(-len(tasks) // self.runs_per_task)
        chunks = [tasks[i::n] for i in range(n)]  # round-robin: each task gets a mix of the grid
        jobs = self._executor(folder).map_array(execute_all, chunks)
        self.submitted = len(tasks)
        self.array_id = jobs[0].job_id.split("_")[0]
        if not self.wait:
            return
        left = {job.job_id: (job, chunk) for job, chunk in zip(jobs, chunks)}
        gone_since: dict[str, float] = {}
        try:
            while left:
                queued = self._queued()
                for job_id, (job, chunk) in list(left.items()):
                    if job.paths.result_pickle.exists():
                        del left[job_id]
                        yield from self._outcomes(job, chunk)
                    elif queued is not None and job_id not in queued:
                        first = gone_since.setdefault(job_id, time.monotonic())
                        if time.monotonic() - first > GRACE_SECONDS:
                            del left[job_id]
                            yield from self._salvage(chunk, f"SLURM task {job_id} ended without a result (killed by "
                                                     f"the scheduler?); log: {job.paths.stderr}")
                if left:
                    time.sleep(POLL_SECONDS)
        except BaseException:
            for job, _ in left.values():
                job.cancel(check=False)
            raise

    def _queued(self) -> set[str] | None:
        """Task ids of this array still pending or running (None if squeue did not answer)."""
        try:
            res = subprocess.run(["squeue", "-h", "-r", "-j", self.array_id, "-o", "%i"], capture_output=True,
                                 text=True, timeout=15)
        except subprocess.TimeoutExpired:
            return None
        if res.returncode != 0:
            # squeue forgets a finished job after MinJobAge; "Invalid job id" then means none queued
            return set() if "Invalid job id" in res.stderr else None
        return {line.strip() for line in res.stdout.splitlines() if line.strip()}

    @classmethod
    def _outcomes(cls, job, chunk: list[RunTask]) -> list[Outcome]:
        try:
            return job.result()
        except Exception as exc:  # the task raised (bad input inside the job): runs after it unrecorded
            lines = [line for line in str(exc).strip().splitlines() if line.strip()]
            return cls._salvage(chunk, f"SLURM task {job.job_id} raised: {lines[-1] if lines else exc}")

    @staticmethod
    def _salvage(chunk: list[RunTask], why: str) -> list[Outcome]:
        """A task that ended early: the runs it recorded before, the rest lost (retried next time)."""
        return [recorded(task) or Outcome(task.run.key, "lost", why) for task in chunk]
