"""Answering from the probe directories' summary tables instead of their rows, when they answer the question.

    tokens = ps.load_tokens("runs", steps="all", lazy=True)    # a ProbedTokens: rows, and where they came from
    ps.probability_histogram(tokens)                            # reads summary-cells.parquet of each directory
    ps.probability_histogram(tokens.filter(pl.col("p") > 0.5))  # a derived frame: reads the rows

`load_tokens(lazy=True)` returns a ProbedTokens, a LazyFrame over the rows that also remembers the probe
directories it reads. An analysis asks `cell_table` / `example_table` for the same numbers from the summaries
(probscope.probe.summaries); they answer only when the frame is load_tokens' own (any polars operation on it
gives a plain frame again), when every directory has summaries vouched for by its marker, when the grouping
uses columns the summaries keep, and when every p threshold asked is one of their cell edges. Otherwise
they return None and the analysis reads the rows, as before: the answer is the same either way (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast

import numpy as np
import polars as pl

from probscope import schema
from probscope.analysis.token_classes import FALLBACK_CLASS, token_class
from probscope.probe import summaries

SERIES = (schema.METHOD, schema.RUN, schema.STEP)
COUNT = summaries.COUNT   # the cell's tokens; SUM_P, SUM_LOGP, SUM_ENTROPY: sums over them
SUM_P, SUM_LOGP, SUM_ENTROPY = summaries.SUM_P, summaries.SUM_LOGP, summaries.SUM_ENTROPY
# cell tables: the cell's p range and its Figure-2 bin
LO, HI, BIN = "cell_lo", "cell_hi", "bin"
TOKEN_KEYS = (schema.TOKEN_ID, schema.TOKEN, schema.ROLE)


@dataclass(frozen=True)
class ProbeDir:
    """One finished probe directory as load_tokens reads it."""

    path: Path
    run: str
    method: str | None
    step: int


class ProbedTokens(pl.LazyFrame):
    """The rows of `probe_dirs` (a polars LazyFrame), knowing which directories they are."""

    probe_dirs: tuple[ProbeDir, ...] = ()   # class default: frames derived from this one are plain rows

    @classmethod
    def of(cls, rows: pl.LazyFrame, probe_dirs: Sequence[ProbeDir]) -> ProbedTokens:
        frame = cast(ProbedTokens, cls._from_pyldf(rows._ldf))   # polars builds a `cls`, annotated LazyFrame
        frame.probe_dirs = tuple(probe_dirs)
        return frame


def probe_dirs(tokens: object) -> tuple[ProbeDir, ...]:
    """The directories of load_tokens' own frame; () for any other frame (rows: DataFrame, filtered, ...)."""
    return tokens.probe_dirs if type(tokens) is ProbedTokens else ()


def cell_table(tokens: object, by: Sequence[str], *, thresholds: Sequence[float | None] = (),
               within: tuple[float | None, float | None] | None = None,
               filled: bool = True) -> pl.LazyFrame | None:
    """Weighted cells of the summaries, grouped finely enough for `by`: SERIES columns, lo/hi/bin of the cell,
    is_top1, the summary sums, and with any token column in `by` also token_id, token and role (filled with the
    token's class where the data gave none, as load_tokens does; `filled=False`: as the data gave it, for a
    caller that sums the cells first and fills the far fewer sums with `fill_roles`). `within` (lower, upper):
    only the cells with lower <= p < upper, read alone (the tables are sorted by cell). None when the summaries
    cannot answer."""
    dirs = probe_dirs(tokens)
    token_level = bool(set(by) & set(TOKEN_KEYS))
    if not dirs or not set(by) <= {*SERIES, *TOKEN_KEYS, schema.IS_TOP1}:
        return None
    asked = {t for t in (*thresholds, *(within or ())) if t is not None}
    by_edges: dict[tuple[float, ...], list[ProbeDir]] = {}
    for probe_dir in dirs:
        record = summaries.summary_record(probe_dir.path)
        if record is None or not asked <= set(record["edges"]):
            return None
        by_edges.setdefault(tuple(record["edges"]), []).append(probe_dir)
    kind = "tokens" if token_level else "cells"
    cells = pl.concat([_scan_cells(group, edges, kind, within) for edges, group in by_edges.items()],
                      how="diagonal_relaxed")
    if token_level and within is not None:   # a few cells: read once, then classified from memory
        cells = cells.collect().lazy()
    return fill_roles(cells) if token_level and filled else cells


def _scan_cells(group: list[ProbeDir], edges: tuple[float, ...], kind: str,
                within: tuple[float | None, float | None] | None) -> pl.LazyFrame:
    """The `kind` summary tables of directories counting the same cells, in one plan (read in parallel), each
    with its SERIES columns as constants (cheaper than tagging every row with its file and joining on it) and
    each cell's range."""
    ranges = _cell_ranges(edges)
    kept = ranges.filter(in_range(*within))[summaries.CELL] if within is not None else None
    frames = []
    for d in group:
        frame = pl.scan_parquet(d.path / summaries.summary_name(kind), glob=False, hive_partitioning=False)
        if kept is not None:   # contiguous cells
            frame = frame.filter(pl.col(summaries.CELL).is_between(kept.min(), kept.max()))
        frames.append(frame.with_columns(pl.lit(d.run, pl.String).alias(schema.RUN),
                                         pl.lit(d.step, pl.Int64).alias(schema.STEP),
                                         pl.lit(d.method, pl.String).alias(schema.METHOD)))
    return pl.concat(frames, how="diagonal_relaxed").join(ranges.lazy(), on=summaries.CELL)


# A token's class never changes: remembered across calls (the listing, the roles and diagnose classify the same
# vocabulary, ~70 ms per 32,000 tokens each time otherwise); a vocabulary or two of entries.
_token_class = lru_cache(maxsize=1 << 18)(token_class)


def fill_roles(cells: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """fill_roles_with_classes, classifying each distinct token once for all directories (not once per file)."""
    unknown = cells.lazy().filter(pl.col(schema.ROLE).is_null()).select(schema.TOKEN).unique().collect()[schema.TOKEN]
    classes = {token: _token_class(token) for token in unknown.to_list()}
    filled = pl.col(schema.TOKEN).replace_strict(classes, default=FALLBACK_CLASS, return_dtype=pl.String)
    return cells.lazy().with_columns(pl.col(schema.ROLE).fill_null(filled))


@lru_cache(maxsize=16)
def _cell_ranges(edges: tuple[float, ...]) -> pl.DataFrame:
    """cell -> [lo, hi) and its Figure-2 bin (the last cell closed at 1 and beyond, like the last bin)."""
    inner = np.asarray(edges, dtype=np.float64)
    lo = np.concatenate([[0.0], inner])
    hi = np.concatenate([inner, [np.inf]])
    return pl.DataFrame({
        summaries.CELL: pl.Series(np.arange(len(lo)), dtype=pl.Int16), LO: lo, HI: hi,
        BIN: np.searchsorted(summaries.FIGURE2_INNER, lo, side="right").astype(np.int32)})


def in_range(lower: float | None, upper: float | None) -> pl.Expr:
    """The cells inside lower <= p < upper (either None: unbounded), for thresholds that are cell edges."""
    keep = pl.lit(True)
    if upper is not None:
        keep = keep & (pl.col(HI) <= upper)
    if lower is not None:
        keep = keep & (pl.col(LO) >= lower)
    return keep


def example_frame(tokens: object, by: Sequence[str]) -> pl.LazyFrame | None:
    """The per-example summaries of load_tokens' frame with the SERIES columns; None when they cannot answer."""
    groups = example_tables(tokens, by)
    if groups is None:
        return None
    frames = [pl.scan_parquet(d.path / summaries.summary_name("examples"), glob=False).with_columns(
        pl.lit(d.run).alias(schema.RUN), pl.lit(d.step, pl.Int64).alias(schema.STEP),
        pl.lit(d.method, pl.String).alias(schema.METHOD)) for d in probe_dirs(tokens)]
    return pl.concat(frames, how="diagonal_relaxed")


def example_tables(tokens: object, by: Sequence[str]) -> dict[tuple, list[Path]] | None:
    """Series key (values of `by`) -> the probe directories whose per-example summaries it spans; None when
    the summaries cannot answer (not load_tokens' frame, `by` beyond SERIES, a directory without them)."""
    dirs = probe_dirs(tokens)
    if not dirs or not set(by) <= set(SERIES) or any(summaries.summary_record(d.path) is None for d in dirs):
        return None
    groups: dict[tuple, list[Path]] = {}
    for probe_dir in dirs:
        values = {schema.METHOD: probe_dir.method, schema.RUN: probe_dir.run, schema.STEP: probe_dir.step}
        groups.setdefault(tuple(values[column] for column in by), []).append(probe_dir.path)
    return groups
