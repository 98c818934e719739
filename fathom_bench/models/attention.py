"""Attention blocks of FATHOM (Chen et al., IJCNN 2020), one set of weights per task, batched over tasks.

- `TaskFeatureAttention`: the task-specific attention over the D input features (paper Eqs. 4-6;
  the authors' `attention_dim`).
- `GlobalTemporalAttention`: the global temporal attention over the T steps of a window, computed
  by every task from the representation shared by all tasks (paper Eqs. 8-9; the authors'
  `attention_3d_block`).
- `SharedTaskDense`: K dense layers that all read the same input vector, as one matmul.

Per-task dense layers run as one batched matmul (`TaskLinear`'s bmm, or one mm when the input is
shared); `tests/test_fathom.py` holds each equal to a loop over tasks with the same weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import TaskLinear


class SharedTaskDense(nn.Module):
    """K dense layers over one shared input, in one matmul: `[B, F] -> [K, B, out]`.

    Task k computes `x @ weight[:, k] + bias[k]`: a Keras `Dense(out)` of its own (glorot-uniform
    kernel with fan-in F and fan-out `out`, zero bias). The weight is stored `[F, K, out]` so that
    `weight.view(F, K * out)` is one matrix without a copy; broadcasting the input to K tasks and
    running `TaskLinear` instead would copy the input K times for the same result.
    """

    def __init__(self, tasks: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.tasks, self.in_features, self.out_features = tasks, in_features, out_features
        self.weight = nn.Parameter(torch.empty(in_features, tasks, out_features))
        self.bias = nn.Parameter(torch.zeros(tasks, out_features)) if bias else None
        bound = math.sqrt(6.0 / (in_features + out_features))
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[B, F]` -> `[K, B, out]`."""
        w = self.weight.view(self.in_features, self.tasks * self.out_features)
        out = x @ w if self.bias is None else torch.addmm(self.bias.view(-1), x, w)
        return out.view(x.shape[0], self.tasks, self.out_features).transpose(0, 1)


class TaskFeatureAttention(nn.Module):
    """Task-specific attention over the features, per task k (`[K, B, T, D]` in):

        a = softmax_D(x W_k)                    W_k: D x D, no bias        (Eqs. 4-5)
        code  (`attention_dim`):  out = tanh((x * a) V_k)   V_k: D x `out_features`, no bias
        paper (Eq. 6):            out = tanh(x * a)         (`out_features=None`; D columns)

    Returns `(out [K, B, T, out], a [K, B, T, D])`; `a` sums to one over D at every step.
    """

    def __init__(self, tasks: int, features: int, out_features: int | None = 128):
        super().__init__()
        self.score = TaskLinear(tasks, features, features, bias=False)
        self.project = TaskLinear(tasks, features, out_features, bias=False) if out_features else None
        self.out_features = out_features or features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(self.score(x), dim=-1)
        context = x * weights
        out = self.project(context) if self.project is not None else context
        return torch.tanh(out), weights


class GlobalTemporalAttention(nn.Module):
    """Global temporal attention: per task k, `a_k = softmax_T(tanh(f U_k + c_k))`, `[B, F] -> [K, B, T]`.

    `f` is the flattened representation shared by all tasks (every step of every task's first-LSTM
    output in the authors' code; the last hidden states h_T of all tasks in the paper's Eq. 8).
    Each task has its own `Dense(T, tanh)` over `f` (a `SharedTaskDense`); the weights sum to one
    over the T steps and scale that task's raw input window (Eq. 10), done by the caller.
    """

    def __init__(self, tasks: int, in_features: int, steps: int):
        super().__init__()
        self.score = SharedTaskDense(tasks, in_features, steps)

    def forward(self, shared: torch.Tensor) -> torch.Tensor:
        return torch.softmax(torch.tanh(self.score(shared)), dim=-1)
