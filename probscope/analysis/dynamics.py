"""Training dynamics of several runs: the gradient-weight statistics recorded while they trained.

    import probscope as ps
    frame = ps.load_dynamics("runs")                 # one row per (run, logged step, objective)
    curves = ps.dynamics_curves(frame)               # one row per (run, step): losses, share p < 0.1, weight
    ps.plot_training_dynamics(frame).savefig("dynamics.png")

The rows come from each run's `dynamics/` Parquet parts (probscope.training.callbacks.GradientWeightCallback,
columns in schema.DYNAMICS_COLUMNS); runs trained without the callback have no such directory and are
skipped. `read_dynamics` reads one run's directory; this module imports no torch, so the dashboard
stays light.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from probscope import schema
from probscope.analysis.catalog import Signature, file_signature, find_runs
from probscope.errors import ProbscopeError
from probscope.runs import DYNAMICS_PART_GLOB

# columns load_dynamics and dynamics_curves add to the dynamics table
TRAINED_OBJECTIVE = "trained_objective"   # the objective the run was trained with (its manifest)
SHARE_BELOW = "share_below"               # share of the batch's target tokens with p below the threshold
DEFAULT_BELOW = 0.1


def read_dynamics(directory: str | Path) -> pl.DataFrame:
    """All parts under `directory` as one table sorted by step, objective (empty with the schema if none).

    A resumed run may re-log steps it had logged before it stopped; the latest part written wins.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ProbscopeError(f"{directory}: no dynamics directory (train with a GradientWeightCallback)")
    parts = sorted(directory.glob(DYNAMICS_PART_GLOB), key=lambda p: p.stat().st_mtime_ns)
    if not parts:
        return pl.DataFrame(schema=schema.dynamics_schema())
    try:
        frame = pl.concat([pl.read_parquet(p, glob=False) for p in parts], how="diagonal_relaxed")
    except (pl.exceptions.ComputeError, OSError) as e:
        raise ProbscopeError(f"{directory}: unreadable dynamics part ({str(e).splitlines()[0]})") from None
    # parts written before a column joined the schema (or by a trainer that does not log it) lack it: null there
    columns = schema.dynamics_schema()
    missing = [pl.lit(None, dtype).alias(name) for name, dtype in columns.items() if name not in frame.columns]
    return (frame.with_columns(missing).select(*columns, pl.exclude(*columns))
            .unique(subset=[schema.STEP, schema.OBJECTIVE], keep="last", maintain_order=True)
            .sort(schema.STEP, schema.OBJECTIVE))



def load_dynamics(runs_root: str | os.PathLike, runs: Sequence[str] | None = None) -> pl.DataFrame:
    """The dynamics tables of the runs under `runs_root` (or of the named `runs`) that recorded them.

    Adds schema.RUN, schema.METHOD (the manifest's label) and TRAINED_OBJECTIVE before the dynamics
    columns. Empty, with those columns, when no chosen run has a dynamics directory.
    """
    chosen = find_runs(runs_root, runs)
    frames = []
    for run in chosen:
        if not run.dynamics_dir.is_dir():
            continue
        manifest = run.read_manifest()
        frames.append(read_dynamics(run.dynamics_dir).select(
            pl.lit(run.name).alias(schema.RUN),
            pl.lit(manifest.method).alias(schema.METHOD),
            pl.lit(_trained_objective(manifest)).alias(TRAINED_OBJECTIVE),
            pl.all(),
        ))
    if not frames:
        return pl.DataFrame(schema={schema.RUN: pl.String, schema.METHOD: pl.String, TRAINED_OBJECTIVE: pl.String,
                                    **schema.dynamics_schema()})
    return pl.concat(frames, how="diagonal_relaxed")


def dynamics_signature(runs_root: str | os.PathLike, runs: Sequence[str] | None = None) -> Signature:
    """`file_signature` of every file in the chosen runs' dynamics directories and of their manifests.

    A cache key: it changes whenever training flushes a new part (parts are renamed into place).
    """
    paths = []
    for run in find_runs(runs_root, runs):
        if run.dynamics_dir.is_dir():
            paths += [run.manifest_path, *sorted(run.dynamics_dir.iterdir())]
    return file_signature(paths)


def dynamics_curves(frame: pl.DataFrame, *, below: float = DEFAULT_BELOW) -> pl.DataFrame:
    """One row per (run, logged step): batch size, tokens seen so far, SFT and DFT losses, share of tokens with
    p < `below`, and the mean logit-view weight of the run's own objective (null when that objective was not
    recorded).

    `below` must be one of schema.BIN_EDGES (the shares come from the Figure-2 bin counts).
    """
    below_share = share_below(below)   # checks `below` before any column is read
    steps = (frame.unique([schema.RUN, schema.STEP], keep="first", maintain_order=True)   # step-level columns repeat
             .select(schema.RUN, schema.METHOD, TRAINED_OBJECTIVE, schema.STEP, schema.N_TOKENS, schema.TOKENS_SEEN,
                     schema.SFT_LOSS, schema.DFT_LOSS, below_share.alias(SHARE_BELOW)))
    own = (frame.filter(pl.col(schema.OBJECTIVE) == pl.col(TRAINED_OBJECTIVE))
           .select(schema.RUN, schema.STEP, schema.WEIGHT_MEAN))
    return steps.join(own, on=[schema.RUN, schema.STEP], how="left").sort(schema.RUN, schema.STEP)


def share_below(below: float = DEFAULT_BELOW) -> pl.Expr:
    """Expression: share of a row's target tokens in the Figure-2 bins under `below` (from P_BIN_COUNTS)."""
    if below not in schema.BIN_EDGES[1:]:
        raise ProbscopeError(f"share below p={below:g}: not a Figure-2 bin edge; use one of {schema.BIN_EDGES[1:]}")
    counts = pl.col(schema.P_BIN_COUNTS)
    return counts.list.head(schema.BIN_EDGES.index(below)).list.sum() / counts.list.sum()


def _trained_objective(manifest) -> str:
    """The objective in the training config probscope.training records (config["run"]["objective"]);
    else the method, which is the objective's name unless the run was relabelled."""
    run_config = manifest.config.get("run") if isinstance(manifest.config, dict) else None
    objective = run_config.get("objective") if isinstance(run_config, dict) else None
    return objective or manifest.method
