"""The leaderboard: every method of the run records (paper rows, Persistence, new methods) ranked.

From records alone. Columns = the metric columns of a table config (Table III by default); a
dataset of the records that the config has no column for gets the default metrics of its task
(classification: precision, recall, f1, ba; regression: mae, smape). Per column:
- each method's mean over its ok seeds with the 95 % bootstrap CI (`stats.summarize`) and n;
- rank 1 = best mean (ties share the average rank);
- every other method vs the column's best: two-sided paired Wilcoxon signed-rank test on the seeds
  both hold, only with >= MIN_SEEDS_FOR_STARS shared seeds (fewer: listed, not tested, and said so);
  Holm-Bonferroni over the column's tested methods.
Overall rank, only over columns every ranked method has: the ranked methods are those holding the
column set most methods hold (all columns, normally); the others are listed apart with what they
lack, never ranked overall (a method with one column cannot come first on it alone). Column ranks
are recomputed among the ranked methods, averaged, and ranked again; the floor (Persistence) is
ranked with the others, so a method below it shows. Friedman test over the columns (blocks) and
Nemenyi post-hoc (`critical_difference`) give the critical-difference diagram; plots (`plots`) are
written beside the leaderboard files.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from . import stats
from .records import record_budget, write_atomic

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


def check_rankable(runs, protocol: str, allow_quick: bool = False, where: str = "--results") -> None:
    """A ranking compares methods at one budget on which they have learned: records of the quick
    budget are refused (unless `allow_quick`: then every page says QUICK), and so is a mix of budgets."""
    from .errors import BadInput

    budgets = sorted({record_budget(getattr(r, "record", r)) for r in runs
                      if getattr(r, "record", r)["protocol"] == protocol})
    if "quick" in budgets and not allow_quick:
        raise BadInput(f"{where}: {protocol} records of the quick budget (16 optimizer steps: the methods have not "
                       "learned) are never ranked; rebuild them with `reproduce --budget standard`, or pass "
                       "--allow-quick for a ranking marked QUICK on every page")
    if len(budgets) > 1:
        raise BadInput(f"{where}: {protocol} records of several budgets ({', '.join(budgets)}): a ranking compares "
                       "methods at one budget; keep one budget's records in the folder")


def build_leaderboard(runs, protocol: str, cfg: dict | None = None) -> pd.DataFrame:
    """One line per (method, column): mean, CI, n, rank, p vs the column's best; overall rank.

    `df.attrs` holds protocol, quick (any record quick) and notes.
    """
    cells, meta, quick, budgets = {}, {}, False, set()
    for run in runs:
        rec = getattr(run, "record", run)
        if rec["protocol"] != protocol:
            continue
        quick = quick or bool(rec.get("quick"))
        budgets.add(record_budget(rec))
        meta.setdefault(rec["method"], (rec.get("method_name") or rec["method"], bool(rec.get("in_paper"))))
        cells.setdefault((rec["dataset"], rec["method"]), []).append(rec)
    if cfg is None:
        from .tables import load_table_config

        cfg = load_table_config("3")
    lines, notes, order_of, seed_values = [], [], [], {}
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
        seed_values[col["key"]] = values
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
    cd = None
    if not df.empty:
        df, cd = _overall(df, order_of, meta, notes)
        if (~df["tested"] & ~df["best"]).any():
            notes.append(f"Rows marked 'not tested' share fewer than {stats.MIN_SEEDS_FOR_STARS} seeds with the "
                         f"column's best method: {stats.TOO_FEW_TEXT}.")
    floor = [m for m in (cfg.get("floor") or []) if m in meta]
    if quick and not df.empty:
        df["quick"] = True  # the csv says QUICK too
    df.attrs.update(protocol=protocol, quick=quick, budgets=sorted(budgets), notes=notes, columns=order_of, values=seed_values,
                    floor=floor, names={m: v[0] for m, v in meta.items()}, cd=cd)
    if cd is not None:
        ranked = df.dropna(subset=["overall_rank"]).drop_duplicates("method").set_index("method")["mean_rank"]
        for m in floor:
            below = [meta[x][0] for x in ranked.index if m in ranked and ranked[x] > ranked[m]]
            if below:
                notes.append(f"Ranked below the floor {meta[m][0]} overall: {', '.join(below)}.")
    return df


def _overall(df: pd.DataFrame, columns: list, meta: dict, notes: list):
    """Overall rank over the columns every ranked method has; the Friedman/Nemenyi result over them."""
    from . import critical_difference as cdm

    have = df.groupby("method")["column"].apply(frozenset)
    most = max(len(h) for h in have)
    sets = [h for h in have if len(h) == most]
    target = max(set(sets), key=lambda h: (sets.count(h), sorted(h)))
    ranked = sorted(m for m in have.index if target <= have[m])
    part = df[df["method"].isin(ranked) & df["column"].isin(target)]
    signed = part["mean"].where(~part["higher_is_better"], -part["mean"])
    col_rank = signed.groupby(part["column"]).rank(method="average")
    mean_rank = col_rank.groupby(part["method"]).mean()
    overall = pd.DataFrame({"mean_rank": mean_rank, "overall_rank": mean_rank.rank(method="min")})
    overall["n_columns"] = have.map(len)
    df = df.merge(overall[["mean_rank", "overall_rank"]], left_on="method", right_index=True, how="left")
    df["n_columns"] = df["method"].map(have.map(len))
    df["overall_rank"] = df["overall_rank"].astype("Int64")
    df = df.sort_values(["overall_rank", "method", "dataset", "rank"], kind="stable", na_position="last")
    df = df.reset_index(drop=True)
    names = {c: f"{r['group']} {r['label']}" for c, r in df.drop_duplicates("column").set_index("column").iterrows()}
    partial = [m for m in have.index if m not in ranked]
    df["lacks"] = df["method"].map({m: ", ".join(names[c] for c in columns if c in target and c not in have[m])
                                    for m in partial})
    if partial:
        notes.append(f"Not ranked overall (the overall rank uses only the {len(target)} columns every ranked method "
                     "has): " + "; ".join(f"{meta[m][0]} (lacks {df.loc[df['method'] == m, 'lacks'].iloc[0]})"
                                          for m in partial) + ".")
    cd = None
    if len(ranked) >= 2 and len(target) >= 2:
        matrix = col_rank.to_frame("r").assign(column=part["column"], method=part["method"]).pivot(
            index="column", columns="method", values="r")[ranked]
        cd = cdm.friedman_nemenyi(matrix.to_numpy(), ranked)
    return df, cd


def _fmt(x, spec: str = ".3f") -> str:
    return NA if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _name(r) -> str:
    return r["method_name"] + ("" if r["in_paper"] else " (not in the paper)")


PLOTS_DIR = "leaderboard-plots"
CD_STEM = "critical_difference"


def _cd_text(df: pd.DataFrame) -> list[str]:
    cd = df.attrs.get("cd")
    if cd is None:
        return ["No critical-difference diagram: it needs >= 2 ranked methods on >= 2 columns."]
    verdict = (f"p < {cd.alpha}: mean ranks at least CD apart differ significantly (Nemenyi)" if cd.p < cd.alpha
               else f"p >= {cd.alpha}: no ranked method differs significantly from another over these columns")
    per_dataset = df.drop_duplicates("column").groupby("group", sort=False)["column"].count()
    shared = ", ".join(f"{g}: {n}" for g, n in per_dataset.items() if n > 1)
    return [f"Friedman test over the {cd.n_blocks} columns (blocks) of the {len(cd.methods)} ranked methods: "
            f"chi2 = {cd.chi2:.2f}, p = {cd.p:.3g} (Iman-Davenport F = {cd.f:.2f}, p = {cd.p_f:.3g}); "
            f"Nemenyi critical difference at {cd.alpha}: CD = {cd.cd:.2f} mean ranks; {verdict}."
            + (f" Columns of one dataset come from the same runs ({shared}): the blocks are not independent, so "
               "the test is optimistic." if shared else "")]


def _sections(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame, list, str | None]]:
    """(heading, frame of strings, sentences after it, plot stem or None): the overall ranking, the
    methods not ranked overall, then one per column."""
    if df.empty:
        return []
    first = df.drop_duplicates("method")
    ranked = first.dropna(subset=["overall_rank"]).sort_values(["overall_rank", "method"])
    partial = first[first["overall_rank"].isna()].sort_values("method")
    n_cols = df["column"].nunique()
    out = [("Overall", pd.DataFrame({
        "Rank": ranked["overall_rank"].astype(str), "Method": [_name(r) for _, r in ranked.iterrows()],
        "In paper": ["yes" if p else "no" for p in ranked["in_paper"]],
        "Mean rank": [_fmt(x, ".2f") for x in ranked["mean_rank"]],
        "Columns": [f"{n}/{n_cols}" for n in ranked["n_columns"]]}), _cd_text(df),
        CD_STEM if df.attrs.get("cd") is not None else None)]
    if not partial.empty:
        out.append(("Not ranked overall (partial)", pd.DataFrame({
            "Method": [_name(r) for _, r in partial.iterrows()],
            "Columns": [f"{n}/{n_cols}" for n in partial["n_columns"]], "Lacks": list(partial["lacks"])}), [], None))
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
                                                           else r["note"]) for _, r in part.iterrows()]}),
            [], key if df.attrs.get("values") else None))
    return out


def _intro(df: pd.DataFrame) -> list[str]:
    budgets = df.attrs.get("budgets") or []
    out = [f"Protocol: {df.attrs.get('protocol', '?')}; training budget: {', '.join(budgets) or '?'}."]
    if df.attrs.get("quick"):
        out.insert(0, "QUICK RUN — not a reproduction (records with a small training budget): not a ranking result.")
    out += [f"Mean: mean over seeds; CI: the {stats.INTERVAL_TEXT}. Rank 1 = best mean of the column; overall "
            "rank: the mean column rank over the columns every ranked method has (methods lacking one are listed "
            "apart), ranked again; the floor (Persistence) is ranked with the others.",
            f"p vs best: {stats.TEST_TEXT}, against the column's best method, Holm-Bonferroni over the column's "
            f"tested methods; methods sharing fewer than {stats.MIN_SEEDS_FOR_STARS} seeds with the best are "
            "listed but not tested. Methods not in the paper are marked. " + stats.MEANING_TEXT]
    return out


def _md_table(frame: pd.DataFrame) -> list[str]:
    rows = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return rows + ["| " + " | ".join(str(v) for v in r) + " |" for r in frame.itertuples(index=False)]


def _alt(heading: str, stem: str) -> str:
    return ("critical-difference diagram of the overall ranking" if stem == CD_STEM
            else f"seed scores of every method: {heading}")


def render_leaderboard(df: pd.DataFrame, fmt: str = "md") -> str:
    """md | csv | html. csv is the tidy frame (every number); md and html the readable sections, with
    the plots `write_leaderboard` writes under leaderboard-plots/ embedded."""
    if fmt == "csv":
        return df.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    notes = list(df.attrs.get("notes") or [])
    if df.empty:
        notes.append("No run records with metrics of the leaderboard's columns.")
    if fmt == "md":
        out = ["# Leaderboard", ""] + _intro(df) + [""]
        for heading, frame, after, stem in _sections(df):
            out += [f"## {heading}", ""] + _md_table(frame) + [""] + [a + "\n" for a in after]
            out += [f"![{_alt(heading, stem)}]({PLOTS_DIR}/{stem}.png) ([PDF]({PLOTS_DIR}/{stem}.pdf))", ""] if stem else []
        if notes:
            out += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
        return "\n".join(out)
    if fmt == "html":
        out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>Leaderboard</title></head><body>",
               "<h1>Leaderboard</h1>"] + [f"<p>{html.escape(p)}</p>" for p in _intro(df)]
        for heading, frame, after, stem in _sections(df):
            out += [f"<h2>{html.escape(heading)}</h2>", frame.to_html(index=False, border=0)]
            out += [f"<p>{html.escape(a)}</p>" for a in after]
            if stem:
                out.append(f"<p><img src=\"{PLOTS_DIR}/{stem}.png\" alt=\"{html.escape(_alt(heading, stem))}\"> "
                           f"<a href=\"{PLOTS_DIR}/{stem}.pdf\">PDF</a></p>")
        if notes:
            out += ["<ul>"] + [f"<li>{html.escape(n)}</li>" for n in notes] + ["</ul>"]
        return "\n".join(out + ["</body></html>", ""])
    from .errors import BadInput

    raise BadInput(f"--format: unknown leaderboard format {fmt!r}; choose md, csv or html")


def write_plots(df: pd.DataFrame, results_dir) -> list[Path]:
    """leaderboard-plots/<column>.png|pdf (seed scores, floor as a line) and critical_difference.png|pdf."""
    from . import plots

    folder = Path(results_dir) / PLOTS_DIR
    names, floor, values = df.attrs.get("names") or {}, df.attrs.get("floor") or [], df.attrs.get("values") or {}
    quick = " (QUICK budget: not a result)" if df.attrs.get("quick") else ""
    written = []
    for heading, _, _, stem in _sections(df):
        if stem is None:
            continue
        if stem == CD_STEM:
            fig = plots.cd_diagram(df.attrs["cd"], names, f"Critical difference (Nemenyi, alpha 0.05){quick}")
        else:
            part = df[df["column"] == stem].sort_values(["rank", "method"])
            order = [m for m in part["method"] if m not in floor]
            means = part.set_index("method")["mean"]
            fig = plots.seed_scores({m: values[stem][m] for m in order}, names, heading + quick,
                                    part.iloc[0]["metric"], bool(part.iloc[0]["higher_is_better"]),
                                    {names.get(m, m): float(means[m]) for m in floor if m in means})
        written += plots.save(fig, folder / stem)
    return written


def write_leaderboard(df: pd.DataFrame, results_dir, formats=("md",)) -> list[Path]:
    """`leaderboard.md` (always) and leaderboard.csv / .html when asked, written atomically; then the
    plots they embed (PNG and PDF under leaderboard-plots/)."""
    written = []
    for fmt in dict.fromkeys(["md", *formats]):
        path = Path(results_dir) / f"leaderboard.{fmt}"
        write_atomic(path, render_leaderboard(df, fmt))
        written.append(path)
    return written + write_plots(df, results_dir)
