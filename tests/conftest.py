"""Shared fixtures. `real_data_dir`: the real datasets (tests marked `realdata` skip without them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATASETS = ("extrasensory", "beijing_air_quality", "fitrec")


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """$FATHOM_BENCH_DATA, else `<repo>/../shared/datasets`; skips when neither holds a dataset folder."""
    env = os.environ.get("FATHOM_BENCH_DATA")
    folder = Path(env).expanduser() if env else REPO.parent / "shared" / "datasets"
    if not any((folder / name).is_dir() for name in REAL_DATASETS):
        pytest.skip(f"real data not found in {folder} (set FATHOM_BENCH_DATA to a folder holding "
                    f"{', '.join(REAL_DATASETS)})")
    return folder.resolve()


@pytest.fixture(autouse=True)
def _wandb_never_waits(monkeypatch):
    """W&B in tests: never online, never waiting on a network (a test that wants files says offline)."""
    monkeypatch.setenv("WANDB_MODE", os.environ.get("WANDB_MODE", "disabled"))
    monkeypatch.setenv("WANDB_SILENT", "true")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small model tensors: one intra-op thread is as fast and does not fight other processes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
