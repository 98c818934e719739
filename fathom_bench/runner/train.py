"""Train and test one run; return its record (the caller writes it)."""

from __future__ import annotations

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
from .spec import RunSpec, versions


def quiet_lightning() -> None:
    """Keep the grid's output readable: Lightning's tips, device banners and known-harmless warnings off."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning_utilities", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for pattern in (".*IterableDataset.*has `__len__` defined.*", ".*LeafSpec.*", ".*does not have many workers.*"):
        warnings.filterwarnings("ignore", message=pattern)


class BestWeights(Callback):
    """Remembers the epoch with the lowest `val/loss` and, if asked, restores its weights after fit."""

    def __init__(self, restore: bool):
        self.restore, self.best, self.best_epoch, self.state = restore, math.inf, None, None
        self.best_val_results: dict | None = None

    def on_validation_epoch_end(self, trainer, module):
        if trainer.sanity_checking:
            return
        loss = trainer.callback_metrics.get("val/loss")
        if loss is not None and float(loss) < self.best:
            self.best, self.best_epoch = float(loss), trainer.current_epoch
            self.best_val_results = module.val_results
            if self.restore:
                self.state = copy.deepcopy(module.state_dict())

    def on_fit_end(self, trainer, module):
        # the record's validation metrics are those of the weights that are tested
        if self.restore and self.state is not None:
            module.load_state_dict(self.state)
            module.val_results = self.best_val_results


def train_one(run: RunSpec, data_dir=None, logger=None, save_predictions: Path | None = None,
              progress_bar: bool | None = None) -> dict:
    """Fit (unless the method has nothing to train) and test; the run record's fields."""
    quiet_lightning()
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
    if progress_bar is None:
        progress_bar = sys.stderr.isatty()
    trainer = L.Trainer(
        max_epochs=run.trainer.max_epochs,
        accelerator="cpu",
        devices=1,
        deterministic=True,
        logger=logger if logger is not None else False,
        enable_checkpointing=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        limit_val_batches=run.trainer.limit_val_batches or 1.0,
        callbacks=[best, EarlyStopping("val/loss", patience=run.trainer.patience, mode="min")],
    )
    started = time.perf_counter()
    if model.trainable:
        trainer.fit(model, datamodule=dm)
    train_seconds = time.perf_counter() - started
    if not model.trainable:
        model.fit_arrays(dm.data.parts["train"])  # a closed-form or full-batch fit, or nothing to fit
        trainer.validate(model, datamodule=dm, verbose=False)
    trainer.test(model, datamodule=dm, verbose=False)
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
        "train_seconds": round(train_seconds, 3),
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
        "windows": dm.data.windows_per_part(),
        "problem": {"num_tasks": dm.problem.num_tasks, "input_dim": dm.problem.input_dim,
                    "num_targets": dm.problem.num_targets, "window": dm.problem.window,
                    "task_names": list(dm.problem.task_names), "target_names": list(dm.problem.target_names)},
        "versions": versions(),
        "torch_threads": torch.get_num_threads(),
    }
