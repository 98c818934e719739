"""Table III from hand-made records: golden files, stars, Improv. rows, notes, config loading."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from records_factory import (GOLDEN_NOTES, golden_case, golden_outputs, golden_published, grid, make_record,
                             small_table_config, write_runs)

from fathom_bench import tables
from fathom_bench.errors import BadInput

GOLDEN = Path(__file__).parent / "golden"
PAPER_NAMES = {"lr": "LR", "mlp": "MLP(16,16)", "crnn": "CRNN", "m_att": "M-Att", "s_lstm": "S-LSTM",
               "m_lstm": "M-LSTM", "fathom_ga": "FATHOM-ga", "fathom_ta": "FATHOM-ta", "fathom": "FATHOM"}
# Table III's own Improv. rows, in the order of its columns.
PAPER_IMPROV_A = [106.97, 28.33, 57.69, 22.22, 75.77, 64.22, 70.91, 69.13, 68.75, 70.69]
PAPER_IMPROV_B = [12.65, 6.94, 10.81, 4.76, 12.04, 15.38, 14.93, 15.07, 33.33, 41.37]


@pytest.fixture(scope="module")
def golden_texts(tmp_path_factory):
    return golden_outputs(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("name", ["table_small.md", "table_small.csv", "table_small.tex", "table_small-vs-paper.md",
                                  "leaderboard.md"])
def test_outputs_match_golden_files(golden_texts, name):
    """Regenerate with `python -m tests.regen_golden` after an intended change; review the diff."""
    assert golden_texts[name] == (GOLDEN / name).read_text()


@pytest.fixture
def golden(tmp_path):
    return tables.build_table(golden_case(tmp_path), small_table_config(), "corrected")


def test_golden_case_cells_and_stars(golden):
    fathom_mae = golden.cell("fathom", "aq_mae")
    assert fathom_mae["best"] and fathom_mae["star"] and fathom_mae["n"] == 6
    assert fathom_mae["p_vs_second_holm"] == pytest.approx(2 / 2 ** 6)  # a family of one test
    f1 = golden.cell("fathom", "es_f1")
    assert f1["best"] and not f1["star"] and f1["p_vs_second_holm"] == pytest.approx(2 * 2 / 2 ** 6)
    assert golden.cell("lr", "aq_mae")["n"] == 4 and golden.cell("lr", "aq_mae")["n_failed"] == 2
    assert pd.isna(golden.cell("persistence", "aq_smape")["rank"])  # the floor is not ranked
    assert not golden.cell("persistence", "aq_smape")["best"]  # ... though it has the lowest smape
    text = tables.render_markdown(golden)
    assert "**7.301**\\*" in text and "**0.801** ±" in text
    assert text.count("\\*") == 2


def test_golden_notes_say_why(golden):
    notes = "\n".join(golden.notes)
    assert "Persistence (not in the paper) beats FATHOM on Air Quality smape" in notes
    assert "beats FATHOM on Air Quality mae" not in notes  # 9.0 > 7.3: FATHOM better there
    assert ("LR on beijing_air_quality: Air Quality mae, Air Quality smape rest(s) on 4 seed(s), "
            "other cells on up to 6") in notes
    assert "2 failed run(s) (seed 4, 5): non-finite loss at epoch 3" in notes
    assert "Air Quality mae: not tested, fewer than 6 shared seeds: FATHOM vs LR (4)." in notes
    assert "No * possible in ExtraSensory F1 (6 pairs), ExtraSensory BA (6 pairs)" in notes
    assert "2 of 2 tests run, * needs >= 7 seeds: ExtraSensory F1 (FATHOM vs M-LSTM)" in notes  # 2 * 2/2^6 > 0.05


def test_star_needs_the_seeds_its_family_size_implies(tmp_path):
    cfg = {**small_table_config(), "methods": ["m_lstm", "fathom"], "floor": []}
    spec = {("extrasensory", "m_lstm"): {"f1": 0.6, "ba": 0.7}, ("extrasensory", "fathom"): {"f1": 0.8, "ba": 0.9}}
    six = tables.build_table(write_runs(tmp_path / "six", grid(spec, range(6))), cfg, "corrected")
    assert six.cell("fathom", "es_f1")["star"] and "**0.801**\\*" in tables.render_markdown(six)
    five = tables.build_table(write_runs(tmp_path / "five", grid(spec, range(5))), cfg, "corrected")
    assert not five.frame["star"].any()
    text = tables.render_markdown(five)
    assert "\\*" not in text.split("Notes:")[0].split("|---|")[1]
    assert "ExtraSensory F1: not tested, fewer than 6 shared seeds: FATHOM vs M-LSTM (5)." in text
    assert "1 of 1 tests run, * needs >= 6 seeds" in tables.render_markdown(six)
    assert "significant here means stable across paired training seeds, not across data splits" in text


def test_no_star_when_the_best_is_not_significantly_better(tmp_path):
    cfg = {**small_table_config(), "methods": ["m_lstm", "fathom"], "floor": []}
    recs = [make_record("extrasensory", m, s, {"f1": v}) for s in range(8)
            for m, v in (("m_lstm", 0.70 + (0.02 if s % 2 else -0.02)), ("fathom", 0.705))]
    result = tables.build_table(write_runs(tmp_path, recs), cfg, "corrected")
    cell = result.cell("fathom", "es_f1")
    assert cell["best"] and not cell["star"] and cell["p_vs_second_holm"] > 0.05


def _paper_records(published: pd.DataFrame, cfg: dict) -> list[dict]:
    recs = []
    for key, name in PAPER_NAMES.items():
        for ds in dict.fromkeys(c["dataset"] for c in cfg["columns"]):
            metrics = {c["metric"]: float(published.loc[name, c["key"]]) for c in cfg["columns"] if c["dataset"] == ds}
            recs.append(make_record(ds, key, 0, metrics, method_name=name))
    return recs


def _mismatches(result, paper_a, paper_b) -> tuple[list, list]:
    imp = result.improv.set_index("column")
    keys = [c["key"] for c in result.columns]

    def off(ours, theirs):  # the paper truncates: theirs <= ours < theirs + 0.01
        return not (theirs - 1e-9 <= ours < theirs + 0.01 - 1e-9)

    return ([k for k, p in zip(keys, paper_a) if off(imp.loc[k, "improv_a"], p)],
            [k for k, p in zip(keys, paper_b) if off(imp.loc[k, "improv_b"], p)])


def test_improv_rows_from_the_published_numbers_reproduce_the_papers_improv_rows():
    """Known numbers: Table III's own cells give its own Improv. rows when the ablations are not baselines."""
    cfg = {**tables.load_table_config("3"), "ablations": ["fathom_ga", "fathom_ta"]}
    published = tables.published_numbers(cfg)
    result = tables.build_table(_paper_records(published, cfg), cfg, "corrected")
    imp = result.improv.set_index("column")
    assert imp.loc["extrasensory_precision", "improv_a"] == pytest.approx(100 * (0.89 - 0.43) / 0.43)
    assert imp.loc["extrasensory_precision", "improv_b"] == pytest.approx(100 * (0.89 - 0.79) / 0.79)  # S-LSTM
    assert imp.loc["airquality_mae", "improv_a"] == pytest.approx(100 * (30.13 - 7.30) / 30.13)  # lower is better
    assert imp.loc["airquality_mae", "best"] == "M-Att" and imp.loc["airquality_mae", "worst"] == "LR"
    bad_a, bad_b = _mismatches(result, PAPER_IMPROV_A, PAPER_IMPROV_B)
    # The paper's own inconsistencies: for three FitRec columns its "worst" is S-LSTM (LR is worse),
    # and Air Quality smape (b) = 15.38 % is over S-LSTM's 0.52, not the best baseline M-Att's 0.46.
    assert bad_a == ["fitrec_mae_heart_rate", "fitrec_mae_speed", "fitrec_smape_speed"]
    assert bad_b == ["airquality_smape"]
    # With the ablations counted as baselines, (b) would disagree with the paper in 7 of 10 columns.
    every_row = tables.build_table(_paper_records(published, cfg), {**cfg, "ablations": []}, "corrected")
    assert len(_mismatches(every_row, PAPER_IMPROV_A, PAPER_IMPROV_B)[1]) == 7
    assert "FATHOM-ga, FATHOM-ta left out as ablations" in "\n".join(result.notes)


def test_quick_runs_are_marked(tmp_path):
    recs = grid({("extrasensory", "fathom"): {"f1": 0.8, "ba": 0.9}, ("extrasensory", "lr"): {"f1": 0.5, "ba": 0.7}},
                range(2), quick=True)
    result = tables.build_table(write_runs(tmp_path, recs), small_table_config(), "corrected")
    for text in (tables.render_markdown(result), tables.render_latex(result), tables.render_vs_paper(result, None, {})):
        assert "QUICK RUN — not a reproduction" in text or "QUICK RUN --- not a reproduction" in text
    assert "QUICK" not in tables.render_markdown(tables.build_table(
        write_runs(tmp_path / "full", grid({("extrasensory", "fathom"): {"f1": 0.8}}, range(2))),
        small_table_config(), "corrected"))


def test_a_table_without_the_reference_row_names_only_the_tests_it_ran(tmp_path):
    """No FATHOM records yet (Air Quality `forecast`): the notes say the best is tested against the
    second best, and claim no "FATHOM vs each other row" test."""
    cfg = {**small_table_config(), "methods": ["m_lstm", "lr", "fathom"], "floor": []}
    spec = {("extrasensory", "m_lstm"): {"f1": 0.6, "ba": 0.7}, ("extrasensory", "lr"): {"f1": 0.8, "ba": 0.9}}
    text = tables.render_markdown(tables.build_table(write_runs(tmp_path, grid(spec, range(6))), cfg, "corrected"))
    assert "Tests per column: best vs second best (for the *), Holm-Bonferroni" in text
    assert "vs each other row" not in text


def test_partial_grid_shows_only_what_is_recorded(tmp_path):
    recs = grid({("beijing_air_quality", "fathom"): {"mae": 7.0, "smape": 0.4}}, range(3))
    recs += grid({("beijing_air_quality", "lr"): {"mae": 9.0, "smape": 0.6}}, range(3), protocol="paper")
    result = tables.build_table(write_runs(tmp_path, recs), small_table_config(), "corrected")
    assert result.rows == ["fathom"] and result.floor == []
    assert [c["key"] for c in result.columns] == ["aq_mae", "aq_smape"]
    text = tables.render_markdown(result)
    assert "| FATHOM |" in text and "LR" not in text.split("Notes:")[0] and "ExtraSensory" not in text
    assert tables.render_latex(result).count(r"\\") >= 4


def test_as_coded_uses_the_as_coded_metric_where_a_column_has_one(tmp_path):
    result = tables.build_table(golden_case(tmp_path), small_table_config(), "corrected", as_coded=True)
    assert result.cell("fathom", "aq_mae")["mean"] == pytest.approx(7.5, abs=0.01)
    assert result.cell("fathom", "aq_smape")["metric"] == "smape"  # no as_coded metric: the column's own
    assert result.notes[0].startswith("As coded")


def test_vs_paper_truncates_and_places_the_published_value(golden):
    text = tables.render_vs_paper(golden, golden_published(), GOLDEN_NOTES)
    assert "How the data differs from the paper's: 24 users instead of 40." in text
    assert "| FATHOM | smape | 0.4407 | 0.44 | [0.435, 0.445] | 6 | 0.44 | +0.0007 | yes |" in text
    assert "| M-LSTM | F1 | 0.6107 | 0.61 | [0.605, 0.615] | 6 | 0.58 | +0.0307 | no |" in text
    assert "| Persistence (not in the paper) | mae |" in text
    assert "significant here means stable across paired training seeds" in text


def test_truncate():
    assert tables.truncate(0.4463) == 0.44 and tables.truncate(0.29) == 0.29 and tables.truncate(7.309) == 7.30
    assert tables.truncate(-0.4463) == -0.44 and tables.truncate(106.9767) == 106.97


def test_write_outputs_names_files_after_the_config(tmp_path, golden):
    paths = tables.write_outputs(golden, tmp_path, None, None)
    assert [p.name for p in paths[:4]] == ["table_small.md", "table_small.csv", "table_small.tex",
                                           "table_small-vs-paper.md"]
    # one seed-score plot per column, PNG and PDF, beside the tables
    assert {p.relative_to(tmp_path).as_posix() for p in paths[4:]} == {
        f"table_small-plots/{c['key']}.{ext}" for c in golden.columns for ext in ("png", "pdf")}
    assert pd.read_csv(paths[1])["method"].tolist().count("improv_a") == 4
    assert not list(tmp_path.rglob(".*.tmp"))
    again = tables.write_outputs(golden, tmp_path / "again", None, None)
    assert [p.read_bytes() for p in paths[4:]] == [p.read_bytes() for p in again[4:]]  # same numbers, same bytes


def test_duplicate_records_are_bad_input(tmp_path):
    runs = write_runs(tmp_path / "a", grid({("extrasensory", "fathom"): {"f1": 0.8}}, range(1)))
    with pytest.raises(BadInput, match="a second record"):
        tables.build_table(runs + runs, small_table_config(), "corrected")


def test_load_table_config_by_name_and_path(tmp_path):
    cfg = tables.load_table_config("3")
    assert cfg["name"] == "table3" and tables.load_table_config("table3")["methods"] == cfg["methods"]
    published = tables.published_numbers(cfg)
    assert published.loc["MLP(16,16)", "airquality_mae"] == 10.83
    assert published.loc["FATHOM", "extrasensory_precision"] == 0.89
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nmethods: [a]\nreference_method: a\ncolumns:\n"
                    "  - {key: k, dataset: d, metric: m, label: L, higher_is_better: true}\n")
    assert tables.load_table_config(str(path))["name"] == "mine"
    assert tables.published_numbers(tables.load_table_config(str(path))) is None


@pytest.mark.parametrize("content, needle", [
    (None, "cannot be read"),
    ("name: [unclosed\n", "not valid YAML"),
    ("- a list\n", "must be a mapping"),
    ("name: x\nmethods: [a]\nreference_method: a\n", "lacks columns"),
    ("name: x\nmethods: [a]\nreference_method: b\ncolumns: [{key: k, dataset: d, metric: m, label: L, "
     "higher_is_better: true}]\n", "reference_method 'b'"),
    ("name: x\nmethods: [a]\nreference_method: a\ncolumns: [{key: k}]\n", "column 1 lacks dataset"),
])
def test_bad_table_config_names_the_file(tmp_path, content, needle):
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BadInput, match=needle) as exc:
        tables.load_table_config(str(path))
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_bad_published_file_names_it(tmp_path):
    (tmp_path / "pub.csv").write_text("method,k\nA,not-a-number\n")
    cfg = {"published": "pub.csv", "_path": str(tmp_path / "t.yaml")}
    with pytest.raises(BadInput, match="pub.csv"):
        tables.published_numbers(cfg)


def test_statistics_tables_leaderboard_and_check_never_import_torch():
    import subprocess
    import sys

    code = ("import sys; import fathom_bench.stats, fathom_bench.tables, fathom_bench.leaderboard, "
            "fathom_bench.check, fathom_bench.check_statistical, fathom_bench.critical_difference, "
            "fathom_bench.plots; import matplotlib.figure; fathom_bench.tables.load_table_config('3'); "
            "assert not {'torch', 'lightning'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def _with_sources(tmp_path, text: str | None) -> dict:
    import shutil

    cfg = {**small_table_config(), "sources": "table_small_sources.csv", "_path": str(tmp_path / "table_small.yaml")}
    if text is None:
        shutil.copy(Path(__file__).parent / "fixtures" / "table_small_sources.csv", tmp_path / "table_small_sources.csv")
    else:
        (tmp_path / "table_small_sources.csv").write_text(text)
    return cfg


def test_vs_paper_compares_with_the_result_file_value_and_names_it(tmp_path, golden):
    from fathom_bench.sources import read_table_sources as read_sources

    sources = read_sources(_with_sources(tmp_path, None))
    text = tables.render_vs_paper(golden, golden_published(), GOLDEN_NOTES, sources)
    # FATHOM smape 0.4407, CI [0.435, 0.445]: compared with the file's 0.4412 (inside), difference from it
    assert ("| FATHOM | smape | 0.4407 | [0.435, 0.445] | 6 | 0.44 | 0.4412 in "
            "`FATHOM_IJCNN/weather/results/HAMDN_1_mae.txt` (published rounded) | -0.0005 | yes |  |") in text
    # no file: the published value read with the stated rounding (0.58 +- 0.005 vs CI [0.605, 0.615])
    assert "| M-LSTM | F1 | 0.6107 | [0.605, 0.615] | 6 | 0.58 | published value, rounded assumed" in text
    assert "| +0.0307 | no |  |" in text
    assert "no script can have produced this" in text
    assert "| M-LSTM | BA |" in text and "no source row" in text  # a cell the sources do not cover says so


def test_rounding_intervals_of_a_source_row():
    from fathom_bench.sources import CellSource

    assert CellSource(0.44, None, "", "assumed-rounded", "", "").interval(2) == pytest.approx((0.435, 0.445))
    assert CellSource(0.44, None, "", "assumed-truncated", "", "").interval(2) == pytest.approx((0.44, 0.45))
    assert CellSource(0.89, 0.8857, "f.txt", "rounded", "", "").interval(2) == (0.8857, 0.8857)


@pytest.mark.parametrize("text, message", [
    ("method,column,published\nLR,a,1\n", "sources lack column(s) file_value"),
    ("method,column,published,file_value,result_file,rounding,computation,note\nLR,a,1,,,floor,,\n",
     "rounding 'floor' is unknown"),
    ("method,column,published,file_value,result_file,rounding,computation,note\nLR,a,1,0.9,,rounded,,\n",
     "a file_value needs its result_file"),
])
def test_bad_sources_are_one_line(tmp_path, text, message):
    from fathom_bench.sources import read_table_sources as read_sources

    with pytest.raises(BadInput, match=re.escape(message)):
        read_sources(_with_sources(tmp_path, text))


def test_table3_names_its_sources_file():
    cfg = tables.load_table_config("3")
    assert cfg["sources"] == "table3_sources.csv"
