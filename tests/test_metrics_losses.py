"""Losses and metrics against numpy / sklearn references on random inputs, for both protocols."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, mean_absolute_error, precision_recall_fscore_support

from fathom_bench import losses, metrics
from fathom_bench.problem import ProblemSpec

K, N, M = 3, 40, 5


@pytest.fixture(params=[0, 1, 2])
def rng(request):
    return np.random.default_rng(request.param)


def _classification(rng):
    probs = rng.random((K, N, M))
    y = (rng.random((K, N, M)) < 0.3).astype(np.float32)
    y[0, :, 2] = 0  # a label with no positive in task 0: left out of that task's macro average
    mask = rng.random((K, N, M)) > 0.2
    return probs, y, mask


def test_macro_classification_matches_sklearn_per_label(rng):
    probs, y, mask = _classification(rng)
    y[1, :, 3] = 1  # a label with no negative in task 1: left out of that task's BA only
    got = metrics.classification_scores(torch.tensor(probs), torch.tensor(y), torch.tensor(mask), "macro")
    per_task, per_task_ba, left_out, ba_left_out = [], [], 0, 0
    for k in range(K):
        rows, bas = [], []
        for m in range(M):
            keep = mask[k, :, m]
            truth, pred = y[k, keep, m] > 0.5, probs[k, keep, m] > 0.5
            if truth.all() or not truth.any():
                ba_left_out += 1
            else:
                bas.append(balanced_accuracy_score(truth, pred))
            if truth.sum() == 0:
                left_out += 1
                continue
            p, r, f, _ = precision_recall_fscore_support(truth, pred, average="binary", zero_division=0)
            rows.append((p, r, f))
        per_task.append(np.mean(rows, axis=0))
        per_task_ba.append(np.mean(bas))
    want = list(np.mean(per_task, axis=0)) + [np.mean(per_task_ba)]
    assert [got[k] for k in ("precision", "recall", "f1", "ba")] == pytest.approx(want, abs=1e-12)
    assert got["labels_left_out"] == left_out >= 1
    assert got["ba_labels_left_out"] == ba_left_out >= 2


def _one_label_without_negatives():
    y = (np.random.default_rng(0).random((K, N, M)) < 0.3).astype(np.float32)
    y[0, :, 1] = 1.0  # all positive in task 0: TNR would be 0/0
    y[2, :, 4] = 0.0  # all negative in task 2: TPR would be 0/0
    return y, np.ones_like(y, dtype=bool)


@pytest.mark.parametrize("constant", [0.0, 1.0])
def test_macro_ba_of_a_constant_classifier_is_exactly_one_half(constant):
    """Chance scores 0.5, also where a task's test part lacks one class of a label (before: BA < 0.5)."""
    y, mask = _one_label_without_negatives()
    probs = torch.full(y.shape, constant)
    got = metrics.classification_scores(probs, torch.tensor(y), torch.tensor(mask), "macro")
    assert got["ba"] == 0.5
    assert all(v["ba"] == 0.5 for v in got["per_task"].values())
    assert got["ba_labels_left_out"] == 2 and got["ba_tasks_scored"] == K


def test_macro_ba_of_random_guesses_is_one_half_on_average():
    y, mask = _one_label_without_negatives()
    y = np.repeat(y, 50, axis=1)  # many windows: the mean BA of coin flips concentrates at 0.5
    probs = torch.rand(y.shape, generator=torch.Generator().manual_seed(0))
    got = metrics.classification_scores(probs, torch.tensor(y), torch.tensor(np.ones_like(y, bool)), "macro")
    assert got["ba"] == pytest.approx(0.5, abs=0.01)


def test_macro_ba_without_a_label_holding_both_classes_is_missing_not_zero():
    y = np.ones((K, N, M), dtype=np.float32)  # every label positive everywhere: BA has nothing to score
    got = metrics.classification_scores(torch.tensor(y), torch.tensor(y), torch.ones(K, N, M, dtype=torch.bool))
    assert np.isnan(got["ba"]) and got["f1"] == 1.0
    assert got["ba_labels_left_out"] == K * M and got["ba_tasks_scored"] == 0


def test_macro_ba_of_a_perfect_classifier_is_exactly_one():
    y, mask = _one_label_without_negatives()
    got = metrics.classification_scores(torch.tensor(y), torch.tensor(y), torch.tensor(mask), "macro")
    assert got["ba"] == 1.0 and got["precision"] == 1.0 and got["recall"] == 1.0 and got["f1"] == 1.0


def test_pooled_classification_is_the_authors_per_user_micro_average(rng):
    probs, y, _ = _classification(rng)
    mask = np.ones_like(y, dtype=bool)  # the paper protocol fills labels: nothing masked
    got = metrics.classification_scores(torch.tensor(probs), torch.tensor(y), torch.tensor(mask), "pooled")
    rows = []
    for k in range(K):
        truth, pred = y[k].ravel() > 0.5, np.rint(probs[k].ravel()).clip(0) > 0  # the authors' np.rint
        p, r, f, _ = precision_recall_fscore_support(truth, pred, average="binary", zero_division=0)
        tnr = np.sum(~truth & ~pred) / np.sum(~truth)
        rows.append((p, r, f, (r + tnr) / 2))
    want = np.mean(rows, axis=0)
    assert [got[k] for k in ("precision", "recall", "f1", "ba")] == pytest.approx(list(want), abs=1e-12)


def _np_smape(a, p, absolute=True):
    den = np.abs(a) + np.abs(p) if absolute else a + p
    return np.where(den != 0, 2 * np.abs(a - p) / np.where(den != 0, den, 1), 0.0)


def test_regression_mae_and_smape_per_target_match_numpy(rng):
    pred = rng.normal(10, 5, (K, N, M))
    y = rng.normal(10, 5, (K, N, M))
    y[1, :3] = 0.0
    pred[1, :3] = 0.0  # zero denominators count 0
    mask = rng.random((K, N, M)) > 0.1
    names = tuple(f"t{m}" for m in range(M))
    got = metrics.regression_scores(torch.tensor(pred), torch.tensor(y), torch.tensor(mask), names)
    for m, t in enumerate(names):
        mae = np.mean([mean_absolute_error(y[k, mask[k, :, m], m], pred[k, mask[k, :, m], m]) for k in range(K)])
        sm = np.mean([_np_smape(y[k, mask[k, :, m], m], pred[k, mask[k, :, m], m]).mean() for k in range(K)])
        assert got[f"mae/{t}"] == pytest.approx(mae, rel=1e-12)
        assert got[f"smape/{t}"] == pytest.approx(sm, rel=1e-12)
        assert 0.0 <= got[f"smape/{t}"] <= 2.0
    assert got["mae"] == pytest.approx(np.mean([got[f"mae/{t}"] for t in names]))


def test_row_indexed_scores_are_the_authors_evaluation_single(rng):
    pred = rng.normal(1, 1, (K, N, M))
    y = rng.normal(1, 1, (K, N, M))
    got = metrics.row_indexed_scores(torch.tensor(pred), torch.tensor(y))
    for i in range(6):
        mae = np.mean([mean_absolute_error(pred[k, i], y[k, i]) for k in range(K)])
        sm = np.mean([2 * np.mean(_np_smape(y[k, i], pred[k, i], absolute=False) / 2) for k in range(K)])
        assert got[f"as_coded/mae@row{i}"] == pytest.approx(mae, rel=1e-12)
        assert got[f"as_coded/smape@row{i}"] == pytest.approx(sm, rel=1e-12)
    assert got["as_coded/mae@rows0-5"] == pytest.approx(np.mean([got[f"as_coded/mae@row{i}"] for i in range(6)]))


def _problem(task_type, protocol):
    return ProblemSpec(dataset="t", task_type=task_type, protocol=protocol, num_tasks=K, window=4, input_dim=3,
                       num_targets=M, task_names=tuple(f"k{k}" for k in range(K)),
                       target_names=tuple(f"t{m}" for m in range(M)),
                       classification_loss="eq1_as_coded" if protocol == "paper" else "bce_smoothed",
                       classification_average="pooled" if protocol == "paper" else "macro")


@pytest.mark.parametrize("task_type", ["classification", "regression"])
@pytest.mark.parametrize("protocol", ["corrected", "paper"])
def test_metric_class_equals_its_functional_twin_over_batches(rng, task_type, protocol):
    problem = _problem(task_type, protocol)
    values = torch.tensor(rng.random((K, N, M)))
    y = torch.tensor((rng.random((K, N, M)) < 0.4).astype(np.float64))
    mask = torch.tensor(rng.random((K, N, M)) > 0.1)
    metric = metrics.BenchScores(problem)
    for s in range(0, N, 7):  # uneven batches along the window axis
        metric.update(values[:, s:s + 7], y[:, s:s + 7], mask[:, s:s + 7])
    assert metric.compute() == metrics.scores_for(problem, values, y, mask)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_masked_mae_is_eq2_per_task_then_mean(rng):
    out, y = rng.normal(size=(K, N, M)), rng.normal(size=(K, N, M))
    mask = rng.random((K, N, M)) > 0.3
    want = np.mean([np.abs(out[k] - y[k])[mask[k]].mean() for k in range(K)])
    got = losses.masked_mae(torch.tensor(out), torch.tensor(y), torch.tensor(mask))
    assert float(got) == pytest.approx(want, rel=1e-10)


def test_bce_smoothed_matches_numpy(rng):
    out = rng.normal(size=(K, N, M))
    y = (rng.random((K, N, M)) < 0.3).astype(float)
    mask = rng.random((K, N, M)) > 0.3
    t = 0.7 * y + 0.3 * 0.5
    p = _np_sigmoid(out)
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    want = np.mean([bce[k][mask[k]].mean() for k in range(K)])
    got = losses.bce_smoothed(torch.tensor(out), torch.tensor(y), torch.tensor(mask), alpha=0.3)
    assert float(got) == pytest.approx(want, rel=1e-9)


def test_eq1_as_coded_matches_keras_categorical_crossentropy(rng):
    """Keras: p /= sum(p); clip to [1e-7, 1 - 1e-7]; CCE = -sum(target * log p); (1-e) CCE(y) + e CCE(1/M)."""
    out = rng.normal(size=(K, N, M))
    y = (rng.random((K, N, M)) < 0.3).astype(float)
    p = _np_sigmoid(out)
    p = np.clip(p / p.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    cce = lambda target: -(target * np.log(p)).sum(-1)  # noqa: E731
    want = ((0.7 * cce(y) + 0.3 * cce(np.full_like(y, 1 / M))).mean(-1)).mean()
    mask = torch.ones(K, N, M, dtype=torch.bool)
    got = losses.eq1_as_coded(torch.tensor(out), torch.tensor(y), mask, alpha=0.3)
    assert float(got) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("protocol, fn", [("corrected", "bce_smoothed"), ("paper", "eq1_as_coded")])
def test_the_protocol_picks_the_classification_loss(protocol, fn):
    chosen = losses.loss_for(_problem("classification", protocol))
    assert chosen.func is getattr(losses, fn)
    assert losses.loss_for(_problem("regression", protocol)).func is losses.masked_mae
