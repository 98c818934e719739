"""Method-specific checks of the baselines, the persistence floor and the Transformer example:
what each shares across tasks, the persistence rules against numpy, sizes and parameter counts."""

from __future__ import annotations

from functools import lru_cache

import lightning as L
import numpy as np
import pytest
import torch

from fathom_bench.baselines.crnn import CRNN
from fathom_bench.baselines.lr import LR
from fathom_bench.baselines.m_att import MAtt
from fathom_bench.baselines.m_lstm import MLSTM
from fathom_bench.baselines.mlp import MLP
from fathom_bench.baselines.persistence import Persistence
from fathom_bench.baselines.s_lstm import SLSTM
from fathom_bench.contrib.transformer import Transformer
from fathom_bench.datasets.datamodule import BenchDataModule, load_raw
from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.datasets.windows import split_bounds
from fathom_bench.methods import discover_methods
from fathom_bench.problem import ProblemSpec

SHAPES = {
    "classification": dict(tasks=3, features=225, targets=51, window=20),
    "regression": dict(tasks=4, features=9, targets=2, window=10),
}
CLASSES = {"lr": LR, "mlp": MLP, "crnn": CRNN, "m_att": MAtt, "s_lstm": SLSTM, "m_lstm": MLSTM,
           "persistence": Persistence, "transformer": Transformer}


def spec(task_type: str):
    return load_dataset_spec("synthetic", task_type=task_type, rows=150, **SHAPES[task_type])


@lru_cache(maxsize=None)
def datamodule(task_type: str, protocol: str) -> BenchDataModule:
    dm = BenchDataModule(spec(task_type), protocol=protocol)
    dm.setup()
    return dm


def problem(task_type: str = "regression", protocol: str = "corrected") -> ProblemSpec:
    return datamodule(task_type, protocol).problem


def make(cls, task_type: str = "regression", protocol: str = "corrected", seed: int = 0, **hp):
    torch.manual_seed(seed)
    return cls(problem(task_type, protocol), **hp).eval()


def test_configs_point_at_these_classes():
    methods = discover_methods()
    for key, cls in CLASSES.items():
        assert methods[key].load_class() is cls
        assert methods[key].in_paper == (key not in ("persistence", "transformer"))
    names = {methods[k].name for k in ("lr", "mlp", "crnn", "m_att", "s_lstm", "m_lstm")}
    assert names == {"LR", "MLP(16,16)", "CRNN", "M-Att", "S-LSTM", "M-LSTM"}  # Table III row labels


# -- persistence -------------------------------------------------------------------------------

def test_persistence_has_nothing_to_train():
    model = make(Persistence)
    assert model.trainable is False and model.num_parameters() == 0


@pytest.mark.parametrize("task_type", sorted(SHAPES))
def test_persistence_repeats_the_last_observed_target_under_paper(task_type):
    dm = datamodule(task_type, "paper")
    p = dm.problem
    assert p.target_history_index is not None
    model = make(Persistence, task_type, "paper")
    idx = list(p.target_history_index)
    for part in dm.data.parts["test"]:
        x = part.x.numpy()
        with torch.no_grad():
            out = model(part.x.unsqueeze(0).expand(p.num_tasks, -1, -1, -1))[0].numpy()
        last = x[:, -1][:, idx]
        if p.is_classification:
            np.testing.assert_array_equal(out > 0, last > 0.5)
            assert np.all(np.abs(out) == 20.0)
        else:
            np.testing.assert_array_equal(out, last)
            # window j's last input row is window j-1's target row
            np.testing.assert_array_equal(out[1:], part.y.numpy()[:-1])


def test_persistence_through_lightning_under_paper_matches_numpy():
    dm = datamodule("regression", "paper")
    p = dm.problem
    model = make(Persistence, "regression", "paper")
    L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
              accelerator="cpu").test(model, datamodule=dm, verbose=False)
    values, _, mask = model.test_predictions
    lo, rng = np.array(p.target_min), np.array(p.target_range)
    for k, part in enumerate(dm.data.parts["test"]):
        n = len(part)
        expected = part.x.numpy()[:, -1][:, list(p.target_history_index)] * rng[k] + lo[k]
        np.testing.assert_allclose(values[k, :n].numpy(), expected, rtol=1e-6)
        assert mask[k, :n].all() and not mask[k, n:].any()


@pytest.mark.parametrize("task_type", sorted(SHAPES))
def test_persistence_predicts_training_mean_or_majority_under_corrected(task_type):
    p = problem(task_type, "corrected")
    assert p.target_history_index is None
    model = make(Persistence, task_type, "corrected")
    raw = load_raw(spec(task_type))
    x = torch.zeros(p.num_tasks, 5, p.window, p.input_dim)
    with torch.no_grad():
        out = model.to_original(model(x)).numpy()  # probabilities or original units
    for k, task in enumerate(raw.tasks):
        a, _ = split_bounds(task.targets.shape[0], spec(task_type).split)
        train_mean = np.nanmean(task.targets[:a], axis=0)  # NaN = unknown target
        for b in range(5):
            if p.is_classification:
                np.testing.assert_array_equal(out[k, b] > 0.5, train_mean > 0.5)
            else:
                np.testing.assert_allclose(out[k, b], train_mean, rtol=1e-5)


# -- what is shared across tasks ----------------------------------------------------------------

def outputs(model, x):
    with torch.no_grad():
        return model(x)


def batch(task_type="regression", protocol="corrected", b=8):
    p = problem(task_type, protocol)
    torch.manual_seed(123)
    return torch.rand(p.num_tasks, b, p.window, p.input_dim)


@pytest.mark.parametrize("cls", [LR, SLSTM], ids=["lr", "s_lstm"])
def test_single_task_methods_share_nothing(cls):
    model, x = make(cls), batch()
    base = outputs(model, x)
    # task 0's input does not reach task 1
    x2 = x.clone()
    x2[0] += 1.0
    moved = outputs(model, x2)
    assert not torch.equal(moved[0], base[0])
    assert torch.equal(moved[1:], base[1:])
    # task 0's weights do not reach task 1: every parameter holding task 0's slice
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if name.startswith("lstm.lstms."):
                if name.startswith("lstm.lstms.0."):
                    prm.add_(0.5)
            else:
                assert prm.shape[0] == model.problem.num_tasks, f"{name} is not per task"
                prm[0].add_(0.5)
    moved = outputs(model, x)
    assert not torch.equal(moved[0], base[0])
    assert torch.equal(moved[1:], base[1:])


@pytest.mark.parametrize("cls", [MLSTM, CRNN, MLP, MAtt], ids=["m_lstm", "crnn", "mlp", "m_att"])
def test_multi_task_methods_pass_information_across_tasks(cls):
    model, x = make(cls), batch()
    base = outputs(model, x)
    x2 = x.clone()
    x2[1] += 1.0
    assert not torch.allclose(outputs(model, x2)[0], base[0])


@pytest.mark.parametrize("cls", [MLSTM, CRNN], ids=["m_lstm", "crnn"])
def test_dense_576_is_one_shared_layer(cls):
    model = make(cls)
    k = model.problem.num_tasks
    assert model.head.shared.weight.shape == (576, k * 64)
    assert model.head.task.weight.shape == (k, 576, 128)


def test_transformer_encoder_is_shared_and_tasks_stay_apart():
    model, x = make(Transformer), batch()
    base = outputs(model, x)
    # the same encoder weights whatever the number of tasks and inputs
    other = make(Transformer, "classification")
    count = lambda m: sum(prm.numel() for prm in m.encoder.parameters())  # noqa: E731
    assert count(model) == count(other) and model.problem.num_tasks != other.problem.num_tasks
    # changing the shared encoder moves every task's output
    with torch.no_grad():
        torch.manual_seed(7)  # (a constant shift would vanish: LayerNorm outputs sum to zero)
        weight = model.encoder.layers[0].linear1.weight
        weight.add_(0.3 * torch.randn_like(weight))
    moved = outputs(model, x)
    assert all(not torch.allclose(moved[k], base[k]) for k in range(model.problem.num_tasks))
    # but it is weights that are shared, not information: task 1's input leaves task 0 alone
    model = make(Transformer)
    x2 = x.clone()
    x2[1] += 1.0
    assert torch.equal(outputs(model, x2)[0], outputs(model, x)[0])


# -- sizes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("task_type,steps", [("classification", 13), ("regression", 3)])
def test_m_att_attention_is_temporal_per_task(task_type, steps):
    model, x = make(MAtt, task_type), batch(task_type)
    outputs(model, x)
    weights = model.attention["temporal"]
    assert weights.shape == (model.problem.num_tasks, x.shape[1], steps)  # T' = T - 8 + 1
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))


def tiny_problem(window: int) -> ProblemSpec:
    return ProblemSpec(dataset="tiny", task_type="regression", protocol="corrected", num_tasks=2, window=window,
                       input_dim=3, num_targets=1, task_names=("a", "b"), target_names=("y",))


def lstm_input_steps(model, x) -> int:
    seen = []
    hook = model.lstm.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[2]))
    outputs(model, x)
    hook.remove()
    return seen[0]


@pytest.mark.parametrize("window,steps", [(20, 6), (10, 2), (5, 1), (4, 1), (2, 1), (1, 1)])
def test_crnn_keeps_at_least_one_step(window, steps):
    torch.manual_seed(0)
    model = CRNN(tiny_problem(window)).eval()
    x = torch.rand(2, 3, window, 3)
    assert lstm_input_steps(model, x) == steps
    assert outputs(model, x).shape == (2, 3, 1)


@pytest.mark.parametrize("window,steps", [(20, 13), (10, 3), (8, 1), (5, 5)])
def test_m_att_short_windows(window, steps):
    torch.manual_seed(0)
    model = MAtt(tiny_problem(window)).eval()
    x = torch.rand(2, 3, window, 3)
    assert outputs(model, x).shape == (2, 3, 1)
    assert model.attention["temporal"].shape == (2, 3, steps)


def lstm_params(inp: int, hidden: int) -> int:
    return 4 * hidden * (inp + hidden) + 8 * hidden  # torch keeps two bias vectors


@pytest.mark.parametrize("task_type", sorted(SHAPES))
def test_parameter_counts(task_type):
    p = problem(task_type)
    k, d, m, t = p.num_tasks, p.input_dim, p.num_targets, p.window
    dense = lambda i, o: i * o + o  # noqa: E731
    head = dense(k * 64, 576) + k * dense(576, 128) + k * dense(128, m)
    t_att = t - 7
    expected = {
        LR: k * dense(d, m),
        MLP: k * dense(d, 16) + k * dense(k * 16, 16) + k * dense(t * 16, m),
        SLSTM: k * (lstm_params(d, 64) + dense(64, 64) + dense(64, m)),
        MLSTM: k * lstm_params(d, 64) + head,
        CRNN: k * (3 * d * 128 + 128) + k * lstm_params(128, 64) + head,
        MAtt: k * (8 * d * 128 + 128) + dense(t_att * k * 128, k * t_att) + k * (lstm_params(128, 72) + dense(72, m)),
        Persistence: 0,
    }
    for cls, count in expected.items():
        assert make(cls, task_type).num_parameters() == count, cls.__name__
    assert 50_000 < make(Transformer, task_type).num_parameters() < 200_000


def test_dataset_hparams_follow_the_extrasensory_scripts():
    methods = discover_methods()
    assert methods["m_lstm"].resolved_hparams("extrasensory")["dropout"] == 0.3
    assert methods["m_lstm"].resolved_hparams("fitrec")["dropout"] == 0.2
    assert methods["crnn"].resolved_hparams("extrasensory")["dropout"] == 0.3


@pytest.mark.parametrize("padding,window", [("valid", 10), ("same", 10), ("valid", 5)])
def test_task_conv1d_is_k_separate_convolutions(padding, window):
    from fathom_bench.models.layers import TaskConv1d

    torch.manual_seed(0)
    conv = TaskConv1d(3, 4, 6, kernel_size=8 if window == 5 else 3, padding=padding)
    x = torch.rand(3, 2, window, 4)
    out = conv(x)
    assert out.shape == (3, 2, conv.out_length(window), 6)
    w, bias = conv.conv.weight.reshape(3, 6, 4, -1), conv.conv.bias.reshape(3, 6)
    pad = 0 if out.shape[2] < window else conv.kernel_size - 1
    for k in range(3):
        xk = torch.nn.functional.pad(x[k].transpose(1, 2), (pad // 2, pad - pad // 2))
        expected = torch.nn.functional.conv1d(xk, w[k], bias[k]).transpose(1, 2)
        torch.testing.assert_close(out[k], expected)
