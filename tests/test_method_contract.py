"""The contract every method keeps, checked for every method `discover_methods()` finds.

New methods (a YAML in configs/methods or an installed entry point) are covered automatically, on
small synthetic data shaped like the paper's two kinds of problem:
- ExtraSensory-like classification: K=3 tasks, D=225 inputs, M=51 labels, T=20 steps;
- FitRec-like regression: K=4 tasks, D=9 inputs, M=2 targets, T=10 steps;
each under both protocols (`paper` adds the targets' history to the input, so D grows by M).
"""

from __future__ import annotations

import logging
from functools import lru_cache

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from fathom_bench.datasets.batches import gather
from fathom_bench.datasets.datamodule import BenchDataModule
from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.methods import discover_methods

METHODS = discover_methods()
SHAPES = {
    "classification": dict(tasks=3, features=225, targets=51, window=20),
    "regression": dict(tasks=4, features=9, targets=2, window=10),
}
PROTOCOLS = ("corrected", "paper")
CLASSIFICATION_KEYS = ("precision", "recall", "f1", "ba")


@lru_cache(maxsize=None)
def datamodule(task_type: str, protocol: str) -> BenchDataModule:
    spec = load_dataset_spec("synthetic", task_type=task_type, rows=150, **SHAPES[task_type])
    dm = BenchDataModule(spec, protocol=protocol)
    dm.setup()
    return dm


def build(key: str, task_type: str, protocol: str, seed: int = 0):
    torch.manual_seed(seed)
    return METHODS[key].build(datamodule(task_type, protocol).problem, "synthetic")


def first_windows(task_type: str, protocol: str, n: int) -> dict:
    """The first `n` training windows of every task, as one batch."""
    return gather(datamodule(task_type, protocol).data.parts["train"], torch.arange(n))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def shrunken_trainer():
    """A Lightning Trainer that runs 2 training batches of 1 epoch, with nothing written anywhere."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    def make() -> L.Trainer:
        return L.Trainer(max_epochs=1, limit_train_batches=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                         num_sanity_val_steps=0)

    return make


every_method = pytest.mark.parametrize("key", sorted(METHODS))
task_types = pytest.mark.parametrize("task_type", sorted(SHAPES))
protocols = pytest.mark.parametrize("protocol", PROTOCOLS)


def test_methods_are_discovered():
    assert {"lr", "mlp", "crnn", "m_att", "s_lstm", "m_lstm", "persistence", "transformer"} <= set(METHODS)


@every_method
@task_types
@protocols
def test_output_shape_and_attention(key, task_type, protocol):
    model = build(key, task_type, protocol).eval()
    p = model.problem
    batch = first_windows(task_type, protocol, 16)
    assert batch["x"].shape == (p.num_tasks, 16, p.window, p.input_dim)
    with torch.no_grad():
        out = model(batch["x"])
    assert out.shape == (p.num_tasks, 16, p.num_targets)
    assert torch.isfinite(out).all()
    for name, weights in model.attention.items():
        assert weights.shape[:2] == (p.num_tasks, 16), name
        assert (weights >= 0).all(), name
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), msg=name)


@every_method
@task_types
@protocols
def test_gradients_reach_every_parameter(key, task_type, protocol):
    model = build(key, task_type, protocol).train()
    if not model.trainable:
        pytest.skip("nothing to train")
    batch = first_windows(task_type, protocol, 16)
    loss = model.loss_fn(model(batch["x"]), batch["y"], batch["mask"]) + model.penalty()
    loss.backward()
    missing = [n for n, prm in model.named_parameters()
               if prm.requires_grad and (prm.grad is None or not prm.grad.abs().sum() > 0)]
    assert not missing, f"no gradient reaches {missing}"


def plain_loss(out, y, mask, classification: bool) -> torch.Tensor:
    """Unsmoothed BCE or MAE over the known targets: reaches ~0 on a memorised batch."""
    err = (F.binary_cross_entropy_with_logits(out, y, reduction="none") if classification
           else (out - y).abs())
    return (err * mask).sum() / mask.sum()


@every_method
@task_types
def test_loss_falls_when_overfitting_64_windows(key, task_type):
    model = build(key, task_type, "corrected")
    if not model.trainable:
        pytest.skip("nothing to train")
    batch = first_windows(task_type, "corrected", 64)
    classification = model.problem.is_classification

    def loss(train: bool) -> torch.Tensor:
        model.train(train)
        return plain_loss(model(batch["x"]), batch["y"], batch["mask"].float(), classification)

    with torch.no_grad():
        before = float(loss(False))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(1)
    for step in range(1, 101):  # up to 100 Adam steps; stop once the loss has clearly fallen
        opt.zero_grad()
        loss(True).backward()
        opt.step()
        if step % 10 == 0:
            with torch.no_grad():
                after = float(loss(False))
            if after < 0.6 * before:
                break
    assert after < 0.6 * before, f"{key}: loss {before:.4f} -> {after:.4f}"


@every_method
@task_types
@protocols
def test_same_seed_same_weights_and_outputs(key, task_type, protocol):
    a, b = build(key, task_type, protocol, seed=3).eval(), build(key, task_type, protocol, seed=3).eval()
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    x = first_windows(task_type, protocol, 8)["x"]
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    if a.trainable:
        c = build(key, task_type, protocol, seed=4)
        assert any(not torch.equal(prm, q) for prm, q in zip(a.parameters(), c.parameters()))


@every_method
@task_types
@protocols
def test_lightning_fit_and_test(key, task_type, protocol, shrunken_trainer):
    dm = datamodule(task_type, protocol)
    model = build(key, task_type, protocol)
    if model.trainable:
        shrunken_trainer().fit(model, datamodule=dm)
    shrunken_trainer().test(model, datamodule=dm, verbose=False)
    results = model.test_results
    assert results is not None
    p = dm.problem
    keys = CLASSIFICATION_KEYS if p.is_classification else ("mae", "smape", *(f"mae/{t}" for t in p.target_names))
    for k in keys:
        assert isinstance(results[k], float), k
    values, target, mask = model.test_predictions
    assert values.shape == target.shape == mask.shape and values.shape[0] == p.num_tasks
