"""Statistics over seeds against scipy on known inputs; Holm against a worked example."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from fathom_bench import stats

VALUES = [0.81, 0.79, 0.84, 0.80, 0.78, 0.83, 0.82, 0.80]


def _bootstrap_t_loop(values, b=9999, seed=0):
    """The studentized bootstrap written out plainly, one resample at a time."""
    x = np.asarray(values, dtype=float)
    n = x.size
    idx = np.random.default_rng(seed).integers(0, n, size=(b, n))
    se = x.std(ddof=1) / np.sqrt(n)
    ts = []
    for row in idx:
        xb = x[row]
        if xb.max() > xb.min():  # se* > 0 in exact arithmetic
            ts.append((xb.mean() - x.mean()) / (xb.std(ddof=1) / np.sqrt(n)))
    lo_q, hi_q = np.quantile(ts, [0.025, 0.975])
    return x.mean() - hi_q * se, x.mean() - lo_q * se


def test_summarize_mean_std_and_bootstrap_t_ci_match_numpy_and_a_plain_loop():
    s = stats.summarize(VALUES)
    assert s["n"] == 8
    assert s["mean"] == pytest.approx(np.mean(VALUES))
    assert s["std"] == pytest.approx(np.std(VALUES, ddof=1))
    assert (s["ci_low"], s["ci_high"]) == pytest.approx(_bootstrap_t_loop(VALUES))
    assert s["ci_low"] < s["mean"] < s["ci_high"]
    assert stats.summarize(VALUES) == s  # fixed random state: deterministic


def test_a_resample_of_equal_values_has_no_spread_even_when_float_rounding_gives_one():
    # FitRec M-LSTM, paper protocol, test sMAPE (speed) of seeds 0-2: the mean of three copies of
    # the first is not exactly it, so numpy's std of that resample is 7e-17 and its t* about 1e15;
    # taken as a spread, it put the interval's lower bound at -3.9e12
    values = [0.41382907903336996, 0.3907398223608085, 0.38464114434317026]
    assert np.std([values[0]] * 3, ddof=1) > 0
    lo, hi = stats.bootstrap_ci(values)
    assert (lo, hi) == pytest.approx(_bootstrap_t_loop(values))
    assert min(values) - 1 < lo < np.mean(values) < hi < max(values) + 1


def test_summarize_edge_cases():
    one = stats.summarize([0.5])
    assert one == {"mean": 0.5, "std": None, "ci_low": None, "ci_high": None, "n": 1}
    same = stats.summarize([0.25] * 6)
    assert (same["ci_low"], same["ci_high"], same["std"]) == (0.25, 0.25, 0.0)
    assert stats.summarize([]) == {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0}
    assert stats.summarize([1.0, None, float("nan"), 3.0])["n"] == 2


def test_paired_wilcoxon_matches_scipy_and_pairs_by_seed():
    a = {0: 0.80, 1: 0.83, 2: 0.79, 3: 0.85, 4: 0.81, 5: 0.84, 6: 0.82, 9: 0.99}
    b = {0: 0.78, 1: 0.80, 2: 0.80, 3: 0.81, 4: 0.77, 5: 0.83, 6: 0.78, 7: 0.10}
    t = stats.paired_wilcoxon(a, b)
    x, y = [a[s] for s in range(7)], [b[s] for s in range(7)]
    ref = st.wilcoxon(x, y, method="exact")
    assert t.seeds == tuple(range(7)) and t.n == 7
    assert t.p == pytest.approx(ref.pvalue) and t.statistic == pytest.approx(ref.statistic)
    assert t.mean_diff == pytest.approx(np.mean(np.subtract(x, y)))
    assert t.diff_ci_low < t.mean_diff < t.diff_ci_high
    greater = st.wilcoxon(x, y, alternative="greater", method="exact").pvalue
    assert stats.paired_wilcoxon(a, b, alternative="greater").p == pytest.approx(greater)
    assert stats.paired_wilcoxon(x, y).p == pytest.approx(ref.pvalue)  # sequences pair by position


def test_rank_biserial_hand_computed():
    # d = [1, -2, 3, 4]: ranks of |d| 1, 2, 3, 4; T+ = 8, T- = 2 -> (8 - 2) / 10
    assert stats.rank_biserial([1, -2, 3, 4]) == pytest.approx(0.6)
    assert stats.paired_wilcoxon([3, 4, 5], [1, 1, 1]).rank_biserial == 1.0
    assert stats.paired_wilcoxon([1, 1, 1], [3, 4, 5]).rank_biserial == -1.0


def test_all_zero_differences_give_p_one():
    t = stats.paired_wilcoxon({s: 0.5 for s in range(6)}, {s: 0.5 for s in range(6)})
    assert t.p == 1.0 and t.n == 6 and t.mean_diff == 0.0 and t.rank_biserial == 0.0


def test_no_pairs():
    t = stats.paired_wilcoxon({0: 1.0}, {1: 2.0})
    assert t.p is None and t.n == 0


def test_min_seeds_for_star_is_where_holm_over_the_family_can_reach_alpha():
    def best_corrected(n, k):  # all n differences of one sign: the smallest p, times k by Holm
        return min(1.0, k * stats.paired_wilcoxon(list(range(1, n + 1)), [0] * n).p)

    for k in (1, 2, 8, 9, 10, 20):
        n = stats.min_seeds_for_star(k)
        assert best_corrected(n, k) < 0.05 <= best_corrected(n - 1, k), k
    assert stats.MIN_SEEDS_FOR_STARS == stats.min_seeds_for_star(1) == 6
    assert stats.min_seeds_for_star(9) == 9  # Table III: 9 tests per column (with 8 seeds: 9 * 2/256 = 0.07)


def test_signed_rank_p_pinned_with_ties_and_zeros():
    # nonzero d: 1, 1, -2, 3, 3, 4, 5, 6 -> |d| midranks 1.5, 1.5, 3, 4.5, 4.5, 6, 7, 8; T- = 3.
    # Sign patterns with T+ <= 3: {}, {1.5}, {1.5'}, {1.5, 1.5'}, {3} -> 5 of 2^8; two-sided p = 2 * 5 / 256.
    d = [0, 0, 1, 1, -2, 3, 3, 4, 5, 6]
    p, statistic = stats.signed_rank_p(d)
    assert p == 10 / 256 and statistic == 3.0
    assert stats.paired_wilcoxon(d, [0] * 10).p == 10 / 256
    # "less": P(T+ <= 33) = 1 - P(T- <= 2.5) = 1 - 3/256 ({}, {1.5}, {1.5'})
    assert stats.signed_rank_p(d, "less")[0] == pytest.approx(1 - 3 / 256, abs=1e-15)


def test_signed_rank_p_equals_scipys_exhaustive_permutation_null_on_random_ties_and_zeros():
    rng = np.random.default_rng(3)
    for _ in range(25):
        d = rng.integers(-3, 4, size=int(rng.integers(2, 10))).astype(float)
        if np.count_nonzero(d) < 2:
            continue
        for alt in ("two-sided", "greater", "less"):
            ref = st.wilcoxon(d, alternative=alt, method=st.PermutationMethod(n_resamples=np.inf))
            assert stats.signed_rank_p(d, alt)[0] == pytest.approx(ref.pvalue, abs=1e-12), (d, alt)


def test_holm_worked_example():
    # m = 4; sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_monotone_capped_and_skips_missing():
    assert stats.holm([0.01, 0.02, 0.025]) == pytest.approx([0.03, 0.04, 0.04])  # 0.025 lifted to 0.04
    assert stats.holm([0.5, 0.6]) == [1.0, 1.0]
    assert stats.holm([0.01, None, 0.04, float("nan")]) == pytest.approx([0.02, None, 0.04, None])
    assert stats.holm([]) == []
