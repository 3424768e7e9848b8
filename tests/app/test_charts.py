"""The dashboard's charts (probscope.app.charts) as Vega-Lite specs, and the palette they draw with.

    .venv/bin/pytest tests/app/test_charts.py -q
"""

from __future__ import annotations

import re

import polars as pl
import pytest

from probscope import schema
from probscope.app import charts

CSS_HEX = re.compile(r"^#[0-9a-f]{6}$")


def histogram(series: list[tuple[str, str, int]]) -> pl.DataFrame:
    """A probability_histogram-shaped table: (method, run, step) per series, a count in every bin."""
    return pl.DataFrame([{schema.METHOD: method, schema.RUN: run, schema.STEP: step, "bin": i, "bin_label": label,
                          "lo": schema.BIN_EDGES[i], "hi": schema.BIN_EDGES[i + 1],
                          "count": 10 + i, "percent": 100 * (10 + i) / 208}
                         for method, run, step in series for i, label in enumerate(schema.BIN_LABELS)])


def test_series_of_one_method_are_css_shades_of_its_colour():
    hist, colors = charts.with_series(histogram([("dft", "dft", 10), ("sft", "sft-s2", 10), ("sft", "sft", 10),
                                                 ("power", "power", 3), ("sft", "sft", 5)]))
    assert all(CSS_HEX.match(color) for color in colors.values()), colors     # a tuple is no CSS colour
    assert list(colors)[:3] == ["SFT · step 5", "SFT · step 10", "SFT · sft-s2 · step 10"]   # METHOD_ORDER first
    assert len(set(colors.values())) == len(colors)
    sft = [colors[label] for label in colors if label.startswith("SFT")]
    assert schema.METHOD_COLORS["sft"] not in sft or len(sft) == 1
    blue = [int(color[5:7], 16) > int(color[1:3], 16) for color in sft]       # shades of SFT's blue stay blue
    assert all(blue)
    assert colors["DFT · step 10"] == schema.METHOD_COLORS["dft"]            # a method seen once: its own colour
    assert colors["power · step 3"] not in schema.METHOD_COLORS.values()
    assert hist[charts.SERIES].null_count() == 0


def test_shade_against_a_hand_computed_mix():
    assert schema.shade("#1f77b4", 0.5) == "#8fbbda"     # (31+255)/2=143, (119+255)/2=187, (180+255)/2=217.5
    assert schema.shade("#1f77b4", -0.5) == "#103c5a"    # 15.5, 59.5, 90 rounded half to even
    assert schema.series_palette(["sft", "dft"]) == [schema.METHOD_COLORS["sft"], schema.METHOD_COLORS["dft"]]


def test_run_series_colours_and_dashes():
    curves = pl.DataFrame({schema.METHOD: ["sft", "sft", "dft"], schema.RUN: ["sft-a", "sft-b", "dft"],
                           schema.STEP: [1, 1, 1]})
    _, colors, dashes = charts.with_run_series(curves)
    assert list(colors) == ["SFT · sft-a", "SFT · sft-b", "DFT · dft"]
    assert all(CSS_HEX.match(color) for color in colors.values()) and len(set(colors.values())) == 3
    assert dashes["SFT · sft-a"] != dashes["SFT · sft-b"] and dashes["DFT · dft"] == charts.DASHES[0]


def test_log_floor_is_the_matplotlib_figures():
    import matplotlib

    matplotlib.use("Agg")
    from probscope.plots.figure2 import plot_probability_histogram

    hist = histogram([("sft", "sft", 10)]).with_columns(pl.col("percent") / 1000)
    figure = plot_probability_histogram(hist.drop(schema.RUN, schema.STEP))
    spec = charts.figure2(*charts.with_series(hist)).to_dict()
    assert spec["encoding"]["y2"]["datum"] == pytest.approx(figure.axes[0].get_ylim()[0])


def test_panel_rules_are_the_sidebar_steps_only():
    """RL runs record no weight: their null weights are no rule rows (a dashed rule at every logged step)."""
    curves = pl.DataFrame({schema.RUN: ["dpo"] * 3, schema.STEP: [1, 2, 3], charts.SERIES: ["DPO · dpo"] * 3,
                           schema.SFT_LOSS: [1.0, 0.9, 0.8], schema.WEIGHT_MEAN: [None, None, None]},
                          schema_overrides={schema.WEIGHT_MEAN: pl.Float64})
    rules = pl.DataFrame({schema.STEP: [2], schema.RUN: ["dpo"], charts.SERIES: ["DPO · dpo"]})
    spec = charts.panels(curves, {schema.SFT_LOSS: "SFT", schema.WEIGHT_MEAN: "weight"}, {"DPO · dpo": "#2ca02c"},
                         dashes={"DPO · dpo": [1, 0]}, rules=rules).to_dict()
    rows = next(iter(spec["datasets"].values()))
    assert sum(bool(row[charts.RULE]) for row in rows) == 2                    # one rule per panel, at step 2
    assert {row[schema.STEP] for row in rows if row[charts.RULE]} == {2}


def test_band_and_line_share_one_legend():
    frame = pl.DataFrame({schema.STEP: [0, 5], "value": [0.2, 0.4], "lo": [0.1, 0.3], "hi": [0.3, 0.5],
                          charts.SERIES: ["SFT · sft"] * 2})
    spec = charts.lines(frame, "value", {"SFT · sft": "#1f77b4"}, y_title="acc", band=("lo", "hi"),
                        dashes={"SFT · sft": [1, 0]}).to_dict()
    legends = [layer["encoding"].get("color", {}).get("legend", "shared") for layer in spec["layer"]]
    assert None not in legends                                                 # Vega-Lite drops conflicting legends


def test_categorical_axes_draw_every_label():
    hist, colors = charts.with_series(histogram([("sft", "sft", 10)]))
    classes = hist.with_columns(pl.lit("number").alias(schema.ROLE), pl.lit(1.0).alias("bin_share"))
    mass = hist.with_columns(pl.lit("sft").alias(schema.OBJECTIVE), pl.lit(0.1).alias("mass_share"),
                             pl.lit(0.1).alias("token_share"))
    listing = hist.with_columns(pl.col("bin_label").alias(schema.TOKEN), pl.lit("number").alias(schema.ROLE))
    for chart in (charts.class_bars(classes, "percent"), charts.mass_bars(mass, {"sft": "#1f77b4"}),
                  charts.token_bars(listing, list(colors))):
        spec = str(chart.to_dict())
        assert "'labelOverlap': False" in spec, chart


def test_heatmap_shows_every_bin_so_its_diagonal_is_one():
    cells = pl.DataFrame({"bin_x": [schema.BIN_LABELS[0]], "bin_y": [schema.BIN_LABELS[-1]], "count": [3],
                          "percent": [100.0]})
    encoding = charts.heatmap(cells, x_title="a", y_title="b").to_dict()["encoding"]
    assert encoding["x"]["scale"]["domain"] == list(schema.BIN_LABELS)
    assert encoding["y"]["scale"]["domain"] == list(reversed(schema.BIN_LABELS))


def test_figure2_of_many_runs_has_no_row_limit():
    hist, colors = charts.with_series(histogram([("sft", f"sft-{i}", 10) for i in range(400)]))
    assert hist.height > 5000
    charts.figure2(hist, colors).to_dict()                                     # Altair's MaxRowsError before


def test_the_app_imports_no_matplotlib():
    import subprocess
    import sys

    code = ("import sys, probscope.app.charts, probscope.app.example, probscope.app.data; "
            "print('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_linear_axis_and_shared_panels_on_demand():
    hist, colors = charts.with_series(histogram([("sft", "sft", 5), ("sft", "sft", 10)]))
    log, linear = (charts.figure2(hist, colors, log=flag).to_dict()["encoding"] for flag in (True, False))
    assert log["y"]["scale"]["type"] == "log" and "type" not in linear["y"]["scale"]
    assert linear["y2"]["datum"] == 0                                          # linear bars rise from 0
    shared, own = (charts.small_multiples(hist, colors, shared=flag).to_dict()["resolve"]["scale"]["y"]
                   for flag in (True, False))
    assert (shared, own) == ("shared", "independent")
