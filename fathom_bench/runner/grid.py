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
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..datasets.spec import load_dataset_spec
from ..errors import BadInput
from ..methods import discover_methods, get_method
from ..protocol import get_protocol
from ..records import read_record, record_path, write_record
from . import tracking
from .spec import DEFAULT_MAX_EPOCHS, DEFAULT_PATIENCE, RunSpec, TrainerSettings


@dataclass
class GridReport:
    planned: int = 0
    skipped: int = 0
    trained: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


def plan(datasets: list[str], methods: list[str], seeds: list[int], protocols: list[str],
         max_epochs: int | dict | None = None, patience: int | None = None,
         limit_train_batches: int | None = None, limit_val_batches: int | None = None, quick: bool = False,
         threads: int = 1, hparam_overrides: dict | None = None) -> list[RunSpec]:
    """Every RunSpec of the grid; names are validated here, before anything trains."""
    known = discover_methods()
    method_specs = [get_method(m, known) for m in methods]
    dataset_specs = [load_dataset_spec(d) for d in datasets]
    protos = [get_protocol(p) for p in protocols]
    runs = []
    for proto in protos:
        for ds in dataset_specs:
            if isinstance(max_epochs, dict):
                epochs = max_epochs.get(ds.name)
            else:
                epochs = max_epochs
            for m in method_specs:
                trainer = _trainer_settings(m.settings(proto.name, ds.name), ds.name, epochs, patience, quick=quick,
                                            threads=threads, limit_train_batches=limit_train_batches,
                                            limit_val_batches=limit_val_batches)
                for seed in seeds:
                    runs.append(RunSpec(ds, m, int(seed), proto, trainer, dict(hparam_overrides or {})))
    return runs


def _trainer_settings(script: dict, dataset: str, max_epochs: int | None, patience: int | None,
                      **fixed) -> TrainerSettings:
    """The budget of one run: --max-epochs (or the quick budget) first, then the method's script
    settings for this protocol and dataset (script_settings), then the defaults."""
    epochs = int(max_epochs or script.get("max_epochs") or DEFAULT_MAX_EPOCHS.get(dataset, 100))
    return TrainerSettings(max_epochs=epochs, patience=int(patience or script.get("patience") or DEFAULT_PATIENCE),
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


def _base_fields(run: RunSpec, table: str) -> dict:
    return {
        "dataset": run.dataset.name,
        "method": run.method.key,
        "method_name": run.method.name,
        "in_paper": run.method.in_paper,
        "seed": run.seed,
        "protocol": run.protocol.name,
        "quick": run.trainer.quick,
        "table": table,
        "config": run.config(),
        "config_hash": run.config_hash(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def run_grid(runs: list[RunSpec], out: Path, data_dir=None, wandb_mode: str = "disabled", table: str = "table3",
             save_predictions: bool = False, progress: bool = True, log=print) -> GridReport:
    from tqdm.auto import tqdm

    from .train import train_one

    out = Path(out)
    report = GridReport(planned=len(runs))
    started = time.perf_counter()
    todo = []
    for run in runs:
        path = record_path(out, run.protocol.name, run.dataset.name, run.method.key, run.seed)
        if record_state(path, run.config_hash()) == "done":
            report.skipped += 1
        else:
            todo.append((run, path))
    if report.skipped:
        log(f"resuming: {report.skipped} of {len(runs)} runs already recorded under {out / 'runs'}")
    bar = tqdm(total=len(runs), initial=report.skipped, desc="grid", unit="run", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    try:
        for run, path in todo:
            bar.set_postfix_str(run.key, refresh=True)
            fields = _base_fields(run, table)
            logger = tracking.run_logger(wandb_mode, out, name=run.key, group=f"{table}-{run.dataset.name}",
                                         job_type=run.method.key, config=fields["config"])
            try:
                result = train_one(run, data_dir=data_dir, logger=logger,
                                   save_predictions=path.with_suffix(".npz") if save_predictions else None)
            except (BadInput, KeyboardInterrupt):
                if logger is not None:
                    logger.experiment.finish(exit_code=1)
                raise
            except Exception as exc:  # the grid goes on; the record says why
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
                result = {"status": "failed", "error": reason, "metrics": {},
                          "traceback": traceback.format_exc(limit=8)}
                report.failed.append(f"{run.key}: {reason}")
                log(f"run failed (recorded, retried next time): {run.key}: {reason}")
            tracking.finish(logger, result.get("metrics", {}).get("test", {}), failed=result["status"] != "ok")
            write_record(path, {**fields, **result})
            report.trained += 1
            bar.update(1)
    finally:
        bar.close()
        report.seconds = time.perf_counter() - started
    return report
