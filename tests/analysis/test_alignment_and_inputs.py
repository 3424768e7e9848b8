"""Token alignment is checked, never assumed; the analysis API refuses what it would otherwise misread.

Positions pair only when they hold the same token id (a re-saved tokenizer shifts them); NaN p, a pandas
frame, missing columns, an unknown objective, `None` as the runs folder and names that match nothing are
one-line errors (or, for pandas, converted), never NaN results or empty tables.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import pytest
from helpers import build_fixture_runs
from polars.testing import assert_frame_equal

import probscope as ps
from probscope import schema
from probscope.errors import ProbscopeError
from probscope.runs import Run


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    return build_fixture_runs(tmp_path_factory.mktemp("runs"))


def _shifted(tokens: pl.DataFrame, every: int) -> pl.DataFrame:
    """`tokens` with every `every`-th token id changed: what a different tokenization leaves at those positions."""
    return tokens.with_columns(pl.when(pl.int_range(pl.len()) % every == 0).then(pl.col(schema.TOKEN_ID) + 1000)
                               .otherwise(pl.col(schema.TOKEN_ID)).alias(schema.TOKEN_ID))


def test_pairs_with_different_token_ids_are_refused_or_dropped_and_counted(runs_root):
    a = ps.load_tokens(runs_root, steps={"dft": 5})
    b = _shifted(ps.load_tokens(runs_root, steps={"dft": 10}), every=4)
    joined = a.join(b, on=[schema.EXAMPLE_ID, schema.POSITION], suffix="_b")
    differ = int((joined[schema.TOKEN_ID] != joined[f"{schema.TOKEN_ID}_b"]).sum())
    assert 0 < differ < joined.height
    alignment = ps.token_alignment(a, b)
    assert (alignment.paired, alignment.mismatched) == (joined.height, differ)
    assert alignment.share == pytest.approx(differ / joined.height)
    with pytest.raises(ProbscopeError, match=rf"{differ:,} of {joined.height:,} \(\d+\.\d%\) positions hold "
                                             "different token ids"):
        ps.paired_bins(a, b)
    dropped = ps.paired_bins(a, b, mismatched="drop")
    same = joined.filter(pl.col(schema.TOKEN_ID) == pl.col(f"{schema.TOKEN_ID}_b"))
    edges = np.array(schema.BIN_EDGES)
    reference, _, _ = np.histogram2d(same[schema.P].to_numpy(), same[f"{schema.P}_b"].to_numpy(), bins=[edges, edges])
    got = np.zeros_like(reference)
    for row in dropped.iter_rows(named=True):
        got[row["bin_a"], row["bin_b"]] = row["count"]
    assert (got == reference).all() and got.sum() == joined.height - differ
    aligned = ps.token_alignment(a, ps.load_tokens(runs_root, steps={"dft": 10}))
    assert aligned.mismatched == 0 and aligned.share == 0.0


@pytest.mark.bad_input
def test_paired_bins_bad_arguments(runs_root):
    a = ps.load_tokens(runs_root, steps={"dft": 5})
    with pytest.raises(ProbscopeError, match="mismatched='keep': use 'refuse' or 'drop'"):
        ps.paired_bins(a, a, mismatched="keep")
    with pytest.raises(ProbscopeError, match="b: missing column.*token_id"):
        ps.paired_bins(a, a.drop(schema.TOKEN_ID))


@pytest.mark.bad_input
def test_nan_p_is_refused_not_spread_or_dropped(runs_root):
    tokens = ps.load_tokens(runs_root, steps={"dft": 10})
    broken = tokens.with_columns(pl.when(pl.int_range(pl.len()) < 3).then(float("nan"))
                                 .otherwise(pl.col(schema.P)).alias(schema.P))
    with pytest.raises(ProbscopeError, match="sample 'b': 3 rows have p missing, NaN or outside"):
        ps.distribution_statistics(tokens, broken, n_boot=0)
    with pytest.raises(ProbscopeError, match="tokens: 3 rows have p missing, NaN"):
        ps.gradient_mass_by_bin(broken)


@pytest.mark.bad_input
def test_frames_are_checked_at_the_boundary(runs_root):
    tokens = ps.load_tokens(runs_root, steps={"sft": 10})
    # a pandas frame is read as the polars frame it converts to
    assert ps.lowest_bin_tokens(tokens.to_pandas(), upper=0.5).equals(ps.lowest_bin_tokens(tokens, upper=0.5))
    assert_frame_equal(ps.gradient_mass_by_bin(tokens.to_pandas()), ps.gradient_mass_by_bin(tokens))
    frame = tokens.to_pandas()
    assert ps.probability_histogram(frame).equals(ps.probability_histogram(tokens))
    assert ps.left_behind_table(frame).equals(ps.left_behind_table(tokens))
    before = ps.load_tokens(runs_root, steps={"sft": 5})
    assert_frame_equal(ps.token_movers(before.to_pandas(), frame), ps.token_movers(before, tokens))
    with pytest.raises(ProbscopeError, match="after: missing column.*token"):
        ps.token_movers(tokens, tokens.drop(schema.TOKEN))
    with pytest.raises(ProbscopeError, match="tokens: missing column.*method"):
        ps.probability_histogram(tokens.drop(schema.METHOD))
    with pytest.raises(ProbscopeError, match=r"tokens: missing column\(s\) sum_p2"):
        ps.gradient_mass_by_bin(tokens.drop(schema.SUM_P2))
    with pytest.raises(ProbscopeError, match="tokens: missing column.*role"):
        ps.lowest_bin_tokens(tokens.drop(schema.ROLE))
    with pytest.raises(ProbscopeError, match="expected a polars DataFrame or LazyFrame.*found list"):
        ps.lowest_bin_tokens([1, 2, 3])
    with pytest.raises(ProbscopeError, match="sample 'a': missing column.*logp"):
        ps.distribution_statistics(tokens.drop(schema.LOGP), tokens, n_boot=0)
    with pytest.raises(ProbscopeError, match="objectives=.*'sgd'.*use a list of sft, dft, dft-floor, power"):
        ps.gradient_mass_by_bin(tokens, objectives=["sft", "sgd"])
    with pytest.raises(ProbscopeError, match="objectives='dft'"):
        ps.gradient_mass_by_bin(tokens, objectives="dft")


@pytest.mark.bad_input
def test_names_that_match_nothing_and_none_as_runs_folder(runs_root, caplog):
    with caplog.at_level(logging.WARNING, logger="probscope"):
        assert ps.load_evals(runs_root, names=["nosuch"]).is_empty()
        assert ps.load_evals(runs_root, runs_filter=["nosuch"]).is_empty()
    assert "no evaluation named nosuch (evaluations: none)" in caplog.text
    assert "no run named nosuch (runs: base, dft, sft)" in caplog.text
    with pytest.raises(ProbscopeError, match="pass a list, not the string 'sft'"):
        ps.load_evals(runs_root, runs_filter="sft")
    for call in (lambda: ps.load_tokens(None), lambda: ps.load_evals(None), lambda: ps.check_runs(None)):
        with pytest.raises(ProbscopeError, match="runs directory: expected a path, found None"):
            call()


@pytest.mark.bad_input
def test_plot_lowest_bin_tokens_top_must_be_positive(runs_root):
    listing = ps.lowest_bin_tokens(ps.load_tokens(runs_root), upper=0.5)
    with pytest.raises(ProbscopeError, match="top=0: must be an integer >= 1"):
        ps.plot_lowest_bin_tokens(listing, top=0)


def test_end_of_reply_counts_truncated_replies_apart(runs_root):
    tokens = ps.load_tokens(runs_root, steps={"dft": 10})
    last = tokens.filter(pl.col(schema.POSITION) == pl.col(schema.POSITION).max().over(schema.EXAMPLE_ID))
    cut = set(last[schema.EXAMPLE_ID].unique().sort().to_list()[:7])   # 7 replies lose their end token
    truncated = tokens.filter(~(pl.col(schema.EXAMPLE_ID).is_in(list(cut))
                                & (pl.col(schema.POSITION) == pl.col(schema.POSITION).max().over(schema.EXAMPLE_ID))))
    (row,) = ps.end_of_reply(truncated).iter_rows(named=True)
    ended = last.filter(~pl.col(schema.EXAMPLE_ID).is_in(list(cut)))
    assert (row["replies"], row["truncated"], row["end_token"]) == (ended.height, 7, "<|eos|>")
    assert row["share_below"] == pytest.approx(float((ended[schema.P] < 0.1).mean()))


def test_diagnose_and_export_say_when_the_last_checkpoint_is_unprobed(runs_root, capsys):
    from probscope.cli import main as cli_main
    from probscope.runs import write_text_atomic

    dft = Run(runs_root / "dft")
    write_text_atomic(dft.checkpoint(15) / "config.json", "{}")    # a later checkpoint, never probed
    try:
        report = ps.diagnose(runs_root, "dft")
        assert "note: dft's last checkpoint, step 15, is not probed on 'train': this reads step 10" in report
        assert cli_main(["export", "--runs", str(runs_root), "--out", str(runs_root.parent / "figs"),
                         "--figure", "figure2", "--format", "png,png,PNG"]) == 0
        out = capsys.readouterr().out
        assert "step 15, is not probed" in out and "wrote 3 files (figure2 as csv, md, png)" in out
    finally:
        (dft.checkpoint(15) / "config.json").unlink()
        dft.checkpoint(15).rmdir()
