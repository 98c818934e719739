"""`errata`: every published cell with its source, our values and a verdict, from records only."""

from __future__ import annotations

import csv

import pytest

from fathom_bench.cli import main
from fathom_bench.errata import (NO_CODE, NOT_MEASURED, NOT_REPRODUCED, QUICK_ONLY, REPRODUCED, build_errata,
                                 write_errata)
from fathom_bench.paths import results_dir
from fathom_bench.sources import read_sources
from fathom_bench.tables import load_table_config
from records_factory import make_record, write_runs

SEEDS = range(6)
WIGGLE = (0.0, 0.01, -0.01, 0.02, -0.02, 0.003)  # mean 0.0005


def air_quality_runs(out, fathom_mae: float, quick: bool = False, protocols=("paper", "corrected")):
    """FATHOM and M-Att on Air Quality: the as-coded MAE (`paper`) and the corrected MAE."""
    recs = []
    for protocol in protocols:
        for method, name, base in (("fathom", "FATHOM", fathom_mae), ("m_att", "M-Att", 9.0)):
            for s in SEEDS:
                metrics = {"as_coded/mae@rows0-5": base + WIGGLE[s], "mae": base + 1 + WIGGLE[s]}
                recs.append(make_record("beijing_air_quality", method, s, metrics, protocol=protocol, quick=quick,
                                        method_name=name))
    return write_runs(out, recs)


def by_cell(rows):
    return {(r["method"], r["column"]): r for r in rows}


@pytest.fixture(scope="module")
def cfg():
    return load_table_config("3")


def test_published_value_inside_the_paper_interval_is_reproduced(tmp_path, cfg):
    rows = by_cell(build_errata(air_quality_runs(tmp_path, 7.302), cfg, read_sources()))
    assert len(rows) == 90
    cell = rows[("FATHOM", "airquality_mae")]
    assert cell["verdict"] == REPRODUCED and cell["paper_n"] == len(SEEDS)
    assert cell["paper_metric"] == "as_coded/mae@rows0-5"
    assert cell["corrected_mean"] == pytest.approx(8.3025, abs=1e-9)
    assert cell["result_file"] == "FATHOM_IJCNN/weather/results/HAMDN_1_mae.txt"
    # M-Att has no Air Quality code: whatever we measure, no public script made the published number
    assert rows[("M-Att", "airquality_mae")]["verdict"] == NO_CODE
    # a cell with no records is not measured
    assert rows[("FATHOM", "fitrec_mae_speed")]["verdict"] == NOT_MEASURED


def test_published_value_outside_the_interval_is_not_reproduced(tmp_path, cfg):
    rows = by_cell(build_errata(air_quality_runs(tmp_path, 12.0), cfg, read_sources()))
    assert rows[("FATHOM", "airquality_mae")]["verdict"] == NOT_REPRODUCED


def test_quick_records_never_give_reproduced_or_not(tmp_path, cfg):
    out = tmp_path / "results"
    air_quality_runs(out, 7.302, quick=True)
    paths = write_errata(out, tmp_path / "page")
    rows = list(csv.DictReader(paths[1].read_text().splitlines()))
    verdicts = {r["verdict"] for r in rows}
    assert REPRODUCED not in verdicts and NOT_REPRODUCED not in verdicts
    assert {r["verdict"] for r in rows if r["method"] == "FATHOM" and r["column"] == "airquality_mae"} == {QUICK_ONLY}
    page = paths[0].read_text()
    assert "QUICK budget" in page.splitlines()[2]
    assert f"| {REPRODUCED} | 0 |" in page and f"| {NOT_REPRODUCED} | 0 |" in page


def test_corrected_only_records_measure_nothing_against_the_paper(tmp_path, cfg):
    rows = by_cell(build_errata(air_quality_runs(tmp_path, 7.302, protocols=("corrected",)), cfg, read_sources()))
    cell = rows[("FATHOM", "airquality_mae")]
    assert cell["verdict"] == NOT_MEASURED and cell["corrected_mean"] is not None and cell["paper_mean"] is None


def test_errata_on_the_committed_quick_reference_says_quick(tmp_path, capsys):
    assert main(["errata", "--results", str(results_dir() / "reference-quick"), "--out", str(tmp_path)]) == 0
    page = (tmp_path / "errata.md").read_text()
    assert "QUICK" in page
    rows = list(csv.DictReader((tmp_path / "errata.csv").read_text().splitlines()))
    assert len(rows) == 90
    assert not {r["verdict"] for r in rows} & {REPRODUCED, NOT_REPRODUCED}
    assert (results_dir() / "reference-quick" / "runs").is_dir()


def test_a_bad_sources_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "s.csv"
    bad.write_text("method,column\nLR,x\n")
    assert main(["errata", "--sources", str(bad), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]


def test_committed_errata_and_the_readme_counts_rebuild_from_the_records(tmp_path):
    """results/errata.{md,csv} and the README's verdict table come from the committed records, never typed in."""
    from fathom_bench.errata import verdict_counts

    assert main(["errata", "--out", str(tmp_path)]) == 0
    for name in ("errata.md", "errata.csv"):
        assert (tmp_path / name).read_text() == (results_dir() / name).read_text(), name
    rows = list(csv.DictReader((tmp_path / "errata.csv").read_text().splitlines()))
    readme = (results_dir().parent / "README.md").read_text()
    for verdict, count in verdict_counts(rows).items():
        assert f"| {verdict} | {count} |" in readme, verdict
