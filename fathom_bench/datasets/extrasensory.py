"""ExtraSensory (Vaizman et al.): one task per user, 225 sensor features, 51 binary labels.

Files: `<UUID>.features_labels.csv.gz` as published. Columns: `timestamp`, 225 features,
51 `label:*` columns (1, 0 or empty = unknown), `label_source`. The features are every column
except `timestamp`, `label:*` and `label_source`, in file order; the column lists of every file
must equal those of the first.

Tasks: the users with at least `min_rows` rows (in registry order), each cut to its first `rows`
rows, as the authors. The config's top-level `selected_tasks` declares that rule's result (a
realdata test checks it) so a federated node reads only its own users' files (`select_tasks`);
each user's arrays depend on that user's file alone, and task names are the short UUIDs that are
unique among the declared users, so a subset load gives the same names and arrays. A missing label stays NaN (unknown, not negative): `corrected` masks it,
`paper` fills it the authors' way (`paper_fill`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import BadInput
from .parsing import declared_files, load_declared, read_columns, select_declared, task_count_error
from .spec import DatasetSpec, RawDataset, TaskSeries

LABEL_PREFIX = "label:"
NON_FEATURES = ("timestamp", "label_source")
#: bump when parsing changes, so the parsed-array cache is rebuilt
VERSION = "1"


def split_columns(header: list[str]) -> tuple[list[str], list[str]]:
    """(feature columns, label columns) of an ExtraSensory header, in file order."""
    labels = [c for c in header if c.startswith(LABEL_PREFIX)]
    features = [c for c in header if c not in NON_FEATURES and not c.startswith(LABEL_PREFIX)]
    return features, labels


def _short_names(uuids: list[str], length: int) -> list[str]:
    """Shortest prefixes (at least `length` characters) that keep the names unique."""
    n = max(1, length)
    while n < max((len(u) for u in uuids), default=0) and len({u[:n] for u in uuids}) < len(uuids):
        n += 1
    return [u[:n] for u in uuids]


def task_names(spec: DatasetSpec) -> list[str] | None:
    """The task names of the declared `selected_tasks` (None when the config declares none)."""
    if not spec.selected_tasks:
        return None
    declared_files(spec, list(spec.selected_tasks))
    return _short_names(list(spec.selected_tasks), int(spec.options.get("task_name_length", 8)))


def select_tasks(spec: DatasetSpec, names: list[str]) -> DatasetSpec | None:
    """The spec that reads only these users' files (a federated node's own); None: undeclared."""
    known = task_names(spec)
    return select_declared(spec, names, None if known is None else dict(zip(known, spec.selected_tasks)))


def load(spec: DatasetSpec, folder: Path) -> RawDataset:
    """Verify (or download) the registered files, then parse them (or read the parsed-array cache).
    With `options.read_tasks` ({task name: UUID}, from `select_tasks`) only those users' files."""
    return load_declared(spec, folder, VERSION, parse)


def parse(spec: DatasetSpec, folder: Path, paths: dict[str, Path]) -> RawDataset:
    import pandas as pd

    o = spec.options
    rows = int(o.get("rows", 3000))
    min_rows = int(o.get("min_rows", rows))
    min_tasks = int(o.get("min_tasks", 1))
    suffix = str(o.get("file_suffix", ".features_labels.csv.gz"))
    only = o.get("read_tasks") or {}

    features: list[str] | None = None
    labels: list[str] | None = None
    kept: list[tuple[str, np.ndarray, np.ndarray]] = []
    excluded: dict[str, int] = {}
    unordered = 0
    for name, path in paths.items():
        uuid = name[: -len(suffix)] if name.endswith(suffix) else name.split(".")[0]
        if features is None:
            header = list(pd.read_csv(path, nrows=0).columns)
            features, labels = split_columns(header)
            for what, cols, key in (("feature", features, "features"), ("label", labels, "labels")):
                want = o.get(key)
                if want is not None and len(cols) != int(want):
                    raise BadInput(
                        f"{path}: {len(cols)} {what} columns, the protocol has {int(want)} "
                        f"(option {key} in {spec.path or spec.name}); the file is not the published one"
                    )
            if "timestamp" not in header:
                raise BadInput(f"{path}: column 'timestamp' is missing; the file must have the published columns")
        df = read_columns(path, features + labels, nrows=max(rows, min_rows), dtype=np.float32,
                          int_columns=["timestamp"])
        if len(df) < min_rows:
            if only:
                raise BadInput(f"{path}: {len(df)} rows, fewer than option min_rows ({min_rows}); selected_tasks "
                               f"in {spec.path or spec.name} is not what the rule selects")
            excluded[uuid] = len(df)
            continue
        df = df.iloc[:rows]
        y = df[labels].to_numpy(dtype=np.float32)
        bad = ~np.isnan(y) & (y != 0) & (y != 1)
        if bad.any():
            r, c = (int(v[0]) for v in np.nonzero(bad))
            raise BadInput(f"{path}: column {labels[c]!r} must hold 1, 0 or nothing, but row {r + 1} "
                           f"holds {y[r, c]!r}; fix or re-download the file")
        ts = df["timestamp"].to_numpy()
        unordered += int(np.sum(np.diff(ts) <= 0))
        kept.append((uuid, df[features].to_numpy(dtype=np.float32), y))
    if not only and len(kept) < min_tasks:
        raise task_count_error(spec, folder, len(kept), min_tasks, f"users with at least {min_rows} rows")

    if only:  # names unique among all declared users, as in the full load
        by_uuid = {u: n for n, u in only.items()}
        names = [by_uuid[k[0]] for k in kept]
    else:
        names = _short_names([k[0] for k in kept], int(o.get("task_name_length", 8)))
    tasks = [TaskSeries(name=n, features=x, targets=y) for n, (_, x, y) in zip(names, kept)]
    all_y = np.concatenate([t.targets for t in tasks])
    observed = ~np.isnan(all_y)
    never_observed = [labels[i] for i in np.flatnonzero(~observed.any(axis=0))]
    never_positive = [labels[i] for i in np.flatnonzero(~(np.nan_to_num(all_y) == 1).any(axis=0))]
    per_user_unobserved = [int((~(~np.isnan(t.targets)).any(axis=0)).sum()) for t in tasks]
    all_x = np.concatenate([t.features for t in tasks])
    notes = {
        "files_read": len(paths),
        "folder": str(folder),
        "users_kept": len(tasks),
        "users_excluded_rows": excluded,
        "rows_per_user": rows,
        "task_names": "first characters of the user UUID",
        "uuids": {n: k[0] for n, k in zip(names, kept)},
        "feature_missing_fraction": round(float(np.isnan(all_x).mean()), 4),
        "label_missing_fraction": round(float(1 - observed.mean()), 4),
        "labels_never_observed": never_observed,
        "labels_never_positive": never_positive,
        "labels_unobserved_per_user_min_max": [min(per_user_unobserved), max(per_user_unobserved)],
        "timestamps_not_increasing": unordered,
    }
    return RawDataset(
        name=spec.name,
        task_type=spec.task_type,
        feature_names=list(features or []),
        target_names=list(labels or []),
        tasks=tasks,
        paper_feature_names=None,
        notes=notes,
    )
