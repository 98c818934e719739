"""`paper` runs each method as the authors' script did: each point checked against the script's own
definition (scikit-learn, or Keras' formula in numpy), and the settings read from the method configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from fathom_bench import losses, metrics
from fathom_bench.baselines.lr import LR
from fathom_bench.datasets.batches import TrainBatches
from fathom_bench.datasets.datamodule import BenchDataModule
from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.datasets.windows import TaskPart
from fathom_bench.errors import BadInput
from fathom_bench.methods import discover_methods, spec_from_dict
from fathom_bench.problem import ProblemSpec
from fathom_bench.runner.grid import plan

METHODS = discover_methods()
REAL = ("extrasensory", "beijing_air_quality", "fitrec")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _problem(task_type: str, k: int, d: int, m: int, **extra) -> ProblemSpec:
    return ProblemSpec(dataset="synthetic", task_type=task_type, protocol="paper", num_tasks=k, window=3,
                       input_dim=d, num_targets=m, task_names=tuple(f"t{i}" for i in range(k)),
                       target_names=tuple(f"y{j}" for j in range(m)), **extra)


def _parts(x: np.ndarray, y: np.ndarray) -> list[TaskPart]:
    """Per task: windows of 3 rows whose last row is the sample row (what `inputs: same_row` gives LR)."""
    out = []
    for xk, yk in zip(x, y):
        win = np.repeat(xk[:, None, :], 3, axis=1)
        win[:, :2] = 9.0  # earlier rows of the window must not matter
        out.append(TaskPart(torch.tensor(win, dtype=torch.float32), torch.tensor(yk, dtype=torch.float32),
                            torch.ones(yk.shape, dtype=torch.bool)))
    return out


# -- LR: scikit-learn's optimum on the features of the target's own row ---------------------------

@pytest.mark.parametrize("penalize_intercept, sk", [
    (True, dict(solver="liblinear")),  # LogisticRegression() under scikit-learn 0.20/0.21 (the script's time)
    (False, dict(solver="lbfgs")),  # today's default
])
def test_lr_matches_sklearn_one_vs_rest_probabilities(penalize_intercept, sk):
    rng = np.random.default_rng(0)
    k, n, d, m = 2, 300, 12, 5
    x = rng.random((k, n + 80, d)).astype(np.float32)
    w = rng.normal(size=(d, m)) * 4
    y = ((x @ w + rng.normal(size=(k, n + 80, m))) > np.median(x @ w, axis=1, keepdims=True)).astype(np.float32)
    y[0, :, 4] = 0.0  # a label never positive in training: scikit-learn's constant predictor
    model = LR(_problem("classification", k, d, m), solver="sklearn", C=1.0, penalize_intercept=penalize_intercept)
    assert not model.trainable
    model.fit_arrays(_parts(x[:, :n], y[:, :n]))
    test = torch.tensor(np.repeat(x[:, n:, None, :], 3, axis=2))
    probs = torch.sigmoid(model(test).double()).numpy()
    for t in range(k):
        ovr = OneVsRestClassifier(LogisticRegression(C=1.0, tol=1e-10, max_iter=100000, **sk))
        ovr.fit(x[t, :n].astype(np.float64), y[t, :n])
        want = ovr.predict_proba(x[t, n:].astype(np.float64))
        assert np.abs(probs[t] - want).max() < 1e-3


def test_lr_matches_sklearn_multinomial_on_rounded_targets_one_target_per_run():
    """FitRec/LR.py: LogisticRegression(solver='lbfgs', multi_class='auto') on rounded targets, per target."""
    rng = np.random.default_rng(1)
    k, n, d = 2, 400, 6
    x = rng.random((k, n + 50, d)).astype(np.float32)
    # whole numbers + 0.2 (no value near a rounding boundary after the float32 scaling round trip)
    hr = np.rint(60 + 12 * x[..., 0] + 2 * rng.normal(size=(k, n + 50))) + 0.2
    speed = np.rint(3 * x[..., 1]) + 0.2  # 0..3
    y_orig = np.stack([hr, speed], -1)
    lo, rng_ = y_orig[:, :n].min(1), np.ptp(y_orig[:, :n], axis=1)
    problem = _problem("regression", k, d, 2, target_min=tuple(map(tuple, lo)), target_range=tuple(map(tuple, rng_)))
    model = LR(problem, solver="sklearn", C=1.0)
    model.fit_arrays(_parts(x[:, :n], ((y_orig[:, :n] - lo[:, None]) / rng_[:, None]).astype(np.float32)))
    test = torch.tensor(np.repeat(x[:, n:, None, :], 3, axis=2))
    pred = model.to_original(model(test)).double().numpy()
    for t in range(k):
        for j in range(2):
            y_round = np.rint(y_orig[t, :n, j])
            sk = LogisticRegression(solver="lbfgs", C=1.0, tol=1e-8, max_iter=10000).fit(x[t, :n].astype(np.float64), y_round)
            ours = model.fitted[t].predict_proba(x[t, n:])[j]
            assert np.abs(ours - sk.predict_proba(x[t, n:].astype(np.float64))).max() < 1e-3
            agree = np.isclose(pred[t, :, j], sk.predict(x[t, n:].astype(np.float64)), atol=1e-3).mean()
            assert agree > 0.98, (t, j, pred[t, :4, j], sk.predict(x[t, n:n + 4].astype(np.float64)))  # argmax ties within 1e-3 of probability may flip a handful


def test_lr_under_paper_sees_only_the_features_of_the_target_row():
    spec = load_dataset_spec("synthetic", rows=120)
    run = next(r for r in plan(["synthetic"], ["lr"], [0], ["paper"]) if r.method.key == "lr")
    assert run.trainer.inputs == "same_row"
    dm = BenchDataModule(spec, "paper", inputs=run.trainer.inputs)
    dm.setup()
    p = dm.problem
    assert p.target_history_index is None and not set(p.target_names) & set(p.input_names)
    assert p.input_dim == len(p.input_names)
    # the window's last row is the target's own row: row T - 1 of the part predicts itself
    part, x_all = dm.data.parts["train"][0], dm.data.inputs[0]
    assert torch.equal(part.x[0, -1], x_all[spec.window - 1]) and torch.equal(part.x[5, -1], x_all[spec.window + 4])
    # whereas the other methods' `paper` windows end the row before the target and hold its history
    other = BenchDataModule(spec, "paper")
    other.setup()
    assert other.problem.target_history_index is not None


# -- Loss and optimizer per script ------------------------------------------------------------------

def _loss_of(key: str, dataset: str) -> tuple:
    s = METHODS[key].settings("paper", dataset)
    return s.get("loss"), s.get("optimizer"), s.get("alpha", 0.3)


@pytest.mark.parametrize("dataset", REAL)
def test_single_task_scripts_use_binary_crossentropy_and_rmsprop_even_for_regression(dataset):
    assert _loss_of("s_lstm", dataset)[:2] == ("bce", "rmsprop")
    assert METHODS["s_lstm"].settings("paper", dataset).get("output", "sigmoid") == "sigmoid"
    assert _loss_of("mlp", "extrasensory")[:2] == ("bce", "rmsprop")  # MLP_singleTask.py
    assert METHODS["mlp"].resolved_hparams("extrasensory", protocol="paper")["cross_task"] is False


def test_multi_task_baselines_use_plain_categorical_crossentropy_and_fathom_eq1():
    for key in ("m_lstm", "crnn", "m_att"):
        assert _loss_of(key, "extrasensory")[:2] == ("cce", "adam")
    for key in ("fathom", "fathom_ga", "fathom_ta"):
        assert _loss_of(key, "extrasensory") == ("eq1", "adam", 0.3)


def test_keras_binary_crossentropy_matches_the_keras_formula():
    """Keras: p clipped to [1e-7, 1 - 1e-7]; -(y log p + (1 - y) log(1 - p)), mean over outputs."""
    rng = np.random.default_rng(2)
    out = rng.normal(size=(3, 40, 5)) * 6
    out[0, 0, 0] = 40.0  # saturated: the clip matters
    y = rng.random((3, 40, 5))
    p = np.clip(_np_sigmoid(out), 1e-7, 1 - 1e-7)
    per_task = (-(y * np.log(p) + (1 - y) * np.log(1 - p))).mean(-1).mean(-1)
    mask = torch.ones(3, 40, 5, dtype=torch.bool)
    got = losses.keras_bce(torch.tensor(out), torch.tensor(y), mask, task_reduction="sum")
    assert float(got) == pytest.approx(per_task.sum(), rel=1e-6)


def test_cce_is_keras_categorical_crossentropy_and_tasks_are_summed():
    rng = np.random.default_rng(3)
    out, y = rng.normal(size=(4, 30, 51)), (rng.random((4, 30, 51)) < 0.1).astype(float)
    p = _np_sigmoid(out)
    p = np.clip(p / p.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    want = (-(y * np.log(p)).sum(-1)).mean(-1).sum()  # per output: mean over the batch; Keras adds outputs
    fn = losses.loss_for(_problem("classification", 4, 3, 51), loss="cce", task_reduction="sum")
    assert float(fn(torch.tensor(out), torch.tensor(y), torch.ones(4, 30, 51, dtype=torch.bool))) == pytest.approx(want)


def test_unknown_loss_or_optimizer_in_a_paper_block_is_bad_input():
    with pytest.raises(BadInput, match=r"m\.yaml: protocols\.paper\.fitrec: loss 'huber' is unknown"):
        spec_from_dict("m", {"class": "x:Y", "protocols": {"paper": {"fitrec": {"loss": "huber"}}}}, "m.yaml")
    with pytest.raises(BadInput, match="optimizer 'adagrad' is unknown"):
        spec_from_dict("m", {"class": "x:Y", "protocols": {"paper": {"all": {"optimizer": "adagrad"}}}}, "m.yaml")
    with pytest.raises(BadInput, match="unknown key 'epochs'"):
        spec_from_dict("m", {"class": "x:Y", "protocols": {"paper": {"all": {"epochs": 3}}}}, "m.yaml")


def test_a_paper_block_naming_an_unknown_loss_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    import shutil

    from fathom_bench.cli import main

    shutil.copytree(METHODS["lr"].source.rsplit("/methods/", 1)[0], tmp_path / "configs")
    cfg = tmp_path / "configs" / "methods" / "s_lstm.yaml"
    cfg.write_text(cfg.read_text().replace("loss: bce, optimizer: rmsprop", "loss: bcee, optimizer: rmsprop"))
    monkeypatch.setenv("FATHOM_BENCH_CONFIGS", str(tmp_path / "configs"))
    assert main(["methods"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "s_lstm.yaml: protocols.paper.all: loss 'bcee' is unknown" in err[0]


# -- Loss scale, L2, outputs ------------------------------------------------------------------------

def _synthetic_problem(task_type: str = "regression") -> ProblemSpec:
    spec = load_dataset_spec("synthetic", task_type=task_type, rows=100)
    dm = BenchDataModule(spec, "paper")
    dm.setup()
    return dm.problem


@pytest.mark.parametrize("key", ["m_lstm", "crnn", "m_att", "s_lstm"])
def test_l2_only_where_a_script_sets_it(key):
    for ds in REAL:
        model = METHODS[key].build(_synthetic_problem(), ds, protocol="paper")
        assert model.l2 == 0 and float(model.penalty()) == 0.0
    fathom = METHODS["fathom"].build(_synthetic_problem(), "fitrec", protocol="paper")
    assert fathom.l2 == 1e-3 and float(fathom.penalty()) > 0


def test_keras_loss_scale_sums_task_losses_and_adds_l2_once():
    torch.manual_seed(0)
    model = METHODS["fathom"].build(_synthetic_problem(), "fitrec", protocol="paper")
    k = model.problem.num_tasks
    x = torch.rand(k, 8, model.problem.window, model.problem.input_dim)
    y, mask = torch.rand(k, 8, 2), torch.ones(k, 8, 2, dtype=torch.bool)
    out = model(x)
    per_task = (torch.sigmoid(out) - y).abs().mean((1, 2))  # Keras 'mae' per output on Dense(M, sigmoid)
    assert float(model.loss_fn(out, y, mask)) == pytest.approx(float(per_task.sum()), rel=1e-6)
    l2 = 1e-3 * sum(float(p.pow(2).sum()) for p in model.l2_parameters())
    assert float(model.penalty()) == pytest.approx(l2, rel=1e-6)


@pytest.mark.parametrize("key", ["fathom", "fathom_ga", "fathom_ta", "m_lstm", "crnn", "mlp", "s_lstm", "m_att"])
def test_regression_outputs_are_dense_sigmoid_on_minmax_targets(key):
    for ds in ("beijing_air_quality", "fitrec"):
        model = METHODS[key].build(_synthetic_problem(), ds, protocol="paper")
        out = torch.randn(model.problem.num_tasks, 5, model.problem.num_targets) * 5
        want = torch.sigmoid(out) * model.target_range + model.target_min
        assert torch.allclose(model.to_original(out), want)
        lo, hi = model.target_min, model.target_min + model.target_range
        assert bool(((model.to_original(out) >= lo - 1e-5) & (model.to_original(out) <= hi + 1e-5)).all())


# -- Epochs, patience, batch order, batch size ------------------------------------------------------

SCRIPT_BUDGETS = {  # (max_epochs, patience, batch) as each script's model.fit / EarlyStopping says
    ("fathom", "extrasensory"): (150, 20, 60), ("fathom", "beijing_air_quality"): (600, 20, 120),
    ("fathom", "fitrec"): (500, 20, 100), ("fathom_ga", "beijing_air_quality"): (300, 20, 120),
    ("fathom_ga", "fitrec"): (100, 10, 100), ("fathom_ta", "fitrec"): (300, 20, 100),
    ("m_lstm", "beijing_air_quality"): (200, 10, 120), ("m_lstm", "fitrec"): (100, 10, 100),
    ("crnn", "beijing_air_quality"): (300, 20, 120), ("crnn", "fitrec"): (150, 10, 100),
    ("mlp", "extrasensory"): (40, 10, 60), ("mlp", "beijing_air_quality"): (200, 10, 120),
    ("s_lstm", "extrasensory"): (40, 10, 60), ("s_lstm", "beijing_air_quality"): (100, 5, 120),
    ("m_att", "extrasensory"): (1, 10, 50),
}


def test_paper_budgets_batch_order_and_early_stopping_are_each_scripts():
    runs = plan(list(REAL), [m for m, _ in SCRIPT_BUDGETS], [0], ["paper", "corrected"])
    by = {(r.protocol.name, r.method.key, r.dataset.name): r.trainer for r in runs}
    for (m, ds), (epochs, patience, batch) in SCRIPT_BUDGETS.items():
        t = by[("paper", m, ds)]
        assert (t.max_epochs, t.patience, t.batch_size, t.shuffle) == (epochs, patience, batch, False), (m, ds)
    assert by[("paper", "s_lstm", "fitrec")].early_stopping_on == "test"
    assert by[("paper", "s_lstm", "extrasensory")].early_stopping_on == "val"
    assert by[("corrected", "fathom", "fitrec")].shuffle and by[("corrected", "fathom", "fitrec")].batch_size is None
    # --max-epochs (and the quick budget) still win
    quick = plan(["fitrec"], ["fathom"], [0], ["paper"], max_epochs=2)[0].trainer
    assert quick.max_epochs == 2 and quick.batch_size == 100


def test_m_att_follows_its_40_user_result_file():
    model = METHODS["m_att"].build(_synthetic_problem("classification"), "extrasensory", protocol="paper")
    assert model.conv.conv.out_channels == 312 * model.problem.num_tasks
    assert model.lstm.lstms[0].hidden_size == 64


def test_shuffle_false_gives_batches_in_time_order_and_test_early_stopping_validates_on_test():
    spec = load_dataset_spec("synthetic", rows=120)
    dm = BenchDataModule(spec, "paper", batch_size=7, shuffle=False, val_part="test")
    dm.setup()
    train = dm.data.parts["train"]
    for _ in range(2):  # every epoch the same order
        first = next(iter(TrainBatches(train, 7, seed=3, shuffle=False)))
        assert torch.equal(first["x"][0], train[0].x[:7])
    val = next(iter(dm.val_dataloader()))
    assert torch.equal(val["x"][0], dm.data.parts["test"][0].x[:7])


# -- As-coded metrics -------------------------------------------------------------------------------

def _weather_smape(actual, predicted):  # weather/helper_funcs.py smape()
    dividend = np.abs(actual - predicted)
    den = actual + predicted
    return 2 * np.mean(np.divide(dividend, den, out=np.zeros_like(dividend), where=den != 0))


def _fitrec_smape(actual, predicted):  # FitRec/helper_funcs.py smape()
    dividend = np.abs(actual - predicted)
    den = np.abs(actual) + np.abs(predicted)
    return 2 * np.mean(np.divide(dividend, den, out=np.zeros_like(dividend), where=den != 0))


def test_air_quality_smape_is_evaluations_avg_smape_over_every_window_and_target():
    rng = np.random.default_rng(4)
    pred, y = rng.normal(20, 15, size=(9, 60, 6)), rng.normal(20, 15, size=(9, 60, 6))
    y[0, 0, 0], pred[0, 0, 0] = 3.0, -3.0  # a zero denominator counts 0
    want = np.mean([_weather_smape(pred[k], y[k]) for k in range(9)])  # evaluation(): smape(y_predict, y_true)
    got = metrics.regression_scores(torch.tensor(pred), torch.tensor(y), torch.ones(9, 60, 6, dtype=torch.bool),
                                    tuple("abcdef"), as_coded="signed")
    assert got["as_coded/smape@all"] == pytest.approx(want, rel=1e-12)


def test_fitrec_as_coded_smape_uses_absolute_denominator():
    rng = np.random.default_rng(5)
    pred, y = rng.normal(5, 10, size=(3, 20, 2)), rng.normal(5, 10, size=(3, 20, 2))
    got = metrics.regression_scores(torch.tensor(pred), torch.tensor(y), torch.ones(3, 20, 2, dtype=torch.bool),
                                    ("s", "h"), as_coded="absolute")
    for i in (0, 1):  # evaluation_single(..., i): the targets of test window i, mean over tasks
        want = np.mean([_fitrec_smape(y[k, i], pred[k, i]) for k in range(3)])
        assert got[f"as_coded/smape@row{i}"] == pytest.approx(want, rel=1e-12)
    assert load_dataset_spec("fitrec").paper_smape == "absolute"
    assert load_dataset_spec("beijing_air_quality").paper_smape == "signed"


# -- End to end on synthetic data ------------------------------------------------------------------

def test_paper_runs_end_to_end_with_the_script_settings(tmp_path):
    from fathom_bench.runner.train import train_one

    runs = {r.method.key: r for r in plan(["synthetic"], ["lr", "s_lstm"], [0], ["paper"], max_epochs=2,
                                          limit_train_batches=2)}
    lr = train_one(runs["lr"])
    assert lr["status"] == "ok" and lr["epochs_run"] == 0 and np.isfinite(lr["metrics"]["test"]["mae"])
    assert lr["problem"]["input_dim"] == 6  # synthetic's 6 features; no target history
    s_lstm = train_one(runs["s_lstm"])
    assert s_lstm["status"] == "ok" and np.isfinite(s_lstm["metrics"]["test"]["as_coded/smape@all"])
    assert runs["s_lstm"].config()["method"]["hparams"]["loss"] == "bce"


def test_paper_tables_say_which_runs_early_stop_on_the_test_part():
    from fathom_bench.runner.reproduce import script_notes
    from fathom_bench.tables import load_table_config

    notes = script_notes(load_table_config("3"), "paper")
    assert any(n.startswith("S-LSTM on beijing_air_quality, fitrec: early stopping on the test part") for n in notes)
    assert "M-Att on fitrec: no M-Att script for this dataset." in notes
    assert script_notes(load_table_config("3"), "corrected") == []
