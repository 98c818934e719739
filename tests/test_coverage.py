"""`coverage`: every cell of the converged reference is complete, running, not run or waiting for
a budget, and `publish_runs` publishes a row only once it holds every seed its protocol wants."""

from __future__ import annotations

from pathlib import Path

import pytest

from fathom_bench.coverage import (coverage_csv, reference_coverage, reference_protocols, render_coverage,
                                   wanted_seeds)
from fathom_bench.publish import reference_runs
from tests.records_factory import grid, make_record, small_table_config, write_runs

pytestmark = pytest.mark.filterwarnings("ignore")


def _cfg() -> dict:
    cfg = small_table_config()
    cfg.update(seeds=4, reference_seeds={"paper": 2})
    return cfg


def _records(out: Path) -> None:
    recs = [make_record("extrasensory", "lr", s, {"f1": 0.4, "ba": 0.6}) for s in range(4)]
    recs += [make_record("extrasensory", "fathom", s, {"f1": 0.4, "ba": 0.6}) for s in range(2)]
    recs += [make_record("extrasensory", "fathom", 2, status="failed")]  # a failed seed is not done
    recs += [make_record("extrasensory", "lr", s, {"f1": 0.4, "ba": 0.6}, protocol="paper") for s in range(2)]
    for i, rec in enumerate(recs):
        rec["train_seconds"] = 900.0 * (i + 1)
        rec["config"]["trainer"] = {"max_epochs": 5}
    recs[1]["epochs_run"] = recs[2]["epochs_run"] = 5  # LR seeds 1 and 2 ran until max epochs stopped them
    write_runs(out, recs)


def test_reproduce_defaults_to_the_seeds_the_reference_wants_per_protocol():
    """Without --seeds, `reproduce --protocol all` plans what the reference publishes (Table III: 10
    paired seeds, 3 under `paper`), not 10 under `paper` that no table waits for; --seeds still rules."""
    from collections import Counter

    from fathom_bench.runner.reproduce import ReproduceOptions, plan_table
    from fathom_bench.tables import load_table_config

    cfg = load_table_config("3")

    def seeds(**kw):
        runs = plan_table(cfg, ReproduceOptions(budget="standard", protocol="all", datasets=["fitrec"], methods=["lr"], **kw))
        return dict(Counter(r.protocol.name for r in runs))

    assert seeds() == {"corrected": 10, "paper": 3, "forecast": 10}
    assert seeds(seeds=4) == {"corrected": 4, "paper": 4, "forecast": 4}


def test_wanted_seeds_per_protocol():
    cfg = _cfg()
    assert [wanted_seeds(cfg, p) for p in ("corrected", "forecast", "paper")] == [4, 4, 2]
    assert wanted_seeds({"seeds": 10}, "paper") == 10


def test_forecast_only_on_regression_datasets():
    assert reference_protocols("extrasensory") == ["corrected", "paper"]
    assert reference_protocols("beijing_air_quality") == ["corrected", "forecast", "paper"]


def test_every_cell_has_a_status(tmp_path):
    _records(tmp_path)
    cells = {(c.protocol, c.dataset, c.method): c for c in reference_coverage(tmp_path, _cfg())}
    # 2 datasets x 4 rows (3 methods + floor) under corrected and paper, Air Quality also under forecast
    assert len(cells) == 4 * 2 + 4 * 2 + 4
    lr = cells[("corrected", "extrasensory", "lr")]
    assert (lr.status, lr.at_cap) == ("complete", 2)
    assert cells[("corrected", "extrasensory", "fathom")].at_cap == 0  # stopped early: 1 of 5 epochs
    fathom = cells[("corrected", "extrasensory", "fathom")]
    assert (fathom.status, fathom.done, fathom.wanted) == ("running", 2, 4)
    # CPU-hours count every record, the failed one too: 900 * (5 + 6 + 7) s
    assert fathom.cpu_hours == pytest.approx(4.5)
    assert cells[("corrected", "extrasensory", "m_lstm")].status == "not run"
    assert cells[("paper", "extrasensory", "lr")].status == "complete"  # 2 of the 2 `paper` wants
    assert cells[("forecast", "beijing_air_quality", "fathom")].status == "not run"


def test_at_cap_is_a_trained_run_that_max_epochs_stopped():
    from fathom_bench.records import at_cap

    def rec(epochs_run, max_epochs):
        return {"epochs_run": epochs_run, "config": {"trainer": {"max_epochs": max_epochs}}}

    assert at_cap(rec(150, 150)) and at_cap(rec(1, 1))  # M-Att's one-epoch script is at its cap too
    assert not at_cap(rec(43, 150))  # early stopping fired
    assert not at_cap(rec(0, 150))  # nothing trained by epochs (LR in closed form, persistence)
    assert not at_cap({"epochs_run": 5, "config": {}})  # no cap recorded: not claimed


def test_a_dataset_without_a_standard_budget_is_marked(tmp_path, monkeypatch):
    import dataclasses

    from fathom_bench import coverage
    from fathom_bench.datasets.spec import load_dataset_spec

    def no_air_quality_budget(name):
        spec = load_dataset_spec(name)
        return dataclasses.replace(spec, standard_budget=None) if name == "beijing_air_quality" else spec

    monkeypatch.setattr(coverage, "load_dataset_spec", no_air_quality_budget)
    cells = reference_coverage(tmp_path, _cfg())
    assert {c.status for c in cells if c.dataset == "beijing_air_quality"} == {"no budget"}
    assert {c.status for c in cells if c.dataset == "extrasensory"} == {"not run"}


def test_render_marks_every_cell(tmp_path):
    _records(tmp_path)
    cells = reference_coverage(tmp_path, _cfg())
    text = "\n".join(render_coverage(cells))
    header, _, *rows = text.splitlines()
    assert header == ("| Method | corrected: ExtraSensory | corrected: Air Quality | forecast: Air Quality | "
                      "paper: ExtraSensory | paper: Air Quality |")
    assert rows[0] == "| LR | 4/4, 2 at cap | not run | not run | 2/2 | not run |"
    assert rows[2] == "| FATHOM | 2/4 running | not run | not run | not run | not run |"
    assert rows[-1] == "| CPU-hours of training spent | 7.00 | 0.00 | 0.00 | 4.25 | 0.00 |"
    rows = coverage_csv(cells).splitlines()
    assert rows[0] == "protocol,dataset,dataset_name,method,name,done,wanted,cpu_hours,status,at_cap"
    assert len(rows) == 1 + len(cells)


def test_reference_runs_keep_only_complete_rows(tmp_path):
    _records(tmp_path)
    runs = reference_runs(tmp_path, _cfg())
    kept = {(r.record["protocol"], r.record["method"]) for r in runs}
    assert kept == {("corrected", "lr"), ("paper", "lr")}
    assert len(runs) == 4 + 2


def test_budget_caps_name_the_paper_rows_trained_below_their_scripts(tmp_path):
    from fathom_bench.findings import budget_caps

    def rec(method, epochs, patience, seed=0, protocol="paper", history=True):
        r = make_record("extrasensory", method, seed, {"ba": 0.6}, protocol=protocol)
        r["config"] = {"seed": seed, "trainer": {"max_epochs": epochs, "patience": patience}}
        r["history"] = [{"epoch": 0, "seconds": 1.0, "train_loss": 1.0, "val_loss": 1.0}] if history else []
        return r

    from fathom_bench.methods import discover_methods
    from fathom_bench.runner.grid import script_budget

    epochs, patience = script_budget(discover_methods()["fathom"], "paper", "extrasensory")
    lr_script = script_budget(discover_methods()["lr"], "paper", "extrasensory")
    runs = write_runs(tmp_path, [rec("fathom", 15, 5), rec("fathom", 15, 5, seed=1), rec("lr", *lr_script),
                                 rec("m_lstm", 15, 5, protocol="corrected"), rec("s_lstm", 15, 5, history=False)])
    lines = budget_caps(runs)
    assert len(lines) == 1
    assert f"extrasensory: FATHOM (max epochs {epochs}, patience {patience} -> 15, 5)." in lines[0]
    # LR at its script's budget; M-LSTM not `paper`; S-LSTM trained no epochs (as LR fitted in closed form)
    assert "LR" not in lines[0] and "M-LSTM" not in lines[0] and "S-LSTM" not in lines[0]
    assert budget_caps([r for r in runs if r.record["method"] != "fathom"]) == []
    # one epoch either way (M-Att's script): less patience cannot matter
    m_att = script_budget(discover_methods()["m_att"], "paper", "extrasensory")
    assert m_att[0] == 1 and budget_caps(write_runs(tmp_path / "m", [rec("m_att", 1, 1)])) == []


def test_ablation_findings_count_columns_where_fathom_beats_each_ablation(tmp_path):
    from fathom_bench.findings import ablation_findings, _tables

    cfg = small_table_config()
    cfg.update(methods=["lr", "fathom_ta", "fathom"], ablations=["fathom_ta"], seeds=10)
    spec = {("extrasensory", "lr"): {"f1": 0.5, "ba": 0.6},
            ("extrasensory", "fathom_ta"): {"f1": 0.79, "ba": 0.90},  # better BA than FATHOM, worse F1
            ("extrasensory", "fathom"): {"f1": 0.80, "ba": 0.86},
            ("beijing_air_quality", "lr"): {"mae": 30.0, "smape": 1.2},
            ("beijing_air_quality", "fathom_ta"): {"mae": 9.0, "smape": 0.6},
            ("beijing_air_quality", "fathom"): {"mae": 7.0, "smape": 0.4}}
    # the ablation's wiggle differs from FATHOM's, so every paired difference is not a constant
    recs = grid({k: v for k, v in spec.items() if k[1] != "fathom_ta"}, range(10))
    recs += grid({k: v for k, v in spec.items() if k[1] == "fathom_ta"}, range(10), wiggle=-0.5)
    result = _tables(write_runs(tmp_path, recs), cfg)["corrected"]
    (line,) = ablation_findings(result, cfg)
    # better in 3 of 4 columns (not ES BA); ten seeds all one way: every p is 0.002 x Holm's factor
    assert line.startswith("- Ablation: FATHOM is better than FATHOM-ta in 3 of 4 columns "
                           "(ExtraSensory F1, Air Quality mae, Air Quality smape); significantly")
    assert "in 3 (ExtraSensory F1, Air Quality mae, Air Quality smape). " in line
    # and the other way round: the ablation's better column, with its own test
    assert line.endswith(". FATHOM-ta is better in 1 (ExtraSensory BA); significantly "
                         "(paired Wilcoxon, Holm, p < 0.05) in 1 (ExtraSensory BA).")
    cfg["ablations"] = []
    assert ablation_findings(result, cfg) == []


def test_table_coverage_says_apart_the_columns_a_protocol_never_runs(tmp_path):
    """Under `forecast` the ExtraSensory columns stay empty for good (on classification it is
    `corrected` exactly): the findings say so, rather than "no complete cell yet" as for a column
    still to be run (here Air Quality under `corrected`)."""
    from fathom_bench.findings import _tables, table_coverage

    cfg = small_table_config()
    cfg.update(methods=["lr", "fathom"], seeds=2)
    aq = {("beijing_air_quality", m): {"mae": mae, "smape": 0.5} for m, mae in (("lr", 9.0), ("fathom", 8.0))}
    es = {("extrasensory", m): {"f1": 0.5, "ba": 0.7} for m in ("lr", "fathom")}
    results = _tables(write_runs(tmp_path, grid(aq, range(2), protocol="forecast") + grid(es, range(2))), cfg)
    assert table_coverage(results["forecast"]) == (
        "seeds per cell 2-2; ExtraSensory: not run under forecast (on its task type it is `corrected` exactly)")
    assert table_coverage(results["corrected"]) == (
        "seeds per cell 2-2; no complete cell yet in the columns Air Quality mae, Air Quality smape")


def test_table_coverage_names_a_row_with_records_but_not_all_its_seeds(tmp_path):
    """The reference publishes complete rows only: a row on 1 of its 2 seeds is left out of the tables
    and named as having no complete cell, never as having no records (it has one)."""
    from fathom_bench.findings import _tables, table_coverage
    from fathom_bench.publish import reference_runs

    cfg = small_table_config()
    cfg.update(seeds=2)  # its rows: LR, M-LSTM, FATHOM
    aq = {("beijing_air_quality", m): {"mae": mae, "smape": 0.5} for m, mae in (("lr", 9.0), ("fathom", 8.0))}
    partial = grid({("beijing_air_quality", "m_lstm"): {"mae": 7.0, "smape": 0.4}}, range(1), protocol="forecast")
    write_runs(tmp_path, grid(aq, range(2), protocol="forecast") + partial)
    results = _tables(reference_runs(tmp_path, cfg), cfg)
    assert "m_lstm" not in results["forecast"].rows
    assert table_coverage(results["forecast"]).endswith("; no complete cell yet for the rows M-LSTM")


def test_findings_on_too_few_seeds_say_untested_not_insignificant(tmp_path):
    """With 3 paired seeds no paired test can reach p < 0.05, so the tables leave pairs untested: the
    findings must not report that as "significantly better in 0 columns"."""
    from fathom_bench.findings import _tables, ablation_findings, protocol_findings

    cfg = small_table_config()
    cfg.update(methods=["lr", "fathom_ta", "fathom"], ablations=["fathom_ta"], seeds=3)
    spec = {("extrasensory", m): {"f1": f1, "ba": 0.7} for m, f1 in (("lr", 0.5), ("fathom_ta", 0.6), ("fathom", 0.8))}
    result = _tables(write_runs(tmp_path, grid(spec, range(3), protocol="paper")), cfg)["paper"]
    lines = protocol_findings(result, cfg)
    assert not any("significantly better" in line for line in lines)
    assert any(line.startswith("- Significance is not tested here: fewer than 6 paired seeds") for line in lines)
    (ablation,) = ablation_findings(result, cfg)
    assert ablation.endswith("; significance not tested (too few paired seeds).")


@pytest.mark.parametrize("aq_method", ["lr", "persistence"])
def test_findings_do_not_count_a_column_without_a_fathom_cell(tmp_path, aq_method):
    """Air Quality holds LR only, or only the Persistence floor (FATHOM not run there yet): no row
    there reads as beating FATHOM, the count says 2 of 2 (not 2 of 4), and those columns are named."""
    from fathom_bench.findings import _tables, protocol_findings

    cfg = small_table_config()
    cfg.update(methods=["lr", "fathom"], ablations=[], seeds=3)
    spec = {("extrasensory", "lr"): {"f1": 0.5, "ba": 0.6}, ("extrasensory", "fathom"): {"f1": 0.8, "ba": 0.7},
            ("beijing_air_quality", aq_method): {"mae": 30.0, "smape": 0.5}}
    result = _tables(write_runs(tmp_path, grid(spec, range(3))), cfg)["corrected"]
    lines = protocol_findings(result, cfg)
    assert lines[0] == "- FATHOM is the best row in 2 of 2 columns (ExtraSensory F1, ExtraSensory BA)."
    assert "- FATHOM has no complete cell yet in Air Quality mae, Air Quality smape: those columns are not counted above." in lines


def test_findings_name_the_rows_a_counted_column_lacks(tmp_path):
    """FATHOM-ta has no Air Quality cell yet: FATHOM being the best row there is among the rows
    present, and the findings say which row is not."""
    from fathom_bench.findings import _tables, protocol_findings

    cfg = small_table_config()
    cfg.update(methods=["lr", "fathom_ta", "fathom"], ablations=[], seeds=3)
    spec = {("extrasensory", m): {"f1": f1, "ba": 0.7} for m, f1 in (("lr", 0.5), ("fathom_ta", 0.6), ("fathom", 0.8))}
    spec |= {("beijing_air_quality", m): {"mae": mae, "smape": 0.5} for m, mae in (("lr", 30.0), ("fathom", 20.0))}
    lines = protocol_findings(_tables(write_runs(tmp_path, grid(spec, range(3))), cfg)["corrected"], cfg)
    assert "- Air Quality mae, Air Quality smape: compared without FATHOM-ta (no complete cell yet)." in lines
    assert not any(line.startswith("- ExtraSensory") for line in lines)

