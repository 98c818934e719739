"""Friedman + Nemenyi against Demšar (2006, JMLR 7) and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from fathom_bench import critical_difference as cdm


def test_nemenyi_q_matches_demsar_table_5a():
    table = {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 7: 2.949, 8: 3.031, 9: 3.102, 10: 3.164}
    for k, q in table.items():
        assert cdm.nemenyi_q(k) == pytest.approx(q, abs=1e-3), k  # the table gives 3 decimals


def test_demsar_worked_example():
    # Section 3.2.2: four C4.5 variants on 14 data sets, mean ranks 3.143, 2.000, 2.893, 1.964:
    # chi2_F = 9.28, F_F = 3.69, and the Nemenyi CD at 0.05 is 2.569 * sqrt(4 * 5 / (6 * 14)) = 1.25.
    chi2, _, f, _ = cdm.friedman_statistics([44 / 14, 28 / 14, 40.5 / 14, 27.5 / 14], 14)
    assert chi2 == pytest.approx(9.28, abs=0.01) and f == pytest.approx(3.69, abs=0.01)
    assert cdm.critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)


def test_friedman_with_ties_equals_scipy():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(10, 5)).astype(float)  # many ties within blocks
    ranks = np.vstack([st.rankdata(-row) for row in scores])
    chi2, p, _, _ = cdm.friedman_from_ranks(ranks)
    ref = st.friedmanchisquare(*scores.T)
    assert (chi2, p) == pytest.approx((ref.statistic, ref.pvalue))


def test_cliques_and_differences():
    ranks = np.array([[1, 2, 3, 4]] * 9 + [[2, 1, 3, 4]], dtype=float)
    res = cdm.friedman_nemenyi(ranks, ["a", "b", "c", "d"])
    assert res.methods == ("a", "b", "c", "d") and res.p < 0.05
    assert res.cd == pytest.approx(cdm.critical_difference(4, 10))
    assert res.different("a", "d") and not res.different("a", "b")
    for i, j in res.cliques:
        assert res.mean_ranks[j] - res.mean_ranks[i] < res.cd
    with pytest.raises(ValueError):
        cdm.friedman_nemenyi(ranks[:1], ["a", "b", "c", "d"])
