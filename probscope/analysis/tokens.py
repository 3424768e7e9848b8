"""Load finished probe tables from a runs directory into one polars frame, one row per target token.

    import probscope as ps
    tokens = ps.load_tokens("runs")                        # last probed step of every run, train set
    tokens = ps.load_tokens("runs", runs=["sft"], steps="all", lazy=True)

Only probe directories holding the completion marker (``runs.PROBE_DONE``) are read: a probe that is
still running or was killed is invisible here. Each row gains a ``method`` column from its run's
manifest, so every analysis can group by method (Base, SFT, DFT, ...), and its ``run`` column is the
run's directory name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, overload

import polars as pl

from probscope import schema
from probscope.analysis.catalog import find_runs
from probscope.analysis.summary_tables import ProbeDir, ProbedTokens, probe_dirs
from probscope.analysis.token_classes import fill_roles_with_classes
from probscope.errors import ProbscopeError
from probscope.probe.table import scan_probe_table
from probscope.runs import DEFAULT_PROBE_DATASET, PROBE_DONE, Run

# "last" | "all" | [step, ...] applied to every run | {run name: step or [steps]}
StepChoice = str | Sequence[int] | Mapping[str, str | int | Sequence[int]]

_HOW_TO_PROBE = ("run `probscope probe` on the run's checkpoints, "
                 "or build the demo runs with `probscope demo --no-serve`")


def select_steps(
    runs_root: str | os.PathLike,
    *,
    runs: Sequence[str] | None = None,
    steps: StepChoice = "last",
    dataset: str = DEFAULT_PROBE_DATASET,
) -> dict[str, list[int]]:
    """Which finished probe tables a load would read: run name -> ascending steps (runs with none left out).

    Runs named explicitly (in `runs` or as keys of a `steps` dict) must have what is asked; runs taken
    by default are skipped when they have no finished probe table (e.g. a run still training).
    """
    return {run.name: run_steps for run, run_steps in _choose(runs_root, runs, steps, dataset).items()}


def _choose(runs_root, runs: Sequence[str] | None, steps: StepChoice, dataset: str) -> dict[Run, list[int]]:
    explicit = runs is not None or isinstance(steps, Mapping)
    wanted = find_runs(runs_root, list(steps) if isinstance(steps, Mapping) else runs)

    chosen: dict[Run, list[int]] = {}
    finished: dict[str, list[int]] = {}
    for run in wanted:
        probed = finished[run.name] = run.probed_steps(dataset)
        choice = steps[run.name] if isinstance(steps, Mapping) else steps
        picked = _pick(choice, probed)
        # a run named explicitly must have every step asked of it; others just contribute what they have
        missing = explicit and not isinstance(choice, str) and set(_as_list(choice)) - set(picked)
        if missing or (explicit and not picked):
            raise ProbscopeError(
                f"{run.root}: no finished probe table for dataset '{dataset}' at step(s) "
                f"{_describe(sorted(missing) if missing else choice)} (finished: {_describe(probed)}); {_HOW_TO_PROBE}"
            )
        if picked:
            chosen[run] = picked
    available = "; ".join(f"{name}: {_describe(found)}" for name, found in finished.items())
    nowhere = set() if isinstance(steps, (str, Mapping)) else set(_as_list(steps)).difference(*finished.values())
    if nowhere:
        raise ProbscopeError(f"{runs_root}: no run has a finished probe table for dataset '{dataset}' at step(s) "
                             f"{_describe(sorted(nowhere))} (finished: {available})")
    if not chosen:
        raise ProbscopeError(
            f"{runs_root}: no finished probe tables for dataset '{dataset}' at step(s) {_describe(steps)} "
            f"in {len(wanted)} run(s) (finished: {available}); {_HOW_TO_PROBE}"
        )
    return chosen


def _as_list(choice: int | Sequence[int]) -> list[int]:
    return [choice] if isinstance(choice, int) else list(choice)


def _pick(choice: str | int | Sequence[int], probed: list[int]) -> list[int]:
    if choice == "last":
        return probed[-1:]
    if choice == "all":
        return probed
    if isinstance(choice, str):
        raise ProbscopeError(f"steps: '{choice}' is not 'last', 'all', a list of steps or a dict run -> step")
    return sorted(set(_as_list(choice)).intersection(probed))


def _describe(choice: StepChoice | int) -> str:
    if isinstance(choice, (str, int)):
        return str(choice)
    return ", ".join(map(str, choice)) or "none"


@overload
def load_tokens(runs_root: str | os.PathLike, *, runs: Sequence[str] | None = None, steps: StepChoice = "last",
                dataset: str = DEFAULT_PROBE_DATASET, lazy: Literal[False] = False) -> pl.DataFrame: ...
@overload
def load_tokens(runs_root: str | os.PathLike, *, runs: Sequence[str] | None = None, steps: StepChoice = "last",
                dataset: str = DEFAULT_PROBE_DATASET, lazy: Literal[True]) -> pl.LazyFrame: ...
@overload
def load_tokens(runs_root: str | os.PathLike, *, runs: Sequence[str] | None = None, steps: StepChoice = "last",
                dataset: str = DEFAULT_PROBE_DATASET, lazy: bool = False) -> pl.DataFrame | pl.LazyFrame: ...
def load_tokens(
    runs_root: str | os.PathLike,
    *,
    runs: Sequence[str] | None = None,
    steps: StepChoice = "last",
    dataset: str = DEFAULT_PROBE_DATASET,
    lazy: bool = False,
) -> pl.DataFrame | pl.LazyFrame:
    """All target tokens of the chosen runs and steps: schema.TOKEN_COLUMNS plus `method`.

    A token without a role from its data gets its token class (probscope/analysis/token_classes.py).

    `lazy=True` returns a LazyFrame (aggregations then collect only their result); it is a ProbedTokens, which
    the analyses answer from the directories' summary tables when those suffice (analysis/summary_tables.py).
    """
    frames, probe_dirs = [], []
    for run, run_steps in _choose(runs_root, runs, steps, dataset).items():
        method = run.read_manifest().method
        for step in run_steps:
            _check_schema_version(run.probe_dir(step, dataset))
            table = scan_probe_table(run.probe_dir(step, dataset))
            # The directory names the run (schema.RUN): a run copied or renamed keeps its stored name.
            frames.append(table.with_columns(pl.lit(run.name).alias(schema.RUN), pl.lit(method).alias(schema.METHOD)))
            probe_dirs.append(ProbeDir(run.probe_dir(step, dataset), run.name, method, step))
    tokens = fill_roles_with_classes(pl.concat(frames, how="vertical"))
    return ProbedTokens.of(tokens, probe_dirs) if lazy else tokens.collect()


def _check_schema_version(probe_dir: Path) -> None:
    """Refuse a table written by a newer probscope (its marker records the schema version it wrote)."""
    marker = probe_dir / PROBE_DONE
    try:
        version = json.loads(marker.read_text()).get("schema_version", schema.SCHEMA_VERSION)
    except (OSError, json.JSONDecodeError, AttributeError):
        raise ProbscopeError(f"{marker}: unreadable completion marker; "
                             f"re-run `probscope probe` into {probe_dir}") from None
    if not isinstance(version, int) or version > schema.SCHEMA_VERSION:
        raise ProbscopeError(f"{probe_dir}: probe table schema v{version} is newer than this probscope's "
                             f"v{schema.SCHEMA_VERSION}; upgrade probscope to read it")


def series_columns(tokens: pl.DataFrame | pl.LazyFrame) -> tuple[str, ...]:
    """The fewest columns that tell the loaded series apart: `method`, then run, then step when needed.

    One run per method at one step (the paper's Figure 2) gives ("method",); two SFT runs give
    ("method", "run"); one run at several steps gives ("method", "run", "step").
    """
    dirs = probe_dirs(tokens)
    series = (pl.DataFrame([(d.method, d.run, d.step) for d in dirs], orient="row",
                           schema={schema.METHOD: pl.String, schema.RUN: pl.String, schema.STEP: pl.Int64})
              if dirs else tokens.lazy().select(schema.METHOD, schema.RUN, schema.STEP).unique().collect())
    for columns in ((schema.METHOD,), (schema.METHOD, schema.RUN)):
        if series.select(columns).unique().height == series.height:
            return columns
    return (schema.METHOD, schema.RUN, schema.STEP)
