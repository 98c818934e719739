"""The budget study's report (placeholder until the runs land; see write_report)."""
from __future__ import annotations

from pathlib import Path


def write_report(records: Path, out: Path, cfg: dict) -> list[Path]:
    return []
