"""A dataset declares its protocol once, in `configs/datasets/<name>.yaml`; this reads it.

A loader (`loader: module:function` in the YAML) turns the files of one dataset folder into a
`RawDataset`: per-task arrays in original units, NaN where a value is missing. Everything after
that (splits, scaling, filling, windows) is shared code in `windows.py`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from ..documents import read_document
from ..errors import BadInput
from ..paths import configs_dir
from .validity import check_ranges

TASK_TYPES = ("classification", "regression")
PAPER_FILLS = ("ffill_bfill_zero", "zero")
#: the denominator of the authors' as-coded SMAPE: a + p (weather/helper_funcs.py) or |a| + |p| (FitRec/)
PAPER_SMAPES = ("signed", "absolute")


@dataclass
class TaskSeries:
    """One task's series (one user, station or device), rows in time order."""

    name: str
    #: [N, D] float32, NaN = missing: the inputs under the `corrected` protocol
    features: np.ndarray
    #: [N, M] float32, NaN = missing (an unknown label is NaN, not 0)
    targets: np.ndarray
    #: [N, D'] float32: the non-target inputs the authors' code used (`paper`); None = `features`
    paper_features: np.ndarray | None = None

    def __post_init__(self):
        if self.features.shape[0] != self.targets.shape[0]:
            raise ValueError(f"task {self.name}: features and targets differ in rows")


@dataclass
class RawDataset:
    name: str
    task_type: str
    feature_names: list[str]
    target_names: list[str]
    tasks: list[TaskSeries]
    paper_feature_names: list[str] | None = None
    #: facts the loader wants recorded (files read, rows dropped, unit conversions)
    notes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    loader: str
    task_type: str
    window: int
    split: tuple[float, float, float]
    batch_size: int
    paper_fill: str = "ffill_bfill_zero"
    paper_smape: str = "signed"
    #: loader-specific options (tasks chosen, rows kept, columns, unit conversions)
    options: dict = field(default_factory=dict)
    #: column (or glob) -> (low, high): values outside are physically impossible (see validity.py)
    valid_ranges: dict = field(default_factory=dict)
    #: one paragraph: how this data differs from the paper's
    differs_from_paper: str = ""
    source: str = ""
    path: str = ""
    #: the tasks (file stems: user ids) the loader's rule in `options` selects, declared so a federated
    #: node can read only its own files without scanning the others; a realdata test checks it equals
    #: the rule's result. Not in `options`: it is a result, not a setting, and stays out of run hashes.
    selected_tasks: tuple[str, ...] = ()
    #: {"max_epochs", "patience"} of `--budget standard`, chosen by the budget study
    #: (results/budget-study.md; a test holds it equal to the study's choice); None until chosen
    standard_budget: dict | None = None

    def load_function(self) -> Callable[["DatasetSpec", Path], RawDataset]:
        module, _, attr = self.loader.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise BadInput(f"{self.path}: loader {self.loader!r} cannot be imported ({exc})") from None

    @classmethod
    def from_dict(cls, d: dict, path: str = "") -> "DatasetSpec":
        where = path or "dataset config"
        required = ("name", "loader", "task_type", "window", "split", "batch_size")
        missing = [k for k in required if k not in d]
        if missing:
            raise BadInput(f"{where}: missing key(s) {', '.join(missing)}")
        if d["task_type"] not in TASK_TYPES:
            raise BadInput(f"{where}: task_type must be one of {TASK_TYPES}, not {d['task_type']!r}")
        split = tuple(float(s) for s in d["split"])
        if len(split) != 3 or abs(sum(split) - 1.0) > 1e-6 or min(split) <= 0:
            raise BadInput(f"{where}: split must be three positive fractions summing to 1, got {d['split']}")
        if int(d["window"]) < 1:
            raise BadInput(f"{where}: window must be at least 1")
        fill = d.get("paper_fill", "ffill_bfill_zero")
        if fill not in PAPER_FILLS:
            raise BadInput(f"{where}: paper_fill must be one of {PAPER_FILLS}, not {fill!r}")
        smape = d.get("paper_smape", "signed")
        if smape not in PAPER_SMAPES:
            raise BadInput(f"{where}: paper_smape must be one of {PAPER_SMAPES}, not {smape!r}")
        selected = d.get("selected_tasks") or ()
        if not isinstance(selected, (list, tuple)) or not all(isinstance(t, str) and t for t in selected):
            raise BadInput(f"{where}: selected_tasks must be a list of task file stems (user ids)")
        twice = sorted({t for t in selected if list(selected).count(t) > 1})
        if twice:
            raise BadInput(f"{where}: selected_tasks lists {twice[0]!r} twice")
        standard = d.get("standard_budget")
        if standard is not None and (not isinstance(standard, dict) or set(standard) != {"max_epochs", "patience"}
                                     or not all(isinstance(v, int) and v >= 1 for v in standard.values())):
            raise BadInput(f"{where}: standard_budget must be {{max_epochs: N, patience: N}} with N >= 1")
        return cls(
            standard_budget=dict(standard) if standard else None,
            name=str(d["name"]),
            title=str(d.get("title", d["name"])),
            loader=str(d["loader"]),
            task_type=d["task_type"],
            window=int(d["window"]),
            split=split,  # type: ignore[arg-type]
            batch_size=int(d["batch_size"]),
            paper_fill=fill,
            paper_smape=smape,
            options=dict(d.get("options") or {}),
            valid_ranges=check_ranges(d.get("valid_ranges"), where),
            differs_from_paper=str(d.get("differs_from_paper", "")).strip(),
            source=str(d.get("source", "")).strip(),
            path=path,
            selected_tasks=tuple(selected),
        )


def dataset_names() -> list[str]:
    return sorted(p.stem for p in (configs_dir() / "datasets").glob("*.yaml"))


def load_dataset_spec(name: str | DatasetSpec, **overrides) -> DatasetSpec:
    """The spec of dataset `name` from configs/datasets; `overrides` replace top-level keys or options."""
    if isinstance(name, DatasetSpec) and not overrides:
        return name
    if isinstance(name, DatasetSpec):
        d = {**name.__dict__, "options": dict(name.options)}
        path = name.path
    else:
        path_obj = configs_dir() / "datasets" / f"{name}.yaml"
        if not path_obj.is_file():
            raise BadInput(f"--datasets: unknown dataset {name!r}; known: {', '.join(dataset_names())}")
        path = str(path_obj)
        d = read_document(path_obj, "dataset config")
    for key, value in overrides.items():
        if key in DatasetSpec.__dataclass_fields__:
            d[key] = value
        else:
            d.setdefault("options", {})[key] = value
    return DatasetSpec.from_dict(d, path=path)
