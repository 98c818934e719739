"""Per-task building blocks shared by FATHOM and the baselines.

Every layer here holds one set of weights per task and maps `[K, B, ..., in]` to
`[K, B, ..., out]`. Dense layers batch the K tasks in one einsum; LSTMs loop over per-task
`nn.LSTM` modules, which on this CPU (fused oneDNN kernels) measured faster than one
batched-matmul LSTM over stacked task weights (see README, "Speed").
"""

from __future__ import annotations

import math

import torch
from torch import nn


class TaskLinear(nn.Module):
    """K independent dense layers in one einsum: `[K, ..., in] -> [K, ..., out]` (Keras' glorot init)."""

    def __init__(self, tasks: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(tasks, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(tasks, out_features)) if bias else None
        bound = math.sqrt(6.0 / (in_features + out_features))
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, ..., in]` -> `[K, ..., out]`."""
        k = x.shape[0]
        flat = x.reshape(k, -1, x.shape[-1])
        out = torch.bmm(flat, self.weight)
        if self.bias is not None:
            out = out + self.bias[:, None, :]
        return out.reshape(*x.shape[:-1], out.shape[-1])


class TaskLSTM(nn.Module):
    """One `nn.LSTM` per task, run in a loop: `[K, B, T, in] -> [K, B, T, H]` or `[K, B, H]`.

    Keras' LSTMs in the authors' code use `activation='relu'` and recurrent dropout; the fused
    torch LSTM has tanh and no recurrent dropout. We keep the fused kernel (an order of magnitude
    faster on CPU) and apply `dropout` to the inputs, as Keras' `dropout=` does.
    """

    def __init__(self, tasks: int, in_features: int, hidden: int, dropout: float = 0.0,
                 return_sequences: bool = False):
        super().__init__()
        self.lstms = nn.ModuleList(nn.LSTM(in_features, hidden, batch_first=True) for _ in range(tasks))
        self.dropout = nn.Dropout(dropout)
        self.return_sequences = return_sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, in]` -> `[K, B, T, H]` (return_sequences) or the last step `[K, B, H]`."""
        x = self.dropout(x)
        outs = []
        # unbind, not x[k]: the backward of K selects would zero-fill and add K full-size gradients
        for lstm, xk in zip(self.lstms, x.unbind(0)):
            seq, (h, _) = lstm(xk)
            outs.append(seq if self.return_sequences else h[-1])
        return torch.stack(outs)


def lstm_kernels(module: nn.Module) -> list[nn.Parameter]:
    """The input-kernel weights of every LSTM inside `module` (what Keras' kernel_regularizer covers)."""
    return [p for m in module.modules() if isinstance(m, nn.LSTM)
            for name, p in m.named_parameters() if name.startswith("weight_ih")]


class TaskConv1d(nn.Module):
    """K independent 1-D convolutions over time in one grouped conv: `[K, B, T, in] -> [K, B, T', out]`.

    `padding="valid"` (Keras' default: T' = T - kernel + 1) or `"same"` (T' = T); Keras' glorot
    init. With `valid` and a window shorter than the kernel, `"same"` is used instead, so T' >= 1.
    """

    def __init__(self, tasks: int, in_features: int, out_features: int, kernel_size: int,
                 padding: str = "valid", bias: bool = True):
        super().__init__()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', not {padding!r}")
        self.tasks, self.kernel_size, self.padding = tasks, kernel_size, padding
        self.conv = nn.Conv1d(tasks * in_features, tasks * out_features, kernel_size, groups=tasks, bias=bias)
        fan_in, fan_out = in_features * kernel_size, out_features * kernel_size
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        nn.init.uniform_(self.conv.weight, -bound, bound)
        if bias:
            nn.init.zeros_(self.conv.bias)

    def out_length(self, steps: int) -> int:
        """T' for a window of `steps`."""
        return steps - self.kernel_size + 1 if self.padding == "valid" and steps >= self.kernel_size else steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, in]` -> `[K, B, T', out]`."""
        k, b, t, d = x.shape
        h = x.permute(1, 0, 3, 2).reshape(b, k * d, t)  # tasks become channel groups
        if self.out_length(t) == t and self.kernel_size > 1:  # "same": pad so the output keeps T steps
            left = (self.kernel_size - 1) // 2
            h = nn.functional.pad(h, (left, self.kernel_size - 1 - left))
        out = self.conv(h)  # [B, K * out, T']
        return out.reshape(b, k, -1, out.shape[-1]).permute(1, 0, 3, 2)


def dense(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    """An `nn.Linear` with Keras' Dense initialisation (glorot uniform weights, zero bias)."""
    layer = nn.Linear(in_features, out_features, bias=bias)
    nn.init.xavier_uniform_(layer.weight)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer
