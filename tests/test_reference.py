"""The converged reference (results/reference): every record is of the standard budget and of the
code as it is now, the README's Table III and findings block is exactly what the records rebuild,
and ExtraSensory LR has learned there (it reached BA 0.59 by hand at 20 epochs)."""

from __future__ import annotations

from pathlib import Path

from fathom_bench.findings import BEGIN, END, render_block
from fathom_bench.records import iter_runs
from fathom_bench.tables import load_table_config

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "reference"


def test_reference_records_are_the_standard_budget_of_the_current_code():
    from fathom_bench.runner.reproduce import ReproduceOptions, plan_table

    runs = list(iter_runs(REFERENCE))
    assert runs, "results/reference holds the converged reference runs"
    cfg = load_table_config("3")
    keys = {(r.record["protocol"], r.record["dataset"]) for r in runs}
    methods = sorted({r.record["method"] for r in runs})
    planned = {}
    for protocol, dataset in keys:
        for run in plan_table(cfg, ReproduceOptions(budget="standard", seeds=10, datasets=[dataset], methods=methods,
                                                    protocol=protocol)):
            planned[(protocol, dataset, run.method.key, run.seed)] = run.config_hash()
    stale = [str(r.path.relative_to(REFERENCE)) for r in runs
             if planned.get((r.record["protocol"], r.record["dataset"], r.record["method"], r.record["seed"]))
             != r.record["config_hash"]]
    assert not stale, (f"{len(stale)} reference records are stale or not of the standard budget (e.g. {stale[0]}): "
                       "rerun `reproduce --table 3 --budget standard --out results/reference` for them")
    assert {r.record["budget"] for r in runs} == {"standard"}
    assert all(r.ok for r in runs), "a failed run in the reference: rerun it before committing"


def test_readme_table3_block_is_what_the_reference_records_rebuild():
    readme = (REPO / "README.md").read_text()
    assert readme.count(BEGIN) == 1 and readme.count(END) == 1
    block = BEGIN + readme.split(BEGIN, 1)[1].split(END, 1)[0] + END
    from fathom_bench.coverage import reference_coverage
    from fathom_bench.publish import reference_runs

    cfg = load_table_config("3")
    assert block == render_block(reference_runs(REFERENCE, cfg), reference_coverage(REFERENCE, cfg), cfg), (
        "run `python -m fathom_bench publish`")


def test_everything_published_from_the_reference_rebuilds_byte_for_byte(tmp_path):
    """Table III files beside the records, leaderboard, errata and the README block: `publish` into a
    temporary folder writes exactly the committed files."""
    import shutil

    from fathom_bench.publish import publish

    readme = tmp_path / "README.md"
    shutil.copy(REPO / "README.md", readme)
    written = publish(REFERENCE, tmp_path / "results", readme, load_table_config("3"), tables_out=tmp_path / "tables")
    assert readme.read_text() == (REPO / "README.md").read_text()
    compared = 0
    for path in written:
        if path.suffix not in (".md", ".csv", ".html", ".tex") or path == readme:
            continue
        rel = path.relative_to(tmp_path / "tables") if path.is_relative_to(tmp_path / "tables") else None
        committed = REFERENCE / rel if rel else REPO / "results" / path.relative_to(tmp_path / "results")
        assert path.read_text() == committed.read_text(), str(committed)
        compared += 1
    assert compared >= 5  # table3.md/.csv/.tex/-vs-paper.md, leaderboard.md/.html, errata.md/.csv


def test_extrasensory_lr_has_learned_at_the_standard_budget():
    ba = [r.record["metrics"]["test"]["ba"] for r in iter_runs(REFERENCE, "corrected")
          if r.record["dataset"] == "extrasensory" and r.record["method"] == "lr"]
    assert len(ba) >= 3
    assert sum(ba) / len(ba) >= 0.55


def test_a_grid_into_the_reference_publishes_complete_rows_only(tmp_path, monkeypatch):
    """`reproduce --out results/reference` ends with `publish`, not the grid's own tables: the pages
    it leaves are exactly the committed ones, though the folder holds rows still short of seeds."""
    import shutil

    from fathom_bench import paths
    from fathom_bench.runner.reproduce import is_reference, publish_reference

    results = tmp_path / "results"
    shutil.copytree(REFERENCE / "runs", results / "reference" / "runs")
    monkeypatch.setattr(paths, "results_dir", lambda: results)
    shutil.copytree(REPO / "results" / "budget-study", results / "budget-study")  # the README block reads it
    assert is_reference(results / "reference") and not is_reference(results / "table3")
    logged = []
    written = publish_reference(results / "reference", load_table_config("3"), log=logged.append)
    names = {p.name for p in written}
    assert {"table3.md", "coverage.md", "leaderboard.md", "errata.md"} <= names, logged
    for name in ("table3.md", "table3.csv", "coverage.md"):
        assert (results / "reference" / name).read_text() == (REFERENCE / name).read_text(), name
    assert (results / "leaderboard.md").read_text() == (REPO / "results" / "leaderboard.md").read_text()


def test_a_reference_with_no_complete_row_is_not_published_and_keeps_its_records(tmp_path, monkeypatch):
    import shutil

    from fathom_bench import paths
    from fathom_bench.runner.reproduce import publish_reference

    results = tmp_path / "results"
    one = next(iter_runs(REFERENCE)).path
    target = results / "reference" / one.relative_to(REFERENCE)
    target.parent.mkdir(parents=True)
    shutil.copy(one, target)
    monkeypatch.setattr(paths, "results_dir", lambda: results)
    logged = []
    assert publish_reference(results / "reference", load_table_config("3"), log=logged.append) == []
    assert len(logged) == 1 and "not published yet" in logged[0] and target.is_file()
