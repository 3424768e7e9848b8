"""Analyses of probe tables: loading across runs, Figure-2 histogram, lowest-bin listing, role shares.

    .venv/bin/pytest tests/analysis/test_analysis.py -q
"""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
from helpers import RUN_STEPS, UNFINISHED

import probscope as ps
from probscope import schema
from probscope.analysis import probe_signature
from probscope.errors import ProbscopeError
from probscope.probe.table import part_name
from probscope.runs import PROBE_DONE, Manifest, Run


def frame(rows: list[tuple]) -> pl.DataFrame:
    """A token frame from (method, p, token, role) rows; other columns get neutral values."""
    method, p, token, role = zip(*rows, strict=False)
    return pl.DataFrame({
        schema.METHOD: method, schema.RUN: method, schema.STEP: [0] * len(rows), schema.P: p,
        schema.TOKEN: token, schema.TOKEN_ID: [sum(map(ord, t)) for t in token], schema.ROLE: role,
    })


# ---- histogram ------------------------------------------------------------------------------------
def test_histogram_counts_a_hand_computed_case_with_values_on_bin_edges():
    a = [0.0, 5e-5, 1e-4, 1e-3, 0.0099, 0.01, 0.1, 0.2, 0.3, 0.7, 0.9, 0.95, 1.0, 1.0]
    tokens = frame([("a", p, "t", None) for p in a] + [("b", 0.5, "t", None)])
    hist = ps.probability_histogram(tokens)

    expected_a = [2, 1, 2, 1, 1, 1, 1, 0, 0, 0, 1, 0, 4]   # by hand: left-closed bins, 1.0 in the last
    got_a = hist.filter(pl.col(schema.METHOD) == "a").sort("bin")
    assert got_a["count"].to_list() == expected_a
    assert got_a["percent"].to_list() == pytest.approx([100 * c / len(a) for c in expected_a])
    got_b = hist.filter(pl.col(schema.METHOD) == "b").sort("bin")
    assert got_b["count"].to_list() == [0] * 8 + [1] + [0] * 4      # every bin present, zeros included
    assert got_b["bin_label"].to_list() == list(schema.BIN_LABELS)
    assert hist.group_by(schema.METHOD).agg(pl.col("percent").sum())["percent"].to_list() == pytest.approx([100, 100])
    assert got_a["lo"].to_list() == list(schema.BIN_EDGES[:-1]) and got_a["hi"].to_list() == list(schema.BIN_EDGES[1:])


def test_histogram_matches_numpy_reference_on_fixture_runs(runs_root):
    tokens = ps.load_tokens(runs_root)
    hist = ps.probability_histogram(tokens)
    for method in RUN_STEPS:
        p = tokens.filter(pl.col(schema.METHOD) == method)[schema.P].to_numpy()
        reference, _ = np.histogram(p, bins=np.array(schema.BIN_EDGES))   # [a, b) bins, last one [a, b]
        got = hist.filter(pl.col(schema.METHOD) == method).sort("bin")
        assert got["count"].to_list() == reference.tolist()
        assert got["percent"].sum() == pytest.approx(100.0)


def test_histogram_without_groups_and_lazy_input(runs_root):
    tokens = ps.load_tokens(runs_root, lazy=True)
    hist = ps.probability_histogram(tokens, by=())
    assert hist.columns == ["bin", "bin_label", "lo", "hi", "count", "percent"]
    assert hist["count"].sum() == tokens.select(pl.len()).collect().item()


@pytest.mark.parametrize("bad", [float("nan"), 1.5, -0.1, None])
def test_histogram_rejects_probabilities_outside_0_1(bad):
    with pytest.raises(ProbscopeError, match="1 rows have p missing, NaN or outside"):
        ps.probability_histogram(frame([("a", 0.5, "t", None), ("a", bad, "t", None)]))


def test_histogram_tolerates_float32_rounding_above_one():
    hist = ps.probability_histogram(frame([("a", 1.0 + 1e-7, "t", None)]))
    assert hist.filter(pl.col("count") > 0)["bin"].to_list() == [len(schema.BIN_EDGES) - 2]


# ---- lowest-bin listing and roles -----------------------------------------------------------------
LOW = [
    ("a", 1e-5, ".", "punctuation"), ("a", 2e-5, ".", "punctuation"), ("a", 0.0, ".", "punctuation"),
    ("a", 5e-5, "So", "connective"), ("a", 9e-5, "So", "connective"),
    ("a", 2e-5, "7", "number"), ("a", 0.5, "7", "number"),
    ("a", 1e-4, "x", "fact"),            # exactly on the edge: not in the lowest bin (left-closed)
    ("b", 0.0, ",", "punctuation"), ("b", 0.9, "4", "number"),
]


def test_lowest_bin_tokens_on_a_hand_built_frame():
    listing = ps.lowest_bin_tokens(frame(LOW))
    assert listing.select(schema.METHOD, "rank", "token", "role", "count").rows() == [
        ("a", 1, ".", "punctuation", 3), ("a", 2, "So", "connective", 2), ("a", 3, "7", "number", 1),
        ("b", 1, ",", "punctuation", 1),
    ]
    assert listing["share"].to_list() == pytest.approx([3 / 6, 2 / 6, 1 / 6, 1.0])
    assert ps.lowest_bin_tokens(frame(LOW), top=1)["token"].to_list() == [".", ","]
    wider = ps.lowest_bin_tokens(frame(LOW), upper=0.6, by=())
    assert wider.select("token", "count").rows()[:2] == [(".", 3), ("7", 2)]   # ties (7, So) by token


def test_role_shares_and_stylistic_shares_on_a_hand_built_frame():
    shares = ps.role_shares(frame(LOW))
    a = {row["role"]: row for row in shares.filter(pl.col(schema.METHOD) == "a").iter_rows(named=True)}
    assert (a["punctuation"]["low_count"], a["punctuation"]["all_count"]) == (3, 3)
    assert a["punctuation"]["low_share"] == pytest.approx(3 / 6)
    assert a["punctuation"]["all_share"] == pytest.approx(3 / 8)
    assert a["punctuation"]["enrichment"] == pytest.approx((3 / 6) / (3 / 8))
    assert a["fact"]["low_count"] == 0 and a["fact"]["all_share"] == pytest.approx(1 / 8)
    assert a["connective"]["stylistic"] and not a["number"]["stylistic"]

    summary = ps.stylistic_shares(shares)
    assert summary.select(schema.METHOD, "low_count", "all_count").rows() == [("a", 5, 5), ("b", 1, 1)]
    assert summary["low_share"].to_list() == pytest.approx([5 / 6, 1.0])
    assert summary["all_share"].to_list() == pytest.approx([5 / 8, 1 / 2])
    none_low = ps.stylistic_shares(ps.role_shares(frame(LOW).filter(pl.col(schema.P) > 0), upper=1e-9))
    assert none_low["low_share"].to_list() == [None, None]


def test_fixture_dft_lowest_bin_is_mostly_stylistic(runs_root):
    """The fixture is built so; this checks the pipeline reports it (and would catch swapped shares)."""
    summary = ps.stylistic_shares(ps.role_shares(ps.load_tokens(runs_root)))
    dft = summary.filter(pl.col(schema.METHOD) == "dft").row(0, named=True)
    assert dft["low_share"] > 0.7 > 0.4 > dft["all_share"]


# ---- loading across runs ------------------------------------------------------------------------------
def test_load_tokens_reads_last_finished_step_and_adds_method(runs_root):
    tokens = ps.load_tokens(runs_root)
    steps = dict(tokens.group_by(schema.RUN).agg(pl.col(schema.STEP).unique()).rows())
    assert steps == {"base": [0], "sft": [10], "dft": [10]}        # sft's unfinished step 20 is ignored
    assert (tokens[schema.METHOD] == tokens[schema.RUN]).all()           # fixture: method name = run name
    assert tokens.columns == [*schema.TOKEN_COLUMNS, schema.METHOD]
    assert tokens.schema[schema.P] == pl.Float64
    lazy = ps.load_tokens(runs_root, lazy=True)
    assert isinstance(lazy, pl.LazyFrame) and lazy.collect().equals(tokens)


def test_step_choices(runs_root):
    assert ps.select_steps(runs_root, steps="all") == {"base": [0], "dft": [5, 10], "sft": [5, 10]}
    assert ps.select_steps(runs_root, steps=[5]) == {"dft": [5], "sft": [5]}
    with pytest.raises(ProbscopeError,
                       match=r"no run has .* at step\(s\) 99 \(finished: base: 0; dft: 5, 10; sft: 5, 10\)"):
        ps.select_steps(runs_root, steps=[5, 99])
    assert ps.select_steps(runs_root, steps={"sft": 5, "base": 0}) == {"sft": [5], "base": [0]}
    assert ps.select_steps(runs_root, runs=["dft"]) == {"dft": [10]}
    run, step = UNFINISHED
    expected = rf"{run}: no finished probe table .* step\(s\) {step} \(finished: 5, 10\)"
    with pytest.raises(ProbscopeError, match=expected):
        ps.select_steps(runs_root, steps={run: step})
    with pytest.raises(ProbscopeError, match="no run named nope"):
        ps.load_tokens(runs_root, runs=["nope"])
    with pytest.raises(ProbscopeError, match="no run has a finished probe table .* step\\(s\\) 99"):
        ps.load_tokens(runs_root, steps=[99])
    with pytest.raises(ProbscopeError, match="'first' is not 'last', 'all'"):
        ps.load_tokens(runs_root, steps="first")


def test_bad_runs_directories(tmp_path):
    with pytest.raises(ProbscopeError, match="does not exist"):
        ps.load_tokens(tmp_path / "missing")
    with pytest.raises(ProbscopeError, match="no runs found"):
        ps.load_tokens(tmp_path)
    Run(tmp_path / "sft").write_manifest(Manifest(name="sft", method="sft"))
    with pytest.raises(ProbscopeError, match="no finished probe tables .*probscope probe"):
        ps.load_tokens(tmp_path)


def test_load_tokens_names_a_probe_table_with_other_columns(runs_root, tmp_path):
    shutil.copytree(runs_root, tmp_path, dirs_exist_ok=True)
    stray = Run(tmp_path / "sft").probe_dir(10) / part_name(rank=0, shard=2)
    pl.DataFrame({schema.P: [0.5]}).write_parquet(stray)
    with pytest.raises(ProbscopeError, match=f"{stray}: columns \\['p'\\] differ from probe schema"):
        ps.load_tokens(tmp_path)


def test_load_tokens_names_a_probe_table_of_a_newer_schema(runs_root, tmp_path):
    shutil.copytree(runs_root, tmp_path, dirs_exist_ok=True)
    probe_dir = Run(tmp_path / "dft").probe_dir(10)
    (probe_dir / PROBE_DONE).write_text(json.dumps({"rows": 1, "schema_version": schema.SCHEMA_VERSION + 1}))
    with pytest.raises(ProbscopeError) as error:
        ps.load_tokens(tmp_path)
    assert str(error.value) == (f"{probe_dir}: probe table schema v{schema.SCHEMA_VERSION + 1} is newer than this "
                                f"probscope's v{schema.SCHEMA_VERSION}; upgrade probscope to read it")


def test_series_columns_tell_runs_and_steps_apart(runs_root, tmp_path):
    assert ps.series_columns(ps.load_tokens(runs_root)) == (schema.METHOD,)
    assert ps.series_columns(ps.load_tokens(runs_root, steps="all", lazy=True)) == (
        schema.METHOD, schema.RUN, schema.STEP)
    shutil.copytree(runs_root, tmp_path, dirs_exist_ok=True)
    shutil.copytree(tmp_path / "sft", tmp_path / "sft-b")      # a second SFT run (same method)
    assert ps.series_columns(ps.load_tokens(tmp_path)) == (schema.METHOD, schema.RUN)


def test_runs_overview_and_probe_signature(runs_root, tmp_path):
    overview = ps.runs_overview(runs_root)
    assert overview.select(schema.RUN, schema.METHOD, "status").rows() == [
        ("base", "base", "finished"), ("dft", "dft", "finished"), ("sft", "sft", "finished"),
    ]
    assert overview.filter(pl.col("run") == "sft")["checkpoints"].to_list() == [[5, 10]]
    assert overview.filter(pl.col("run") == "sft")["probed"].item() == "train: 5, 10"

    shutil.copytree(runs_root, tmp_path, dirs_exist_ok=True)
    before = probe_signature(tmp_path, {"sft": 10, "base": 0}, "train")
    assert probe_signature(tmp_path, {"base": 0, "sft": 10}, "train") == before
    marker = Run(tmp_path / "sft").probe_dir(10) / PROBE_DONE
    marker.write_text(json.dumps({"rows": 0}))                    # a re-probe rewrites the marker last
    os.utime(marker, ns=(marker.stat().st_atime_ns, marker.stat().st_mtime_ns + 10**9))
    assert probe_signature(tmp_path, {"sft": 10, "base": 0}, "train") != before


# ---- across checkpoints -------------------------------------------------------------------------------
def test_extreme_bin_shares_and_step_histograms_match_numpy(runs_root):
    tokens = ps.load_tokens(runs_root, steps="all", lazy=True)
    shares = ps.extreme_bin_shares(tokens)
    assert shares.select("run", "step").rows() == [("base", 0), ("dft", 5), ("dft", 10), ("sft", 5), ("sft", 10)]
    frame = tokens.collect()
    for run, step, lowest, highest in shares.select("run", "step", "lowest_share", "highest_share").iter_rows():
        p = frame.filter(run=run, step=step)["p"].to_numpy()
        assert (lowest, highest) == pytest.approx((np.mean(p < 1e-4), np.mean(p >= 0.9)))
    hist = ps.step_histograms(tokens)
    assert hist.group_by("run", "step").agg(pl.col("percent").sum())["percent"].to_list() == pytest.approx([100.0] * 5)
    assert ps.at_last_step(tokens).select("run", "step").unique().sort("run").collect().rows() == [
        ("base", 0), ("dft", 10), ("sft", 10)]


# ---- tokens left behind ---------------------------------------------------------------------------------
def test_left_behind_and_end_of_reply_match_numpy(runs_root):
    tokens = ps.load_tokens(runs_root)
    ends = ps.end_of_reply(tokens)
    for method, replies, end_token, share in ends.select("method", "replies", "end_token", "share_below").iter_rows():
        rows = tokens.filter(method=method)
        last = rows.filter(pl.col("position") == pl.col("position").max().over("example_id"))
        assert replies == last.height == rows["example_id"].n_unique()
        assert end_token == "<|eos|>" and share == pytest.approx(np.mean(last["p"].to_numpy() < 0.1))
    shares = dict(ends.select("method", "share_below").rows())
    assert shares["sft"] == 0.0 and shares["dft"] > 0.4                          # the fixture's DFT never stops
    by_role = ps.left_behind_by_role(tokens)
    dft = tokens.filter(method="dft")
    for role, occurrences, below in by_role.filter(method="dft").select("role", "occurrences", "below").iter_rows():
        p = dft.filter(role=role)["p"].to_numpy()
        assert (occurrences, below) == (len(p), int(np.sum(p < 0.1)))
    listing = ps.left_behind_tokens(tokens, top=2)
    assert listing.filter(method="dft")["token"].to_list()[0] == "<|eos|>"
    table = ps.left_behind_table(tokens)
    assert table.filter(role="end of reply").select("method", "share_below").sort("method").rows() == sorted(
        ends.select("method", "share_below").rows())


def test_class_histogram_slices_add_up_to_figure2(runs_root):
    tokens = ps.load_tokens(runs_root)
    classes = ps.class_histogram(tokens)
    summed = classes.group_by("method", "bin").agg(pl.col("count", "percent").sum()).sort("method", "bin")
    figure2 = ps.probability_histogram(tokens).sort("method", "bin")
    assert summed["count"].to_list() == figure2["count"].to_list()
    assert summed["percent"].to_numpy() == pytest.approx(figure2["percent"].to_numpy())
    shares = classes.filter(pl.col("count") > 0).group_by("method", "bin").agg(pl.col("bin_share").sum())
    assert shares["bin_share"].to_numpy() == pytest.approx(np.ones(shares.height))


def test_cli_diagnose_reports_the_end_of_reply_and_roles(runs_root, capsys):
    from probscope.cli import main

    assert main(["diagnose", "dft", "--against", "sft", "--runs", str(runs_root)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    ends = dict(ps.end_of_reply(ps.load_tokens(runs_root)).select("method", "share_below").rows())
    assert lines[0] == "dft (dft, step 10) against sft (sft, step 10): tokens with p < 0.1 at the final step"
    assert lines[1] == (f"end of reply ('<|eos|>'): p < 0.1 in {ends['dft']:.0%} of 40 replies under dft "
                        f"vs 0% of 40 under sft")
    assert lines[2].startswith("roles most left behind under dft: special ") and lines[3].startswith(
        "tokens most often left behind under dft: '<|eos|>' ")
    assert main(["diagnose", "dtf", "--runs", str(runs_root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("probscope diagnose: error: ") and "no run named dtf" in err and "did you mean dft?" in err


# ---- the notebook API stays light ---------------------------------------------------------------------
def test_import_probscope_loads_no_heavy_module():
    code = (
        "import sys, probscope as ps; "
        "heavy = [m for m in ('torch', 'transformers', 'matplotlib', 'polars', 'streamlit') if m in sys.modules]; "
        "assert not heavy, heavy; "
        "from probscope.analysis.histograms import probability_histogram; "
        "assert ps.probability_histogram is probability_histogram; "
        "assert 'matplotlib' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- the benchmark runs (small) ---------------------------------------------------------------------
def test_analysis_benchmark_reports_its_figures():
    out = subprocess.run([sys.executable, "-m", "probscope.perf", "analysis", "--rows", "24000", "--reps", "1",
                          "--bootstrap", "20", "--tokens-per-example", "50"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["rows"] == 24000 and result["rows_per_table"] == 1000 and result["examples_per_table"] == 20
    assert all(result[key] > 0 for key in ("figure2_listing_s", "last_step_s", "stats_s", "peak_rss_mb"))


# ---- summary, paired bins, listing ranges ---------------------------------------------------------
def test_distribution_summary_matches_numpy_per_run_and_step(runs_root):
    tokens = ps.load_tokens(runs_root, steps="all")
    summary = ps.distribution_summary(tokens)
    assert summary.select(schema.RUN, schema.STEP).rows() == sorted(
        (run, step) for run, steps in RUN_STEPS.items() for step in steps)
    edges = np.array(schema.BIN_EDGES)
    for row in summary.iter_rows(named=True):
        one = tokens.filter((pl.col(schema.RUN) == row[schema.RUN]) & (pl.col(schema.STEP) == row[schema.STEP]))
        p = one[schema.P].to_numpy()
        counts, _ = np.histogram(p, bins=edges)
        assert row["tokens"] == p.size
        assert row["mean_p"] == pytest.approx(p.mean())
        assert row["nll"] == pytest.approx(-one[schema.LOGP].to_numpy().mean())
        assert row["mean_entropy"] == pytest.approx(one[schema.ENTROPY].to_numpy().mean())
        assert row["top1"] == pytest.approx(one[schema.IS_TOP1].to_numpy().mean())
        assert row["below_0.1"] == pytest.approx((p < 0.1).mean())
        assert row["above_0.9"] == pytest.approx((p >= 0.9).mean())
        assert row["polarization"] == pytest.approx((counts[0] + counts[-1]) / p.size)
    assert row["polarization"] > 0   # the fixture's DFT does reach both ends: the test can tell a wrong column


def test_distribution_summary_groups_by_method_and_refuses_bad_p():
    tokens = frame([("a", 0.5, "t", None), ("a", 1e-5, "t", None), ("b", 0.95, "t", None)]).with_columns(
        pl.col(schema.P).log().alias(schema.LOGP), pl.lit(1.0).alias(schema.ENTROPY),
        (pl.col(schema.P) > 0.9).alias(schema.IS_TOP1))
    summary = ps.distribution_summary(tokens, by=[schema.METHOD])
    assert summary["polarization"].to_list() == [0.5, 1.0] and summary["top1"].to_list() == [0.0, 1.0]
    with pytest.raises(ProbscopeError, match="1 rows have p missing"):
        ps.distribution_summary(tokens.with_columns(
            pl.when(pl.int_range(pl.len()) == 0).then(float("nan")).otherwise(pl.col(schema.P)).alias(schema.P)))


def test_paired_bins_match_a_numpy_crosstab(runs_root):
    a = ps.load_tokens(runs_root, steps={"dft": 5})
    b = ps.load_tokens(runs_root, steps={"dft": 10}).sample(fraction=0.7, seed=1)   # only some tokens match
    pairs = ps.paired_bins(a, b)
    n_bins = len(schema.BIN_EDGES) - 1
    assert pairs.height == n_bins * n_bins                                          # every cell, zeros too
    joined = a.join(b, on=[schema.EXAMPLE_ID, schema.POSITION], suffix="_b")
    edges = np.array(schema.BIN_EDGES)
    reference, _, _ = np.histogram2d(joined[schema.P].to_numpy(), joined[f"{schema.P}_b"].to_numpy(),
                                     bins=[edges, edges])
    got = np.zeros((n_bins, n_bins))
    for row in pairs.iter_rows(named=True):
        got[row["bin_a"], row["bin_b"]] = row["count"]
    assert (got == reference).all() and got.sum() == b.height
    assert pairs["percent"].sum() == pytest.approx(100.0)
    assert pairs.filter(pl.col("count") > 0)["label_a"].is_in(list(schema.BIN_LABELS)).all()
    assert (np.diag(got).sum() < got.sum())                                          # some tokens changed bin


def test_paired_bins_of_disjoint_tokens_are_all_zero():
    a = pl.DataFrame({schema.EXAMPLE_ID: ["x"], schema.POSITION: [0], schema.TOKEN_ID: [3], schema.P: [0.5]})
    b = pl.DataFrame({schema.EXAMPLE_ID: ["y"], schema.POSITION: [0], schema.TOKEN_ID: [3], schema.P: [0.5]})
    pairs = ps.paired_bins(a, b)
    assert pairs["count"].sum() == 0 and pairs["percent"].null_count() == pairs.height


def test_lowest_bin_tokens_upper_tail_and_range_match_numpy(runs_root):
    tokens = ps.load_tokens(runs_root).with_columns(   # some p exactly 1: the tail p >= t must keep them
        pl.when(pl.col(schema.POSITION) == 0).then(1.0).otherwise(pl.col(schema.P)).alias(schema.P))
    for lower, upper in ((0.9, None), (1e-3, 0.5), (None, 1e-4)):
        listing = ps.lowest_bin_tokens(tokens, lower=lower, upper=upper)
        p = tokens[schema.P].to_numpy()
        keep = np.ones(p.size, bool)
        if lower is not None:
            keep &= p >= lower
        if upper is not None:
            keep &= p < upper
        for method in RUN_STEPS:
            mine = (tokens[schema.METHOD].to_numpy() == method) & keep
            ids, counts = np.unique(tokens[schema.TOKEN_ID].to_numpy()[mine], return_counts=True)
            got = listing.filter(pl.col(schema.METHOD) == method)
            assert (dict(zip(got[schema.TOKEN_ID].to_list(), got["count"].to_list(), strict=False))
                    == dict(zip(ids, counts, strict=False)))
            if got.height:
                assert got["share"].sum() == pytest.approx(1.0)
    assert ps.lowest_bin_tokens(tokens, lower=1.0, upper=None)["count"].sum() == (tokens[schema.P] == 1.0).sum()
    with pytest.raises(ProbscopeError, match="lower=0.5 >= upper=0.1"):
        ps.lowest_bin_tokens(tokens, lower=0.5, upper=0.1)
