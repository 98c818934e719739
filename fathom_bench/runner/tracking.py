"""Weights & Biases wiring: offline by default, online only with a key, never waiting on a network.

One W&B run per training run (project `fathom-bench`, group `<table>-<dataset>`, job type the
method, config the resolved config with the seed) and one summary run holding the tables.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from ..errors import BadInput

MODES = ("offline", "online", "disabled")
PROJECT = "fathom-bench"


def _has_api_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_mode(option: str | None) -> str:
    """--wandb, else $WANDB_MODE, else online when an API key is configured, else offline."""
    mode = option or os.environ.get("WANDB_MODE") or ("online" if _has_api_key() else "offline")
    if mode == "dryrun":
        mode = "offline"
    if mode not in MODES:
        raise BadInput(f"--wandb: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "online" and not _has_api_key():
        raise BadInput("--wandb online: no W&B API key configured (set WANDB_API_KEY or run `wandb login`)")
    return mode


def _settings():
    import wandb

    return wandb.Settings(silent=True, console="off", x_disable_stats=True, x_disable_meta=True)


def run_logger(mode: str, out: Path, name: str, group: str, job_type: str, config: dict):
    """A Lightning WandbLogger for one training run, or None when W&B is disabled."""
    if mode == "disabled":
        return None
    from lightning.pytorch.loggers import WandbLogger

    save_dir = Path(out) / "wandb"
    save_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")
    logger = WandbLogger(project=PROJECT, name=name, group=group, job_type=job_type, config=config,
                         save_dir=str(save_dir), mode=mode, reinit="finish_previous", settings=_settings())
    # Lightning always passes anonymous=None, which wandb >= 0.22 warns about on every run
    getattr(logger, "_wandb_init", {}).pop("anonymous", None)
    return logger


def finish(logger, summary: dict, failed: bool = False) -> None:
    """Put the test metrics in the run's summary and close it (exit code 1 for a failed run)."""
    if logger is None:
        return
    exp = logger.experiment
    for key, value in summary.items():
        if isinstance(value, (int, float)):
            exp.summary[f"test/{key}"] = value
    exp.finish(exit_code=1 if failed else 0)


def log_tables(mode: str, out: Path, name: str, tables: dict) -> None:
    """One summary run with each table (a pandas DataFrame) as a wandb.Table."""
    if mode == "disabled":
        return
    import wandb

    save_dir = Path(out) / "wandb"
    save_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=PROJECT, name=name, job_type="summary", group=name, dir=str(save_dir), mode=mode,
                     reinit="finish_previous", settings=_settings())
    for key, frame in tables.items():
        run.log({key: wandb.Table(dataframe=frame.astype(str).reset_index(drop=True))})
    run.finish()
