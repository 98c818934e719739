"""Physically impossible values: a dataset's `valid_ranges` (column name or glob -> [low, high],
either bound may be null) say what a column can hold; values outside are impossible.

Under a protocol with `impossible_values: missing` (corrected, forecast) they become NaN before
scaling, so they are masked out of loss and metrics (targets), filled like any missing input, and
left out of the scalers' fit. `impossible_counts` gives the per-task numbers the dataset cards show.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

import numpy as np

from ..errors import BadInput


def check_ranges(ranges, where: str) -> dict[str, tuple[float | None, float | None]]:
    """`valid_ranges` from a dataset config, validated: {pattern: (low or None, high or None)}."""
    if ranges is None:
        return {}
    if not isinstance(ranges, dict):
        raise BadInput(f"{where}: valid_ranges must map column names to [low, high]")
    out = {}
    for name, bounds in ranges.items():
        if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
            raise BadInput(f"{where}: valid_ranges.{name} must be [low, high] (null for no bound), not {bounds!r}")
        try:
            lo, hi = (None if b is None else float(b) for b in bounds)
        except (TypeError, ValueError):
            raise BadInput(f"{where}: valid_ranges.{name} bounds must be numbers or null, not {bounds!r}") from None
        if lo is not None and hi is not None and lo > hi:
            raise BadInput(f"{where}: valid_ranges.{name} has low {lo} above high {hi}")
        out[str(name)] = (lo, hi)
    return out


def column_bounds(names, ranges: dict) -> list[tuple[float | None, float | None] | None]:
    """Per column name: the bounds of the first matching pattern (exact name before globs), or None."""
    found = []
    for name in names:
        hit = ranges.get(name)
        if hit is None:
            hit = next((b for pattern, b in ranges.items() if fnmatchcase(name, pattern)), None)
        found.append(hit)
    return found


def impossible_mask(values: np.ndarray, names, ranges: dict) -> np.ndarray:
    """`[N, D]` bool: True where a value lies outside its column's valid range (NaN is not impossible)."""
    bad = np.zeros(values.shape, dtype=bool)
    for j, bounds in enumerate(column_bounds(names, ranges)):
        if bounds is None:
            continue
        lo, hi = bounds
        with np.errstate(invalid="ignore"):
            if lo is not None:
                bad[:, j] |= values[:, j] < lo
            if hi is not None:
                bad[:, j] |= values[:, j] > hi
    return bad


def as_missing(values: np.ndarray, names, ranges: dict) -> np.ndarray:
    """A copy of `values` with impossible values set to NaN (the array itself when none is)."""
    bad = impossible_mask(values, names, ranges)
    if not bad.any():
        return values
    out = values.copy()
    out[bad] = np.nan
    return out


def impossible_counts(raw, ranges: dict) -> dict[str, dict[str, int]]:
    """Per task, per column with at least one impossible value: how many (targets and every input array)."""
    counts: dict[str, dict[str, int]] = {}
    for task in raw.tasks:
        arrays = [(task.targets, raw.target_names), (task.features, raw.feature_names)]
        if task.paper_features is not None:
            arrays.append((task.paper_features, raw.paper_feature_names or raw.feature_names))
        row: dict[str, int] = {}
        for values, names in arrays:
            bad = impossible_mask(values, names, ranges).sum(0)
            for name, n in zip(names, bad):
                if n:
                    row[name] = int(n)
        counts[task.name] = row
    return counts
