"""`check --statistical`: is a re-run (other hardware, other seeds) worse than the reference, per table column?

Only the headline metrics are tested: the columns of a table config (Table III by default; a
dataset it has no column for gets its task's default columns, as on the leaderboard). Each
(protocol, column) is one family: one test per method of the column and one of the column as a
whole (`pooled_test`: a drift of every method, e.g. new hardware), Holm-Bonferroni within the family, and Bonferroni over the families (corrected p = min(1, C * Holm p) for C column families),
so the whole check flags a grid with no change with probability <= alpha.

The test per method is one-sided (alternative: the current runs are worse):
- paired one-sample t-test on the per-seed differences when both hold the same seeds (>= 2);
  unlike a signed-rank or sign-flip test, its p is not bounded below by 1 / 2**n, so 10 paired
  seeds can reach the ~0.05 / 110 a column family of 11 methods in 10 columns needs;
- Welch's t-test otherwise (>= 2 runs on each side).
Differences within the reference tolerance (atol + rtol * |reference|) count as zero; a method
whose differences are all equal (a deterministic method) moved for certain if they are nonzero
(p = 0) and not at all otherwise (p = 1).

Minimal detectable change (MDC), printed with every verdict: the change of the mean that this
test, with these seeds and this family, detects with 80 % power when it is the only regression:
(t_{1 - a, df} + t_{0.8, df}) * SE, a = alpha / (2C k) for a method (the first Holm
step), alpha / (2C) for the pooled test, SE the standard
error of the mean difference from the observed spread; as a % of the reference mean.
tests/test_check_statistical.py measures the false alarms (<= 5 % of grids) and the power (a 10 %
change in every column flagged in >= 80 % of grids with 10 paired seeds) by simulation.
"""

from __future__ import annotations

import math
from functools import lru_cache

import pandas as pd
from scipy.special import stdtr, stdtrit

from . import stats

POWER = 0.8
ROW_COLUMNS = ["run", "metric", "reference", "current", "abs_change", "rel_change", "status", "test",
               "n_reference", "n_current", "p", "p_holm", "mdc", "mdc_rel", "column"]


def _worse_by(ref: float, cur: float, hib: bool) -> float:
    return (ref - cur) if hib else (cur - ref)


def _mean(values) -> float:
    values = list(values)
    return math.fsum(values) / len(values)


def _var(values) -> float:
    """Sample variance (ddof = 1); plain Python: these are 2 to 50 numbers, and numpy's overhead dominates."""
    m = _mean(values)
    return math.fsum((v - m) ** 2 for v in values) / (len(values) - 1)


def _diffs(ref: dict, cur: dict, seeds, hib: bool, rtol: float, atol: float) -> list[float]:
    """Per-seed worse-by differences; those within atol + rtol * |reference| count as 0."""
    out = []
    for s in seeds:
        d = _worse_by(ref[s], cur[s], hib)
        out.append(0.0 if abs(d) <= atol + rtol * abs(ref[s]) else d)
    return out


@lru_cache(maxsize=None)
def _t_quantiles(df: float, level: float) -> float:
    return float(stdtrit(df, 1 - level) + stdtrit(df, POWER))


def _t_verdict(mean: float, se: float, df: float, level: float, tol: float) -> tuple[float, float]:
    """(one-sided p that the true mean worse-by is > 0, minimal detectable change) of a t statistic."""
    if se == 0:
        return (0.0 if mean > 0 else 1.0), tol
    return float(stdtr(df, -mean / se)), _t_quantiles(df, level) * se


def method_test(ref: dict, cur: dict, hib: bool, level: float, rtol: float = 0.0, atol: float = 0.0) -> dict:
    """One method of one column: {test, n_reference, n_current, p, mdc} (p one-sided, current worse).

    `ref`, `cur`: {seed: value}; `level`: the per-test level of the first Holm step (for the MDC).
    p and mdc are None when there are too few runs to test (fewer than 2 pairs, or 2 runs a side).
    """
    out = {"test": None, "n_reference": len(ref), "n_current": len(cur), "p": None, "mdc": None}
    if not ref or not cur:
        return out
    tol = atol + rtol * abs(_mean(ref.values()))
    if set(ref) == set(cur):
        out["test"] = "paired t"
        d = _diffs(ref, cur, sorted(ref), hib, rtol, atol)
        if len(d) < 2:
            return out
        mean, se, df = _mean(d), math.sqrt(_var(d) / len(d)), len(d) - 1
    else:
        out["test"] = "welch t"
        if len(ref) < 2 or len(cur) < 2:
            return out
        r, c = list(ref.values()), list(cur.values())
        mean = _worse_by(_mean(r), _mean(c), hib)
        mean = 0.0 if abs(mean) <= tol else mean
        vr, vc = _var(r) / len(r), _var(c) / len(c)
        se = math.sqrt(vr + vc)
        df = (vr + vc) ** 2 / ((vr ** 2 / (len(r) - 1)) + (vc ** 2 / (len(c) - 1))) if se > 0 else 1.0
    out["p"], out["mdc"] = _t_verdict(mean, se, df, level, tol)
    return out


POOLED = "(all methods)"


def pooled_test(ref: dict, cur: dict, hib: bool, level: float, rtol: float = 0.0, atol: float = 0.0) -> dict | None:
    """The column-wide test: is the column as a whole worse? None when fewer than 2 methods share >= 2 seeds.

    Per method m and seed i, r = (worse-by) / |reference mean of m|; D_i = sum_m w_m r_mi / sum_m w_m
    with w_m = 1 / mean_i(r_mi ** 2) (unchanged by flipping the sign of any difference, so the
    weights do not favour either direction; methods with no nonzero difference left out); one-sided
    paired t-test of D over the seeds every such method holds. mdc is relative (a share of the means).
    """
    paired = [m for m in sorted(ref) if cur.get(m) and set(ref[m]) == set(cur[m]) and len(ref[m]) >= 2]
    seeds = sorted(set.intersection(*(set(ref[m]) for m in paired))) if paired else []
    if len(paired) < 2 or len(seeds) < 2:
        return None
    weighted, total = [0.0] * len(seeds), 0.0
    for m in paired:
        base = abs(_mean(ref[m].values())) or 1.0
        r = [d / base for d in _diffs(ref[m], cur[m], seeds, hib, rtol, atol)]
        second = math.fsum(x * x for x in r) / len(r)
        if second > 0:
            total += 1.0 / second
            weighted = [acc + x / second for acc, x in zip(weighted, r)]
    out = {"method": POOLED, "test": "paired t (pooled)", "n_reference": len(seeds), "n_current": len(seeds),
           "mdc": None}
    if total == 0:
        return {**out, "p": 1.0, "mdc_rel": 0.0, "mean_rel": 0.0}
    big_d = [x / total for x in weighted]
    mean, se = _mean(big_d), math.sqrt(_var(big_d) / len(big_d))
    p, mdc = _t_verdict(mean, se, len(big_d) - 1, level, 0.0)
    return {**out, "p": p, "mdc_rel": mdc, "mean_rel": mean}


def column_family(ref: dict, cur: dict, hib: bool, n_families: int, alpha: float = stats.ALPHA,
                  rtol: float = 0.0, atol: float = 0.0) -> list[dict]:
    """Every method of one column: `method_test` plus method, means, p_holm (Holm within the column,
    times `n_families`, capped at 1) and status: ok | worse | untested | missing | new."""
    methods = sorted(set(ref) | set(cur))
    k = sum(1 for m in methods if ref.get(m) and cur.get(m))
    split = 2 * max(1, n_families)  # half of the column's alpha to the pooled test, half to the methods
    rows = []
    pooled = pooled_test(ref, cur, hib, alpha / split, rtol, atol)
    level = alpha / (split * max(1, k))
    for m in methods:
        r, c = ref.get(m) or {}, cur.get(m) or {}
        row = {"method": m, "reference": _mean(r.values()) if r else None,
               "current": _mean(c.values()) if c else None}
        if r and c:
            row.update(method_test(r, c, hib, level, rtol, atol))
            row["status"] = "ok" if row["p"] is not None else "untested"
        else:
            row.update(test=None, n_reference=len(r), n_current=len(c), p=None, mdc=None,
                       status="missing" if r else "new")
        row["mdc_rel"] = (row["mdc"] / abs(row["reference"]) if row["mdc"] is not None and row["reference"]
                          else None)
        rows.append(row)
    for row, adj in zip(rows, stats.holm([row["p"] for row in rows])):
        row["p_holm"] = None if adj is None else min(1.0, adj * split)
    if pooled is not None:
        rows.insert(0, {**pooled, "reference": None, "current": None, "status": "ok",
                        "p_holm": min(1.0, pooled["p"] * split)})
    for row in rows:
        if row["p_holm"] is not None and row["p_holm"] < alpha:
            row["status"] = "worse"
    return rows


def verdicts(columns: dict, alpha: float = stats.ALPHA, rtol: float = 0.0, atol: float = 0.0) -> dict:
    """{column id: (worse?, rows)} for {column id: (higher_is_better, reference, current)}, where
    reference and current are {method: {seed: value}}; the column families are corrected together."""
    testable = [cid for cid, (_, r, c) in columns.items() if any(r.get(m) and c.get(m) for m in r)]
    out = {}
    for cid, (hib, r, c) in columns.items():
        rows = column_family(r, c, hib, len(testable), alpha, rtol, atol)
        out[cid] = (any(row["status"] == "worse" for row in rows), rows)
    return out


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.2g} %"


def compare_columns(ref_runs: dict, cur_runs: dict, alpha: float = stats.ALPHA, cfg: dict | None = None,
                    rtol: float = 0.0, atol: float = 0.0) -> tuple[pd.DataFrame, list, list]:
    """(rows, regressions, notes) for {"<protocol>/<dataset>/<method>/seed=<n>": {metric: value}} of the
    reference and of the current runs, one family per (protocol, table column); see the module doc."""
    from .leaderboard import _columns

    cells: dict = {}
    for key, metrics in list(ref_runs.items()) + list(cur_runs.items()):
        proto, ds, method, _ = key.split("/")
        cells.setdefault((ds, method), []).append({"status": "ok", "metrics": {"test": metrics}})
    columns = _columns(cells, cfg)
    protocols = sorted({k.split("/")[0] for k in ref_runs} | {k.split("/")[0] for k in cur_runs})
    families, labels = {}, {}
    for proto in protocols:
        for col in columns:
            ref_v, cur_v = {}, {}
            for source, into in ((ref_runs, ref_v), (cur_runs, cur_v)):
                for key, metrics in source.items():
                    p, ds, method, seed = key.split("/")
                    if p == proto and ds == col["dataset"] and col["metric"] in metrics:
                        into.setdefault(method, {})[int(seed[5:])] = float(metrics[col["metric"]])
            if ref_v or cur_v:
                cid = (proto, col["key"])
                families[cid] = (bool(col["higher_is_better"]), ref_v, cur_v)
                labels[cid] = (f"{col.get('group', col['dataset'])} {col['label']}", col)
    result = verdicts(families, alpha, rtol, atol)
    rows, regressions, notes = [], [], []
    n_fam = sum(1 for _, r, c in families.values() if any(r.get(m) and c.get(m) for m in r))
    for cid, (worse, fam) in result.items():
        proto, _ = cid
        name, col = labels[cid]
        tested = [r for r in fam if r["p"] is not None]
        for r in fam:
            ref_m, cur_m = r["reference"], r["current"]
            change = None if ref_m is None or cur_m is None else cur_m - ref_m
            rel = None if change is None or not ref_m else change / abs(ref_m)
            rows.append({"run": f"{proto}/{col['dataset']}/{r['method']}", "metric": col["metric"],
                         "reference": ref_m, "current": cur_m, "abs_change": change, "rel_change": rel,
                         "status": r["status"], "test": r["test"], "n_reference": r["n_reference"],
                         "n_current": r["n_current"], "p": r["p"], "p_holm": r["p_holm"], "mdc": r["mdc"],
                         "mdc_rel": r["mdc_rel"], "column": f"{proto}: {name}"})
        mdcs = sorted(r["mdc_rel"] for r in tested if r["mdc_rel"] is not None)
        paired = all(r["test"] and r["test"].startswith("paired") for r in tested)
        ns = sorted({(r["n_current"], r["n_reference"]) for r in tested})
        seeds = (f"{'/'.join(str(c) for c, _ in ns)} paired seeds" if paired else
                 "; ".join(f"{r} reference vs {c} current runs" for c, r in ns))
        bad = [r for r in fam if r["status"] == "worse"]
        detect = (f"{len(tested)} test(s) on {seeds}, one of {n_fam} column families; minimal detectable change "
                  f"(80 % power, one regression) median {_pct(mdcs[len(mdcs) // 2])}, range {_pct(mdcs[0])}–"
                  f"{_pct(mdcs[-1])} of the reference mean" if mdcs else
                  "nothing testable (fewer than 2 paired seeds or 2 runs a side)")
        notes.append(f"{proto}: {name}: {'WORSE' if worse else 'ok'}; {detect}"
                     + (f"; worse: {', '.join(r['method'] for r in bad)}" if bad else ""))
        for r in bad:
            moved = (f"worse by {100 * r['mean_rel']:.3g} % of the means (weighted)" if r["method"] == POOLED else
                     f"{r['reference']:.6g} -> {r['current']:.6g} "
                     f"({100 * (r['current'] - r['reference']) / abs(r['reference']):+.3g} %)")
            regressions.append(f"{proto}: {name}: {r['method']} {moved}, corrected p = {r['p_holm']:.3g} "
                               f"({r['test']}, one-sided)")
        regressions += [f"{proto}: {name}: {r['method']} in the reference, missing in the results"
                        for r in fam if r["status"] == "missing"]
    notes.append(f"one-sided tests (current worse), alpha = {alpha}; a column is one family (Holm), "
                 f"families Bonferroni-corrected together; differences within rtol={rtol:g}, atol={atol:g} count as 0")
    return pd.DataFrame(rows, columns=ROW_COLUMNS), regressions, notes
