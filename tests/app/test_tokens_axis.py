"""The over-training charts against the tokens seen instead of the optimizer step (the dynamics' tokens_seen).

    .venv/bin/pytest tests/app/test_tokens_axis.py -q
"""

from __future__ import annotations

import io
import json

import polars as pl
import pytest
from conftest import REPO
from helpers import build_dashboard_runs, dynamics_rows
from streamlit.testing.v1 import AppTest

from probscope import schema
from probscope.app.charts import with_tokens_seen
from probscope.app.dashboard import PAGES, VIEWS
from probscope.runs import Run, write_parquet_atomic

PAGE = {title: str(VIEWS / file) for file, title in PAGES}
SEEN_PER_STEP = {"sft": 100, "dft": 70}   # input tokens a step of each run takes, in the runs below


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    """The dashboard runs, sft and dft having logged their tokens seen at steps 1-4, 5 and 10 (the evaluated ones)."""
    root = build_dashboard_runs(tmp_path_factory.mktemp("runs"))
    for name, per_step in SEEN_PER_STEP.items():
        run = Run(root / name)
        rows = dynamics_rows(0.5) + [{**row, schema.STEP: step} for step in (5, 10) for row in dynamics_rows(0.5)[:2]]
        rows = [{**row, schema.TOKENS_SEEN: per_step * row[schema.STEP]} for row in rows]
        for part in run.dynamics_dir.iterdir():
            part.unlink()
        write_parquet_atomic(pl.DataFrame(rows, schema=schema.dynamics_schema()),
                             run.dynamics_dir / run.dynamics_part_name(1, 10))
    return root


def page(root, monkeypatch, title: str, **params: str) -> AppTest:
    monkeypatch.setenv("PROBSCOPE_RUNS", str(root))
    app = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    app.query_params.update({"x_axis": schema.TOKENS_SEEN, **params})
    app.switch_page(PAGE[title]).run()
    assert not app.exception and not app.error, [*app.exception, *app.error]
    assert app.query_params["x_axis"] == schema.TOKENS_SEEN
    return app


def drawn(app: AppTest) -> list[tuple[dict, pl.DataFrame]]:
    return [(json.loads(chart.proto.spec), pl.read_ipc_stream(io.BytesIO(chart.proto.datasets[0].data.data)))
            for chart in app.get("vega_lite_chart")]


def test_only_exact_counts_and_the_start_of_fine_tuning():
    frame = pl.DataFrame({schema.RUN: ["a", "a", "a", "b"], schema.STEP: [0, 5, 7, 5]})
    seen = pl.DataFrame({schema.RUN: ["a", "a", "b"], schema.STEP: [5, 6, 5], schema.TOKENS_SEEN: [50, 60, None]})
    moved = with_tokens_seen(frame, seen)
    assert moved.rows() == [("a", 0, 0), ("a", 5, 50)]      # step 7 has no count, b's count is null: left out


def test_benchmark_curves_over_tokens_seen(counted, monkeypatch):
    app = page(counted, monkeypatch, "Benchmarks")
    (spec, curves), = drawn(app)
    assert spec["layer"][0]["encoding"]["x"] == {"field": "tokens_seen", "title": "Tokens seen", "type": "quantitative"}
    for row in curves.iter_rows(named=True):                   # each evaluated step at its run's count
        assert row[schema.TOKENS_SEEN] == SEEN_PER_STEP.get(row[schema.RUN], 0) * row[schema.STEP]
    assert {(run, step) for run, step in curves.select(schema.RUN, schema.STEP).rows()} >= {("sft", 5), ("dft", 10)}


def test_training_curves_and_weights_over_tokens_seen(counted, monkeypatch):
    app = page(counted, monkeypatch, "Gradient weights", view="Training curves")
    (spec, panels), = drawn(app)
    assert spec["spec"]["layer"][0]["encoding"]["x"]["field"] == schema.TOKENS_SEEN
    lines = panels.filter(~pl.col("rule"))
    assert (lines[schema.TOKENS_SEEN] == lines[schema.STEP] * lines[schema.RUN].replace_strict(SEEN_PER_STEP)).all()
    rules = panels.filter(pl.col("rule"))                      # the sidebar's step 10, at its count
    assert set(rules.select(schema.RUN, schema.TOKENS_SEEN).rows()) == {("sft", 1000), ("dft", 700)}
    app.radio(key="view:Gradient weights").set_value("Weights while training").run()
    (spec, weights), = drawn(app)
    assert spec["layer"][0]["encoding"]["x"]["field"] == schema.TOKENS_SEEN
    assert weights.filter(pl.col(schema.RUN) == "dft")[schema.TOKENS_SEEN].to_list() == [70, 140, 210, 280, 350, 700]


def test_runs_that_did_not_count_say_so(tmp_path, monkeypatch):
    root = build_dashboard_runs(tmp_path)
    for name in SEEN_PER_STEP:                                                # trained before tokens_seen existed
        for part in Run(root / name).dynamics_dir.iterdir():
            write_parquet_atomic(pl.read_parquet(part).drop(schema.TOKENS_SEEN), part)
    app = page(root, monkeypatch, "Gradient weights", view="Training curves")
    assert any("logged its tokens seen" in info.value for info in app.info) and not app.get("vega_lite_chart")
