"""Losses, chosen by task type and protocol; methods never pick their own.

All take `out [K, B, M]` (logits for classification, scaled values for regression), `y [K, B, M]`
and `mask [K, B, M]` (bool) and return a scalar: the mean over tasks of each task's loss, the
paper's E_r = 1/K sum_k L_k.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F

from .problem import ProblemSpec

KERAS_EPS = 1e-7


def _masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per task mean over its weighted entries, then the mean over tasks that have any."""
    w = weights.to(values.dtype)
    dims = tuple(range(1, values.dim()))
    per_task = (values * w).sum(dims) / w.sum(dims).clamp_min(1.0)
    has = w.sum(dims) > 0
    return per_task[has].mean() if has.any() else values.sum() * 0.0


def masked_mae(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 2: mean absolute error over the known targets."""
    return _masked_mean((out - y).abs(), mask)


def bce_smoothed(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, alpha: float = 0.3) -> torch.Tensor:
    """`corrected` classification loss: per-label binary cross-entropy, targets smoothed towards 0.5
    by `alpha` (Eq. 1's smoothing towards the uniform distribution, per label), unknown labels masked."""
    target = (1.0 - alpha) * y + alpha * 0.5
    return _masked_mean(F.binary_cross_entropy_with_logits(out, target, reduction="none"), mask)


def eq1_as_coded(out: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, alpha: float = 0.3) -> torch.Tensor:
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
    return _masked_mean(per_window, mask.any(-1))


def loss_for(problem: ProblemSpec, alpha: float = 0.3) -> Callable:
    if problem.task_type == "regression":
        return masked_mae
    if problem.classification_loss == "eq1_as_coded":
        return partial(eq1_as_coded, alpha=alpha)
    return partial(bce_smoothed, alpha=alpha)
