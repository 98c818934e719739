"""`check`: compare run records with a committed reference; what moved is a regression.

Reference file (JSON, `schema: 1`):
    {"schema": 1, "protocols": ["corrected"], "tolerance": {"rtol": 1e-06, "atol": 1e-09},
     "runs": {"<protocol>/<dataset>/<method>/seed=<n>": {"config_hash": "...", "method_name": "...",
                                                          "metrics": {"<test metric>": value}}}}
It holds the scalar test metrics of every ok run. Two ways to compare:
- `compare` (exact mode): per run and metric, |current - reference| <= atol + rtol * |reference|
  is ok, anything else `moved` (either direction: runs are deterministic on CPU, so a change is
  news); reference runs or metrics absent from the results are `missing`; results absent from the
  reference are `new` (not a regression).
- `compare_statistical`: fresh seeds vs the reference's seeds on the headline metrics only (a
  table's columns), one family per column, one-sided paired t-tests, the minimal detectable change
  printed with every verdict (`check_statistical`).
The CLI exits 1 when `result.regressions` is not empty, 0 otherwise; a bad reference is BadInput (2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .documents import read_document
from .errors import BadInput
from .records import write_atomic

SCHEMA = 1
DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
HIGHER_IS_BETTER = {"precision", "recall", "f1", "ba", "accuracy", "auc", "r2"}
LOWER_IS_BETTER = {"mae", "smape", "mape", "rmse", "mse", "loss"}
COLUMNS = ["run", "metric", "reference", "current", "abs_change", "rel_change", "status"]


def run_key(rec: dict) -> str:
    return f"{rec['protocol']}/{rec['dataset']}/{rec['method']}/seed={int(rec['seed'])}"


def _scalars(rec: dict) -> dict:
    test = (rec.get("metrics") or {}).get("test") or {}
    return {k: float(v) for k, v in sorted(test.items())
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def direction(metric: str) -> int:
    """+1 higher is better, -1 lower is better, 0 unknown (e.g. `as_coded/mae@row1` -> -1)."""
    base = metric.removeprefix("as_coded/").split("/")[0].split("@")[0].lower()
    return 1 if base in HIGHER_IS_BETTER else -1 if base in LOWER_IS_BETTER else 0


def _records(runs) -> list[dict]:
    return [getattr(r, "record", r) for r in runs]


def write_reference(runs, path, rtol: float | None = None, atol: float | None = None) -> dict:
    """Write the reference of every ok run's scalar test metrics to `path` (atomically); return it."""
    ok = [r for r in _records(runs) if r["status"] == "ok"]
    if not ok:
        raise BadInput(f"{path}: no ok run records to write a reference from")
    ref = {"schema": SCHEMA, "protocols": sorted({r["protocol"] for r in ok}),
           "tolerance": {"rtol": DEFAULT_RTOL if rtol is None else float(rtol),
                         "atol": DEFAULT_ATOL if atol is None else float(atol)},
           "runs": {run_key(r): {"config_hash": r.get("config_hash"), "method_name": r.get("method_name"),
                                 "metrics": _scalars(r)} for r in sorted(ok, key=run_key)}}
    write_atomic(Path(path), json.dumps(ref, indent=1, sort_keys=True) + "\n")
    return ref


def load_reference(path) -> dict:
    """Read and validate a reference file; any problem is one BadInput line naming the file."""
    path = Path(path)
    ref = read_document(path, "reference", hint="; write one with `check --write`")
    if ref.get("schema") != SCHEMA:
        raise BadInput(f"{path}: reference schema {ref.get('schema')!r}, this version reads {SCHEMA}")
    if not isinstance(ref.get("runs"), dict):
        raise BadInput(f"{path}: reference lacks `runs` (an object keyed <protocol>/<dataset>/<method>/seed=<n>)")
    tol = ref.get("tolerance", {})
    if not isinstance(tol, dict) or not all(isinstance(tol.get(k, 0.0), (int, float)) for k in ("rtol", "atol")):
        raise BadInput(f"{path}: `tolerance` must be {{\"rtol\": number, \"atol\": number}}")
    for key, entry in ref["runs"].items():
        parts = key.split("/")
        if len(parts) != 4 or not parts[3].startswith("seed=") or not parts[3][5:].lstrip("-").isdigit():
            raise BadInput(f"{path}: run key {key!r} is not <protocol>/<dataset>/<method>/seed=<n>")
        metrics = entry.get("metrics") if isinstance(entry, dict) else None
        if not isinstance(metrics, dict) or not all(isinstance(v, (int, float)) for v in metrics.values()):
            raise BadInput(f"{path}: run {key} lacks `metrics` (an object of numbers)")
    return {**ref, "_path": str(path)}


@dataclass
class CheckResult:
    """`rows`: one line per (run, metric); `regressions`: one sentence per regression."""

    mode: str
    rows: pd.DataFrame
    regressions: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def _change(ref, cur):
    if ref is None or cur is None:
        return None, None
    return cur - ref, (cur - ref) / abs(ref) if ref else (0.0 if cur == ref else math.inf)


def compare(runs, reference: dict, rtol: float | None = None, atol: float | None = None) -> CheckResult:
    """Exact mode: every reference metric against the current run of the same key (see module doc)."""
    tol = reference.get("tolerance") or {}
    rtol = float(tol.get("rtol", DEFAULT_RTOL) if rtol is None else rtol)
    atol = float(tol.get("atol", DEFAULT_ATOL) if atol is None else atol)
    current = {run_key(r): r for r in _records(runs)}
    rows, regressions, changed = [], [], []
    for key in sorted(set(reference["runs"]) | set(current)):
        ref_entry, rec = reference["runs"].get(key), current.get(key)
        ref_m = (ref_entry or {}).get("metrics", {})
        cur_m = _scalars(rec) if rec is not None and rec["status"] == "ok" else {}
        if ref_entry is not None and (rec is None or rec["status"] != "ok"):
            why = "absent" if rec is None else "failed (" + (rec.get("error") or "no message").splitlines()[0] + ")"
            regressions.append(f"{key}: in the reference, {why} in the results")
        elif ref_entry is not None and ref_entry.get("config_hash") not in (None, rec.get("config_hash")):
            changed.append(key)
        for metric in sorted(set(ref_m) | set(cur_m)):
            r, c = ref_m.get(metric), cur_m.get(metric)
            if r is None:
                status = "new"
            elif c is None:
                status = "missing"
                if rec is not None and rec["status"] == "ok":
                    regressions.append(f"{key} {metric}: in the reference ({r:.6g}), missing in the results")
            elif abs(c - r) <= atol + rtol * abs(r):
                status = "ok"
            else:
                status = "moved"
                regressions.append(f"{key} {metric}: {r:.6g} -> {c:.6g} ({c - r:+.3g})")
            rows.append(dict(zip(COLUMNS, (key, metric, r, c, *_change(r, c), status))))
    notes = [f"config hash differs from the reference for {len(changed)} run(s), e.g. {changed[0]}"] if changed else []
    return CheckResult("exact", pd.DataFrame(rows, columns=COLUMNS), regressions, notes, {"rtol": rtol, "atol": atol})


def compare_statistical(runs, reference: dict, alpha: float = 0.05, cfg: dict | None = None) -> CheckResult:
    """Statistical mode: one family per table column (see `check_statistical`)."""
    from .check_statistical import compare_columns

    tol = reference.get("tolerance") or {}
    current = {run_key(r): _scalars(r) for r in _records(runs) if r["status"] == "ok"}
    frame, regressions, notes = compare_columns(
        {key: entry["metrics"] for key, entry in reference["runs"].items()}, current, alpha, cfg,
        rtol=float(tol.get("rtol", 0.0)), atol=float(tol.get("atol", 0.0)))
    return CheckResult("statistical", frame, regressions, notes, {"alpha": alpha})


def _f(x, spec=".6g") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2g} %"


def render_check(result: CheckResult, max_rows: int = 20) -> str:
    """A summary line, then a table of every row when few, else of the rows that are not ok."""
    rows = result.rows
    counts = rows["status"].value_counts().to_dict() if not rows.empty else {}
    setting = ", ".join(f"{k}={v:g}" for k, v in result.settings.items())
    out = [f"check ({result.mode}, {setting}): {len(rows)} metric(s): "
           + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "moved", "worse", "missing", "new", "untested")
                       if s in counts or s in ("ok", "missing"))]
    out += [f"note: {n}" for n in result.notes]
    shown = rows if len(rows) <= max_rows else rows[rows["status"] != "ok"]
    if not shown.empty:
        extra = ["p_holm", "mdc_rel"] if result.mode == "statistical" else []
        out += ["", "| run | metric | reference | current | change | rel. change | status |"
                + " corrected p | detectable change |" * bool(extra), "|---|---|---:|---:|---:|---:|---|"
                + "---:|" * len(extra)]
        for r in shown.to_dict("records"):
            rel = "–" if r["rel_change"] is None or pd.isna(r["rel_change"]) else f"{100 * r['rel_change']:+.3g} %"
            out.append(f"| {r['run']} | {r['metric']} | {_f(r['reference'])} | {_f(r['current'])} | "
                       f"{_f(r['abs_change'], '+.3g')} | {rel} | {r['status']} |"
                       + "".join(f" {_f(r[k], '.3g')} |" if k == "p_holm" else f" {_pct(r[k])} |" for k in extra))
        if len(shown) < len(rows):
            out.append(f"({len(rows) - len(shown)} ok row(s) not shown)")
    out.append("")
    out += ([f"REGRESSION: {len(result.regressions)} (exit 1)"] + [f"  {line}" for line in result.regressions]
            if result.regressions else ["no regression"])
    return "\n".join(out)
