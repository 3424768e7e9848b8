"""Tokens left behind: target tokens a method still gives p < 0.1 at its final step.

    import probscope as ps
    final = ps.at_last_step(ps.load_tokens("runs", steps="all", lazy=True))
    ps.left_behind_by_role(final)          # per method and role: occurrences, still below, share below
    ps.end_of_reply(final)                 # per method: the reply-ending token, replies, share with p < 0.1
    ps.left_behind_tokens(final, top=10)   # per method: the most frequent tokens still below
    ps.left_behind_table(final)            # by role, plus an "end of reply" row per method (the figure's table)

DFT weights a token's gradient by its own probability, so a token the model starts out nearly never
predicting (the end-of-turn token of a chat template on a base model, new facts, names) gets almost no
update: the model may never learn to stop. The end of a reply is its last target token (highest position
of each example), whatever the tokenizer calls it.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from probscope import schema
from probscope.analysis import summary_tables
from probscope.analysis.histograms import COUNT
from probscope.checks import check_count, check_probability, check_tokens
from probscope.probe.summaries import LAST_P, LAST_TOKEN

DEFAULT_BELOW = 0.1
OCCURRENCES = "occurrences"    # target tokens of the group
BELOW = "below"                # of which p < `below`
SHARE_BELOW = "share_below"    # below / occurrences
REPLIES = "replies"            # examples (each ends with one end-of-reply token)
END_TOKEN = "end_token"        # the most common last target token of the group's replies
TRUNCATED = "truncated"        # replies cut off before their end token (their last token is another)
RANK = "rank"
END_OF_REPLY = "end of reply"  # the role column's value of the reply-ending token's row in left_behind_table


def left_behind_by_role(
    tokens: pl.DataFrame | pl.LazyFrame, *, below: float = DEFAULT_BELOW, by: Sequence[str] = (schema.METHOD,)
) -> pl.DataFrame:
    """Per group of `by` and role: occurrences, how many have p < `below`, and that share (highest first)."""
    check_probability("below", below)
    by = list(by)
    tokens = check_tokens("tokens", tokens, [*by, schema.ROLE, schema.P])
    keys = [*by, schema.ROLE]
    return _by_role(_counted(tokens, keys, below, summary_tables.cell_table(tokens, keys, thresholds=(below,))), by)


def left_behind(
    tokens: pl.DataFrame | pl.LazyFrame, *, below: float = DEFAULT_BELOW, by: Sequence[str] = (schema.METHOD,),
    top: int | None = 10,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`left_behind_by_role` and `left_behind_tokens` from one pass over the tokens (what diagnose reports):
    the roles' counts are sums of their tokens'."""
    check_count("top", top, optional=True)
    counted = _token_counts(tokens, below, by)
    by_role = counted.group_by(*by, schema.ROLE).agg(pl.col(OCCURRENCES).sum(), pl.col(BELOW).sum())
    return _by_role(by_role, list(by)), _listing(counted, list(by), top)


def _token_counts(tokens: pl.DataFrame | pl.LazyFrame, below: float, by: Sequence[str]) -> pl.DataFrame:
    """Per group of `by` and token (id, text, role): occurrences and how many have p < `below`."""
    check_probability("below", below)
    keys = (*by, schema.TOKEN_ID, schema.TOKEN, schema.ROLE)
    tokens = check_tokens("tokens", tokens, [*keys, schema.P])
    cells = summary_tables.cell_table(tokens, keys, thresholds=(below,), filled=False)
    counted = _counted(tokens, keys, below, cells).collect()
    if cells is None:
        return counted
    # summed per token first, then roles filled on the sums (a row per token, not per cell); summed again where
    # a token's given role and its class meet
    return (summary_tables.fill_roles(counted).group_by(keys).agg(pl.col(OCCURRENCES).sum(), pl.col(BELOW).sum())
            .collect())


def _counted(tokens: pl.DataFrame | pl.LazyFrame, keys: Sequence[str], below: float,
             cells: pl.LazyFrame | None) -> pl.LazyFrame:
    """Occurrences and how many have p < `below` per group of `keys`: from the summary `cells` (cell_table's)
    when they answer, else from the rows."""
    if cells is not None:
        return cells.group_by(keys).agg(_occurrences(), _below(below))
    return tokens.lazy().group_by(keys).agg(pl.len().cast(pl.Int64).alias(OCCURRENCES),
                                            (pl.col(schema.P) < below).sum().cast(pl.Int64).alias(BELOW))


def _by_role(counted: pl.DataFrame | pl.LazyFrame, by: list[str]) -> pl.DataFrame:
    """Occurrences and tokens below per group and role -> with their share, the most left behind first."""
    return (
        counted.lazy()
        .select(*by, schema.ROLE, OCCURRENCES, BELOW, (pl.col(BELOW) / pl.col(OCCURRENCES)).alias(SHARE_BELOW))
        .sort(*by, SHARE_BELOW, schema.ROLE, descending=[False] * len(by) + [True, False], nulls_last=True)
        .collect()
    )


def end_of_reply(
    tokens: pl.DataFrame | pl.LazyFrame, *, below: float = DEFAULT_BELOW, by: Sequence[str] = (schema.METHOD,)
) -> pl.DataFrame:
    """Per group: replies, their most common last token, and the share of replies whose last token has p < `below`.

    A reply is one example of one run and step; its last target token is the one at its highest position. A
    reply whose last token is not the group's end token was cut off (max_length) before its end: it is counted
    in `truncated`, not among the replies, whose share below would otherwise mix in ordinary tokens.
    """
    check_probability("below", below)
    by = list(by)
    tokens = check_tokens("tokens", tokens, [*by, schema.RUN, schema.STEP, schema.EXAMPLE_ID, schema.POSITION,
                                             schema.TOKEN_ID, schema.TOKEN, schema.P])
    examples = summary_tables.example_frame(tokens, by)
    if examples is not None:   # each example's last token, from the summaries (its text names the token there)
        last, key = examples.rename({LAST_TOKEN: schema.TOKEN, LAST_P: schema.P}), schema.TOKEN
    else:
        last, key = (tokens.lazy()
                     .filter(pl.col(schema.POSITION) == pl.col(schema.POSITION).max()
                             .over(schema.RUN, schema.STEP, schema.EXAMPLE_ID))), schema.TOKEN_ID
    end_key = last.group_by(by).agg(pl.col(key).mode().sort().first().alias("_end_key"))
    ended = pl.col(key) == pl.col("_end_key")
    return (
        last.join(end_key, on=by, nulls_equal=True)
        .group_by(by)
        .agg(
            ended.sum().cast(pl.Int64).alias(REPLIES),
            pl.col(schema.TOKEN).filter(ended).first().alias(END_TOKEN),
            ((pl.col(schema.P) < below) & ended).sum().cast(pl.Int64).alias(BELOW),
            (~ended).sum().cast(pl.Int64).alias(TRUNCATED),
        )
        .with_columns((pl.col(BELOW) / pl.col(REPLIES)).alias(SHARE_BELOW))
        .select(*by, REPLIES, END_TOKEN, BELOW, SHARE_BELOW, TRUNCATED)
        .sort(by)
        .collect()
    )


def left_behind_table(
    tokens: pl.DataFrame | pl.LazyFrame, *, below: float = DEFAULT_BELOW, by: Sequence[str] = (schema.METHOD,)
) -> pl.DataFrame:
    """`left_behind_by_role` plus one row per group for the end of the reply (role 'end of reply')."""
    by = list(by)
    roles = left_behind_by_role(tokens, below=below, by=by)
    ends = end_of_reply(tokens, below=below, by=by).select(
        *by, pl.lit(END_OF_REPLY).alias(schema.ROLE), pl.col(REPLIES).alias(OCCURRENCES), BELOW, SHARE_BELOW)
    return pl.concat([roles, ends])


def left_behind_tokens(
    tokens: pl.DataFrame | pl.LazyFrame, *, below: float = DEFAULT_BELOW, by: Sequence[str] = (schema.METHOD,),
    top: int | None = 10,
) -> pl.DataFrame:
    """Per group: the tokens most often still below `below` (count, occurrences, share of them below)."""
    check_count("top", top, optional=True)
    return _listing(_token_counts(tokens, below, by), list(by), top)


def _listing(counted: pl.DataFrame, by: list[str], top: int | None) -> pl.DataFrame:
    """Per token counts -> the tokens with any occurrence below, most often below first (`top` per group)."""
    listing = (
        counted.lazy()
        .filter(pl.col(BELOW) > 0)
        .select(*by, schema.TOKEN_ID, schema.TOKEN, schema.ROLE, pl.col(BELOW).alias(COUNT), OCCURRENCES,
                (pl.col(BELOW) / pl.col(OCCURRENCES)).alias(SHARE_BELOW))
        .sort(*by, COUNT, schema.TOKEN, schema.TOKEN_ID, descending=[False] * len(by) + [True, False, False],
              nulls_last=True)
        .with_columns(_rank(by).alias(RANK))
    )
    if top is not None:
        listing = listing.filter(pl.col(RANK) <= top)
    return listing.select(*by, RANK, schema.TOKEN, schema.ROLE, COUNT, OCCURRENCES, SHARE_BELOW,
                          schema.TOKEN_ID).collect()


def _occurrences() -> pl.Expr:
    """Tokens of a group of summary cells."""
    return pl.col(summary_tables.COUNT).sum().alias(OCCURRENCES)


def _below(below: float) -> pl.Expr:
    """Tokens of a group of summary cells with p < `below` (a cell edge)."""
    return pl.col(summary_tables.COUNT).filter(summary_tables.in_range(None, below)).sum().alias(BELOW)


def _rank(by: list[str]) -> pl.Expr:
    """1, 2, ... within each group of `by` (over the whole frame when `by` is empty)."""
    rank = pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
    return rank.over(by) if by else rank
