"""What one run is: dataset x method x seed x protocol and the trainer budget, resolved to a config.

The resolved config (and its hash) is what makes two runs the same run: a record whose
`config_hash` differs from the one resolved now is stale and is trained again.
"""

from __future__ import annotations

import platform
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from .. import __version__
from ..datasets.spec import DatasetSpec
from ..methods import MethodSpec, config_hash
from ..paths import checkout_root
from ..protocol import Protocol

#: the paper's section IV-C and the authors' scripts (epochs per dataset, patience 20)
DEFAULT_MAX_EPOCHS = {"extrasensory": 150, "beijing_air_quality": 600, "fitrec": 500}
DEFAULT_PATIENCE = 20


@dataclass(frozen=True)
class TrainerSettings:
    max_epochs: int
    patience: int = DEFAULT_PATIENCE
    limit_train_batches: int | None = None
    #: quick mode only: validation (early stopping) on the first N batches; test is always whole
    limit_val_batches: int | None = None
    batch_size: int | None = None
    #: torch threads per run (1: bit-identical on any machine; see runner/train.py)
    threads: int = 1
    quick: bool = False
    #: "cpu" or "gpu"; part of the config (a GPU run is a different run) only when not "cpu",
    #: so every CPU record's config hash is what it was before GPUs were supported
    accelerator: str = "cpu"
    #: False: batches in time order every epoch (Keras' shuffle=False in the authors' scripts)
    shuffle: bool = True
    #: "val", or "test" where the authors' script early-stops on its test set (validation_data=test)
    early_stopping_on: str = "val"
    #: "window", or "same_row": the non-target columns of the target's own row (row-wise scikit-learn)
    inputs: str = "window"
    #: the budget's name ("quick", "standard", "full" or "custom": --max-epochs); a label only, never
    #: hashed (what it stands for, epochs, patience and batch limits, is in the config already)
    budget: str = "full"


@dataclass(frozen=True)
class RunSpec:
    dataset: DatasetSpec
    method: MethodSpec
    seed: int
    protocol: Protocol
    trainer: TrainerSettings
    hparam_overrides: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.protocol.name}/{self.dataset.name}/{self.method.key}/seed={self.seed}"

    def config(self) -> dict:
        """The resolved config: everything that determines the result, nothing that does not."""
        d = self.dataset
        return {
            "dataset": {"name": d.name, "task_type": d.task_type, "window": d.window, "split": list(d.split),
                        "batch_size": self.trainer.batch_size or d.batch_size, "paper_fill": d.paper_fill,
                        "options": d.options, "valid_ranges": {k: list(v) for k, v in d.valid_ranges.items()}},
            "method": {"key": self.method.key, "name": self.method.name, "class": self.method.cls,
                       "hparams": self.method.resolved_hparams(d.name, self.hparam_overrides, self.protocol.name),
                       "script": self.method.settings(self.protocol.name, d.name).get("script", "")},
            "protocol": self.protocol.as_dict(),
            "trainer": _trainer_config(self.trainer),
            "seed": self.seed,
        }

    def config_hash(self) -> str:
        return config_hash(self.config())


def _trainer_config(trainer: TrainerSettings) -> dict:
    config = asdict(trainer)
    del config["budget"]
    if config["accelerator"] == "cpu":
        del config["accelerator"]
    return config


@lru_cache(maxsize=1)
def versions() -> dict:
    """Package version, git commit of the checkout (if any) and library versions, for every record."""
    import lightning
    import numpy
    import torch

    commit = None
    root = checkout_root()
    if root is not None and (root / ".git").exists():
        try:
            commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                    text=True, timeout=5).stdout.strip() or None
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            if commit and dirty:
                commit += "+dirty"
        except (OSError, subprocess.SubprocessError):
            commit = None
    return {"fathom_bench": __version__, "git_commit": commit, "python": platform.python_version(),
            "torch": torch.__version__, "lightning": lightning.__version__, "numpy": numpy.__version__,
            "platform": platform.platform()}
