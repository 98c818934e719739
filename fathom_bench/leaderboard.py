"""The leaderboard: every method of the run records (paper rows, Persistence, new methods) ranked.

From records alone. Columns = the metric columns of a table config (Table III by default); a
dataset of the records that the config has no column for gets the default metrics of its task
(classification: precision, recall, f1, ba; regression: mae, smape). Per column:
- each method's mean over its ok seeds with the 95 % bootstrap CI (`stats.summarize`) and n;
- rank 1 = best mean (ties share the average rank);
- every other method vs the column's best: two-sided paired Wilcoxon signed-rank test on the seeds
  both hold, only with >= MIN_SEEDS_FOR_STARS shared seeds (fewer: listed, not tested, and said so);
  Holm-Bonferroni over the column's tested methods.
Overall rank: the mean of a method's column ranks (over the columns it has), ranked again.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from . import stats
from .records import write_atomic

DEFAULT_COLUMNS = {"classification": [("precision", "Pr", True), ("recall", "Re", True), ("f1", "F1", True),
                                      ("ba", "BA", True)],
                   "regression": [("mae", "mae", False), ("smape", "smape", False)]}
NA = "–"


def _columns(cells: dict, cfg: dict | None) -> list[dict]:
    if cfg is None:
        from .tables import load_table_config

        cfg = load_table_config("3")
    datasets = sorted({ds for ds, _ in cells})
    cols = [c for c in cfg["columns"] if c["dataset"] in datasets]
    for ds in datasets:
        if any(c["dataset"] == ds for c in cols):
            continue
        have = set().union(*(set((r["metrics"].get("test") or {})) for recs in
                             (v for (d, _), v in cells.items() if d == ds) for r in recs if r["status"] == "ok"))
        task = "classification" if "f1" in have else "regression"
        cols += [{"key": f"{ds}_{m.replace('/', '_')}", "dataset": ds, "group": ds, "label": label, "metric": m,
                  "higher_is_better": hib} for m, label, hib in DEFAULT_COLUMNS[task] if m in have]
    return cols


def build_leaderboard(runs, protocol: str, cfg: dict | None = None) -> pd.DataFrame:
    """One line per (method, column): mean, CI, n, rank, p vs the column's best; overall rank.

    `df.attrs` holds protocol, quick (any record quick) and notes.
    """
    cells, meta, quick = {}, {}, False
    for run in runs:
        rec = getattr(run, "record", run)
        if rec["protocol"] != protocol:
            continue
        quick = quick or bool(rec.get("quick"))
        meta.setdefault(rec["method"], (rec.get("method_name") or rec["method"], bool(rec.get("in_paper"))))
        cells.setdefault((rec["dataset"], rec["method"]), []).append(rec)
    lines, notes, order_of = [], [], []
    for col in _columns(cells, cfg):
        values = {}
        for (ds, m), recs in sorted(cells.items()):
            if ds != col["dataset"]:
                continue
            vals = {int(r["seed"]): float(v) for r in recs if r["status"] == "ok" and
                    isinstance(v := (r["metrics"].get("test") or {}).get(col["metric"]), (int, float))
                    and math.isfinite(v)}
            if vals:
                values[m] = vals
        if not values:
            continue
        order_of.append(col["key"])
        summary = {m: stats.summarize(list(v.values())) for m, v in values.items()}
        sign = -1 if col["higher_is_better"] else 1
        order = sorted(values, key=lambda m: (sign * summary[m]["mean"], m))
        ranks = pd.Series({m: sign * summary[m]["mean"] for m in order}).rank(method="average")
        best = order[0]
        tests, shared = {}, {}
        for m in order[1:]:
            shared[m] = len(stats.pair_by_seed(values[best], values[m])[0])
            if shared[m] >= stats.MIN_SEEDS_FOR_STARS:
                tests[m] = stats.paired_wilcoxon(values[best], values[m])
        adjusted = dict(zip(tests, stats.holm([t.p for t in tests.values()])))
        for m in order:
            untested = m != best and m not in tests
            lines.append({
                "method": m, "method_name": meta[m][0], "in_paper": meta[m][1], "dataset": col["dataset"],
                "column": col["key"], "group": col.get("group", col["dataset"]), "label": col["label"],
                "metric": col["metric"], "higher_is_better": bool(col["higher_is_better"]), **summary[m],
                "rank": float(ranks[m]), "best": m == best, "shared_seeds": shared.get(m, summary[m]["n"]),
                "p_vs_best": tests[m].p if m in tests else None, "p_vs_best_holm": adjusted.get(m),
                "tested": m in tests,
                "note": "best" if m == best else (f"not tested: {shared[m]} shared seeds < "
                                                  f"{stats.MIN_SEEDS_FOR_STARS}" if untested else ""),
            })
    df = pd.DataFrame(lines)
    if not df.empty:
        n_cols = df["column"].nunique()
        overall = df.groupby("method").agg(mean_rank=("rank", "mean"), n_columns=("column", "nunique"))
        overall["overall_rank"] = overall["mean_rank"].rank(method="min").astype(int)
        df = df.merge(overall, left_on="method", right_index=True)
        df = df.sort_values(["overall_rank", "method", "dataset", "rank"], kind="stable").reset_index(drop=True)
        partial = sorted(overall.index[overall["n_columns"] < n_cols])
        if partial:
            notes.append(f"Ranked on fewer than the {n_cols} columns (mean over the columns they have): "
                         + ", ".join(f"{meta[m][0]} ({overall.loc[m, 'n_columns']})" for m in partial) + ".")
        if (~df["tested"] & ~df["best"]).any():
            notes.append(f"Rows marked 'not tested' share fewer than {stats.MIN_SEEDS_FOR_STARS} seeds with the "
                         f"column's best method: {stats.TOO_FEW_TEXT}.")
    df.attrs.update(protocol=protocol, quick=quick, notes=notes, columns=order_of)
    return df


def _fmt(x, spec: str = ".3f") -> str:
    return NA if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _name(r) -> str:
    return r["method_name"] + ("" if r["in_paper"] else " (not in the paper)")


def _sections(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(heading, frame of strings): the overall ranking, then one per column."""
    if df.empty:
        return []
    first = df.drop_duplicates("method").sort_values(["overall_rank", "method"])
    n_cols = df["column"].nunique()
    out = [("Overall", pd.DataFrame({
        "Rank": first["overall_rank"].astype(str), "Method": [_name(r) for _, r in first.iterrows()],
        "In paper": ["yes" if p else "no" for p in first["in_paper"]],
        "Mean rank": [_fmt(x, ".2f") for x in first["mean_rank"]],
        "Columns": [f"{n}/{n_cols}" for n in first["n_columns"]]}))]
    for key in df.attrs.get("columns") or list(dict.fromkeys(df["column"])):
        part = df[df["column"] == key].sort_values(["rank", "method"])
        c = part.iloc[0]
        arrow = "↑" if c["higher_is_better"] else "↓"
        heading = f"{c['group']} {c['label']} {arrow} ({c['dataset']}: {c['metric']})"
        out.append((heading, pd.DataFrame({
            "Rank": [_fmt(x, "g") for x in part["rank"]], "Method": [_name(r) for _, r in part.iterrows()],
            "Mean": [_fmt(x) for x in part["mean"]],
            "95 % CI": [NA if pd.isna(lo) else f"[{lo:.3f}, {hi:.3f}]"
                        for lo, hi in zip(part["ci_low"], part["ci_high"])],
            "n": part["n"].astype(str),
            "p vs best (Holm)": ["best" if r["best"] else (_fmt(r["p_vs_best_holm"], ".3g") if r["tested"]
                                                           else r["note"]) for _, r in part.iterrows()]})))
    return out


def _intro(df: pd.DataFrame) -> list[str]:
    out = [f"Protocol: {df.attrs.get('protocol', '?')}."]
    if df.attrs.get("quick"):
        out.insert(0, "QUICK RUN — not a reproduction (records with a small training budget).")
    out += [f"Mean: mean over seeds; CI: the {stats.INTERVAL_TEXT}. Rank 1 = best mean of the column; overall "
            "rank = rank of the mean column rank.",
            f"p vs best: {stats.TEST_TEXT}, against the column's best method, Holm-Bonferroni over the column's "
            f"tested methods; methods sharing fewer than {stats.MIN_SEEDS_FOR_STARS} seeds with the best are "
            "listed but not tested. Methods not in the paper are marked."]
    return out


def _md_table(frame: pd.DataFrame) -> list[str]:
    rows = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return rows + ["| " + " | ".join(str(v) for v in r) + " |" for r in frame.itertuples(index=False)]


def render_leaderboard(df: pd.DataFrame, fmt: str = "md") -> str:
    """md | csv | html. csv is the tidy frame (every number); md and html the readable sections."""
    if fmt == "csv":
        return df.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    notes = list(df.attrs.get("notes") or [])
    if df.empty:
        notes.append("No run records with metrics of the leaderboard's columns.")
    if fmt == "md":
        out = ["# Leaderboard", ""] + _intro(df) + [""]
        for heading, frame in _sections(df):
            out += [f"## {heading}", ""] + _md_table(frame) + [""]
        if notes:
            out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
        return "\n".join(out)
    if fmt == "html":
        out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>Leaderboard</title></head><body>",
               "<h1>Leaderboard</h1>"] + [f"<p>{html.escape(p)}</p>" for p in _intro(df)]
        for heading, frame in _sections(df):
            out += [f"<h2>{html.escape(heading)}</h2>", frame.to_html(index=False, border=0)]
        if notes:
            out += ["<ul>"] + [f"<li>{html.escape(n)}</li>" for n in notes] + ["</ul>"]
        return "\n".join(out + ["</body></html>", ""])
    from .errors import BadInput

    raise BadInput(f"--format: unknown leaderboard format {fmt!r}; choose md, csv or html")


def write_leaderboard(df: pd.DataFrame, results_dir, formats=("md",)) -> list[Path]:
    """`leaderboard.md` (always) and leaderboard.csv / .html when asked, written atomically."""
    written = []
    for fmt in dict.fromkeys(["md", *formats]):
        path = Path(results_dir) / f"leaderboard.{fmt}"
        write_atomic(path, render_leaderboard(df, fmt))
        written.append(path)
    return written
