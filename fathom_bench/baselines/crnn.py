"""CRNN: per-task Conv1D(128, kernel 3) -> MaxPool(3) -> LSTM(64), then the M-LSTM shared head.

Paper: Cirstea, Micu, Muresan, Guo, Yang, "Correlated Time Series Forecasting using Deep Neural
Networks: A Summary of Results", arXiv:1808.09794, 2018 (FATHOM's reference [11]).
Link: https://arxiv.org/abs/1808.09794
Authors' code (YuChenZh/FATHOM_IJCNN): `mobile_sensor/CNN_RNN.py`, `weather/CRNN.py`,
`FitRec/CRNN.py`.

Published Table III row:
    ExtraSensory  Pr 0.43  Re 0.68  F1 0.54  BA 0.78
    Air Quality   mae 10.43  smape 0.64
    FitRec        mae HRate 9.05  Speed 9.38   smape HRate 0.35  Speed 0.35

Per task: the convolution (relu), the pooling and the LSTM (input dropout 0.2; 0.3 in the
ExtraSensory script); then `m_lstm.SharedHead`: concatenation of the K last hidden states, a
shared Dense(576, relu), per-task Dense(128, relu) and output layers. This is the ExtraSensory
script's architecture (`CNN_RNN.py`); `weather/CRNN.py` differs: it concatenates the pooled
convolution outputs of all tasks and runs a per-task LSTM(64) -> Dense(64) over that, without the
Dense(576).

Short windows: the convolution is 'valid' (Keras' default; T=20 -> 18 steps, T=10 -> 8) and the
pooling floors (Keras' default: 18 -> 6, 8 -> 2). Where that would leave no step, the convolution
falls back to 'same' padding (T < kernel) and the pool window shrinks to the convolution's
output length, so the LSTM always gets at least one step.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.base import BenchModule
from ..models.layers import TaskConv1d, TaskLSTM
from .m_lstm import SharedHead


class CRNN(BenchModule):
    def __init__(self, problem, filters: int = 128, kernel_size: int = 3, pool: int = 3, hidden: int = 64,
                 dropout: float = 0.2, shared_units: int = 576, task_units: int = 128, **kwargs):
        super().__init__(problem, **kwargs)
        p = self.problem
        self.conv = TaskConv1d(p.num_tasks, p.input_dim, filters, kernel_size, padding="valid")
        self.pool = nn.MaxPool1d(min(pool, self.conv.out_length(p.window)))
        self.lstm = TaskLSTM(p.num_tasks, filters, hidden, dropout=dropout)
        self.head = SharedHead(p.num_tasks, hidden, p.num_targets, shared_units, task_units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, D]` -> conv `[K, B, T', 128]` -> pool `[K, B, T'', 128]` -> LSTM `[K, B, 64]`
        -> `[K, B, M]` (T' = T - 2, T'' = floor(T' / 3) with the defaults)."""
        h = torch.relu(self.conv(x))
        k, b, t, c = h.shape
        h = self.pool(h.reshape(k * b, t, c).transpose(1, 2)).transpose(1, 2)  # pool over time
        return self.head(self.lstm(h.reshape(k, b, -1, c)))
