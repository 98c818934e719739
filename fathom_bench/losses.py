"""Losses, chosen by task type and protocol, or named by a method's script settings (script_settings);
methods never pick their own.

All take `out [K, B, M]` (logits for classification; for regression scaled values, or logits
when the output is Dense(M, sigmoid) as in the authors' regression scripts), `y [K, B, M]` and
`mask [K, B, M]` (bool) and return a scalar: each task's loss (mean over its windows), then the
mean over tasks (the paper's E_r = 1/K sum_k L_k) or, as Keras does with K outputs, their sum.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F

from .errors import BadInput
from .problem import ProblemSpec

KERAS_EPS = 1e-7


LOGIT_CLIP = math.log((1.0 - KERAS_EPS) / KERAS_EPS)  # Keras clips probabilities to [eps, 1 - eps]
TASK_REDUCTIONS = ("mean", "sum")


def _masked_mean(values: torch.Tensor, weights: torch.Tensor, task_reduction: str = "mean") -> torch.Tensor:
    """Per task mean over its weighted entries, then the mean (or sum) over tasks that have any."""
    w = weights.to(values.dtype)
    dims = tuple(range(1, values.dim()))
    per_task = (values * w).sum(dims) / w.sum(dims).clamp_min(1.0)
    has = w.sum(dims) > 0
    if not has.any():
        return values.sum() * 0.0
    return per_task[has].sum() if task_reduction == "sum" else per_task[has].mean()


def masked_mae(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, task_reduction: str = "mean",
               sigmoid_output: bool = False) -> torch.Tensor:
    """Eq. 2: mean absolute error over the known targets (Keras' `mae`: mean over targets, then windows)."""
    pred = torch.sigmoid(out) if sigmoid_output else out
    return _masked_mean((pred - y).abs(), mask, task_reduction)


def keras_bce(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, task_reduction: str = "mean") -> torch.Tensor:
    """Keras' `binary_crossentropy` on sigmoid outputs (`out` are the logits): probabilities clipped to
    [1e-7, 1 - 1e-7], the mean over the M outputs per window, then over windows. The authors' single-task
    scripts use it for labels and, on MinMax-scaled targets in [0, 1], for regression too."""
    logits = out.clamp(-LOGIT_CLIP, LOGIT_CLIP)
    return _masked_mean(F.binary_cross_entropy_with_logits(logits, y, reduction="none"), mask, task_reduction)


def bce_smoothed(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, alpha: float = 0.3,
                 task_reduction: str = "mean") -> torch.Tensor:
    """`corrected` classification loss: per-label binary cross-entropy, targets smoothed towards 0.5
    by `alpha` (Eq. 1's smoothing towards the uniform distribution, per label), unknown labels masked."""
    target = (1.0 - alpha) * y + alpha * 0.5
    return _masked_mean(F.binary_cross_entropy_with_logits(out, target, reduction="none"), mask, task_reduction)


def eq1_as_coded(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, alpha: float = 0.3,
                 task_reduction: str = "mean") -> torch.Tensor:
    """`paper` classification loss, Eq. 1 as the authors coded it (`mycrossentropy`):
    (1 - a) * CCE(y, p) + a * CCE(1/M, p), where Keras' categorical cross-entropy renormalises the
    sigmoid outputs p to sum to one over the M labels and clips them to [1e-7, 1 - 1e-7]."""
    p = torch.sigmoid(out)
    p = p / p.sum(-1, keepdim=True)
    logp = p.clamp(KERAS_EPS, 1.0 - KERAS_EPS).log()
    m = out.shape[-1]
    ce_labels = -(y * mask * logp).sum(-1)
    ce_uniform = -(logp / m).sum(-1)
    per_window = (1.0 - alpha) * ce_labels + alpha * ce_uniform  # [K, B]
    return _masked_mean(per_window, mask.any(-1), task_reduction)


def loss_for(problem: ProblemSpec, alpha: float = 0.3, loss: str | None = None, task_reduction: str = "mean",
             sigmoid_output: bool = False) -> Callable:
    """The loss named by the method's script settings (`eq1`, `cce` = Eq. 1 with alpha 0 = Keras'
    `categorical_crossentropy`, `bce`, `mae`, `bce_smoothed`), else the protocol's default for the task type."""
    if loss is None:
        loss = "mae" if problem.task_type == "regression" else (
            "eq1" if problem.classification_loss == "eq1_as_coded" else "bce_smoothed")
    if loss == "mae":
        return partial(masked_mae, task_reduction=task_reduction, sigmoid_output=sigmoid_output)
    if loss == "bce":
        return partial(keras_bce, task_reduction=task_reduction)
    if loss in ("eq1", "cce"):
        return partial(eq1_as_coded, alpha=alpha if loss == "eq1" else 0.0, task_reduction=task_reduction)
    if loss == "bce_smoothed":
        return partial(bce_smoothed, alpha=alpha, task_reduction=task_reduction)
    raise BadInput(f"loss: unknown {loss!r}; choose one of mae, bce, eq1, cce, bce_smoothed")
