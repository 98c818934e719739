"""The budget study's report and the standard budget it supports (no torch).

Each study record (`runner/budget_study.py`: seed 0, the scripts' full budget, early stopping on
the validation loss) holds every epoch's validation loss and metrics (`history`). Training is
deterministic and nothing in it depends on the epoch budget, so a run with fewer epochs or less
patience follows the same path and stops earlier: `simulate` replays early stopping (Lightning's
rule: stop after `patience` epochs without a strictly lower validation loss) and best-weight
restoring on the history, exactly; a test holds the replay of the full budget equal to what each
record says it did. The standard budget of a dataset is the cheapest candidate (max epochs,
patience) under which every method's validation metric is within the table's tolerance of its
full-budget value, on every protocol studied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from pathlib import Path

from .datasets.spec import load_dataset_spec
from .records import iter_runs

#: protocols of the study (each on the datasets it `runs_on`: `forecast` on regression only)
STUDY_PROTOCOLS = ("corrected", "forecast")

#: the epochs at which the report shows each method's validation metric
CHECKPOINTS = (5, 10, 20, 50)
#: each task type's headline validation metric and its direction
HEADLINE = {"classification": ("ba", True), "regression": ("mae", False)}


class Replay(NamedTuple):
    best_epoch: int  # 0-based epoch whose weights are tested
    epochs_run: int  # epochs trained
    seconds: float  # training seconds up to the stop
    metric: float  # the headline validation metric at best_epoch


def simulate(history: list[dict], max_epochs: int, patience: int, metric: str) -> Replay:
    """Early stopping on `val_loss` with `patience`, at most `max_epochs`, replayed on `history`."""
    best, best_epoch, wait, last = float("inf"), 0, 0, 0
    for row in history[:max_epochs]:
        last = row["epoch"]
        if row["val_loss"] < best:
            best, best_epoch, wait = row["val_loss"], row["epoch"], 0
        else:
            wait += 1
            if wait >= patience:
                break
    at = {row["epoch"]: row for row in history}
    value = at[best_epoch][metric if metric == "val_loss" else f"val/{metric}"]
    return Replay(best_epoch, last + 1, at[last]["seconds"], value)


def worse_by(value: float, full: float, higher_is_better: bool) -> float:
    """How much worse `value` is than `full`, relative to |full| (0 when not worse)."""
    diff = (full - value) if higher_is_better else (value - full)
    return max(0.0, diff) / abs(full) if full else max(0.0, diff)


@dataclass
class StudyRun:
    protocol: str
    dataset: str
    method: str
    method_name: str
    record: dict

    @property
    def history(self) -> list[dict]:
        return self.record.get("history") or []

    def full_budget(self) -> tuple[int, int]:
        trainer = self.record["config"]["trainer"]
        return int(trainer["max_epochs"]), int(trainer["patience"])


def study_runs(records: Path) -> list[StudyRun]:
    runs = []
    for run in iter_runs(records):
        rec = run.record
        if rec["status"] == "ok" and rec.get("history"):
            runs.append(StudyRun(rec["protocol"], rec["dataset"], rec["method"], rec.get("method_name", rec["method"]),
                                 rec))
    return sorted(runs, key=lambda r: (r.dataset, r.protocol, r.method))


def choose_standard(runs: list[StudyRun], rule: dict) -> dict | None:
    """The cheapest (max_epochs, patience) of `rule`'s candidates keeping every run within
    `rule["tolerance"]` of its full-budget metric; None when no candidate does."""
    if not runs:
        return None
    metric, higher = HEADLINE[load_dataset_spec(runs[0].dataset).task_type]
    full = {id(r): simulate(r.history, *r.full_budget(), metric) for r in runs}
    full_cost = sum(f.seconds for f in full.values())
    best = None
    for epochs in rule["max_epochs"]:
        for patience in rule["patience"]:
            if any(epochs > r.full_budget()[0] or patience > r.full_budget()[1] for r in runs):
                continue
            replays = {id(r): simulate(r.history, epochs, patience, metric) for r in runs}
            worst = max(worse_by(replays[id(r)].metric, full[id(r)].metric, higher) for r in runs)
            if worst > rule["tolerance"]:
                continue
            cost = sum(p.seconds for p in replays.values())
            key = (cost, epochs, patience)
            if best is None or key < best[0]:
                best = (key, {"max_epochs": epochs, "patience": patience, "worst": worst,
                              "cost_ratio": cost / full_cost if full_cost else 1.0,
                              "seconds": cost, "full_seconds": full_cost})
    return best[1] if best else None


def study_rows(runs: list[StudyRun], standard: dict) -> list[dict]:
    """One row per study run: the full-budget replay, the metric at the checkpoints and under the
    dataset's standard budget (where chosen)."""
    rows = []
    for r in runs:
        metric, higher = HEADLINE[load_dataset_spec(r.dataset).task_type]
        max_epochs, patience = r.full_budget()
        full = simulate(r.history, max_epochs, patience, metric)
        row = {"protocol": r.protocol, "dataset": r.dataset, "method": r.method, "method_name": r.method_name,
               "metric": metric, "full_max_epochs": max_epochs, "full_patience": patience,
               "epochs_run": full.epochs_run, "best_epoch": full.best_epoch + 1,
               "train_seconds": round(float(r.record["train_seconds"]), 1), "full_metric": full.metric}
        values = [(row[f"val/{metric}"], row["epoch"]) for row in r.history]
        peak = (max if higher else min)(values, key=lambda v: v[0])
        row.update(peak_metric=peak[0], peak_epoch=peak[1] + 1)
        for n in CHECKPOINTS:
            row[f"metric_at_{n}"] = simulate(r.history, n, patience, metric).metric if n <= max_epochs else None
        std = standard.get(r.dataset)
        if std:
            s = simulate(r.history, std["max_epochs"], std["patience"], metric)
            row.update(standard_metric=s.metric, standard_epochs=s.epochs_run, standard_seconds=round(s.seconds, 1),
                       standard_worse_by=worse_by(s.metric, full.metric, higher))
        rows.append(row)
    return rows
