"""Skill over the floor, for tables under a protocol with `skill_vs_floor` (`forecast`).

For every MAE column of a table (metric `mae` or `mae/<target>`) a column `skill/<metric>` is
added beside it: per run, skill = 1 - MAE / MAE(floor), where MAE(floor) is the mean of the
floor method's ok runs on that dataset (the persistence floor trains nothing, so its seeds agree).
0 = no better than repeating the last observed value, 1 = perfect, negative = worse than it.
The new columns then go through the same cells, intervals and tests as every other column.
Reads records only (no torch).
"""

from __future__ import annotations

import copy
import math

PREFIX = "skill/"


def is_mae(metric: str) -> bool:
    return metric == "mae" or metric.startswith("mae/")


def skill_column(col: dict, floor_name: str) -> dict:
    return {**col, "key": f"{col['key']}_skill", "metric": PREFIX + col["metric"], "higher_is_better": True,
            "label": f"skill {col['label']}", "as_coded": None,
            "description": f"1 - MAE / MAE({floor_name})"}


def with_skill(runs, cfg: dict) -> tuple[list[dict], dict, list[str]]:
    """(records with `skill/...` test metrics added, the config with the skill columns, notes)."""
    floor = (cfg.get("floor") or [None])[0]
    records = [getattr(r, "record", r) for r in runs]
    mae_cols = [c for c in cfg["columns"] if is_mae(c["metric"])]
    if floor is None or not mae_cols:
        return records, cfg, []
    floor_mae: dict[tuple[str, str], float] = {}
    floor_name = floor
    for col in mae_cols:
        values = [float(v) for r in records if r["method"] == floor and r["dataset"] == col["dataset"]
                  and r["status"] == "ok" and isinstance(v := (r["metrics"].get("test") or {}).get(col["metric"]),
                                                         (int, float)) and math.isfinite(v)]
        floor_name = next((r.get("method_name") or floor for r in records if r["method"] == floor), floor)
        if values:
            floor_mae[(col["dataset"], col["metric"])] = sum(values) / len(values)
    out = []
    for rec in records:
        test = (rec.get("metrics") or {}).get("test") or {}
        added = {}
        for (dataset, metric), base in floor_mae.items():
            v = test.get(metric)
            if rec["dataset"] == dataset and isinstance(v, (int, float)) and base > 0:
                added[PREFIX + metric] = 1.0 - float(v) / base
        if added:
            rec = copy.copy(rec)
            rec["metrics"] = {**rec["metrics"], "test": {**test, **added}}
        out.append(rec)
    columns, missing = [], []
    for col in cfg["columns"]:
        columns.append(col)
        if is_mae(col["metric"]):
            if (col["dataset"], col["metric"]) in floor_mae:
                columns.append(skill_column(col, floor_name))
            else:
                missing.append(f"{col.get('group', col['dataset'])} {col['label']}")
    notes = [f"skill = 1 - MAE / MAE({floor_name}) per run, MAE({floor_name}) the mean of its runs on the "
             f"dataset (it trains nothing: every seed gives the same value); 0 = no better than {floor_name}, "
             "negative = worse."]
    if missing:
        notes.append(f"No skill column for {', '.join(missing)}: no ok {floor_name} runs there.")
    return out, {**cfg, "columns": columns}, notes
