"""One run as a unit of work: what every executor hands to a process, a thread or a SLURM task.

`execute(task)` trains the run and writes its record atomically (temporary file, then rename) into
`--out`, so a task killed at any point leaves either no record or a whole one, and the grid's
resume trains exactly the runs without a valid record. It returns a small `Outcome`; the record
on disk is the result. Importable without torch (torch is imported when a task runs).
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ...errors import BadInput


@dataclass(frozen=True)
class RunTask:
    run: object  # a RunSpec (kept untyped so this module imports no torch)
    path: Path
    out: Path
    data_dir: str | None = None
    wandb_mode: str = "disabled"
    table: str = "table3"
    save_predictions: bool = False
    #: GPU index for a GPU run (None: the first visible one)
    device: int | None = None
    save_attention: bool = False
    #: how the run trains (picklable; None: `train_one`; `--federated` passes its own)
    train: object = None
    #: epoch seconds after which this run does not start (--deadline less its estimate; None: any time)
    start_by: float | None = None


@dataclass(frozen=True)
class Outcome:
    key: str
    #: "ok" | "failed" | "lost" (no record: killed by the scheduler, retried next time) | "deferred"
    #: (not started: it would have ended after --deadline; the next invocation trains it)
    status: str
    error: str | None = None
    peak_rss_mb: float | None = None
    extra: dict = field(default_factory=dict)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / (1024 if sys.platform != "darwin" else 1024 * 1024), 1)


def base_fields(run, table: str) -> dict:
    return {
        "dataset": run.dataset.name,
        "method": run.method.key,
        "method_name": run.method.name,
        "in_paper": run.method.in_paper,
        "seed": run.seed,
        "protocol": run.protocol.name,
        "quick": run.trainer.quick,
        "budget": "quick" if run.trainer.quick else run.trainer.budget,
        "table": table,
        "config": run.config(),
        "config_hash": run.config_hash(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def execute(task: RunTask) -> Outcome:
    """Train one run, write its record; a failing method is recorded as failed, bad input raises.
    Past the task's `start_by` nothing trains and nothing is written: the outcome is "deferred"."""
    if task.start_by is not None and time.time() > task.start_by:
        return Outcome(task.run.key, "deferred", "would end after --deadline")
    from ...records import checkpoint_path, write_record
    from .. import train as train_mod  # looked up at call time: tests substitute train_one
    from .. import tracking
    from ..spec import versions

    # the commit this process loaded (cached per process), read when its first task starts rather
    # than when a trainer (train_one, the federated one) fills in the record at the end: a record
    # must never name a commit made while it trained
    versions()

    run = task.run
    fields = base_fields(run, task.table)
    logger = tracking.run_logger(task.wandb_mode, task.out, name=run.key, group=f"{task.table}-{run.dataset.name}",
                                 job_type=run.method.key, config=fields["config"])
    # `train_one` saves its fit mid-way beside the record and resumes from it (a custom trainer does not)
    checkpoint = {} if task.train else {"checkpoint": checkpoint_path(task.path)}
    try:
        train = task.train or train_mod.train_one
        result = train(run, data_dir=task.data_dir, logger=logger,
                       save_predictions=task.path.with_suffix(".npz") if task.save_predictions else None,
                       save_attention=task.path.with_suffix(".attention.npz") if task.save_attention else None,
                       device=task.device, **checkpoint)
    except (BadInput, KeyboardInterrupt, SystemExit) as exc:
        if logger is not None:
            logger.experiment.finish(exit_code=1)
        if isinstance(exc, SystemExit):  # Lightning ends a fit on Ctrl-C or SIGTERM by exiting: an interruption
            raise KeyboardInterrupt(f"the fit of {run.key} was interrupted") from exc
        raise
    except Exception as exc:  # the grid goes on; the record says why
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        result = {"status": "failed", "error": reason, "metrics": {}, "traceback": traceback.format_exc(limit=8)}
    tracking.finish(logger, result.get("metrics", {}).get("test", {}), failed=result["status"] != "ok")
    rss = max(peak_rss_mb(), result.get("peak_rss_mb") or 0.0)  # a resumed fit's: of the processes before this one too
    write_record(task.path, {**fields, **result, "peak_rss_mb": rss})
    if checkpoint:  # the record holds the run now; a failed run starts again from epoch 0
        checkpoint["checkpoint"].unlink(missing_ok=True)
    return Outcome(run.key, result["status"], result.get("error"), rss)


def execute_all(tasks: list[RunTask]) -> list[Outcome]:
    """Several runs in one process, one after another (each record written as it finishes)."""
    return [execute(task) for task in tasks]


def recorded(task: RunTask) -> Outcome | None:
    """The outcome a task's record on disk tells (None when there is no valid record of this run)."""
    from ...records import read_record

    try:
        rec = read_record(task.path) if task.path.is_file() else None
    except BadInput:
        return None
    if rec is None or rec.get("config_hash") != task.run.config_hash():
        return None
    return Outcome(task.run.key, rec["status"], rec.get("error"), rec.get("peak_rss_mb"))


def pin_threads(threads: int) -> None:
    """Process initializer: the run's thread count for OpenMP/MKL before torch is imported."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def start_worker(threads: int, poll_seconds: float = 1.0) -> None:
    """Process-pool initializer: the run's thread count, and an exit once the grid that started
    this worker is gone. A grid killed outright runs no handler, and its workers would otherwise go
    on to their queued runs with no one to collect them; checkpoints and records are written
    atomically, so exiting at any point loses only what was trained since the last checkpoint."""
    pin_threads(threads)
    parent = os.getppid()

    def exit_when_orphaned():
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=exit_when_orphaned, name="exit-when-orphaned", daemon=True).start()
