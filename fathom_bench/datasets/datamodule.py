"""One LightningDataModule for every dataset: the dataset's spec says what differs."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import lightning as L
from torch.utils.data import DataLoader

from ..errors import BadInput
from ..paths import data_dir as resolve_data_dir
from ..problem import ProblemSpec
from ..protocol import Protocol, get_protocol
from .batches import EvalBatches, TrainBatches
from .spec import DatasetSpec, RawDataset, load_dataset_spec
from .windows import PreparedData, prepare

_CACHE: dict[tuple, PreparedData] = {}


def load_raw(spec: DatasetSpec, data_dir: str | Path | None = None, tasks: list[str] | None = None) -> RawDataset:
    """Read (and verify, or download) the dataset's files into per-task arrays.

    `tasks`: only these tasks (names), in the dataset's order. A loader module whose files are per
    task says how to read some of them with `select_tasks(spec, names) -> DatasetSpec` (then only
    their files are opened); any other (or one returning None) is read whole and the other tasks
    are dropped.
    """
    folder = resolve_data_dir(data_dir) / spec.name
    load = spec.load_function()
    select = getattr(sys.modules[load.__module__], "select_tasks", None) if tasks is not None else None
    chosen = select(spec, list(tasks)) if select is not None else None  # None: read whole
    raw = load(chosen if chosen is not None else spec, folder)
    if tasks is None:
        return raw
    known = [t.name for t in raw.tasks]
    missing = [name for name in tasks if name not in known]
    if missing:
        raise BadInput(f"dataset {spec.name}: no task named {missing[0]!r}; its tasks are {', '.join(known)}")
    return replace(raw, tasks=[t for t in raw.tasks if t.name in set(tasks)])


def task_names(spec: DatasetSpec, data_dir: str | Path | None = None) -> list[str]:
    """The dataset's task names, in order: from its config when its loader module says how
    (`task_names(spec)`), else by reading it."""
    load = spec.load_function()
    names = getattr(sys.modules[load.__module__], "task_names", None)
    declared = names(spec) if names is not None else None  # None: not declared, read the data
    return list(declared) if declared is not None else [t.name for t in load_raw(spec, data_dir).tasks]


def load_prepared(spec: DatasetSpec, protocol: Protocol, data_dir=None, cache: bool = True) -> PreparedData:
    """Prepared windows, cached per process: a grid reads each dataset once."""
    spec_id = json.dumps({k: v for k, v in spec.__dict__.items() if k != "path"}, sort_keys=True, default=str)
    key = (spec_id, json.dumps(protocol.as_dict(), sort_keys=True), str(resolve_data_dir(data_dir)))
    if cache and key in _CACHE:
        return _CACHE[key]
    data = prepare(load_raw(spec, data_dir), spec, protocol)
    if cache:
        _CACHE[key] = data
    return data


class BenchDataModule(L.LightningDataModule):
    """Windows and splits of one dataset under one protocol, as multi-task batches.

    Batches: `x [K, B, T, D]`, `y [K, B, M]`, `mask [K, B, M]`. `problem` (after `setup`) tells a
    method the sizes and names it needs. What the authors' scripts did differently is data
    (script_settings): `shuffle=False` (batches in time order), `val_part="test"` (early stopping on
    the test part, as scripts passing `validation_data=test`), `inputs="same_row"` (the protocol's
    input columns of the target's own row, no target history: a row-wise scikit-learn classifier).
    """

    def __init__(self, dataset: str | DatasetSpec, protocol: str | Protocol = "corrected",
                 data_dir: str | Path | None = None, batch_size: int | None = None, seed: int = 0,
                 limit_train_batches: int | None = None, raw: RawDataset | None = None, shuffle: bool = True,
                 val_part: str = "val", inputs: str = "window"):
        super().__init__()
        self.spec = load_dataset_spec(dataset)
        self.protocol = get_protocol(protocol)
        if inputs == "same_row":  # the window ends at the target's row and holds no target history
            self.protocol = replace(self.protocol, target_history_in_input=False)
        self.shuffle, self.val_part = shuffle, val_part
        self.data_dir = data_dir
        self.batch_size = int(batch_size or self.spec.batch_size)
        self.seed = seed
        self.limit_train_batches = limit_train_batches
        self._raw = raw
        self.data: PreparedData | None = None
        self.first_train_epoch = 0  # a fit resumed mid-way draws its first batches for this epoch

    def setup(self, stage: str | None = None) -> None:
        if self.data is None:
            if self._raw is not None:
                self.data = prepare(self._raw, self.spec, self.protocol)
            else:
                self.data = load_prepared(self.spec, self.protocol, self.data_dir)

    @property
    def problem(self) -> ProblemSpec:
        self.setup()
        return self.data.problem

    def train_dataloader(self):
        self.setup()
        ds = TrainBatches(self.data.parts["train"], self.batch_size, self.seed, self.limit_train_batches,
                          shuffle=self.shuffle)
        ds.epoch = self.first_train_epoch
        return DataLoader(ds, batch_size=None)

    def _eval(self, part: str):
        self.setup()
        return DataLoader(EvalBatches(self.data.parts[part], self.batch_size), batch_size=None)

    def val_dataloader(self):
        return self._eval(self.val_part)

    def test_dataloader(self):
        return self._eval("test")
