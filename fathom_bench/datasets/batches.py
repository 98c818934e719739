"""Multi-task batches: B windows of every task, aligned by index.

A batch is a dict of `x [K, B, T, D]`, `y [K, B, M]` and `mask [K, B, M]` (bool). Training
draws one permutation of range(L), L = the most windows any task has, per epoch; task k takes
index `i mod n_k`, so tasks of equal length stay aligned (the same hour for every station) and
every window of a shorter task is still seen each epoch. Evaluation walks range(L) in order;
positions past a task's last window repeat it and are masked out.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import IterableDataset

from .windows import TaskPart


def gather(parts: list[TaskPart], idx: torch.Tensor, valid: torch.Tensor | None = None) -> dict:
    xs, ys, ms = [], [], []
    for k, part in enumerate(parts):
        n = len(part)
        local = idx % n if valid is None else idx.clamp(max=n - 1)
        xs.append(part.x[local])
        ys.append(part.y[local])
        m = part.mask[local]
        if valid is not None:
            m = m & (idx < n).unsqueeze(1)
        ms.append(m)
    return {"x": torch.stack(xs), "y": torch.stack(ys), "mask": torch.stack(ms)}


class TrainBatches(IterableDataset):
    """Shuffled, index-aligned batches; a new permutation each epoch, fixed by (seed, epoch).
    `shuffle=False`: the same batches in time order every epoch (Keras' `shuffle=False`)."""

    def __init__(self, parts: list[TaskPart], batch_size: int, seed: int, limit_batches: int | None = None,
                 length: int | None = None, shuffle: bool = True):
        self.parts, self.batch_size, self.seed, self.shuffle = parts, batch_size, seed, shuffle
        # `length`: L of all tasks when `parts` are some of them (a federated node's own tasks)
        self.length = length or max(len(p) for p in parts)
        self.limit_batches = limit_batches
        self.epoch = 0

    def __len__(self) -> int:
        n = math.ceil(self.length / self.batch_size)
        return min(n, self.limit_batches) if self.limit_batches else n

    def __iter__(self):
        gen = torch.Generator().manual_seed(int(self.seed) * 1_000_003 + self.epoch)
        self.epoch += 1
        perm = torch.randperm(self.length, generator=gen) if self.shuffle else torch.arange(self.length)
        for b in range(len(self)):
            yield gather(self.parts, perm[b * self.batch_size:(b + 1) * self.batch_size])


class EvalBatches(IterableDataset):
    """Every window of every task exactly once, in time order; padding positions masked."""

    def __init__(self, parts: list[TaskPart], batch_size: int, length: int | None = None):
        self.parts, self.batch_size = parts, batch_size
        self.length = length or max(len(p) for p in parts)

    def __len__(self) -> int:
        return math.ceil(self.length / self.batch_size)

    def __iter__(self):
        for start in range(0, self.length, self.batch_size):
            idx = torch.arange(start, min(start + self.batch_size, self.length))
            yield gather(self.parts, idx, valid=idx)
