"""Per-task building blocks shared by FATHOM and the baselines.

Every layer here holds one set of weights per task and maps `[K, B, ..., in]` to
`[K, B, ..., out]`. Dense layers batch the K tasks in one einsum; LSTMs have two forms (a loop
over per-task fused `nn.LSTM`s, or one LSTM over stacked task weights), chosen per device.
Nothing here creates a tensor on a fixed device: every layer runs wherever its input lies.
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
    """K per-task LSTMs: `[K, B, T, in] -> [K, B, T, H]` or `[K, B, H]`, in one of two forms.

    - `loop`: one fused `nn.LSTM` per task, run in a loop (on this CPU, oneDNN's fused kernel
      measured an order of magnitude faster than the alternative; see README, "Speed");
    - `batched`: one LSTM over the K tasks' stacked weights (a `bmm` per time step), fewer,
      larger kernels: what a GPU tends to prefer.
    Both compute the same function from the same parameters (tested). On the CPU the form is
    always `loop`, so CPU results stay bit-identical; on any other device it is chosen once per
    shape by timing both (`choose_lstm_form`). Keras' LSTMs in the authors' code use
    `activation='relu'` and recurrent dropout; the fused torch LSTM has tanh and no recurrent
    dropout. We keep tanh and apply `dropout` to the inputs, as Keras' `dropout=` does.
    """

    def __init__(self, tasks: int, in_features: int, hidden: int, dropout: float = 0.0,
                 return_sequences: bool = False, form: str | None = None):
        super().__init__()
        self.lstms = nn.ModuleList(nn.LSTM(in_features, hidden, batch_first=True) for _ in range(tasks))
        self.dropout = nn.Dropout(dropout)
        self.return_sequences = return_sequences
        self.form = form  # None: "loop" on the CPU, measured elsewhere

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, in]` -> `[K, B, T, H]` (return_sequences) or the last step `[K, B, H]`."""
        x = self.dropout(x)
        if self.form is None:
            self.form = "loop" if x.device.type == "cpu" else choose_lstm_form(self, x)
        return self.forward_batched(x) if self.form == "batched" else self.forward_loop(x)

    def forward_loop(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        # unbind, not x[k]: the backward of K selects would zero-fill and add K full-size gradients
        for lstm, xk in zip(self.lstms, x.unbind(0)):
            seq, (h, _) = lstm(xk)
            outs.append(seq if self.return_sequences else h[-1])
        return torch.stack(outs)

    def forward_batched(self, x: torch.Tensor) -> torch.Tensor:
        k, b, t, _ = x.shape
        w_ih = torch.stack([m.weight_ih_l0 for m in self.lstms])  # [K, 4H, in]
        w_hh = torch.stack([m.weight_hh_l0 for m in self.lstms])  # [K, 4H, H]
        bias = torch.stack([m.bias_ih_l0 + m.bias_hh_l0 for m in self.lstms])  # [K, 4H]
        hidden = w_hh.shape[-1]
        gates_x = torch.bmm(x.reshape(k, b * t, -1), w_ih.transpose(1, 2)).reshape(k, b, t, -1) + bias[:, None, None]
        h = x.new_zeros(k, b, hidden)
        c = x.new_zeros(k, b, hidden)
        seq = []
        for step in range(t):
            gates = gates_x[:, :, step] + torch.bmm(h, w_hh.transpose(1, 2))
            i, f, g, o = gates.chunk(4, dim=-1)  # torch's gate order
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            seq.append(h)
        return torch.stack(seq, dim=2) if self.return_sequences else h


_FORMS: dict[tuple, str] = {}


def choose_lstm_form(layer: TaskLSTM, x: torch.Tensor, repeats: int = 3) -> str:
    """The faster form for `layer` on `x`'s device and shape (forward + input backward, best of
    `repeats`), measured once per (device, shape) in a process. Consumes no random numbers."""
    import time

    key = (str(x.device), tuple(x.shape), layer.lstms[0].hidden_size, layer.return_sequences)
    if key not in _FORMS:
        probe = torch.zeros_like(x, requires_grad=True)

        def timed(fn) -> float:
            best = float("inf")
            for _ in range(repeats + 1):  # the first call warms up
                if x.device.type == "cuda":
                    torch.cuda.synchronize(x.device)
                started = time.perf_counter()
                torch.autograd.grad(fn(probe).sum(), probe)
                if x.device.type == "cuda":
                    torch.cuda.synchronize(x.device)
                best = min(best, time.perf_counter() - started)
            return best

        _FORMS[key] = min(("loop", "batched"), key=lambda f: timed(getattr(layer, f"forward_{f}")))
    return _FORMS[key]


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
