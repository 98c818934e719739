"""FATHOM, FATHOM-ga and FATHOM-ta on small synthetic data shaped like the paper's three datasets.

Shapes (K tasks, D inputs, M targets, T steps; the `paper` protocol adds the M targets' history
to the inputs): ExtraSensory-like classification K=3, D=225, M=51, T=20; Air-Quality-like
regression K=9, D=7, M=6, T=20; FitRec-like regression K=4, D=9, M=2, T=10. Methods are built
through their configs with the real dataset's name, so the per-dataset overrides of
`configs/methods/fathom*.yaml` (e.g. ExtraSensory's `shared_from: attention`) are exercised.

Cheap checks run on every method x shape x protocol (x variant); the costlier ones (seeds,
Lightning, overfitting) on a few (shape, protocol) cases that still cover every shape, both
protocols and every method. The module runs single-threaded: on a 2-core machine shared with
other jobs, two OpenMP threads per process spin-wait at every barrier (steps measured 20-50x
slower, at random).
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
from fathom_bench.errors import BadInput
from fathom_bench.methods import get_method
from fathom_bench.models.attention import GlobalTemporalAttention, SharedTaskDense, TaskFeatureAttention
from fathom_bench.models.fathom import FATHOM

METHODS = ("fathom", "fathom_ga", "fathom_ta")
SHAPES = {  # dataset whose method overrides apply -> synthetic shape
    "extrasensory": dict(task_type="classification", tasks=3, features=225, targets=51, window=20),
    "beijing_air_quality": dict(task_type="regression", tasks=9, features=7, targets=6, window=20),
    "fitrec": dict(task_type="regression", tasks=4, features=9, targets=2, window=10),
}
PROTOCOLS = ("corrected", "paper")
VARIANTS = ("code", "paper")

methods = pytest.mark.parametrize("key", METHODS)
datasets = pytest.mark.parametrize("dataset", sorted(SHAPES))
protocols = pytest.mark.parametrize("protocol", PROTOCOLS)
variants = pytest.mark.parametrize("variant", VARIANTS)
#: (shape, protocol) pairs for the costlier tests: every shape and both protocols appear
CASES = [("extrasensory", "corrected"), ("extrasensory", "paper"), ("beijing_air_quality", "paper"),
         ("fitrec", "corrected")]
cases = pytest.mark.parametrize("dataset,protocol", CASES)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@lru_cache(maxsize=None)
def datamodule(dataset: str, protocol: str) -> BenchDataModule:
    spec = load_dataset_spec("synthetic", rows=150, **SHAPES[dataset])
    dm = BenchDataModule(spec, protocol=protocol, batch_size=16)
    dm.setup()
    return dm


def build(key: str, dataset: str, protocol: str, seed: int = 0, **overrides) -> FATHOM:
    torch.manual_seed(seed)
    return get_method(key).build(datamodule(dataset, protocol).problem, dataset, overrides)


def windows(dataset: str, protocol: str, n: int) -> dict:
    return gather(datamodule(dataset, protocol).data.parts["train"], torch.arange(n))


# -- architecture ------------------------------------------------------------------------------
@methods
@datasets
@protocols
@variants
def test_output_shape_attention_and_gradients(key, dataset, protocol, variant):
    model = build(key, dataset, protocol, variant=variant).train()
    p = model.problem
    batch = windows(dataset, protocol, 8)
    out = model(batch["x"])
    assert out.shape == (p.num_tasks, 8, p.num_targets)
    assert torch.isfinite(out).all()
    expected = {"fathom": {"task", "temporal"}, "fathom_ga": {"task"}, "fathom_ta": {"temporal"}}[key]
    assert set(model.attention) == expected
    if "task" in expected:
        w = model.attention["task"]
        assert w.shape == (p.num_tasks, 8, p.window, p.input_dim) and not w.requires_grad
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    if "temporal" in expected:
        w = model.attention["temporal"]
        assert w.shape == (p.num_tasks, 8, p.window) and not w.requires_grad
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    (model.loss_fn(out, batch["y"], batch["mask"]) + model.penalty()).backward()
    missing = [n for n, prm in model.named_parameters() if prm.grad is None or not prm.grad.abs().sum() > 0]
    assert not missing, f"no gradient reaches {missing}"


def test_ablations_remove_what_they_say():
    full, ga, ta = (build(k, "fitrec", "corrected") for k in METHODS)
    k, h = full.problem.num_tasks, 64
    assert full.task_attention is not None and full.temporal_attention is not None
    assert ga.temporal_attention is None and ga.task_attention is not None
    assert ga.lstm2.lstms[0].input_size == k * h  # FATHOM_base1: the second LSTM reads the shared sequence
    assert ta.task_attention is None and ta.temporal_attention is not None
    assert ta.lstm1.lstms[0].input_size == full.problem.input_dim  # FATHOM_base2: the first LSTM reads x
    assert full.lstm1.lstms[0].input_size == 128 and full.lstm2.lstms[0].input_size == full.problem.input_dim
    t = full.problem.window
    assert full.temporal_attention.score.weight.shape == (t * k * h, k, t)


def test_extrasensory_config_shares_attention_outputs():
    model = build("fathom", "extrasensory", "corrected")
    k, t = model.problem.num_tasks, model.problem.window
    assert model.shared_from == "attention" and model.lstm1 is None
    assert model.temporal_attention.score.weight.shape == (t * k * 128, k, t)
    assert model.lstm2.dropout.p == 0.2
    assert model.l2_parameters() == [] and float(model.penalty()) == 0.0
    lstm_model = build("fathom", "extrasensory", "corrected", shared_from="lstm")
    assert [p.shape for p in lstm_model.l2_parameters()] == [(4 * 64, 128)] * k  # the first LSTMs' kernels only
    assert float(lstm_model.penalty().detach()) > 0


def test_paper_variant_follows_eqs_6_and_8():
    model = build("fathom", "fitrec", "corrected", variant="paper")
    k, t, d = model.problem.num_tasks, model.problem.window, model.problem.input_dim
    assert model.task_attention.project is None and model.lstm1.lstms[0].input_size == d
    assert model.temporal_attention.score.weight.shape == (k * 64, k, t)  # h_T of every task


def test_bad_options_and_hparams():
    problem = datamodule("fitrec", "corrected").problem
    with pytest.raises(BadInput, match="variant"):
        FATHOM(problem, variant="keras")
    with pytest.raises(BadInput, match="shared_from"):
        FATHOM(problem, shared_from="input")
    model = FATHOM(problem.as_dict(), hidden=8)
    assert model.hparams["hidden"] == 8 and model.hparams["problem"]["num_tasks"] == problem.num_tasks


# -- batched layers equal a loop over tasks ----------------------------------------------------------
@pytest.mark.parametrize("out_features", [128, None])
def test_task_feature_attention_equals_loop(out_features):
    torch.manual_seed(0)
    k, b, t, d = 3, 5, 4, 11
    layer, x = TaskFeatureAttention(k, d, out_features), torch.randn(k, b, t, d)
    out, weights = layer(x)
    for i in range(k):
        a = torch.softmax(x[i] @ layer.score.weight[i], dim=-1)
        ctx = x[i] * a
        ref = torch.tanh(ctx @ layer.project.weight[i] if out_features else ctx)
        torch.testing.assert_close(weights[i], a, atol=1e-5, rtol=0)
        torch.testing.assert_close(out[i], ref, atol=1e-5, rtol=0)


def test_shared_task_dense_and_temporal_attention_equal_loop():
    torch.manual_seed(0)
    k, b, f, t = 4, 6, 50, 7
    dense, x = SharedTaskDense(k, f, t), torch.randn(b, f)
    with torch.no_grad():
        dense.bias.normal_()
    out = dense(x)
    attend = GlobalTemporalAttention(k, f, t)
    weights = attend(x)
    for i in range(k):
        torch.testing.assert_close(out[i], x @ dense.weight[:, i] + dense.bias[i], atol=1e-5, rtol=0)
        ref = torch.softmax(torch.tanh(x @ attend.score.weight[:, i] + attend.score.bias[i]), dim=-1)
        torch.testing.assert_close(weights[i], ref, atol=1e-5, rtol=0)


def test_forward_equals_per_task_reference():
    """The whole model against a per-task loop over the same weights (code variant, Eq. by Eq.)."""
    model = build("fathom", "fitrec", "corrected").eval()
    x = windows("fitrec", "corrected", 6)["x"]
    k, b, t, _ = x.shape
    with torch.no_grad():
        out = model(x)
        seqs = []
        for i in range(k):
            a = torch.softmax(x[i] @ model.task_attention.score.weight[i], -1)
            local = torch.tanh((x[i] * a) @ model.task_attention.project.weight[i])
            seqs.append(model.lstm1.lstms[i](local)[0])
        flat = torch.cat(seqs, dim=-1).reshape(b, -1)  # Keras: Flatten(concatenate(seqs))
        sd = model.temporal_attention.score
        for i in range(k):
            w = torch.softmax(torch.tanh(flat @ sd.weight[:, i] + sd.bias[i]), -1)
            h = model.lstm2.lstms[i](x[i] * w[:, :, None])[1][0][-1]
            h = torch.relu(h @ model.dense.weight[i] + model.dense.bias[i])
            torch.testing.assert_close(out[i], h @ model.out.weight[i] + model.out.bias[i], atol=1e-5, rtol=0)


# -- training --------------------------------------------------------------------------------
def plain_loss(out, y, mask, classification: bool) -> torch.Tensor:
    err = F.binary_cross_entropy_with_logits(out, y, reduction="none") if classification else (out - y).abs()
    return (err * mask).sum() / mask.sum()


@methods
@pytest.mark.parametrize("dataset", ["extrasensory", "fitrec"])
def test_loss_falls_when_overfitting_64_windows(key, dataset):
    """60 Adam steps at lr 1e-2 on one batch of 64 windows (30 for regression, which halves in 10)."""
    model = build(key, dataset, "corrected")
    batch = windows(dataset, "corrected", 64)
    mask, cls = batch["mask"].float(), model.problem.is_classification

    def loss(train: bool) -> torch.Tensor:
        model.train(train)
        return plain_loss(model(batch["x"]), batch["y"], mask, cls)

    with torch.no_grad():
        before = float(loss(False))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    torch.manual_seed(1)
    for _ in range(60 if cls else 30):
        opt.zero_grad()
        loss(True).backward()
        opt.step()
    with torch.no_grad():
        after = float(loss(False))
    assert after < 0.5 * before, f"{key} on {dataset}-like: loss {before:.4f} -> {after:.4f}"


def train_steps(model: FATHOM, batch: dict, steps: int = 3) -> torch.Tensor:
    opt = model.configure_optimizers()
    torch.manual_seed(7)  # dropout masks
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        (model.loss_fn(model(batch["x"]), batch["y"], batch["mask"]) + model.penalty()).backward()
        opt.step()
    with torch.no_grad():
        return model.eval()(batch["x"])


@methods
@cases
def test_same_seed_same_weights_and_outputs(key, dataset, protocol):
    a, b = build(key, dataset, protocol, seed=3), build(key, dataset, protocol, seed=3)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[n], sb[n]) for n in sa)
    c = build(key, dataset, protocol, seed=4)
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    batch = windows(dataset, protocol, 16)
    assert torch.equal(train_steps(a, batch), train_steps(b, batch))


@methods
@cases
def test_lightning_fit_and_test(key, dataset, protocol):
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    dm = datamodule(dataset, protocol)
    model = build(key, dataset, protocol)

    def trainer() -> L.Trainer:
        return L.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         accelerator="cpu", num_sanity_val_steps=0)

    trainer().fit(model, datamodule=dm)
    trainer().test(model, datamodule=dm, verbose=False)
    p = dm.problem
    keys = ("precision", "recall", "f1", "ba") if p.is_classification else \
        ("mae", "smape", *(f"mae/{t}" for t in p.target_names))
    assert model.test_results is not None
    for name in keys:
        assert isinstance(model.test_results[name], float), name
