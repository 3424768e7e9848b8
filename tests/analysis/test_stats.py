"""Statistics between two distributions, checked against independent numpy computations, and the
bootstrap over examples against a direct (slow) resampling of the tokens.

    .venv/bin/pytest tests/analysis/test_stats.py -q
"""

import numpy as np
import polars as pl
import pytest
from scipy import stats as scipy_stats

import probscope as ps
from probscope import schema
from probscope.analysis.stats import bimodality_coefficient, js_divergence
from probscope.errors import ProbscopeError

EXAMPLES, PER_EXAMPLE = 30, 12


def sample(rng, a: float, b: float, low: float, examples: int = EXAMPLES,
           per_example: int = PER_EXAMPLE) -> pl.DataFrame:
    """Tokens of `examples` examples; each example has its own level (so its tokens are correlated)."""
    ids = np.repeat(np.arange(examples), per_example)
    level = rng.beta(a, b, examples)[ids]
    p = np.clip(level + rng.normal(0, 0.05, len(ids)), 1e-9, 1.0)
    p = np.where(rng.random(len(ids)) < low, 10 ** rng.uniform(-7, -4.5, len(ids)), p)
    return pl.DataFrame({schema.EXAMPLE_ID: [f"ex{i}" for i in ids], schema.P: p, schema.LOGP: np.log(p)})


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(1)
    return sample(rng, 4, 1, 0.02), sample(rng, 12, 0.6, 0.15)


# ---- independent references --------------------------------------------------------------------------------
def ks_reference(x, y):
    points = np.concatenate([x, y])
    cdf = lambda v: np.searchsorted(np.sort(v), points, side="right") / len(v)   # noqa: E731
    return np.abs(cdf(x) - cdf(y)).max()


def wasserstein_reference(x, y):
    """∫|F_x − F_y| over the merged sample points (exact for empirical distributions)."""
    points = np.sort(np.concatenate([x, y]))
    cdf = lambda v: np.searchsorted(np.sort(v), points[:-1], side="right") / len(v)   # noqa: E731
    return np.sum(np.abs(cdf(x) - cdf(y)) * np.diff(points))


def figure2_counts(p):
    edges = np.asarray(schema.BIN_EDGES)
    return np.array([np.sum((p >= lo) & ((p < hi) if hi < 1 else (p <= hi)))
                     for lo, hi in zip(edges[:-1], edges[1:], strict=False)])


def js_reference(ca, cb):
    pa, pb = ca / ca.sum(), cb / cb.sum()
    m = (pa + pb) / 2
    kl = lambda p, q: sum(pi * np.log2(pi / qi) for pi, qi in zip(p, q, strict=False) if pi > 0)   # noqa: E731
    return 0.5 * kl(pa, m) + 0.5 * kl(pb, m)


def bimodality_reference(x):
    n = len(x)
    d = x - x.mean()
    m2, m3, m4 = (d**2).mean(), (d**3).mean(), (d**4).mean()
    g = m3 / m2**1.5 * np.sqrt(n * (n - 1)) / (n - 2)
    k = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * (m4 / m2**2 - 3) + 6)
    return (g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))


def polarization_reference(p):
    return np.mean((p < 1e-4) | (p >= 0.9))


def test_values_match_independent_computations(pair):
    a, b = pair
    table = ps.distribution_statistics(a, b, labels=("sft", "dft"), n_boot=0)
    value = {(s, sample): v for s, sample, v in table.select("statistic", "sample", "value").iter_rows()}
    pa, pb, la, lb = a["p"].to_numpy(), b["p"].to_numpy(), a["logp"].to_numpy(), b["logp"].to_numpy()
    assert value["ks", "sft vs dft"] == pytest.approx(ks_reference(pa, pb), abs=1e-12)
    assert value["wasserstein_p", "sft vs dft"] == pytest.approx(wasserstein_reference(pa, pb), rel=1e-9)
    assert value["wasserstein_logp", "sft vs dft"] == pytest.approx(wasserstein_reference(la, lb), rel=1e-9)
    assert value["js_divergence", "sft vs dft"] == pytest.approx(js_reference(figure2_counts(pa), figure2_counts(pb)))
    for name, reference in (("bimodality", bimodality_reference), ("polarization", polarization_reference)):
        assert value[name, "sft"] == pytest.approx(reference(pa), rel=1e-9)
        assert value[name, "dft"] == pytest.approx(reference(pb), rel=1e-9)
        assert value[name, "dft − sft"] == pytest.approx(reference(pb) - reference(pa), rel=1e-9)
    assert value["polarization", "dft"] > value["polarization", "sft"]           # the DFT-like sample polarizes
    assert table["ci_low"].is_nan().all()                                          # no resamples, no interval


def test_helpers_agree_with_scipy_and_known_values():
    uniform = np.linspace(0, 1, 100_001)
    assert bimodality_coefficient(uniform) == pytest.approx(5 / 9, abs=1e-3)     # the classic threshold
    two_modes = np.r_[np.zeros(500), np.ones(500)]
    assert bimodality_coefficient(two_modes) > 0.99
    ca, cb = np.array([5, 0, 3, 2]), np.array([1, 4, 4, 1])
    assert js_divergence(ca, cb)[0] == pytest.approx(js_reference(ca, cb))
    from scipy.spatial.distance import jensenshannon
    assert js_divergence(ca, cb)[0] == pytest.approx(jensenshannon(ca, cb, base=2) ** 2)


def naive_bootstrap(a, b, n_boot, seed, confidence=0.95):
    """Resample examples exactly as distribution_statistics documents, then compute each statistic with
    scipy on the resampled tokens themselves (no sufficient statistics, no grid)."""
    ids = pl.concat([a.select(schema.EXAMPLE_ID), b.select(schema.EXAMPLE_ID)]).unique(maintain_order=True)
    ids = ids[schema.EXAMPLE_ID].to_list()
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=n_boot)
    groups = [{i: g for (i,), g in frame.group_by(schema.EXAMPLE_ID)} for frame in (a, b)]

    def resample(side, w):
        parts = [groups[side][i] for i, k in zip(ids, w, strict=False) for _ in range(k) if i in groups[side]]
        frame = pl.concat(parts)
        return frame["p"].to_numpy(), frame["logp"].to_numpy()

    values = {key: [] for key in ("ks", "wasserstein_p", "wasserstein_logp", "js", "bc_a", "pol_diff")}
    for w in weights:
        (pa, la), (pb, lb) = resample(0, w), resample(1, w)
        values["ks"].append(scipy_stats.ks_2samp(pa, pb).statistic)
        values["wasserstein_p"].append(scipy_stats.wasserstein_distance(pa, pb))
        values["wasserstein_logp"].append(scipy_stats.wasserstein_distance(la, lb))
        values["js"].append(js_reference(figure2_counts(pa), figure2_counts(pb)))
        values["bc_a"].append(bimodality_reference(pa))
        values["pol_diff"].append(polarization_reference(pb) - polarization_reference(pa))
    alpha = (1 - confidence) / 2
    return {key: np.quantile(v, [alpha, 1 - alpha]) for key, v in values.items()}


def test_bootstrap_interval_matches_a_direct_resampling_of_examples(pair):
    a, b = pair
    table = ps.distribution_statistics(a, b, n_boot=200, seed=7)
    ci = {(s, sample): (lo, hi)
          for s, sample, lo, hi in table.select("statistic", "sample", "ci_low", "ci_high").iter_rows()}
    direct = naive_bootstrap(a, b, 200, seed=7)
    # exact sufficient statistics: same resamples, same numbers
    assert ci["js_divergence", "a vs b"] == pytest.approx(tuple(direct["js"]), rel=1e-9)
    assert ci["bimodality", "a"] == pytest.approx(tuple(direct["bc_a"]), rel=1e-9)
    assert ci["polarization", "b − a"] == pytest.approx(tuple(direct["pol_diff"]), rel=1e-9)
    # grid approximations: within a cell's share of tokens (KS) or a small fraction of the distance (W1)
    assert ci["ks", "a vs b"] == pytest.approx(tuple(direct["ks"]), abs=0.01)
    assert ci["wasserstein_p", "a vs b"] == pytest.approx(tuple(direct["wasserstein_p"]), rel=0.02)
    assert ci["wasserstein_logp", "a vs b"] == pytest.approx(tuple(direct["wasserstein_logp"]), rel=0.02)
    for row in table.iter_rows(named=True):
        assert row["ci_low"] <= row["value"] + 0.01 and row["value"] - 0.01 <= row["ci_high"], row


def test_resampling_examples_widens_the_interval_of_correlated_tokens(pair):
    """Tokens of one example share a level: treating every token as its own example understates the spread."""
    a, b = pair
    by_token = [frame.with_columns(pl.int_range(pl.len()).cast(pl.String).alias(schema.EXAMPLE_ID)) for frame in pair]
    width = lambda table: table.filter(statistic="wasserstein_p").select(pl.col("ci_high") - pl.col("ci_low")).item()  # noqa: E731
    by_example = width(ps.distribution_statistics(a, b, n_boot=300))
    assert by_example > 1.5 * width(ps.distribution_statistics(*by_token, n_boot=300))


def test_pairwise_statistics_orders_methods_and_refuses_tiny_samples(pair):
    a, b = pair
    tokens = pl.concat([a.with_columns(method=pl.lit("dft")), b.with_columns(method=pl.lit("sft"))])
    table = ps.pairwise_statistics(tokens, n_boot=20)
    assert table.select("a", "b").unique().rows() == [("sft", "dft")]          # METHOD_ORDER, not alphabetical
    with pytest.raises(ProbscopeError, match="sample 'b' has 3 token\\(s\\); need at least 4"):
        ps.distribution_statistics(a, b.head(3))


# ---- the bootstrap's matrix products -----------------------------------------------------------------------
def test_count_sums_are_exact_in_float32_and_above_2_to_the_24():
    """Integer sums from float32 products while every sum stays below 2^24; past it (where float32 would round)
    the float64 product: equal to the int64 product either way."""
    from probscope.analysis.stats import _count_sums

    rng = np.random.default_rng(3)
    weights = rng.integers(0, 5, size=(40, 300))
    for top in (1_000, 3_000_000):   # sums near 1.5e5, then near 4.5e8 (not all representable in float32)
        counts = rng.integers(0, top, size=(300, 7))
        summed = _count_sums(weights.astype(np.float32), counts.astype(np.float32))
        assert summed.dtype == np.float64
        np.testing.assert_array_equal(summed, (weights @ counts).astype(np.float64))
    assert (weights @ counts).max() > 2**24


def test_resampled_sums_match_each_series_resampled_alone(monkeypatch):
    """Every series' summed features per resample, from the shared products in chunks, against drawing the same
    example ids at once and summing each series' rows directly."""
    from probscope.analysis import stats

    monkeypatch.setattr(stats, "_RESAMPLE_CELLS", 7 * 50)   # chunks of 7 resamples: the draws continue across them
    rng = np.random.default_rng(4)
    examples, n_boot = 50, 30
    features = {(name,): np.hstack([rng.integers(0, 9, size=(examples, 11)).astype(np.float64),
                                    rng.random((examples, 5))]) for name in ("a", "b", "c")}
    sums = stats._resampled_sums(features, n_boot, seed=11)
    draws = np.random.default_rng(11).integers(0, examples, size=(n_boot, examples))
    for key, rows in features.items():
        direct = np.stack([rows[draw].sum(axis=0) for draw in draws])
        np.testing.assert_array_equal(sums[key][:, :-5], direct[:, :-5])
        np.testing.assert_allclose(sums[key][:, -5:], direct[:, -5:], rtol=1e-12)
