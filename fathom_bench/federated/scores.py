"""Benchmark metrics from per-task parts: each node scores its own tasks, the central node averages.

Every benchmark metric is a mean over tasks of a per-task quantity (see `metrics.py`), so a node
sends its tasks' scores (a few numbers per task, never predictions or targets) and
`combine_scores` gives what `metrics.scores_for` gives on all tasks at once
(tests/test_federated.py holds them equal on random inputs).
"""

from __future__ import annotations

import math

import torch

from ..metrics import AS_CODED_ROWS, classification_scores, regression_scores, smape
from ..problem import ProblemSpec


def task_scores(problem: ProblemSpec, names: list[str], values: torch.Tensor, y: torch.Tensor,
                mask: torch.Tensor) -> dict:
    """One node's part: `values`, `y`, `mask` `[k, N, M]` of its tasks `names` (original units)."""
    if problem.is_classification:
        r = classification_scores(values, y, mask, problem.classification_average, task_names=tuple(names))
        return {"per_task": r["per_task"], "labels_left_out": r.get("labels_left_out", 0),
                "ba_labels_left_out": r.get("ba_labels_left_out", 0)}
    r = regression_scores(values, y, mask, problem.target_names, tuple(names))
    part = {"per_task": r["per_task"], "scored": (mask.sum(1) > 0).tolist()}
    if problem.protocol == "paper":
        pred, truth = values.double(), y.double()
        rows = min(AS_CODED_ROWS, pred.shape[1])
        sm = smape(truth, pred, absolute=problem.as_coded_smape == "absolute")  # the dataset's as-coded denominator
        part["rows_mae"] = [(pred[:, i] - truth[:, i]).abs().mean(-1).tolist() for i in range(rows)]
        part["rows_smape"] = [sm[:, i].mean(-1).tolist() for i in range(rows)]
        w = mask.double()  # `all_windows_smape` per task (None: a task with no window to score)
        n = w.sum((1, 2))
        part["all_smape"] = [float(v) if c > 0 else None for v, c in zip((sm * w).sum((1, 2)) / n.clamp_min(1.0), n)]
    return part


def combine_scores(problem: ProblemSpec, parts: list[dict]) -> dict:
    """`scores_for` over all tasks from the nodes' parts (in task order)."""
    per_task: dict = {}
    for part in parts:
        per_task.update(part["per_task"])
    if problem.is_classification:
        out: dict = {}
        for key in ("precision", "recall", "f1", "ba"):  # as classification_scores: over tasks that score the key
            scored = [v[key] for v in per_task.values() if key in v]
            out[key] = float(sum(scored) / len(scored)) if scored else math.nan
        out["per_task"] = per_task
        if problem.classification_average == "macro":
            out["labels_left_out"] = sum(int(p["labels_left_out"]) for p in parts)
            out["tasks_scored"] = sum("f1" in v for v in per_task.values())
            out["ba_labels_left_out"] = sum(int(p["ba_labels_left_out"]) for p in parts)
            out["ba_tasks_scored"] = sum("ba" in v for v in per_task.values())
        return out
    scored = [row for part in parts for row in part["scored"]]
    names = list(per_task)
    out = {}
    for j, t in enumerate(problem.target_names):
        for metric in ("mae", "smape"):
            vals = [per_task[n][f"{metric}/{t}"] for k, n in enumerate(names) if scored[k][j]]
            out[f"{metric}/{t}"] = float(torch.tensor(vals, dtype=torch.float64).mean()) if vals else math.nan
    out["mae"] = sum(out[f"mae/{t}"] for t in problem.target_names) / len(problem.target_names)
    out["smape"] = sum(out[f"smape/{t}"] for t in problem.target_names) / len(problem.target_names)
    out["per_task"] = per_task
    if problem.protocol == "paper":
        rows = len(parts[0]["rows_mae"])
        for i in range(rows):
            out[f"as_coded/mae@row{i}"] = float(torch.tensor([v for p in parts for v in p["rows_mae"][i]],
                                                             dtype=torch.float64).mean())
            out[f"as_coded/smape@row{i}"] = float(torch.tensor([v for p in parts for v in p["rows_smape"][i]],
                                                               dtype=torch.float64).mean())
        out[f"as_coded/mae@rows0-{rows - 1}"] = sum(out[f"as_coded/mae@row{i}"] for i in range(rows)) / rows
        out[f"as_coded/smape@rows0-{rows - 1}"] = sum(out[f"as_coded/smape@row{i}"] for i in range(rows)) / rows
        scored_all = [v for p in parts for v in p["all_smape"] if v is not None]
        out["as_coded/smape@all"] = float(torch.tensor(scored_all, dtype=torch.float64).mean())
    return out
