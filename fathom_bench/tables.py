"""Table III (or any table config) from run records: cells over seeds, tests, Improv. rows, renderings.

Reads records only (never torch, models or data). A cell = the ok runs of one (dataset, method)
under one protocol, summarised over seeds (`stats.summarize`). Per column:
- rows are ranked by mean (respecting `higher_is_better`); the floor (Persistence) is shown
  beneath and never ranked;
- the family of tests = best vs second best, plus the reference method (FATHOM) vs every other
  ranked row; each a two-sided paired Wilcoxon signed-rank test on the seeds both hold, run only
  with >= MIN_SEEDS_FOR_STARS shared seeds; Holm-Bonferroni over the family;
- `*` on the best cell when its corrected p vs the second best < 0.05; the seeds that needs follow
  from the family size (`stats.min_seeds_for_star`) and the notes give them per column.
Improv.(a)/(b): 100 * (FATHOM - worst) / |worst| and 100 * (FATHOM - best) / |best| of the
baselines' means (signs flipped for lower-is-better columns: positive = FATHOM better). The
baselines are the table's rows except the reference and the config's `ablations` (the paper's own
Improv. numbers leave FATHOM-ga and FATHOM-ta out: e.g. Pr 12.65 % = 0.89 / 0.79 (S-LSTM), not
0.89 / 0.80 (FATHOM-ta)). Without `ablations` in the config every other row is a baseline.
Cells read "mean ± h", h = half the width of the 95 % bootstrap CI (the CI of a mean over few seeds
is not symmetric: the exact bounds are in the CSV and the vs-paper file). Notes name every column
where the floor beats the reference, cells on fewer seeds or with failed runs, untested pairs and why.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from . import stats
from .documents import read_document
from .errors import BadInput

ALPHA = 0.05
NA = "–"
COLUMN_KEYS = ("key", "dataset", "metric", "label", "higher_is_better")


def load_table_config(name_or_path) -> dict:
    """A table config: "3"/"table3"/a name of configs/tables/, else a path. Adds `_path`."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    if not (text.endswith((".yaml", ".yml")) or "/" in text or path.is_file()):
        from .paths import configs_dir

        path = configs_dir() / "tables" / f"{text if text.startswith('table') else 'table' + text}.yaml"
    cfg = read_document(path, "table config")
    missing = [k for k in ("name", "methods", "reference_method", "columns") if not cfg.get(k)]
    if missing:
        raise BadInput(f"{path}: table config lacks {', '.join(missing)}")
    for i, col in enumerate(cfg["columns"]):
        lacks = [k for k in COLUMN_KEYS if not isinstance(col, dict) or k not in col]
        if lacks:
            raise BadInput(f"{path}: column {i + 1} lacks {', '.join(lacks)}")
    if cfg["reference_method"] not in cfg["methods"]:
        raise BadInput(f"{path}: reference_method {cfg['reference_method']!r} is not one of `methods`")
    return {**cfg, "_path": str(path)}


def published_numbers(cfg: dict) -> pd.DataFrame | None:
    """The paper's numbers (CSV named by `published`, beside the config): index = display name.

    A row with more fields than the header has an unquoted comma in its name (`MLP(16,16)`): the
    fields before the last len(header) - 1 are joined back into the name.
    """
    if not cfg.get("published"):
        return None
    path = (Path(cfg["_path"]).parent if cfg.get("_path") else Path(".")) / cfg["published"]
    try:
        rows = [r for r in csv.reader(path.read_text().splitlines()) if r]
    except (OSError, csv.Error) as exc:
        raise BadInput(f"{path}: published numbers cannot be read ({exc})") from None
    if not rows or rows[0][0] != "method":
        raise BadInput(f"{path}: needs a `method` column (display names) first, then one column per table column key")
    k = len(rows[0]) - 1
    try:
        data = {",".join(r[:-k]): [float(v) if v.strip() else math.nan for v in r[-k:]] for r in rows[1:]}
    except ValueError as exc:
        raise BadInput(f"{path}: published numbers must be numbers ({exc})") from None
    if any(len(r) <= k for r in rows[1:]):
        raise BadInput(f"{path}: a row has fewer fields than the header")
    return pd.DataFrame.from_dict(data, orient="index", columns=rows[0][1:]).rename_axis("method")


@dataclass
class TableResult:
    """`frame`: one line per (method, column) cell; `improv`: one line per column; `notes`: sentences."""

    cfg: dict
    protocol: str
    as_coded: bool
    frame: pd.DataFrame
    improv: pd.DataFrame
    columns: list
    rows: list
    floor: list
    names: dict
    notes: list = field(default_factory=list)
    quick: bool = False
    #: {column key: {method: {seed: score}}}: what the seed-score plots draw.
    seed_values: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.cfg["name"]

    def cell(self, method: str, column: str) -> dict | None:
        hit = self.frame[(self.frame["method"] == method) & (self.frame["column"] == column)]
        return None if hit.empty else hit.iloc[0].to_dict()


def _collect(runs, protocol: str) -> tuple[dict, dict, bool]:
    cells: dict = {}
    seen: dict = {}
    meta: dict = {}
    quick = False
    for run in runs:
        rec = getattr(run, "record", run)
        if rec["protocol"] != protocol:
            continue
        key = (rec["dataset"], rec["method"], int(rec["seed"]))
        where = str(getattr(run, "path", key))
        if key in seen:
            raise BadInput(f"{where}: a second record for {protocol}/{key[0]}/{key[1]}/seed={key[2]} "
                           f"(also {seen[key]}); build tables from one results folder")
        seen[key] = where
        quick = quick or bool(rec.get("quick"))
        meta.setdefault(rec["method"], (rec.get("method_name") or rec["method"], bool(rec.get("in_paper"))))
        cells.setdefault(key[:2], []).append(rec)
    return cells, meta, quick


def _better(hib: bool):
    return (lambda x, y: x > y) if hib else (lambda x, y: x < y)


def _improvement(ref: float, other: float, hib: bool) -> float | None:
    if other == 0:
        return None
    return 100.0 * ((ref - other) if hib else (other - ref)) / abs(other)


def build_table(runs, cfg: dict, protocol: str, as_coded: bool = False) -> TableResult:
    """Table `cfg` from the ok records of `protocol` (see the module docstring for every number)."""
    cells, meta, quick = _collect(runs, protocol)
    ref, ablations = cfg["reference_method"], set(cfg.get("ablations") or [])
    floor_cfg = [m for m in (cfg.get("floor") or []) if m not in cfg["methods"]]
    present = {m for _, m in cells}
    rows = [m for m in cfg["methods"] if m in present]
    floor = [m for m in floor_cfg if m in present]
    columns = [c for c in cfg["columns"] if any((c["dataset"], m) in cells for m in rows + floor)]
    names = {m: meta[m][0] for m in rows + floor}
    lines, improv, notes, failed_notes, untested = [], [], [], {}, []
    families, floor_notes, limits, absent, seed_values = [], [], [], {}, {}
    for col in columns:
        metric = col["as_coded"] if as_coded and col.get("as_coded") else col["metric"]
        hib, better = bool(col["higher_is_better"]), _better(bool(col["higher_is_better"]))
        values, stat = {}, {}
        for m in rows + floor:
            recs = cells.get((col["dataset"], m))
            if recs is None:
                continue
            ok = [r for r in recs if r["status"] == "ok"]
            bad = sorted((int(r["seed"]), (r.get("error") or "no error message").splitlines()[0])
                         for r in recs if r["status"] != "ok")
            if bad:
                failed_notes[(m, col["dataset"])] = bad
            vals = {int(r["seed"]): float(v) for r in ok
                    if isinstance(v := (r["metrics"].get("test") or {}).get(metric), (int, float)) and math.isfinite(v)}
            if len(vals) < len(ok):
                absent.setdefault((_colname(col), metric), []).append(f"{names[m]} ({len(ok) - len(vals)})")
            values[m] = vals
            stat[m] = {**stats.summarize(list(vals.values())), "n_failed": len(bad),
                       "seeds": " ".join(str(s) for s in sorted(vals))}
        seed_values[col["key"]] = values
        ranked = sorted((m for m in rows if stat.get(m, {}).get("mean") is not None),
                        key=lambda m: ((-1 if hib else 1) * stat[m]["mean"], rows.index(m)))
        pairs = []
        if len(ranked) > 1:
            pairs.append((ranked[0], ranked[1]))
        if ref in ranked:
            pairs += [(ref, m) for m in ranked if m != ref and {ref, m} != set(pairs[0])]
        tests = {}
        for a, b in pairs:
            shared = len(stats.pair_by_seed(values[a], values[b])[0])
            tests[(a, b)] = stats.paired_wilcoxon(values[a], values[b]) if shared >= stats.MIN_SEEDS_FOR_STARS else None
            if tests[(a, b)] is None:
                untested.append((col, a, b, shared, (a, b) == pairs[0]))
        tested = [k for k, t in tests.items() if t is not None]
        adjusted = dict(zip(tested, stats.holm([tests[k].p for k in tested])))
        top = tests.get(pairs[0]) if pairs else None
        star = bool(top) and adjusted[pairs[0]] < ALPHA and top.mean_diff is not None and better(top.mean_diff, 0.0)
        if pairs:
            need = stats.min_seeds_for_star(max(1, len(tested)))
            families.append((col, len(tested), len(pairs), need, f"{names[pairs[0][0]]} vs {names[pairs[0][1]]}"))
            if top and not star and top.n < need:
                limits.append(f"{_colname(col)} ({top.n} pairs)")
        for m in rows + floor:
            if m not in stat:
                continue
            line = {"method": m, "method_name": names[m], "role": "floor" if m in floor else
                    ("reference" if m == ref else "row"), "in_paper": meta[m][1], "column": col["key"],
                    "group": col.get("group", col["dataset"]), "label": col["label"], "dataset": col["dataset"],
                    "metric": metric, "higher_is_better": hib, **stat[m],
                    "rank": ranked.index(m) + 1 if m in ranked else None, "best": bool(ranked) and m == ranked[0],
                    "star": False, "p_vs_second": None, "p_vs_second_holm": None,
                    "p_vs_reference": None, "p_vs_reference_holm": None}
            if top and m == ranked[0]:
                line.update(p_vs_second=top.p, p_vs_second_holm=adjusted[pairs[0]], star=star)
            key = (ref, m) if (ref, m) in tests else (m, ref)
            if m != ref and tests.get(key):
                line.update(p_vs_reference=tests[key].p, p_vs_reference_holm=adjusted[key])
            lines.append(line)
        base = [m for m in ranked if m != ref and m not in ablations]
        entry = {"column": col["key"], "improv_a": None, "improv_b": None, "worst": None, "best": None}
        if ref in ranked and base:
            worst, best = base[-1], base[0]
            r = stat[ref]["mean"]
            entry.update(improv_a=_improvement(r, stat[worst]["mean"], hib),
                         improv_b=_improvement(r, stat[best]["mean"], hib), worst=names[worst], best=names[best])
        improv.append(entry)
        for m in floor:
            if ref in ranked and stat.get(m, {}).get("mean") is not None and better(stat[m]["mean"], stat[ref]["mean"]):
                floor_notes.append(f"{names[m]} (not in the paper) beats {names[ref]} on {_colname(col)}: "
                             f"{_num(stat[m]['mean'])} vs {_num(stat[ref]['mean'])}.")
    frame = pd.DataFrame(lines)
    if not frame.empty:
        frame["rank"] = frame["rank"].astype("Int64")
        most = frame["n"].max()
        fewer = frame[(frame["n"] < most) & (frame["n"] > 0)]
        for (name, ds, n), part in fewer.groupby(["method_name", "dataset", "n"], sort=False):
            notes.append(f"{name} on {ds}: {', '.join(_colname(c) for c in columns if c['key'] in set(part['column']))}"
                         f" rest(s) on {n} seed(s), other cells on up to {most}.")
    for (where, metric), who in absent.items():
        notes.append(f"{where}: metric `{metric}` missing in ok runs of {', '.join(who)}.")
    for (m, ds), bad in failed_notes.items():
        notes.append(f"{names[m]} on {ds}: {len(bad)} failed run(s) (seed {', '.join(str(s) for s, _ in bad)}): "
                     f"{bad[0][1]}")
    per_column: dict = {}
    for c, a, b, n, _ in untested:
        per_column.setdefault(_colname(c), []).append(f"{names[a]} vs {names[b]} ({n})")
    for where, pairs_left in per_column.items():
        notes.append(f"{where}: not tested, fewer than {stats.MIN_SEEDS_FOR_STARS} shared seeds: "
                     + ", ".join(pairs_left) + ".")
    if limits:
        notes.append(f"No * possible in {', '.join(limits)}: fewer pairs than the family needs (below).")
    if families:
        groups: dict = {}
        for col, k, planned, need, first in families:
            groups.setdefault((k, planned, need), []).append(f"{_colname(col)} ({first})")
        # no reference row yet (FATHOM under `forecast`): only best vs second best is tested
        against_ref = f" and {names[ref]} vs each other row" if ref in rows else ""
        notes.append(f"Tests per column: best vs second best (for the *){against_ref}, "
                     "Holm-Bonferroni over the tests run in the column; a * needs at least n nonzero paired "
                     "differences with k * 2 / 2^n < 0.05 (k tests): "
                     + "; ".join(f"{k} of {planned} tests run, * needs >= {need} seeds: {', '.join(cols)}"
                                 for (k, planned, need), cols in groups.items()) + ".")
    imp = pd.DataFrame(improv, columns=["column", "improv_a", "improv_b", "worst", "best"])
    if ref in rows and not imp.dropna(subset=["improv_a"]).empty:
        base_names = [names[m] for m in rows if m != ref and m not in ablations]
        notes.append(f"Improv.(a)/(b): % improvement of {names[ref]}'s mean over the worst/best baseline's mean, "
                     f"positive = {names[ref]} better; baselines: {', '.join(base_names)}"
                     + (f" ({', '.join(names[m] for m in rows if m in ablations)} left out as ablations, as in "
                        "the paper)" if ablations & set(rows) else "") + "; worst/best per column: "
                     + "; ".join(f"{_colname(col)} {r.worst}/{r.best}" for col, r in zip(columns, imp.itertuples())
                                 if isinstance(r.worst, str)) + ".")
    notes = floor_notes + notes
    if frame.empty:
        notes.append(f"No {protocol} run records for the rows and columns of this table.")
    if as_coded:
        notes.insert(0, "As coded: columns with an `as_coded` metric use the authors' evaluation code's "
                        "number (e.g. row-indexed test windows), not the corrected metric.")
    return TableResult(cfg, protocol, as_coded, frame, imp, columns, rows, floor, names, notes, quick, seed_values)


def _colname(col, arrow: bool = False) -> str:
    tail = (" ↑" if col["higher_is_better"] else " ↓") if arrow else ""
    return f"{col.get('group', col['dataset'])} {col['label']}{tail}"


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _num(x, decimals: int = 3) -> str:
    return NA if _missing(x) else f"{x:.{decimals}f}"


# Renderings live in table_render.py; re-exported so `tables` stays the one public module.
__all__ = ["load_table_config", "published_numbers", "build_table", "TableResult", "render_csv",
           "render_latex", "render_markdown", "render_vs_paper", "truncate", "write_outputs"]
from .table_render import (  # noqa: E402
    render_csv,
    render_latex,
    render_markdown,
    render_vs_paper,
    truncate,
    write_outputs,
)
