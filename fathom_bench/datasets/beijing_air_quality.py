"""Beijing Multi-Site Air-Quality (UCI, Zhang et al. 2017), standing in for the paper's KDD Cup 2018 data.

One task per station (the stations of `options.stations`), the last `rows` hourly rows of each.
Targets: the six pollutants in the authors' order (PM2.5, PM10, NO2, CO, O3, SO2); CO is converted
from ug/m3 (UCI) to mg/m3 (the paper's data) by `options.unit_factors`. Inputs: the weather columns
and the wind direction `wd` as the sine and cosine of its compass angle (16 points, N = 0 degrees,
clockwise; missing stays missing). `NA` cells are missing. The stations are time-aligned tasks:
every station must have the same (year, month, day, hour) rows.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import BadInput
from .parsing import load_verified, read_columns
from .spec import DatasetSpec, RawDataset, TaskSeries

COMPASS = ("N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW")
TIME_COLUMNS = ("year", "month", "day", "hour")
DEFAULT_TARGETS = ("PM2.5", "PM10", "NO2", "CO", "O3", "SO2")
DEFAULT_WEATHER = ("TEMP", "PRES", "DEWP", "RAIN", "WSPM")
DEFAULT_PATTERN = "PRSA_Data_{station}_20130301-20170228.csv"
#: bump when parsing changes, so the parsed-array cache is rebuilt
VERSION = "1"


def wind_sin_cos(values, path: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Compass points -> (sin, cos) of the angle; NaN for a missing cell; BadInput for an unknown point."""
    import pandas as pd

    angles = {p: np.deg2rad(22.5 * i) for i, p in enumerate(COMPASS)}
    s = pd.Series(values, dtype=object)
    mapped = s.map(angles)
    unknown = mapped.isna() & s.notna()
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise BadInput(f"{path}: column {column!r} must hold a compass point ({', '.join(COMPASS)}) but "
                       f"row {row + 1} holds {s.iloc[row]!r}; fix or re-download the file")
    rad = mapped.to_numpy(dtype=np.float64)
    return np.sin(rad).astype(np.float32), np.cos(rad).astype(np.float32)


def _file_names(spec: DatasetSpec) -> tuple[list[str], list[str]]:
    stations = [str(s) for s in spec.options.get("stations") or []]
    if not stations:
        raise BadInput(f"{spec.path or spec.name}: option stations must list the stations used")
    pattern = str(spec.options.get("file_pattern", DEFAULT_PATTERN))
    return stations, [pattern.format(station=s) for s in stations]


def task_names(spec: DatasetSpec) -> list[str]:
    """One task per station of `options.stations`."""
    return _file_names(spec)[0]


def select_tasks(spec: DatasetSpec, names: list[str]) -> DatasetSpec:
    """The spec that reads only these stations' files (a federated node's own)."""
    return replace(spec, options={**spec.options, "stations": [s for s in task_names(spec) if s in set(names)]})


def load(spec: DatasetSpec, folder: Path) -> RawDataset:
    """Verify (or download) the stations' files, then parse them (or read the parsed-array cache)."""
    return load_verified(spec, folder, VERSION, parse, names=_file_names(spec)[1])


def parse(spec: DatasetSpec, folder: Path, paths: dict[str, Path]) -> RawDataset:
    o = spec.options
    stations, names = _file_names(spec)
    rows = int(o.get("rows", 8218))
    targets = [str(t) for t in o.get("targets", DEFAULT_TARGETS)]
    weather = [str(c) for c in o.get("weather", DEFAULT_WEATHER)]
    wind = str(o.get("wind_column", "wd"))
    factors = {str(k): float(v) for k, v in (o.get("unit_factors") or {}).items()}

    tasks: list[TaskSeries] = []
    ref_time: np.ndarray | None = None
    ref_station = ""
    totals: dict[str, int] = {}
    for station, name in zip(stations, names):
        path = paths[name]
        df = read_columns(path, targets + weather, text=[wind, "station"], int_columns=list(TIME_COLUMNS),
                          dtype=np.float64)
        totals[station] = len(df)
        if len(df) < rows:
            raise BadInput(f"{path}: {len(df)} rows, fewer than the {rows} the protocol keeps per station "
                           f"(option rows in {spec.path or spec.name})")
        df = df.iloc[len(df) - rows:]
        named = df["station"].dropna().unique()
        if len(named) and (len(named) > 1 or named[0] != station):
            raise BadInput(f"{path}: column 'station' holds {', '.join(map(str, named[:3]))}, expected {station}")
        tcols = df[list(TIME_COLUMNS)].to_numpy()
        if np.isnan(tcols).any():
            r = int(np.flatnonzero(np.isnan(tcols).any(axis=1))[0])
            raise BadInput(f"{path}: a time column (year, month, day, hour) is empty in kept row {r + 1}")
        key = tcols.astype(np.int64) @ np.array([1_000_000, 10_000, 100, 1], dtype=np.int64)
        if ref_time is None:
            ref_time, ref_station = key, station
        elif not np.array_equal(key, ref_time):
            r = int(np.flatnonzero(key != ref_time)[0])
            raise BadInput(f"{path}: stations are not time-aligned: kept row {r + 1} is {key[r]} (yyyymmddhh) "
                           f"but {ref_time[r]} at {ref_station}; the files must cover the same hours")
        y = df[targets].to_numpy(dtype=np.float64)
        for col, factor in factors.items():
            if col in targets:
                y[:, targets.index(col)] *= factor
        s, c = wind_sin_cos(df[wind].to_numpy(dtype=object), path, wind)
        x = np.concatenate([df[weather].to_numpy(dtype=np.float32), s[:, None], c[:, None]], axis=1)
        tasks.append(TaskSeries(name=station, features=np.ascontiguousarray(x, dtype=np.float32),
                                targets=y.astype(np.float32)))

    assert ref_time is not None
    notes = {
        "files_read": len(names),
        "folder": str(folder),
        "stations": stations,
        "rows_per_station": rows,
        "rows_in_files": totals,
        "first_hour": int(ref_time[0]),
        "last_hour": int(ref_time[-1]),
        "hours_contiguous": bool(_contiguous_hours(ref_time)),
        "unit_conversion": {c: f"multiplied by {f:g}" + (" (ug/m3 -> mg/m3)" if f == 0.001 else "")
                            for c, f in factors.items()},
        "wind_direction": f"{wind} -> sin, cos of the compass angle (N = 0 deg, clockwise)",
        "target_missing_fraction": {t: round(float(np.mean([np.isnan(k.targets[:, i]).mean() for k in tasks])), 4)
                                    for i, t in enumerate(targets)},
    }
    return RawDataset(
        name=spec.name,
        task_type=spec.task_type,
        feature_names=weather + [f"{wind}_sin", f"{wind}_cos"],
        target_names=targets,
        tasks=tasks,
        paper_feature_names=None,
        notes=notes,
    )


def _contiguous_hours(key: np.ndarray) -> bool:
    import pandas as pd

    t = pd.to_datetime(pd.Series(key.astype(str)), format="%Y%m%d%H")
    return bool((t.diff().dropna() == pd.Timedelta(hours=1)).all())
