"""Train and test one run; return its record (the caller writes it)."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import sys
import time
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from ..datasets.datamodule import BenchDataModule
from . import resume
from .spec import RunSpec, versions


def quiet_lightning() -> None:
    """Keep the grid's output readable: Lightning's tips, device banners and known-harmless warnings off."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning_utilities", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in (".*IterableDataset.*has `__len__` defined.*", ".*LeafSpec.*", ".*does not have many workers.*",
                    ".*`srun` command is available.*"):
        warnings.filterwarnings("ignore", message=pattern)


class BestWeights(Callback):
    """Remembers the epoch with the lowest `val/loss` and, if asked, restores its weights after fit.

    Reads at `on_validation_end`: Lightning calls a callback's `on_validation_epoch_end` before the
    module's, so `module.val_results` would still hold the previous epoch's metrics there."""

    def __init__(self, restore: bool):
        self.restore, self.best, self.best_epoch, self.state = restore, math.inf, None, None
        self.best_val_results: dict | None = None

    def on_validation_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        loss = trainer.callback_metrics.get("val/loss")
        if loss is not None and float(loss) < self.best:
            self.best, self.best_epoch = float(loss), trainer.current_epoch
            self.best_val_results = module.val_results
            if self.restore:
                self.state = copy.deepcopy(module.state_dict())

    def state_dict(self) -> dict:  # for a run resumed mid-fit (`resume.EpochCheckpoint`)
        return {"best": self.best, "best_epoch": self.best_epoch, "state": self.state,
                "best_val_results": self.best_val_results}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch, self.state = state["best"], state["best_epoch"], state["state"]
        self.best_val_results = state["best_val_results"]

    def on_fit_end(self, trainer, module):
        # the record's validation metrics are those of the weights that are tested
        if self.restore and self.state is not None:
            module.load_state_dict(self.state)
            module.val_results = self.best_val_results


class EpochHistory(Callback):
    """The validation metrics of every epoch, for the budget study: one dict per epoch with the
    epoch index, seconds of training (`clock`: across the processes of a resumed run), train and
    validation loss and every scalar validation metric (`per_task` left out). Read at
    `on_train_epoch_end`, after that epoch's validation."""

    def __init__(self, clock: resume.FitClock):
        self.epochs: list[dict] = []
        self.clock = clock

    def on_fit_start(self, trainer, module):
        self.clock.start()

    def state_dict(self) -> dict:
        return {"epochs": list(self.epochs)}

    def load_state_dict(self, state: dict) -> None:
        self.epochs = list(state["epochs"])  # the seconds so far: the saver's state sets the clock

    def on_train_epoch_end(self, trainer, module):
        metrics = trainer.callback_metrics
        if "val/loss" not in metrics:  # no validation ran this epoch
            return
        row = {"epoch": int(trainer.current_epoch), "seconds": round(self.clock.seconds(), 3),
               "val_loss": float(metrics["val/loss"]),
               "train_loss": float(metrics["train/loss"]) if "train/loss" in metrics else None}
        row.update({f"val/{k}": float(v) for k, v in (module.val_results or {}).items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)})
        self.epochs.append(row)


def _plugins() -> list:
    """Inside a SLURM job the grid's resume owns retries: Lightning's own requeue is off."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def _device_fields(run: RunSpec, model, device, nondeterministic: list) -> dict:
    """Where the run trained, the per-task LSTM forms used there, and whether it was deterministic."""
    from ..models.layers import TaskLSTM
    from ..numerics import cpu_model, mkl_branch

    forms = sorted({m.form for m in model.modules() if isinstance(m, TaskLSTM) and m.form})
    name = torch.cuda.get_device_name(device) if run.trainer.accelerator == "gpu" else "cpu"
    return {"accelerator": run.trainer.accelerator, "name": name, "lstm_forms": forms,
            "deterministic": not nondeterministic, "cpu": cpu_model(), "mkl_cbwr": mkl_branch()}


def train_one(run: RunSpec, data_dir=None, logger=None, save_predictions: Path | None = None,
              progress_bar: bool | None = None, device: int | None = None,
              save_attention: Path | None = None, checkpoint: Path | None = None,
              checkpoint_every: float | None = None) -> dict:
    """Fit (unless the method has nothing to train) and test; the run record's fields.
    `device`: the GPU index for a GPU run (default 0). `checkpoint`: where the fit saves its state
    every `checkpoint_every` seconds (default: `resume.DEFAULT_EVERY_SECONDS`, or the
    FATHOM_BENCH_CHECKPOINT_SECONDS environment variable), and resumes from when it holds this run."""
    quiet_lightning()
    gpu = run.trainer.accelerator == "gpu"
    if gpu:  # deterministic cuBLAS; ops without a deterministic kernel warn and the record says so
        import os

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # One thread by default: bit-identical results whatever the core count, and no OpenMP
    # oversubscription (measured here: a 2-thread LSTM slowed ~70x when the other core was busy).
    torch.set_num_threads(run.trainer.threads)
    L.seed_everything(run.seed, workers=True, verbose=False)
    dm = BenchDataModule(run.dataset, run.protocol, data_dir=data_dir, batch_size=run.trainer.batch_size,
                         seed=run.seed, limit_train_batches=run.trainer.limit_train_batches,
                         shuffle=run.trainer.shuffle, val_part=run.trainer.early_stopping_on,
                         inputs=run.trainer.inputs)
    dm.setup()
    model = run.method.build(dm.problem, run.dataset.name, run.hparam_overrides, run.protocol.name)
    best = BestWeights(restore=run.protocol.restore_best_weights)
    clock = resume.FitClock()
    history = EpochHistory(clock)
    every = checkpoint_every if checkpoint_every is not None else resume.every_seconds()
    saver = resume.EpochCheckpoint(checkpoint, run.config_hash(), clock, every) if checkpoint is not None else None
    resume_from = resume.usable(checkpoint, run.config_hash()) if model.trainable else None
    if progress_bar is None:
        progress_bar = sys.stderr.isatty()
    trainer = L.Trainer(
        max_epochs=run.trainer.max_epochs,
        accelerator=run.trainer.accelerator,
        devices=[device or 0] if gpu else 1,
        deterministic="warn" if gpu else True,
        plugins=_plugins(),
        logger=logger if logger is not None else False,
        enable_checkpointing=saver is not None,  # the saver is the only checkpoint callback
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        limit_val_batches=run.trainer.limit_val_batches or 1.0,
        # the saver last: it saves the epoch the others have seen
        callbacks=[best, history, EarlyStopping("val/loss", patience=run.trainer.patience, mode="min")]
        + ([saver] if saver else []),
    )
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) if gpu else contextlib.nullcontext([]) as caught:
        if gpu:
            warnings.simplefilter("always")
        if model.trainable:
            trainer.fit(model, datamodule=dm, ckpt_path=checkpoint if resume_from else None,
                        weights_only=False if resume_from else None)
        train_seconds = time.perf_counter() - started + clock.previous
        if not model.trainable:
            model.fit_arrays(dm.data.parts["train"])  # a closed-form or full-batch fit, or nothing to fit
            trainer.validate(model, datamodule=dm, verbose=False)
        if save_attention is not None:  # forward hooks on the attention modules, test loop only
            from .attention import AttentionRecorder, save_attention as write_attention

            with AttentionRecorder(model) as recorder:
                trainer.test(model, datamodule=dm, verbose=False)
            write_attention(save_attention, recorder, dm.problem, dm.data.parts["test"], run.config_hash())
        else:
            trainer.test(model, datamodule=dm, verbose=False)
    nondeterministic = [w for w in caught if "deterministic" in str(w.message)]
    if save_predictions is not None:
        values, target, mask = model.test_predictions
        save_predictions.parent.mkdir(parents=True, exist_ok=True)
        tmp = save_predictions.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, predictions=values.numpy(), targets=target.numpy(), mask=mask.numpy(),
                            task_names=np.array(dm.problem.task_names), target_names=np.array(dm.problem.target_names))
        tmp.replace(save_predictions)
    return {
        "status": "ok",
        "error": None,
        "metrics": {"test": dict(model.test_results or {}), "val": dict(model.val_results or {})},
        "epochs_run": int(trainer.current_epoch) if model.trainable else 0,
        "best_epoch": best.best_epoch,
        "history": history.epochs,
        "train_seconds": round(train_seconds, 3),
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
        "windows": dm.data.windows_per_part(),
        "problem": {"num_tasks": dm.problem.num_tasks, "input_dim": dm.problem.input_dim,
                    "num_targets": dm.problem.num_targets, "window": dm.problem.window,
                    "task_names": list(dm.problem.task_names), "target_names": list(dm.problem.target_names)},
        "versions": versions(),
        "torch_threads": torch.get_num_threads(),
        "device": _device_fields(run, model, device or 0, nondeterministic),
        # a resumed fit's memory is that of every process that trained it (`execute` adds its own)
        **({"resumed_at_epochs": saver.resumed_at, "peak_rss_mb": saver.peak_rss_mb()}
           if saver and saver.resumed_at else {}),
    }
