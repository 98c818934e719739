"""`publish`: everything downstream of the converged reference, rebuilt from its records alone.

From `results/reference/runs`: the Table III files of every protocol with records (beside the
records, as `reproduce` writes them), `results/leaderboard.md/.html` (+ plots), `results/errata.md/.csv`
and README.md's Table III and findings block. A test rebuilds all of it into a temporary folder and
compares byte for byte, so none of it can drift from the records or be edited by hand.
"""

from __future__ import annotations

from pathlib import Path

from .errors import BadInput
from .records import iter_runs


def reference_grid(records: Path, cfg: dict) -> tuple[list, list[str]]:
    """The standard-budget grid of the table, restricted to the datasets, methods and protocols the
    records hold (so a partial reference builds partial tables, never planning what is not there)."""
    from .runner.reproduce import ReproduceOptions, plan_table

    recs = [r.record for r in iter_runs(records)]
    if not recs:
        raise BadInput(f"{records}: no run records to publish")
    protocols = [p for p in ("corrected", "paper", "forecast") if any(r["protocol"] == p for r in recs)]
    table_methods = list(cfg["methods"]) + list(cfg.get("floor") or [])
    planned = []
    for protocol in protocols:
        mine = [r for r in recs if r["protocol"] == protocol]
        datasets = [d for d in dict.fromkeys(c["dataset"] for c in cfg["columns"]) if any(r["dataset"] == d for r in mine)]
        methods = [m for m in table_methods if any(r["method"] == m for r in mine)]
        seeds = max(int(r["seed"]) for r in mine) + 1
        planned += plan_table(cfg, ReproduceOptions(budget="standard", seeds=seeds, datasets=datasets,
                                                    methods=methods, protocol=protocol))
    return planned, protocols


def publish(records: Path, out: Path, readme: Path, cfg: dict, tables_out: Path | None = None,
            log=print) -> list[Path]:
    """Write the tables (into `tables_out`, default `records`), the leaderboard and errata (into
    `out`) and README's block; returns the files written."""
    from . import leaderboard as lb
    from .errata import write_errata
    from .findings import update_readme
    from .runner.reproduce import write_tables

    records = Path(records)
    planned, protocols = reference_grid(records, cfg)
    written = write_tables(cfg, Path(tables_out or records), planned, protocols, "disabled", log=log, records=records)
    runs = list(iter_runs(records, "corrected"))
    lb.check_rankable(runs, "corrected", where=str(records))
    written += lb.write_leaderboard(lb.build_leaderboard(runs, "corrected"), out, formats=["md", "html"])
    written += write_errata(records, out)
    update_readme(readme, records, cfg)
    return written + [Path(readme)]
