"""The example viewer like an interpretability tool: tokens coloured by the change of p between two checkpoints,
and the top-k alternatives at a position computed from the checkpoint's weights (or one line saying why not).

    .venv/bin/pytest tests/app/test_example.py -q
"""

from __future__ import annotations

import json
import re

import polars as pl
import pytest
import torch
from conftest import REPO
from helpers import build_dashboard_runs, probed_text_run
from streamlit.testing.v1 import AppTest

from probscope import schema
from probscope.app.example import COLOURINGS, DELTA, delta_color, paired_rows
from probscope.probe.table import read_probe_table
from probscope.runs import Run

APP = REPO / "app" / "main.py"


def example_viewer(root, monkeypatch, **params: str) -> AppTest:
    monkeypatch.setenv("PROBSCOPE_RUNS", str(root))
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params.update({"view": "Example viewer", **params})
    app.switch_page(str(REPO / "probscope" / "app" / "views" / "tokens.py")).run()
    assert not app.exception and not app.error, [*app.exception, *app.error]
    return app


def test_change_colours_follow_the_sign_and_size_of_the_change():
    fall, none, rise = schema.DELTA_COLORS
    assert delta_color(0.0) == none and delta_color(1.0) == rise and delta_color(-1.0) == fall
    assert delta_color(-5.0) == fall and delta_color(None) not in schema.DELTA_COLORS
    half = delta_color(0.5)                                                   # halfway from white to teal, per channel
    assert [int(half[i:i + 2], 16) for i in (1, 3, 5)] == [round((int(none[i:i + 2], 16) + int(rise[i:i + 2], 16)) / 2)
                                                           for i in (1, 3, 5)]
    assert not set(schema.DELTA_COLORS) & {schema.METHOD_COLORS["sft"], schema.METHOD_COLORS["dft"]}


def test_pairs_match_positions_and_leave_other_tokens_out():
    a = pl.DataFrame({schema.POSITION: [3, 4, 5], schema.TOKEN_ID: [7, 8, 9], schema.P: [0.5, 0.2, 0.9]})
    b = pl.DataFrame({schema.POSITION: [5, 3, 4], schema.TOKEN_ID: [9, 7, 1], schema.P: [0.1, 0.75, 0.3]})
    paired = paired_rows(a, b)
    assert paired[schema.POSITION].to_list() == [3, 4, 5]
    assert paired[DELTA][0] == pytest.approx(0.25) and paired[DELTA][2] == pytest.approx(-0.8)
    assert paired[DELTA][1] is None and paired["p_b"][1] is None              # another token at position 4


def test_each_token_is_coloured_by_its_change_of_p(tmp_path, monkeypatch):
    root = build_dashboard_runs(tmp_path)
    app = example_viewer(root, monkeypatch, example_a="sft:5", example_b="dft:10",
                         example_color=COLOURINGS[1])
    assert app.query_params["example_color"] == COLOURINGS[1]                 # kept in the link
    example = app.selectbox(key="example").value
    html = next(m.value for m in app.markdown if "probscope-delta" in m.value)
    titles = re.findall(r'title="p ([\d.e-]+) → ([\d.e-]+) \(Δp ([+\-\d.e]+)\)" style="background:(#[0-9a-f]{6})',
                        html)
    def probed(run: str, step: int) -> pl.DataFrame:   # independent: the probe tables themselves
        return (read_probe_table(Run(root / run).probe_dir(step)).filter(pl.col(schema.EXAMPLE_ID) == example)
                .sort(schema.POSITION))

    expected = probed("dft", 10)[schema.P] - probed("sft", 5)[schema.P]
    assert len(titles) == len(expected) == 30
    assert [float(delta) for *_, delta, _ in titles] == pytest.approx(expected.to_list(), rel=1e-2, abs=1e-3)
    assert [color for *_, color in titles] == [delta_color(d) for d in expected.to_list()]


def test_top_k_without_weights_says_so_in_one_line(tmp_path, monkeypatch):
    app = example_viewer(build_dashboard_runs(tmp_path), monkeypatch, example_topk="True")
    (line,) = [i.value for i in app.info if "No alternatives" in i.value]
    assert "no weights saved" in line and "\n" not in line


def test_top_k_alternatives_from_the_checkpoint(tmp_path, monkeypatch):
    run = probed_text_run(tmp_path)
    probed = read_probe_table(run.probe_dir(5)).sort(schema.EXAMPLE_ID, schema.POSITION)
    example, position = probed[schema.EXAMPLE_ID][0], probed[schema.POSITION][2]
    app = example_viewer(tmp_path, monkeypatch, example_topk="True", example=example,
                         example_position=str(position), example_k="4")
    table = next(t.value for t in app.dataframe if "rank" in t.value.columns)
    # independent: the data's words are the token ids ("w17" is 17), the model's own forward and a sort
    data = [json.loads(line)["text"] for line in (tmp_path / "data" / "train.jsonl").read_text().splitlines()]
    ids = next(ids for ids in ([int(word[1:]) for word in text.split()] for text in data)
               if probed.filter(pl.col(schema.EXAMPLE_ID) == example)[schema.TOKEN_ID].to_list() == ids[1:])
    from probscope.models import load_causal_lm

    with torch.no_grad():
        probs = load_causal_lm(run.checkpoint(5))(input_ids=torch.tensor([ids])).logits[0, position - 1].softmax(-1)
    top = probs.double().sort(descending=True)
    assert table["rank"].to_list() == [1, 2, 3, 4]
    assert table["token"].to_list() == [f"w{i}" for i in top.indices[:4].tolist()]
    assert table["p"].to_list() == pytest.approx(top.values[:4].tolist(), rel=1e-4)
    rank = top.indices.tolist().index(ids[position]) + 1
    assert f"rank {rank:,} under" in "\n".join(m.value for m in app.markdown)
    for key, value in {"example_topk": "True", "example_position": str(position), "example_k": "4"}.items():
        assert app.query_params[key] == value                                # the link holds the view
