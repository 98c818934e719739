"""Persistence: the sanity floor. Not in the paper; nothing to train.

Paper: none (a standard naive forecast). Authors' code: none.
Published Table III row: none; shown beneath Table III as the floor every method should beat.

- When the input holds the targets' own history (`problem.target_history_index` is not None: the
  `paper` protocol, and `forecast` on regression datasets), it repeats each target's last observed
  value, `x[:, :, -1, idx]`, which is in the same scaling as the targets.
- Otherwise it predicts, per task and target, the training mean (regression, scaled units) or the
  training label frequency thresholded at 0.5 (classification), from `problem.train_target_mean`.
Classification outputs are logits of +-`margin` (default 20), so the 0.5 threshold on the
sigmoid gives exactly that 0/1 decision. The method reads only the presence of target history,
never the protocol's name.
"""

from __future__ import annotations

import torch

from ..models.base import BenchModule


class Persistence(BenchModule):
    trainable = False

    def __init__(self, problem, margin: float = 20.0, **kwargs):
        super().__init__(problem, **kwargs)
        p = self.problem
        self.margin = float(margin)
        self.history = list(p.target_history_index) if p.target_history_index is not None else None
        mean = torch.tensor(p.train_target_mean or [[0.0] * p.num_targets] * p.num_tasks, dtype=torch.float32)
        self.register_buffer("train_mean", mean[:, None, :], persistent=False)  # [K, 1, M]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, D]` -> `[K, B, M]`: the last observed targets, or the per-task training means."""
        k, b = x.shape[:2]
        if self.history is not None:
            value = x[:, :, -1, self.history]
        else:
            value = self.train_mean.expand(k, b, -1)
        if self.problem.is_classification:
            return torch.where(value > 0.5, self.margin, -self.margin).to(x.dtype)
        return value.to(x.dtype).clone()
