"""Benchmark metrics: a torchmetrics class that gathers test outputs, and functional twins.

Inputs are whole-part tensors `[K, N, M]` (tasks, windows, targets) with a bool mask; regression
values are in original units (after inverse scaling), classification values are probabilities.

Classification (threshold: probability > 0.5, as the authors' `np.rint`):
- `macro` (corrected): per task, per label with at least one positive among the task's unmasked
  windows: precision, recall and F1, macro mean over those labels, then mean over the tasks that
  have one (`labels_left_out`: task-labels without a positive). Balanced accuracy (TPR + TNR) / 2
  only per label where both classes occur among the task's unmasked windows (a label without
  negatives would score TNR = 0/0 = 0, capping BA at 0.5), macro mean over those labels, then
  mean over the tasks that have one (`ba_labels_left_out`: task-labels with one class only). So
  chance scores 0.5 and perfect 1.0. A 0/0 precision counts 0.
- `pooled` (paper, the authors' evaluation): per task, TP/FP/TN/FN pooled over all labels and
  windows, P/R/F1/BA from those counts, then the unweighted mean over tasks.
Regression: per task and target MAE and SMAPE = mean(2|a - p| / (|a| + |p|)) (range 0..2, a zero
denominator counts 0); per target the mean over tasks; `mae` and `smape` average the targets.
Under `paper`, `as_coded/...` adds the authors' numbers, SMAPE with the dataset's as-coded
denominator (a + p in weather/helper_funcs.py, |a| + |p| in FitRec/helper_funcs.py):
`as_coded/smape@all` is `evaluation()`'s SMAPE over every test window and target of a task, then
the mean over tasks (Table III's Air Quality SMAPE, `avg_Smape`); `as_coded/mae@row{i}` and
`as_coded/smape@row{i}` are `evaluation_single(..., i)`: the error over all targets of test window
i, averaged over tasks, rows 0..5, and their mean `@rows0-5`.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from .problem import ProblemSpec

AS_CODED_ROWS = 6


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return torch.where(den > 0, num / den.clamp_min(1e-12), torch.zeros_like(num))


def _scores_from_counts(tp, fp, tn, fn) -> dict[str, torch.Tensor]:
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "ba": (recall + _ratio(tn, tn + fp)) / 2,
    }


def classification_scores(probs: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                          average: str = "macro", threshold: float = 0.5,
                          task_names: tuple[str, ...] | None = None) -> dict:
    """P, R, F1, BA averaged over tasks (see module docstring for `macro` and `pooled`)."""
    pred = probs > threshold
    truth = y > 0.5
    m = mask.bool()
    tp = (pred & truth & m).sum(1).double()  # [K, M]
    fp = (pred & ~truth & m).sum(1).double()
    fn = (~pred & truth & m).sum(1).double()
    tn = (~pred & ~truth & m).sum(1).double()
    names = task_names or tuple(f"task{k}" for k in range(probs.shape[0]))
    per_task, left_out, ba_left_out = {}, 0, 0
    keys = ("precision", "recall", "f1", "ba")
    for k, name in enumerate(names):
        if average == "pooled":
            s = _scores_from_counts(tp[k].sum(), fp[k].sum(), tn[k].sum(), fn[k].sum())
            per_task[name] = {key: float(s[key]) for key in keys}
            continue
        s = _scores_from_counts(tp[k], fp[k], tn[k], fn[k])
        positive = (tp[k] + fn[k]) > 0
        both = positive & ((tn[k] + fp[k]) > 0)
        left_out += int((~positive).sum())
        ba_left_out += int((~both).sum())
        task = {key: float(s[key][positive].mean()) for key in keys[:3] if positive.any()}
        if both.any():
            task["ba"] = float(s["ba"][both].mean())
        if task:
            per_task[name] = task
    out: dict = {}
    for key in keys:
        scored = [v[key] for v in per_task.values() if key in v]
        out[key] = float(sum(scored) / len(scored)) if scored else float("nan")  # nothing to score
    out["per_task"] = per_task
    if average == "macro":
        out["labels_left_out"] = left_out
        out["tasks_scored"] = sum("f1" in v for v in per_task.values())
        out["ba_labels_left_out"] = ba_left_out
        out["ba_tasks_scored"] = sum("ba" in v for v in per_task.values())
    return out


def smape(actual: torch.Tensor, predicted: torch.Tensor, absolute: bool = True) -> torch.Tensor:
    """Elementwise 2|a - p| / (|a| + |p|) (or / (a + p) as the weather code), 0 where the denominator is 0."""
    den = actual.abs() + predicted.abs() if absolute else actual + predicted
    return torch.where(den != 0, 2 * (actual - predicted).abs() / torch.where(den != 0, den, 1.0), 0.0)


def regression_scores(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                      target_names: tuple[str, ...], task_names: tuple[str, ...] | None = None,
                      as_coded: bool | str = False) -> dict:
    """MAE and SMAPE per target and averaged, in the units of `pred` and `y` (original units).
    `as_coded`: False, or the authors' SMAPE denominator ("signed" a + p, "absolute" |a| + |p|)."""
    pred, y = pred.double(), y.double()
    w = mask.double()
    n = w.sum(1)  # [K, M]
    mae_km = _ratio(((pred - y).abs() * w).sum(1), n)
    smape_km = _ratio((smape(y, pred) * w).sum(1), n)
    scored = n > 0
    names = task_names or tuple(f"task{k}" for k in range(pred.shape[0]))
    out: dict = {}
    for j, t in enumerate(target_names):
        out[f"mae/{t}"] = float(mae_km[scored[:, j], j].mean()) if scored[:, j].any() else float("nan")
        out[f"smape/{t}"] = float(smape_km[scored[:, j], j].mean()) if scored[:, j].any() else float("nan")
    out["mae"] = sum(out[f"mae/{t}"] for t in target_names) / len(target_names)
    out["smape"] = sum(out[f"smape/{t}"] for t in target_names) / len(target_names)
    out["per_task"] = {
        name: {**{f"mae/{t}": float(mae_km[k, j]) for j, t in enumerate(target_names)},
               **{f"smape/{t}": float(smape_km[k, j]) for j, t in enumerate(target_names)}}
        for k, name in enumerate(names)
    }
    if as_coded:
        absolute = as_coded == "absolute"
        out.update(row_indexed_scores(pred, y, absolute=absolute))
        out["as_coded/smape@all"] = all_windows_smape(pred, y, mask, absolute=absolute)
    return out


def all_windows_smape(pred: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, absolute: bool = False) -> float:
    """The authors' `evaluation()` SMAPE: per task the mean over every test window and target, then the
    mean over tasks (`avg_Smape`). Padding positions (mask) are left out; under `paper` nothing else is masked."""
    w = mask.double()
    per_task = (smape(y, pred, absolute=absolute) * w).sum((1, 2)) / w.sum((1, 2)).clamp_min(1.0)
    return float(per_task[w.sum((1, 2)) > 0].mean())


def row_indexed_scores(pred: torch.Tensor, y: torch.Tensor, rows: int = AS_CODED_ROWS, absolute: bool = False) -> dict:
    """The authors' `evaluation_single(..., i)`: MAE and SMAPE (denominator a + p, or |a| + |p|) over all
    targets of test window i, averaged over tasks, for i < rows; plus their mean over the rows."""
    out: dict = {}
    rows = min(rows, pred.shape[1])
    for i in range(rows):
        out[f"as_coded/mae@row{i}"] = float((pred[:, i] - y[:, i]).abs().mean(-1).mean())
        out[f"as_coded/smape@row{i}"] = float(smape(y[:, i], pred[:, i], absolute=absolute).mean(-1).mean())
    out[f"as_coded/mae@rows0-{rows - 1}"] = sum(out[f"as_coded/mae@row{i}"] for i in range(rows)) / rows
    out[f"as_coded/smape@rows0-{rows - 1}"] = sum(out[f"as_coded/smape@row{i}"] for i in range(rows)) / rows
    return out


class NonFinitePrediction(FloatingPointError):
    """A NaN or infinite prediction: the run fails with this reason (never scored as a negative)."""


def check_finite(problem: ProblemSpec, values: torch.Tensor) -> None:
    """Raise `NonFinitePrediction` naming how many predictions are NaN/inf and the first one's place."""
    bad = ~torch.isfinite(values)
    if bad.any():
        k, i, m = (int(v) for v in bad.nonzero()[0])
        task = problem.task_names[k] if k < len(problem.task_names) else f"task{k}"
        target = problem.target_names[m] if m < len(problem.target_names) else f"target{m}"
        raise NonFinitePrediction(
            f"{int(bad.sum())} of {values.numel()} predictions are NaN or infinite "
            f"(first: task {task}, window {i}, target {target}); the run is not scored")


def scores_for(problem: ProblemSpec, values: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> dict:
    """The benchmark's metrics for `problem`; `values` are probabilities or original-unit predictions.
    A NaN or infinite value anywhere raises `NonFinitePrediction`."""
    check_finite(problem, values)
    if problem.is_classification:
        return classification_scores(values, y, mask, problem.classification_average, task_names=problem.task_names)
    return regression_scores(values, y, mask, problem.target_names, problem.task_names,
                             as_coded=problem.as_coded_smape if problem.protocol == "paper" else False)


class BenchScores(Metric):
    """Gathers `[K, B, M]` batches along the window axis; `compute()` gives `scores_for(...)`."""

    full_state_update = False

    def __init__(self, problem: ProblemSpec):
        super().__init__()
        self.problem = problem
        self.add_state("values", default=[], dist_reduce_fx="cat")
        self.add_state("target", default=[], dist_reduce_fx="cat")
        self.add_state("mask", default=[], dist_reduce_fx="cat")

    def update(self, values: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        self.values.append(values.detach())
        self.target.append(target.detach())
        self.mask.append(mask.detach())

    def gathered(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`[K, N, M]` values, targets and mask over every batch seen so far."""
        return torch.cat(self.values, 1), torch.cat(self.target, 1), torch.cat(self.mask, 1)

    def compute(self) -> dict:
        return scores_for(self.problem, *self.gathered())
