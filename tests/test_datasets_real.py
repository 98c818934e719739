"""The three real datasets load as the protocol says (needs the real data: `real_data_dir`).

Uses a private cache directory, so checksums are really computed and the files really parsed.
"""

from __future__ import annotations

import numpy as np
import pytest

from fathom_bench.datasets.datamodule import BenchDataModule
from fathom_bench.datasets.files import file_status
from fathom_bench.datasets.spec import load_dataset_spec

pytestmark = pytest.mark.realdata

WINDOW = {"extrasensory": 20, "beijing_air_quality": 20, "fitrec": 10}
# input columns under corrected / paper
INPUT_DIM = {"extrasensory": (225, 276), "beijing_air_quality": (7, 13), "fitrec": (9, 12)}


@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("FATHOM_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def load(real_data_dir, private_cache):
    loaded = {}

    def get(name):
        if name not in loaded:
            folder = real_data_dir / name
            if not folder.is_dir():
                pytest.skip(f"{folder} not found")
            spec = load_dataset_spec(name, allow_download=False)
            loaded[name] = spec.load_function()(spec, folder)
        return loaded[name]

    return get


@pytest.mark.parametrize("name, total", [("extrasensory", 30), ("beijing_air_quality", 12), ("fitrec", 40)])
def test_checksums_verified(real_data_dir, private_cache, name, total):
    if not (real_data_dir / name).is_dir():
        pytest.skip(f"{real_data_dir / name} not found")
    status = file_status(load_dataset_spec(name), real_data_dir / name)
    assert status["problems"] == []
    assert (status["present"], status["verified"], status["total"]) == (total, total, total)


def test_extrasensory(load):
    raw = load("extrasensory")
    assert raw.task_type == "classification"
    assert len(raw.tasks) == 24
    assert len(raw.feature_names) == 225 and len(raw.target_names) == 51
    assert all(n.startswith("label:") for n in raw.target_names)
    assert not {"timestamp", "label_source"} & set(raw.feature_names)
    assert len({t.name for t in raw.tasks}) == 24
    for t in raw.tasks:
        assert t.features.shape == (3000, 225) and t.targets.shape == (3000, 51)
        assert t.features.dtype == np.float32
        known = t.targets[~np.isnan(t.targets)]
        assert set(np.unique(known)) <= {0.0, 1.0}
    all_y = np.concatenate([t.targets for t in raw.tasks])
    assert np.isnan(all_y).mean() > 0.3  # unknown labels stay unknown (NaN), not 0
    assert raw.paper_feature_names is None  # the authors used the same 225 features


def test_beijing_air_quality(load):
    raw = load("beijing_air_quality")
    assert raw.task_type == "regression"
    assert len(raw.tasks) == 9
    assert raw.target_names == ["PM2.5", "PM10", "NO2", "CO", "O3", "SO2"]
    assert raw.feature_names == ["TEMP", "PRES", "DEWP", "RAIN", "WSPM", "wd_sin", "wd_cos"]
    for t in raw.tasks:
        assert t.features.shape == (8218, 7) and t.targets.shape == (8218, 6)
        co = t.targets[:, 3]
        assert 0.1 < np.nanmedian(co) < 10  # mg/m3, not ug/m3
        assert np.nanmedian(t.targets[:, 0]) > 10  # PM2.5 stays in ug/m3
        s, c = t.features[:, 5], t.features[:, 6]
        ok = ~np.isnan(s)
        np.testing.assert_allclose(s[ok] ** 2 + c[ok] ** 2, 1.0, rtol=1e-5)
    assert raw.notes["hours_contiguous"] is True
    assert raw.notes["last_hour"] == 2017022823


def test_fitrec(load):
    raw = load("fitrec")
    assert raw.task_type == "regression"
    assert len(raw.tasks) == 30
    assert raw.target_names == ["tar_heart_rate", "tar_derived_speed"]
    assert not {"heart_rate", "derived_speed", "id", "userId", "timestamp"} & set(raw.feature_names)
    assert len(raw.feature_names) == 9
    assert raw.paper_feature_names == ["altitude", "derived_speed", "distance", "gender", "heart_rate",
                                       "latitude", "longitude", "sport", "timestamp", "userId"]
    rows = [t.features.shape[0] for t in raw.tasks]
    assert min(rows) == 3300 and max(rows) == 15600
    for t in raw.tasks:
        assert t.paper_features.shape == (t.features.shape[0], 10) and t.targets.shape[1] == 2
        hr = t.targets[:, 0]
        assert 40 < np.nanmedian(hr) < 220  # bpm
        ts = t.paper_features[:, 8]
        assert np.all(np.diff(ts) >= 0)  # sorted by timestamp


@pytest.mark.parametrize("protocol", ["corrected", "paper"])
@pytest.mark.parametrize("name", ["extrasensory", "beijing_air_quality", "fitrec"])
def test_windows_per_protocol(real_data_dir, private_cache, load, name, protocol):
    raw = load(name)
    dm = BenchDataModule(name, protocol=protocol, raw=raw)
    p = dm.problem
    d = INPUT_DIM[name][protocol == "paper"]
    assert (p.num_tasks, p.window, p.input_dim, p.num_targets) == (len(raw.tasks), WINDOW[name], d,
                                                                  len(raw.target_names))
    batch = next(iter(dm.train_dataloader()))
    assert tuple(batch["x"].shape) == (p.num_tasks, dm.batch_size, WINDOW[name], d)
    assert tuple(batch["y"].shape) == (p.num_tasks, dm.batch_size, p.num_targets)
    assert not torch_isnan(batch["x"]) and not torch_isnan(batch["y"])
    shift = 1 if protocol == "paper" else 0
    for k, t in enumerate(raw.tasks):
        n = t.features.shape[0]
        a, b = n * 6 // 10, n * 8 // 10
        got = [len(dm.data.parts[part][k]) for part in ("train", "val", "test")]
        assert got == [a - WINDOW[name] + 1 - shift, b - a - WINDOW[name] + 1 - shift,
                       n - b - WINDOW[name] + 1 - shift]


def torch_isnan(t) -> bool:
    return bool(t.isnan().any())
