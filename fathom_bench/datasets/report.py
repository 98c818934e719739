"""`python -m fathom_bench datasets`: which real datasets are present, verified, and what they hold.

Never downloads and never raises for a missing or damaged dataset: each is one row of the report.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import BadInput
from ..paths import data_dir as resolve_data_dir
from ..protocol import get_protocol
from .files import file_status, registry
from .spec import dataset_names, load_dataset_spec
from .windows import PARTS, prepare

NOT_REAL = ("synthetic",)


def real_dataset_names() -> list[str]:
    """Datasets with files (a checksum registry); synthetic ones are left out."""
    names = []
    for name in dataset_names():
        if name in NOT_REAL:
            continue
        try:
            registry(name)
        except BadInput:
            continue
        names.append(name)
    return names


def status_rows(data_dir: str | os.PathLike | None = None, protocol: str = "corrected") -> list[dict]:
    """One dict per real dataset: status, files verified, tasks, rows per task, windows per part."""
    home = resolve_data_dir(data_dir)
    proto = get_protocol(protocol)
    rows = []
    for name in real_dataset_names():
        spec = load_dataset_spec(name, allow_download=False)
        folder = Path(home) / name
        total = len(registry(spec))
        row: dict = {"dataset": name, "folder": str(folder), "status": "missing", "files": f"0/{total}",
                     "files_present": 0, "files_verified": 0, "files_total": total, "tasks": None,
                     "rows_per_task": "", "windows": None, "protocol": proto.name, "message": ""}
        if not folder.is_dir():
            row["message"] = f"no folder; run `python -m fathom_bench datasets download {name}`"
            rows.append(row)
            continue
        fs = file_status(spec, folder)
        row.update(files=f"{fs['verified']}/{fs['total']}", files_present=fs["present"],
                   files_verified=fs["verified"], files_total=fs["total"])
        try:
            raw = spec.load_function()(spec, folder)
            data = prepare(raw, spec, proto)
        except BadInput as exc:
            row["status"] = ("missing" if fs["present"] == 0 else
                             "incomplete" if fs["present"] < fs["total"] else "bad")
            row["message"] = fs["problems"][0] if fs["problems"] else str(exc)
            rows.append(row)
            continue
        n = [t.features.shape[0] for t in raw.tasks]
        per_part = data.windows_per_part()
        row.update(
            status="found",
            tasks=len(raw.tasks),
            rows_per_task=f"{min(n)}-{max(n)}" if min(n) != max(n) else str(n[0]),
            windows={p: int(sum(per_part[p])) for p in PARTS},
        )
        if fs["verified"] < fs["total"]:  # the loader needs fewer files than are registered
            row["message"] = f"{fs['total'] - fs['verified']} registered files absent or not verified (not used)"
        rows.append(row)
    return rows


def status_table(data_dir: str | os.PathLike | None = None, protocol: str = "corrected") -> str:
    """The rows of `status_rows` as an aligned text table (windows under `protocol`)."""
    rows = status_rows(data_dir, protocol)
    header = ["dataset", "status", "files verified", "tasks", "rows/task", "windows train/val/test"]
    lines = []
    for r in rows:
        w = r["windows"]
        lines.append([
            r["dataset"], r["status"], r["files"], "" if r["tasks"] is None else str(r["tasks"]),
            r["rows_per_task"], "" if not w else "/".join(str(w[p]) for p in PARTS),
        ])
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]

    def fmt(cells):
        return "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

    out = [f"data home: {resolve_data_dir(data_dir)}  (protocol {get_protocol(protocol).name})",
           fmt(header), fmt(["-" * w for w in widths])]
    out += [fmt(line) for line in lines]
    notes = [f"  {r['dataset']}: {r['message']}" for r in rows if r["message"]]
    if notes:
        out += ["", "notes:"] + notes
    return "\n".join(out)
