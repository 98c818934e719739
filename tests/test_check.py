"""`check`: equal records pass, a moved metric fails and is printed, bad references are BadInput."""

from __future__ import annotations

import json

import pytest
from records_factory import grid, make_record, write_runs

from fathom_bench import check as chk
from fathom_bench.cli import main
from fathom_bench.errors import BadInput

SPEC = {("synthetic", "fathom"): {"mae": 1.0, "smape": 0.10, "as_coded/mae@row1": 1.2},
        ("synthetic", "lr"): {"mae": 2.0, "smape": 0.20, "as_coded/mae@row1": 2.2},
        ("extrasensory", "fathom"): {"f1": 0.80, "ba": 0.88}}


@pytest.fixture
def reference(tmp_path):
    runs = write_runs(tmp_path / "ref", grid(SPEC, range(6)))
    path = tmp_path / "ref.json"
    chk.write_reference(runs, path)
    return path


def shifted(tmp_path, name, changes: dict, seeds=range(6)):
    """The SPEC records with `changes` {(dataset, method, metric): delta} added on every seed."""
    recs = grid(SPEC, seeds)
    for rec in recs:
        for (ds, m, metric), delta in changes.items():
            if rec["dataset"] == ds and rec["method"] == m:
                rec["metrics"]["test"][metric] += delta
    return write_runs(tmp_path / name, recs)


def test_reference_file_format(reference):
    ref = json.loads(reference.read_text())
    assert ref["schema"] == 1 and ref["protocols"] == ["corrected"]
    assert ref["tolerance"] == {"rtol": chk.DEFAULT_RTOL, "atol": chk.DEFAULT_ATOL}
    entry = ref["runs"]["corrected/synthetic/fathom/seed=3"]
    assert entry["metrics"]["mae"] == pytest.approx(1.0 + 0.006) and len(entry["config_hash"]) == 16


def test_equal_records_pass(tmp_path, reference):
    result = chk.compare(shifted(tmp_path, "cur", {}), chk.load_reference(reference))
    assert result.regressions == [] and set(result.rows["status"]) == {"ok"}
    assert "no regression" in chk.render_check(result)


def test_a_moved_metric_fails_and_is_printed(tmp_path, reference):
    cur = shifted(tmp_path, "cur", {("synthetic", "fathom", "mae"): -0.05})  # better counts too: moved
    result = chk.compare(cur, chk.load_reference(reference))
    assert len(result.regressions) == 6 and all("synthetic/fathom" in r and " mae:" in r for r in result.regressions)
    text = chk.render_check(result)
    assert "REGRESSION: 6 (exit 1)" in text
    assert "| corrected/synthetic/fathom/seed=0 | mae | 1 | 0.95 | -0.05 | -5 % | moved |" in text
    assert "| ok |" not in text  # many rows: only what moved is listed


def test_tolerance_from_the_reference_or_the_caller(tmp_path, reference):
    cur = shifted(tmp_path, "cur", {("extrasensory", "fathom", "f1"): 1e-4})
    assert chk.compare(cur, chk.load_reference(reference)).regressions
    assert not chk.compare(cur, chk.load_reference(reference), rtol=1e-3).regressions


def test_missing_runs_and_metrics_are_regressions_new_ones_are_not(tmp_path, reference):
    recs = [r for r in grid(SPEC, range(6)) if not (r["method"] == "lr" and r["seed"] == 5)]
    for r in recs:
        r["metrics"]["test"].pop("as_coded/mae@row1", None) if r["method"] == "fathom" and r["seed"] == 0 else None
    recs.append(make_record("synthetic", "lr", 9, {"mae": 2.0}))
    recs.append(make_record("synthetic", "m_lstm", 5, status="failed"))
    result = chk.compare(write_runs(tmp_path / "cur", recs), chk.load_reference(reference))
    assert sorted(result.regressions) == [
        "corrected/synthetic/fathom/seed=0 as_coded/mae@row1: in the reference (1.2), missing in the results",
        "corrected/synthetic/lr/seed=5: in the reference, absent in the results"]
    assert (result.rows["status"] == "new").sum() == 1


def test_statistical_mode(tmp_path, reference):
    ref = chk.load_reference(reference)
    same = chk.compare_statistical(shifted(tmp_path, "same", {}), ref)
    assert not same.regressions and set(same.rows["test"]) == {"paired t", "paired t (pooled)"}
    assert "as_coded/mae@row1" not in set(same.rows["metric"])  # headline metrics only
    worse = chk.compare_statistical(shifted(tmp_path, "worse", {("synthetic", "fathom", "mae"): 0.5,
                                                                ("extrasensory", "fathom", "f1"): 0.1},
                                            seeds=range(10, 30)), ref)
    tested = worse.rows.dropna(subset=["p"])
    assert set(tested["test"]) == {"welch t"}  # fresh seeds: unpaired
    flagged = sorted(worse.rows.loc[worse.rows["status"] == "worse", "metric"])
    assert flagged == ["mae"]  # f1 went up: better, not a regression (one-sided)
    text = chk.render_check(worse)
    assert "corrected p" in text and "detectable change" in text and len(worse.regressions) == 1


def test_metric_direction():
    assert chk.direction("f1") == 1 and chk.direction("mae/tar_heart_rate") == -1
    assert chk.direction("as_coded/smape@rows0-5") == -1 and chk.direction("epochs") == 0


@pytest.mark.parametrize("content, needle", [
    (None, "cannot be read"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"schema": 2, "runs": {}}', "schema 2"),
    ('{"schema": 1}', "lacks `runs`"),
    ('{"schema": 1, "runs": {"corrected/synthetic/fathom": {"metrics": {}}}}', "is not <protocol>"),
    ('{"schema": 1, "runs": {"corrected/synthetic/fathom/seed=0": {"metrics": {"mae": "x"}}}}', "lacks `metrics`"),
    ('{"schema": 1, "runs": {"corrected/synthetic/fathom/seed=0": {}}}', "lacks `metrics`"),
    ('{"schema": 1, "tolerance": {"rtol": "tight"}, "runs": {}}', "tolerance"),
])
def test_bad_reference_is_bad_input_naming_the_file(tmp_path, content, needle):
    path = tmp_path / "ref.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BadInput, match=needle) as exc:
        chk.load_reference(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_exit_codes_through_the_cli(tmp_path, reference, capsys):
    ok = tmp_path / "ok"
    shifted(tmp_path, "ok", {})
    assert main(["check", "--results", str(ok), "--reference", str(reference)]) == 0
    shifted(tmp_path, "moved", {("synthetic", "lr", "smape"): 0.01})
    assert main(["check", "--results", str(tmp_path / "moved"), "--reference", str(reference)]) == 1
    assert "| smape | 0.2 | 0.21 |" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("{}")
    assert main(["check", "--results", str(ok), "--reference", str(tmp_path / "bad.json")]) == 2
    assert "bad.json" in capsys.readouterr().err
