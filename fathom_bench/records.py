"""Run records: the interface between training and everything downstream.

One JSON file per finished run at `<out>/runs/<protocol>/<dataset>/<method>/seed=<n>.json`
(predictions, when asked, beside it as `seed=<n>.npz`). Written atomically (temporary file, then
rename); validated on read with one clear line naming the file. Nothing here imports torch.

Schema 1, the keys:
    schema: 1
    status: "ok" | "failed"           error: null | "why it failed"
    dataset, method (config key), method_name (display), seed (int), protocol, quick (bool)
    config: the resolved config (dataset spec, method hparams, trainer settings, seed)
    config_hash: 16 hex digits of `config`
    versions: {fathom_bench, git_commit, python, torch, lightning, numpy, ...}
    metrics: {"test": {...}, "val": {...}}   scalar metrics plus "per_task": {task: {...}}
    epochs_run, best_epoch (0-based index of the lowest validation loss), train_seconds,
    history: one row per trained epoch: epoch, seconds (since fit began), train_loss, val_loss and
    every scalar validation metric as "val/<name>" (absent for methods with nothing to train),
    budget: "quick" | "standard" | "full" | "custom" (a label; what it means is in config.trainer),
    num_parameters, windows: {part: [n per task]}, torch_threads
    in_paper (bool): the method is a row of the paper's Table III
    created: ISO-8601 UTC time
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .documents import read_document
from .errors import BadInput

SCHEMA = 1
REQUIRED = ("schema", "status", "dataset", "method", "seed", "protocol", "config_hash", "metrics")


#: fields that say when and how fast a run went, not what it computed
VOLATILE = ("created", "train_seconds", "peak_rss_mb")


def computed_fields(record: dict) -> dict:
    """A record without its volatile fields (VOLATILE, and each history row's `seconds`): what two
    runs of the same config on the same CPU agree on bit for bit."""
    out = {k: v for k, v in record.items() if k not in VOLATILE}
    if out.get("history"):
        out["history"] = [{k: v for k, v in row.items() if k != "seconds"} for row in out["history"]]
    return out


def trainer_of(rec: dict) -> dict:
    """A record's trainer settings (`config.trainer`: max_epochs, patience, ...), {} when it has none."""
    return (rec.get("config") or {}).get("trainer") or {}


def at_cap(rec: dict) -> bool:
    """A run that trained until its max epochs: early stopping never fired, so its validation loss
    had improved within the last `patience` epochs when the budget ended it."""
    cap = trainer_of(rec).get("max_epochs")
    return bool(cap and rec.get("epochs_run") and rec["epochs_run"] >= cap)


def record_budget(rec: dict) -> str:
    """A record's training budget: its `budget` label, else (older records) quick or full."""
    return rec.get("budget") or ("quick" if rec.get("quick") else "full")


#: a run's mid-fit state beside its record (`runner/resume.py`), removed once the record is written
CHECKPOINT_SUFFIX = ".partial.ckpt"


def checkpoint_path(record: Path) -> Path:
    """Where the run whose record is at `record` keeps its mid-fit state."""
    return Path(record).with_suffix(CHECKPOINT_SUFFIX)


def record_path(out: Path, protocol: str, dataset: str, method: str, seed: int, suffix: str = ".json") -> Path:
    return Path(out) / "runs" / protocol / dataset / method / f"seed={seed}{suffix}"


def _clean(obj):
    """JSON-safe: NaN/inf become null, tuples lists, numpy scalars floats."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (ValueError, TypeError):
            return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def write_atomic(path: Path, text: str | bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(text, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(path: Path, record: dict) -> None:
    record = {"schema": SCHEMA, **record}
    write_atomic(path, json.dumps(_clean(record), indent=1, sort_keys=True) + "\n")


def validate(record: dict, where: str) -> dict:
    if not isinstance(record, dict):
        raise BadInput(f"{where}: a run record must be a JSON object")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise BadInput(f"{where}: run record lacks {', '.join(missing)}")
    if record["schema"] != SCHEMA:
        raise BadInput(f"{where}: run record schema {record['schema']!r}, this version reads {SCHEMA}")
    if record["status"] not in ("ok", "failed"):
        raise BadInput(f"{where}: status must be 'ok' or 'failed', not {record['status']!r}")
    if not isinstance(record["metrics"], dict):
        raise BadInput(f"{where}: `metrics` must be an object")
    return record


def read_record(path: Path) -> dict:
    return validate(read_document(path, "run record"), str(path))


@dataclass(frozen=True)
class Run:
    """A validated record and where it lies."""

    path: Path
    record: dict

    @property
    def ok(self) -> bool:
        return self.record["status"] == "ok"

    def metric(self, name: str, part: str = "test") -> float | None:
        v = self.record["metrics"].get(part, {}).get(name)
        return float(v) if isinstance(v, (int, float)) else None


def iter_runs(out: Path, protocol: str | None = None) -> Iterator[Run]:
    """Every record under `<out>/runs` (optionally of one protocol), sorted by path."""
    root = Path(out) / "runs"
    if protocol:
        root = root / protocol
    if not root.is_dir():
        return
    for path in sorted(root.glob("**/seed=*.json")):
        yield Run(path, read_record(path))
