"""Seeds grouped (probscope.app.seeds) against numpy/scipy, and the sidebar toggle that groups them.

    .venv/bin/pytest tests/app/test_seeds.py -q
"""

from __future__ import annotations

import io
import json

import numpy as np
import polars as pl
import pytest
from scipy import stats

from probscope import schema
from probscope.app.seeds import CI_HIGH, CI_LOW, SEEDS, over_seeds
from probscope.app.state import seed_group


def test_seed_group_strips_the_seed_and_what_follows():
    assert seed_group("sft-s3", 3) == "sft" and seed_group("sft-lr1e-05-s2", 2) == "sft-lr1e-05"
    assert seed_group("base-s3-try2", 3) == "base" and seed_group("sft", 0) == "sft"


def test_a_run_of_unknown_seed_is_its_own_group():   # manifests of add-run checkpoints carry seed None
    assert seed_group("sft-s3", None) == "sft-s3" and seed_group("sft-sNone", None) == "sft-sNone"


def test_mean_and_t_interval_over_seeds():
    percents = {"sft-s0": [10.0, 90.0], "sft-s1": [14.0, 86.0], "sft-s2": [12.5, 87.5], "dft": [40.0, 60.0]}
    table = pl.DataFrame([{schema.METHOD: run[:3], schema.RUN: run, schema.STEP: 10, "bin": b, "bin_label": str(b),
                           "count": 100, "percent": value} for run, values in percents.items()
                          for b, value in enumerate(values)])
    groups = {"sft-s0": "sft", "sft-s1": "sft", "sft-s2": "sft", "dft": "dft"}
    folded = over_seeds(table, groups).sort(schema.RUN, "bin")
    sft = folded.filter(pl.col(schema.RUN) == "sft", pl.col("bin") == 0).row(0, named=True)
    values = np.array([10.0, 14.0, 12.5])
    low, high = stats.t.interval(0.95, df=2, loc=values.mean(), scale=stats.sem(values))
    assert sft["percent"] == pytest.approx(values.mean()) and sft[SEEDS] == 3 and sft["count"] == 300
    assert (sft[CI_LOW], sft[CI_HIGH]) == pytest.approx((low, high))
    dft = folded.filter(pl.col(schema.RUN) == "dft", pl.col("bin") == 1).row(0, named=True)
    assert dft[CI_LOW] == dft[CI_HIGH] == dft["percent"] == 60.0                # one run: no interval


def test_grouped_figure2_in_the_dashboard(tmp_path, monkeypatch):
    import shutil

    from conftest import REPO
    from helpers import build_fixture_runs
    from streamlit.testing.v1 import AppTest

    from probscope.runs import Run

    root = build_fixture_runs(tmp_path)
    for seed in (0, 1):                                                        # sft-s0 and sft-s1: one group
        shutil.copytree(root / "sft", root / f"sft-s{seed}")
        run = Run(root / f"sft-s{seed}")
        manifest = run.read_manifest()
        manifest.name, manifest.seed = run.name, seed
        run.write_manifest(manifest)
    shutil.rmtree(root / "sft")
    monkeypatch.setenv("PROBSCOPE_RUNS", str(root))
    app = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    app.query_params.update({"group_seeds": "True"})
    app.run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    chart = app.get("vega_lite_chart")[0]
    spec = json.loads(chart.proto.spec)
    assert len(spec["layer"]) == 2                                             # bars and their intervals
    rows = pl.read_ipc_stream(io.BytesIO(chart.proto.datasets[0].data.data))
    assert set(rows["series"]) == {"Base · step 0", "SFT · step 10", "DFT · step 10"}
    assert set(rows.filter(pl.col("series") == "SFT · step 10")[SEEDS]) == {2}
    app.sidebar.toggle(key="group_seeds").set_value(False).run()              # per seed again
    rows = pl.read_ipc_stream(io.BytesIO(app.get("vega_lite_chart")[0].proto.datasets[0].data.data))
    assert {"SFT · sft-s0 · step 10", "SFT · sft-s1 · step 10"} <= set(rows["series"])
