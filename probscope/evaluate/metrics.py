"""Benchmark metrics from per-sample correctness: Average@k, unbiased pass@k, bootstrap CIs over problems.

    from probscope.evaluate.metrics import summarize
    summarize([[True, False, True, True], [False] * 4])   # {'problems': 2, 'k': 4, 'average_at_k': 0.375, ...}

Average@k (the DFT paper's Average@16) is the mean over problems of the share of a problem's k samples that
are correct; with k = 1 it is plain accuracy. pass@k is the unbiased estimator of Chen et al. (2021),
1 - C(n - c, k) / C(n, k) for n samples of which c are correct, averaged over problems. Confidence
intervals resample problems (not samples) with replacement: the benchmark's problems are the sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from probscope.checks import check_confidence, check_count
from probscope.errors import ProbscopeError

DEFAULT_BOOTSTRAP = 1000
DEFAULT_CONFIDENCE = 0.95


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    check_count("k", k)
    check_count("n", n, minimum=0)
    check_count("c", c, minimum=0)
    if c > n:
        raise ProbscopeError(f"c={c}: more correct samples than samples (n={n})")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    # 1 - prod_{i=n-c+1}^{n} (1 - k/i): the numerically stable form of 1 - C(n-c, k) / C(n, k)
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def bootstrap_ci(per_problem: Sequence[float] | np.ndarray, *, resamples: int = DEFAULT_BOOTSTRAP,
                 confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-problem scores (problems resampled)."""
    check_count("resamples", resamples)
    check_confidence("confidence", confidence)
    values = np.asarray(per_problem, dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def summarize(correct: Sequence[Sequence[bool]], *, k: int | None = None, resamples: int = DEFAULT_BOOTSTRAP,
              confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> dict:
    """Average@k and pass@k (k: samples per problem unless given) with bootstrap CIs, from one list of
    per-sample correctness flags per problem. Every problem must have at least k samples."""
    check_count("k", k, optional=True)
    counts = [(len(samples), int(sum(bool(s) for s in samples))) for samples in correct]
    if not counts:
        raise ValueError("no problems to summarize")
    k = k or min(n for n, _ in counts)
    average = np.array([c / n for n, c in counts])
    passing = np.array([pass_at_k(n, c, k) for n, c in counts])
    avg_lo, avg_hi = bootstrap_ci(average, resamples=resamples, confidence=confidence, seed=seed)
    pass_lo, pass_hi = bootstrap_ci(passing, resamples=resamples, confidence=confidence, seed=seed)
    return {
        "problems": len(counts), "samples": sum(n for n, _ in counts), "k": k,
        "average_at_k": float(average.mean()), "average_at_k_lo": avg_lo, "average_at_k_hi": avg_hi,
        "pass_at_k": float(passing.mean()), "pass_at_k_lo": pass_lo, "pass_at_k_hi": pass_hi,
        "confidence": confidence,
    }
