"""S-LSTM: one LSTM(64) model per task, nothing shared (the single-task counterpart of M-LSTM).

Paper: introduced as a baseline by FATHOM itself (Chen, Ning, Chai, Rangwala, IJCNN 2020): "a
single task learning model with a single LSTM layer as a comparison with the LR approach".
Link: https://doi.org/10.1109/IJCNN48605.2020.9207508
Authors' code (YuChenZh/FATHOM_IJCNN): `mobile_sensor/LSTM_singleTask.py`,
`weather/LSTM_singleTask.py`, `FitRec/LSTM_singleTask.py` (one Keras model per task, trained
separately: LSTM(64) -> Dense(64) -> sigmoid output).

Published Table III row:
    ExtraSensory  Pr 0.79  Re 0.71  F1 0.74  BA 0.84
    Air Quality   mae 9.11  smape 0.52
    FitRec        mae HRate 13.51  Speed 12.96   smape HRate 0.58  Speed 0.58

All K models are trained in one module (the loss is the mean of the per-task losses, so each
task's gradient is its own loss's, scaled by 1/K); no weight and no input is shared across tasks.
"""

from __future__ import annotations

import torch

from ..models.base import BenchModule
from ..models.layers import TaskLinear, TaskLSTM


class SLSTM(BenchModule):
    def __init__(self, problem, hidden: int = 64, dense_units: int = 64, dropout: float = 0.2, **kwargs):
        super().__init__(problem, **kwargs)
        p = self.problem
        self.lstm = TaskLSTM(p.num_tasks, p.input_dim, hidden, dropout=dropout)
        self.dense = TaskLinear(p.num_tasks, hidden, dense_units)
        self.out = TaskLinear(p.num_tasks, dense_units, p.num_targets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, D]` -> last hidden state `[K, B, 64]` -> Dense(64, relu) -> `[K, B, M]`."""
        return self.out(torch.relu(self.dense(self.lstm(x))))
