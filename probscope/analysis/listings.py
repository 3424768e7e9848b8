"""Which tokens sit in the lowest probability bin, and whether they are connectives and punctuation.

    import probscope as ps
    tokens = ps.load_tokens("runs")
    ps.lowest_bin_tokens(tokens, top=20)          # token, role, count, share, rank per method
    ps.lowest_bin_tokens(tokens, lower=0.9, upper=None)   # the upper tail instead: p >= 0.9
    ps.role_shares(tokens)                        # per method and role: share of low-p vs all tokens
    ps.stylistic_shares(ps.role_shares(tokens))   # per method: connectives + punctuation, low-p vs all

The paper reads its Figure 2 as: the tokens a fine-tuned model leaves at p < 1e-4 are mostly
conjunctions and punctuation. `role_shares` puts a number on it: a role whose share among low-p
tokens exceeds its share among all tokens (enrichment > 1) is over-represented in the lowest bin.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from probscope import schema
from probscope.analysis import summary_tables
from probscope.analysis.histograms import COUNT
from probscope.checks import check_count, check_number, check_probability, check_tokens
from probscope.errors import ProbscopeError

LOWEST_BIN_UPPER = schema.BIN_EDGES[1]   # the paper's lowest bin: p < 1e-4

# columns of the listing
SHARE = "share"          # count / tokens of the group in [lower, upper)
RANK = "rank"            # 1 = most frequent low-p token of the group

# columns of the role table
STYLISTIC = "stylistic"        # role is in schema.STYLISTIC_ROLES
LOW_COUNT = "low_count"        # tokens of this role below `upper`
LOW_SHARE = "low_share"        # low_count / all tokens of the group below `upper` (null if none)
ALL_COUNT = "all_count"        # tokens of this role
ALL_SHARE = "all_share"        # all_count / all tokens of the group
ENRICHMENT = "enrichment"      # low_share / all_share
_ROLE_TABLE_COLUMNS = (schema.ROLE, STYLISTIC, LOW_COUNT, LOW_SHARE, ALL_COUNT, ALL_SHARE, ENRICHMENT)


def lowest_bin_tokens(
    tokens: pl.DataFrame | pl.LazyFrame,
    *,
    upper: float | None = LOWEST_BIN_UPPER,
    by: Sequence[str] = (schema.METHOD,),
    top: int | None = None,
    lower: float | None = None,
) -> pl.DataFrame:
    """Tokens with `lower` <= p < `upper`, counted per group of `by` and (token id, token, role), most frequent
    first. `upper=None`: no upper bound (with `lower`, the upper tail p >= lower, p = 1 included);
    `lower=None`: no lower bound (the default: the lowest bin, p < 1e-4).

    `share` is the token's fraction of the group's tokens in the range; `top` keeps the first n per group.
    Ties in count are ordered by token string, so the listing is deterministic.
    """
    check_probability("upper", upper, optional=True)
    check_number("lower", lower, low=0.0, high=1.0, optional=True)
    check_count("top", top, optional=True)
    if lower is not None and upper is not None and lower >= upper:
        raise ProbscopeError(f"lower={lower!r} >= upper={upper!r}: no p lies in [lower, upper); "
                             "pass lower < upper (upper=None for the tail p >= lower)")
    by = list(by)
    tokens = check_tokens("tokens", tokens, [*by, schema.P, schema.TOKEN_ID, schema.TOKEN, schema.ROLE])
    cells = summary_tables.cell_table(tokens, [*by, schema.TOKEN], within=(lower, upper))
    if cells is not None:
        counted = (cells.group_by(*by, schema.TOKEN_ID, schema.TOKEN, schema.ROLE).agg(pl.col(COUNT).sum()))
    else:
        rows = tokens.lazy()
        if upper is not None:
            rows = rows.filter(pl.col(schema.P) < upper)
        if lower is not None:
            rows = rows.filter(pl.col(schema.P) >= lower)
        counted = (rows.group_by(*by, schema.TOKEN_ID, schema.TOKEN, schema.ROLE)
                   .agg(pl.len().cast(pl.Int64).alias(COUNT)))
    listing = (
        counted
        .sort(*by, COUNT, schema.TOKEN, schema.TOKEN_ID, descending=[False] * len(by) + [True, False, False],
              nulls_last=True)
        .with_columns(
            (pl.col(COUNT) / _per_group(pl.col(COUNT).sum(), by)).alias(SHARE),
            _per_group(pl.int_range(1, pl.len() + 1, dtype=pl.Int64), by).alias(RANK),
        )
    )
    if top is not None:
        listing = listing.filter(pl.col(RANK) <= top)
    return listing.select(*by, RANK, schema.TOKEN, schema.ROLE, COUNT, SHARE, schema.TOKEN_ID).collect()


def role_shares(
    tokens: pl.DataFrame | pl.LazyFrame,
    *,
    upper: float = LOWEST_BIN_UPPER,
    by: Sequence[str] = (schema.METHOD,),
) -> pl.DataFrame:
    """Per group and role: share of the group's low-p tokens (p < `upper`) against share of all its tokens."""
    check_probability("upper", upper)
    by = list(by)
    low_total = _per_group(pl.col(LOW_COUNT).sum(), by)
    cells = summary_tables.cell_table(tokens, [*by, schema.ROLE], thresholds=(upper,))
    counted = (
        cells.group_by(*by, schema.ROLE).agg(
            pl.col(COUNT).filter(summary_tables.in_range(None, upper)).sum().alias(LOW_COUNT),
            pl.col(COUNT).sum().alias(ALL_COUNT))
        if cells is not None else
        tokens.lazy()
        .group_by(*by, schema.ROLE)
        .agg(
            (pl.col(schema.P) < upper).sum().cast(pl.Int64).alias(LOW_COUNT),
            pl.len().cast(pl.Int64).alias(ALL_COUNT),
        )
    )
    return (
        counted
        .with_columns(
            pl.when(low_total > 0).then(pl.col(LOW_COUNT) / low_total).alias(LOW_SHARE),
            (pl.col(ALL_COUNT) / _per_group(pl.col(ALL_COUNT).sum(), by)).alias(ALL_SHARE),
            pl.col(schema.ROLE).is_in(schema.STYLISTIC_ROLES).fill_null(False).alias(STYLISTIC),
        )
        .with_columns((pl.col(LOW_SHARE) / pl.col(ALL_SHARE)).alias(ENRICHMENT))
        .sort(*by, LOW_COUNT, schema.ROLE, descending=[False] * len(by) + [True, False], nulls_last=True)
        .select(*by, schema.ROLE, STYLISTIC, LOW_COUNT, LOW_SHARE, ALL_COUNT, ALL_SHARE, ENRICHMENT)
        .collect()
    )


def stylistic_shares(shares: pl.DataFrame) -> pl.DataFrame:
    """From a `role_shares` table, per group: share of stylistic roles among low-p tokens and among all.

    The paper's reading holds for a group when low_share clearly exceeds all_share (enrichment > 1).
    low_share is null for a group with no low-p token.
    """
    by = [column for column in shares.columns if column not in _ROLE_TABLE_COLUMNS]
    stylistic = pl.col(STYLISTIC).cast(pl.Int64)
    low_total, all_total = pl.col(LOW_COUNT).sum(), pl.col(ALL_COUNT).sum()
    totals = [
        (stylistic * pl.col(LOW_COUNT)).sum().alias(LOW_COUNT),
        pl.when(low_total > 0).then((stylistic * pl.col(LOW_COUNT)).sum() / low_total).alias(LOW_SHARE),
        (stylistic * pl.col(ALL_COUNT)).sum().alias(ALL_COUNT),
        ((stylistic * pl.col(ALL_COUNT)).sum() / all_total).alias(ALL_SHARE),
    ]
    return (
        (shares.group_by(by).agg(totals) if by else shares.select(totals))
        .with_columns((pl.col(LOW_SHARE) / pl.col(ALL_SHARE)).alias(ENRICHMENT))
        .sort(by)
    )


def _per_group(expr: pl.Expr, by: list[str]) -> pl.Expr:
    """`expr` evaluated within each group of `by` (over the whole frame when `by` is empty)."""
    return expr.over(by) if by else expr
