"""Weights & Biases wiring: offline by default, online only with a key and a server that answers
within a few seconds, offline inside cluster jobs; never waiting on a network.

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


#: seconds the W&B server has to answer before a run logs offline instead
PROBE_SECONDS = 3.0


def server_answers(url: str | None = None, timeout: float = PROBE_SECONDS) -> bool:
    """Whether the W&B server answers an HTTP request within `timeout` s (any HTTP status counts).
    Run in a thread so a hanging DNS lookup cannot hold the caller past `timeout`."""
    import threading
    import urllib.error
    import urllib.request

    url = url or os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai"
    answered = threading.Event()

    def probe():
        try:
            urllib.request.urlopen(url, timeout=timeout).close()
            answered.set()
        except urllib.error.HTTPError:  # the server is there, it just did not like a bare GET
            answered.set()
        except Exception:
            pass

    threading.Thread(target=probe, daemon=True).start()
    return answered.wait(timeout)


def sync_hint(out) -> str:
    return f"wandb sync {Path(out) / 'wandb' / 'wandb'}/offline-run-*"


def resolve_mode(option: str | None, log=None) -> str:
    """--wandb, else $WANDB_MODE, else online when an API key is configured, else offline.
    Online only when the server answers within PROBE_SECONDS: otherwise offline, with one line."""
    mode = option or os.environ.get("WANDB_MODE") or ("online" if _has_api_key() else "offline")
    if mode == "dryrun":
        mode = "offline"
    if mode not in MODES:
        raise BadInput(f"--wandb: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "online" and not _has_api_key():
        raise BadInput("--wandb online: no W&B API key configured (set WANDB_API_KEY or run `wandb login`)")
    if mode == "online" and not server_answers():
        import sys

        (log or (lambda line: print(line, file=sys.stderr)))(
            f"W&B: no answer from {os.environ.get('WANDB_BASE_URL') or 'https://api.wandb.ai'} within "
            f"{PROBE_SECONDS:.0f} s: logging offline; upload later with `wandb sync <out>/wandb/wandb/offline-run-*`")
        mode = "offline"
    return mode


def _settings():
    import wandb

    return wandb.Settings(silent=True, console="off", x_disable_stats=True, x_disable_meta=True)


def run_logger(mode: str, out: Path, name: str, group: str, job_type: str, config: dict):
    """A Lightning WandbLogger for one training run, or None when W&B is disabled."""
    if mode == "disabled":
        return None
    if mode == "online" and os.environ.get("SLURM_JOB_ID"):  # compute nodes: offline always
        mode = "offline"
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
