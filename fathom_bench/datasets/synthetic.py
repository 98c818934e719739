"""A small synthetic dataset with a planted cross-task temporal pattern: for unit tests and examples only.

A latent signal s_t (AR(1) plus a slow sine) is shared by all tasks. Each task observes it through
its own noisy mixing into D features; target m of every task depends on s at lag `1 + m % 3`,
so the window's history and the other tasks both help. A few values are missing (NaN) so masking
and filling are exercised. Deterministic by seed. Never used by `reproduce` for a real table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .spec import DatasetSpec, RawDataset, TaskSeries


def make_synthetic(task_type: str = "regression", tasks: int = 4, features: int = 6, targets: int = 2,
                   rows: int = 300, seed: int = 0, missing: float = 0.02, ragged: bool = False) -> RawDataset:
    """K tasks of `rows` rows (`ragged`: task k has fewer rows, for unequal-length tests)."""
    rng = np.random.default_rng(seed)
    n_total = rows + 8
    s = np.zeros(n_total)
    for t in range(1, n_total):
        s[t] = 0.8 * s[t - 1] + rng.normal(scale=0.5)
    s += np.sin(np.arange(n_total) / 12.0)
    lags = 1 + np.arange(targets) % 3
    coef = rng.normal(size=targets)
    out = []
    for k in range(tasks):
        n = rows - (k * rows // (4 * max(tasks, 1)) if ragged else 0)
        mix = rng.normal(size=features)
        t_idx = np.arange(8, 8 + n)
        feats = s[t_idx, None] * mix[None, :] + rng.normal(scale=0.3, size=(n, features))
        signal = np.stack([coef[m] * s[t_idx - lags[m]] for m in range(targets)], axis=1)
        signal += 0.1 * k + rng.normal(scale=0.2, size=(n, targets))
        if task_type == "classification":
            y = (signal > np.median(signal, axis=0)).astype(np.float32)
        else:
            y = (10.0 + 5.0 * signal).astype(np.float32)
        feats = feats.astype(np.float32)
        if missing > 0:
            feats[rng.random(feats.shape) < missing] = np.nan
            y[rng.random(y.shape) < missing] = np.nan
        out.append(TaskSeries(name=f"task{k:02d}", features=feats, targets=y))
    return RawDataset(
        name="synthetic",
        task_type=task_type,
        feature_names=[f"f{d}" for d in range(features)],
        target_names=[f"y{m}" for m in range(targets)],
        tasks=out,
    )


def task_names(spec: DatasetSpec) -> list[str]:
    """Every task is generated from one shared latent signal, so a subset is generated whole, then cut."""
    return [f"task{k:02d}" for k in range(int(spec.options.get("tasks", 4)))]


def load(spec: DatasetSpec, folder: Path | None = None) -> RawDataset:
    """Loader entry for `configs/datasets/synthetic.yaml`; reads no files."""
    o = spec.options
    return make_synthetic(
        task_type=spec.task_type,
        tasks=int(o.get("tasks", 4)),
        features=int(o.get("features", 6)),
        targets=int(o.get("targets", 2)),
        rows=int(o.get("rows", 300)),
        seed=int(o.get("seed", 0)),
        missing=float(o.get("missing", 0.02)),
        ragged=bool(o.get("ragged", False)),
    )
