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


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $FATHOM_BENCH_DATA, else datasets/ of the checkout, else a per-user cache."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("FATHOM_BENCH_DATA")
    if env:
        return Path(env).expanduser().resolve()
    root = checkout_root()
    if root is not None:
        return root / "datasets"
    import pooch

    return Path(pooch.os_cache("fathom_bench")).resolve()


def results_dir() -> Path:
    root = checkout_root()
    return (root if root is not None else Path.cwd()) / "results"
