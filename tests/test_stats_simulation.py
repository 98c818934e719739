"""Coverage of the tables' 95 % intervals of a mean over seeds, measured by simulation at n = 10,
and at the smaller seed counts the tables state a measured coverage for (stats.MEASURED_COVERAGE)."""

from __future__ import annotations

import numpy as np
import pytest

from fathom_bench import stats

REPS = 2000
N = 10


DISTRIBUTIONS = [
    ("normal", lambda rng, size: rng.normal(0.0, 1.0, size), 0.0),
    # skewness 1.75: beyond the 90th percentile (1.5) of the committed reference cells' seed skewness
    ("lognormal(0, 0.5)", lambda rng, size: rng.lognormal(0.0, 0.5, size), float(np.exp(0.125))),
    ("gamma(4)", lambda rng, size: rng.gamma(4.0, 1.0, size), 4.0),
]


@pytest.mark.parametrize("name,draw,mean", DISTRIBUTIONS)
def test_interval_covers_the_true_mean_at_least_93_percent_at_n_10(name, draw, mean):
    samples = draw(np.random.default_rng(7), (REPS, N))
    lo, hi = stats._bootstrap_t_bounds(samples)  # the bounds summarize() reports, for REPS samples at once
    coverage = float(np.mean((lo <= mean) & (mean <= hi)))
    assert coverage >= 0.93, (name, coverage)
    one = stats.summarize(samples[0])
    assert (one["ci_low"], one["ci_high"]) == pytest.approx((lo[0], hi[0]))


@pytest.mark.parametrize("n", sorted(stats.MEASURED_COVERAGE))
def test_the_coverage_stated_below_n_10_is_what_a_simulation_measures(n):
    lo, hi = stats.MEASURED_COVERAGE[n]
    measured = {}
    for name, draw, mean in DISTRIBUTIONS:
        samples = draw(np.random.default_rng(7), (REPS, n))
        low, high = stats._bootstrap_t_bounds(samples)
        measured[name] = float(np.mean((low <= mean) & (mean <= high)))
    assert min(measured.values()) == pytest.approx(lo, abs=0.01), measured
    assert max(measured.values()) == pytest.approx(hi, abs=0.01), measured
    assert "rough" in stats.small_n_text(n) and stats.small_n_text(10) is None
