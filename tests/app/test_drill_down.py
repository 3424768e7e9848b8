"""Drill-downs: a step × bin heatmap cell and a token bar opened to the tokens and examples behind them, linking on
into the example viewer (clicks in a real browser: tests/app/test_dashboard_browser.py).

    .venv/bin/pytest tests/app/test_drill_down.py -q
"""

from __future__ import annotations

import io
import json
import re
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest
from conftest import REPO
from helpers import build_dashboard_runs, markdown_text
from streamlit.testing.v1 import AppTest

from probscope import schema
from probscope.app.dashboard import PAGES, VIEWS
from probscope.probe.table import read_probe_table
from probscope.runs import Run

PAGE = {title: str(VIEWS / file) for file, title in PAGES}


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    return build_dashboard_runs(tmp_path_factory.mktemp("runs"))


def opened(root, monkeypatch, page: str, **params: str) -> AppTest:
    monkeypatch.setenv("PROBSCOPE_RUNS", str(root))
    app = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    app.query_params.update(params)
    app.switch_page(PAGE[page]).run()
    assert not app.exception and not app.error, [*app.exception, *app.error]
    return app


def links(markdown: str) -> list[dict[str, str]]:
    """The query of every tokens?... link in a Markdown text, as a dict."""
    return [{key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
            for url in re.findall(r"\((tokens\?[^)\s]+)\)", markdown)]


def test_a_heatmap_cell_lists_the_tokens_of_its_step_and_bin(runs_root, monkeypatch):
    label = schema.BIN_LABELS[1]                                              # [1e-4, 1e-3)
    app = opened(runs_root, monkeypatch, "Distributions", view="Over training", over_run="sft",
                 over_layout="Heatmap", over_step="5", drill_bin=label)
    spec = json.loads(app.get("vega_lite_chart")[0].proto.spec)
    (cell,) = [param for param in spec["params"] if param["name"] == "cell"]  # the click selection a browser sends
    assert cell["select"]["fields"] == ["step", "bin_label"]
    p = read_probe_table(Run(runs_root / "sft").probe_dir(5))                 # independent count at sft's step 5
    top = (p.filter((pl.col(schema.P) >= 1e-4) & (pl.col(schema.P) < 1e-3)).group_by(schema.TOKEN).len()
           .sort("len", schema.TOKEN, descending=[True, False]).row(0))
    text = next(m.value for m in app.markdown if "SFT · step 5" in m.value)
    assert f"({top[1]:,})](tokens?" in text
    first = links(text)[0]
    assert first["example_a"] == "sft:5" and first["example_token"] == top[0] and first["example_below"] == "0.001"


def test_a_token_bar_lists_the_examples_holding_it_and_opens_one(runs_root, monkeypatch):
    app = opened(runs_root, monkeypatch, "Tokens", threshold="0.01")
    chart = app.get("vega_lite_chart")[0]
    assert any(param.get("name") == "bar" for param in json.loads(chart.proto.spec)["params"])
    listing = pl.read_ipc_stream(io.BytesIO(chart.proto.datasets[0].data.data))
    token = listing.filter((pl.col("run") == "dft") & (pl.col("rank") == 1))[schema.TOKEN][0]   # dft's longest bar
    app.selectbox(key="bar").set_value(("dft", 10, token)).run()
    assert not app.exception and not app.error
    assert app.query_params["bar"] == f"dft:10:{token}"
    p = read_probe_table(Run(runs_root / "dft").probe_dir(10))               # independent: examples holding it
    holding = p.filter((pl.col(schema.TOKEN) == token) & (pl.col(schema.P) < 0.01))
    text = next(m.value for m in app.markdown if "examples hold" in m.value)
    assert markdown_text(text).startswith(f"**{holding[schema.EXAMPLE_ID].n_unique():,} examples hold {token!r}")
    found = links(text)
    lowest = holding.group_by(schema.EXAMPLE_ID).agg(pl.col(schema.P).min()).sort(schema.P, schema.EXAMPLE_ID)
    assert [one["example"] for one in found] == lowest[schema.EXAMPLE_ID].head(10).to_list()
    assert found[0]["example_a"] == "dft:10" and found[0]["example_token"] == token
    viewer = opened(runs_root, monkeypatch, "Tokens", **found[0])             # the link opens that example
    assert viewer.selectbox(key="example").value == found[0]["example"]
    assert viewer.selectbox(key="example_a").value == ("dft", 10)
