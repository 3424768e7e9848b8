"""The replication's statistics against independent computations: scipy's textbook routines, brute force over
every sign pattern or rank, and a simulation of the paired t-test's power."""

import itertools

import numpy as np
import pytest

from probscope.replication import stats


def test_t_interval_matches_scipy():
    from scipy import stats as scipy_stats

    values = [0.5, 0.7, 0.9, 0.2]
    mean, lo, hi = stats.t_interval(values)
    expected = scipy_stats.t.interval(0.95, df=3, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert mean == pytest.approx(np.mean(values)) and (lo, hi) == pytest.approx(expected)
    assert stats.t_interval([0.4]) == (0.4, None, None)


@pytest.mark.parametrize("differences", [
    [0.1, 0.2, 0.05, 0.3, 0.15],
    [0.1, -0.2, 0.05, 0.3, -0.15, 0.0, 0.4, 0.25],
    [0.0, 0.0, 0.5],
    [-0.3, -0.1, -0.2, -0.05, -0.4, -0.2, -0.1, -0.6],
])
def test_sign_flip_p_matches_scipys_exact_permutation_test(differences):
    from scipy import stats as scipy_stats

    reference = scipy_stats.permutation_test((np.array(differences),), np.mean, permutation_type="samples",
                                             n_resamples=np.inf, alternative="two-sided").pvalue
    assert stats.sign_flip_p(differences) == pytest.approx(reference)


def test_sign_flip_p_floor_is_two_patterns_of_all():
    assert stats.sign_flip_p([0.1] * 5) == pytest.approx(2 / 32)     # the review's 0.0625 at five seeds
    assert stats.sign_flip_p([0.1] * 8) == pytest.approx(2 / 256)    # 0.0078 at eight
    assert stats.sign_flip_p([]) is None


def _holm_by_closed_testing(p: list[float], alpha: float) -> set[int]:
    """Holm's rejections as the closed testing of Bonferroni: H_i falls when every intersection of hypotheses
    holding i is rejected, i.e. some member of each subset has p <= alpha / |subset|."""
    rejected = set()
    for i in range(len(p)):
        subsets = (s for k in range(1, len(p) + 1) for s in itertools.combinations(range(len(p)), k) if i in s)
        if all(min(p[j] for j in s) <= alpha / len(s) for s in subsets):
            rejected.add(i)
    return rejected


def test_holm_matches_closed_testing_at_every_level():
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    adjusted = stats.holm(p)
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.2])   # by hand: 5*0.005, 4*0.01, 3*0.03, ...
    for alpha in (0.01, 0.025, 0.04, 0.05, 0.09, 0.1, 0.3):
        assert {i for i, a in enumerate(adjusted) if a <= alpha} == _holm_by_closed_testing(p, alpha)
    assert stats.holm([None, 0.02, 0.01]) == [None, pytest.approx(0.02), pytest.approx(0.02)]


@pytest.mark.parametrize(("n", "sd"), [(8, 0.2), (5, 0.05)])
def test_minimum_detectable_effect_has_80_percent_power_in_simulation(n, sd):
    from scipy import stats as scipy_stats

    effect = stats.minimum_detectable_effect(sd, n)
    rng = np.random.default_rng(0)
    samples = rng.normal(effect, sd, size=(200_000, n))
    t = samples.mean(axis=1) / (samples.std(axis=1, ddof=1) / np.sqrt(n))
    power = np.mean(np.abs(t) > scipy_stats.t.ppf(0.975, n - 1))
    assert power == pytest.approx(0.8, abs=0.004)
    assert stats.minimum_detectable_effect(sd, 1) is None and stats.minimum_detectable_effect(0.0, 8) == 0.0


def test_bound_reached_needs_every_value_of_both_sides_at_it():
    assert stats.bound_reached([1.0, 1.0], [1.0, 1.0], (0.0, 1.0)) == "ceiling"
    assert stats.bound_reached([0.0], [0.0, 0.0], (0.0, 1.0)) == "floor"
    assert stats.bound_reached([1.0, 1.0], [1.0, 0.995], (0.0, 1.0)) is None
    assert stats.bound_reached([0.0, 1.0], [0.0, 1.0], (0.0, 1.0)) is None


@pytest.mark.parametrize(("lo", "hi", "differences", "bound", "p", "expected"), [
    (0.1, 0.3, [0.2, 0.2], None, None, "reproduced"),
    (-0.3, -0.1, [-0.2, -0.2], None, None, "contradicted"),
    (-0.1, 0.3, [0.2, -0.1], None, None, "inconclusive"),
    (0.0, 0.0, [0.0, 0.0], "ceiling", None, "not measurable (ceiling)"),
    (0.0, 0.0, [0.0, 0.0], None, None, "no difference (equal on every seed)"),
    (None, None, [0.2], None, None, "one seed: no interval"),
    (0.1, 0.3, [0.2, 0.2], None, 0.06, "inconclusive (sign-flip p = 0.06; the interval alone says reproduced)"),
    (0.1, 0.3, [0.2, 0.2], None, 0.01, "reproduced"),
])
def test_verdicts(lo, hi, differences, bound, p, expected):
    assert stats.verdict(lo, hi, differences, bound, p) == expected
    if p is not None and p >= 0.05:
        assert "Holm-adjusted sign-flip p" in stats.verdict(lo, hi, differences, bound, p, adjusted=True)


def test_welch_interval_matches_scipy():
    from scipy import stats as scipy_stats

    a, b = [0.6, 0.7, 0.65, 0.55], [0.8, 0.75, 0.9]
    rise, lo, hi = stats.welch_interval(a, b)
    interval = scipy_stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert rise == pytest.approx(np.mean(b) - np.mean(a))
    assert (lo, hi) == pytest.approx((interval.low, interval.high))
    assert stats.welch_interval([0.5], b)[1:] == (None, None)
    assert stats.welch_interval([0.5, 0.5], [0.5, 0.5]) == (0.0, None, None)
