"""What the converged reference holds, cell by cell (no torch).

Per protocol x dataset x method of Table III (rows and floor): the paired seeds with a finished
record out of those the reference wants (`seeds` of the table config, or `reference_seeds` per
protocol: the issue asks 10 under `corrected` and `forecast`, at least 3 under `paper`), the
training CPU-hours those records spent (`train_seconds`, one thread per run), and a status:
- complete: every wanted seed has a record, so the row enters tables, rankings and findings;
- running: some seeds have records; the row is left out of every number until it is complete;
- not run: no record yet;
- no budget: its dataset has no `standard_budget` yet (its budget study is incomplete), so no
  standard-budget run can start.
`publish` writes this as results/reference/coverage.md/.csv and into README's block, so every
cell the published tables cannot show is named there with its reason.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

from .datasets.spec import load_dataset_spec
from .protocol import get_protocol
from .records import at_cap, iter_runs

REFERENCE_PROTOCOLS = ("corrected", "forecast", "paper")


def wanted_seeds(cfg: dict, protocol: str) -> int:
    """Paired seeds a row of the reference needs under `protocol` before it is published."""
    return int((cfg.get("reference_seeds") or {}).get(protocol, cfg.get("seeds", 10)))


def reference_protocols(dataset: str) -> list[str]:
    """The protocols the reference runs on `dataset`: those that run on its task type (`forecast`
    differs from `corrected` only on regression datasets, so only those run it)."""
    task_type = load_dataset_spec(dataset).task_type
    return [p for p in REFERENCE_PROTOCOLS if get_protocol(p).runs_on(task_type)]


@dataclass(frozen=True)
class Cell:
    protocol: str
    dataset: str
    dataset_name: str  # the table's column group: "Air Quality"
    method: str
    name: str
    done: int
    wanted: int
    cpu_hours: float
    status: str  # complete | running | not run | no budget
    #: of the `done` seeds, the runs max epochs stopped rather than early stopping (`at_cap`)
    at_cap: int = 0


def reference_coverage(records: Path, cfg: dict) -> list[Cell]:
    """One Cell per (protocol, dataset, method) the reference wants, in table order."""
    from .methods import discover_methods
    from .runner.reproduce import table_datasets

    known = discover_methods()
    seeds: dict[tuple, set] = {}
    capped: dict[tuple, set] = {}
    seconds: dict[tuple, float] = {}
    for run in iter_runs(records):
        rec = run.record
        key = (rec["protocol"], rec["dataset"], rec["method"])
        seconds[key] = seconds.get(key, 0.0) + float(rec.get("train_seconds") or 0.0)
        if run.ok:
            seeds.setdefault(key, set()).add(int(rec["seed"]))
            if at_cap(rec):
                capped.setdefault(key, set()).add(int(rec["seed"]))
    cells = []
    groups = {c["dataset"]: c.get("group", c["dataset"]) for c in cfg["columns"]}
    methods = list(cfg["methods"]) + list(cfg.get("floor") or [])
    for protocol in REFERENCE_PROTOCOLS:
        n = wanted_seeds(cfg, protocol)
        for dataset in table_datasets(cfg):
            if protocol not in reference_protocols(dataset):
                continue
            budget = load_dataset_spec(dataset).standard_budget
            for method in methods:
                key = (protocol, dataset, method)
                done = len(seeds.get(key, set()) & set(range(n)))
                status = ("complete" if done == n else "running" if done else
                          "not run" if budget else "no budget")
                cells.append(Cell(protocol, dataset, groups[dataset], method, known[method].name if method in known else method,
                                  done, n, round(seconds.get(key, 0.0) / 3600, 2), status,
                                  len(capped.get(key, set()) & set(range(n)))))
    return cells


def _text(cell: Cell) -> str:
    capped = f", {cell.at_cap} at cap" if cell.at_cap else ""
    if cell.status == "complete":
        return f"{cell.done}/{cell.wanted}{capped}"
    if cell.status == "running":
        return f"{cell.done}/{cell.wanted} running{capped}"
    return cell.status


def render_coverage(cells: list[Cell]) -> list[str]:
    """Markdown lines: one grid, rows the table's methods, a column per protocol x dataset, and the
    training CPU-hours spent under each."""
    parts = list(dict.fromkeys((c.protocol, c.dataset_name) for c in cells))
    names = list(dict.fromkeys(c.name for c in cells))
    by = {(c.name, c.protocol, c.dataset_name): c for c in cells}
    out = ["| Method | " + " | ".join(f"{p}: {d}" for p, d in parts) + " |", "|---|" + "---:|" * len(parts)]
    out += [f"| {name} | " + " | ".join(_text(by[(name, *part)]) if (name, *part) in by else "–" for part in parts)
            + " |" for name in names]
    hours = [sum(c.cpu_hours for c in cells if (c.protocol, c.dataset_name) == part) for part in parts]
    return out + ["| CPU-hours of training spent | " + " | ".join(f"{h:.2f}" for h in hours) + " |", ""]


def coverage_csv(cells: list[Cell]) -> str:
    buf = io.StringIO()
    fields = list(Cell.__dataclass_fields__)
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for c in cells:
        writer.writerow(asdict(c))
    return buf.getvalue()


def write_coverage(cells: list[Cell], out: Path) -> list[Path]:
    """results/reference/coverage.md and .csv."""
    from .records import write_atomic

    md = out / "coverage.md"
    write_atomic(md, "\n".join(["# What the converged reference holds", "", LEGEND, ""] + render_coverage(cells)))
    path = out / "coverage.csv"
    write_atomic(path, coverage_csv(cells))
    return [md, path]


LEGEND = ("Per protocol, dataset and Table III row: the paired seeds with a finished standard-budget record out of "
          "those wanted (n/n: complete, in every table; k/n running: left out of every number until complete; "
          "not run: no record yet; no budget: the dataset's budget study is incomplete, so it has no standard "
          "budget to run at). k at cap: k of those runs trained until their max epochs, early stopping never "
          "fired, so their validation loss was still improving within the patience window; the budget "
          "study bounds what the cap costs seed 0 under corrected and forecast (the README's tolerance), "
          "while under paper it is the script's own epochs or the standard budget's lower cap (the findings "
          "name those rows). CPU-hours: training time of those records, one thread per run. "
          "`python -m fathom_bench reproduce --table 3 --budget standard --protocol P --seeds N --out "
          "results/reference --plan` prints what the rest costs; `publish` rebuilds this page.")
