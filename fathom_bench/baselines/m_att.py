"""M-Att: per-task CNN, a temporal attention computed from all tasks' CNN features, per-task LSTM.

Paper: Chen, Rangwala, "Attention-based Multi-task Learning for Sensor Analytics", IEEE BigData
2019, pp. 2187-2196 (FATHOM's reference [32]).
Link: https://openreview.net/forum?id=7Z6tqa8O3d
Authors' code: YuChenZh/M-Att, `mobile_sensor/M-Att.py`.

Published Table III row:
    ExtraSensory  Pr 0.69  Re 0.72  F1 0.70  BA 0.83
    Air Quality   mae 8.30  smape 0.46
    FitRec        mae HRate 4.62  Speed 4.71   smape HRate 0.30  Speed 0.32

Per task: Conv1D(128 filters, kernel 8, relu, 'valid': T' = T - 7, so 13 steps for T=20 and 3 for
T=10; 'same' when T < 8), the attention's Dense(T', tanh), the LSTM(72) and the output layer.
Shared: the attention's input, Flatten(concatenation over tasks of every task's CNN output), so
each task's temporal weights depend on all tasks. softmax over the T' steps, then the weights
scale that task's CNN output at every step. The authors' LSTM(72) has no dropout (`dropout: 0`).

The K per-task Dense(T', tanh) layers all read the same flattened vector, so they are stored as
one `nn.Linear(T' * K * 128, K * T')` (identical to K separate layers, one matmul instead of K
copies of the input); each task's block is initialised as its own Keras Dense would be.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..models.base import BenchModule
from ..models.layers import TaskConv1d, TaskLinear, TaskLSTM


class MAtt(BenchModule):
    def __init__(self, problem, filters: int = 128, kernel_size: int = 8, hidden: int = 72,
                 dropout: float = 0.0, **kwargs):
        super().__init__(problem, **kwargs)
        p = self.problem
        k = p.num_tasks
        self.conv = TaskConv1d(k, p.input_dim, filters, kernel_size, padding="valid")
        self.steps = self.conv.out_length(p.window)  # T'
        flat = self.steps * k * filters
        self.attend = nn.Linear(flat, k * self.steps)  # K per-task Dense(T') over the shared vector
        bound = math.sqrt(6.0 / (flat + self.steps))
        nn.init.uniform_(self.attend.weight, -bound, bound)
        nn.init.zeros_(self.attend.bias)
        self.lstm = TaskLSTM(k, filters, hidden, dropout=dropout)
        self.out = TaskLinear(k, hidden, p.num_targets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, D]` -> CNN `[K, B, T', 128]` -> weighted by attention `[K, B, T']`
        -> LSTM `[K, B, 72]` -> `[K, B, M]`. Stores `self.attention["temporal"]` `[K, B, T']`."""
        h = torch.relu(self.conv(x))
        k, b, t, _ = h.shape
        shared = h.permute(1, 2, 0, 3).reshape(b, -1)  # Flatten(concatenate over tasks): [B, T' * K * 128]
        scores = torch.tanh(self.attend(shared)).reshape(b, k, t).transpose(0, 1)  # [K, B, T']
        weights = torch.softmax(scores, dim=-1)
        self.attention["temporal"] = weights.detach()
        return self.out(self.lstm(h * weights.unsqueeze(-1)))
