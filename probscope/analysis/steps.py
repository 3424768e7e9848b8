"""How a run's probability distribution moves over training: Figure 2 at every probed step.

    import probscope as ps
    tokens = ps.load_tokens("runs", steps="all", lazy=True)
    ps.step_histograms(tokens)          # method, run, step, bin, ..., percent: one histogram per probed step
    ps.extreme_bin_shares(tokens)       # method, run, step, lowest_share, highest_share
    ps.at_last_step(tokens)             # each run's tokens at its last loaded step

The lowest bin is the paper's p < 1e-4, the highest [0.9, 1.0]: DFT's polarization shows as both
shares growing with the step, SFT's as the highest growing while the lowest shrinks.
"""

from __future__ import annotations

import polars as pl

from probscope import schema
from probscope.analysis.histograms import BIN, probability_histogram
from probscope.analysis.token_classes import Frame

TRAJECTORY = (schema.METHOD, schema.RUN, schema.STEP)   # one histogram per (run, step), method kept for colour
LOWEST_SHARE = "lowest_share"     # share of the step's tokens in the lowest bin (p < 1e-4)
HIGHEST_SHARE = "highest_share"   # share in the highest bin (p >= 0.9)
TOKENS = "tokens"                 # tokens at that step
LAST_BIN = len(schema.BIN_EDGES) - 2


def at_last_step(tokens: Frame) -> Frame:
    """The rows of each run's last step among those loaded (the 'final step' of comparisons)."""
    # Finding the last steps first (a cheap pass over two columns) and filtering on them as constants is
    # faster on large lazy tables than a window over every row.
    last = tokens.lazy().group_by(schema.RUN).agg(pl.col(schema.STEP).max()).collect()
    keep = [(pl.col(schema.RUN) == run) & (pl.col(schema.STEP) == step) for run, step in last.iter_rows()]
    return tokens.filter(pl.any_horizontal(keep)) if keep else tokens


def step_histograms(tokens: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """`probability_histogram` per (method, run, step), sorted by run, step and bin."""
    return probability_histogram(tokens, by=TRAJECTORY).sort(schema.RUN, schema.STEP, BIN)


def extreme_bin_shares(tokens: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Per (method, run, step): tokens, share in the lowest bin and share in the highest bin."""
    index = schema.bin_index(pl.col(schema.P))
    return (
        tokens.lazy()
        .group_by(TRAJECTORY)
        .agg(
            pl.len().cast(pl.Int64).alias(TOKENS),
            (index == 0).mean().alias(LOWEST_SHARE),
            (index == LAST_BIN).mean().alias(HIGHEST_SHARE),
        )
        .sort(schema.RUN, schema.STEP)
        .collect()
    )


