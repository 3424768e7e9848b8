"""Headline numbers of each series, and where the same tokens sit under two checkpoints.

    import probscope as ps
    tokens = ps.load_tokens("runs", steps="all")
    ps.distribution_summary(tokens)        # per method, run, step: tokens, mean p, NLL, entropy, top-1, tails
    a = ps.load_tokens("runs", steps={"sft": 5})
    b = ps.load_tokens("runs", steps={"sft": 10})
    ps.paired_bins(a, b)                   # Figure-2 bin under a x bin under b: count, percent

Polarization is the share of tokens in Figure 2's lowest bin (p < 1e-4) plus its highest (p >= 0.9):
DFT pushes tokens to both ends, SFT mostly to the top.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from probscope import schema
from probscope.analysis.histograms import BIN, BIN_LABEL, COUNT, PERCENT, bins
from probscope.errors import ProbscopeError

SERIES = (schema.METHOD, schema.RUN, schema.STEP)

# columns of the summary
TOKENS = "tokens"                # target tokens of the series
MEAN_P = "mean_p"
NLL = "nll"                      # mean -log p (nats)
MEAN_ENTROPY = "mean_entropy"    # mean next-token entropy (nats)
TOP1 = "top1"                    # share of tokens that are the model's most probable next token
BELOW_01 = "below_0.1"           # share with p < 0.1
ABOVE_09 = "above_0.9"           # share with p >= 0.9
POLARIZATION = "polarization"    # share in the lowest bin plus share in the highest

# columns of the paired table
BIN_A, BIN_B = "bin_a", "bin_b"                  # Figure-2 bin index under a and under b
LABEL_A, LABEL_B = "label_a", "label_b"          # their labels
PAIR_KEYS = (schema.EXAMPLE_ID, schema.POSITION)  # what makes two rows the same token


def distribution_summary(tokens: pl.DataFrame | pl.LazyFrame, *, by: Sequence[str] = SERIES) -> pl.DataFrame:
    """One row per group of `by` (default: method, run, step), sorted by it: tokens, mean_p, nll, mean_entropy,
    top1, below_0.1, above_0.9, polarization (shares are fractions in [0, 1])."""
    by = list(by)
    p = pl.col(schema.P)
    index = schema.bin_index(p)
    last_bin = len(schema.BIN_EDGES) - 2
    summary = (
        tokens.lazy().group_by(by)
        .agg(pl.len().cast(pl.Int64).alias(TOKENS), p.mean().alias(MEAN_P), (-pl.col(schema.LOGP)).mean().alias(NLL),
             pl.col(schema.ENTROPY).mean().alias(MEAN_ENTROPY), pl.col(schema.IS_TOP1).mean().alias(TOP1),
             (p < 0.1).mean().alias(BELOW_01), (p >= 0.9).mean().alias(ABOVE_09),
             ((index == 0) | (index == last_bin)).mean().alias(POLARIZATION),
             (index == schema.INVALID_BIN).sum().alias("_invalid"))
        .sort(by).collect()
    )
    _refuse_invalid(int(summary["_invalid"].sum()), "tokens")
    return summary.drop("_invalid")


def paired_bins(a: pl.DataFrame | pl.LazyFrame, b: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Tokens of `a` and `b` (one checkpoint each) matched by example and position, counted per (bin under a,
    bin under b): every pair of Figure-2 bins, zeros included, with count and percent of the matched tokens
    (percent null when nothing matched). Cells off the diagonal are tokens whose bin changed."""
    first, second = (frame.lazy().select(*PAIR_KEYS, schema.bin_index(pl.col(schema.P)).alias(column))
                     for frame, column in ((a, BIN_A), (b, BIN_B)))
    counts = (first.join(second, on=list(PAIR_KEYS))
              .group_by(BIN_A, BIN_B).agg(pl.len().cast(pl.Int64).alias(COUNT)).collect())
    _refuse_invalid(int(counts.filter((pl.col(BIN_A) == schema.INVALID_BIN) | (pl.col(BIN_B) == schema.INVALID_BIN))
                        [COUNT].sum()), "paired tokens")
    labels = bins().select(BIN, BIN_LABEL)
    grid = (labels.rename({BIN: BIN_A, BIN_LABEL: LABEL_A})
            .join(labels.rename({BIN: BIN_B, BIN_LABEL: LABEL_B}), how="cross"))
    total = counts[COUNT].sum()
    return (grid.join(counts, on=[BIN_A, BIN_B], how="left")
            .with_columns(pl.col(COUNT).fill_null(0))
            .with_columns((100.0 * pl.col(COUNT) / total if total else pl.lit(None, pl.Float64)).alias(PERCENT))
            .sort(BIN_A, BIN_B)
            .select(BIN_A, BIN_B, LABEL_A, LABEL_B, COUNT, PERCENT))


def _refuse_invalid(count: int, what: str) -> None:
    if count:
        raise ProbscopeError(f"{what}: {count} rows have p missing, NaN or outside [0, 1]; "
                             "check the probe tables that produced them")
