"""A run killed mid-fit goes on from its last saved epoch, to the same bits.

The grid's resume works per run: a run without a record trains again from epoch 0. A run longer
than a SLURM time limit or a working session (FitRec FATHOM-ga: about 2.5 h under `corrected`, 5 h
under `forecast`, on one core) would then never finish. `EpochCheckpoint` saves, at the end of an
epoch (after validation, early stopping and the history have seen it), everything the rest of the
fit depends on: weights, optimizer, Lightning's loops, the callbacks' state (best weights, early
stopping's counter, the epoch history), the global RNGs and the seconds trained so far. The next
`train_one` of the same run (same `config_hash`) passes it to `trainer.fit(ckpt_path=...)`; the
record is then bit-identical on CPU to one of an uninterrupted fit (a test kills a real process to
check), and says at which epochs it resumed. The checkpoint sits beside the record
(`seed=N.partial.ckpt`, never committed) and is removed once the record is written.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint

from ..errors import BadInput
from .executors.task import peak_rss_mb

#: seconds of training between two saves: a short run is not slowed by saving every epoch, and a
#: killed run loses at most this much (plus the epoch under way)
DEFAULT_EVERY_SECONDS = 60.0
#: the saved state's layout; a checkpoint of another format is not resumed (1: saved before early
#: stopping's count of its last epoch)
FORMAT = 2


def every_seconds() -> float:
    """FATHOM_BENCH_CHECKPOINT_SECONDS (0: every epoch), else DEFAULT_EVERY_SECONDS."""
    value = os.environ.get("FATHOM_BENCH_CHECKPOINT_SECONDS", "").strip()
    try:
        seconds = float(value) if value else DEFAULT_EVERY_SECONDS
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise BadInput(f"FATHOM_BENCH_CHECKPOINT_SECONDS: expected seconds >= 0 between checkpoints, not {value!r}")
    return seconds


class FitClock:
    """Seconds of training across every process a run has taken: this process's since `start()`
    plus `previous`, the seconds its checkpoint says earlier processes trained. One instance is
    shared by the epoch history (each row's `seconds`) and the saver (the checkpoint's `seconds`)."""

    def __init__(self):
        self.previous = 0.0
        self._started = time.perf_counter()

    def start(self) -> None:
        self._started = time.perf_counter()

    def seconds(self) -> float:
        return self.previous + time.perf_counter() - self._started


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # a GPU run's dropout draws from these
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def saved(path: Path | None) -> dict | None:
    """What the checkpoint at `path` holds (`epoch`: epochs done, `seconds`: trained so far,
    `config_hash`, `best_epoch`: the lowest validation loss so far, `peak_rss_mb`: the saving
    process's peak RSS, None in checkpoints saved before it was kept), or None when there is none
    or it cannot be read (a torn or foreign file)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        # mmap: only the small pickled header is read; the tensors (50-200 MB on FitRec) stay on disk
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
        mine = state["callbacks"][EpochCheckpoint.__qualname__]
        if mine.get("format") != FORMAT:
            return None  # saved before early stopping had counted its epoch: not resumable to the same bits
        best = state["callbacks"].get("BestWeights", {}).get("best_epoch")  # train.BestWeights' state
        return {"epoch": int(mine["epoch"]), "seconds": float(mine["seconds"]), "config_hash": mine["config_hash"],
                "best_epoch": None if best is None else int(best), "peak_rss_mb": mine.get("peak_rss_mb")}
    except Exception:  # noqa: BLE001 - unreadable: the run trains from the start and overwrites it
        return None


def usable(path: Path | None, config_hash: str, read=None) -> dict | None:
    """`saved(path)` if it is this run's (same config hash), else None: the run starts from epoch 0.
    `read` stands in for `saved` (a cached one, when a plan reads each checkpoint of a cell)."""
    found = (read or saved)(path)
    return found if found and found["config_hash"] == config_hash else None


class EpochCheckpoint(Checkpoint):
    """Saves the fit's whole state to `path` at the end of an epoch, at most every `every_seconds`;
    on resume restores the RNGs and the training batches' epoch before the first resumed epoch.
    A `Checkpoint`, so Lightning calls it after EarlyStopping at an epoch's end: as a plain
    callback it saved the state before early stopping had counted that epoch, and a resumed run
    trained one epoch past where an uninterrupted one stops."""

    def __init__(self, path: Path, config_hash: str, clock: FitClock, every_seconds: float = DEFAULT_EVERY_SECONDS):
        self.path, self.config_hash, self.clock, self.every_seconds = Path(path), config_hash, clock, every_seconds
        self.resumed_at: list[int] = []
        self._restored: dict | None = None  # a loaded checkpoint's state, applied at `on_fit_start`
        self._earlier_peak_rss_mb = 0.0  # peak RSS of the processes that trained it before this one (its checkpoint)
        self._epochs_done = 0
        self._last_save = time.perf_counter()

    def on_fit_start(self, trainer, module):
        self._last_save = time.perf_counter()
        if self._restored is None:
            return
        # Before the loop makes its first data iterator (which draws from the torch RNG, and which a
        # resumed loop makes before `on_train_epoch_start`): the RNGs as they were after the saved
        # epoch, and batches drawn for the next epoch, not for epoch 0.
        _set_rng_state(self._restored["rng"])
        trainer.datamodule.first_train_epoch = self._restored["epoch"]
        self.resumed_at.append(self._restored["epoch"])
        self._restored = None

    def on_train_epoch_end(self, trainer, module):
        if trainer.sanity_checking or time.perf_counter() - self._last_save < self.every_seconds:
            return
        if trainer.should_stop or trainer.current_epoch + 1 >= (trainer.max_epochs or 0):
            return  # the fit ends here: nothing left to resume
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._epochs_done = trainer.current_epoch + 1
        trainer.save_checkpoint(tmp)
        os.replace(tmp, self.path)  # a kill mid-save leaves the previous checkpoint whole
        self._last_save = time.perf_counter()

    def peak_rss_mb(self) -> float:
        """Peak resident memory, in MiB, of every process that has trained this fit so far."""
        return max(peak_rss_mb(), self._earlier_peak_rss_mb)

    def state_dict(self) -> dict:
        return {"format": FORMAT, "config_hash": self.config_hash, "seconds": self.clock.seconds(), "rng": _rng_state(),
                "epoch": self._epochs_done, "resumed_at": list(self.resumed_at),
                # a plan's memory per job for a cell with no record yet (FitRec FATHOM-ga: 2x its peers)
                "peak_rss_mb": self.peak_rss_mb()}

    def load_state_dict(self, state: dict) -> None:
        self.clock.previous = float(state["seconds"])
        self.resumed_at = list(state["resumed_at"])
        self._earlier_peak_rss_mb = float(state.get("peak_rss_mb") or 0.0)
        self._restored = state
