"""Altair chart builders of the dashboard, without Streamlit."""

from __future__ import annotations

import polars as pl

from probscope import schema
from probscope.app import charts


def _line_layer_encoding(chart) -> dict:
    """The encoding of the chart's line layer (the one with points)."""
    layers = chart.to_dict()["layer"]
    return next(layer["encoding"] for layer in layers if layer["mark"].get("type") == "line")


def test_lines_are_solid_without_dashes_and_dashed_with_them():
    frame = pl.DataFrame({charts.SERIES: ["a", "a", "b", "b"], schema.STEP: [0, 10, 0, 10],
                          "value": [0.1, 0.2, 0.3, 0.4]})
    colors = {"a": "#000000", "b": "#ff0000"}
    solid = _line_layer_encoding(charts.lines(frame, "value", colors, y_title="value"))
    assert "strokeDash" not in solid
    dashed = _line_layer_encoding(charts.lines(frame, "value", colors, y_title="value",
                                               dashes={"a": [1, 0], "b": [4, 2]}))
    assert dashed["strokeDash"]["scale"] == {"domain": ["a", "b"], "range": [[1, 0], [4, 2]]}
