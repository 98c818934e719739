"""FitRec (Endomondo; Ni et al. 2019), the per-user files the paper's authors published.

One task per user: the `tasks` users with the most rows (ties: smaller user id first), listed by
user id. The config's top-level `selected_tasks` declares that rule's result (a realdata test
checks it) so a federated node reads only its own users' files (`select_tasks`): each user's
arrays depend on that user's file alone (row cap, sort and timestamp origin per user, category
codes from the config's fixed lists), so a subset load gives the same arrays. Rows are sorted by timestamp (stable sort, as the authors) and cut to `max_rows`.
Targets: `tar_heart_rate` and `tar_derived_speed` (bpm, km/h). Text columns (gender, sport) are
coded by the fixed category lists of the config (position in the list).

Inputs under `corrected` (`options.features`): no target history (`heart_rate`, `derived_speed`
are the targets z-normalised), no identifiers and no raw timestamp. Under `paper`
(`options.paper_features`): the authors' ten non-target columns, timestamp and userId included;
the timestamp is stored relative to the task's first one (min-max scaling is shift-invariant, and
float32 cannot hold epoch seconds to the second).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import BadInput
from .parsing import declared_files, load_declared, read_columns, select_declared, task_count_error
from .spec import DatasetSpec, RawDataset, TaskSeries

DEFAULT_TARGETS = ("tar_heart_rate", "tar_derived_speed")
DEFAULT_FEATURES = ("altitude", "distance", "gender", "latitude", "longitude", "sport",
                    "since_begin", "since_last", "time_elapsed")
DEFAULT_PAPER_FEATURES = ("altitude", "derived_speed", "distance", "gender", "heart_rate", "latitude",
                          "longitude", "sport", "timestamp", "userId")
EXACT_COLUMNS = ("timestamp", "userId")  # read as float64: epoch seconds and ids exceed float32 precision
#: bump when parsing changes, so the parsed-array cache is rebuilt
VERSION = "1"


def user_id(name: str) -> int:
    m = re.search(r"(\d+)", name)
    return int(m.group(1)) if m else 0


def _codes(values, categories: list[str], path: Path, column: str) -> np.ndarray:
    import pandas as pd

    s = pd.Series(values, dtype=object)
    mapped = s.map({c: float(i) for i, c in enumerate(categories)})
    unknown = mapped.isna() & s.notna()
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise BadInput(f"{path}: column {column!r} holds {s.iloc[row]!r} in row {row + 1}, not one of its "
                       f"categories ({', '.join(categories)}); add it to options.categories.{column}")
    return mapped.to_numpy(dtype=np.float64)


def task_names(spec: DatasetSpec) -> list[str] | None:
    """The declared `selected_tasks` listed by user id, as the loader lists them (None: none declared)."""
    if not spec.selected_tasks:
        return None
    declared_files(spec, list(spec.selected_tasks))
    return sorted(spec.selected_tasks, key=user_id)


def select_tasks(spec: DatasetSpec, names: list[str]) -> DatasetSpec | None:
    """The spec that reads only these users' files (a federated node's own); None: undeclared."""
    known = task_names(spec)
    return select_declared(spec, names, None if known is None else {n: n for n in known})


def load(spec: DatasetSpec, folder: Path) -> RawDataset:
    """Verify (or download) the registered files, then parse them (or read the parsed-array cache).
    With `options.read_tasks` ({user id: user id}, from `select_tasks`) only those users' files."""
    return load_declared(spec, folder, VERSION, parse)


def parse(spec: DatasetSpec, folder: Path, paths: dict[str, Path]) -> RawDataset:
    o = spec.options
    targets = [str(c) for c in o.get("targets", DEFAULT_TARGETS)]
    features = [str(c) for c in o.get("features", DEFAULT_FEATURES)]
    paper_features = [str(c) for c in o.get("paper_features", DEFAULT_PAPER_FEATURES)]
    categories = {str(k): [str(v) for v in vals] for k, vals in (o.get("categories") or {}).items()}
    n_tasks = int(o.get("tasks", 30))
    max_rows = int(o.get("max_rows", 30000))
    sort_by = str(o.get("sort_by", "timestamp"))
    leaked = sorted(set(features) & set(targets))
    if leaked:
        raise BadInput(f"{spec.path or spec.name}: option features must not hold the targets ({', '.join(leaked)})")
    only = bool(o.get("read_tasks"))  # a subset chosen by select_tasks: every file given is a task
    if not only and len(paths) < n_tasks:
        raise task_count_error(spec, folder, len(paths), n_tasks, "user files")

    columns = list(dict.fromkeys(features + paper_features + targets + [sort_by]))
    text = [c for c in columns if c in categories]
    exact = [c for c in columns if c in EXACT_COLUMNS or c == sort_by]
    numeric = [c for c in columns if c not in text and c not in exact]
    frames = {}
    for name, path in paths.items():
        frames[name] = (path, read_columns(path, numeric, text=text, int_columns=exact, dtype=np.float64))
    ranked = sorted(frames, key=lambda n: (-len(frames[n][1]), user_id(n)))
    chosen = sorted(ranked if only else ranked[:n_tasks], key=user_id)

    tasks = []
    for name in chosen:
        path, df = frames[name]
        df = df.sort_values(sort_by, kind="stable").iloc[:max_rows]
        cols = {}
        for c in columns:
            if c in categories:
                cols[c] = _codes(df[c].to_numpy(dtype=object), categories[c], path, c)
            else:
                cols[c] = df[c].to_numpy(dtype=np.float64)
        if "timestamp" in cols and len(df):
            cols["timestamp"] = cols["timestamp"] - np.nanmin(cols["timestamp"])

        def block(names):
            return np.ascontiguousarray(np.stack([cols[c] for c in names], axis=1), dtype=np.float32)

        tasks.append(TaskSeries(name=name.split(".")[0], features=block(features), targets=block(targets),
                                paper_features=block(paper_features)))

    rows = {t.name: t.features.shape[0] for t in tasks}
    notes = {
        "files_read": len(paths),
        "folder": str(folder),
        "users_kept": len(tasks),
        "users_excluded_rows": {} if only else {n.split(".")[0]: len(frames[n][1]) for n in ranked[n_tasks:]},
        "rows_per_user_min_max": [min(rows.values()), max(rows.values())] if rows else [0, 0],
        "sorted_by": f"{sort_by} (stable)",
        "max_rows": max_rows,
        "category_codes": {c: {v: i for i, v in enumerate(vals)} for c, vals in categories.items() if c in text},
        "paper_timestamp": "seconds since the task's first timestamp (scaling is shift-invariant)",
        "corrected_inputs_exclude": ["heart_rate", "derived_speed", "id", "userId", "timestamp"],
    }
    return RawDataset(
        name=spec.name,
        task_type=spec.task_type,
        feature_names=features,
        target_names=targets,
        tasks=tasks,
        paper_feature_names=paper_features,
        notes=notes,
    )
