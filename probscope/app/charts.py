"""Altair (Vega-Lite) charts with the colours, labels and bins of the exported matplotlib figures.

    table, colors = with_series(hist)                  # adds a "series" label: "SFT · step 10", "DFT · dft-b · step 5"
    st.altair_chart(figure2(table, colors))

Series colours come from probscope.plots.style.plot_series (method colours when each method appears once,
the default cycle otherwise), bins from probscope.schema; every label names the step, so step 10 and
step 400 of a run never look the same. Clicking a legend entry highlights that series.
"""

from __future__ import annotations

import math
from typing import cast

import altair as alt
import polars as pl

from probscope import schema
from probscope.analysis import series_columns
from probscope.plots.figure2 import X_LABEL, Y_LABEL
from probscope.plots.style import method_color, plot_series, role_color

SERIES = "series"
BIN_ORDER = list(schema.BIN_LABELS)
HEIGHT = 320
DASHES = ([1, 0], [6, 3], [2, 2], [6, 2, 2, 2])   # matplotlib's "-", "--", ":", "-."


def series_label(method: str, run: str, step: int) -> str:
    """"SFT · step 10", or "SFT · sft-lr2 · step 10" when the run is not named after its method."""
    parts = [schema.method_label(method)] + ([run] if run.lower() != method.lower() else []) + [f"step {step}"]
    return " · ".join(parts)


def with_series(table: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """`table` (with method, run, step columns) plus a SERIES label column, and label -> colour in plot order."""
    colors: dict[str, str] = {}
    labels = []
    for one in plot_series(table, series_columns(table)):
        for method, run, step in one.rows(table).select(schema.METHOD, schema.RUN, schema.STEP).unique().sort(
                schema.RUN, schema.STEP).rows():
            label = series_label(method, run, step)
            colors[label] = one.color
            labels.append({schema.RUN: run, schema.STEP: step, SERIES: label})
    keyed = pl.DataFrame(labels, schema={schema.RUN: pl.String, schema.STEP: pl.Int64, SERIES: pl.String})
    return table.join(keyed, on=[schema.RUN, schema.STEP], how="left"), colors


def with_run_series(table: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str], dict[str, list[int]]]:
    """For curves over steps: a SERIES label per run ("SFT · sft"), its method's colour, and a dash
    pattern telling a method's runs apart (solid first, as in the matplotlib figures)."""
    colors: dict[str, str] = {}
    dashes: dict[str, list[int]] = {}
    labels = []
    per_method: dict[str, int] = {}
    for i, one in enumerate(plot_series(table, [schema.METHOD, schema.RUN])):
        method = one.key[schema.METHOD]
        colors[one.label] = method_color(method, i)
        dashes[one.label] = DASHES[per_method.get(method, 0) % len(DASHES)]
        per_method[method] = per_method.get(method, 0) + 1
        labels.append({schema.RUN: one.key[schema.RUN], SERIES: one.label})
    keyed = pl.DataFrame(labels, schema={schema.RUN: pl.String, SERIES: pl.String})
    return table.join(keyed, on=schema.RUN, how="left"), colors, dashes


def color_scale(colors: dict[str, str]) -> alt.Scale:
    return alt.Scale(domain=list(colors), range=list(colors.values()))


def log_floor(percent: pl.Series) -> float:
    """The log axis' bottom, as in the matplotlib Figure 2: the smallest bar at least half a decade tall."""
    smallest = cast(float, percent.filter(percent > 0).min()) or 1.0
    return float(10 ** math.floor(math.log10(smallest) - 0.5))


def _percent_axis(hist: pl.DataFrame, title: str) -> tuple[alt.Y, alt.Y2]:
    """Bars on a log axis rise from its floor (a log axis has no 0), not stacked."""
    floor = log_floor(hist["percent"])
    scale = alt.Scale(type="log", domain=[floor, 150], clamp=True)
    return alt.Y("percent:Q", scale=scale, title=title, stack=None), alt.Y2(datum=floor)


def _legend_highlight() -> alt.Parameter:
    return alt.selection_point(fields=[SERIES], bind="legend")


def figure2(hist: pl.DataFrame, colors: dict[str, str], *, title: str | None = None) -> alt.Chart:
    """Figure 2: percentage of tokens per bin, one bar per series, log y (bins with no token draw no bar)."""
    pick = _legend_highlight()
    shown = hist.filter(pl.col("count") > 0).select(SERIES, "bin_label", "count", "percent")
    y, y2 = _percent_axis(shown, Y_LABEL)
    return (
        alt.Chart(shown, title=title or "")
        .mark_bar()
        .encode(
            x=alt.X("bin_label:N", sort=BIN_ORDER, title=X_LABEL, axis=alt.Axis(labelAngle=-35)),
            xOffset=alt.XOffset(f"{SERIES}:N", sort=list(colors)),
            y=y, y2=y2,
            color=alt.Color(f"{SERIES}:N", scale=color_scale(colors), sort=list(colors), title=None,
                            legend=alt.Legend(orient="top")),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.25)),
            tooltip=[alt.Tooltip(f"{SERIES}:N", title="Series"), alt.Tooltip("bin_label:N", title="Bin"),
                     alt.Tooltip("count:Q", title="Tokens", format=","),
                     alt.Tooltip("percent:Q", title="% of tokens", format=".3g")],
        )
        .add_params(pick)
        .properties(height=HEIGHT)
    )


def small_multiples(hist: pl.DataFrame, colors: dict[str, str]) -> alt.FacetChart:
    """One Figure-2 panel per series (e.g. each probed step of a run), stacked so shapes compare down the page."""
    shown = hist.filter(pl.col("count") > 0).select(SERIES, "bin_label", "count", "percent")
    y, y2 = _percent_axis(shown, "% (log)")
    return (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("bin_label:N", sort=BIN_ORDER, title=X_LABEL, axis=alt.Axis(labelAngle=-35)),
            y=y, y2=y2,
            color=alt.Color(f"{SERIES}:N", scale=color_scale(colors), legend=None),
            tooltip=[alt.Tooltip(f"{SERIES}:N", title="Series"), alt.Tooltip("bin_label:N", title="Bin"),
                     alt.Tooltip("count:Q", title="Tokens", format=","),
                     alt.Tooltip("percent:Q", title="% of tokens", format=".3g")],
        )
        .properties(height=90, width=560)
        .facet(row=alt.Row(f"{SERIES}:N", sort=list(colors), title=None, header=alt.Header(labelAngle=0,
                                                                                           labelAlign="left")))
    )


def lines(frame: pl.DataFrame, y: str, colors: dict[str, str], *, x: str = schema.STEP, y_title: str,
          x_title: str = "Optimizer step", band: tuple[str, str] | None = None, rules: pl.DataFrame | None = None,
          dashes: dict[str, list[int]] | None = None, height: int = 220,
          title: str = "") -> alt.LayerChart | alt.FacetChart:
    """One line per series over `x` (zoom and pan with the mouse); `band`: (low, high) columns of an interval;
    `rules`: rows with x and SERIES drawn as dashed vertical marks (e.g. the steps chosen in the sidebar);
    `dashes`: SERIES -> dash pattern (default: solid)."""
    pick = _legend_highlight()
    color = alt.Color(f"{SERIES}:N", scale=color_scale(colors), sort=list(colors), title=None,
                      legend=alt.Legend(orient="top"))
    base = alt.Chart(frame, title=title).encode(x=alt.X(f"{x}:Q", title=x_title), color=color)
    layers = []
    if band is not None:
        layers.append(base.mark_area(opacity=0.15).encode(y=alt.Y(f"{band[0]}:Q"), y2=alt.Y2(f"{band[1]}:Q"),
                                                          color=alt.Color(f"{SERIES}:N", scale=color_scale(colors),
                                                                          legend=None)))
    layers.append(
        base.mark_line(point=True).encode(
            y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(zero=False)),
            strokeDash=alt.StrokeDash(f"{SERIES}:N", legend=None, scale=alt.Scale(
                domain=list(dashes), range=list(dashes.values()))) if dashes is not None else alt.Undefined,
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.2)),
            tooltip=[alt.Tooltip(f"{SERIES}:N", title="Series"), alt.Tooltip(f"{x}:Q", title=x_title),
                     alt.Tooltip(f"{y}:Q", title=y_title, format=".4g")],
        ).add_params(pick)
    )
    if rules is not None and not rules.is_empty():
        layers.append(alt.Chart(rules).mark_rule(strokeDash=[4, 3]).encode(x=f"{x}:Q", color=color))
    return alt.layer(*layers).properties(height=height).interactive(bind_y=False)


def panels(curves: pl.DataFrame, titles: dict[str, str], colors: dict[str, str], *,
           dashes: dict[str, list[int]], rules: pl.DataFrame | None = None) -> alt.FacetChart:
    """One panel per column of `titles` (column -> panel title) over the optimizer step, a line per series,
    in one chart (two panels a row, each its own y axis)."""
    long = curves.unpivot(index=[schema.RUN, schema.STEP, SERIES], on=list(titles), variable_name="panel",
                          value_name="value").with_columns(pl.col("panel").replace_strict(titles))
    pick = _legend_highlight()
    color = alt.Color(f"{SERIES}:N", scale=color_scale(colors), sort=list(colors), title=None,
                      legend=alt.Legend(orient="top"))
    line = alt.Chart().mark_line(point=True).encode(
        x=alt.X(f"{schema.STEP}:Q", title="Optimizer step"),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=color,
        strokeDash=alt.StrokeDash(f"{SERIES}:N", legend=None, scale=alt.Scale(domain=list(dashes),
                                                                              range=list(dashes.values()))),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.2)),
        tooltip=[alt.Tooltip(f"{SERIES}:N", title="Series"), alt.Tooltip(f"{schema.STEP}:Q", title="Step"),
                 alt.Tooltip("panel:N", title="Quantity"), alt.Tooltip("value:Q", title="Value", format=".4g")],
    ).add_params(pick)
    layers = [line]
    if rules is not None and not rules.is_empty():   # the sidebar's steps, in every panel
        marks = rules.join(pl.DataFrame({"panel": list(titles.values())}), how="cross").with_columns(
            pl.lit(None, pl.Float64).alias("value"))
        long = pl.concat([long, marks.select(long.columns)], how="vertical_relaxed").with_columns(
            pl.col("value").is_null().alias("rule"))
        layers.append(alt.Chart().mark_rule(strokeDash=[4, 3]).encode(x=f"{schema.STEP}:Q", color=color)
                      .transform_filter("datum.rule"))
        line = line.transform_filter("!datum.rule")
        layers[0] = line
    return (alt.layer(*layers, data=long).properties(width=420, height=200)
            .facet(facet=alt.Facet("panel:N", title=None, sort=list(titles.values())), columns=2)
            .resolve_scale(y="independent"))


def heatmap(frame: pl.DataFrame, *, x_title: str, y_title: str) -> alt.Chart:
    """Share of tokens per (bin under x, bin under y): columns bin_x, bin_y, count, percent."""
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("bin_x:N", sort=BIN_ORDER, title=x_title, axis=alt.Axis(labelAngle=-35)),
            y=alt.Y("bin_y:N", sort=list(reversed(BIN_ORDER)), title=y_title),
            color=alt.Color("percent:Q", scale=alt.Scale(type="log", scheme="greys"), title="% of tokens"),
            tooltip=[alt.Tooltip("bin_x:N", title=x_title), alt.Tooltip("bin_y:N", title=y_title),
                     alt.Tooltip("count:Q", title="Tokens", format=","),
                     alt.Tooltip("percent:Q", title="% of tokens", format=".3g")],
        )
        .properties(height=380)
    )


def token_bars(listing: pl.DataFrame, order: list[str], *, value: str = "count",
               value_title: str = "Tokens") -> alt.FacetChart:
    """Horizontal bars per token, one panel per series (in `order`), coloured by the token's role."""
    roles = sorted(set(listing[schema.ROLE].drop_nulls().to_list()), key=lambda r: (r not in schema.ROLES, r))
    shown = listing.with_columns(pl.col(schema.TOKEN).map_elements(repr, return_dtype=pl.String).alias("shown"))
    return (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            y=alt.Y("shown:N", sort="-x", title=None),
            x=alt.X(f"{value}:Q", title=value_title),
            color=alt.Color(f"{schema.ROLE}:N", scale=alt.Scale(domain=roles, range=[role_color(r) for r in roles]),
                            title="Role", legend=alt.Legend(orient="top")),
            tooltip=[alt.Tooltip("shown:N", title="Token"), alt.Tooltip(f"{schema.ROLE}:N", title="Role"),
                     alt.Tooltip(f"{value}:Q", title=value_title, format=",")],
        )
        .properties(width=190, height=alt.Step(18))
        .facet(facet=alt.Facet(f"{SERIES}:N", title=None, sort=order), columns=3, spacing=30)
        .resolve_scale(y="independent")
    )


def mass_bars(mass: pl.DataFrame, colors: dict[str, str]) -> alt.FacetChart:
    """Per series (one panel each): the share of each objective's squared gradient mass per bin, with the
    bin's share of tokens as a grey tick (where the mass would be if every token weighed the same)."""
    objectives = [o for o in colors if o in set(mass[schema.OBJECTIVE])]
    base = alt.Chart().encode(x=alt.X("bin_label:N", sort=BIN_ORDER, title=X_LABEL, axis=alt.Axis(labelAngle=-35)))
    bars = base.mark_bar().encode(
        xOffset=alt.XOffset(f"{schema.OBJECTIVE}:N", sort=objectives),
        y=alt.Y("mass_share:Q", title="Share of gradient mass", axis=alt.Axis(format="%")),
        color=alt.Color(f"{schema.OBJECTIVE}:N", title="Objective", sort=objectives, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=objectives, range=[colors[o] for o in objectives])),
        tooltip=[alt.Tooltip(f"{schema.OBJECTIVE}:N", title="Objective"), alt.Tooltip("bin_label:N", title="Bin"),
                 alt.Tooltip("mass_share:Q", title="Share of gradient mass", format=".1%"),
                 alt.Tooltip("token_share:Q", title="Share of tokens", format=".1%")],
    )
    ticks = base.mark_tick(color="#555555", thickness=2, size=18).encode(y="token_share:Q")
    return (alt.layer(bars, ticks, data=mass).properties(height=200, width=620)
            .facet(row=alt.Row(f"{SERIES}:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left"))))


def class_bars(classes: pl.DataFrame, height: str) -> alt.FacetChart:
    """Figure 2 with each bar stacked by role (`height`: "percent" of the series' tokens or "bin_share"),
    one panel per series; roles in their own colours."""
    roles = [r for r in schema.ROLES if r in set(classes[schema.ROLE])] + sorted(
        set(classes[schema.ROLE].drop_nulls()) - set(schema.ROLES))
    shown = classes.filter(pl.col("count") > 0)
    title = "% of tokens" if height == "percent" else "Share of the bin"
    return (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("bin_label:N", sort=BIN_ORDER, title=X_LABEL, axis=alt.Axis(labelAngle=-35)),
            y=alt.Y(f"{height}:Q", title=title, stack="zero",
                    axis=alt.Axis(format="%") if height == "bin_share" else alt.Axis()),
            color=alt.Color(f"{schema.ROLE}:N", title="Role", sort=roles, legend=alt.Legend(orient="top"),
                            scale=alt.Scale(domain=roles, range=[role_color(r) for r in roles])),
            order=alt.Order("role_order:Q"),
            tooltip=[alt.Tooltip(f"{SERIES}:N", title="Series"), alt.Tooltip("bin_label:N", title="Bin"),
                     alt.Tooltip(f"{schema.ROLE}:N", title="Role"), alt.Tooltip("count:Q", title="Tokens", format=","),
                     alt.Tooltip("percent:Q", title="% of the series' tokens", format=".3g"),
                     alt.Tooltip("bin_share:Q", title="Share of the bin", format=".1%")],
        )
        .transform_calculate(role_order=f"indexof({roles!r}, datum.{schema.ROLE})")
        .properties(height=180, width=620)
        .facet(row=alt.Row(f"{SERIES}:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")))
    )
