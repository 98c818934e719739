"""`publish`: everything downstream of the converged reference, rebuilt from its records alone.

From `results/reference/runs`: the Table III files of every protocol with records and the
coverage page (`coverage.py`: every cell's seeds, CPU-hours and status), beside the records, `results/leaderboard.md/.html` (+ plots), `results/errata.md/.csv`
and README.md's Table III and findings block. A test rebuilds all of it into a temporary folder and
compares byte for byte, so none of it can drift from the records or be edited by hand.
"""

from __future__ import annotations

from pathlib import Path

from .errors import BadInput
from .records import iter_runs


def reference_runs(records: Path, cfg: dict) -> list:
    """The runs of every row (protocol, dataset, method) that holds all the seeds its protocol wants
    (`coverage.wanted_seeds`): a row enters tables, rankings and findings only when complete, so a
    cell on the first seeds of a running grid is never shown (`coverage` names the rows left out)."""
    from .coverage import wanted_seeds

    rows: dict[tuple, list] = {}
    for run in iter_runs(records):
        rec = run.record
        rows.setdefault((rec["protocol"], rec["dataset"], rec["method"]), []).append(run)
    keep = []
    for (protocol, dataset, method), runs in sorted(rows.items()):
        seeds = wanted_seeds(cfg, protocol)
        ok = {int(r.record["seed"]) for r in runs if r.ok}
        if set(range(seeds)) <= ok:
            keep += [r for r in runs if int(r.record["seed"]) < seeds]
    if not keep:
        raise BadInput(f"{records}: no row with all its seeds to publish")
    return keep


def reference_grid(runs: list, cfg: dict) -> tuple[list, list[str]]:
    """The standard-budget grid of the table, restricted to the complete rows of `runs` (so a partial
    reference builds partial tables and never plans what is not there)."""
    from .coverage import wanted_seeds
    from .runner.reproduce import ReproduceOptions, plan_table

    recs = [r.record for r in runs]
    protocols = [p for p in ("corrected", "paper", "forecast") if any(r["protocol"] == p for r in recs)]
    table_methods = list(cfg["methods"]) + list(cfg.get("floor") or [])
    planned = []
    for protocol in protocols:
        for dataset in dict.fromkeys(c["dataset"] for c in cfg["columns"]):
            mine = [r for r in recs if r["protocol"] == protocol and r["dataset"] == dataset]
            methods = [m for m in table_methods if any(r["method"] == m for r in mine)]
            if methods:
                planned += plan_table(cfg, ReproduceOptions(budget="standard", seeds=wanted_seeds(cfg, protocol),
                                                            datasets=[dataset], methods=methods, protocol=protocol))
    return planned, protocols


def publish(records: Path, out: Path, readme: Path | None, cfg: dict, tables_out: Path | None = None,
            log=print) -> list[Path]:
    """Write the tables and the coverage page (into `tables_out`, default `records`), the leaderboard
    and errata (into `out`) and README's block (none when `readme` is None, as installed without a
    checkout); returns the files written."""
    from . import leaderboard as lb
    from .coverage import reference_coverage, write_coverage
    from .errata import update_readme_counts, write_errata
    from .findings import update_readme
    from .runner.reproduce import write_tables

    records = Path(records)
    runs = reference_runs(records, cfg)
    planned, protocols = reference_grid(runs, cfg)
    written = write_tables(cfg, Path(tables_out or records), planned, protocols, "disabled", log=log, records=records)
    corrected = [r for r in runs if r.record["protocol"] == "corrected"]
    lb.check_rankable(corrected, "corrected", where=str(records))
    written += lb.write_leaderboard(lb.build_leaderboard(corrected, "corrected"), out, formats=["md", "html"])
    written += write_errata(records, out, runs=runs)
    cells = reference_coverage(records, cfg)
    written += write_coverage(cells, Path(tables_out or records))
    if readme is None:
        return written
    update_readme(readme, runs, cells, cfg)
    update_readme_counts(readme, Path(out) / "errata.csv")
    return written + [Path(readme)]
