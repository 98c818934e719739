"""Errata for Table III: every published cell, where it comes from, what we measure, and a verdict.

`python -m fathom_bench errata` -> `results/errata.md` and `results/errata.csv`, built from run records
(whatever are under `--results`, by default the committed reference) and the published table with its
sources file (`configs/tables/table3_sources.csv`, `sources.py`). Reads records only: no torch.

Per cell: the published value; the authors' unrounded result-file value and file (where one holds it)
and the rounding; the computation as their code shows it; our `paper`-protocol value (the as-coded
metric where the column has one) with its 95 % bootstrap interval over seeds; our default-protocol
(`corrected`) value and interval, and `forecast` where such records exist; a verdict:
- `reproduced`: the published value (the file's exact value where known, else the printed value read
  as the rounding interval) meets our `paper` interval;
- `not reproduced`: it does not;
- `not reproducible from the public code`: the sources file's note says no public script can have
  produced the number (it starts with "no script can have produced it");
- `not yet measured: quick budget only`: the `paper` records are QUICK (a budget on which methods have
  not converged): nothing is claimed either way;
- `not measured: no paper-protocol interval`: no `paper` records for this cell, or fewer than two
  seeds (no interval).
Every dataset's own difference from the paper's data is printed above its cells: a verdict is always
"on the public data".
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from pathlib import Path

from . import stats
from .errors import BadInput
from .records import iter_runs, write_atomic
from .sources import CellSource, default_path, read_sources

REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"
NO_CODE = "not reproducible from the public code"
QUICK_ONLY = "not yet measured: quick budget only"
NOT_MEASURED = "not measured: no paper-protocol interval"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NO_CODE, QUICK_ONLY, NOT_MEASURED)
NO_CODE_PREFIX = "no script can have produced it"
FIELDS = ("method", "column", "dataset", "published", "file_value", "result_file", "rounding", "computation", "note",
          "paper_metric", "paper_mean", "paper_ci_low", "paper_ci_high", "paper_n", "paper_quick",
          "corrected_mean", "corrected_ci_low", "corrected_ci_high", "corrected_n", "corrected_quick",
          "forecast_mean", "forecast_ci_low", "forecast_ci_high", "forecast_n", "verdict")


def _cells(runs, cfg: dict, protocol: str) -> tuple[dict, bool]:
    """{(display name, column key): table cell} of one protocol, and whether its records are quick."""
    from .tables import build_table

    if not any(r.record["protocol"] == protocol for r in runs):
        return {}, False
    result = build_table(runs, cfg, protocol, as_coded=(protocol == "paper"))
    cells = {}
    for line in result.frame.to_dict("records"):
        cells[(result.names[line["method"]], line["column"])] = line
    return cells, result.quick


def _verdict(src: CellSource, cell: dict | None, quick: bool) -> str:
    if src.note.lower().startswith(NO_CODE_PREFIX):
        return NO_CODE
    if cell is None:
        return NOT_MEASURED
    if quick:
        return QUICK_ONLY
    if _missing(cell.get("ci_low")):
        return NOT_MEASURED
    return REPRODUCED if src.meets(cell["ci_low"], cell["ci_high"]) else NOT_REPRODUCED


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def build_errata(runs, cfg: dict, sources: dict[tuple[str, str], CellSource]) -> list[dict]:
    """One dict per published cell (FIELDS), in the table's row and column order."""
    runs = list(runs)
    by_protocol = {p: _cells(runs, cfg, p) for p in ("paper", "corrected", "forecast")}
    datasets = {c["key"]: c["dataset"] for c in cfg["columns"]}
    order = {c["key"]: i for i, c in enumerate(cfg["columns"])}
    rows = []
    for (method, column), src in sources.items():
        if column not in datasets:
            raise BadInput(f"sources: column {column!r} is not a column of table {cfg['name']}")
        row = {**src, "dataset": datasets[column]}
        for p, (cells, quick) in by_protocol.items():
            cell = cells.get((method, column))
            for k in ("mean", "ci_low", "ci_high", "n"):
                row[f"{p}_{k}"] = None if cell is None or _missing(cell.get(k)) else cell[k]
            row[f"{p}_quick"] = quick if cell is not None else None
            if p == "paper":
                row["paper_metric"] = cell["metric"] if cell is not None else None
                row["verdict"] = _verdict(src, cell, quick)
        rows.append(row)
    ds_order = list(dict.fromkeys(datasets.values()))
    methods = list(dict.fromkeys(m for m, _ in sources))
    rows.sort(key=lambda r: (ds_order.index(r["dataset"]), methods.index(r["method"]), order[r["column"]]))
    return rows


def _num(x, places: int = 3) -> str:
    return "–" if _missing(x) else f"{x:.{places}f}"


def _ours(row: dict, p: str) -> str:
    if row.get(f"{p}_mean") is None:
        return "–"
    ci = ("" if row.get(f"{p}_ci_low") is None else
          f" [{_num(row[f'{p}_ci_low'])}, {_num(row[f'{p}_ci_high'])}]")
    return f"{_num(row[f'{p}_mean'])}{ci} (n={row[f'{p}_n']}{', QUICK' if row.get(f'{p}_quick') else ''})"


def render_markdown(rows: list[dict], cfg: dict, dataset_notes: dict, sources_path: str) -> str:
    counts = Counter(r["verdict"] for r in rows)
    quick = any(r.get("paper_quick") or r.get("corrected_quick") for r in rows)
    out = [f"# Errata: the {len(rows)} published cells of {cfg.get('title', cfg['name'])}", ""]
    if quick:
        out += ["**QUICK budget: the records behind this page are from the quick budget (methods not converged). "
                "No cell is called reproduced or not reproduced on them; regenerate this page "
                "(`python -m fathom_bench errata --results <folder>`) when the converged reference lands.**", ""]
    out += [f"Built by `python -m fathom_bench errata` from run records and the published table with its sources "
            f"(`{sources_path}`: the authors' result files, read from YuChenZh/FATHOM_IJCNN and YuChenZh/M-Att). "
            f"Ours: mean over seeds [{stats.INTERVAL_TEXT}] (n = seeds). `paper` uses the authors' evaluation as coded "
            "(the `as_coded` metric where a column has one); `corrected` is the default protocol. Verdict: "
            "`reproduced` when the published value (the file's exact value where a file holds it, else the printed "
            "value read as its rounding interval) meets the `paper` interval; see `fathom_bench/errata.py`."
            + "".join(f" {t}" for t in map(stats.small_n_text, sorted({int(r["paper_n"]) for r in rows
                                                                     if r.get("paper_n")})) if t), "",
            "| Verdict | Cells |", "|---|---:|"]
    out += [f"| {v} | {counts.get(v, 0)} |" for v in VERDICTS] + [""]
    kinds = Counter(r["rounding"] for r in rows)
    no_file = kinds["assumed-rounded"] + kinds["assumed-truncated"]
    read_as = ("rounded" if not kinds["assumed-truncated"] else
               f"stated ({kinds['assumed-rounded']} rounded, {kinds['assumed-truncated']} truncated)")
    out += [f"Sources: {len(rows) - no_file} of {len(rows)} published values are in one of the authors' "
            f"result files ({kinds['equal']} printed the same rounded or truncated, {kinds['truncated']} truncated, "
            f"{kinds['rounded']} rounded); no file holds the other {no_file}, read as {read_as}.", ""]
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        part = [r for r in rows if r["dataset"] == ds]
        group = next((c.get("group", ds) for c in cfg["columns"] if c["dataset"] == ds), ds)
        out += [f"## {group} (`{ds}`)", "", f"Our data against the paper's: {' '.join(str(dataset_notes.get(ds) or 'no note').split())}", ""]
        out += ["How the authors' code computed each column:", ""]
        labels = {c["key"]: c["label"] for c in cfg["columns"]}
        for col in dict.fromkeys(r["column"] for r in part):
            comps = Counter(r["computation"] for r in part if r["column"] == col)
            out.append(f"- **{labels[col]}**: {comps.most_common(1)[0][0]}")
        out += ["", "| Method | Column | Published | Authors' file (rounding) | Ours, `paper` | Ours, `corrected` | "
                "Verdict | Note |", "|---|---|---:|---|---|---|---|---|"]
        for r in part:
            src = "–" if r["file_value"] is None else f"{r['file_value']:.4f} `{r['result_file']}` ({r['rounding']})"
            fc = "" if r.get("forecast_mean") is None else f"; forecast {_ours(r, 'forecast')}"
            common = Counter(x["computation"] for x in part if x["column"] == r["column"]).most_common(1)[0][0]
            note = "; ".join(x for x in (r["note"], "" if r["computation"] == common else r["computation"]) if x)
            out.append(f"| {r['method']} | {labels[r['column']]} | {r['published']} | {src} | {_ours(r, 'paper')} | "
                       f"{_ours(r, 'corrected')}{fc} | {r['verdict']} | {note.replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


def render_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in FIELDS} for r in rows)
    return buf.getvalue()


def write_errata(results, out_dir, sources=None, table: str = "3", runs: list | None = None) -> list[Path]:
    """errata.md and errata.csv in `out_dir` from the records under `results` (or `runs` of them)."""
    from .datasets.spec import load_dataset_spec
    from .tables import load_table_config

    cfg = load_table_config(table)
    src = read_sources(sources)
    runs = list(iter_runs(Path(results))) if runs is None else runs
    rows = build_errata(runs, cfg, src)
    notes = {}
    for ds in dict.fromkeys(c["dataset"] for c in cfg["columns"]):
        notes[ds] = load_dataset_spec(ds).differs_from_paper
    shown = str(sources) if sources else str(default_path().relative_to(default_path().parents[2]))
    out_dir = Path(out_dir)
    paths = [out_dir / "errata.md", out_dir / "errata.csv"]
    write_atomic(paths[0], render_markdown(rows, cfg, notes, shown))
    write_atomic(paths[1], render_csv(rows))
    return paths


def verdict_counts(rows: list[dict]) -> dict[str, int]:
    counts = Counter(r["verdict"] for r in rows)
    return {v: counts.get(v, 0) for v in VERDICTS}


def update_readme_counts(readme: Path, errata_csv: Path) -> bool:
    """Rewrite the count of each verdict row (`| verdict | N |`) of README's errata table from
    errata.csv; True when the README changed."""
    import re

    rows = list(csv.DictReader(Path(errata_csv).read_text().splitlines()))
    text = new = Path(readme).read_text()
    for verdict, count in verdict_counts(rows).items():
        new = re.sub(rf"^\| {re.escape(verdict)} \| \d+ \|$", f"| {verdict} | {count} |", new, flags=re.M)
    if new != text:
        write_atomic(Path(readme), new)
    return new != text
