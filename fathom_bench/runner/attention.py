"""FATHOM's attention on the test windows, captured by forward hooks and saved beside the run record.

`--save-attention` writes `<out>/runs/<protocol>/<dataset>/<method>/seed=<n>.attention.npz`. Hooks sit
on the attention modules (`TaskFeatureAttention`, `GlobalTemporalAttention`, wherever the model holds
them), so the model's own code is not touched and a model split into parts is captured the same way.
Only the test loop is hooked; the weights are reduced per batch so memory stays small:

- `task_by_window` `[K, N, D]` float16: task-specific attention over the D input features, averaged
  over the T steps of each test window (paper Fig. 2);
- `task_first_windows` `[K, P, T, D]` float32: the same attention per step, averaged over the first
  `first_windows[p]` test windows (`first_windows` = 20, 30, 240 and N): the authors' Fig. 3 heat maps
  (`weather/att_plot/att_plot_input_dim.py` averages windows 0-20 and 0-240);
- `temporal` `[K, N, T]` float32: the global temporal attention over the steps of each window (Fig. 4);
- `windows` `[K]` (test windows per task; positions past it are padding), `targets` `[K, N, M]` float16
  (scaled; 0/1 labels for classification) with `target_mask`, `task_names`, `target_names`,
  `input_names` (the D features, named), `window` (T), `config_hash` (the record's).
The files are compressed (numpy savez_compressed) and git-ignored like predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..models.attention import GlobalTemporalAttention, TaskFeatureAttention

FIRST_WINDOWS = (20, 30, 240)


def attention_path(record: Path) -> Path:
    return Path(record).with_suffix(".attention.npz")


class AttentionRecorder:
    """Context manager: hooks every attention module of `model`; `arrays()` after the test loop.

    Batches arrive in test order (`EvalBatches`), B windows of every task at a time.
    """

    def __init__(self, model: torch.nn.Module, first_windows=FIRST_WINDOWS):
        self.model = model
        self.first_windows = tuple(int(n) for n in first_windows)
        self.task_by_window: list[np.ndarray] = []
        self.temporal: list[np.ndarray] = []
        self.task_step_sums: np.ndarray | None = None  # [K, P+1, T, D]
        self.seen = 0  # task windows seen so far (positions)
        self.handles: list = []
        self.hooked = 0  # attention modules found

    def __enter__(self) -> "AttentionRecorder":
        for module in self.model.modules():
            if isinstance(module, TaskFeatureAttention):
                self.handles.append(module.register_forward_hook(self._on_task))
            elif isinstance(module, GlobalTemporalAttention):
                self.handles.append(module.register_forward_hook(self._on_temporal))
        self.hooked = len(self.handles)
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def _on_task(self, module, inputs, output) -> None:
        weights = output[1].detach().float().cpu()  # [K, B, T, D]
        k, b, t, d = weights.shape
        self.task_by_window.append(weights.mean(dim=2).numpy().astype(np.float16))
        if self.task_step_sums is None:
            self.task_step_sums = np.zeros((k, len(self.first_windows) + 1, t, d), dtype=np.float64)
        start = self.seen
        for p, n in enumerate(self.first_windows + (None,)):
            stop = b if n is None else max(0, min(b, n - start))
            if stop:
                self.task_step_sums[:, p] += weights[:, :stop].sum(dim=1).double().numpy()
        self.seen += b

    def _on_temporal(self, module, inputs, output) -> None:
        self.temporal.append(output.detach().float().cpu().numpy())  # [K, B, T]

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.task_by_window:
            out["task_by_window"] = np.concatenate(self.task_by_window, axis=1)
            counts = np.array([min(n, self.seen) for n in self.first_windows] + [self.seen])
            out["first_windows"] = counts
            out["task_first_windows"] = (self.task_step_sums / counts[None, :, None, None]).astype(np.float32)
        if self.temporal:
            out["temporal"] = np.concatenate(self.temporal, axis=1)
        return out


def save_attention(path: Path, recorder: AttentionRecorder, problem, test_parts, config_hash: str = "") -> Path:
    """Write the captured attention (atomically). A model without attention modules gets a file holding
    only `windows` and the names (`hooked` 0), so a resumed grid knows the run was asked and answered."""
    arrays = recorder.arrays()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    names = dict(windows=np.array([len(p) for p in test_parts]), task_names=np.array(problem.task_names),
                 target_names=np.array(problem.target_names), input_names=np.array(problem.input_names),
                 window=np.array(problem.window), hooked=np.array(recorder.hooked),
                 config_hash=np.array(config_hash))  # figures skip a file left by another config
    if not arrays:
        np.savez_compressed(tmp, **names)
        tmp.replace(path)
        return path
    n = max(len(p) for p in test_parts)
    targets = np.zeros((len(test_parts), n, problem.num_targets), dtype=np.float16)
    mask = np.zeros(targets.shape, dtype=bool)
    for k, part in enumerate(test_parts):
        targets[k, :len(part)] = part.y.numpy()
        mask[k, :len(part)] = part.mask.numpy()
    np.savez_compressed(tmp, **arrays, **names, targets=targets, target_mask=mask)
    tmp.replace(path)
    return path
