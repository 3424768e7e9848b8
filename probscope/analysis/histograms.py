"""Figure 2's numbers: the share of target tokens in each probability bin, per method (or any grouping).

    import probscope as ps
    hist = ps.probability_histogram(ps.load_tokens("runs"))     # bin, bin_label, lo, hi, count, percent

Bins are schema.BIN_EDGES, left-closed [lo, hi), the last one closed [0.9, 1.0], as in the paper.
Every bin appears for every group, zeros included, so groups line up bar for bar. load_tokens' own frame
is counted from the probe directories' summary tables (analysis/summary_tables.py), any other from its rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from probscope import schema
from probscope.analysis import summary_tables
from probscope.checks import check_tokens
from probscope.errors import ProbscopeError

# columns of the histogram table
BIN = "bin"              # bin index, 0 = lowest
BIN_LABEL = "bin_label"  # e.g. "[1e-4, 1e-3)"
LO = "lo"                # bin's lower edge (included)
HI = "hi"                # bin's upper edge (excluded, except 1.0)
COUNT = "count"          # tokens in the bin
PERCENT = "percent"      # 100 * count / tokens in the group


def bins() -> pl.DataFrame:
    """One row per Figure-2 bin: bin, bin_label, lo, hi."""
    edges = schema.BIN_EDGES
    return pl.DataFrame(
        {BIN: range(len(edges) - 1), BIN_LABEL: schema.BIN_LABELS, LO: edges[:-1], HI: edges[1:]},
        schema={BIN: pl.Int32, BIN_LABEL: pl.String, LO: pl.Float64, HI: pl.Float64},
    )


def probability_histogram(
    tokens: pl.DataFrame | pl.LazyFrame, by: Sequence[str] = (schema.METHOD,)
) -> pl.DataFrame:
    """Per group of `by` and per bin: count and percent of the group's tokens (sorted by group, bin)."""
    by = list(by)
    tokens = check_tokens("tokens", tokens, [*by, schema.P])
    cells = summary_tables.cell_table(tokens, by)
    counts = (
        cells.group_by(*by, summary_tables.BIN).agg(pl.col(COUNT).sum()).collect() if cells is not None else
        tokens.lazy()
        .group_by(*by, schema.bin_index(pl.col(schema.P)).alias(BIN))
        .agg(pl.len().cast(pl.Int64).alias(COUNT))
        .collect()
    )
    invalid = counts.filter(pl.col(BIN) == schema.INVALID_BIN)
    if invalid.height:
        raise ProbscopeError(
            f"tokens: {invalid[COUNT].sum()} rows have p missing, NaN or outside [0, 1] "
            f"(in {_describe_groups(invalid, by)}); check the probe tables that produced them"
        )
    groups = counts.select(by).unique() if by else pl.DataFrame()
    grid = groups.join(bins(), how="cross") if by else bins()
    total = pl.col(COUNT).sum().over(by) if by else pl.col(COUNT).sum()
    return (
        grid.join(counts, on=[*by, BIN], how="left", nulls_equal=True)
        .with_columns(pl.col(COUNT).fill_null(0))
        .with_columns((100.0 * pl.col(COUNT) / total).alias(PERCENT))
        .sort(*by, BIN, nulls_last=True)
        .select(*by, BIN, BIN_LABEL, LO, HI, COUNT, PERCENT)
    )


def _describe_groups(frame: pl.DataFrame, by: list[str]) -> str:
    if not by:
        return "all tokens"
    rows = frame.select(by).unique().head(3).rows()
    return "; ".join(", ".join(f"{col}={val}" for col, val in zip(by, row, strict=False)) for row in rows)
