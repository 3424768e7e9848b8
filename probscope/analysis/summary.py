"""Headline numbers of each series, and where the same tokens sit under two checkpoints.

    import probscope as ps
    tokens = ps.load_tokens("runs", steps="all")
    ps.distribution_summary(tokens)        # per method, run, step: tokens, mean p, NLL, entropy, top-1, tails
    a = ps.load_tokens("runs", steps={"sft": 5})
    b = ps.load_tokens("runs", steps={"sft": 10})
    ps.paired_bins(a, b)                   # Figure-2 bin under a x bin under b: count, percent
    ps.token_alignment(a, b)               # paired positions, and how many hold different token ids

Polarization is the share of tokens in Figure 2's lowest bin (p < 1e-4) plus its highest (p >= 0.9):
DFT pushes tokens to both ends, SFT mostly to the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, cast

import polars as pl

from probscope import schema
from probscope.analysis import summary_tables
from probscope.analysis.histograms import BIN, BIN_LABEL, COUNT, PERCENT, bins
from probscope.checks import check_tokens
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
    cells = summary_tables.cell_table(tokens, by, thresholds=(0.1, 0.9))
    summary = _from_cells(cells, by) if cells is not None else _from_rows(tokens, by)
    _refuse_invalid(cast(int, summary["_invalid"].sum()), "tokens")
    return summary.drop("_invalid")


def _from_rows(tokens: pl.DataFrame | pl.LazyFrame, by: list[str]) -> pl.DataFrame:
    p = pl.col(schema.P)
    index = schema.bin_index(p)
    last_bin = len(schema.BIN_EDGES) - 2
    return (
        tokens.lazy().group_by(by)
        .agg(pl.len().cast(pl.Int64).alias(TOKENS), p.mean().alias(MEAN_P), (-pl.col(schema.LOGP)).mean().alias(NLL),
             pl.col(schema.ENTROPY).mean().alias(MEAN_ENTROPY), pl.col(schema.IS_TOP1).mean().alias(TOP1),
             (p < 0.1).mean().alias(BELOW_01), (p >= 0.9).mean().alias(ABOVE_09),
             ((index == 0) | (index == last_bin)).mean().alias(POLARIZATION),
             (index == schema.INVALID_BIN).sum().alias("_invalid"))
        .sort(by).collect()
    )


def _from_cells(cells: pl.LazyFrame, by: list[str]) -> pl.DataFrame:
    """The same numbers from the summaries' weighted cells (whose p edges include 0.1 and 0.9)."""
    count, index = pl.col(summary_tables.COUNT), pl.col(summary_tables.BIN)
    total = count.sum()
    last_bin = len(schema.BIN_EDGES) - 2

    def share(keep: pl.Expr) -> pl.Expr:
        return count.filter(keep).sum() / total

    return (
        cells.group_by(by)
        .agg(total.alias(TOKENS), (pl.col(summary_tables.SUM_P).sum() / total).alias(MEAN_P),
             (-pl.col(summary_tables.SUM_LOGP).sum() / total).alias(NLL),
             (pl.col(summary_tables.SUM_ENTROPY).sum() / total).cast(pl.Float32).alias(MEAN_ENTROPY),
             share(pl.col(schema.IS_TOP1)).alias(TOP1), share(pl.col(summary_tables.HI) <= 0.1).alias(BELOW_01),
             share(pl.col(summary_tables.LO) >= 0.9).alias(ABOVE_09),
             share((index == 0) | (index == last_bin)).alias(POLARIZATION), pl.lit(0).alias("_invalid"))
        .sort(by).collect()
    )


def paired_bins(a: pl.DataFrame | pl.LazyFrame, b: pl.DataFrame | pl.LazyFrame, *,
                mismatched: str = "refuse") -> pl.DataFrame:
    """Tokens of `a` and `b` (one checkpoint each) matched by example and position, counted per (bin under a,
    bin under b): every pair of Figure-2 bins, zeros included, with count and percent of the matched tokens
    (percent null when nothing matched). Cells off the diagonal are tokens whose bin changed.

    A pair is the same token only when both hold the same token id: two tokenizations of the data (e.g. a
    tokenizer re-saved by the trainer) shift positions. Pairs whose ids differ are refused (`mismatched=
    "refuse"`, a one-line error with their share) or left out (`"drop"`); token_alignment counts them."""
    if mismatched not in ("refuse", "drop"):
        raise ProbscopeError(f"mismatched={mismatched!r}: use 'refuse' or 'drop'")
    joined = _pairs(a, b)
    if mismatched == "refuse":
        _refuse_mismatched(joined)
    counts = (joined.filter(pl.col(_SAME_ID)).group_by(BIN_A, BIN_B)
              .agg(pl.len().cast(pl.Int64).alias(COUNT)).collect())
    invalid = counts.filter((pl.col(BIN_A) == schema.INVALID_BIN) | (pl.col(BIN_B) == schema.INVALID_BIN))[COUNT].sum()
    _refuse_invalid(cast(int, invalid), "paired tokens")
    labels = bins().select(BIN, BIN_LABEL)
    grid = (labels.rename({BIN: BIN_A, BIN_LABEL: LABEL_A})
            .join(labels.rename({BIN: BIN_B, BIN_LABEL: LABEL_B}), how="cross"))
    total = counts[COUNT].sum()
    return (grid.join(counts, on=[BIN_A, BIN_B], how="left")
            .with_columns(pl.col(COUNT).fill_null(0))
            .with_columns((100.0 * pl.col(COUNT) / total if total else pl.lit(None, pl.Float64)).alias(PERCENT))
            .sort(BIN_A, BIN_B)
            .select(BIN_A, BIN_B, LABEL_A, LABEL_B, COUNT, PERCENT))


class TokenAlignment(NamedTuple):
    """How the tokens of two checkpoints line up by (example, position)."""

    paired: int        # positions present in both
    mismatched: int    # of those, positions whose token ids differ

    @property
    def share(self) -> float:
        """Fraction of the paired positions whose token ids differ (0.0 when nothing is paired)."""
        return self.mismatched / self.paired if self.paired else 0.0


def token_alignment(a: pl.DataFrame | pl.LazyFrame, b: pl.DataFrame | pl.LazyFrame) -> TokenAlignment:
    """Positions `a` and `b` share, and how many of them hold different token ids (say so beside a pairing)."""
    paired, same = _pairs(a, b).select(pl.len(), pl.col(_SAME_ID).sum()).collect().row(0)
    return TokenAlignment(int(paired), int(paired - (same or 0)))


_SAME_ID = "_same_token_id"


def _pairs(a: pl.DataFrame | pl.LazyFrame, b: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    columns = [*PAIR_KEYS, schema.TOKEN_ID, schema.P]
    first, second = (check_tokens(name, frame, columns).lazy()
                     .select(*PAIR_KEYS, pl.col(schema.TOKEN_ID).alias(f"_id_{name}"),
                             schema.bin_index(pl.col(schema.P)).alias(column))
                     for frame, name, column in ((a, "a", BIN_A), (b, "b", BIN_B)))
    return (first.join(second, on=list(PAIR_KEYS))
            .with_columns((pl.col("_id_a") == pl.col("_id_b")).alias(_SAME_ID)))


def _refuse_mismatched(joined: pl.LazyFrame) -> None:
    paired, same = joined.select(pl.len(), pl.col(_SAME_ID).sum()).collect().row(0)
    mismatched = paired - (same or 0)
    if mismatched:
        raise ProbscopeError(
            f"paired tokens: {mismatched:,} of {paired:,} ({100 * mismatched / paired:.1f}%) positions hold "
            "different token ids under the two checkpoints: the data was tokenized differently (another "
            "tokenizer or tokenization), so positions do not pair; probe both the same way, or pass "
            "mismatched='drop' to pair only equal ids")


def _refuse_invalid(count: int, what: str) -> None:
    if count:
        raise ProbscopeError(f"{what}: {count} rows have p missing, NaN or outside [0, 1]; "
                             "check the probe tables that produced them")
