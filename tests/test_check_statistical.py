"""`check --statistical`: false alarms and power measured by simulation on grids shaped like the committed
reference, and the committed reference itself against a copy made 10 % worse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fathom_bench import check as chk
from fathom_bench import check_statistical as cs
from fathom_bench.cli import main
from fathom_bench.records import iter_runs
from fathom_bench.tables import load_table_config

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "reference-quick"  # the quick grid: its shape (seeds, spread) is what CI checks
GRIDS = 200
SEEDS = 10


@pytest.fixture(scope="module")
def cells():
    """{column key: (higher_is_better, {method: (mean, cv)})} from the committed reference runs; a
    deterministic method (cv 0, Persistence) gets the column's median cv, else it alone would flag
    every change and make the power trivial."""
    cfg = load_table_config("3")
    runs = [r.record for r in iter_runs(REFERENCE, "corrected")]
    out = {}
    for col in cfg["columns"]:
        per = {}
        for m in sorted({r["method"] for r in runs}):
            v = np.array([r["metrics"]["test"][col["metric"]] for r in runs
                          if r["dataset"] == col["dataset"] and r["method"] == m])
            per[m] = (v.mean(), v.std(ddof=1) / abs(v.mean()))
        med = float(np.median([cv for _, cv in per.values() if cv > 0]))
        out[col["key"]] = (bool(col["higher_is_better"]), {m: (mu, cv if cv > 0 else med) for m, (mu, cv) in per.items()})
    return out


def simulate(cells, change: float, rho: float, skewed: bool, seed: int, grids: int = GRIDS) -> tuple[float, dict]:
    """Share of `grids` simulated (reference, current) grid pairs flagged, overall and per column.

    Seed i of method m scores mean * (1 + cv * e) with e = rho * z_i + sqrt(1 - rho^2) * u: z is the
    seed's effect shared by the reference and the re-run (the pairing), u the re-run's own noise;
    rho = 0: the re-run is an independent draw (pairing helps nothing). e is standard normal, or a
    standardised gamma(4) (skewness 1, the reference cells' 90th percentile is 1.5) when skewed.
    The current grid is `change` worse in every cell.
    """
    rng = np.random.default_rng(seed)

    def noise(size):
        return (rng.gamma(4.0, size=size) - 4.0) / 2.0 if skewed else rng.normal(size=size)

    grid_hits, col_hits = 0, dict.fromkeys(cells, 0)
    for _ in range(grids):
        families = {}
        for key, (hib, per) in cells.items():
            ref, cur = {}, {}
            for m, (mu, cv) in per.items():
                z, u = noise(SEEDS), noise((2, SEEDS))
                e_ref, e_cur = (rho * z + np.sqrt(1 - rho ** 2) * u[i] for i in (0, 1))
                factor = (1 - change) if hib else (1 + change)
                ref[m] = dict(enumerate(mu * (1 + cv * e_ref)))
                cur[m] = dict(enumerate(factor * mu * (1 + cv * e_cur)))
            families[key] = (hib, ref, cur)
        flags = {k: worse for k, (worse, _) in cs.verdicts(families).items()}
        grid_hits += any(flags.values())
        for k, w in flags.items():
            col_hits[k] += w
    return grid_hits / grids, {k: v / grids for k, v in col_hits.items()}


@pytest.mark.parametrize("rho,skewed", [(0.0, False), (0.5, True)])
def test_no_change_flags_at_most_5_percent_of_grids(cells, rho, skewed):
    # The check spends exactly alpha = 0.05 (Bonferroni over 10 nearly independent columns: the true
    # rate is about 1 - 0.995**10 = 0.049), so 200 grids would land above 5 % by chance about 4 times in
    # 10; 1000 grids and two Monte-Carlo standard errors tell a correct level from a broken one.
    grids = 1000
    flagged, per_column = simulate(cells, 0.0, rho, skewed, seed=1, grids=grids)
    assert flagged <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / grids), flagged
    assert max(per_column.values()) <= 0.005 + 3 * np.sqrt(0.005 / grids)  # alpha / 10 per column


def test_a_10_percent_change_is_flagged_in_80_percent_of_grids_and_of_each_column(cells):
    # Independent re-runs (rho = 0), the hardest case: the grid is flagged; FitRec's Speed MAE, whose
    # quick-budget methods vary 7-50 % between seeds, is the one column near the limit.
    flagged, per_column = simulate(cells, 0.10, 0.0, False, seed=2)
    assert flagged >= 0.8
    assert sum(v >= 0.8 for v in per_column.values()) >= len(per_column) - 1
    # Re-runs sharing half of each seed's effect (same initialisation and data order, other hardware),
    # skewed noise: every column is flagged in >= 80 % of the grids.
    flagged, per_column = simulate(cells, 0.10, 0.5, True, seed=3)
    assert flagged >= 0.8 and min(per_column.values()) >= 0.8, per_column


def test_a_deterministic_method_that_moved_is_worse_one_that_did_not_is_ok():
    ref = {"persistence": dict.fromkeys(range(3), 2.0), "lr": {0: 1.0, 1: 1.1, 2: 0.9}}
    moved = cs.column_family(ref, {"persistence": dict.fromkeys(range(3), 2.2), "lr": ref["lr"]}, False, 1)
    status = {r["method"]: r["status"] for r in moved}
    assert status["persistence"] == "worse" and status["lr"] == "ok"
    same = cs.column_family(ref, ref, False, 1)
    assert all(r["status"] == "ok" for r in same)


def test_a_paired_t_test_reaches_what_a_signed_rank_test_cannot():
    # 10 pairs, all worse: the exact signed-rank p cannot go below 1/1024; the t-test's can.
    ref = dict(enumerate(np.linspace(1.0, 1.2, 10)))
    cur = {s: v * 1.1 for s, v in ref.items()}
    out = cs.method_test(ref, cur, hib=False, level=0.05 / 120)
    assert out["test"] == "paired t" and out["p"] < 1 / 1024 and 0 < out["mdc"]


def _worse_copy(src: Path, dst: Path, factor: float, cfg) -> None:
    """Every headline metric of every record under src made `factor` worse (x (1 - f) or x (1 + f))."""
    hib = {c["metric"]: c["higher_is_better"] for c in cfg["columns"]}
    shutil.copytree(src / "runs", dst / "runs")
    for path in (dst / "runs").rglob("seed=*.json"):
        rec = json.loads(path.read_text())
        test = rec["metrics"]["test"]
        for metric, up in hib.items():
            if isinstance(test.get(metric), (int, float)):
                test[metric] *= (1 - factor) if up else (1 + factor)
        path.write_text(json.dumps(rec))


def test_committed_reference_against_itself_passes_and_10_percent_worse_fails_naming_columns(tmp_path, capsys):
    cfg = load_table_config("3")
    ref = tmp_path / "reference.json"
    assert main(["check", "--results", str(REFERENCE), "--reference", str(ref), "--write"]) == 0
    capsys.readouterr()
    assert main(["check", "--results", str(REFERENCE), "--reference", str(ref), "--statistical"]) == 0
    same = capsys.readouterr().out
    assert "no regression" in same and "detectable change" in same
    _worse_copy(REFERENCE, tmp_path / "worse", 0.10, cfg)
    assert main(["check", "--results", str(tmp_path / "worse"), "--reference", str(ref), "--statistical"]) == 1
    out = capsys.readouterr().out
    for col in cfg["columns"]:
        name = f"{col['group']} {col['label']}"
        assert f"corrected: {name}: WORSE" in out, name
    verdicts = [line for line in out.splitlines() if line.startswith("note: corrected: ")]
    assert len(verdicts) == len(cfg["columns"]) and all("minimal detectable change" in v for v in verdicts)


def test_only_headline_metrics_are_tested():
    ref = chk.load_reference(REPO / "results" / "reference-quick" / "ci-check.json")
    result = chk.compare_statistical([], ref, cfg=load_table_config("3"))
    metrics = set(result.rows["metric"])
    assert metrics <= {c["metric"] for c in load_table_config("3")["columns"]}
    assert "labels_left_out" not in metrics and "tasks_scored" not in metrics
