"""`evaluate` pairs a new method with the stored runs' seeds and budget; the committed leaderboard
is exactly what the committed reference records rebuild; the CI reference file is well formed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from fathom_bench import check, leaderboard
from fathom_bench.cli import main
from fathom_bench.records import iter_runs

REPO = Path(__file__).resolve().parents[1]
TABLE = str(Path(__file__).parent / "fixtures" / "table_synthetic.yaml")


def test_evaluate_pairs_new_method_with_stored_seeds_and_budget(tmp_path, capsys):
    committed = REPO / "results" / "leaderboard.md"
    before = committed.read_text() if committed.exists() else None
    assert main(["reproduce", "--table", TABLE, "--out", str(tmp_path), "--wandb", "disabled", "--no-progress",
                 "--methods", "lr", "persistence", "--seeds", "2", "--max-epochs", "1"]) == 0
    assert main(["evaluate", "--method", "transformer", "--results", str(tmp_path), "--wandb", "disabled",
                 "--no-progress"]) == 0
    runs = {(r.record["method"], r.record["seed"]): r.record for r in iter_runs(tmp_path)}
    assert {s for m, s in runs if m == "transformer"} == {0, 1}
    assert runs[("transformer", 0)]["config"]["trainer"] == runs[("lr", 0)]["config"]["trainer"]
    board = (tmp_path / "leaderboard.md").read_text()
    assert "Transformer" in board and "LR" in board
    assert (committed.read_text() if committed.exists() else None) == before  # written beside --results only


def test_committed_leaderboard_equals_a_fresh_rebuild():
    reference = REPO / "results" / "reference"
    runs = list(iter_runs(reference, "corrected"))
    assert runs, "results/reference holds the stored baseline runs"
    board = leaderboard.build_leaderboard(runs, "corrected")
    assert (REPO / "results" / "leaderboard.md").read_text() == leaderboard.render_leaderboard(board, "md")
    html = (REPO / "results" / "leaderboard.html").read_text()
    assert html == leaderboard.render_leaderboard(board, "html")
    assert "QUICK RUN" in html  # the reference runs are quick-budget: never shown as a ranking result unmarked
    linked = re.findall(r'(?:src|href)="(leaderboard-plots/[^"]+)"', html)
    assert len(linked) == 2 * 11 and all((REPO / "results" / path).is_file() for path in linked)


def test_committed_table3_equals_a_fresh_rebuild_from_its_records(tmp_path):
    from fathom_bench.runner.grid import pending
    from fathom_bench.runner.reproduce import ReproduceOptions, plan_table
    from fathom_bench.tables import load_table_config

    shutil.copytree(REPO / "results" / "reference" / "runs", tmp_path / "runs")
    planned = plan_table(load_table_config("3"), ReproduceOptions(quick=True, seeds=10))
    todo, _ = pending(planned, tmp_path)
    # a stale record (its config hash no longer matches the code's) would retrain here: fail instead
    assert not todo, (f"{len(todo)} committed reference records are stale (e.g. {todo[0][0].key}): regenerate "
                      "them with `reproduce --table 3 --quick --seeds 10 --out results/reference`")
    assert main(["reproduce", "--table", "3", "--quick", "--seeds", "10", "--out", str(tmp_path), "--wandb", "disabled",
                 "--no-progress"]) == 0  # every run reused: nothing trains
    for name in ("table3.md", "table3.csv", "table3.tex", "table3-vs-paper.md"):
        assert (tmp_path / name).read_text() == (REPO / "results" / "reference" / name).read_text(), name
    assert "QUICK RUN" in (tmp_path / "table3.md").read_text()
    plots = sorted(p.name for p in (tmp_path / "table3-plots").iterdir())
    assert plots == sorted(p.name for p in (REPO / "results" / "reference" / "table3-plots").iterdir())


def test_committed_ci_reference_is_loadable():
    ref = check.load_reference(REPO / "results" / "reference" / "ci-check.json")
    assert ref["runs"], "the CI reference names the runs .ci/run reproduces"
