"""The three protocols as values: `forecast` windows, clipping to the training range, impossible
values, `--protocol all`, and bad protocol names (synthetic data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fathom_bench.cli import main
from fathom_bench.datasets.spec import RawDataset, TaskSeries, load_dataset_spec
from fathom_bench.datasets.synthetic import make_synthetic
from fathom_bench.datasets.windows import PARTS, prepare
from fathom_bench.errors import BadInput
from fathom_bench.protocol import PROTOCOLS, get_protocol
from fathom_bench.records import iter_runs
from fathom_bench.runner.reproduce import protocols_of

T = 5


def spec_for(**kw):
    return load_dataset_spec("synthetic", window=T, **kw)


def trending_raw(rows=(100, 80), task_type="regression") -> RawDataset:
    """Feature 0 and target 0 rise with the row index, so later parts leave the training range."""
    rng = np.random.default_rng(0)
    tasks = []
    for k, n in enumerate(rows):
        r = np.arange(n, dtype=np.float32)
        x = np.stack([r, rng.normal(size=n).astype(np.float32)], 1)
        y = np.stack([r + 5.0, 50 - r], 1) if task_type == "regression" else (rng.random((n, 2)) < 0.5)
        tasks.append(TaskSeries(name=f"t{k}", features=x, targets=y.astype(np.float32),
                                paper_features=np.concatenate([x, x[:, :1] * 2], 1)))
    return RawDataset(name="synthetic", task_type=task_type, feature_names=["f0", "f1"], target_names=["y0", "y1"],
                      tasks=tasks, paper_feature_names=["f0", "f1", "f0x2"])


def test_forecast_regression_reads_the_targets_history_and_the_benchmark_inputs():
    data = prepare(trending_raw(), spec_for(), get_protocol("forecast"))
    p = data.problem
    assert p.input_names == ("f0", "f1", "y0", "y1") and p.target_history_index == (2, 3)
    for part in PARTS:
        tp = data.parts[part][0]
        # rows t-T..t-1 predict row t: the history at the window's last step is the previous target
        # (where both lie inside the training range, which clipping leaves untouched)
        hist, prev = tp.x[1:, -1, 2].numpy(), tp.y[:-1, 0].numpy()
        inside = (prev >= 0) & (prev <= 1)
        np.testing.assert_allclose(hist[inside], prev[inside], atol=1e-6)
        assert len(tp) == {"train": 60, "val": 20, "test": 20}[part] - T  # shift 1


def test_forecast_classification_is_exactly_corrected():
    raw = make_synthetic("classification", tasks=3, rows=200)
    a = prepare(raw, spec_for(task_type="classification"), get_protocol("forecast"))
    b = prepare(raw, spec_for(task_type="classification"), get_protocol("corrected"))
    assert a.problem.target_history_index is None and a.problem.input_names == b.problem.input_names
    for part in PARTS:
        for ta, tb in zip(a.parts[part], b.parts[part]):
            assert torch.equal(ta.x, tb.x) and torch.equal(ta.y, tb.y) and torch.equal(ta.mask, tb.mask)


@pytest.mark.parametrize("protocol, clipped", [("corrected", True), ("forecast", True), ("paper", False)])
def test_inputs_are_clipped_to_the_training_range(protocol, clipped):
    data = prepare(trending_raw(), spec_for(), get_protocol(protocol))
    test_x = torch.cat([tp.x.reshape(-1, tp.x.shape[-1]) for tp in data.parts["test"]])
    train_x = torch.cat([tp.x.reshape(-1, tp.x.shape[-1]) for tp in data.parts["train"]])
    if clipped:
        assert float(test_x.min()) >= 0 and float(test_x.max()) == 1.0
    else:  # paper: scalers fitted on every row, nothing to clip; the rising feature peaks in test
        assert float(train_x[:, 0].max()) < float(test_x[:, 0].max()) <= 1.0


@pytest.mark.parametrize("protocol", ["corrected", "forecast"])
def test_impossible_values_are_masked_and_left_out_of_the_scaling(protocol):
    raw = trending_raw()
    raw.tasks[0].targets[13, 0] = -40.0  # impossible under valid_ranges y0: [0, null]
    raw.tasks[0].targets[70, 0] = -1.0  # in the validation part
    raw.tasks[0].features[4, 1] = 99.0  # impossible input f1: [-10, 10]
    spec = spec_for(valid_ranges={"y*": [0, None], "f1": [-10, 10]})
    data = prepare(raw, spec, get_protocol(protocol))
    p, shift = data.problem, get_protocol(protocol).shift_for("regression")
    # scaler of y0 in task 0: the possible training values 5..64 (row 13 dropped), not -40
    assert p.target_min[0][0] == 5.0 and p.target_range[0][0] == 59.0
    masked = {(part, int(i)) for part in PARTS for i in torch.nonzero(~data.parts[part][0].mask[:, 0]).flatten()}
    first = T - 1 + shift  # target row of window 0
    assert masked == {("train", 13 - first), ("val", 70 - 60 - first)}
    assert float(data.parts["train"][0].x[..., 1].max()) <= 1.0  # f1's 99 became missing, then filled
    paper = prepare(raw, spec, get_protocol("paper"))  # the authors kept them
    assert paper.problem.target_min[0][0] == -40.0 and all(bool(tp.mask.all()) for tp in paper.parts["train"])


@pytest.mark.parametrize("ranges, message", [
    ({"y0": [1]}, "valid_ranges.y0 must be [low, high]"),
    ({"y0": [2, 1]}, "valid_ranges.y0 has low 2.0 above high 1.0"),
    ({"y0": ["a", 1]}, "valid_ranges.y0 bounds must be numbers"),
])
def test_bad_valid_ranges_are_one_line(ranges, message):
    with pytest.raises(BadInput, match=message.replace("[", r"\[").replace(".", r"\.")):
        spec_for(valid_ranges=ranges)


def test_protocol_sets():
    assert protocols_of("all") == ["corrected", "paper", "forecast"] == list(PROTOCOLS)
    assert protocols_of("both") == ["corrected", "paper"]
    assert protocols_of("forecast") == ["forecast"]


def test_forecast_runs_on_regression_datasets_only():
    """On classification `forecast` is `corrected` exactly: a grid (and the reference) does not
    train it twice under two names (coverage: test_forecast_only_on_regression_datasets)."""
    from fathom_bench.runner.grid import plan

    runs = plan(["extrasensory", "fitrec"], ["lr"], [0, 1], ["corrected", "forecast"])
    assert sorted({(r.protocol.name, r.dataset.name) for r in runs}) == [
        ("corrected", "extrasensory"), ("corrected", "fitrec"), ("forecast", "fitrec")] and len(runs) == 6
    assert "task_types" not in runs[0].config()["protocol"]  # where a grid plans runs is not a run's config


def test_forecast_on_a_classification_dataset_alone_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["reproduce", "--table", "3", "--protocol", "forecast", "--datasets", "extrasensory", "--plan",
                 "--out", str(tmp_path), "--wandb", "disabled"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--protocol forecast: no runs on extrasensory" in err
    assert "use --protocol corrected" in err and not list(tmp_path.rglob("*"))


@pytest.mark.parametrize("command", [
    ["reproduce", "--table", "tests/fixtures/table_synthetic.yaml", "--quick"],
    ["train", "--dataset", "synthetic", "--method", "lr"],
    ["evaluate", "--method", "lr", "--seeds", "1", "--datasets", "synthetic"],
])
def test_unknown_protocol_is_one_line_and_exit_2(command, tmp_path, capsys):
    assert main([*command, "--protocol", "forcast", "--out", str(tmp_path), "--wandb", "disabled"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--protocol: unknown protocol 'forcast'" in err and "forecast" in err
    assert not list(tmp_path.rglob("*.json"))


def test_protocol_all_writes_three_tables_and_forecast_adds_skill(tmp_path):
    from fathom_bench.tables import load_table_config  # noqa: F401  (records only from here on)
    import csv

    assert main(["reproduce", "--table", "tests/fixtures/table_synthetic.yaml", "--quick", "--protocol", "all",
                 "--methods", "lr", "persistence", "--seeds", "1", "--out", str(tmp_path), "--wandb", "disabled",
                 "--no-progress"]) == 0
    for sub in ("", "paper/", "forecast/"):
        assert (tmp_path / f"{sub}table_synthetic.md").is_file()
    assert "skill" not in (tmp_path / "table_synthetic.md").read_text()
    recs = {(r.record["protocol"], r.record["method"]): r.record["metrics"]["test"] for r in iter_runs(tmp_path)}
    assert len(recs) == 6
    rows = list(csv.DictReader((tmp_path / "forecast" / "table_synthetic.csv").open()))
    skill = {r["method"]: float(r["mean"]) for r in rows if r["column"] == "synthetic_mae_skill" and r["role"] != "improv"}
    floor_mae = recs[("forecast", "persistence")]["mae"]
    assert skill["persistence"] == 0.0
    assert skill["lr"] == pytest.approx(1 - recs[("forecast", "lr")]["mae"] / floor_mae, abs=1e-12)
    # the floor under forecast repeats the last observed targets: it differs from corrected's training mean
    assert floor_mae != recs[("corrected", "persistence")]["mae"]
