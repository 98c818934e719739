"""Where and on what the grid's runs execute: the executor and its options, the accelerator, the
devices; and the checks that turn bad execution input into one line before anything is submitted."""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..errors import BadInput

ACCELERATORS = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class Execution:
    executor: str = "local"
    jobs: int = 1
    accelerator: str = "cpu"  # as given; `resolved_accelerator()` turns "auto" into cpu or gpu
    devices: tuple[int, ...] | None = None
    partition: str | None = None
    time_min: int | None = None
    cpus: int | None = None
    mem_gb: float | None = None
    gpus: int = 0
    wait: bool = True
    runs_per_task: int = 1
    #: --deadline as epoch seconds: no run starts unless its estimate says it ends before (grid.py)
    deadline: float | None = None

    def resolved_accelerator(self) -> str:
        """cpu or gpu. `auto`: gpu when torch sees one here, or when SLURM tasks are given GPUs."""
        if self.accelerator not in ACCELERATORS:
            raise BadInput(f"--accelerator: unknown {self.accelerator!r}; choose one of {', '.join(ACCELERATORS)}")
        remote_gpus = self.executor != "local" and self.gpus > 0
        if self.accelerator == "cpu":
            return "cpu"
        if remote_gpus:
            return "gpu"
        import torch

        if torch.cuda.is_available():
            return "gpu"
        if self.accelerator == "gpu":
            raise BadInput(f"--accelerator gpu: torch {torch.__version__} sees no GPU on this machine "
                           "(torch.cuda.is_available() is False); use --accelerator cpu, or install a CUDA "
                           "build of torch on a machine with a GPU")
        return "cpu"

    def make(self, threads: int = 1, time_min: int | None = None):
        """The executor, checked (one line and exit 2 if it cannot start)."""
        from .executors import get_executor

        if self.jobs < 1:
            raise BadInput(f"--jobs: needs at least 1, not {self.jobs}")
        executor = get_executor(self.executor, jobs=self.jobs, threads=threads, partition=self.partition,
                                time_min=self.time_min or time_min, cpus=self.cpus, mem_gb=self.mem_gb,
                                gpus=self.gpus, wait=self.wait, runs_per_task=self.runs_per_task)
        executor.check()
        return executor


def from_args(args) -> Execution:
    devices = getattr(args, "devices", None)
    if devices:
        try:
            devices = tuple(int(d) for d in str(devices).split(",") if d.strip())
        except ValueError:
            raise BadInput(f"--devices: expected GPU indices like 0 or 0,1, not {args.devices!r}") from None
    return Execution(executor=getattr(args, "executor", "local"), jobs=getattr(args, "jobs", 1),
                     accelerator=getattr(args, "accelerator", "cpu"), devices=devices or None,
                     partition=getattr(args, "partition", None), time_min=getattr(args, "time_min", None),
                     cpus=getattr(args, "cpus_per_task", None), mem_gb=getattr(args, "mem_gb", None),
                     gpus=getattr(args, "gpus", 0) or 0, wait=not getattr(args, "no_wait", False),
                     runs_per_task=getattr(args, "runs_per_task", 1),
                     deadline=parse_deadline(getattr(args, "deadline", None)))


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?")


def parse_deadline(text: str | None, now: float | None = None) -> float | None:
    """--deadline as epoch seconds: a clock time `HH:MM` (local; its next occurrence) or a duration
    from now, `90m`, `2h`, `1h30m` (a bare number is minutes)."""
    if text is None:
        return None
    now = time.time() if now is None else now
    value = str(text).strip()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if clock:
        hour, minute = int(clock[1]), int(clock[2])
        if hour > 23 or minute > 59:
            raise BadInput(f"--deadline: {text!r} is not a time of day (HH:MM, 00:00 to 23:59)")
        start = datetime.fromtimestamp(now)
        at = start.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return (at if at > start else at + timedelta(days=1)).timestamp()
    if value.isdigit():
        value += "m"
    span = _DURATION.fullmatch(value)
    if not span or not (span[1] or span[2]):
        raise BadInput(f"--deadline: expected a time of day (HH:MM) or a duration from now (90m, 2h, 1h30m), "
                       f"not {text!r}")
    return now + 3600 * int(span[1] or 0) + 60 * int(span[2] or 0)


def check_out(out: Path) -> None:
    """`--out` must be a folder this process can write (created when missing)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out: {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BadInput(f"--out: cannot write to {out} ({exc.strerror or exc})") from None


def add_options(p) -> None:
    """The execution options of `reproduce`, `train` and `evaluate`."""
    from .executors import available

    g = p.add_argument_group("execution")
    g.add_argument("--jobs", type=int, default=1, help="runs at once (local: processes; slurm: array tasks at once)")
    g.add_argument("--executor", default="local", help=f"where runs execute: {' | '.join(available())} (default local)")
    g.add_argument("--accelerator", default="cpu", help="cpu (default: bit-identical) | gpu | auto")
    g.add_argument("--devices", help="GPU indices to spread runs over, one per run (e.g. 0,1; default: the first)")
    g.add_argument("--partition", help="slurm: partition")
    g.add_argument("--time-min", type=int, help="slurm: time limit per run in minutes (default: 3x the estimate + 5)")
    g.add_argument("--cpus-per-task", type=int, help="slurm: CPUs per task (default: --threads)")
    g.add_argument("--mem-gb", type=float, help="slurm: memory per task in GB (default: the cluster's)")
    g.add_argument("--gpus", type=int, default=0, help="slurm: GPUs per task")
    g.add_argument("--runs-per-task", type=int, default=1,
                   help="slurm: runs one after another in each array task (spreads start-up cost)")
    g.add_argument("--no-wait", action="store_true", help="slurm: submit and return; a later reproduce builds the tables")
    g.add_argument("--deadline", help="start no run that would end after this (HH:MM, or 90m, 2h, 1h30m from now): "
                                      "a run starts only while its --plan estimate x1.25 fits before it; the runs "
                                      "left are named, and the same command goes on with them later")
