"""Cached reads for the pages: aggregates of the probe tables, one example's rows, the dynamics table.

    hist = aggregate(selection, probability_histogram, by=BY)    # cached per selection and files
    rows = example_rows(selection, "sft", 10, "3f2a…")            # one example's tokens, nothing more

Every cache is keyed on the files' signatures (completion markers, manifests, parts): a re-probed step
is read again, nothing else is. Per-token rows stay here on the server; only aggregates and the one
example being viewed reach the browser.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import polars as pl
import streamlit as st

from probscope import schema
from probscope.analysis import (
    class_histogram,
    diagnose,
    distribution_summary,
    extreme_bin_shares,
    gradient_mass_by_bin,
    left_behind_table,
    left_behind_tokens,
    load_pair,
    load_tokens,
    lowest_bin_tokens,
    paired_bins,
    pairwise_statistics,
    probability_histogram,
    role_shares,
    token_alignment,
    token_movers,
)
from probscope.analysis.catalog import Signature, file_signature
from probscope.analysis.diagnose import diagnose_pairs
from probscope.analysis.dynamics import dynamics_signature, load_dynamics
from probscope.analysis.summary import TokenAlignment
from probscope.app import state
from probscope.app.example import token_texts as spaced_tokens
from probscope.app.seeds import over_seeds
from probscope.app.text import md
from probscope.app.ui import PROBLEMS, problem
from probscope.errors import ProbscopeError
from probscope.evaluate.curves import accuracy_curves, load_evals, problem_results
from probscope.evaluate.engine import read_samples
from probscope.integrity import Finding, check_runs
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
def _aggregate(function: str, runs_root: str, dataset: str, steps: Steps, signature: Signature, kwargs: tuple):
    return AGGREGATES[function](_tokens(runs_root, dataset, steps), **dict(kwargs))


def aggregate(selection: state.Selection, function: Callable[..., pl.DataFrame], steps: Steps | None = None,
              **kwargs) -> pl.DataFrame:
    """`function`(tokens of `steps`, **kwargs) for one of AGGREGATES, cached; `steps` defaults to the sidebar's."""
    steps = selection.steps if steps is None else steps
    signature = state.probe_signature(selection.runs_root, selection.dataset, steps)
    return _aggregate(function.__name__, selection.runs_root, selection.dataset, steps, signature,
                      tuple(sorted(kwargs.items())))


def histograms_per_run(selection: state.Selection, steps: Steps) -> pl.DataFrame:
    """probability_histogram of each run of `steps`, in their order: all runs in one read (one cache miss on
    a cold page, not one per run), and when some run cannot be read, each run on its own, so a damaged probe
    blanks only its own run (said in one line naming it) and the others still draw; the page stops when no
    run could be read. With seeds grouped (Selection.grouped), one series per seed group: the mean and its
    95% interval."""
    try:
        order = {name: i for i, (name, _) in enumerate(steps)}
        table = aggregate(selection, probability_histogram, steps=steps, by=BY).sort(
            pl.col(schema.RUN).replace_strict(order, return_dtype=pl.Int32), maintain_order=True)
    except PROBLEMS:
        tables = []
        for one in steps:
            with problem(f"Figure 2 of {md(one[0])}"):
                tables.append(aggregate(selection, probability_histogram, steps=(one,), by=BY))
        if not tables:
            st.stop()
        table = pl.concat(tables)
    return over_seeds(table, dict(selection.groups), members=selection.per_seed) if selection.grouped() else table


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
    return distribution_summary(_tokens(runs_root, dataset, steps), by=BY)


def summary(selection: state.Selection, steps: Steps) -> pl.DataFrame:
    """probscope's distribution_summary per run and step, cached."""
    signature = state.probe_signature(selection.runs_root, selection.dataset, steps)
    return _summary(selection.runs_root, selection.dataset, steps, signature)


def diagnoses(selection: state.Selection,
              pairs: list[tuple[str, str | None]]) -> list[tuple[str | None, str | None]]:
    """probscope's diagnose report of each (run, against) pair at their last probed steps, cached, as
    (report, None) or (None, the one-line error of that run)."""
    finals = tuple(tuple((name, selection.probed_steps(name)[-1]) for name in pair if name) for pair in pairs)
    signature = tuple(state.probe_signature(selection.runs_root, selection.dataset, final) for final in finals)
    return _diagnoses(selection.runs_root, selection.dataset, tuple(pairs), signature)


@st.cache_data(max_entries=16, show_spinner="Diagnosing…")
def _diagnoses(runs_root: str, dataset: str, pairs: tuple, signature: tuple) -> list[tuple[str | None, str | None]]:
    try:   # every run read once (the SFT run each is compared with, too)
        return [(report, None) for report in diagnose_pairs(runs_root, pairs, dataset=dataset)]
    except PROBLEMS:   # some run's tables are damaged: each pair on its own, so only its findings say so
        return [_diagnosis(runs_root, dataset, pair) for pair in pairs]


def _diagnosis(runs_root: str, dataset: str, pair: tuple[str, str | None]) -> tuple[str | None, str | None]:
    try:
        return diagnose(runs_root, pair[0], against=pair[1], dataset=dataset), None
    except ProbscopeError as e:
        return None, str(e)


@st.cache_data(max_entries=64, show_spinner=False)
def _example_rows(runs_root: str, dataset: str, run: str, step: int, example_id: str, signature: Signature):
    tokens = _tokens(runs_root, dataset, ((run, step),))
    return tokens.filter(pl.col(schema.EXAMPLE_ID) == example_id).sort(schema.POSITION).collect()


def example_rows(selection: state.Selection, run: str, step: int, example_id: str) -> pl.DataFrame:
    """The target tokens of one example under one checkpoint, in reply order (a lazy filter: one example read)."""
    signature = state.probe_signature(selection.runs_root, selection.dataset, ((run, step),))
    return _example_rows(selection.runs_root, selection.dataset, run, step, example_id, signature)


TOKENIZER_FILE = "tokenizer.json"   # a fast tokenizer's one file, as save_pretrained writes it


@st.cache_resource(max_entries=8, show_spinner=False)
def _tokenizer(path: str, signature: Signature):
    from tokenizers import Tokenizer  # the Rust tokenizer alone: no transformers import on the page

    return Tokenizer.from_file(path)


def token_texts(selection: state.Selection, run: str, step: int, rows: pl.DataFrame) -> list[str] | None:
    """The example's target tokens as the checkpoint's own tokenizer spells them in context (its spacing),
    or None when the checkpoint holds no tokenizer.json (moved, deleted, or a slow tokenizer only)."""
    path = Run.named(selection.runs_root, run).checkpoint(step) / TOKENIZER_FILE
    if not path.is_file():
        return None
    tokenizer = _tokenizer(str(path), file_signature([path]))
    def decode(ids: list[int]) -> str:   # special tokens (the end of the reply) are targets too: spelled out
        return tokenizer.decode(ids, skip_special_tokens=False)

    return spaced_tokens(rows[schema.TOKEN_ID].to_list(), decode)


@st.cache_data(max_entries=64, show_spinner="Finding examples…")
def _examples(runs_root: str, dataset: str, run: str, step: int, token: str | None, upper: float, text: str,
              signature: Signature, lower: float = 0.0) -> pl.DataFrame:
    tokens = _tokens(runs_root, dataset, ((run, step),))
    found = tokens
    if token is not None:   # examples where this token has lower <= p < upper
        found = found.filter((pl.col(schema.TOKEN) == token) & (pl.col(schema.P) < upper)
                             & (pl.col(schema.P) >= lower))
    found = (found.group_by(schema.EXAMPLE_ID)
             .agg(pl.len().alias("tokens"), pl.col(schema.P).min().alias("lowest_p")))
    if text:   # examples whose reply holds the text, spacing and case aside
        replies = (tokens.sort(schema.POSITION).group_by(schema.EXAMPLE_ID)
                   .agg(_letters(pl.col(schema.TOKEN).str.join("")).alias("reply"))
                   .filter(pl.col("reply").str.contains(_letters(pl.lit(text)), literal=True)))
        found = found.join(replies.select(schema.EXAMPLE_ID), on=schema.EXAMPLE_ID, how="semi")
    return found.sort("lowest_p", schema.EXAMPLE_ID).collect()


def _letters(text: pl.Expr) -> pl.Expr:
    """Text without whitespace or the space markers of SentencePiece (▁) and byte-level BPE (Ġ), lowercased:
    how stored tokens and a typed search compare whatever the tokenizer's spacing."""
    return text.str.replace_all(r"[\s▁Ġ]", "").str.to_lowercase()


def examples(selection: state.Selection, run: str, step: int, *, token: str | None = None,
             upper: float = 1.0, text: str = "", lower: float = 0.0) -> pl.DataFrame:
    """Example ids of a checkpoint (with `token`: those holding it at `lower` <= p < `upper`; with `text`: those
    whose reply contains it), lowest p first."""
    signature = state.probe_signature(selection.runs_root, selection.dataset, ((run, step),))
    return _examples(selection.runs_root, selection.dataset, run, step, token, upper, text, signature, lower)


@st.cache_data(max_entries=32, show_spinner="Pairing tokens…")
def _paired_bins(runs_root: str, dataset: str, a: tuple[str, int], b: tuple[str, int],
                 signature: Signature) -> tuple[pl.DataFrame, TokenAlignment]:
    tokens = [_tokens(runs_root, dataset, (one,)) for one in (a, b)]
    # positions whose token ids differ are not the same token (another tokenization): left out, and counted
    pairs = paired_bins(*tokens, mismatched="drop")
    # the heatmap draws the cells that hold tokens (none at all: the page says the checkpoints share none)
    return (pairs.filter(pl.col("count") > 0).rename({"label_a": "bin_x", "label_b": "bin_y"}),
            token_alignment(*tokens))


def paired(selection: state.Selection, a: tuple[str, int],
           b: tuple[str, int]) -> tuple[pl.DataFrame, TokenAlignment]:
    """probscope's paired_bins of two checkpoints (the cells holding tokens) and how their tokens line up,
    cached."""
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
        paths += [run.eval_dir(step, name) / EVAL_DONE
                  for name in run.eval_names() for step in run.evaluated_steps(name)]
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


TreeSignature = tuple[tuple[str, int, int], ...]   # (path, modification time in ns, size) of each file


def tree_signature(runs_root: str) -> TreeSignature:
    """Every file under `runs_root` with its modification time and size: a file half-written, truncated,
    replaced, added or removed anywhere changes it (a few ms for a thousand files, ~8x less than checking them)."""
    found = []
    for folder, _, files in os.walk(runs_root):
        for name in files:
            try:
                stat = os.stat(os.path.join(folder, name))
            except OSError:   # removed between listing and stat: left out, like a file never written
                continue
            found.append((os.path.join(folder, name), stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(found))


@st.cache_data(max_entries=4, show_spinner="Checking the runs…")
def _findings(runs_root: str, signature: int) -> list[Finding]:
    return check_runs(runs_root)


def findings(runs_root: str) -> list[Finding]:
    """probscope check's findings (missing, stale, half-written or corrupt files) of `runs_root`, cached until
    any file under it changes."""
    # keyed on the signature's Python hash: Streamlit's hashing of a thousand-file signature takes ~25 ms on
    # every rerun of the Runs page, hash() ~0.1 ms (the cache lives in this process, as hash()'s seed does)
    return _findings(runs_root, hash(tree_signature(runs_root)))


@st.cache_data(max_entries=8, show_spinner="Reading generations…")
def _samples(eval_dir: str, signature: Signature) -> pl.DataFrame:
    return read_samples(eval_dir)


@st.cache_data(max_entries=16, show_spinner="Reading generations…")
def _problems(runs_root: str, run: str, name: str, step: int, signature: Signature) -> pl.DataFrame:
    return problem_results(runs_root, run, step, name)


def _done_signature(runs_root: str, run: str, name: str, step: int) -> Signature:
    return file_signature([Run.named(runs_root, run).eval_dir(step, name) / EVAL_DONE])


def problems(runs_root: str, run: str, name: str, step: int) -> pl.DataFrame:
    """probscope's problem_results of one evaluation (one row per problem), cached."""
    return _problems(runs_root, run, name, step, _done_signature(runs_root, run, name, step))


def generations(runs_root: str, run: str, name: str, step: int, problem_id: str) -> pl.DataFrame:
    """The samples generated for one problem (the only generations sent to the browser)."""
    eval_dir = Run.named(runs_root, run).eval_dir(step, name)
    samples = _samples(str(eval_dir), _done_signature(runs_root, run, name, step))
    return samples.filter(pl.col("problem_id") == problem_id).sort("sample")
