"""Where each published cell of Table III comes from: `configs/tables/table3_sources.csv`, read and checked.

One row per published cell (method display name x column key): the printed value, the unrounded value
in one of the authors' result files where one holds it (the file named), how the printed value relates
to it (`rounded`, `truncated`, `equal` = both readings agree, or `assumed-rounded` / `assumed-truncated`
where no file holds it), how the authors' code computed it, and a note. Facts read from the authors'
public repositories; the file's header comment names the commits. The one reader of that file: errata
and table3-vs-paper both use it. Reads text only: no torch, no records.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, fields
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

from .errors import BadInput

COLUMNS = ("method", "column", "published", "file_value", "result_file", "rounding", "computation", "note")
ROUNDINGS = ("rounded", "truncated", "equal", "assumed-rounded", "assumed-truncated")


def default_path() -> Path:
    from .paths import configs_dir

    return configs_dir() / "tables" / "table3_sources.csv"


def decimals(printed: str) -> int:
    """Decimals as printed: "7.0" -> 1, "0.44" -> 2."""
    return len(printed.split(".")[1]) if "." in printed else 0


def _cut(value: float, places: int, mode) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=mode)


def relation(printed: str, value: float) -> str | None:
    """How `printed` relates to the unrounded `value`: 'equal', 'rounded', 'truncated' or None (neither)."""
    d, p = decimals(printed), Decimal(printed)
    rounded = _cut(value, d, ROUND_HALF_UP) == p
    truncated = _cut(value, d, ROUND_DOWN) == p
    return "equal" if rounded and truncated else "rounded" if rounded else "truncated" if truncated else None


@dataclass(frozen=True)
class CellSource:
    """One row of the sources file. `published` is the text as printed ("7.0": its decimals are the rounding
    unit). Fields read as a mapping too (`row["note"]`, `{**row}`), the shape of an errata row."""

    published: str
    file_value: float | None
    result_file: str
    rounding: str
    computation: str
    note: str
    method: str = ""
    column: str = ""

    @property
    def value(self) -> float:
        return float(self.published)

    def interval(self, places: int | None = None) -> tuple[float, float]:
        """[low, high) the unrounded value lies in: the file value itself, else the published value's interval
        at `places` decimals (default: as printed), by its stated rounding (rounded: v +- half a step;
        truncated: [v, v + step))."""
        if self.file_value is not None:
            return self.file_value, self.file_value
        step = 10.0 ** -(decimals(str(self.published)) if places is None else places)
        if self.rounding == "assumed-truncated":
            return self.value, self.value + step
        return self.value - step / 2, self.value + step / 2

    def meets(self, low: float, high: float, places: int | None = None) -> bool:
        """Whether `interval(places)` meets the closed interval [low, high] (a point: lies in it)."""
        a, b = self.interval(places)
        return a <= high and (b > low or a == b >= low)

    def basis(self) -> str:
        """What a reproduced cell is compared with, in words."""
        if self.file_value is not None:
            return f"{self.file_value:.4f} in `{self.result_file}` (published {self.rounding})"
        return f"published value, {self.rounding.replace('assumed-', '')} assumed (no result file holds it)"

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]

    def __getitem__(self, key: str):
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)


def published_interval(row: CellSource) -> tuple[float, float]:
    """The values the printed number can stand for, as [low, high): the file value (v, v) where a result file
    holds it, else the interval of its stated rounding at the printed decimals (one unit u of the last
    printed decimal: [p - u/2, p + u/2) when rounded)."""
    return row.interval()


def _check(where: str, raw: dict) -> CellSource:
    row = {k: (raw.get(k) or "").strip() for k in COLUMNS}
    if row["rounding"] not in ROUNDINGS:
        raise BadInput(f"{where}: rounding {row['rounding']!r} is unknown; choose one of {', '.join(ROUNDINGS)}")
    try:
        published = float(row["published"])
        file_value = float(row["file_value"]) if row["file_value"] else None
    except ValueError:
        raise BadInput(f"{where}: published and file_value must be numbers") from None
    if not math.isfinite(published) or (file_value is not None and not math.isfinite(file_value)):
        raise BadInput(f"{where}: published and file_value must be finite")
    if file_value is not None and not row["result_file"]:
        raise BadInput(f"{where}: a file_value needs its result_file")
    if (file_value is None) != (not row["result_file"]) or \
            (file_value is None) != row["rounding"].startswith("assumed-"):
        raise BadInput(f"{where}: file_value and result_file go together, and rounding is assumed-rounded or "
                       "assumed-truncated exactly when there is no file value")
    if file_value is not None:
        found = relation(row["published"], file_value)
        if found != row["rounding"]:
            raise BadInput(f"{where}: column rounding says {row['rounding']}, but {row['published']} is "
                           f"{found or 'neither rounded nor truncated'} from {file_value!r}")
    return CellSource(row["published"], file_value, row["result_file"], row["rounding"], row["computation"],
                      row["note"], row["method"], row["column"])


def read_sources(path: str | Path | None = None) -> dict[tuple[str, str], CellSource]:
    """{(method display name, column key): CellSource} of the file (default: Table III's). Bad rows: one
    BadInput line naming the file, the row and what is wrong."""
    path = Path(path) if path else default_path()
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        reader = csv.DictReader(lines)
        header = tuple(reader.fieldnames or ())
        raws = list(reader)
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: sources cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if not lines:
        raise BadInput(f"{path}: sources file is empty")
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BadInput(f"{path}: sources lack column(s) {', '.join(missing)}")
    if len(header) != len(COLUMNS):
        raise BadInput(f"{path}: columns must be {', '.join(COLUMNS)}")
    out: dict[tuple[str, str], CellSource] = {}
    for n, raw in enumerate(raws, start=2):
        row = _check(f"{path}: row {n} ({raw.get('method')}, {raw.get('column')})", raw)
        if (row.method, row.column) in out:
            raise BadInput(f"{path}: row {n} ({row.method}, {row.column}): a second row for this cell")
        out[(row.method, row.column)] = row
    return out


def read_table_sources(cfg: dict) -> dict[tuple[str, str], CellSource] | None:
    """The sources file a table config names (`sources:`, relative to the config), read; None when it names
    none or the file is not there yet (table3-vs-paper then reads the published values as truncated)."""
    if not cfg.get("sources"):
        return None
    path = (Path(cfg["_path"]).parent if cfg.get("_path") else Path(".")) / cfg["sources"]
    return read_sources(path) if path.exists() else None
