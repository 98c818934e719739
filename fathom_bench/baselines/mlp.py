"""MLP(16,16): a multi-task multilayer perceptron with two hidden layers of 16 units.

Paper: Vaizman, Weibel, Lanckriet, "Context Recognition In-the-Wild: Unified Model for Multi-Modal
Sensors and Multi-Label Classification", Proc. ACM IMWUT 1(4):168, 2018 (FATHOM's reference [9]).
Link: https://doi.org/10.1145/3161192
Authors' code (YuChenZh/FATHOM_IJCNN): `weather/M_MLP.py`, `FitRec/M_MLP.py` (multi-task);
`mobile_sensor/MLP_singleTask.py` (the ExtraSensory folder has only the single-task script).

Published Table III row:
    ExtraSensory  Pr 0.55  Re 0.61  F1 0.58  BA 0.76
    Air Quality   mae 10.83  smape 0.65
    FitRec        mae HRate 7.98  Speed 8.88   smape HRate 0.37  Speed 0.41

What is shared, as `M_MLP.py` builds it: the first Dense16 (relu, applied at every time step) is
per task and reads that task's input; the K outputs are concatenated at every step; each task's
second Dense16 (relu, per step) reads that concatenation, so every task sees every other task's
first-layer features (the paper's M-LSTM is "MLP(16,16) with the first hidden layer replaced by
an LSTM", which has the same per-task-first, cross-task-second shape). Then flatten over time,
dropout 0.2 (from `MLP_singleTask.py`; the multi-task scripts have none) and a per-task output
layer. `cross_task: false` gives the single-task script instead (second layer on own features).
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.base import BenchModule
from ..models.layers import TaskLinear


class MLP(BenchModule):
    def __init__(self, problem, hidden: tuple[int, int] | list[int] = (16, 16), dropout: float = 0.2,
                 cross_task: bool = True, **kwargs):
        super().__init__(problem, **kwargs)
        p = self.problem
        k, h1, h2 = p.num_tasks, int(hidden[0]), int(hidden[1])
        self.cross_task = cross_task
        self.first = TaskLinear(k, p.input_dim, h1)  # per task, per time step
        self.second = TaskLinear(k, k * h1 if cross_task else h1, h2)  # per task, per time step
        self.dropout = nn.Dropout(dropout)
        self.out = TaskLinear(k, p.window * h2, p.num_targets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, D]` -> `[K, B, M]`."""
        k, b, t, _ = x.shape
        h = torch.relu(self.first(x))  # [K, B, T, h1]
        if self.cross_task:  # every task's features at each step: [B, T, K * h1], one copy per task
            h = h.permute(1, 2, 0, 3).reshape(b, t, -1).expand(k, b, t, -1)
        h = torch.relu(self.second(h))  # [K, B, T, h2]
        return self.out(self.dropout(h.reshape(k, b, -1)))  # flatten over time -> [K, B, M]
