"""The grid of runs (datasets x methods x seeds x protocols): plan, resume, train, record.

Each finished run writes one record atomically; re-running the same command skips runs whose
valid record has the same config hash, so a crash or Ctrl-C loses at most the run in progress.
A run that fails (non-finite loss, an exception in the method) is recorded as failed with the
reason and retried on the next invocation; the grid goes on. Bad input (a missing data file, a
bad option) stops the grid with one line; records already written stay.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..datasets.spec import load_dataset_spec
from ..errors import BadInput
from ..methods import discover_methods, get_method
from ..protocol import get_protocol
from ..records import CHECKPOINT_SUFFIX, checkpoint_path, read_record, record_path
from .spec import DEFAULT_MAX_EPOCHS, DEFAULT_PATIENCE, RunSpec, TrainerSettings


@dataclass
class GridReport:
    planned: int = 0
    skipped: int = 0
    trained: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: largest peak RSS (MiB) of a process that ran one of this grid's runs
    peak_rss_mb: float = 0.0
    #: runs handed to a scheduler without waiting for them (--no-wait)
    submitted: int = 0
    #: runs not started because they would have ended after --deadline (trained by the next invocation)
    deferred: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """What the commands print after a grid: runs trained, reused, failed and not started."""
        return (f"{self.trained} runs trained, {self.skipped} reused, {len(self.failed)} failed, "
                f"{len(self.deferred)} not started (--deadline)")


def plan(datasets: list[str], methods: list[str], seeds: list[int], protocols: list[str],
         max_epochs: int | dict | None = None, patience: int | dict | None = None,
         limit_train_batches: int | None = None, limit_val_batches: int | None = None, quick: bool = False,
         threads: int = 1, hparam_overrides: dict | None = None, accelerator: str = "cpu",
         budget: str | None = None) -> list[RunSpec]:
    """Every RunSpec of the grid (a protocol only on the datasets it `runs_on`); names are validated
    here, before anything trains. `max_epochs`
    and `patience`: one for every dataset or {dataset: value}; `budget`: the budget's name, a label
    recorded with each run (default: "quick" with `quick`, "custom" with `max_epochs`, else "full")."""
    label = budget or ("quick" if quick else "custom" if max_epochs else "full")
    known = discover_methods()
    method_specs = [get_method(m, known) for m in methods]
    dataset_specs = [load_dataset_spec(d) for d in datasets]
    protos = [get_protocol(p) for p in protocols]
    runs = []
    for proto in protos:
        for ds in dataset_specs:
            if not proto.runs_on(ds.task_type):  # forecast on classification is corrected: no runs of its own
                continue
            epochs = max_epochs.get(ds.name) if isinstance(max_epochs, dict) else max_epochs
            wait = patience.get(ds.name) if isinstance(patience, dict) else patience
            for m in method_specs:
                trainer = _trainer_settings(m.settings(proto.name, ds.name), ds.name, epochs, wait, quick=quick,
                                            budget=label,
                                            threads=threads, accelerator=accelerator,
                                            limit_train_batches=limit_train_batches,
                                            limit_val_batches=limit_val_batches)
                for seed in seeds:
                    runs.append(RunSpec(ds, m, int(seed), proto, trainer, dict(hparam_overrides or {})))
    return runs


def script_budget(method, protocol: str, dataset: str) -> tuple[int, int]:
    """(max epochs, patience) the method's script runs with under `protocol` (the full budget)."""
    t = _trainer_settings(method.settings(protocol, dataset), dataset, None, None, budget="full")
    return t.max_epochs, t.patience


def _trainer_settings(script: dict, dataset: str, max_epochs: int | None, patience: int | None,
                      **fixed) -> TrainerSettings:
    """The budget of one run: --max-epochs (or the quick budget) first, then the method's script
    settings for this protocol and dataset (script_settings), then the defaults."""
    epochs = int(max_epochs or script.get("max_epochs") or DEFAULT_MAX_EPOCHS.get(dataset, 100))
    wait = int(patience or script.get("patience") or DEFAULT_PATIENCE)
    if fixed.get("budget") == "standard":  # a cap: never more epochs or patience than the script's own
        epochs = min(epochs, int(script.get("max_epochs") or epochs))
        wait = min(wait, int(script.get("patience") or wait))
    return TrainerSettings(max_epochs=epochs, patience=wait,
                           batch_size=script.get("batch_size"), shuffle=bool(script.get("shuffle", True)),
                           early_stopping_on=script.get("early_stopping_on", "val"),
                           inputs=script.get("inputs", "window"), **fixed)


def record_state(path: Path, config_hash: str) -> str:
    """'done' (valid ok record of this config), 'stale', 'failed' or 'missing'."""
    if not path.is_file():
        return "missing"
    try:
        rec = read_record(path)
    except BadInput:
        return "stale"
    if rec.get("config_hash") != config_hash:
        return "stale"
    return "done" if rec["status"] == "ok" else "failed"


def pending(runs: list[RunSpec], out: Path, save_attention: bool = False) -> tuple[list[tuple[RunSpec, Path]], int]:
    """The runs without a valid record of their config (to train) and how many are already done
    (with `save_attention`, a run whose attention file is missing is trained again)."""
    todo, done = [], 0
    for run in runs:
        path = record_path(out, run.protocol.name, run.dataset.name, run.method.key, run.seed)
        wants_attention = save_attention and not path.with_suffix(".attention.npz").is_file()
        if record_state(path, run.config_hash()) == "done" and not wants_attention:
            done += 1
        else:
            todo.append((run, path))
    return todo, done


def run_grid(runs: list[RunSpec], out: Path, data_dir=None, wandb_mode: str = "disabled", table: str = "table3",
             save_predictions: bool = False, progress: bool = True, log=print, executor=None,
             devices: list[int] | None = None, save_attention: bool = False, train=None,
             deadline: float | None = None) -> GridReport:
    """Train every run without a valid record on `executor` (default: this process, one at a time),
    with one progress bar for the grid (runs done, failed, left, ETA). GPU runs are spread over
    `devices` (GPU indices), one device per run. `train`: how one run trains (default `train_one`;
    `--federated` passes its own). `deadline` (epoch seconds): a run starts only while its `--plan`
    estimate x `schedule.DEADLINE_MARGIN` fits before it, so no run is cut off by a time-limited session or
    allocation; the others are reported deferred, with no record, for the same command to go on."""
    from tqdm.auto import tqdm

    from .executors import get_executor
    from .executors.task import RunTask

    out = Path(out)
    executor = executor or get_executor("local")
    executor.check()
    report = GridReport(planned=len(runs))
    started = time.perf_counter()
    todo, report.skipped = pending(runs, out, save_attention)
    if report.skipped:
        log(f"resuming: {report.skipped} of {len(runs)} runs already recorded under {out / 'runs'}")
    mid_fit = sum(checkpoint_path(path).is_file() for _, path in todo)
    if mid_fit:
        log(f"resuming: {mid_fit} run(s) go on from a mid-fit checkpoint (*{CHECKPOINT_SUFFIX})")
    start_by = {}
    if deadline is not None:
        from .cost import estimate
        from .schedule import start_by as latest_start

        start_by = {c.key: latest_start(c, deadline) for c in estimate([run for run, _ in todo], out, data_dir)}
    tasks = [RunTask(run, path, out, data_dir=data_dir, wandb_mode=wandb_mode, table=table,
                     save_predictions=save_predictions, device=devices[i % len(devices)] if devices else None,
                     save_attention=save_attention, train=train, start_by=start_by.get(run.key))
             for i, (run, path) in enumerate(todo)]
    bar = tqdm(total=len(runs), initial=report.skipped, desc="grid", unit="run", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    outcomes = executor.run(tasks)
    try:
        for outcome in outcomes:
            if outcome.status == "ok":
                report.trained += 1
            elif outcome.status == "failed":
                report.trained += 1
                report.failed.append(f"{outcome.key}: {outcome.error}")
                log(f"run failed (recorded, retried next time): {outcome.key}: {outcome.error}")
            elif outcome.status == "deferred":
                report.deferred.append(outcome.key)
            else:  # lost: no record (killed by the scheduler or the OS); the next invocation retries it
                report.failed.append(f"{outcome.key}: no record ({outcome.error}); run the same command to retry")
            if outcome.peak_rss_mb:
                report.peak_rss_mb = max(report.peak_rss_mb, outcome.peak_rss_mb)
            bar.update(1)
            bar.set_postfix_str(f"failed={len(report.failed)}", refresh=True)
        report.submitted = getattr(executor, "submitted", 0)
    finally:
        # closed explicitly: an interruption between two outcomes reaches the executor (which
        # stops its workers) now, not when the last reference to the generator goes
        getattr(outcomes, "close", lambda: None)()
        bar.close()
        report.seconds = time.perf_counter() - started
    if report.deferred:
        from .schedule import clock

        log(f"{len(report.deferred)} run(s) not started: by their estimate they would have ended after "
            f"--deadline {clock(deadline)}; run the same command to go on with them")
    return report
