"""Cached reads for the pages: aggregates of the probe tables, one example's rows, the dynamics table.

    hist = aggregate(selection, probability_histogram, by=BY)    # cached per selection and files
    rows = example_rows(selection, "sft", 10, "3f2a…")            # one example's tokens, nothing more

Every cache is keyed on the files' signatures (completion markers, manifests, parts): a re-probed step
is read again, nothing else is. Per-token rows stay here on the server; only aggregates and the one
example being viewed reach the browser.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import streamlit as st

from probscope import schema
from probscope.analysis import (
    class_histogram,
    diagnose,
    extreme_bin_shares,
    gradient_mass_by_bin,
    left_behind_table,
    left_behind_tokens,
    load_pair,
    load_tokens,
    lowest_bin_tokens,
    pairwise_statistics,
    probability_histogram,
    role_shares,
    token_movers,
)
from probscope.analysis.catalog import Signature, file_signature
from probscope.analysis.dynamics import dynamics_signature, load_dynamics
from probscope.analysis.histograms import BIN_LABEL, bin_index, bins
from probscope.app import state
from probscope.evaluate.curves import accuracy_curves, load_evals
from probscope.evaluate.engine import read_samples
from probscope.runs import EVAL_DONE, Run, discover_runs

BY = (schema.METHOD, schema.RUN, schema.STEP)   # every aggregate keeps the step so labels can name it
# The analyses a page may call through `aggregate` (tokens in, a small table out), by name: the cache key.
AGGREGATES = {function.__name__: function for function in (
    probability_histogram, extreme_bin_shares, lowest_bin_tokens, role_shares, left_behind_table,
    left_behind_tokens, gradient_mass_by_bin, class_histogram, pairwise_statistics)}
Steps = tuple[tuple[str, int | tuple[int, ...]], ...]   # (run, step) or (run, (steps...))


def _tokens(runs_root: str, dataset: str, steps: Steps) -> pl.LazyFrame:
    chosen = {name: list(step) if isinstance(step, tuple) else step for name, step in steps}
    return load_tokens(runs_root, steps=chosen, dataset=dataset, lazy=True)


@st.cache_data(max_entries=256, show_spinner="Reading probe tables…")
def _aggregate(function: str, runs_root: str, dataset: str, steps: Steps, signature: Signature, kwargs: tuple,
               p_at_least: float | None):
    tokens = _tokens(runs_root, dataset, steps)
    if p_at_least is not None:
        tokens = tokens.filter(pl.col(schema.P) >= p_at_least)
    return AGGREGATES[function](tokens, **dict(kwargs))


def aggregate(selection: state.Selection, function: Callable[..., pl.DataFrame], steps: Steps | None = None, *,
              p_at_least: float | None = None, **kwargs) -> pl.DataFrame:
    """`function`(tokens of `steps`, **kwargs) for one of AGGREGATES, cached; `steps` defaults to the sidebar's.
    `p_at_least`: only the tokens with p at or above it (the upper tail)."""
    steps = selection.steps if steps is None else steps
    signature = state.probe_signature(selection.runs_root, selection.dataset, steps)
    return _aggregate(function.__name__, selection.runs_root, selection.dataset, steps, signature,
                      tuple(sorted(kwargs.items())), p_at_least)


@st.cache_data(max_entries=64, show_spinner="Comparing checkpoints…")
def _movers(runs_root: str, dataset: str, before: tuple[str, int], after: tuple[str, int], signature: Signature,
            by: str, top: int, min_count: int) -> pl.DataFrame:
    first, second = load_pair(runs_root, before, after, dataset=dataset, token_by_token=by == "token")
    return token_movers(first, second, by=by, top=top, min_count=min_count)


def movers(selection: state.Selection, before: tuple[str, int], after: tuple[str, int], *, by: str, top: int,
           min_count: int) -> pl.DataFrame:
    """probscope's token_movers between two checkpoints, cached."""
    signature = state.probe_signature(selection.runs_root, selection.dataset, (before, after))
    return _movers(selection.runs_root, selection.dataset, before, after, signature, by, top, min_count)


def all_steps(selection: state.Selection, runs: tuple[str, ...] | None = None) -> Steps:
    """Every probed step of the chosen runs (or of `runs`)."""
    return tuple((name, selection.probed_steps(name)) for name in (runs or selection.runs))


@st.cache_data(max_entries=64, show_spinner="Summarizing…")
def _summary(runs_root: str, dataset: str, steps: Steps, signature: Signature) -> pl.DataFrame:
    # App-side aggregate (a library distribution summary would replace it): the headline numbers per series.
    p = pl.col(schema.P)
    index = bin_index(p)
    return (
        _tokens(runs_root, dataset, steps).group_by(BY)
        .agg(pl.len().alias("tokens"), p.mean().alias("mean_p"), (-pl.col(schema.LOGP)).mean().alias("nll"),
             pl.col(schema.ENTROPY).mean().alias("mean_entropy"), pl.col(schema.IS_TOP1).mean().alias("top1"),
             (p < 0.1).mean().alias("below_0.1"), (p >= 0.9).mean().alias("above_0.9"),
             ((index == 0) | (index == len(schema.BIN_LABELS) - 1)).mean().alias("polarization"))
        .sort(schema.RUN, schema.STEP).collect()
    )


def summary(selection: state.Selection, steps: Steps) -> pl.DataFrame:
    """Per run and step: tokens, mean p, NLL, mean entropy, top-1 accuracy, shares below 0.1 / at or above 0.9,
    polarization (lowest plus highest bin)."""
    signature = state.probe_signature(selection.runs_root, selection.dataset, steps)
    return _summary(selection.runs_root, selection.dataset, steps, signature)


@st.cache_data(max_entries=64, show_spinner="Diagnosing…")
def _diagnosis(runs_root: str, dataset: str, run: str, against: str | None, signature: Signature) -> str:
    return diagnose(runs_root, run, against=against, dataset=dataset)


def diagnosis(selection: state.Selection, run: str, against: str | None) -> str:
    """probscope's diagnose report of `run` at its last probed step (against another run's), cached."""
    final = tuple((name, selection.probed_steps(name)[-1]) for name in (run, against) if name)
    signature = state.probe_signature(selection.runs_root, selection.dataset, final)
    return _diagnosis(selection.runs_root, selection.dataset, run, against, signature)


@st.cache_data(max_entries=64, show_spinner=False)
def _example_rows(runs_root: str, dataset: str, run: str, step: int, example_id: str, signature: Signature):
    tokens = _tokens(runs_root, dataset, ((run, step),))
    return tokens.filter(pl.col(schema.EXAMPLE_ID) == example_id).sort(schema.POSITION).collect()


def example_rows(selection: state.Selection, run: str, step: int, example_id: str) -> pl.DataFrame:
    """The target tokens of one example under one checkpoint, in reply order (a lazy filter: one example read)."""
    signature = state.probe_signature(selection.runs_root, selection.dataset, ((run, step),))
    return _example_rows(selection.runs_root, selection.dataset, run, step, example_id, signature)


@st.cache_data(max_entries=64, show_spinner="Finding examples…")
def _examples(runs_root: str, dataset: str, run: str, step: int, token: str | None, upper: float,
              signature: Signature) -> pl.DataFrame:
    tokens = _tokens(runs_root, dataset, ((run, step),))
    if token is not None:   # examples where this token has p < upper
        tokens = tokens.filter((pl.col(schema.TOKEN) == token) & (pl.col(schema.P) < upper))
    return (tokens.group_by(schema.EXAMPLE_ID)
            .agg(pl.len().alias("tokens"), pl.col(schema.P).min().alias("lowest_p"))
            .sort("lowest_p", schema.EXAMPLE_ID).collect())


def examples(selection: state.Selection, run: str, step: int, *, token: str | None = None,
             upper: float = 1.0) -> pl.DataFrame:
    """Example ids of a checkpoint (with `token`: those holding it at p < `upper`), lowest p first."""
    signature = state.probe_signature(selection.runs_root, selection.dataset, ((run, step),))
    return _examples(selection.runs_root, selection.dataset, run, step, token, upper, signature)


@st.cache_data(max_entries=32, show_spinner="Pairing tokens…")
def _paired_bins(runs_root: str, dataset: str, a: tuple[str, int], b: tuple[str, int], signature: Signature):
    # App-specific: which bin the same token (example, position) falls in under two checkpoints.
    first, second = (_tokens(runs_root, dataset, (one,)).select(schema.EXAMPLE_ID, schema.POSITION, schema.P)
                     for one in (a, b))
    labels = bins().select(pl.col("bin").cast(pl.Int64), BIN_LABEL)
    counts = (first.join(second, on=[schema.EXAMPLE_ID, schema.POSITION], suffix="_b")
              .group_by(bin_index(pl.col(schema.P)).cast(pl.Int64).alias("bin_a"),
                        bin_index(pl.col(f"{schema.P}_b")).cast(pl.Int64).alias("bin_b"))
              .agg(pl.len().alias("count")).collect())
    return (counts.with_columns((100 * pl.col("count") / pl.col("count").sum()).alias("percent"))
            .join(labels.rename({"bin": "bin_a", BIN_LABEL: "bin_x"}), on="bin_a")
            .join(labels.rename({"bin": "bin_b", BIN_LABEL: "bin_y"}), on="bin_b")
            .sort("bin_a", "bin_b"))


def paired_bins(selection: state.Selection, a: tuple[str, int], b: tuple[str, int]) -> pl.DataFrame:
    """Tokens per (bin under checkpoint a, bin under checkpoint b), matched by example and position."""
    signature = state.probe_signature(selection.runs_root, selection.dataset, (a, b))
    return _paired_bins(selection.runs_root, selection.dataset, a, b, signature)


@st.cache_data(max_entries=32, show_spinner="Reading training dynamics…")
def _dynamics(runs_root: str, runs: tuple[str, ...] | None, signature: Signature) -> pl.DataFrame:
    return load_dynamics(runs_root, runs)


def dynamics(runs_root: str, runs: tuple[str, ...] | None) -> pl.DataFrame:
    """The gradient-weight statistics recorded while training (probscope.load_dynamics), cached."""
    return _dynamics(runs_root, runs, dynamics_signature(runs_root, runs))


def evals_signature(runs_root: str) -> Signature:
    """Cache key of every finished evaluation under `runs_root` (manifests and completion markers)."""
    paths = []
    for run in discover_runs(runs_root):
        paths.append(run.manifest_path)
        paths += [run.eval_dir(step, name) / EVAL_DONE for name in run.eval_names() for step in run.evaluated_steps(name)]
    return file_signature(paths)


@st.cache_data(max_entries=16, show_spinner="Reading evaluations…")
def _evals(runs_root: str, signature: Signature) -> pl.DataFrame:
    return load_evals(runs_root)


def evals(runs_root: str) -> pl.DataFrame:
    """probscope's load_evals (one row per run, evaluation and step), cached."""
    return _evals(runs_root, evals_signature(runs_root))


@st.cache_data(max_entries=16, show_spinner=False)
def _curves(runs_root: str, metric: str, signature: Signature) -> pl.DataFrame:
    return accuracy_curves(_evals(runs_root, signature), metric=metric)


def curves(runs_root: str, metric: str) -> pl.DataFrame:
    """probscope's accuracy_curves of every evaluation, cached."""
    return _curves(runs_root, metric, evals_signature(runs_root))


@st.cache_data(max_entries=8, show_spinner="Reading generations…")
def _samples(eval_dir: str, signature: Signature) -> pl.DataFrame:
    return read_samples(eval_dir)


def _eval_samples(runs_root: str, run: str, name: str, step: int) -> pl.DataFrame:
    eval_dir = Run.in_root(runs_root, run).eval_dir(step, name)
    return _samples(str(eval_dir), file_signature([eval_dir / EVAL_DONE]))


def problem_results(runs_root: str, run: str, name: str, step: int) -> pl.DataFrame:
    """One row per problem of an evaluation: samples, correct ones, their share, the gold answer (app table)."""
    samples = _eval_samples(runs_root, run, name, step)
    return (samples.group_by("problem_id", maintain_order=True)
            .agg(pl.len().alias("samples"), pl.col("correct").sum().alias("correct"),
                 pl.col("correct").mean().alias("accuracy"), pl.col("gold").first().alias("gold")))


def generations(runs_root: str, run: str, name: str, step: int, problem_id: str) -> pl.DataFrame:
    """The samples generated for one problem (the only generations sent to the browser)."""
    return _eval_samples(runs_root, run, name, step).filter(pl.col("problem_id") == problem_id).sort("sample")
