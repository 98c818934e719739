"""Shared preparation (splits, scaling, filling, windows) and batches, on synthetic data, both protocols.

Most checks use series whose values encode the row index, so the rows a window reads and the row
its target comes from can be read back from the tensors.
"""

from __future__ import annotations

import dataclasses
import numpy as np
import pytest
import torch

from fathom_bench.datasets.batches import EvalBatches, TrainBatches
from fathom_bench.datasets.datamodule import BenchDataModule
from fathom_bench.datasets.spec import RawDataset, TaskSeries, load_dataset_spec
from fathom_bench.datasets.synthetic import make_synthetic
from fathom_bench.datasets.windows import PARTS, prepare, split_bounds
from fathom_bench.protocol import get_protocol

PROTOCOLS = ("corrected", "paper")
T = 5


def spec_for(window: int = T, **kw):
    return load_dataset_spec("synthetic", window=window, **kw)


def index_raw(rows=(100, 80), features: int = 3, targets: int = 2, task_type: str = "regression") -> RawDataset:
    """Feature 0 and every target hold the row index (target m: index + 1000 m); feature 1 = 2 index + k."""
    tasks = []
    rng = np.random.default_rng(0)
    for k, n in enumerate(rows):
        r = np.arange(n, dtype=np.float32)
        x = np.stack([r, 2 * r + k] + [rng.normal(size=n).astype(np.float32) for _ in range(features - 2)], 1)
        if task_type == "regression":
            y = np.stack([r + 1000 * m for m in range(targets)], 1).astype(np.float32)
        else:
            y = (rng.random((n, targets)) < 0.5).astype(np.float32)
        tasks.append(TaskSeries(name=f"t{k}", features=x.astype(np.float32), targets=y))
    return RawDataset(name="synthetic", task_type=task_type, feature_names=[f"f{i}" for i in range(features)],
                      target_names=[f"y{m}" for m in range(targets)], tasks=tasks)


def unclipped(protocol: str):
    """The protocol without clipping inputs to the training range, so rows decode beyond it too."""
    return dataclasses.replace(get_protocol(protocol), clip_inputs_to_train_range=False)


def fit_rows(n: int, protocol: str) -> int:
    """Rows the scalers see: the training part (corrected) or all rows (paper)."""
    return split_bounds(n, (0.6, 0.2, 0.2))[0] if protocol == "corrected" else n


def decode_rows(x: torch.Tensor, n: int, protocol: str) -> np.ndarray:
    """Row indices from feature 0 (min-max scaled over the fit rows: min 0, range fit-1)."""
    return np.rint(x[..., 0].numpy().astype(np.float64) * (fit_rows(n, protocol) - 1)).astype(int)


def decode_target_rows(y: torch.Tensor, problem, k: int) -> np.ndarray:
    lo, rng = problem.target_min[k][0], problem.target_range[k][0]
    return np.rint(y[..., 0].numpy().astype(np.float64) * rng + lo).astype(int)


# ------------------------------------------------------------------------------------------
# shapes, splits, windows


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_shapes(protocol):
    raw = make_synthetic(tasks=3, features=6, targets=2, rows=300)
    dm = BenchDataModule(spec_for(), protocol=protocol, raw=raw)
    dm.setup()
    p, shift = dm.problem, get_protocol(protocol).window_shift
    d = 6 + (2 if protocol == "paper" else 0)
    assert (p.num_tasks, p.window, p.input_dim, p.num_targets) == (3, T, d, 2)
    for part, (lo, hi) in zip(PARTS, [(0, 180), (180, 240), (240, 300)]):
        for tp in dm.data.parts[part]:
            n = hi - lo - T + 1 - shift
            assert tuple(tp.x.shape) == (n, T, d) and tuple(tp.y.shape) == (n, 2) and tuple(tp.mask.shape) == (n, 2)
            assert tp.x.dtype == torch.float32 and tp.mask.dtype == torch.bool
    batch = next(iter(dm.train_dataloader()))
    assert tuple(batch["x"].shape) == (3, 32, T, d) and tuple(batch["y"].shape) == (3, 32, 2)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_split_boundaries_and_no_window_crosses_a_part(protocol):
    rows = (100, 83, 57)
    raw = index_raw(rows)
    data = prepare(raw, spec_for(), unclipped(protocol))
    shift = get_protocol(protocol).window_shift
    for k, n in enumerate(rows):
        a, b = n * 6 // 10, n * 8 // 10  # chronological 60/20/20 by rows of each task
        assert split_bounds(n, (0.6, 0.2, 0.2)) == (a, b)
        for part, (lo, hi) in zip(PARTS, [(0, a), (a, b), (b, n)]):
            tp = data.parts[part][k]
            used = decode_rows(tp.x, n, protocol)  # [windows, T]
            assert used.min() == lo and used.max() == hi - 1 - shift
            # window j reads rows lo+j .. lo+j+T-1, all inside the part
            np.testing.assert_array_equal(used, lo + np.arange(len(tp))[:, None] + np.arange(T)[None, :])
            target = decode_target_rows(tp.y, data.problem, k)
            assert target.max() <= hi - 1  # no target from a later part either


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_target_row_and_target_history(protocol):
    raw = index_raw((100, 80))
    data = prepare(raw, spec_for(), unclipped(protocol))
    p = data.problem
    for k, n in enumerate((100, 80)):
        for part in PARTS:
            tp = data.parts[part][k]
            last_row = decode_rows(tp.x, n, protocol)[:, -1]
            target_row = decode_target_rows(tp.y, p, k)
            if protocol == "corrected":
                np.testing.assert_array_equal(target_row, last_row)  # the labelled moment's sensors are seen
            else:
                np.testing.assert_array_equal(target_row, last_row + 1)  # rows t-T..t-1 predict t
    if protocol == "paper":
        assert p.target_history_index == (3, 4) and p.input_names[3:] == ("y0", "y1")
        tp = data.parts["train"][0]
        # the input holds the targets' own (scaled) history: the target of window j is row j+T,
        # the history column at the window's last step is row j+T-1
        np.testing.assert_allclose(tp.x[1:, -1, 3].numpy(), tp.y[:-1, 0].numpy(), atol=1e-6)
    else:
        assert p.target_history_index is None and p.input_dim == 3
        assert not set(p.input_names) & set(p.target_names)
        # with features unlike the targets, no input column is a target's history
        raw = make_synthetic(rows=200, missing=0.0)
        data = prepare(raw, spec_for(), get_protocol(protocol))
        p = data.problem
        assert p.input_dim == len(raw.feature_names) and p.input_names == tuple(raw.feature_names)
        for k, task in enumerate(raw.tasks):
            x = data.inputs[k].numpy()
            scaled_targets = (task.targets - np.array(p.target_min[k])) / np.array(p.target_range[k])
            for m in range(2):
                assert not any(np.allclose(x[:, d], scaled_targets[:, m], atol=1e-3) for d in range(x.shape[1]))


# ------------------------------------------------------------------------------------------
# scaling and filling


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_scaler_fitted_on_training_part_only_under_corrected(protocol):
    raw = index_raw((100, 80))
    before = prepare(raw, spec_for(), get_protocol(protocol))
    changed = index_raw((100, 80))
    for task in changed.tasks:
        n = task.features.shape[0]
        b = n * 8 // 10
        task.features[b:] *= 100.0  # only the test part changes
        task.targets[b:] *= 100.0
    after = prepare(changed, spec_for(), get_protocol(protocol))
    for k, task in enumerate(raw.tasks):
        a = task.features.shape[0] * 6 // 10
        same = torch.equal(before.inputs[k][:a], after.inputs[k][:a])
        same_y = torch.equal(before.parts["train"][k].y, after.parts["train"][k].y)
        if protocol == "corrected":
            assert same and same_y
            assert before.problem.target_range[k] == after.problem.target_range[k]
        else:  # the authors' scalers see every row
            assert not same and not same_y
            assert before.problem.target_range[k] != after.problem.target_range[k]


def test_missing_features_filled_with_training_mean_under_corrected():
    raw = index_raw((100,))
    x = raw.tasks[0].features
    x[[10, 70, 95], 1] = np.nan  # train, val and test rows
    data = prepare(raw, spec_for(), get_protocol("corrected"))
    inp = data.inputs[0].numpy()
    a = 60
    col = x[:a, 1]
    lo, rng = np.nanmin(col), np.nanmax(col) - np.nanmin(col)
    mean = np.nanmean((col - lo) / rng)
    np.testing.assert_allclose(inp[[10, 70, 95], 1], mean, rtol=1e-5)
    assert not np.isnan(inp).any()


@pytest.mark.parametrize("paper_fill", ["ffill_bfill_zero", "zero"])
def test_missing_features_filled_the_authors_way_under_paper(paper_fill):
    raw = index_raw((100,), features=4)
    x = raw.tasks[0].features
    x[:, 3] = np.nan  # a column never observed
    x[[0, 1], 1] = np.nan  # leading gap: backward fill
    x[[50, 51], 1] = np.nan  # inner gap: forward fill
    raw_copy = x.copy()
    data = prepare(raw, spec_for(paper_fill=paper_fill), get_protocol("paper"))
    inp = data.inputs[0].numpy()
    assert np.array_equal(np.isnan(x), np.isnan(raw_copy))  # the raw arrays are not modified
    if paper_fill == "ffill_bfill_zero":
        filled = raw_copy[:, 1].copy()
        filled[[0, 1]] = filled[2]
        filled[[50, 51]] = filled[49]
    else:
        filled = np.nan_to_num(raw_copy[:, 1], nan=0.0)
    expected = (filled - filled.min()) / (filled.max() - filled.min())
    np.testing.assert_allclose(inp[:, 1], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(inp[:, 3], 0.0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_missing_labels_masked_under_corrected(protocol):
    raw = index_raw((100, 90), task_type="classification", targets=3)
    y = raw.tasks[0].targets
    y[[20, 21, 22], 1] = np.nan
    y[40, 1] = 1.0
    y[41:44, 1] = np.nan
    data = prepare(raw, spec_for(), get_protocol(protocol))
    # corrected: window j of train has target row j+T-1
    shift = get_protocol(protocol).window_shift
    tp = data.parts["train"][0]
    idx = np.arange(len(tp)) + T - 1 + shift  # target row of each train window
    mask = tp.mask.numpy()[:, 1]
    yy = tp.y.numpy()[:, 1]
    missing = np.isin(idx, [20, 21, 22, 41, 42, 43])
    if protocol == "corrected":
        assert not mask[missing].any() and mask[~missing].all()
        assert (yy[missing] == 0).all()
    else:  # authors: labels filled forward (then backward, then 0) and all counted
        assert mask.all()
        np.testing.assert_array_equal(yy[np.isin(idx, [41, 42, 43])], 1.0)
        np.testing.assert_array_equal(yy[np.isin(idx, [20, 21, 22])], y[19, 1])


# ------------------------------------------------------------------------------------------
# views and batches


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_windows_are_views(protocol):
    data = prepare(make_synthetic(rows=200), spec_for(), get_protocol(protocol))
    for part in PARTS:
        for k, tp in enumerate(data.parts[part]):
            assert tp.x._base is not None
            assert tp.x.untyped_storage().data_ptr() == data.inputs[k].untyped_storage().data_ptr()
    total_windows = sum(tp.x.numel() for part in PARTS for tp in data.parts[part])
    total_inputs = sum(t.numel() for t in data.inputs)
    assert total_windows > 2 * total_inputs  # the windows would not fit in the storage as copies


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_determinism(protocol):
    def batches(seed):
        dm = BenchDataModule(spec_for(), protocol=protocol, raw=make_synthetic(rows=300, seed=3), seed=seed,
                             batch_size=16)
        loader = dm.train_dataloader()  # Lightning iterates one loader once per epoch
        return [b for _ in range(2) for b in loader]

    a, b, c = batches(1), batches(1), batches(2)
    assert len(a) == len(b)
    assert all(torch.equal(x["x"], y["x"]) and torch.equal(x["y"], y["y"]) for x, y in zip(a, b))
    assert not all(torch.equal(x["x"], y["x"]) for x, y in zip(a, c))
    # two epochs of one module differ in order but not in content
    half = len(a) // 2
    assert not torch.equal(a[0]["x"], a[half]["x"])


def test_train_batches_show_every_window_of_a_shorter_task_each_epoch():
    rows = (120, 90, 61)
    raw = index_raw(rows)
    data = prepare(raw, spec_for(), get_protocol("corrected"))
    parts = data.parts["train"]
    tb = TrainBatches(parts, batch_size=7, seed=0)
    for _epoch in range(2):
        seen = [[] for _ in rows]
        for batch in tb:
            for k, n in enumerate(rows):
                seen[k].extend(decode_rows(batch["x"][k], n, "corrected")[:, 0].tolist())
        for k in range(len(rows)):
            assert set(seen[k]) == set(range(len(parts[k])))  # first rows 0..n_k-1: every window
            assert len(seen[k]) == max(len(p) for p in parts)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_eval_batches_cover_each_window_once_with_padding_masked(protocol):
    rows = (120, 90, 61)
    data = prepare(index_raw(rows), spec_for(), get_protocol(protocol))
    for part in ("val", "test"):
        parts = data.parts[part]
        longest = max(len(p) for p in parts)
        xs = [[] for _ in rows]
        masks = [[] for _ in rows]
        for batch in EvalBatches(parts, batch_size=8):
            for k in range(len(rows)):
                xs[k].append(batch["x"][k])
                masks[k].append(batch["mask"][k])
        for k, tp in enumerate(parts):
            x, m = torch.cat(xs[k]), torch.cat(masks[k])
            assert x.shape[0] == longest
            assert torch.equal(x[: len(tp)], tp.x)  # every window once, in time order
            assert m[: len(tp)].all() and not m[len(tp):].any()  # padding masked
