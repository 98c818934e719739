"""Statistics over seeds: summaries with bootstrap intervals, paired tests, Holm correction.

Pure functions over numbers (numpy + scipy); nothing here knows about records, torch or data.
Every function states what its numbers are, because the tables print them as such:

- `summarize`: the mean over seeds, the sample standard deviation (ddof=1) and a 95 % studentized
  bootstrap (bootstrap-t) confidence interval of the mean (9 999 resamples, fixed random state: the
  same values give the same interval on every machine and every call). Its coverage at n = 10 on
  normal and skewed data is measured by a simulation test (tests/test_stats_simulation.py); BCa
  covered about 0.91 there, a t-interval less than 0.93 on skewed data.
- `paired_wilcoxon`: a Wilcoxon signed-rank test on per-seed differences (pairs matched by seed),
  its exact null computed here (zeros dropped, midranks for ties), the same on every scipy.
- `min_seeds_for_star`: the fewest paired seeds with which a family of k such tests can reach alpha.
- `holm`: Holm-Bonferroni step-down adjusted p-values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from scipy import stats as _st

ALPHA = 0.05
CONFIDENCE = 0.95
N_RESAMPLES = 9999
RANDOM_STATE = 0
CI_METHOD = "studentized bootstrap (bootstrap-t)"


def min_seeds_for_star(family_size: int = 1, alpha: float = ALPHA) -> int:
    """The fewest nonzero paired differences with which a two-sided exact Wilcoxon signed-rank test,
    Holm-corrected in a family of `family_size` tests, can reach corrected p < alpha.

    The smallest two-sided p on n pairs is 2 / 2**n (every difference of one sign); Holm multiplies
    the smallest p of a family of k by k: a `*` needs k * 2 / 2**n < alpha.
    """
    k, n = max(1, int(family_size)), 1
    while k * 2.0 / 2 ** n >= alpha:
        n += 1
    return n


#: Below this many paired seeds a single two-sided test cannot reach ALPHA: such pairs are not tested.
MIN_SEEDS_FOR_STARS = min_seeds_for_star(1)

#: One sentence for captions and headers.
INTERVAL_TEXT = (f"95 % confidence interval of the mean over seeds ({CI_METHOD}, {N_RESAMPLES} resamples, "
                 "fixed random state; coverage at n = 10 measured by simulation on normal and skewed data)")
#: Coverage of that interval measured below n = 10, at the seed counts the tables use there (the
#: `paper` rows of the reference have 3): (lowest, highest) over normal, lognormal(0, 0.5) and
#: gamma(4) data, 2,000 samples each; tests/test_stats_simulation.py holds them to a fresh simulation.
MEASURED_COVERAGE = {3: (0.77, 0.81)}


def small_n_text(n: int) -> str | None:
    """One sentence for a table whose cells rest on `n` seeds, where the interval under-covers."""
    if n not in MEASURED_COVERAGE:
        return None
    lo, hi = MEASURED_COVERAGE[n]
    return (f"At n = {n} that interval covers the true mean {lo:.2f}-{hi:.2f} of the time (measured by simulation "
            "on normal and skewed data), not 0.95: with so few seeds, read it as rough.")


TEST_TEXT = ("two-sided paired Wilcoxon signed-rank test on per-seed scores (pairs matched by seed; "
             "zero differences dropped, midranks for ties, exact null)")
MEANING_TEXT = ("Intervals and tests cover seed-to-seed training noise on one fixed chronological split of each "
                "dataset: significant here means stable across paired training seeds, not across data splits "
                "or other data.")
TOO_FEW_TEXT = (f"fewer than {MIN_SEEDS_FOR_STARS} paired seeds: with {MIN_SEEDS_FOR_STARS - 1} pairs a "
                "two-sided Wilcoxon signed-rank test cannot reach p < "
                f"{ALPHA} even alone, so no significance is claimed")


def _finite(values) -> np.ndarray:
    arr = np.asarray([float(v) for v in values if v is not None], dtype=float)
    return arr[np.isfinite(arr)]


def _bootstrap_t_bounds(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95 % studentized-bootstrap bounds of the mean of each row of `samples` [R, n] (n >= 2).

    For each row: B = N_RESAMPLES resamples (the same indices for every row: fixed random state),
    t* = (mean* - mean) / se*, resamples with se* = 0 (all values equal) left out; bounds mean - q(0.975) se,
    mean - q(0.025) se with se = s / sqrt(n). Rows whose resamples all have se* = 0 give NaN.
    """
    x = np.asarray(samples, dtype=float)
    r, n = x.shape
    idx = np.random.default_rng(RANDOM_STATE).integers(0, n, size=(N_RESAMPLES, n))
    mean, se = x.mean(axis=1), x.std(axis=1, ddof=1) / math.sqrt(n)
    lo, hi = np.full(r, np.nan), np.full(r, np.nan)
    tail = (1 - CONFIDENCE) / 2
    for i in range(r):
        xb = x[i][idx]
        seb = xb.std(axis=1, ddof=1) / math.sqrt(n)
        # no spread means all values equal, not se* > 0: the mean of three copies of 0.41382907903336996
        # is not exactly that value, se* comes out 7e-17, and its t* of 1e15 had set a bound at -4e12
        ok = xb.max(axis=1) > xb.min(axis=1)
        if not ok.any():
            continue
        t = (xb.mean(axis=1)[ok] - mean[i]) / seb[ok]
        q_lo, q_hi = np.quantile(t, [tail, 1 - tail])
        lo[i], hi[i] = mean[i] - q_hi * se[i], mean[i] - q_lo * se[i]
    return lo, hi


def bootstrap_ci(values) -> tuple[float | None, float | None]:
    """95 % studentized-bootstrap (bootstrap-t) CI of the mean of `values` (see `_bootstrap_t_bounds`).

    None, None for fewer than 2 values; [v, v] when every value equals v; the t-interval when no
    resample has a spread (two distinct values only at n = 2 can do that).
    """
    arr = _finite(values)
    if arr.size < 2:
        return None, None
    if np.all(arr == arr[0]):
        return float(arr[0]), float(arr[0])
    lo, hi = (float(v[0]) for v in _bootstrap_t_bounds(arr[None, :]))
    if math.isfinite(lo) and math.isfinite(hi):
        return lo, hi
    h = float(_st.t.ppf(1 - (1 - CONFIDENCE) / 2, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return float(arr.mean()) - h, float(arr.mean()) + h


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
    (paired by position). The p-value is `signed_rank_p`'s (zeros dropped, midranks, exact null:
    what scipy.stats.wilcoxon(zero_method="wilcox") gives with an exact or exhaustive-permutation
    null, independent of the installed scipy's "auto" switch); 1.0 when every difference is zero.
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
        p, stat = signed_rank_p(d, alternative)
    return PairedTest(p, n, stat, r, ci["mean"], ci["ci_low"], ci["ci_high"], tuple(seeds))


def signed_rank_p(diffs, alternative: str = "two-sided") -> tuple[float, float]:
    """Exact Wilcoxon signed-rank p-value of paired differences, and scipy's statistic.

    Zero differences are dropped ("wilcox"); tied |d| get midranks. The null distribution of T+
    (the rank sum of positive differences) is counted exactly over all 2**n sign patterns of the
    ranks (doubled midranks are integers, so a subset-sum count is exact for any n). p for
    "greater" is P(T+ >= t), "less" P(T+ <= t), "two-sided" min(1, 2 min(both)). The statistic is
    T+ for one-sided tests and min(T+, T-) for two-sided, as scipy reports them. (1.0, None) with
    no nonzero difference.
    """
    d = _finite(diffs)
    d = d[d != 0]
    if d.size == 0:
        return 1.0, None
    ranks2 = np.rint(2 * _st.rankdata(np.abs(d))).astype(int)  # doubled midranks: integers
    counts = np.zeros(int(ranks2.sum()) + 1)
    counts[0] = 1.0
    for r in ranks2:  # counts[s]: sign patterns whose positive ranks sum (doubled) to s
        counts[r:] = counts[r:] + counts[:-r].copy()
    counts /= counts.sum()
    t2 = int(ranks2[d > 0].sum())
    greater, less = float(counts[t2:].sum()), float(counts[:t2 + 1].sum())
    plus = t2 / 2.0
    if alternative == "greater":
        return min(1.0, greater), plus
    if alternative == "less":
        return min(1.0, less), plus
    if alternative != "two-sided":
        raise ValueError(f"alternative must be two-sided, greater or less, not {alternative!r}")
    return min(1.0, 2 * min(greater, less)), min(plus, ranks2.sum() / 2.0 - plus)


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
