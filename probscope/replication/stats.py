"""Statistics over seeds: the t-interval, the exact sign-flip test, Holm's correction, the minimum detectable
effect, and the verdict a paired difference earns. Pure functions of lists of numbers (no polars, no runs).

A seed is the unit: every value is one seed's number (its run's accuracy, share or mean log p), and a paired
difference is one method's value minus another's on the same seed (the same base).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

ALPHA = 0.05   # two-sided level of every interval, test and power statement
POWER = 0.8    # the power the minimum detectable effect is stated at
# every mean within this of the observed one counts as "as extreme" (float sums of the same numbers in another
# order differ in the last bits)
_TIE = 1e-12


def t_interval(values: Sequence[float]) -> tuple[float, float | None, float | None]:
    """Mean and its 95% t-interval (None with a single value)."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, None
    half = stats.t.ppf(1 - ALPHA / 2, n - 1) * (sd(values) or 0.0) / math.sqrt(n)
    return mean, mean - half, mean + half


def welch_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float, float | None, float | None]:
    """mean(b) − mean(a) and its 95% Welch interval (unequal variances; None with fewer than 2 values a side or
    no spread on either)."""
    from scipy import stats

    difference = sum(b) / len(b) - sum(a) / len(a)
    if len(a) < 2 or len(b) < 2:
        return difference, None, None
    va, vb = (sd(a) or 0.0) ** 2 / len(a), (sd(b) or 0.0) ** 2 / len(b)
    if va + vb == 0:
        return difference, None, None
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(1 - ALPHA / 2, dof) * math.sqrt(va + vb)
    return difference, difference - half, difference + half


def sign_flip_p(differences: Sequence[float]) -> float | None:
    """Exact two-sided p of "the mean difference is 0": the share of all 2^n sign patterns whose mean is at least
    as far from 0 as the observed one (None with no values). With n seeds it cannot go below 2 / 2^n."""
    n = len(differences)
    if n == 0:
        return None
    observed = abs(sum(differences))
    extreme = sum(abs(sum(s * d for s, d in zip(signs, differences, strict=False))) >= observed - _TIE
                  for signs in itertools.product((1, -1), repeat=n))
    return extreme / 2 ** n


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None and does not count as a test)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))   # adjusted p-values never decrease along the ranks
        adjusted[i] = running
    return adjusted


def minimum_detectable_effect(sd: float, n: int, power: float = POWER, alpha: float = ALPHA) -> float | None:
    """The smallest true mean difference a two-sided paired t-test at `alpha` detects with probability `power`,
    given the observed sd of the differences over n seeds (exact, from the noncentral t; None below 2 seeds)."""
    from scipy import optimize, stats

    if n < 2:
        return None
    if sd == 0:
        return 0.0
    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)

    def shortfall(standardized: float) -> float:   # power depends on the effect only through effect / sd
        shift = standardized * math.sqrt(n)
        wrong_side = stats.nct.cdf(-critical, df, shift)   # negligible, and NaN far out in scipy's tail
        return stats.nct.sf(critical, df, shift) + (0.0 if math.isnan(wrong_side) else wrong_side) - power

    upper = 1.0
    while shortfall(upper) < 0:
        upper *= 2
    return sd * optimize.brentq(shortfall, 0.0, upper, xtol=1e-12)


def bound_reached(a: Sequence[float], b: Sequence[float], bounds: tuple[float, float]) -> str | None:
    """"ceiling" or "floor" when every value of both sides sits at that bound (nothing can differ there)."""
    low, high = bounds
    values = [*a, *b]
    if values and all(v >= high for v in values):
        return "ceiling"
    if values and all(v <= low for v in values):
        return "floor"
    return None


def verdict(lo: float | None, hi: float | None, differences: Sequence[float], bound: str | None = None,
            p: float | None = None, adjusted: bool = False) -> str:
    """What a paired difference a − b shows about "a beats b": a direction needs the 95% t-interval on one side
    of 0 and the sign-flip p (Holm-adjusted for a primary endpoint) below ALPHA, so that no verdict rests on
    the normality of a handful of seeds alone."""
    if bound is not None:
        return f"not measurable ({bound})"
    if lo is None or hi is None:
        return "one seed: no interval"
    if all(d == 0 for d in differences):
        return "no difference (equal on every seed)"
    direction = "reproduced" if lo > 0 else "contradicted" if hi < 0 else None
    if direction is None:
        return "inconclusive"
    if p is not None and p >= ALPHA:
        which = "Holm-adjusted sign-flip" if adjusted else "sign-flip"
        return f"inconclusive ({which} p = {p:.3g}; the interval alone says {direction})"
    return direction


def sd(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n − 1 degrees of freedom), None below 2 values."""
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
