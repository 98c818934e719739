"""--save-attention (forward hooks, saved beside the record) and the paper's Figs. 2-4 drawn from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fathom_bench.cli import main
from fathom_bench.datasets.batches import EvalBatches
from fathom_bench.datasets.datamodule import BenchDataModule
from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.figure_data import AttentionIndex, feature_groups, load_spec, temporal_summary
from fathom_bench.methods import get_method
from fathom_bench.records import iter_runs
from fathom_bench.runner.attention import AttentionRecorder, save_attention

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def synthetic_spec(path: Path) -> str:
    """The paper's figure config with every dataset replaced by `synthetic`."""
    text = (REPO / "configs" / "figures" / "paper.yaml").read_text()
    for name in ("extrasensory", "beijing_air_quality", "fitrec"):
        text = text.replace(f"dataset: {name}", "dataset: synthetic")
    text = text.replace("datasets: [synthetic, synthetic, synthetic]", "datasets: [synthetic]")
    text = text.replace("datasets: [extrasensory, beijing_air_quality, fitrec]", "datasets: [synthetic]")
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("attention")
    args = ["train", "--dataset", "synthetic", "--method", "fathom", "--max-epochs", "1", "--protocol", "both",
            "--out", str(out), "--wandb", "disabled", "--no-progress", "--save-attention"]
    assert main(args) == 0
    return out


def test_recorder_equals_the_models_own_attention():
    spec = load_dataset_spec("synthetic", task_type="classification", tasks=3, features=12, targets=4, rows=200,
                             window=6)
    dm = BenchDataModule(spec, protocol="corrected", batch_size=16)
    dm.setup()
    torch.manual_seed(0)
    model = get_method("fathom").build(dm.problem, "extrasensory", {}).eval()
    task, temporal = [], []
    with AttentionRecorder(model, first_windows=(5, 20)) as rec, torch.no_grad():
        assert rec.hooked == 2
        for batch in EvalBatches(dm.data.parts["test"], 16):
            model(batch["x"])
            task.append(model.attention["task"])
            temporal.append(model.attention["temporal"])
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed on exit
    task, temporal = torch.cat(task, dim=1), torch.cat(temporal, dim=1)  # [K, N, T, D], [K, N, T]
    arrays = rec.arrays()
    np.testing.assert_allclose(arrays["task_by_window"], task.mean(dim=2).numpy(), atol=1e-3)
    np.testing.assert_allclose(arrays["temporal"], temporal.numpy(), atol=1e-7)
    assert list(arrays["first_windows"]) == [5, 20, task.shape[1]]
    for slot, n in enumerate(arrays["first_windows"]):
        np.testing.assert_allclose(arrays["task_first_windows"][:, slot], task[:, :n].mean(dim=1).numpy(), atol=1e-6)


def test_saved_labels_are_the_test_targets(tmp_path):
    spec = load_dataset_spec("synthetic", task_type="classification", tasks=2, features=5, targets=3, rows=120,
                             window=4)
    dm = BenchDataModule(spec, protocol="corrected", batch_size=8)
    dm.setup()
    model = get_method("fathom").build(dm.problem, "extrasensory", {}).eval()
    with AttentionRecorder(model) as rec, torch.no_grad():
        for batch in EvalBatches(dm.data.parts["test"], 8):
            model(batch["x"])
    path = save_attention(tmp_path / "seed=0.attention.npz", rec, dm.problem, dm.data.parts["test"])
    with np.load(path) as z:
        part = dm.data.parts["test"][1]
        np.testing.assert_array_equal(z["targets"][1, :len(part)], part.y.numpy())
        assert set(np.unique(z["targets"])) <= {0.0, 1.0}
        assert list(z["input_names"]) == list(dm.problem.input_names) and int(z["hooked"]) == 2


def test_a_model_without_attention_saves_a_marker(tmp_path):
    spec = load_dataset_spec("synthetic", rows=120)
    dm = BenchDataModule(spec, protocol="corrected", batch_size=8)
    dm.setup()
    model = get_method("lr").build(dm.problem, "synthetic", {})
    with AttentionRecorder(model) as rec:
        assert rec.hooked == 0
    path = save_attention(tmp_path / "seed=0.attention.npz", rec, dm.problem, dm.data.parts["test"])
    with np.load(path) as z:  # a resumed grid sees the run was asked and answered
        assert int(z["hooked"]) == 0 and "temporal" not in z.files and "targets" not in z.files


def test_train_writes_attention_beside_the_record_and_resumes(saved_run, capsys):
    runs = list(iter_runs(saved_run))
    assert {r.record["protocol"] for r in runs} == {"corrected", "paper"}
    for run in runs:
        path = run.path.with_suffix(".attention.npz")
        with np.load(path) as z:
            k, t = len(run.record["problem"]["task_names"]), run.record["problem"]["window"]
            n = max(run.record["windows"]["test"])
            assert z["temporal"].shape == (k, n, t)
            np.testing.assert_allclose(z["temporal"].sum(-1), 1.0, atol=1e-5)
            assert z["task_by_window"].shape == (k, n, run.record["problem"]["input_dim"])
    # resume: a recorded run with its attention is reused; one whose attention is gone is run again
    args = ["train", "--dataset", "synthetic", "--method", "fathom", "--max-epochs", "1", "--out", str(saved_run),
            "--wandb", "disabled", "--no-progress", "--save-attention"]
    target = next(r.path for r in runs if r.record["method"] == "fathom" and r.record["protocol"] == "corrected")
    before = target.stat().st_mtime_ns
    assert main(args) == 0 and target.stat().st_mtime_ns == before
    target.with_suffix(".attention.npz").unlink()
    assert main(args) == 0 and target.with_suffix(".attention.npz").is_file()


def test_no_attention_file_without_the_option(tmp_path):
    assert main(["train", "--dataset", "synthetic", "--method", "fathom", "--max-epochs", "1", "--out", str(tmp_path),
                 "--wandb", "disabled", "--no-progress"]) == 0
    assert not list(tmp_path.glob("runs/**/*.attention.npz"))


def test_each_figure_renders_and_names_its_run(saved_run, tmp_path, monkeypatch):
    from fathom_bench import figures

    drawn = {}
    save = figures._save

    def keep(fig, out_dir, name):
        drawn[name] = fig
        return save(fig, out_dir, name)

    monkeypatch.setattr(figures, "_save", keep)
    paths = figures.write_figures(saved_run, tmp_path, spec=synthetic_spec(tmp_path / "spec.yaml"), log=lambda s: None)
    names = {p.name for p in paths}
    for stem in ("fig2_task_attention", "fig3_attention_matrix", "fig4_temporal_attention"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= names
        assert (tmp_path / "figures" / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / "figures" / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
        caption = drawn[stem]._supxlabel.get_text()
        assert "seed 0" in caption and "protocol corrected" in caption and "runs/corrected/synthetic/fathom" in caption
    table = (tmp_path / "figures" / "fig4_temporal_attention.csv").read_text().splitlines()
    assert table[0].startswith("dataset,task,windows,steps,entropy_bits") and table[1].startswith("synthetic,")


def test_figures_prefer_the_requested_protocol(saved_run):
    index = AttentionIndex(saved_run, "fathom", "paper")
    assert index.get("synthetic").record["protocol"] == "paper"
    assert AttentionIndex(saved_run, "fathom").get("synthetic").record["protocol"] == "corrected"
    assert AttentionIndex(saved_run, "lr").get("synthetic") is None


def test_figures_command_without_attention_is_one_line(tmp_path, capsys):
    assert main(["figures", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--save-attention" in err[0]


def test_temporal_summary_of_known_distributions():
    t = 8
    uniform = temporal_summary(np.full((4, t), 1 / t))
    assert uniform["entropy_bits"] == pytest.approx(3.0) and uniform["mass_last_2"] == pytest.approx(0.25)
    last = temporal_summary(np.eye(t)[[-1, -1]])
    assert last["entropy_bits"] == 0.0 and last["mass_last_1"] == 1.0
    mixed = temporal_summary(np.stack([np.eye(t)[0], np.eye(t)[-1]]))  # each window certain, different steps
    assert mixed["mean_window_entropy_bits"] == 0.0 and mixed["entropy_bits"] == pytest.approx(1.0)


def test_feature_groups_name_the_sensors():
    rules = load_spec()["feature_groups"]
    names = ["raw_acc:magnitude_stats:mean", "proc_gyro:3d:mean_x", "watch_heading:mean_cos",
             "discrete:time_of_day:between0and6", "discrete:app_state:is_active", "audio_naive:mfcc0:mean",
             "label:SITTING", "TEMP"]
    assert feature_groups(names, rules) == ["phone accelerometer", "phone gyroscope", "watch compass", "time of day",
                                            "phone state", "audio", "label history", "TEMP"]


def test_figures_and_errata_import_no_torch():
    code = ("import sys, fathom_bench.figures, fathom_bench.errata, fathom_bench.figure_data, fathom_bench.sources; "
            "bad = [m for m in ('torch', 'lightning') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_attention_left_by_another_config_is_not_drawn(saved_run, tmp_path):
    import json
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(saved_run, copy)
    assert AttentionIndex(copy, "fathom", "corrected").get("synthetic") is not None
    record = next(copy.glob("runs/corrected/synthetic/fathom/seed=0.json"))
    data = json.loads(record.read_text())
    data["config_hash"] = "0" * 16  # the record was re-run without --save-attention under another config
    record.write_text(json.dumps(data))
    assert AttentionIndex(copy, "fathom", "corrected").get("synthetic") is None


def test_tanh_bound_is_what_softmax_tanh_can_reach():
    from fathom_bench.figure_data import tanh_softmax_bound

    for steps in (2, 10, 20):
        bound = tanh_softmax_bound(steps)
        rng = np.random.default_rng(steps)
        logits = np.tanh(rng.normal(scale=50.0, size=(20000, steps)))  # saturated: logits near +-1
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        assert p.max() <= bound["max_step_weight"] + 1e-12
        assert np.sort(p, axis=1)[:, -2:].sum(axis=1).max() <= bound["mass_last_k"][1] + 1e-12
        entropy = -(p * np.log2(p)).sum(axis=1)
        assert entropy.min() >= bound["min_entropy_bits"] - 1e-9
        assert entropy.min() == pytest.approx(bound["min_entropy_bits"], abs=0.05)  # reached when saturated
    assert tanh_softmax_bound(20)["max_step_weight"] == pytest.approx(1 / (1 + 19 / np.e ** 2))


def test_reproduce_saves_attention_and_draws_what_it_can(tmp_path, capsys):
    table = str(REPO / "tests" / "fixtures" / "table_synthetic.yaml")
    assert main(["reproduce", "--table", table, "--out", str(tmp_path), "--wandb", "disabled", "--no-progress",
                 "--methods", "fathom", "--seeds", "1", "--max-epochs", "1", "--save-attention", "--figures"]) == 0
    assert list(tmp_path.glob("runs/corrected/synthetic/fathom/seed=0.attention.npz"))
    # the paper's figure config names the paper's datasets: each figure says why it is skipped, none fails
    assert "fig4: skipped" in capsys.readouterr().out
