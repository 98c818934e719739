"""Statistics over seeds: summaries with bootstrap intervals, paired tests, Holm correction.

Pure functions over numbers (numpy + scipy); nothing here knows about records, torch or data.
Every function states what its numbers are, because the tables print them as such:

- `summarize`: the mean over seeds, the sample standard deviation (ddof=1) and a 95 % bootstrap
  confidence interval of the mean (BCa, 9 999 resamples, fixed random state: the same values give
  the same interval on every machine and every call).
- `paired_wilcoxon`: a Wilcoxon signed-rank test on per-seed differences (pairs matched by seed).
- `holm`: Holm-Bonferroni step-down adjusted p-values.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as _st

#: Below this many paired seeds no `*` is claimed and no leaderboard test is run: with 5 pairs the
#: smallest two-sided Wilcoxon signed-rank p-value is 2 / 2**5 = 0.0625 (all differences of one sign).
MIN_SEEDS_FOR_STARS = 6
CONFIDENCE = 0.95
N_RESAMPLES = 9999
RANDOM_STATE = 0
CI_METHOD = "BCa"

#: One sentence for captions and headers.
INTERVAL_TEXT = (f"95 % bootstrap confidence interval of the mean over seeds ({CI_METHOD}, "
                 f"{N_RESAMPLES} resamples, fixed random state)")
TEST_TEXT = ("two-sided paired Wilcoxon signed-rank test on per-seed scores (pairs matched by seed; "
             "scipy.stats.wilcoxon, zero differences dropped, exact or exhaustive-permutation null up to 13 pairs)")
TOO_FEW_TEXT = (f"fewer than {MIN_SEEDS_FOR_STARS} paired seeds: with 5 pairs a two-sided Wilcoxon signed-rank "
                "test cannot go below p = 0.0625, so no significance is claimed")


def _finite(values) -> np.ndarray:
    arr = np.asarray([float(v) for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def bootstrap_ci(values) -> tuple[float | None, float | None]:
    """95 % bootstrap CI of the mean of `values` (BCa; percentile when BCa is not finite).

    None, None for fewer than 2 values; [v, v] when every value equals v.
    """
    arr = _finite(values)
    if arr.size < 2:
        return None, None
    if np.all(arr == arr[0]):
        return float(arr[0]), float(arr[0])
    for method in (CI_METHOD, "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _st.bootstrap((arr,), np.mean, confidence_level=CONFIDENCE, n_resamples=N_RESAMPLES,
                                method=method, random_state=np.random.default_rng(RANDOM_STATE))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isfinite(lo) and math.isfinite(hi):
            return lo, hi
    return None, None


def summarize(values) -> dict:
    """A cell's numbers over seeds.

    Returns {mean, std, ci_low, ci_high, n}: the arithmetic mean of the finite values, their sample
    standard deviation (ddof=1; None for n < 2), the 95 % bootstrap CI of the mean (see
    `bootstrap_ci`; None for n < 2, [v, v] when all values are equal) and n, the number of values.
    None and non-finite values are left out. n = 0 gives None everywhere.
    """
    arr = _finite(values)
    n = int(arr.size)
    if n == 0:
        return {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0}
    lo, hi = bootstrap_ci(arr)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if n > 1 else None,
            "ci_low": lo, "ci_high": hi, "n": n}


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison of a against b over the seeds both have.

    p: Wilcoxon signed-rank p-value of the differences a - b (`alternative` as given; 1.0 when every
       difference is zero; None with no pairs).
    n: the number of pairs; seeds: the seeds paired (empty when the inputs were plain sequences).
    statistic: scipy's statistic (for two-sided: the smaller of the signed-rank sums).
    rank_biserial: matched-pairs rank-biserial correlation (T+ - T-) / (T+ + T-), zeros dropped;
       +1: a is above b on every seed, -1: below on every seed.
    mean_diff, diff_ci_low, diff_ci_high: mean of a - b over the pairs and its 95 % bootstrap CI.
    """

    p: float | None
    n: int
    statistic: float | None
    rank_biserial: float | None
    mean_diff: float | None
    diff_ci_low: float | None
    diff_ci_high: float | None
    seeds: tuple = ()


def pair_by_seed(a: Mapping, b: Mapping) -> tuple[list, np.ndarray, np.ndarray]:
    """The seeds both mappings hold a finite value for (sorted), and the two aligned arrays."""
    def ok(v):
        return v is not None and math.isfinite(float(v))

    seeds = sorted(s for s in a if s in b and ok(a[s]) and ok(b[s]))
    return seeds, np.array([float(a[s]) for s in seeds]), np.array([float(b[s]) for s in seeds])


def rank_biserial(diffs) -> float | None:
    """Matched-pairs rank-biserial correlation of differences (zeros dropped; Kerby 2014)."""
    d = _finite(diffs)
    d = d[d != 0]
    if d.size == 0:
        return 0.0 if _finite(diffs).size else None
    ranks = _st.rankdata(np.abs(d))
    plus, minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((plus - minus) / (plus + minus))


def paired_wilcoxon(a: Mapping | Sequence, b: Mapping | Sequence, alternative: str = "two-sided") -> PairedTest:
    """Wilcoxon signed-rank test of a - b on paired per-seed scores.

    `a`, `b`: {seed: score} mappings (paired on the seeds both hold) or equally long sequences
    (paired by position). The p-value is scipy.stats.wilcoxon's (zero_method "wilcox",
    method "auto": exact null without ties up to 50 pairs, exhaustive permutations with ties or
    zeros up to 13 pairs); 1.0 when every difference is zero.
    """
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        seeds, x, y = pair_by_seed(a, b)
    else:
        x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if x.shape != y.shape:
            raise ValueError(f"paired_wilcoxon: {x.size} and {y.size} values cannot be paired")
        keep = np.isfinite(x) & np.isfinite(y)
        x, y, seeds = x[keep], y[keep], []
    d = x - y
    n = int(d.size)
    if n == 0:
        return PairedTest(None, 0, None, None, None, None, None, tuple(seeds))
    ci = summarize(d)
    r = rank_biserial(d)
    if np.all(d == 0):
        p, stat = 1.0, None
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = _st.wilcoxon(x, y, alternative=alternative)
        p, stat = float(res.pvalue), float(res.statistic)
    return PairedTest(p, n, stat, r, ci["mean"], ci["ci_low"], ci["ci_high"], tuple(seeds))


def mann_whitney(a: Sequence, b: Sequence, alternative: str = "two-sided") -> float | None:
    """Mann-Whitney U p-value of unpaired samples a, b (scipy, method "auto"); None if one is empty.

    alternative "less": a tends to be smaller than b. 1.0 when both samples hold one and the same value.
    """
    x, y = _finite(a), _finite(b)
    if x.size == 0 or y.size == 0:
        return None
    if np.all(np.concatenate([x, y]) == x[0]):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(_st.mannwhitneyu(x, y, alternative=alternative).pvalue)


def holm(pvalues: Sequence) -> list[float | None]:
    """Holm-Bonferroni step-down adjusted p-values, in the input order.

    The family is the non-missing p-values (None/NaN stay None and do not count). With the m
    p-values sorted ascending, p_(i) becomes max_{j <= i} min(1, (m - j + 1) p_(j)): monotone in the
    sort order, capped at 1. Reject the hypotheses whose adjusted p < alpha (controls the
    family-wise error rate at alpha).
    """
    vals = [None if p is None or not math.isfinite(float(p)) else float(p) for p in pvalues]
    idx = sorted((i for i, p in enumerate(vals) if p is not None), key=lambda i: (vals[i], i))
    m = len(idx)
    out: list[float | None] = [None] * len(vals)
    running = 0.0
    for j, i in enumerate(idx):
        running = max(running, min(1.0, (m - j) * vals[i]))
        out[i] = running
    return out
