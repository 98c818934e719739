"""Statistics over seeds against scipy on known inputs; Holm against a worked example."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from fathom_bench import stats

VALUES = [0.81, 0.79, 0.84, 0.80, 0.78, 0.83, 0.82, 0.80]


def test_summarize_mean_std_and_bootstrap_ci_match_numpy_and_scipy():
    s = stats.summarize(VALUES)
    assert s["n"] == 8
    assert s["mean"] == pytest.approx(np.mean(VALUES))
    assert s["std"] == pytest.approx(np.std(VALUES, ddof=1))
    ref = st.bootstrap((np.array(VALUES),), np.mean, confidence_level=0.95, n_resamples=9999, method="BCa",
                       random_state=np.random.default_rng(0)).confidence_interval
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((ref.low, ref.high))
    assert s["ci_low"] < s["mean"] < s["ci_high"]
    assert stats.summarize(VALUES) == s  # fixed random state: deterministic


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
    ref = st.wilcoxon(x, y)
    assert t.seeds == tuple(range(7)) and t.n == 7
    assert t.p == pytest.approx(ref.pvalue) and t.statistic == pytest.approx(ref.statistic)
    assert t.mean_diff == pytest.approx(np.mean(np.subtract(x, y)))
    assert t.diff_ci_low < t.mean_diff < t.diff_ci_high
    greater = st.wilcoxon(x, y, alternative="greater").pvalue
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


def test_min_seeds_for_stars_is_where_a_two_sided_wilcoxon_can_reach_005():
    five = stats.paired_wilcoxon([1, 2, 3, 4, 5], [0] * 5).p
    six = stats.paired_wilcoxon([1, 2, 3, 4, 5, 6], [0] * 6).p
    assert five == pytest.approx(0.0625) and six == pytest.approx(0.03125)
    assert stats.MIN_SEEDS_FOR_STARS == 6


def test_holm_worked_example():
    # m = 4; sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_monotone_capped_and_skips_missing():
    assert stats.holm([0.01, 0.02, 0.025]) == pytest.approx([0.03, 0.04, 0.04])  # 0.025 lifted to 0.04
    assert stats.holm([0.5, 0.6]) == [1.0, 1.0]
    assert stats.holm([0.01, None, 0.04, float("nan")]) == pytest.approx([0.02, None, 0.04, None])
    assert stats.holm([]) == []


def test_mann_whitney_matches_scipy():
    a, b = [0.70, 0.72, 0.69, 0.71], [0.80, 0.79, 0.82, 0.78, 0.81]
    assert stats.mann_whitney(a, b, "less") == pytest.approx(st.mannwhitneyu(a, b, alternative="less").pvalue)
    assert stats.mann_whitney([1.0, 1.0], [1.0]) == 1.0
    assert stats.mann_whitney([], [1.0]) is None
