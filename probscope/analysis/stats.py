"""Statistics between two probability distributions, with bootstrap confidence intervals over examples.

    import probscope as ps
    tokens = ps.load_tokens("runs")
    sft, dft = (tokens.filter(method=m) for m in ("sft", "dft"))
    ps.distribution_statistics(sft, dft, labels=("sft", "dft"))   # statistic, sample, value, ci_low, ci_high
    ps.pairwise_statistics(tokens)                                  # every pair of series, a and b columns added

Statistics (scipy): Kolmogorov-Smirnov two-sample distance, Wasserstein-1 on p and on log p, the
Jensen-Shannon divergence (base 2, in [0, 1]) of the Figure-2 bin shares; per sample and as the
difference b − a: Sarle's bimodality coefficient of p (> 5/9 suggests two modes) and the polarization
(share of tokens in the lowest bin p < 1e-4 plus the highest [0.9, 1]).

Confidence intervals are percentile bootstrap intervals resampled over *examples* (the tokens of one
example are not independent): each resample draws example ids with replacement from the union of both
samples' ids and keeps all their tokens, on both sides at once (a paired design: SFT and DFT probed on
the same examples). The point values are exact (scipy on every token). So that 1,000 resamples of
millions of tokens take seconds, each resample is computed from per-example sufficient statistics:
Figure-2 bin counts and moment sums (exact), and counts on a fine grid of `grid` pooled quantiles plus
`grid` equal steps for KS and Wasserstein (approximate: KS within the largest grid cell's share of
tokens, Wasserstein within cell width times cell share). With more than 31,250 examples the grid coarsens
(to 64M / (4 · examples) per variable, at least 16) so the per-example tables stay under 256 MB a side.
Distances are never negative, so for two nearly equal distributions their resampled values sit above the
point value and the interval may not contain it: read such an interval as "indistinguishable from noise".
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from probscope import schema
from probscope.analysis import summary_tables
from probscope.checks import check_confidence, check_count, check_tokens, check_valid_p
from probscope.errors import ProbscopeError
from probscope.probe import summaries

STATISTIC = "statistic"
SAMPLE = "sample"       # "a", "b", "b − a" or "a vs b" with the labels given
VALUE = "value"
CI_LOW, CI_HIGH = "ci_low", "ci_high"
EXAMPLES = "examples"   # distinct examples resampled
DEFAULT_BOOTSTRAP = 1000
_INNER_EDGES = np.asarray(schema.BIN_EDGES[1:-1])
_LAST_BIN = len(schema.BIN_EDGES) - 2
_RESAMPLE_CELLS = 2_700_000    # resamples x examples held at once: arrays of ~20 MB, which the allocator reuses from
# one chunk to the next (arrays of 160 MB were fresh memory each chunk: ~1 s of page faults a call at 1e9 rows)
_FEATURE_CELLS = 64_000_000    # examples x grid cells per side (float32: 256 MB), the bound that sets the grid
EXACT_ROWS = 2_000_000         # from summaries: ks and Wasserstein exact from the rows up to this many tokens a pair


def distribution_statistics(
    a: pl.DataFrame | pl.LazyFrame,
    b: pl.DataFrame | pl.LazyFrame,
    *,
    labels: tuple[str, str] = ("a", "b"),
    n_boot: int = DEFAULT_BOOTSTRAP,
    confidence: float = 0.95,
    seed: int = 0,
    grid: int = 512,
) -> pl.DataFrame:
    """One row per statistic and sample: exact value and percentile bootstrap interval (n_boot resamples;
    0: point values only, NaN intervals). `grid`: cells per variable of the bootstrap's KS/Wasserstein grid."""
    check_count("n_boot", n_boot, minimum=0)
    check_confidence("confidence", confidence)
    check_count("grid", grid, minimum=16)
    samples = [_collect(frame, label) for frame, label in zip((a, b), labels, strict=False)]
    ids = pl.concat([s.select(schema.EXAMPLE_ID) for s in samples]).unique(maintain_order=True)
    index = ids.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_ix"))
    examples = index.height
    arrays = []
    for sample in samples:
        joined = sample.join(index, on=schema.EXAMPLE_ID, how="left")
        arrays.append((joined["_ix"].to_numpy(), joined[schema.P].to_numpy(), joined[schema.LOGP].to_numpy()))
    (_, pa, la), (_, pb, lb) = arrays
    # each example holds ~4·grid cells per side: with very many examples, a coarser grid bounds the memory
    grid = max(16, min(grid, _FEATURE_CELLS // (4 * examples)))
    grids = (_grid(np.concatenate([pa, pb]), grid), _grid(np.concatenate([la, lb]), grid))

    values = _exact(pa, la, pb, lb)
    boot = _bootstrap(arrays, grids, examples, n_boot, seed) if n_boot > 0 else None
    alpha = (1.0 - confidence) / 2
    a_name, b_name = labels
    rows = []
    for key, value in values.items():
        statistic, side = key
        label = {"a": a_name, "b": b_name, "diff": f"{b_name} − {a_name}", "pair": f"{a_name} vs {b_name}"}[side]
        low, high = (np.nanquantile(boot[key], [alpha, 1 - alpha]) if boot is not None else (np.nan, np.nan))
        rows.append({STATISTIC: statistic, SAMPLE: label, VALUE: float(value), CI_LOW: float(low),
                     CI_HIGH: float(high), EXAMPLES: examples})
    return pl.DataFrame(rows)


def pairwise_statistics(
    tokens: pl.DataFrame | pl.LazyFrame, *, by: Sequence[str] = (schema.METHOD,), **options
) -> pl.DataFrame:
    """`distribution_statistics` for every pair of series of `by`, with `a` and `b` columns; series in
    schema.METHOD_ORDER (so a is Base or SFT before DFT and differences read 'dft − sft')."""
    by = list(by)
    groups = summary_tables.example_tables(tokens, by)
    if groups is not None:
        return _pairwise_from_summaries(groups, by, **options)
    keys = tokens.lazy().select(by).unique().collect().rows(named=True)
    keys.sort(key=lambda key: (_method_rank(key.get(schema.METHOD)), *map(str, key.values())))
    tables = []
    for key_a, key_b in itertools.combinations(keys, 2):
        names = [" · ".join(str(v) for v in key.values()) for key in (key_a, key_b)]
        table = distribution_statistics(tokens.filter(**key_a), tokens.filter(**key_b), labels=(names[0], names[1]),
                                        **options)
        tables.append(table.select(pl.lit(names[0]).alias("a"), pl.lit(names[1]).alias("b"), pl.all()))
    return pl.concat(tables) if tables else pl.DataFrame()


# ---- exact values ------------------------------------------------------------------------------------
def bimodality_coefficient(x: np.ndarray) -> float:
    """Sarle's bimodality coefficient (g² + 1) / (k + 3(n−1)²/((n−2)(n−3))), bias-corrected skewness g
    and excess kurtosis k; in (0, 1], 5/9 for a uniform distribution."""
    from scipy import stats

    n = len(x)
    g, k = stats.skew(x, bias=False), stats.kurtosis(x, fisher=True, bias=False)
    return float((g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def polarization(p: np.ndarray) -> float:
    """Share of tokens in the lowest (p < 1e-4) plus the highest ([0.9, 1]) Figure-2 bin."""
    index = _figure2_bins(p)
    return float(np.mean((index == 0) | (index == _LAST_BIN)))


def _exact(pa, la, pb, lb) -> dict[tuple[str, str], float]:
    from scipy import spatial, stats

    counts = [np.bincount(_figure2_bins(p), minlength=_LAST_BIN + 1) for p in (pa, pb)]
    values = {
        ("ks", "pair"): stats.ks_2samp(pa, pb).statistic,
        ("wasserstein_p", "pair"): stats.wasserstein_distance(pa, pb),
        ("wasserstein_logp", "pair"): stats.wasserstein_distance(la, lb),
        ("js_divergence", "pair"): spatial.distance.jensenshannon(counts[0], counts[1], base=2) ** 2,
    }
    for name, function in (("bimodality", bimodality_coefficient), ("polarization", polarization)):
        va, vb = function(pa), function(pb)
        values |= {(name, "a"): va, (name, "b"): vb, (name, "diff"): vb - va}
    return values


# ---- bootstrap from per-example sufficient statistics ------------------------------------------------------
def _bootstrap(arrays, grids, examples: int, n_boot: int, seed: int) -> dict[tuple[str, str], np.ndarray]:
    """Every statistic of `_exact` for each of `n_boot` example resamples (shape: n_boot)."""
    rng = np.random.default_rng(seed)
    features = [_features(ix, p, logp, grids, examples) for ix, p, logp in arrays]
    chunk = max(1, _RESAMPLE_CELLS // max(examples, 1))
    parts: list[dict] = []
    for start in range(0, n_boot, chunk):
        weights = rng.multinomial(examples, np.full(examples, 1.0 / examples), size=min(chunk, n_boot - start))
        weights32, weights64 = weights.astype(np.float32), weights.astype(np.float64)   # cast once for both sides
        sums_a, sums_b = (np.hstack([_count_sums(weights32, counts), weights64 @ moments])
                          for counts, moments in features)
        parts.append(_statistics(sums_a, sums_b, grids))
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _features(ix, p, logp, grids, examples: int) -> tuple[np.ndarray, np.ndarray]:
    """Per example (rows): fine-grid counts of p, of log p and Figure-2 bin counts; and n, Σp, Σp², Σp³, Σp⁴."""
    blocks = [_cell(p, grids[0]), _cell(logp, grids[1]), _figure2_bins(p)]
    sizes = [len(grids[0]) - 1, len(grids[1]) - 1, _LAST_BIN + 1]
    width = sum(sizes)
    offsets = np.cumsum([0, *sizes[:-1]])
    flat = np.concatenate([ix * width + offset + cells for cells, offset in zip(blocks, offsets, strict=False)])
    counts = np.bincount(flat, minlength=examples * width).reshape(examples, width).astype(np.float32)
    moments = np.stack([np.bincount(ix, weights=p**power, minlength=examples) for power in range(5)], axis=1)
    return counts, moments


def _statistics(sums_a: np.ndarray, sums_b: np.ndarray, grids) -> dict[tuple[str, str], np.ndarray]:
    """The statistics of resamples from their summed features (one row per resample)."""
    size_p, size_l = len(grids[0]) - 1, len(grids[1]) - 1
    split = np.cumsum([size_p, size_l, _LAST_BIN + 1])
    a, b = (np.split(s, split, axis=1) for s in (sums_a, sums_b))
    out = {}
    cdf_gap_p = _cdf(a[0]) - _cdf(b[0])
    cdf_gap_l = _cdf(a[1]) - _cdf(b[1])
    out[("ks", "pair")] = np.abs(cdf_gap_p).max(axis=1)
    out[("wasserstein_p", "pair")] = _area(cdf_gap_p, grids[0])
    out[("wasserstein_logp", "pair")] = _area(cdf_gap_l, grids[1])
    out[("js_divergence", "pair")] = _js_divergence(a[2], b[2])
    for name, function in (("bimodality", _bimodality_from_moments), ("polarization", _polarization_from_bins)):
        va, vb = function(a), function(b)
        out |= {(name, "a"): va, (name, "b"): vb, (name, "diff"): vb - va}
    return out


def _cdf(counts: np.ndarray) -> np.ndarray:
    """Share of tokens below each grid edge (first edge 0, last 1), per row."""
    cumulative = np.cumsum(counts, axis=1)
    total = cumulative[:, -1:]
    return np.concatenate([np.zeros_like(total), cumulative], axis=1) / np.where(total > 0, total, np.nan)


def _area(gap: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """∫|F_a − F_b| by the trapezoid rule on the grid: Wasserstein-1 of the binned samples."""
    return (np.diff(edges) * (np.abs(gap[:, :-1]) + np.abs(gap[:, 1:])) / 2).sum(axis=1)


def js_divergence(counts_a: np.ndarray, counts_b: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (base 2) between the rows of two count matrices, normalised per row."""
    return _js_divergence(np.atleast_2d(counts_a), np.atleast_2d(counts_b))


def _js_divergence(counts_a: np.ndarray, counts_b: np.ndarray) -> np.ndarray:
    pa = counts_a / counts_a.sum(axis=1, keepdims=True)
    pb = counts_b / counts_b.sum(axis=1, keepdims=True)
    mid = (pa + pb) / 2

    def kl(p, q):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(p > 0, p * np.log2(p / q), 0.0).sum(axis=1)

    return (kl(pa, mid) + kl(pb, mid)) / 2


def _bimodality_from_moments(blocks) -> np.ndarray:
    n, s1, s2, s3, s4 = blocks[3].T
    mean = s1 / n
    m2 = s2 / n - mean**2
    m3 = s3 / n - 3 * mean * s2 / n + 2 * mean**3
    m4 = s4 / n - 4 * mean * s3 / n + 6 * mean**2 * s2 / n - 3 * mean**4
    g = m3 / m2**1.5 * np.sqrt(n * (n - 1)) / (n - 2)
    k = ((n + 1) * (m4 / m2**2 - 3) + 6) * (n - 1) / ((n - 2) * (n - 3))
    return (g**2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))


def _polarization_from_bins(blocks) -> np.ndarray:
    bins = blocks[2]
    return (bins[:, 0] + bins[:, -1]) / bins.sum(axis=1)


# ---- from the probe directories' per-example summaries ---------------------------------------------------
def _pairwise_from_summaries(groups: dict[tuple, list], by: list[str], *, n_boot: int = DEFAULT_BOOTSTRAP,
                             confidence: float = 0.95, seed: int = 0, grid: int = 512) -> pl.DataFrame:
    """pairwise_statistics from summary-examples.parquet (probscope.probe.summaries): per series, each example's
    Figure-2 bin counts, moment sums and counts on the fixed log-p grid. Point values are exact for js_divergence,
    bimodality and polarization, and for ks and the Wasserstein distances too while both samples hold at most
    EXACT_ROWS tokens (their rows are read); above that they come from the fixed grid (KS within the largest
    grid cell's share, Wasserstein within cell width times share). `grid` only applies to the rows' path.
    Each series is resampled once per set of example ids: pairs over the same examples share the draws."""
    check_count("n_boot", n_boot, minimum=0)
    check_confidence("confidence", confidence)
    check_count("grid", grid, minimum=16)
    keys = sorted(groups, key=lambda key: (_method_rank(key[by.index(schema.METHOD)] if schema.METHOD in by else None),
                                           *map(str, key)))
    series = _example_codes({key: _example_sums(groups[key]) for key in keys})
    names = {key: " · ".join(map(str, key)) for key in keys}
    pairs = list(itertools.combinations(keys, 2))
    totals = {key: features.sum(0, keepdims=True) for key, (_, features) in series.items()}   # once per series
    boots = _shared_bootstrap(series, pairs, n_boot, seed) if n_boot > 0 else {}
    rows_of = functools.cache(lambda key: tuple(np.sort(_rows(groups[key], column))
                                                for column in (schema.P, schema.LOGP)))
    alpha = (1.0 - confidence) / 2
    tables = []
    for key_a, key_b in pairs:
        ids_a, ids_b = series[key_a][0], series[key_b][0]
        values = _summary_point_values(totals[key_a], totals[key_b],
                                       functools.partial(_pair_rows, rows_of, key_a, key_b))
        boot = boots.get((key_a, key_b))
        examples = len(_union(ids_a, ids_b))
        rows = []
        for (statistic, side), value in values.items():
            label = {"a": names[key_a], "b": names[key_b], "diff": f"{names[key_b]} − {names[key_a]}",
                     "pair": f"{names[key_a]} vs {names[key_b]}"}[side]
            low, high = np.nanquantile(boot[(statistic, side)], [alpha, 1 - alpha]) if boot else (np.nan, np.nan)
            rows.append({STATISTIC: statistic, SAMPLE: label, VALUE: float(value), CI_LOW: float(low),
                         CI_HIGH: float(high), EXAMPLES: examples})
        tables.append(pl.DataFrame(rows).select(pl.lit(names[key_a]).alias("a"), pl.lit(names[key_b]).alias("b"),
                                                pl.all()))
    return pl.concat(tables) if tables else pl.DataFrame()


def _example_sums(probe_dirs: list) -> tuple[pl.Series, np.ndarray]:
    """Sorted example ids of a series and, per example, its features summed over the series' directories:
    grid counts, Figure-2 bin counts, then count and Σp..Σp⁴ (the layout `_statistics` reads)."""
    columns = (schema.EXAMPLE_ID, summaries.GRID, summaries.BINS, summaries.COUNT, *summaries.MOMENTS)
    frame = pl.concat([summaries.read_summary(d, "examples", lazy=True).select(columns) for d in probe_dirs]).collect()
    ids = frame[schema.EXAMPLE_ID].unique().sort()
    ix = (frame[schema.EXAMPLE_ID].rank("dense") - 1).to_numpy()   # rows' places among the sorted ids
    features = np.hstack([frame[summaries.GRID].to_numpy(), frame[summaries.BINS].to_numpy(),
                          frame.select(summaries.COUNT, *summaries.MOMENTS).to_numpy()], dtype=np.float64)
    if len(ids) == len(ix):   # one directory, or series whose directories hold other examples
        summed = np.empty_like(features)
        summed[ix] = features
    else:
        summed = np.zeros((len(ids), features.shape[1]))
        np.add.at(summed, ix, features)
    return ids, summed


def _split_features(sums: np.ndarray) -> list[np.ndarray]:
    """Summed features -> the blocks `_statistics` reads: p-grid and log-p-grid counts (the same cells: p is
    exp of log p), Figure-2 bins, moments."""
    cells = len(summaries.GRID_LOGP_EDGES) - 1
    grid, bins, moments = np.split(sums, [cells, cells + _LAST_BIN + 1], axis=1)
    return [grid, grid, bins, moments]


def _summary_grids() -> tuple[np.ndarray, np.ndarray]:
    return np.exp(summaries.GRID_LOGP_EDGES), summaries.GRID_LOGP_EDGES


def _from_features(a: np.ndarray, b: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """`_statistics` of summed feature rows of a and b."""
    grids = _summary_grids()
    blocks = [_split_features(x) for x in (a, b)]
    return _statistics(np.hstack(blocks[0]), np.hstack(blocks[1]), grids)


def _pair_rows(rows_of: Callable[[tuple], tuple], key_a: tuple, key_b: tuple) -> tuple:
    """The sorted (p, log p) rows of series `key_a`, then of `key_b` (read only when an exact statistic needs them)."""
    return (*rows_of(key_a), *rows_of(key_b))


def _summary_point_values(a: np.ndarray, b: np.ndarray, rows: Callable[[], tuple]) -> dict[tuple[str, str], float]:
    """Point values from each series' features summed over its examples (one row each); ks and Wasserstein from
    `rows()` (p, log p of a, then of b) while the pair holds at most EXACT_ROWS tokens."""
    totals = {key: float(value[0]) for key, value in _from_features(a, b).items()}
    if a[0, -5] + b[0, -5] <= EXACT_ROWS:   # column -5: the token count
        pa, la, pb, lb = rows()
        gap_p, gap_l = _cdf_gaps(pa, pb), _cdf_gaps(la, lb)
        totals |= {("ks", "pair"): float(np.abs(gap_p[0]).max()), ("wasserstein_p", "pair"): _w1(*gap_p),
                   ("wasserstein_logp", "pair"): _w1(*gap_l)}
    return totals


def _cdf_gaps(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F_a − F_b at every value of the two sorted samples (the empirical CDFs' steps), and the widths from each
    value to the next: KS is the largest |gap|, Wasserstein-1 the gaps' area."""
    values = np.concatenate([a, b])
    values.sort(kind="mergesort")
    gap = np.searchsorted(a, values, side="right") / len(a) - np.searchsorted(b, values, side="right") / len(b)
    return gap, np.diff(values)


def _w1(gap: np.ndarray, widths: np.ndarray) -> float:
    return float(np.abs(gap[:-1]) @ widths)


def _rows(probe_dirs: list, column: str) -> np.ndarray:
    from probscope.probe.table import scan_probe_table

    return pl.concat([scan_probe_table(d).select(column) for d in probe_dirs]).collect()[column].to_numpy()


def _example_codes(series: dict[tuple, tuple[pl.Series, np.ndarray]]) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """Each series' example ids as their places among all series' sorted ids (integers: unions, comparisons and
    alignment in numpy at integer speed, in the ids' order)."""
    universe = pl.concat([ids for ids, _ in series.values()]).unique().sort()
    return {key: (universe.search_sorted(ids).to_numpy().astype(np.int64), features)
            for key, (ids, features) in series.items()}


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted union of two sorted example codes; `a` itself when they are the same (the paired design)."""
    return a if np.array_equal(a, b) else np.union1d(a, b)


def _shared_bootstrap(series: dict, pairs: list, n_boot: int, seed: int) -> dict:
    """(key_a, key_b) -> `_statistics` of each resample. Resamples draw examples uniformly with replacement from
    the pair's example ids (seeded by `seed`), so every pair over the same ids uses the same draws and each series
    is resampled once per id set."""
    by_ids: dict[bytes, list] = {}
    for pair in pairs:
        ids = _union(series[pair[0]][0], series[pair[1]][0])
        by_ids.setdefault(ids.tobytes(), [ids, []])[1].append(pair)
    out = {}
    for ids, id_pairs in by_ids.values():
        members = dict.fromkeys(key for pair in id_pairs for key in pair)
        sums = _resampled_sums({key: _align(series[key], ids) for key in members}, n_boot, seed)
        for key_a, key_b in id_pairs:
            out[(key_a, key_b)] = _from_features(sums[key_a], sums[key_b])
    return out


def _align(series: tuple[np.ndarray, np.ndarray], ids: np.ndarray) -> np.ndarray:
    """A series' per-example features on the rows of `ids` (zeros for an example it lacks)."""
    own_ids, features = series
    if len(own_ids) == len(ids):   # own ids are among `ids`: the same ids
        return features
    aligned = np.zeros((len(ids), features.shape[1]))
    aligned[np.searchsorted(ids, own_ids)] = features
    return aligned


def _resampled_sums(features: dict[tuple, np.ndarray], n_boot: int, seed: int) -> dict[tuple, np.ndarray]:
    """Per series, each resample's summed features (rows: resamples), every series drawn with the same example
    weights: the count columns of all series cast to float32 once and summed in one matrix product per chunk of
    resamples, their moment columns likewise in float64 (one pass over the weights instead of one per series)."""
    keys = list(features)
    examples = len(features[keys[0]])
    counts = np.hstack([features[key][:, :-5] for key in keys], dtype=np.float32)
    moments = np.hstack([features[key][:, -5:] for key in keys])
    width = counts.shape[1] // len(keys)
    rng = np.random.default_rng(seed)
    chunk = max(1, _RESAMPLE_CELLS // max(examples, 1))
    parts: dict[tuple, list] = {key: [] for key in keys}
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, examples, size=(size, examples))
        draws += np.arange(size)[:, None] * examples   # each resample's draws counted in its own row
        weights = np.bincount(draws.ravel(), minlength=size * examples).reshape(size, examples)
        summed_counts = _count_sums(weights.astype(np.float32), counts)
        summed_moments = weights.astype(np.float64) @ moments
        for i, key in enumerate(keys):
            parts[key].append(np.hstack([summed_counts[:, i * width:(i + 1) * width],
                                         summed_moments[:, 5 * i:5 * (i + 1)]]))
    return {key: np.vstack(parts[key]) for key in keys}


def _count_sums(weights: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """weights @ counts of two float32 matrices of non-negative integers, exactly, as float64. In float32 (twice
    as fast): when every sum is below 2^24, so is every partial sum, and each step is exact; a sum at or above
    2^24 comes out at or above it (rounding is monotone), and then the product is taken again in float64."""
    summed = weights @ counts
    if summed.size and summed.max() >= 2**24:
        return weights.astype(np.float64) @ counts.astype(np.float64)
    return summed.astype(np.float64)


# ---- helpers -------------------------------------------------------------------------------------------
def _method_rank(method: str | None) -> int:
    return schema.METHOD_ORDER.index(method) if method in schema.METHOD_ORDER else len(schema.METHOD_ORDER)


def _collect(frame: pl.DataFrame | pl.LazyFrame, label: str) -> pl.DataFrame:
    frame = check_tokens(f"sample '{label}'", frame, [schema.EXAMPLE_ID, schema.P, schema.LOGP])
    check_valid_p(f"sample '{label}'", frame)
    sample = frame.lazy().select(schema.EXAMPLE_ID, schema.P, schema.LOGP).collect()
    if sample.height < 4:   # skewness and kurtosis need four values
        raise ProbscopeError(f"statistics: sample '{label}' has {sample.height} token(s); need at least 4")
    return sample


def _grid(values: np.ndarray, size: int) -> np.ndarray:
    """Cell edges: `size` quantiles of the pooled values plus `size` equal steps, the last edge just above the max."""
    low, high = values.min(), values.max()
    edges = np.unique(np.concatenate([np.quantile(values, np.linspace(0, 1, size)), np.linspace(low, high, size)]))
    if len(edges) > 1:
        return np.append(edges[:-1], np.nextafter(high, np.inf))
    return np.array([low, np.nextafter(low, np.inf)])


def _cell(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def _figure2_bins(p: np.ndarray) -> np.ndarray:
    """Figure-2 bin of each p, as schema.bin_index (left-closed bins, p rounding above 1 on top)."""
    return np.searchsorted(_INNER_EDGES, p, side="right")
