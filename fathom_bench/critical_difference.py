"""Friedman test and Nemenyi post-hoc over blocks (leaderboard columns): the critical-difference diagram's numbers.

Demšar (2006), "Statistical comparisons of classifiers over multiple data sets", JMLR 7:
- ranks within each block (1 = best, ties share the average rank), mean rank R_j per method;
- Friedman chi2 = 12N / (k(k+1)) * (sum_j R_j^2 - k(k+1)^2 / 4), divided by the tie correction
  1 - sum(t^3 - t) / (N k (k^2 - 1)) (as scipy.stats.friedmanchisquare), chi2 with k - 1 df;
  Iman-Davenport F = (N - 1) chi2 / (N (k - 1) - chi2), F with k - 1 and (k - 1)(N - 1) df;
- Nemenyi: two methods differ when their mean ranks differ by at least
  CD = q_alpha sqrt(k (k + 1) / (6N)), q_alpha the studentized range quantile (k, infinite df) / sqrt(2).
Pure numpy/scipy; no records, no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

ALPHA = 0.05


def nemenyi_q(k: int, alpha: float = ALPHA) -> float:
    """q_alpha of the Nemenyi test for k methods (Demšar's Table 5a: k = 4 -> 2.569)."""
    return float(_st.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


def critical_difference(k: int, n_blocks: int, alpha: float = ALPHA) -> float:
    return nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6.0 * n_blocks))


def friedman_statistics(mean_ranks, n_blocks: int, correction: float = 1.0) -> tuple[float, float, float, float]:
    """(chi2, p, Iman-Davenport F, its p) from the mean ranks over n_blocks blocks (Demšar's formulas)."""
    mean, n = np.asarray(mean_ranks, dtype=float), int(n_blocks)
    k = mean.size
    chi2 = 12.0 * n / (k * (k + 1)) * (float(np.sum(mean ** 2)) - k * (k + 1) ** 2 / 4.0)
    chi2 = chi2 / correction if correction > 0 else 0.0
    p = float(_st.chi2.sf(chi2, k - 1))
    denom = n * (k - 1) - chi2
    f = (n - 1) * chi2 / denom if denom > 0 else math.inf
    p_f = float(_st.f.sf(f, k - 1, (k - 1) * (n - 1))) if math.isfinite(f) else 0.0
    return float(chi2), p, float(f), p_f


def friedman_from_ranks(ranks: np.ndarray) -> tuple[float, float, float, float]:
    """(chi2, p, Iman-Davenport F, its p) of a [blocks, methods] matrix of within-block ranks,
    chi2 corrected for ties."""
    ranks = np.asarray(ranks, dtype=float)
    n, k = ranks.shape
    ties = sum(float(np.sum(c ** 3 - c)) for c in (np.unique(row, return_counts=True)[1] for row in ranks))
    return friedman_statistics(ranks.mean(axis=0), n, 1.0 - ties / (n * k * (k * k - 1)))


@dataclass(frozen=True)
class CDResult:
    """methods in order of mean rank (best first); cliques: maximal runs of methods (indices into
    `methods`) whose mean ranks lie within `cd` of each other (not significantly different)."""

    methods: tuple
    mean_ranks: tuple
    n_blocks: int
    chi2: float
    p: float
    f: float
    p_f: float
    cd: float
    cliques: tuple
    alpha: float = ALPHA

    def different(self, a: str, b: str) -> bool:
        ra, rb = self.mean_ranks[self.methods.index(a)], self.mean_ranks[self.methods.index(b)]
        return self.p < self.alpha and abs(ra - rb) >= self.cd


def friedman_nemenyi(ranks: np.ndarray, methods, alpha: float = ALPHA) -> CDResult:
    """Friedman + Nemenyi over a [blocks, methods] matrix of within-block ranks (1 = best)."""
    ranks = np.asarray(ranks, dtype=float)
    n, k = ranks.shape
    if k < 2 or n < 2:
        raise ValueError(f"friedman_nemenyi needs >= 2 methods and >= 2 blocks, got {k} and {n}")
    chi2, p, f, p_f = friedman_from_ranks(ranks)
    mean = ranks.mean(axis=0)
    order = np.argsort(mean, kind="stable")
    cd = critical_difference(k, n, alpha)
    sorted_ranks = mean[order]
    cliques, last_end = [], -1
    for i in range(k):  # maximal runs [i, j] with rank_j - rank_i < cd, not contained in the previous one
        j = i
        while j + 1 < k and sorted_ranks[j + 1] - sorted_ranks[i] < cd:
            j += 1
        if j > i and j > last_end:
            cliques.append((i, j))
            last_end = j
    return CDResult(tuple(methods[o] for o in order), tuple(float(x) for x in sorted_ranks), n, chi2, p, f, p_f,
                    cd, tuple(cliques), alpha)
