"""The dashboard's cached reads (probscope/app/data.py) answer what the analyses answer, run by run."""

import polars as pl
from helpers import RUN_STEPS, build_fixture_runs
from polars.testing import assert_frame_equal

import probscope as ps
from probscope.app import data, state
from probscope.runs import DEFAULT_PROBE_DATASET


def test_figure2_of_all_runs_in_one_read_is_each_runs_own_in_the_sidebars_order(tmp_path):
    root = str(build_fixture_runs(tmp_path))
    steps = (("sft", 10), ("base", 0), ("dft", (5, 10)))   # not in name order: the sidebar's order is kept
    selection = state.Selection(
        runs_root=root, dataset=DEFAULT_PROBE_DATASET, steps=(("sft", 10), ("base", 0), ("dft", 10)),
        probed=tuple((name, tuple(found)) for name, found in RUN_STEPS.items()),
        methods=tuple((name, name) for name in RUN_STEPS))
    expected = pl.concat([
        ps.probability_histogram(ps.load_tokens(root, steps={name: list(s) if isinstance(s, tuple) else s}),
                                 by=data.BY) for name, s in steps])
    assert_frame_equal(data.histograms_per_run(selection, steps), expected)
    assert expected[ps.schema.RUN].unique(maintain_order=True).to_list() == ["sft", "base", "dft"]
