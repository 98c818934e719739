"""Reading a dataset's CSV columns with clear errors, and the parsed-array cache.

Split from `files.py` (finding, verifying and downloading files). The cache keeps each loader's
parsed `RawDataset` as an npz keyed by the files' sha256, the loader version and the options,
under the same user cache dir as the verification cache (never the data dir); safe to delete,
`FATHOM_BENCH_PARSED_CACHE=0` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zlib
from dataclasses import replace
from difflib import get_close_matches
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import BadInput
from .files import _error_text, cache_dir, ensure_files, registry
from .spec import DatasetSpec, RawDataset, TaskSeries

def cached_raw(spec: DatasetSpec, folder: Path, files: dict[str, Path], version: str,
               build: Callable[[], RawDataset]) -> RawDataset:
    """`build()` once per (verified file hashes, loader version, options); later loads read an npz.

    The npz lives in `cache_dir()/parsed/` (safe to delete). Set FATHOM_BENCH_PARSED_CACHE=0 to
    bypass it. Only call this after `ensure_files` verified `files`, so the registry hashes are
    the hashes of their content.
    """
    if os.environ.get("FATHOM_BENCH_PARSED_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return build()
    reg = registry(spec)
    ident = json.dumps({
        "loader": spec.loader, "version": version, "task_type": spec.task_type,
        "options": {k: v for k, v in spec.options.items() if k not in ("sources", "allow_download", "checksums")},
        "files": {name: reg[name] for name in files},
    }, sort_keys=True, default=str)
    key = hashlib.sha256(ident.encode()).hexdigest()[:24]
    path = cache_dir() / "parsed" / f"{spec.name}-{key}.npz"
    if path.is_file():
        try:
            raw = _read_parsed(path)
            raw.notes["folder"] = str(folder)
            return raw
        except Exception:  # a damaged cache entry is rebuilt
            pass
    raw = build()
    try:
        _write_parsed(path, raw)
    except OSError:
        pass
    return raw


def _write_parsed(path: Path, raw: RawDataset) -> None:
    arrays: dict[str, np.ndarray] = {}
    for i, t in enumerate(raw.tasks):
        arrays[f"x{i}"] = t.features
        arrays[f"y{i}"] = t.targets
        if t.paper_features is not None:
            arrays[f"p{i}"] = t.paper_features
    meta = {"name": raw.name, "task_type": raw.task_type, "feature_names": raw.feature_names,
            "target_names": raw.target_names, "paper_feature_names": raw.paper_feature_names,
            "task_names": [t.name for t in raw.tasks], "notes": raw.notes}
    arrays["meta"] = np.array(json.dumps(meta, default=str))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".parsed-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_parsed(path: Path) -> RawDataset:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        tasks = [TaskSeries(name=n, features=z[f"x{i}"], targets=z[f"y{i}"],
                            paper_features=z[f"p{i}"] if f"p{i}" in z.files else None)
                 for i, n in enumerate(meta["task_names"])]
    return RawDataset(name=meta["name"], task_type=meta["task_type"], feature_names=meta["feature_names"],
                      target_names=meta["target_names"], tasks=tasks,
                      paper_feature_names=meta["paper_feature_names"], notes=meta["notes"])


# --------------------------------------------------------------------------------------------
# reading CSV files with checks


def read_columns(path: Path, numeric: list[str], text: Iterable[str] = (), nrows: int | None = None,
                 dtype=np.float64, int_columns: Iterable[str] = ()):
    """Read the named columns of a CSV (plain or gzipped) with explicit dtypes.

    A missing column raises BadInput naming the file and column (and a close match, if renamed); a
    non-numeric cell in a numeric column raises BadInput naming file, column, row and value.
    Empty cells and `NA` are missing (NaN). Returns a pandas DataFrame.
    """
    import pandas as pd

    text, int_columns = list(text), list(int_columns)
    wanted = list(dict.fromkeys(numeric + int_columns + text))
    try:
        header = list(pd.read_csv(path, nrows=0).columns)
    except Exception as exc:
        raise BadInput(f"{path}: cannot read a CSV header ({_error_text(exc)})") from None
    absent = [c for c in wanted if c not in header]
    if absent:
        col = absent[0]
        near = get_close_matches(col, [h for h in header if h not in wanted], n=1)
        hint = f" (renamed? the file has {near[0]!r})" if near else ""
        more = f"; {len(absent) - 1} more column(s) missing" if len(absent) > 1 else ""
        raise BadInput(f"{path}: column {col!r} is missing{hint}{more}; the file must have the published columns")
    dtypes = {c: dtype for c in numeric}
    dtypes.update({c: "float64" for c in int_columns})
    dtypes.update({c: "str" for c in text})
    try:
        return pd.read_csv(path, usecols=wanted, dtype=dtypes, nrows=nrows)
    except (ValueError, TypeError, OverflowError):
        pass
    except (EOFError, OSError, zlib.error) as exc:
        raise BadInput(f"{path}: cannot be read ({_error_text(exc)})") from None
    # slow path: find the first bad cell to name it
    df = pd.read_csv(path, usecols=wanted, dtype=str, nrows=nrows)
    for col in numeric + int_columns:
        raw = df[col]
        parsed = pd.to_numeric(raw, errors="coerce")
        bad = parsed.isna() & raw.notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise BadInput(
                f"{path}: column {col!r} must be numeric but row {row + 1} (line {row + 2}) holds "
                f"{raw.iloc[row]!r}; fix or re-download the file"
            )
    raise BadInput(f"{path}: cannot be parsed with the expected column types")


def task_count_error(spec: DatasetSpec, folder: Path, found: int, needed: int, what: str) -> BadInput:
    return BadInput(
        f"dataset {spec.name}: {found} {what} in {folder}, the protocol needs at least {needed} "
        f"(config {spec.path or spec.name}); add the missing files or lower the requirement"
    )


def load_verified(spec: DatasetSpec, folder, version: str, parse: Callable, names=None) -> RawDataset:
    """What every loader's `load` does: verify (or download) the files, then parse them through the
    parsed-array cache. `parse(spec, folder, paths)`; `names`: only these registered files."""
    folder = Path(folder)
    paths = ensure_files(spec, folder, names=names) if names is not None else ensure_files(spec, folder)
    return cached_raw(spec, folder, paths, version, lambda: parse(spec, folder, paths))


def declared_files(spec: DatasetSpec, stems: list[str]) -> list[str]:
    """The registered file names of tasks declared by file stem (`selected_tasks`: user ids), in
    that order; a stem without a registered file is one line naming the config."""
    by_stem = {name.split(".")[0]: name for name in registry(spec)}
    unknown = [s for s in stems if s not in by_stem]
    if unknown:
        raise BadInput(f"{spec.path or spec.name}: selected_tasks: {unknown[0]!r} has no file in the dataset's "
                       f"checksum registry; list user ids as the files are named (e.g. {next(iter(by_stem), '')!r})")
    return [by_stem[s] for s in stems]


def unknown_task_error(spec: DatasetSpec, names: list[str], known: list[str]) -> BadInput | None:
    """The one-line error for task names that are not among the declared tasks, or None."""
    unknown = [n for n in names if n not in set(known)]
    if not unknown:
        return None
    return BadInput(f"dataset {spec.name}: no task named {unknown[0]!r} in selected_tasks of "
                    f"{spec.path or spec.name}; its tasks are {', '.join(known)}")


def select_declared(spec: DatasetSpec, names: list[str], known: dict[str, str] | None) -> DatasetSpec | None:
    """A loader's `select_tasks`: the spec whose `options.read_tasks` ({task name: file stem}) reads only
    the files of `names` among the declared tasks `known` (a federated node's own); None: none declared."""
    if known is None:
        return None
    error = unknown_task_error(spec, names, list(known))
    if error:
        raise error
    wanted = set(names)
    return replace(spec, options={**spec.options, "read_tasks": {n: s for n, s in known.items() if n in wanted}})


def load_declared(spec: DatasetSpec, folder, version: str, parse: Callable) -> RawDataset:
    """`load_verified` over every registered file, or with `options.read_tasks` (`select_declared`)
    over only those tasks' files."""
    only = spec.options.get("read_tasks")
    return load_verified(spec, folder, version, parse, names=declared_files(spec, list(only.values())) if only else None)
