"""Transformer: a small Transformer encoder, the worked example of how to add a method.

Not in the paper (`in_paper: false` in its config), so it is ranked on the leaderboard but never
placed in Table III. Paper: Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
Link: https://arxiv.org/abs/1706.03762
Published Table III row: none.

Copy this file to start a new method. Everything a method must provide is here:

1. A subclass of `BenchModule` (fathom_bench/models/base.py). The base already has the loss,
   the metrics, the optimizer, the L2 penalty on LSTM kernels and the Lightning steps; they
   follow from the dataset's task type and the protocol, never from the method.
2. `__init__(self, problem, <your hyperparameters>, **kwargs)`: call `super().__init__(problem,
   **kwargs)` first (it turns a dict into a `ProblemSpec` and handles `lr`, `optimizer`, `l2`,
   `alpha`), then build layers from the sizes in `self.problem`. Your hyperparameters are the
   keys of `hparams:` in the method's YAML.
3. `forward(self, x)`: `x` is `[K, B, T, D]` (K tasks, B windows per task, T steps, D inputs),
   and you return `[K, B, M]`: logits for classification (no sigmoid: the base applies it),
   values in the scaled target units for regression (the base maps them back to original units).
4. Optional: attention weights in `self.attention[name]`, normalised on their last axis, for the
   analysis tools; `trainable = False` for a method with nothing to fit.

Multi-task layout used here: each task has its own input projection and output layer
(`TaskLinear`, K weight sets applied in one batched matmul), and one encoder is SHARED by all
tasks: the K tasks are folded into the batch axis so the same weights see every task's windows.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.base import BenchModule
from ..models.layers import TaskLinear


class Transformer(BenchModule):
    def __init__(self, problem, d_model: int = 64, heads: int = 4, layers: int = 2, feedforward: int = 128,
                 dropout: float = 0.2, pooling: str = "mean", **kwargs):
        # The base first: it sets self.problem, the loss, the metrics and the optimizer settings.
        super().__init__(problem, **kwargs)
        if pooling not in ("mean", "last"):
            raise ValueError(f"pooling must be 'mean' or 'last', not {pooling!r}")
        p = self.problem  # sizes: num_tasks (K), window (T), input_dim (D), num_targets (M)
        self.pooling = pooling

        # Per task: a linear map from the task's D inputs to d_model. TaskLinear holds K separate
        # weight matrices ([K, D, d_model]) and applies task k's to x[k].
        self.embed = TaskLinear(p.num_tasks, p.input_dim, d_model)

        # A learned position embedding, one vector per step of the window, shared by the tasks.
        self.position = nn.Parameter(torch.zeros(p.window, d_model))
        nn.init.normal_(self.position, std=0.02)

        # The shared encoder. batch_first=True: it takes [batch, T, d_model]. norm_first=True
        # (pre-LayerNorm) trains stably without a learning-rate warm-up. (nn.TransformerEncoder
        # deep-copies `layer`, so the stacked layers start from equal weights; they still train
        # apart, as they see different inputs.) enable_nested_tensor=False silences a warning
        # about the fast path, which needs a padding mask we do not have: windows are never padded.
        layer = nn.TransformerEncoderLayer(d_model, heads, feedforward, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

        # Per task: the output layer, d_model -> M targets.
        self.head = TaskLinear(p.num_tasks, d_model, p.num_targets)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: `[K, B, T, D]` -> logits (classification) or scaled values (regression) `[K, B, M]`."""
        k, b, t, _ = x.shape
        h = self.embed(x) + self.position  # [K, B, T, d_model]; position broadcasts over K and B
        # Fold the tasks into the batch ([K * B, T, d_model]), encode with the shared weights,
        # unfold again (reshape works whether or not the tensor is contiguous).
        h = self.encoder(h.reshape(k * b, t, -1)).reshape(k, b, t, -1)
        pooled = h.mean(dim=2) if self.pooling == "mean" else h[:, :, -1]  # [K, B, d_model]
        return self.head(pooled)  # [K, B, M]; no sigmoid, the base applies it where needed
