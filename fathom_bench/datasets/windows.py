"""Shared preparation: chronological splits, scaling, filling and sliding windows.

Per task, one contiguous float32 array of inputs holds every row; each part (train, val, test) is
a row slice of it, and each window is a strided view of that slice (`unfold`), never a copy.
Windows never cross a part boundary, so no validation or test window reads a row of another part.

Window j of a part covers its rows j..j+T-1. Under `corrected` its target is row j+T-1 (the
sensors of the labelled moment are observed, its labels are not in the input); under `paper`
(and `forecast` for regression) the input also holds the targets' history and the target is row
j+T (rows t-T..t-1 predict t). Under `corrected` and `forecast`, values outside the dataset's
`valid_ranges` are missing before anything is fitted, and scaled inputs are clipped to the
training part's range.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import BadInput
from ..problem import ProblemSpec
from ..protocol import Protocol
from .spec import DatasetSpec, RawDataset
from .validity import as_missing

PARTS = ("train", "val", "test")


@dataclass
class TaskPart:
    """One task's windows in one part. `x` is a view on the task's contiguous input array."""

    x: torch.Tensor  # [n, T, D]
    y: torch.Tensor  # [n, M] scaled targets (0 where missing)
    mask: torch.Tensor  # [n, M] bool: True where the target is known

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclass
class PreparedData:
    problem: ProblemSpec
    parts: dict[str, list[TaskPart]]  # part -> one TaskPart per task
    inputs: list[torch.Tensor]  # per task: the contiguous [N, D] array all windows view

    def windows_per_part(self) -> dict[str, list[int]]:
        return {p: [len(tp) for tp in tps] for p, tps in self.parts.items()}


def split_bounds(n_rows: int, split: tuple[float, float, float]) -> tuple[int, int]:
    """Row indices where validation and test start (chronological, per task)."""
    a = int(n_rows * split[0])
    b = int(n_rows * (split[0] + split[1]))
    return a, b


def _fill(values: np.ndarray, how: str) -> np.ndarray:
    """Fill NaNs the authors' way: forward, backward, then 0; or 0 only."""
    out = values.copy()
    if how == "ffill_bfill_zero":
        for step in (1, -1):  # forward, then backward
            arr = out if step == 1 else out[::-1]
            idx = np.where(np.isnan(arr), 0, np.arange(arr.shape[0])[:, None])
            np.maximum.accumulate(idx, axis=0, out=idx)
            filled = arr[idx, np.arange(arr.shape[1])]
            out = filled if step == 1 else filled[::-1]
    return np.nan_to_num(out, nan=0.0).astype(np.float32, copy=False)


def _column_stat(stat, values: np.ndarray) -> np.ndarray:
    """`stat` (np.nanmin, np.nanmax, np.nanmean) per column; NaN where a column has no value, quietly."""
    if values.shape[0] == 0:
        return np.full(values.shape[1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are expected (unknown labels)
        return stat(values, axis=0)


def _minmax(values: np.ndarray, fit_rows: slice, scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per-column minimum and range over `fit_rows`, ignoring NaN; constant or empty columns get range 1.
    `scale=False` (classification labels): the identity, minimum 0 and range 1."""
    if not scale:
        return np.zeros(values.shape[1]), np.ones(values.shape[1])
    fit = values[fit_rows]
    lo, hi = _column_stat(np.nanmin, fit), _column_stat(np.nanmax, fit)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    rng = np.where(np.isfinite(hi) & (hi - lo > 0), hi - lo, 1.0)
    return lo.astype(np.float64), rng.astype(np.float64)


def _scale_fill(values: np.ndarray, fit_rows: slice, protocol: Protocol, paper_fill: str, scale: bool):
    """Scale to [0, 1] on the fit rows and fill missing values as the protocol says.

    Returns (scaled float32 array without NaN, observed mask, column minimum, column range).
    """
    observed = ~np.isnan(values)
    if protocol.feature_fill == "train_mean":
        lo, rng = _minmax(values, fit_rows, scale)
        scaled = ((values - lo) / rng).astype(np.float32)
        mean = _column_stat(np.nanmean, scaled[fit_rows])
        mean = np.where(np.isfinite(mean), mean, 0.0).astype(np.float32)
        scaled = np.where(observed, scaled, mean).astype(np.float32)
    else:
        filled = _fill(values, paper_fill)
        lo, rng = _minmax(filled, fit_rows, scale)
        scaled = ((filled - lo) / rng).astype(np.float32)
    return scaled, observed, lo, rng


def prepare(raw: RawDataset, spec: DatasetSpec, protocol: Protocol) -> PreparedData:
    """Turn per-task arrays into windows and splits under `protocol`."""
    T, shift = spec.window, protocol.shift_for(raw.task_type)
    history = protocol.history_in_input(raw.task_type)
    regression = raw.task_type == "regression"
    parts: dict[str, list[TaskPart]] = {p: [] for p in PARTS}
    inputs, tmin, trange, tmean = [], [], [], []
    authors = protocol.authors_input_columns
    feat_names = list(raw.paper_feature_names or raw.feature_names) if authors else list(raw.feature_names)
    drop = protocol.impossible_values == "missing"
    for task in raw.tasks:
        n = task.features.shape[0]
        a, b = split_bounds(n, spec.split)
        bounds = {"train": (0, a), "val": (a, b), "test": (b, n)}
        short = {p: hi - lo for p, (lo, hi) in bounds.items() if hi - lo < T + shift}
        if short:
            p, rows = next(iter(short.items()))
            raise BadInput(
                f"dataset {spec.name}: task {task.name} has {n} rows, so its {p} part has {rows} rows, "
                f"fewer than the window ({T}) needs; drop the task or lower `window` in {spec.path or 'its config'}"
            )
        fit_rows = slice(0, a) if protocol.fit_on == "train" else slice(0, n)
        feats = task.paper_features if authors and task.paper_features is not None else task.features
        targets = task.targets
        if drop:
            feats = as_missing(feats, feat_names, spec.valid_ranges)
            targets = as_missing(targets, raw.target_names, spec.valid_ranges)
        x_scaled, _, _, _ = _scale_fill(feats, fit_rows, protocol, spec.paper_fill, scale=True)
        y_scaled, y_obs, lo, rng = _scale_fill(targets, fit_rows, protocol, spec.paper_fill, scale=regression)
        y_history = y_scaled  # filled as the inputs are (before missing targets are zeroed)
        if protocol.clip_inputs_to_train_range:
            x_scaled = np.clip(x_scaled, 0.0, 1.0)
            y_history = np.clip(y_history, 0.0, 1.0)
        if protocol.mask_missing_targets:
            y_scaled = np.where(y_obs, y_scaled, 0.0).astype(np.float32)
            mask = y_obs
        else:
            mask = np.ones_like(y_obs)
        if history:
            x_scaled = np.concatenate([x_scaled, y_history], axis=1)
        x_all = torch.from_numpy(np.ascontiguousarray(x_scaled, dtype=np.float32))
        y_all = torch.from_numpy(np.ascontiguousarray(y_scaled, dtype=np.float32))
        m_all = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))
        inputs.append(x_all)
        for p, (lo_row, hi_row) in bounds.items():
            n_win = hi_row - lo_row - T + 1 - shift
            xs = x_all[lo_row:hi_row].unfold(0, T, 1)[:n_win].transpose(1, 2)  # [n_win, T, D], a view
            first_target = lo_row + T - 1 + shift
            parts[p].append(
                TaskPart(x=xs, y=y_all[first_target:first_target + n_win], mask=m_all[first_target:first_target + n_win])
            )
        tmin.append(tuple(float(v) for v in lo))
        trange.append(tuple(float(v) for v in rng))
        mu = _column_stat(np.nanmean, np.where(y_obs[:a], y_scaled[:a], np.nan))
        tmean.append(tuple(float(v) if np.isfinite(v) else 0.0 for v in mu))

    d_feat = len(feat_names)
    input_names = feat_names + (list(raw.target_names) if history else [])
    problem = ProblemSpec(
        dataset=spec.name,
        task_type=raw.task_type,
        protocol=protocol.name,
        num_tasks=len(raw.tasks),
        window=T,
        input_dim=int(inputs[0].shape[1]),
        num_targets=len(raw.target_names),
        task_names=tuple(t.name for t in raw.tasks),
        target_names=tuple(raw.target_names),
        input_names=tuple(input_names),
        target_history_index=tuple(range(d_feat, d_feat + len(raw.target_names))) if history else None,
        target_min=tuple(tmin),
        target_range=tuple(trange),
        train_target_mean=tuple(tmean),
        classification_loss=protocol.classification_loss,
        classification_average=protocol.classification_average,
        as_coded_smape=spec.paper_smape,
    )
    return PreparedData(problem=problem, parts=parts, inputs=inputs)
