"""Where each published cell comes from: the table config's `sources:` CSV (one row per cell).

Columns (see the CSV's own header comment): method, column, published, file_value, result_file,
rounding, computation, note. `table3-vs-paper` compares a reproduced cell with the unrounded
value of an authors' result file where one exists (and names the file), else with the published
value read as the interval its stated rounding implies.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput

COLUMNS = ("method", "column", "published", "file_value", "result_file", "rounding", "computation", "note")
ROUNDINGS = ("rounded", "truncated", "equal", "assumed-rounded", "assumed-truncated")


@dataclass(frozen=True)
class CellSource:
    published: float
    file_value: float | None
    result_file: str
    rounding: str
    computation: str
    note: str

    def interval(self, decimals: int) -> tuple[float, float]:
        """[low, high) the unrounded value lies in: the file value itself, else the published value's
        rounding interval (rounded: v +- half a step; truncated: [v, v + step))."""
        if self.file_value is not None:
            return self.file_value, self.file_value
        step = 10.0 ** -decimals
        if "truncated" in self.rounding:
            return self.published, self.published + step
        return self.published - step / 2, self.published + step / 2

    def basis(self) -> str:
        """What the reproduced cell is compared with, in words."""
        if self.file_value is not None:
            return f"{self.file_value:.4f} in `{self.result_file}` (published {self.rounding})"
        return f"published value, {self.rounding.replace('assumed-', '')} assumed (no result file holds it)"


def read_sources(cfg: dict) -> dict[tuple[str, str], CellSource] | None:
    """{(method display name lower-cased, column key): CellSource}, or None when the config names no file."""
    if not cfg.get("sources"):
        return None
    path = (Path(cfg["_path"]).parent if cfg.get("_path") else Path(".")) / cfg["sources"]
    if not path.exists():  # not yet collected: the vs-paper file falls back to the stated truncation reading
        return None
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
        rows = list(csv.DictReader(lines))
    except (OSError, csv.Error) as exc:
        raise BadInput(f"{path}: sources cannot be read ({exc})") from None
    if not lines:
        raise BadInput(f"{path}: sources file is empty")
    missing = [c for c in COLUMNS if c not in (rows[0].keys() if rows else next(csv.reader(lines[:1])))]
    if missing:
        raise BadInput(f"{path}: sources lack column(s) {', '.join(missing)}")
    out = {}
    for i, r in enumerate(rows, start=2):
        where = f"{path}: row {i} ({r['method']}, {r['column']})"
        if r["rounding"] not in ROUNDINGS:
            raise BadInput(f"{where}: rounding {r['rounding']!r} is unknown; choose one of {', '.join(ROUNDINGS)}")
        try:
            published = float(r["published"])
            file_value = float(r["file_value"]) if r["file_value"].strip() else None
        except ValueError as exc:
            raise BadInput(f"{where}: published and file_value must be numbers ({exc})") from None
        if file_value is not None and not r["result_file"].strip():
            raise BadInput(f"{where}: a file_value needs its result_file")
        if file_value is not None and math.isnan(file_value):
            file_value = None
        out[(r["method"].strip().lower(), r["column"].strip())] = CellSource(
            published, file_value, r["result_file"].strip(), r["rounding"], r["computation"].strip(), r["note"].strip())
    return out
