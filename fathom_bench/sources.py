"""Where each published cell of Table III comes from: `configs/tables/table3_sources.csv`, read and checked.

One row per published cell (method display name x column key): the printed value, the unrounded value
in one of the authors' result files where one holds it (the file named), how the printed value relates
to it (`rounded`, `truncated`, `equal` = both readings agree, or `assumed-rounded` where no file holds
it), how the authors' code computed it, and a note. Facts read from the authors' public repositories;
the file's header comment names the commits. Reads text only: no torch, no records.
"""

from __future__ import annotations

import csv
import math
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

from .errors import BadInput

COLUMNS = ("method", "column", "published", "file_value", "result_file", "rounding", "computation", "note")
ROUNDINGS = ("rounded", "truncated", "equal", "assumed-rounded")


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


def published_interval(row: dict) -> tuple[float, float]:
    """The values the printed number can stand for, as [low, high).

    A result file's value is known exactly: (v, v). Otherwise (`assumed-rounded`) [p - u/2, p + u/2)
    with u one unit of the last printed decimal.
    """
    if row["file_value"] is not None:
        return row["file_value"], row["file_value"]
    p, u = float(row["published"]), 10.0 ** -decimals(row["published"])
    return p - u / 2, p + u / 2


def read_sources(path: str | Path | None = None) -> dict[tuple[str, str], dict]:
    """{(method display name, column key): row}; `file_value` a float or None. Bad rows: one BadInput line."""
    path = Path(path) if path else default_path()
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror or exc})") from None
    reader = csv.DictReader(lines)
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise BadInput(f"{path}: columns must be {', '.join(COLUMNS)}")
    out: dict[tuple[str, str], dict] = {}
    for n, raw in enumerate(reader, start=2):
        where = f"{path}: row {n} ({raw.get('method')}, {raw.get('column')})"
        row = {k: (raw.get(k) or "").strip() for k in COLUMNS}
        if (row["method"], row["column"]) in out:
            raise BadInput(f"{where}: a second row for this cell")
        try:
            float(row["published"])
            row["file_value"] = float(row["file_value"]) if row["file_value"] else None
        except ValueError:
            raise BadInput(f"{where}: published and file_value must be numbers") from None
        if row["rounding"] not in ROUNDINGS:
            raise BadInput(f"{where}: column rounding must be one of {', '.join(ROUNDINGS)}, not {row['rounding']!r}")
        if (row["file_value"] is None) != (row["rounding"] == "assumed-rounded") or \
                (row["file_value"] is None) != (not row["result_file"]):
            raise BadInput(f"{where}: file_value and result_file go together, and rounding is assumed-rounded "
                           "exactly when there is no file value")
        if row["file_value"] is not None:
            if not math.isfinite(row["file_value"]):
                raise BadInput(f"{where}: column file_value must be finite")
            found = relation(row["published"], row["file_value"])
            if found != row["rounding"]:
                raise BadInput(f"{where}: column rounding says {row['rounding']}, but {row['published']} is "
                               f"{found or 'neither rounded nor truncated'} from {row['file_value']!r}")
        out[(row["method"], row["column"])] = row
    return out
