"""No physically impossible value is scored or fitted under `corrected` and `forecast` (real data),
and the dataset cards count exactly what the code drops."""

from __future__ import annotations

import numpy as np
import pytest

from fathom_bench.datasets.datamodule import load_prepared, load_raw
from fathom_bench.datasets.report import real_dataset_names
from fathom_bench.datasets.spec import load_dataset_spec
from fathom_bench.datasets.validity import CARD_BEGIN, CARD_END, card_section, impossible_counts
from fathom_bench.datasets.windows import PARTS
from fathom_bench.paths import checkout_root
from fathom_bench.protocol import get_protocol

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def fitrec(real_data_dir):
    if not (real_data_dir / "fitrec").is_dir():
        pytest.skip("no fitrec data")
    spec = load_dataset_spec("fitrec")
    return spec, load_raw(spec, real_data_dir)


@pytest.mark.parametrize("protocol", ["corrected", "forecast"])
def test_no_impossible_fitrec_target_is_scored_or_fitted(fitrec, real_data_dir, protocol):
    spec, raw = fitrec
    data = load_prepared(spec, get_protocol(protocol), real_data_dir)
    p = data.problem
    bounds = np.array([spec.valid_ranges[t] for t in p.target_names], dtype=float)  # [M, 2]
    masked = 0
    for part in PARTS:
        for k, tp in enumerate(data.parts[part]):
            y = tp.y.double().numpy() * np.array(p.target_range[k]) + np.array(p.target_min[k])
            m = tp.mask.numpy()  # [n, M]: what loss and metrics score
            for j in range(y.shape[1]):
                scored = y[m[:, j], j]
                assert scored.min() >= bounds[j, 0] - 1e-3 and scored.max() <= bounds[j, 1] + 1e-3
            masked += int((~m).sum())
            assert float(tp.x.min()) >= 0.0 and float(tp.x.max()) <= 1.0  # inputs clipped to the train range
    # the scalers were fitted on the possible training values only
    for k, task in enumerate(raw.tasks):
        a = int(task.targets.shape[0] * spec.split[0])
        speed = task.targets[:a, 1]
        possible = speed[(speed >= 0) & (speed <= 100)]
        assert p.target_min[k][1] == pytest.approx(float(possible.min()), abs=1e-4)
    assert masked > 0
    paper = load_prepared(spec, get_protocol("paper"), real_data_dir)
    assert all(bool(tp.mask.all()) for part in PARTS for tp in paper.parts[part])  # paper keeps them


def test_masked_targets_are_exactly_the_impossible_ones(fitrec, real_data_dir):
    spec, raw = fitrec
    data = load_prepared(spec, get_protocol("corrected"), real_data_dir)
    T = spec.window
    for k, task in enumerate(raw.tasks):
        n = task.targets.shape[0]
        a, b = int(n * spec.split[0]), int(n * (spec.split[0] + spec.split[1]))
        impossible = (task.targets < np.array([30, 0])) | (task.targets > np.array([230, 100]))
        targets_used = np.concatenate([impossible[lo + T - 1:hi] for lo, hi in ((0, a), (a, b), (b, n))])
        masked = np.concatenate([(~data.parts[p][k].mask).numpy() for p in PARTS])
        np.testing.assert_array_equal(masked, targets_used)


@pytest.mark.parametrize("name", ["extrasensory", "beijing_air_quality", "fitrec"])
def test_dataset_card_counts_the_impossible_values(real_data_dir, name):
    if not (real_data_dir / name).is_dir():
        pytest.skip(f"no {name} data")
    assert name in real_dataset_names()
    spec = load_dataset_spec(name)
    raw = load_raw(spec, real_data_dir)
    card = (checkout_root() / "datasets" / name / "CARD.md").read_text()
    assert CARD_BEGIN in card and CARD_END in card, "run `python -m fathom_bench datasets cards`"
    section = card[card.index(CARD_BEGIN):card.index(CARD_END) + len(CARD_END)]
    assert section == card_section(raw, spec), "card out of date: run `python -m fathom_bench datasets cards`"
    total = sum(sum(v.values()) for v in impossible_counts(raw, spec.valid_ranges).values())
    assert (total > 0) == (name == "fitrec")
