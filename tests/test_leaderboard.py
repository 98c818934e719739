"""The leaderboard from hand-made records: ranks, p-values against scipy + Holm, untested rows, files."""

from __future__ import annotations

import pandas as pd
import pytest
from records_factory import grid, make_record, small_table_config, write_runs
from scipy import stats as st

from fathom_bench import leaderboard as lb
from fathom_bench import stats

SEEDS = range(8)
F1 = {"fathom": [0.80, 0.82, 0.79, 0.84, 0.81, 0.83, 0.80, 0.82],
      "m_lstm": [0.78, 0.80, 0.80, 0.79, 0.77, 0.81, 0.79, 0.80],
      "lr": [0.60, 0.61, 0.59, 0.62, 0.60, 0.58, 0.61, 0.60],
      "persistence": [0.40] * 8}
BA = {"fathom": 0.85, "m_lstm": 0.88, "lr": 0.70, "persistence": 0.50}


@pytest.fixture
def runs(tmp_path):
    recs = [make_record("extrasensory", m, s, {"f1": F1[m][s], "ba": BA[m] + 0.001 * s}) for m in F1 for s in SEEDS]
    recs += [make_record("extrasensory", "newnet", s, {"f1": 0.95, "ba": 0.95}) for s in range(3)]
    recs += [make_record("extrasensory", "fathom", s, {"f1": 0.1, "ba": 0.1}, protocol="paper") for s in SEEDS]
    return write_runs(tmp_path, recs)


def test_ranks_and_p_values_against_scipy_and_holm(runs):
    df = lb.build_leaderboard(runs, "corrected", small_table_config())
    f1 = df[df["column"] == "es_f1"].set_index("method")
    assert f1["rank"].to_dict() == {"newnet": 1.0, "fathom": 2.0, "m_lstm": 3.0, "lr": 4.0, "persistence": 5.0}
    assert f1.loc["newnet", "best"] and f1.loc["fathom", "mean"] == pytest.approx(sum(F1["fathom"]) / 8)
    # newnet is best on 3 seeds only: nobody shares >= 6 seeds with it, so nothing is tested
    assert not f1["tested"].any() and f1.loc["fathom", "note"] == "not tested: 3 shared seeds < 6"
    ba = df[df["column"] == "es_ba"].set_index("method")
    assert ba.loc["newnet", "best"]
    without_new = lb.build_leaderboard([r for r in runs if r.record["method"] != "newnet"], "corrected",
                                       small_table_config())
    f1 = without_new[without_new["column"] == "es_f1"].set_index("method")
    assert f1.loc["fathom", "best"] and f1.loc["fathom", "rank"] == 1.0
    raw = {m: st.wilcoxon(F1["fathom"], F1[m]).pvalue for m in ("m_lstm", "lr", "persistence")}
    for m, p in raw.items():
        assert f1.loc[m, "p_vs_best"] == pytest.approx(p)
    adjusted = dict(zip(raw, stats.holm(list(raw.values()))))
    for m, p in adjusted.items():
        assert f1.loc[m, "p_vs_best_holm"] == pytest.approx(p)
    assert f1.loc["lr", "p_vs_best_holm"] < 0.05


def test_overall_rank_is_the_mean_column_rank(runs):
    df = lb.build_leaderboard(runs, "corrected", small_table_config())
    overall = df.drop_duplicates("method").set_index("method")
    # f1: newnet 1, fathom 2, m_lstm 3; ba: newnet 1, m_lstm 2, fathom 3
    assert overall.loc["fathom", "mean_rank"] == 2.5 and overall.loc["m_lstm", "mean_rank"] == 2.5
    assert overall.loc["fathom", "overall_rank"] == overall.loc["m_lstm", "overall_rank"] == 2
    assert overall.loc["newnet", "overall_rank"] == 1 and overall.loc["persistence", "overall_rank"] == 5
    assert list(df.drop_duplicates("method")["method"])[0] == "newnet"


def test_rendering_marks_new_methods_and_untested_rows(runs, tmp_path):
    df = lb.build_leaderboard(runs, "corrected", small_table_config())
    md = lb.render_leaderboard(df, "md")
    assert "| 1 | NewNet (not in the paper) | no |" in md
    assert "Persistence (not in the paper)" in md
    assert "not tested: 3 shared seeds < 6" in md and "listed but not tested" in md
    assert "Protocol: corrected; training budget: full." in md and "QUICK" not in md
    assert "significant here means stable across paired training seeds" in md
    paths = lb.write_leaderboard(df, tmp_path / "out", formats=["csv", "html"])
    assert [p.name for p in paths[:3]] == ["leaderboard.md", "leaderboard.csv", "leaderboard.html"]
    plots = {p.relative_to(tmp_path / "out").as_posix() for p in paths[3:]}
    assert plots == {f"leaderboard-plots/{stem}.{ext}" for stem in ("critical_difference", "es_f1", "es_ba")
                     for ext in ("png", "pdf")}
    assert "![critical-difference diagram" in md and "(leaderboard-plots/es_f1.png)" in md
    assert pd.read_csv(paths[1]).shape[0] == len(df)
    assert "<table" in paths[2].read_text() and "NewNet (not in the paper)" in paths[2].read_text()


def test_columns_default_to_the_table_config_and_the_task_for_other_datasets(tmp_path):
    recs = grid({("synthetic", "fathom"): {"mae": 1.0, "smape": 0.1}, ("synthetic", "lr"): {"mae": 2.0, "smape": 0.2},
                 ("extrasensory", "fathom"): {"precision": 0.9, "f1": 0.8}}, range(6), quick=True)
    df = lb.build_leaderboard(write_runs(tmp_path, recs), "corrected")
    assert set(df["column"]) == {"synthetic_mae", "synthetic_smape", "extrasensory_precision", "extrasensory_f1"}
    mae = df[df["column"] == "synthetic_mae"].set_index("method")
    assert mae.loc["fathom", "best"] and not mae.loc["fathom", "higher_is_better"]
    assert "QUICK RUN — not a reproduction" in lb.render_leaderboard(df, "md")


def test_failed_runs_and_other_protocols_are_left_out(tmp_path):
    recs = grid({("extrasensory", "fathom"): {"f1": 0.8, "ba": 0.9}}, range(6))
    recs.append(make_record("extrasensory", "lr", 0, status="failed"))
    df = lb.build_leaderboard(write_runs(tmp_path, recs), "corrected", small_table_config())
    assert set(df["method"]) == {"fathom"}
    assert lb.build_leaderboard(write_runs(tmp_path, recs), "paper", small_table_config()).empty
    assert "No run records" in lb.render_leaderboard(lb.build_leaderboard([], "paper", small_table_config()), "md")


def test_a_method_with_one_column_cannot_rank_first_overall(tmp_path):
    recs = grid({("extrasensory", "fathom"): {"f1": 0.80, "ba": 0.85}, ("extrasensory", "lr"): {"f1": 0.60, "ba": 0.70},
                 ("extrasensory", "m_lstm"): {"f1": 0.70, "ba": 0.75}}, range(10))
    recs += [make_record("extrasensory", "newnet", 0, {"f1": 0.99})]  # one seed, one column, best there
    df = lb.build_leaderboard(write_runs(tmp_path, recs), "corrected", small_table_config())
    overall = df.drop_duplicates("method").set_index("method")
    assert pd.isna(overall.loc["newnet", "overall_rank"]) and overall.loc["newnet", "lacks"] == "ExtraSensory BA"
    assert overall.loc["fathom", "overall_rank"] == 1
    f1 = df[(df["column"] == "es_f1")].set_index("method")
    assert f1.loc["newnet", "rank"] == 1  # still first in its own column
    md = lb.render_leaderboard(df, "md")
    assert "## Not ranked overall (partial)" in md and "| NewNet (not in the paper) | 1/2 | ExtraSensory BA |" in md
    assert "Not ranked overall (the overall rank uses only the 2 columns every ranked method has): NewNet" in md
    overall_table = md.split("## Overall")[1].split("##")[0]
    assert "NewNet" not in overall_table.split("Friedman")[0]


def test_the_floor_is_ranked_and_methods_below_it_are_named(tmp_path):
    recs = grid({("extrasensory", "fathom"): {"f1": 0.80, "ba": 0.85}, ("extrasensory", "lr"): {"f1": 0.30, "ba": 0.40},
                 ("extrasensory", "persistence"): {"f1": 0.50, "ba": 0.60}}, range(10))
    df = lb.build_leaderboard(write_runs(tmp_path, recs), "corrected", small_table_config())
    overall = df.drop_duplicates("method").set_index("method")
    assert overall.loc["persistence", "overall_rank"] == 2 and overall.loc["lr", "overall_rank"] == 3
    assert "Ranked below the floor Persistence overall: LR." in df.attrs["notes"]
    cd = df.attrs["cd"]
    assert cd.methods == ("fathom", "persistence", "lr") and cd.mean_ranks == (1.0, 2.0, 3.0)
