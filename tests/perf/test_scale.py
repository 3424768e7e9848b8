"""`probscope-bench scale` at a tiny size: it writes a valid runs folder with summaries, measures, reuses it.

    .venv/bin/pytest tests/perf/test_scale.py -q
"""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

import probscope as ps
from probscope import schema
from probscope.perf import scale
from probscope.probe import summaries

ARGS = ["--rows", "24000", "--steps", "2", "--tokens-per-example", "20", "--shard-examples", "64",
        "--bootstrap", "50", "--no-dashboard"]


def test_scale_bench_writes_a_checked_runs_folder_and_reports_every_number(tmp_path, capsys):
    result = scale.main([*ARGS, "--dir", str(tmp_path)])
    assert result["rows"] == 6 * 2 * 100 * 20   # methods x steps x examples x tokens
    for key in ("figure2_listing_s", "stats_s", "peak_rss_mb", "bytes_per_row", "write_s"):
        assert result[key] > 0, key
    disk = sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file() and "probes" in f.parts)
    assert result["bytes_per_row"] == round(disk / result["rows"], 2)

    rows = ps.load_tokens(tmp_path, steps="all")   # every shard checked against its marker
    assert rows.height == result["rows"] and rows[schema.EXAMPLE_ID].n_unique() == 100
    lazy = ps.load_tokens(tmp_path, steps="all", lazy=True)
    by = (schema.METHOD, schema.RUN, schema.STEP)
    assert_frame_equal(ps.probability_histogram(lazy, by=by), ps.probability_histogram(rows, by=by))
    assert_frame_equal(ps.lowest_bin_tokens(lazy, by=by), ps.lowest_bin_tokens(rows, by=by))
    assert all(summaries.summary_record(d) is not None for d in summaries.finished_probe_dirs(tmp_path))
    assert not list(tmp_path.rglob(".summary-*"))

    again = scale.main([*ARGS, "--dir", str(tmp_path)])
    assert "reusing the runs" in capsys.readouterr().out
    assert again["bytes_per_row"] == result["bytes_per_row"]
    # the polarizing methods keep a low tail: the lowest bin is populated where the workload says
    low = ps.extreme_bin_shares(lazy).filter(pl.col(schema.STEP) == 200)
    assert low.filter(pl.col(schema.METHOD) == "dft")["lowest_share"][0] > low.filter(
        pl.col(schema.METHOD) == "sft")["lowest_share"][0]


def test_the_dashboard_pages_it_opens_exist():
    assert [title for title, _ in scale.dashboard_pages()] == list(scale.DASHBOARD_PAGES)
