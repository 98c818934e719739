"""LR: logistic regression (classification) or linear regression (regression), one model per task.

Paper: Vaizman, Ellis, Lanckriet, "Recognizing Detailed Human Context In-the-Wild from Smartphones
and Smartwatches", IEEE Pervasive Computing 16(4), 2017 (FATHOM's reference [10]).
Link: https://arxiv.org/abs/1609.06354
Authors' code (YuChenZh/FATHOM_IJCNN): `mobile_sensor/multilable_OVR_v2.py` (one-vs-rest logistic
regression on single rows, no window), `weather/multilable_OVR_v2.py`, `FitRec/LR.py`.

Published Table III row (the number to set a run beside):
    ExtraSensory  Pr 0.57  Re 0.60  F1 0.52  BA 0.72
    Air Quality   mae 30.13  smape 1.23
    FitRec        mae HRate 14.56  Speed 13.86   smape HRate 0.64  Speed 0.61

Single-task: task k has its own weights and reads only its own data (the paper: "there is no
parameter sharing among any tasks"). The model sees the last row of the window only, as the
authors' row-wise classifier did. One sigmoid (logistic) output per label is one-vs-rest for
multi-label data. Trained by gradient descent with the benchmark's loss and optimizer rather than
scikit-learn's solver; the base's L2 covers LSTM kernels only, so LR is unregularised here.
"""

from __future__ import annotations

import torch

from ..models.base import BenchModule
from ..models.layers import TaskLinear


class LR(BenchModule):
    """Per-task linear model on the window's last row: `TaskLinear(D -> M)`."""

    def __init__(self, problem, **kwargs):
        super().__init__(problem, **kwargs)
        p = self.problem
        self.linear = TaskLinear(p.num_tasks, p.input_dim, p.num_targets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, D]` -> logits / scaled values `[K, B, M]` from `x[:, :, -1]` (`[K, B, D]`)."""
        return self.linear(x[:, :, -1])
