"""The budget study: early-stopping replay on per-epoch histories, the standard-budget rule, the
`budget-study` command end to end, `--budget`, and the committed study and standard budgets."""

from __future__ import annotations

from pathlib import Path

import pytest

from fathom_bench.budget_report import expected_runs, standard_budgets, write_report
from fathom_bench.budget_study import StudyRun, choose_standard, simulate, study_runs, worse_by
from fathom_bench.cli import main
from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.records import iter_runs
from fathom_bench.tables import load_table_config

REPO = Path(__file__).resolve().parents[1]
TABLE = str(Path(__file__).parent / "fixtures" / "table_synthetic.yaml")


def history(losses, metrics, seconds=1.0):
    return [{"epoch": i, "seconds": seconds * (i + 1), "val_loss": loss, "val/mae": m}
            for i, (loss, m) in enumerate(zip(losses, metrics))]


def test_simulate_replays_lightning_early_stopping_and_best_weights():
    h = history([5, 4, 4, 3, 3.5, 3.2, 3.1, 2.9, 3.0], [50, 40, 41, 30, 35, 32, 31, 29, 30])
    assert simulate(h, 100, 3, "mae")[:3] == (3, 7, 7.0)  # epochs 4, 5, 6 do not beat 3: stop after 6
    full = simulate(h, 100, 4, "mae")  # epoch 7 beats 3 in time; then the history runs out
    assert (full.best_epoch, full.epochs_run, full.metric) == (7, 9, 29)
    short = simulate(h, 100, 2, "mae")  # an equal loss is no improvement: 4 and 5 do not beat 3
    assert (short.best_epoch, short.epochs_run, short.metric, short.seconds) == (3, 6, 30, 6.0)
    capped = simulate(h, 2, 20, "mae")
    assert (capped.best_epoch, capped.epochs_run, capped.metric) == (1, 2, 40)


def test_worse_by_is_relative_and_one_sided():
    assert worse_by(0.54, 0.60, True) == pytest.approx(0.1)
    assert worse_by(0.66, 0.60, True) == 0.0
    assert worse_by(33.0, 30.0, False) == pytest.approx(0.1)
    assert worse_by(27.0, 30.0, False) == 0.0


def _run(method, losses, metrics, max_epochs=100, patience=20):
    rec = {"config": {"trainer": {"max_epochs": max_epochs, "patience": patience}}, "train_seconds": len(losses),
           "history": history(losses, metrics), "best_epoch": None}
    return StudyRun("corrected", "synthetic", method, method, rec)


def test_standard_budget_is_the_cheapest_candidate_within_tolerance():
    # a: best at epoch 5 (metric 10), nearly there at 2 (10.05); b: learns in 1 epoch
    a = _run("a", [9, 8, 7, 6.5, 6.2, 6.0] + [6.1] * 20, [20, 15, 10.05, 10.04, 10.02, 10.0] + [11] * 20)
    b = _run("b", [3] + [3.5] * 20, [12] + [13] * 20)
    rule = {"tolerance": 0.01, "max_epochs": [2, 3, 10, 100], "patience": [1, 5, 20]}
    pick = choose_standard([a, b], rule)
    # 2 epochs: a's metric at the best loss within 2 epochs is 15 (50 % worse): out; 3 epochs: 10.05 (0.5 %)
    assert (pick["max_epochs"], pick["patience"]) == (3, 1)
    assert pick["worst"] == pytest.approx(0.005) and pick["cost_ratio"] < 0.2
    assert choose_standard([a, b], {**rule, "tolerance": 0.0})["max_epochs"] == 10
    assert choose_standard([a, b], {**rule, "max_epochs": [2]}) is None  # nothing within tolerance


def test_budget_study_end_to_end_on_synthetic_data(tmp_path, capsys):
    out, report = tmp_path / "study", tmp_path / "report"
    args = ["budget-study", "--table", TABLE, "--out", str(out), "--report", str(report), "--wandb", "disabled",
            "--no-progress", "--max-epochs", "4", "--methods", "lr", "m_lstm"]
    assert main(args) == 0
    runs = {(r.record["protocol"], r.record["method"]): r.record for r in iter_runs(out)}
    assert set(runs) == {(p, m) for p in ("corrected", "forecast") for m in ("lr", "m_lstm")}  # regression data
    for rec in runs.values():
        assert rec["budget"] == "custom" and rec["seed"] == 0
        assert [row["epoch"] for row in rec["history"]] == list(range(rec["epochs_run"]))
        assert all(isinstance(row["val/mae"], float) and row["val_loss"] > 0 for row in rec["history"])
        assert simulate(rec["history"], 4, 20, "mae").epochs_run == rec["epochs_run"]
    md = (report / "budget-study.md").read_text()
    assert "| corrected | synthetic | LR | mae |" in md and (report / "budget-study.png").is_file()
    before = md
    assert main(args) == 0  # resumed: nothing trains, the same report
    assert "0 runs trained, 4 reused" in capsys.readouterr().out
    assert (report / "budget-study.md").read_text() == before
    assert main(["budget-study", "--table", TABLE, "--protocol", "paper", "--out", str(out)]) == 2


def test_budget_study_plan_costs_the_runs_left_as_its_executor_runs_them(tmp_path, capsys):
    """`budget-study --plan` is the same report as `reproduce --plan`: on a scheduler, an array of
    --jobs concurrent tasks; nothing trains."""
    args = ["budget-study", "--table", TABLE, "--out", str(tmp_path), "--methods", "lr", "m_lstm", "--plan"]
    assert main([*args, "--jobs", "2"]) == 0
    assert "4 of 4 runs left" in (out := capsys.readouterr().out) and "wall time with --jobs 2" in out
    assert main([*args, "--executor", "slurm", "--jobs", "3"]) == 0
    assert "wall time with an array of 3 concurrent tasks" in capsys.readouterr().out
    assert not list(iter_runs(tmp_path))


def test_budget_option(tmp_path, capsys):
    from fathom_bench.runner.reproduce import ReproduceOptions, plan_table

    cfg = load_table_config(TABLE)
    std = plan_table(cfg, ReproduceOptions(budget="standard", seeds=1, methods=["lr"]))
    assert {(r.trainer.max_epochs, r.trainer.patience, r.trainer.budget) for r in std} == {(2, 2, "standard")}
    full = plan_table(cfg, ReproduceOptions(budget="full", seeds=1, methods=["lr"]))
    assert {(r.trainer.max_epochs, r.trainer.budget) for r in full} == {(100, "full")}
    quick = plan_table(cfg, ReproduceOptions(quick=True, seeds=1, methods=["lr"]))
    assert quick == plan_table(cfg, ReproduceOptions(budget="quick", seeds=1, methods=["lr"]))
    assert std[0].config_hash() != full[0].config_hash()  # different budgets are different runs
    assert main(["reproduce", "--table", TABLE, "--budget", "huge", "--out", str(tmp_path)]) == 2
    assert "--budget: unknown budget 'huge'" in capsys.readouterr().err
    assert main(["reproduce", "--table", TABLE, "--out", str(tmp_path), "--wandb", "disabled", "--no-progress",
                 "--methods", "lr", "--seeds", "1"]) == 0  # standard is the default
    rec = next(iter(iter_runs(tmp_path))).record
    assert rec["budget"] == "standard" and rec["config"]["trainer"]["max_epochs"] == 2
    assert "budget" not in rec["config"]["trainer"]  # a label, never hashed


def test_committed_budget_study_rebuilds_and_replays_every_record(tmp_path):
    records = REPO / "results" / "budget-study"
    runs = study_runs(records)
    assert runs, "results/budget-study/runs holds the study's records"
    cfg = load_table_config("3")
    for r in runs:
        metric = "ba" if load_dataset_spec(r.dataset).task_type == "classification" else "mae"
        replay = simulate(r.history, *r.full_budget(), metric)
        assert (replay.epochs_run, replay.best_epoch) == (r.record["epochs_run"], r.record["best_epoch"]), r.method
        assert replay.metric == pytest.approx(r.record["metrics"]["val"][metric], rel=1e-9)
        assert (r.protocol, r.dataset, r.method) in expected_runs(cfg)
    write_report(records, tmp_path, cfg)
    for name in ("budget-study.md", "budget-study.csv"):
        assert (tmp_path / name).read_text() == (REPO / "results" / name).read_text(), name


def test_declared_standard_budgets_are_the_studys_choice():
    cfg = load_table_config("3")
    chosen, progress = standard_budgets(study_runs(REPO / "results" / "budget-study"), cfg)
    for ds in progress:
        declared = load_dataset_spec(ds).standard_budget
        want = {k: chosen[ds][k] for k in ("max_epochs", "patience")} if ds in chosen else None
        assert declared == want, f"configs/datasets/{ds}.yaml standard_budget: the study says {want}"


def test_standard_budget_caps_a_scripts_own_epochs_and_patience():
    from fathom_bench.runner.grid import _trainer_settings

    script = {"max_epochs": 20, "patience": 10}  # a `paper` script that stops sooner than the standard budget
    capped = _trainer_settings(script, "extrasensory", 30, 15, budget="standard")
    assert (capped.max_epochs, capped.patience) == (20, 10)
    assert (_trainer_settings(script, "extrasensory", 15, 5, budget="standard").max_epochs, 15) == (15, 15)
    assert _trainer_settings(script, "extrasensory", 30, 15, budget="custom").max_epochs == 30  # --max-epochs wins
