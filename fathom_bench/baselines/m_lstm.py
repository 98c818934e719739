"""M-LSTM: per-task LSTM(64), concatenated over tasks, a shared Dense(576), per-task heads.

Paper: introduced as a baseline by FATHOM itself (Chen, Ning, Chai, Rangwala, "Federated
Multi-task Learning with Hierarchical Attention for Sensor Data Analytics", IJCNN 2020): "a
multi-task model with the first hidden layer of MLP(16,16) replaced by one LSTM layer".
Link: https://doi.org/10.1109/IJCNN48605.2020.9207508
Authors' code (YuChenZh/FATHOM_IJCNN): `mobile_sensor/M_LSTM.py`, `weather/M_LSTM.py`,
`FitRec/M_LSTM.py`.

Published Table III row (ExtraSensory F1 is unreliable: `mobile_sensor/M_LSTM.py` adds precision
into its F1 accumulator):
    ExtraSensory  Pr 0.45  Re 0.62  F1 0.52  BA 0.77
    Air Quality   mae 10.39  smape 0.66
    FitRec        mae HRate 7.0  Speed 6.93   smape HRate 0.35  Speed 0.29

Per task: the LSTM (input dropout 0.2; 0.3 in the ExtraSensory script), the Dense(128, relu) and
the output layer. Shared: one Dense(576, relu) over the concatenation of all K last hidden states,
so each task's prediction depends on every task's window. 576 is kept whatever K is (it equals
9 x 64, the Air Quality concatenation width, but the scripts use 576 for 30 and 40 tasks too).
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.base import BenchModule
from ..models.layers import TaskLinear, TaskLSTM, dense


class SharedHead(nn.Module):
    """`[K, B, H]` per-task features -> concatenate over tasks -> shared Dense(shared, relu)
    -> per-task Dense(per_task, relu) -> per-task Dense(M): `[K, B, M]`. Used by M-LSTM and CRNN."""

    def __init__(self, tasks: int, in_features: int, targets: int, shared: int = 576, per_task: int = 128):
        super().__init__()
        self.shared = dense(tasks * in_features, shared)
        self.task = TaskLinear(tasks, shared, per_task)
        self.out = TaskLinear(tasks, per_task, targets)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: `[K, B, H]` -> `[K, B, M]`."""
        k, b, _ = h.shape
        z = torch.relu(self.shared(h.permute(1, 0, 2).reshape(b, -1)))  # [B, shared], seen by every task
        z = torch.relu(self.task(z.expand(k, b, -1)))  # [K, B, per_task]
        return self.out(z)


class MLSTM(BenchModule):
    def __init__(self, problem, hidden: int = 64, dropout: float = 0.2, shared_units: int = 576,
                 task_units: int = 128, **kwargs):
        super().__init__(problem, **kwargs)
        p = self.problem
        self.lstm = TaskLSTM(p.num_tasks, p.input_dim, hidden, dropout=dropout)
        self.head = SharedHead(p.num_tasks, hidden, p.num_targets, shared_units, task_units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, D]` -> per-task last hidden state `[K, B, 64]` -> `[K, B, M]`."""
        return self.head(self.lstm(x))
