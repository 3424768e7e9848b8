"""Figure 2 split by token role: which classes of tokens fill each probability bin.

    import probscope as ps
    ps.class_histogram(ps.load_tokens("runs"))   # method, role, bin, ..., count, percent, bin_share

`percent` is the role's tokens in the bin as a percentage of all the group's tokens (the role slices of
a bin add up to Figure 2's bar); `bin_share` is the role's share of the bin (slices add up to 1), which
answers the paper's question directly: are the lowest-bin tokens connectives and punctuation?
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from probscope import schema
from probscope.analysis.histograms import BIN, COUNT, PERCENT, probability_histogram

BIN_SHARE = "bin_share"   # count / tokens of the group in this bin (null for an empty bin)


def class_histogram(tokens: pl.DataFrame | pl.LazyFrame, *, by: Sequence[str] = (schema.METHOD,)) -> pl.DataFrame:
    """`probability_histogram` per group and role, with percents of the group's tokens and shares of each bin."""
    by = list(by)
    hist = probability_histogram(tokens, by=[*by, schema.ROLE])
    group_total = pl.col(COUNT).sum().over(by) if by else pl.col(COUNT).sum()
    bin_total = pl.col(COUNT).sum().over([*by, BIN])
    return hist.with_columns(
        (100.0 * pl.col(COUNT) / group_total).alias(PERCENT),
        pl.when(bin_total > 0).then(pl.col(COUNT) / bin_total).alias(BIN_SHARE),
    )
