"""Where things live: the checkout, its configs, the data home. Resolved explicitly, never at import."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """The source checkout this package runs from (editable install), or None when installed."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "configs").is_dir() else None


def configs_dir() -> Path:
    env = os.environ.get("FATHOM_BENCH_CONFIGS")
    if env:
        return Path(env).expanduser().resolve()
    root = checkout_root()
    if root is None:
        from .errors import BadInput

        raise BadInput(
            "configs/ not found: run from a checkout (pip install -e .) or set FATHOM_BENCH_CONFIGS"
        )
    return root / "configs"


def _holds_data(folder: Path) -> bool:
    """True when some dataset folder below `folder` holds a file other than its card."""
    return folder.is_dir() and any(f.is_file() and f.name != "CARD.md" for f in folder.glob("*/*"))


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $FATHOM_BENCH_DATA, else datasets/ of the checkout, else a per-user cache.

    A checkout whose datasets/ holds no data yet reads a local mirror at `../shared/datasets`
    beside it when there is one (how this project's development and CI machines provide the
    data without a network); downloads go to datasets/ otherwise.
    """
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("FATHOM_BENCH_DATA")
    if env:
        return Path(env).expanduser().resolve()
    root = checkout_root()
    if root is not None:
        mirror = root.parent / "shared" / "datasets"
        if not _holds_data(root / "datasets") and _holds_data(mirror):
            return mirror.resolve()
        return root / "datasets"
    import pooch

    return Path(pooch.os_cache("fathom_bench")).resolve()


def results_dir() -> Path:
    root = checkout_root()
    return (root if root is not None else Path.cwd()) / "results"
