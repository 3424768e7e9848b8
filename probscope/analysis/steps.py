"""How a run's probability distribution moves over training: Figure 2 at every probed step.

    import probscope as ps
    tokens = ps.load_tokens("runs", steps="all", lazy=True)
    ps.step_histograms(tokens)          # method, run, step, bin, ..., percent: one histogram per probed step
    ps.extreme_bin_shares(tokens)       # method, run, step, lowest_share, highest_share
    ps.at_last_step(tokens)             # each run's tokens at its last loaded step
    unprobed_last_checkpoints("runs", ["dft"])   # notes when a run's last checkpoint is not probed yet

The lowest bin is the paper's p < 1e-4, the highest [0.9, 1.0]: DFT's polarization shows as both
shares growing with the step, SFT's as the highest growing while the lowest shrinks.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

import polars as pl

from probscope import schema
from probscope.analysis import summary_tables
from probscope.analysis.catalog import find_runs
from probscope.analysis.histograms import BIN, probability_histogram
from probscope.analysis.token_classes import Frame
from probscope.runs import DEFAULT_PROBE_DATASET

TRAJECTORY = (schema.METHOD, schema.RUN, schema.STEP)   # one histogram per (run, step), method kept for colour
LOWEST_SHARE = "lowest_share"     # share of the step's tokens in the lowest bin (p < 1e-4)
HIGHEST_SHARE = "highest_share"   # share in the highest bin (p >= 0.9)
TOKENS = "tokens"                 # tokens at that step
LAST_BIN = len(schema.BIN_EDGES) - 2


def at_last_step(tokens: Frame) -> Frame:
    """The rows of each run's last step among those loaded (the 'final step' of comparisons)."""
    # Finding the last steps first (a cheap pass over two columns, none when load_tokens' frame knows its
    # directories) and filtering on them as constants is faster on large lazy tables than a window over every row.
    dirs = summary_tables.probe_dirs(tokens)
    if dirs:
        last_steps = {d.run: max(e.step for e in dirs if e.run == d.run) for d in dirs}
        pairs = list(last_steps.items())
    else:
        pairs = list(tokens.lazy().group_by(schema.RUN).agg(pl.col(schema.STEP).max()).collect().iter_rows())
    keep = [(pl.col(schema.RUN) == run) & (pl.col(schema.STEP) == step) for run, step in pairs]
    final = tokens.filter(pl.any_horizontal(keep)) if keep else tokens
    # still answerable from the summaries: the same frame, knowing the last steps' directories only (a frame
    # with directories is load_tokens' lazy one)
    if dirs and isinstance(final, pl.LazyFrame):
        return summary_tables.ProbedTokens.of(final, [d for d in dirs if (d.run, d.step) in pairs])
    return final


def step_histograms(tokens: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """`probability_histogram` per (method, run, step), sorted by run, step and bin."""
    return probability_histogram(tokens, by=TRAJECTORY).sort(schema.RUN, schema.STEP, BIN)


def extreme_bin_shares(tokens: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Per (method, run, step): tokens, share in the lowest bin and share in the highest bin."""
    cells = summary_tables.cell_table(tokens, TRAJECTORY)
    if cells is not None:
        count, bin_index = pl.col(summary_tables.COUNT), pl.col(summary_tables.BIN)
        shares = cells.group_by(TRAJECTORY).agg(
            count.sum().alias(TOKENS), (count.filter(bin_index == 0).sum() / count.sum()).alias(LOWEST_SHARE),
            (count.filter(bin_index == LAST_BIN).sum() / count.sum()).alias(HIGHEST_SHARE))
    else:
        index = schema.bin_index(pl.col(schema.P))
        shares = tokens.lazy().group_by(TRAJECTORY).agg(
            pl.len().cast(pl.Int64).alias(TOKENS),
            (index == 0).mean().alias(LOWEST_SHARE),
            (index == LAST_BIN).mean().alias(HIGHEST_SHARE),
        )
    return shares.sort(schema.RUN, schema.STEP).collect()


def unprobed_last_checkpoints(runs_root: str | os.PathLike, names: Sequence[str] | None,
                              dataset: str = DEFAULT_PROBE_DATASET) -> list[str]:
    """One note per run (of `names`, or all) whose last checkpoint is later than its last probed step: what
    reads "the final step" then reads an earlier one, and says so."""
    notes = []
    for run in find_runs(runs_root, names):
        saved, probed = run.checkpoint_steps(), run.probed_steps(dataset)
        if saved and probed and saved[-1] > probed[-1]:
            notes.append(f"note: {run.name}'s last checkpoint, step {saved[-1]}, is not probed on '{dataset}': this "
                         f"reads step {probed[-1]} (probscope probe --run {shlex.quote(str(run.root))} "
                         f"--dataset {shlex.quote(dataset)} --data FILE)")
    return notes
