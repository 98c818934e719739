"""A federated node reads only its own tasks' files (`select_tasks`), and gets the same arrays.

ExtraSensory and FitRec choose their tasks by a rule over every user's file; the configs declare
the rule's result (`selected_tasks`) so a node need not scan the others. The realdata tests check
the declaration equals the rule on the real files, that a subset load opens only the chosen
users' files, and that its arrays equal those tasks of the full load exactly.
"""

from __future__ import annotations

import builtins
import sys
from pathlib import Path

import numpy as np
import pytest

from fathom_bench.datasets.datamodule import load_raw, task_names
from fathom_bench.datasets.files import find_file, registry
from fathom_bench.datasets.parsing import declared_files
from fathom_bench.datasets.spec import DatasetSpec, load_dataset_spec
from fathom_bench.errors import BadInput

SUBSET_DATASETS = ("extrasensory", "fitrec")


def _module(spec: DatasetSpec):
    return sys.modules[spec.load_function().__module__]


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FATHOM_BENCH_CACHE", str(tmp_path / "cache"))  # file hashes not remembered
    monkeypatch.setenv("FATHOM_BENCH_PARSED_CACHE", "0")  # parse every time: the files are opened


def _opened_files(monkeypatch, folder: Path) -> set[str]:
    """Names of files under `folder` opened from now on (pandas, gzip and hashing all go through open)."""
    opened: set[str] = set()
    real_open = builtins.open

    def recording_open(file, *args, **kwargs):
        if isinstance(file, (str, Path)) and Path(file).resolve().parent == folder.resolve():
            opened.add(Path(file).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    return opened


@pytest.mark.realdata
@pytest.mark.parametrize("name", SUBSET_DATASETS)
def test_declared_tasks_are_what_the_rule_selects(real_data_dir, private_cache, monkeypatch, name):
    folder = real_data_dir / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    spec = load_dataset_spec(name, allow_download=False)
    assert spec.selected_tasks, f"configs/datasets/{name}.yaml declares no selected_tasks"
    # the rule (the single-process loader) reads every file and chooses
    opened = _opened_files(monkeypatch, folder)
    full = load_raw(spec, real_data_dir)
    monkeypatch.undo()
    assert opened == {find_file(folder, n).name for n in registry(spec)}  # the rule opens every file
    assert [t.name for t in full.tasks] == task_names(spec, real_data_dir)
    if name == "extrasensory":
        assert list(full.notes["uuids"].values()) == list(spec.selected_tasks)
    else:
        assert sorted(t.name for t in full.tasks) == sorted(spec.selected_tasks)


@pytest.mark.realdata
@pytest.mark.parametrize("name", SUBSET_DATASETS)
def test_subset_opens_only_its_files_and_equals_the_full_load(real_data_dir, private_cache, monkeypatch, name):
    folder = real_data_dir / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    spec = load_dataset_spec(name, allow_download=False)
    names = task_names(spec)
    stems = dict(zip(names, spec.selected_tasks if name == "extrasensory" else names))
    files = {n: find_file(folder, f).name for n, f in zip(names, declared_files(spec, [stems[n] for n in names]))}
    # the two smallest users' files (fast); in the dataset's order
    chosen = sorted(sorted(names, key=lambda n: (folder / files[n]).stat().st_size)[:2], key=names.index)

    opened = _opened_files(monkeypatch, folder)
    subset = load_raw(spec, real_data_dir, tasks=chosen)
    monkeypatch.undo()
    assert opened == {files[n] for n in chosen}
    assert [t.name for t in subset.tasks] == chosen

    full = {t.name: t for t in load_raw(spec, real_data_dir).tasks}
    for task in subset.tasks:
        whole = full[task.name]
        np.testing.assert_array_equal(task.features, whole.features)
        np.testing.assert_array_equal(task.targets, whole.targets)
        if whole.paper_features is None:
            assert task.paper_features is None
        else:
            np.testing.assert_array_equal(task.paper_features, whole.paper_features)


@pytest.mark.parametrize("name", SUBSET_DATASETS)
def test_declared_tasks_known_without_reading_data(tmp_path, name):
    """task_names comes from the config: an empty data folder is never read."""
    spec = load_dataset_spec(name)
    names = task_names(spec, tmp_path)
    assert len(names) == len(spec.selected_tasks) == len(set(names))
    selected = _module(spec).select_tasks(spec, names[:1])
    assert selected.options["read_tasks"] and selected.options != spec.options
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name", SUBSET_DATASETS)
def test_unknown_task_is_one_line(name):
    spec = load_dataset_spec(name)
    with pytest.raises(BadInput) as err:
        _module(spec).select_tasks(spec, ["no_such_user"])
    assert "no_such_user" in str(err.value) and "\n" not in str(err.value)
    bad = load_dataset_spec(spec, selected_tasks=["no_such_user"])
    with pytest.raises(BadInput) as err:
        task_names(bad)
    assert "selected_tasks" in str(err.value) and "no_such_user" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("value, says", [("user1", "a list"), ([1, 2], "a list"), (["a", "a"], "twice")])
def test_selected_tasks_validated(value, says):
    with pytest.raises(BadInput, match=says):
        load_dataset_spec("fitrec", selected_tasks=value)


def test_selected_tasks_stay_out_of_the_run_config():
    """A declared result, not a setting: it is not in options, so run hashes do not change."""
    spec = load_dataset_spec("fitrec")
    assert "selected_tasks" not in spec.options
    assert load_dataset_spec(spec, selected_tasks=list(spec.selected_tasks[:3])).options == spec.options
