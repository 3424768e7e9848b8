"""Summary tables: written by the probe from its batches, given to older directories by `probscope summarize`,
and read by the analyses in place of the rows, with the answers the rows give (the rows' computation is the
reference: every analysis is run on load_tokens' frame, which reads summaries, and on the collected rows).

    .venv/bin/pytest tests/probe/test_summaries.py -q
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import polars as pl
import pytest
from helpers import random_examples, tiny_llama, word_tokenizer
from polars.testing import assert_frame_equal

import probscope as ps
from probscope import runs, schema
from probscope.analysis import stats, summary_tables
from probscope.analysis.tokens import series_columns
from probscope.cli import main as cli_main
from probscope.errors import ProbscopeError
from probscope.probe import probe_examples, read_probe_table, summaries
from probscope.probe.config import ProbeOptions

BY = (schema.METHOD, schema.RUN, schema.STEP)


@pytest.fixture(scope="module")
def summarized(runs_root):
    """The fixture runs, every finished probe directory summarized (as `probscope summarize` does)."""
    assert summaries.summarize_all(runs_root, progress=False) == 5
    return runs_root


def both(root, **load):
    """load_tokens' own frame (answers from summaries) and the same tokens as plain rows."""
    return ps.load_tokens(root, lazy=True, **load), ps.load_tokens(root, **load)


ANALYSES = [
    (ps.probability_histogram, {}),
    (ps.probability_histogram, {"by": (*BY, schema.ROLE, schema.IS_TOP1)}),
    (ps.probability_histogram, {"by": ()}),
    (ps.lowest_bin_tokens, {}),
    (ps.lowest_bin_tokens, {"by": BY, "top": 5}),
    (ps.lowest_bin_tokens, {"lower": 0.9, "upper": None}),
    (ps.lowest_bin_tokens, {"lower": 1e-3, "upper": 0.1}),
    (ps.role_shares, {}),
    (ps.role_shares, {"upper": 0.01, "by": BY}),
    (ps.class_histogram, {"by": BY}),
    (ps.extreme_bin_shares, {}),
    (ps.left_behind_by_role, {"by": BY}),
    (ps.left_behind_tokens, {"by": BY, "top": None}),
    (ps.end_of_reply, {"by": BY, "below": 0.3}),
    (ps.end_of_reply, {"below": 0.0123}),   # any threshold: each example's last p is kept
    (ps.left_behind_table, {}),
]


@pytest.mark.parametrize(("analysis", "options"), ANALYSES, ids=lambda x: getattr(x, "__name__", str(x)))
def test_each_analysis_answers_from_summaries_what_the_rows_give(summarized, analysis, options):
    lazy, rows = both(summarized, steps="all")
    assert summary_tables.probe_dirs(lazy) and not summary_tables.probe_dirs(rows)
    assert_frame_equal(analysis(lazy, **options), analysis(rows, **options))


def test_the_summaries_are_what_answers(summarized, monkeypatch):
    """Not the rows: with the shards unreadable, load_tokens' frame still gives Figure 2 and the listing."""
    lazy, rows = both(summarized, steps="all")
    expected = ps.probability_histogram(rows), ps.lowest_bin_tokens(rows)
    monkeypatch.setattr(pl.LazyFrame, "collect", _refuse_rows(pl.LazyFrame.collect))
    assert_frame_equal(ps.probability_histogram(lazy), expected[0])
    assert_frame_equal(ps.lowest_bin_tokens(lazy), expected[1])


def _refuse_rows(collect):
    def guarded(frame, *args, **kwargs):
        assert "part-" not in frame.explain(), "read the probe rows"
        return collect(frame, *args, **kwargs)
    return guarded


@pytest.mark.parametrize("by", ["token", "role"])
def test_token_movers_from_summaries(summarized, by):
    pair = ps.load_pair(summarized, ("dft", 5), ("dft", 10))
    rows = [frame.collect() for frame in pair]
    assert all(summary_tables.probe_dirs(frame) for frame in pair)
    assert_frame_equal(ps.token_movers(*pair, by=by, top=None, min_count=1),
                       ps.token_movers(*rows, by=by, top=None, min_count=1), check_exact=False, rel_tol=1e-12)


def test_at_last_step_keeps_answering_from_summaries(summarized):
    lazy, rows = both(summarized, steps="all")
    final = ps.at_last_step(lazy)
    assert {(d.run, d.step) for d in summary_tables.probe_dirs(final)} == {("base", 0), ("sft", 10), ("dft", 10)}
    assert_frame_equal(ps.probability_histogram(final, by=BY), ps.probability_histogram(ps.at_last_step(rows), by=BY))
    order = (*BY, schema.EXAMPLE_ID, schema.POSITION)
    assert_frame_equal(final.collect().sort(order), ps.at_last_step(rows).sort(order))   # the rows are the same


def test_diagnose_reads_the_summaries_and_says_what_it_said_from_the_rows(summarized, monkeypatch):
    expected = ps.diagnose(summarized, "dft", against="sft")
    monkeypatch.setattr(summary_tables, "probe_dirs", lambda tokens: ())   # every analysis from the rows
    assert ps.diagnose(summarized, "dft", against="sft") == expected


def test_left_behind_in_one_pass_equals_each_table(summarized, tmp_path):
    """diagnose's one pass (roles filled after summing per token) gives left_behind_by_role and
    left_behind_tokens, from summaries and from rows, also where some rows of a token carry a role and others
    none (filled with the same class: the two sums meet)."""
    from helpers import _write_probe, probe_table

    from probscope.analysis.left_behind import left_behind
    from probscope.analysis.token_classes import token_class

    root = tmp_path / "mixed"
    rng = np.random.default_rng(5)
    for name in ("sft", "dft"):
        run = runs.Run(root / name)
        run.write_manifest(runs.Manifest(name=name, method=name, status="finished", code_version="test"))
        table = probe_table(name, 10, rng)
        given = pl.col(schema.TOKEN).map_elements(token_class, return_dtype=pl.String)
        table = table.with_columns(pl.when(pl.int_range(pl.len()) % 2 == 0).then(given).alias(schema.ROLE))
        _write_probe(run, 10, table, finished=True)
    assert summaries.summarize_all(root, progress=False) == 2
    for source in (root, summarized):
        lazy, rows = both(source)
        for tokens in (lazy, rows):
            roles, listing = left_behind(tokens, below=0.1, by=BY, top=3)
            assert_frame_equal(roles, ps.left_behind_by_role(rows, below=0.1, by=BY))
            assert_frame_equal(listing, ps.left_behind_tokens(rows, below=0.1, by=BY, top=3))
    assert ps.load_tokens(root)[schema.ROLE].null_count() == 0   # load_tokens fills the missing half


def test_distribution_summary_from_summaries_matches_rows(summarized):
    lazy, rows = both(summarized, steps="all")
    assert_frame_equal(ps.distribution_summary(lazy), ps.distribution_summary(rows), check_exact=False, rel_tol=1e-9)


def test_a_threshold_between_cells_and_derived_frames_read_the_rows(summarized):
    lazy, rows = both(summarized, steps="all")
    assert summary_tables.cell_table(lazy, BY, thresholds=(0.05,)) is None
    assert summary_tables.cell_table(lazy.filter(pl.col(schema.P) > 0.5), BY) is None
    assert summary_tables.cell_table(lazy, (schema.EXAMPLE_ID,)) is None
    assert_frame_equal(ps.lowest_bin_tokens(lazy, upper=0.05), ps.lowest_bin_tokens(rows, upper=0.05))
    assert series_columns(lazy) == series_columns(rows) == BY


def test_directories_counting_other_cells_answer_together(summarized, tmp_path):
    """One scan per set of cell edges: a directory summarized with an extra edge is read beside the others; the
    runs folder's name looks like a hive partition (key=value), which must be read as a plain name."""
    root = tmp_path / "lr=1e-5"
    shutil.copytree(summarized, root)
    summaries.summarize(runs.Run(root / "dft").probe_dir(10), (0.05,))
    lazy, rows = both(root, steps="all")
    assert len({tuple(summaries.summary_record(d.path)["edges"]) for d in summary_tables.probe_dirs(lazy)}) == 2
    for analysis, options in [(ps.probability_histogram, {"by": BY}), (ps.lowest_bin_tokens, {"by": BY}),
                              (ps.lowest_bin_tokens, {"lower": 1e-3, "upper": 0.1}), (ps.role_shares, {"by": BY})]:
        assert_frame_equal(analysis(lazy, **options), analysis(rows, **options))


def test_pairwise_statistics_from_summaries(summarized, monkeypatch):
    lazy, rows = both(summarized)
    ours, reference = ps.pairwise_statistics(lazy, n_boot=300), ps.pairwise_statistics(rows, n_boot=300)
    # point values: exact (the rows are small enough to read for KS and Wasserstein)
    assert_frame_equal(ours.drop(stats.CI_LOW, stats.CI_HIGH), reference.drop(stats.CI_LOW, stats.CI_HIGH),
                       check_exact=False, rel_tol=1e-9, abs_tol=1e-12)
    # intervals: another grid and other draws, the same example-level resampling: the same width within a third
    width = (ours[stats.CI_HIGH] - ours[stats.CI_LOW]) / (reference[stats.CI_HIGH] - reference[stats.CI_LOW])
    assert width.is_between(0.66, 1.5).all(), width.to_list()
    # above EXACT_ROWS, KS and Wasserstein come from the fixed log-p grid: close to the exact values
    monkeypatch.setattr(stats, "EXACT_ROWS", 0)
    gridded = ps.pairwise_statistics(lazy, n_boot=0)
    gap = (gridded[stats.VALUE] - reference[stats.VALUE]).abs()
    assert gap.max() < 0.02, gridded.with_columns(gap.alias("gap"))


def test_example_sums_match_an_independent_count(summarized):
    run = runs.Run(summarized / "dft")
    ids, features = stats._example_sums([run.probe_dir(10)])
    rows = read_probe_table(run.probe_dir(10)).sort(schema.EXAMPLE_ID)
    assert list(ids) == rows[schema.EXAMPLE_ID].unique(maintain_order=True).to_list()
    first = rows.filter(pl.col(schema.EXAMPLE_ID) == ids[0])
    p, logp = first[schema.P].to_numpy(), first[schema.LOGP].to_numpy()
    grid = [int(((logp >= lo) & (logp < hi)).sum()) for lo, hi in
            zip([-np.inf, *summaries.GRID_LOGP_EDGES[1:-1]], [*summaries.GRID_LOGP_EDGES[1:-1], np.inf], strict=False)]
    bins = [int(((p >= lo) & (p < hi)).sum()) for lo, hi in
            zip(schema.BIN_EDGES[:-1], [*schema.BIN_EDGES[1:-1], 2], strict=False)]
    expected = [*grid, *bins, len(p), *(float((p**k).sum()) for k in range(1, 5))]
    np.testing.assert_allclose(features[0], expected, rtol=1e-12)


def test_the_probe_writes_summaries_vouched_for_by_its_marker(tmp_path):
    model, examples = tiny_llama(50), random_examples(12, 50, seed=3)
    summary = probe_examples(model, word_tokenizer(50), examples, tmp_path, run="r", step=1, shard_size=5,
                             device="cpu", progress=False, summary_bins=(0.5,))
    assert summary.summaries["edges"] == summaries.cell_edges((0.5,)).tolist()
    assert not list(tmp_path.glob(".summary-*")), "per-shard summaries are removed once merged"
    marker = json.loads((tmp_path / runs.PROBE_DONE).read_text())
    assert [f["name"] for f in marker["summaries"]["files"]] == [summaries.summary_name(k) for k in summaries.TABLES]
    # merged from three shards' summaries = the summary of all rows at once
    once = summaries.summarize_frame(read_probe_table(tmp_path), summaries.cell_edges((0.5,)))
    tokens = summaries.read_summary(tmp_path, "tokens")
    assert_frame_equal(tokens, once["tokens"], check_row_order=False, check_exact=False, rel_tol=1e-12)
    assert_frame_equal(summaries.read_summary(tmp_path, "examples"), once["examples"].sort(schema.EXAMPLE_ID))
    assert tokens[summaries.COUNT].sum() == summary.tokens


def test_a_changed_summary_file_is_not_trusted(summarized, tmp_path):
    root = shutil.copytree(summarized, tmp_path / "runs")
    probe_dir = runs.Run(root / "sft").probe_dir(10)
    cells = pl.read_parquet(probe_dir / summaries.summary_name("cells"))
    cells.with_columns(pl.col(summaries.COUNT) * 2).write_parquet(probe_dir / summaries.summary_name("cells"))
    assert summaries.summary_record(probe_dir) is None
    with pytest.raises(ProbscopeError, match="no summary tables vouched for"):
        summaries.read_summary(probe_dir, "cells")
    lazy, rows = both(root, steps="all")
    assert_frame_equal(ps.probability_histogram(lazy), ps.probability_histogram(rows))   # from the rows again


@pytest.mark.bad_input
@pytest.mark.parametrize("bins", ["0.5,x", "1.5", "0"])
def test_bad_summary_bins_are_refused_naming_the_flag(bins):
    with pytest.raises(ProbscopeError, match="--summary-bins"):
        ProbeOptions(summary_bins=bins)


@pytest.mark.bad_input
def test_summarize_command_on_a_missing_path(tmp_path, capsys):
    assert cli_main(["summarize", str(tmp_path / "nope")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"probscope summarize: error: {tmp_path / 'nope'}: not a probe directory or a runs directory"


def test_summarize_command_summarizes_once(summarized, tmp_path, capsys):
    root = shutil.copytree(summarized, tmp_path / "runs")
    assert cli_main(["summarize", str(root)]) == 0
    assert capsys.readouterr().out.strip().endswith("0 probe directories summarized")
