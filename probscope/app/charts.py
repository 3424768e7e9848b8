"""Altair (Vega-Lite) charts with the colours, labels and bins of the exported matplotlib figures.

    table, colors = with_series(hist)                  # adds a "series" label: "SFT · step 10", "DFT · dft-b · step 5"
    st.altair_chart(figure2(table, colors))

Series colours come from probscope.schema.series_palette (CSS strings: a method's colour, shades of it when
the method repeats), bins and axis labels from probscope.schema; every label names the step, so step 10
and step 400 of a run never look the same. Clicking a legend entry highlights that series. No matplotlib
here: importing it would cost the dashboard's first page about a second.
"""

from __future__ import annotations

from typing import TypedDict, cast

import altair as alt
import polars as pl

from probscope import schema


class _AxisLabels(TypedDict):
    """alt.Axis keywords spread into several axes (typed, so each keyword is checked against Axis)."""
    labelOverlap: bool


SERIES = "series"
CELL, BAR = "cell", "bar"   # the click selections of the step heatmap and the token bars (drill-downs)
BAND_SUFFIXES = ("_low", "_high")   # a value's 95% interval columns when runs are grouped (app.seeds.LOW, HIGH)
RULE = "rule"   # marks the rows of `lines`/`panels` data that are the sidebar's steps, not measurements
BIN_ORDER = list(schema.BIN_LABELS)
X_LABEL, Y_LABEL = schema.FIGURE2_X_LABEL, schema.FIGURE2_Y_LABEL
HEIGHT = 320
DASHES = ([1, 0], [6, 3], [2, 2], [6, 2, 2, 2])   # matplotlib's "-", "--", ":", "-."
# Every label of a categorical axis is drawn: Vega-Lite's default hides every other overlapping one.
ALL_LABELS: _AxisLabels = {"labelOverlap": False}
BIN_AXIS = alt.Axis(labelAngle=-35, **ALL_LABELS)
# Series legends wrap in rows of four: a single top row clips every series past the chart's width.
SERIES_LEGEND = alt.Legend(orient="top", columns=4, labelLimit=0)
# The server sends a chart's rows once, as Arrow; Altair's 5,000-row guard (meant for notebooks that inline
# JSON) would refuse Figure 2 of ~120 runs.
alt.data_transformers.disable_max_rows()


def _method_rank(method: str) -> int:
    return schema.METHOD_ORDER.index(method) if method in schema.METHOD_ORDER else len(schema.METHOD_ORDER)


def series_label(method: str, run: str, step: int) -> str:
    """"SFT · step 10", or "SFT · sft-lr2 · step 10" when the run is not named after its method."""
    parts = [schema.method_label(method)] + ([run] if run.lower() != method.lower() else []) + [f"step {step}"]
    return " · ".join(parts)


def with_series(table: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """`table` (with method, run, step columns) plus a SERIES label column, and label -> CSS colour in plot
    order (schema.METHOD_ORDER, then run, then step): the same order on every page."""
    keys = sorted(table.select(schema.METHOD, schema.RUN, schema.STEP).unique().rows(),
                  key=lambda key: (_method_rank(key[0]), *key))
    labels = [series_label(*key) for key in keys]
    colors = dict(zip(labels, schema.series_palette([method for method, _, _ in keys]), strict=False))
    keyed = pl.DataFrame([(run, step, label) for (_, run, step), label in zip(keys, labels, strict=False)],
                         orient="row",
                         schema={schema.RUN: pl.String, schema.STEP: pl.Int64, SERIES: pl.String})
    return table.join(keyed, on=[schema.RUN, schema.STEP], how="left"), colors


def with_run_series(table: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str], dict[str, list[int]]]:
    """For curves over steps: a SERIES label per run ("SFT · sft"), its method's colour (shades of it for a
    method's several runs) and a dash pattern telling a method's runs apart (solid first, as in the
    matplotlib figures)."""
    keys = sorted(table.select(schema.METHOD, schema.RUN).unique().rows(), key=lambda key: (_method_rank(key[0]), *key))
    labels = [" · ".join((schema.method_label(method), run)) for method, run in keys]
    colors = dict(zip(labels, schema.series_palette([method for method, _ in keys]), strict=False))
    methods = [method for method, _ in keys]
    dashes = {label: DASHES[methods[:i].count(method) % len(DASHES)]
              for i, (label, method) in enumerate(zip(labels, methods, strict=False))}
    keyed = pl.DataFrame([(run, label) for (_, run), label in zip(keys, labels, strict=False)], orient="row",
                         schema={schema.RUN: pl.String, SERIES: pl.String})
    return table.join(keyed, on=schema.RUN, how="left"), colors, dashes


def on_fine_tuning_axis(curves: pl.DataFrame) -> pl.DataFrame:
    """The base model's checkpoint drawn at step 0, where every fine-tune starts: its own step counts
    pretraining, which on the fine-tuning axis would sit far right of every run (kept as `pretrained`)."""
    base = pl.col(schema.METHOD) == "base"
    return curves.with_columns(pl.when(base).then(pl.col(schema.STEP)).alias("pretrained"),
                               pl.when(base).then(0).otherwise(pl.col(schema.STEP)).alias(schema.STEP))


def with_tokens_seen(frame: pl.DataFrame, seen: pl.DataFrame) -> pl.DataFrame:
    """`frame`'s rows (run, step) with the input tokens each run had seen by that step (schema.TOKENS_SEEN) from
    `seen` (run, step, tokens_seen: the dynamics' counts at their logged steps), 0 at step 0 where fine-tuning
    starts; rows at a step with no count logged are left out (the count there is not known exactly)."""
    counts = seen.select(schema.RUN, schema.STEP, schema.TOKENS_SEEN).drop_nulls().unique([schema.RUN, schema.STEP])
    joined = frame.drop(schema.TOKENS_SEEN, strict=False).join(counts, on=[schema.RUN, schema.STEP], how="left")
    start = pl.when(pl.col(schema.STEP) == 0).then(0)
    return joined.with_columns(pl.coalesce(schema.TOKENS_SEEN, start)).filter(pl.col(schema.TOKENS_SEEN).is_not_null())


def color_scale(colors: dict[str, str]) -> alt.Scale:
    return alt.Scale(domain=list(colors), range=list(colors.values()))


def _percent_axis(hist: pl.DataFrame, title: str, log: bool = True) -> tuple[alt.Y, alt.Y2]:
    """Bars on a log axis rise from its floor (a log axis has no 0), not stacked; on a linear one from 0."""
    if not log:
        return alt.Y("percent:Q", scale=alt.Scale(zero=True), title=title, stack=None), alt.Y2(datum=0)
    floor = schema.log_axis_floor(cast("float | None", hist.filter(pl.col("percent") > 0)["percent"].min()))
    scale = alt.Scale(type="log", domain=[floor, 150], clamp=True)
    return alt.Y("percent:Q", scale=scale, title=title, stack=None), alt.Y2(datum=floor)


def _rows(facet: alt.FacetChart, shared: bool) -> alt.FacetChart:
    """Panels one under another on one y range (`shared`: heights compare across panels) or each its own."""
    return facet.resolve_scale(y="shared" if shared else "independent")


def click(name: str, fields: list[str]) -> alt.Parameter:
    """A click selection of one mark whose `fields` the page reads back (ui.show_chart's `select`): drill-downs."""
    return alt.selection_point(name=name, fields=fields, on="click", clear="dblclick")


def _legend_highlight() -> alt.Parameter:
    return alt.selection_point(fields=[SERIES], bind="legend")


def figure2(hist: pl.DataFrame, colors: dict[str, str], *, title: str | None = None,
            log: bool = True) -> alt.Chart | alt.LayerChart:
    """Figure 2: percentage of tokens per bin, one bar per series, log y (`log`=False: linear; bins with no
    token draw no bar); with seeds grouped (columns ci_low, ci_high from app.seeds), each bar the mean with
    its 95% interval."""
    pick = _legend_highlight()
    intervals = [column for column in ("seeds", "ci_low", "ci_high") if column in hist.columns]
    shown = hist.filter(pl.col("count") > 0).select(SERIES, "bin_label", "count", "percent", *intervals)
    y, y2 = _percent_axis(shown, Y_LABEL, log)
    bars = (
        alt.Chart(shown, title=title or "")
        .mark_bar()
        .encode(
            x=alt.X("bin_label:N", sort=BIN_ORDER, title=X_LABEL, axis=BIN_AXIS),
            xOffset=alt.XOffset(f"{SERIES}:N", sort=list(colors)),
            y=y, y2=y2,
            color=alt.Color(f"{SERIES}:N", scale=color_scale(colors), sort=list(colors), title=None,
                            legend=SERIES_LEGEND),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.25)),
            tooltip=[alt.Tooltip(f"{SERIES}:N", title="Series"), alt.Tooltip("bin_label:N", title="Bin"),
                     alt.Tooltip("count:Q", title="Tokens", format=","),
                     alt.Tooltip("percent:Q", title="% of tokens", format=".3g"),
                     *([alt.Tooltip("seeds:Q", title="Seeds")] if intervals else [])],
        )
        .add_params(pick)
        .properties(height=HEIGHT)
    )
    if not intervals:
        return bars
    whiskers = alt.Chart(shown).mark_rule(color="#222222").encode(
        x=alt.X("bin_label:N", sort=BIN_ORDER), xOffset=alt.XOffset(f"{SERIES}:N", sort=list(colors)),
        y="ci_low:Q", y2="ci_high:Q")   # on the bars' log scale (layers share it)
    return cast(alt.LayerChart, alt.layer(bars, whiskers))   # layer() facets only when given facet keywords


def small_multiples(hist: pl.DataFrame, colors: dict[str, str], *, log: bool = True,
                    shared: bool = True) -> alt.FacetChart:
    """One Figure-2 panel per series (e.g. each probed step of a run), stacked so shapes compare down the page;
    `log`: log or linear y; `shared`: one y range for every panel."""
    shown = hist.filter(pl.col("count") > 0).select(SERIES, "bin_label", "count", "percent")
    y, y2 = _percent_axis(shown, "% (log)" if log else "%", log)
    return _rows(
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("bin_label:N", sort=BIN_ORDER, title=X_LABEL, axis=BIN_AXIS),
            y=y, y2=y2,
            color=alt.Color(f"{SERIES}:N", scale=color_scale(colors), legend=None),
            tooltip=[alt.Tooltip(f"{SERIES}:N", title="Series"), alt.Tooltip("bin_label:N", title="Bin"),
                     alt.Tooltip("count:Q", title="Tokens", format=","),
                     alt.Tooltip("percent:Q", title="% of tokens", format=".3g")],
        )
        .properties(height=90, width=560)
        .facet(row=alt.Row(f"{SERIES}:N", sort=list(colors), title=None, header=alt.Header(labelAngle=0,
                                                                                           labelAlign="left"))),
        shared)


def lines(frame: pl.DataFrame, y: str, colors: dict[str, str], *, x: str = schema.STEP, y_title: str,
          x_title: str = "Optimizer step", band: tuple[str, str] | None = None, rules: pl.DataFrame | None = None,
          dashes: dict[str, list[int]] | None = None, height: int = 220, title: str = "",
          y_domain: tuple[float, float] | None = None) -> alt.LayerChart:
    """One line per series over `x` (zoom and pan with the mouse); `band`: (low, high) columns of an interval;
    `rules`: rows with x and SERIES drawn as dashed vertical marks (e.g. the steps chosen in the sidebar);
    `dashes`: SERIES -> dash pattern (default: solid); `y_domain`: the y range (default: the data's), padded so
    a line at its end is not drawn on the frame."""
    pick = _legend_highlight()
    color = alt.Color(f"{SERIES}:N", scale=color_scale(colors), sort=list(colors), title=None,
                      legend=SERIES_LEGEND)
    base = alt.Chart(frame, title=title).encode(x=alt.X(f"{x}:Q", title=x_title), color=color)
    layers = [
        base.mark_line(point=True).encode(
            y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(zero=False) if y_domain is None else alt.Scale(
                domain=list(y_domain), padding=6, nice=False)),
            strokeDash=alt.StrokeDash(f"{SERIES}:N", legend=None, scale=alt.Scale(
                domain=list(dashes), range=list(dashes.values()))) if dashes is not None else alt.Undefined,
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.2)),
            tooltip=[alt.Tooltip(f"{SERIES}:N", title="Series"), alt.Tooltip(f"{x}:Q", title=x_title),
                     alt.Tooltip(f"{y}:Q", title=y_title, format=".4g")],
        ).add_params(pick)
    ]
    # the same colour encoding as the lines: one legend (Vega-Lite drops conflicting ones); after the lines,
    # so the legend's swatches take the lines' full colour, not the band's faint one
    if band is not None:
        layers.append(base.mark_area(opacity=0.15).encode(y=alt.Y(f"{band[0]}:Q"), y2=alt.Y2(f"{band[1]}:Q")))
    if rules is not None and not rules.is_empty():
        layers.append(alt.Chart(rules).mark_rule(strokeDash=[4, 3]).encode(x=f"{x}:Q", color=color))
    layered = cast(alt.LayerChart, alt.layer(*layers))   # layer() facets only when given facet keywords
    return layered.properties(height=height).interactive(bind_y=False)


def panels(curves: pl.DataFrame, titles: dict[str, str], colors: dict[str, str], *,
           dashes: dict[str, list[int]], rules: pl.DataFrame | None = None, x: str = schema.STEP,
           x_title: str = "Optimizer step") -> alt.FacetChart:
    """One panel per column of `titles` (column -> panel title) over `x` (the optimizer step, or e.g. the tokens
    seen), a line per series, in one chart (two panels a row, each its own y axis)."""
    index = list(dict.fromkeys([schema.RUN, schema.STEP, x, SERIES]))
    long = (curves.unpivot(index=index, on=list(titles), variable_name="panel", value_name="value")
            .filter(pl.col("value").is_not_null())   # e.g. DPO's and GRPO's weights: not recorded, not drawn
            .with_columns(pl.col("panel").replace_strict(titles), pl.lit(False).alias(RULE)))
    banded = all(column + suffix in curves.columns for column in titles for suffix in BAND_SUFFIXES)
    for suffix in BAND_SUFFIXES if banded else ():   # runs grouped: each panel's 95% band (app.seeds.fold)
        ends = curves.unpivot(index=index, on=[column + suffix for column in titles], variable_name="panel",
                              value_name="value" + suffix)
        ends = ends.with_columns(pl.col("panel").str.strip_suffix(suffix).replace_strict(titles))
        long = long.join(ends, on=[*index, "panel"], how="left")
    pick = _legend_highlight()
    color = alt.Color(f"{SERIES}:N", scale=color_scale(colors), sort=list(colors), title=None,
                      legend=SERIES_LEGEND)
    line = alt.Chart().mark_line(point=True).encode(
        x=alt.X(f"{x}:Q", title=x_title),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=color,
        strokeDash=alt.StrokeDash(f"{SERIES}:N", legend=None, scale=alt.Scale(domain=list(dashes),
                                                                              range=list(dashes.values()))),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.2)),
        tooltip=[alt.Tooltip(f"{SERIES}:N", title="Series"), alt.Tooltip(f"{schema.STEP}:Q", title="Step"),
                 *([alt.Tooltip(f"{x}:Q", title=x_title, format=",")] if x != schema.STEP else []),
                 alt.Tooltip("panel:N", title="Quantity"), alt.Tooltip("value:Q", title="Value", format=".4g")],
    ).add_params(pick)
    layers = [line]
    if banded:   # after the line, so its legend swatches keep the line's full colour
        layers.append(alt.Chart().mark_area(opacity=0.15).encode(
            x=f"{x}:Q", y=alt.Y(f"value{BAND_SUFFIXES[0]}:Q"), y2=alt.Y2(f"value{BAND_SUFFIXES[1]}:Q"),
            color=color))
    if rules is not None and not rules.is_empty():   # the sidebar's steps, in every panel
        marks = rules.join(pl.DataFrame({"panel": list(titles.values())}), how="cross").with_columns(
            pl.lit(None, pl.Float64).alias("value"), pl.lit(True).alias(RULE))
        long = pl.concat([long, marks.select(*index, "panel", "value", RULE)], how="diagonal_relaxed")
        layers = [layer.transform_filter(f"!datum.{RULE}") for layer in layers]
        layers.append(alt.Chart().mark_rule(strokeDash=[4, 3]).encode(x=f"{x}:Q", color=color)
                      .transform_filter(f"datum.{RULE}"))
    return (alt.layer(*layers, data=long).properties(width=420, height=200)
            .facet(facet=alt.Facet("panel:N", title=None, sort=list(titles.values())), columns=2)
            .resolve_scale(y="independent"))


def heatmap(frame: pl.DataFrame, *, x_title: str, y_title: str) -> alt.Chart:
    """Share of tokens per (bin under x, bin under y): columns bin_x, bin_y, count, percent."""
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            # every bin on both axes, empty ones too, so the diagonal (tokens that kept their bin) is one
            x=alt.X("bin_x:N", scale=alt.Scale(domain=BIN_ORDER), title=x_title, axis=BIN_AXIS),
            y=alt.Y("bin_y:N", scale=alt.Scale(domain=list(reversed(BIN_ORDER))), title=y_title,
                    axis=alt.Axis(**ALL_LABELS)),
            color=alt.Color("percent:Q", scale=alt.Scale(type="log", scheme="greys"), title="% of tokens"),
            tooltip=[alt.Tooltip("bin_x:N", title=x_title), alt.Tooltip("bin_y:N", title=y_title),
                     alt.Tooltip("count:Q", title="Tokens", format=","),
                     alt.Tooltip("percent:Q", title="% of tokens", format=".3g")],
        )
        .properties(height=380)
    )


def step_heatmap(hist: pl.DataFrame) -> alt.Chart:
    """One run over training as one picture: a row per probed step, a cell per bin, coloured by the share of
    that step's tokens in the bin (log colour; empty cells left blank), later steps lower down."""
    shown = hist.filter(pl.col("count") > 0).select(schema.STEP, "bin_label", "count", "percent")
    steps = sorted(shown[schema.STEP].unique().to_list())
    return (
        alt.Chart(shown)
        .mark_rect()
        .encode(
            x=alt.X("bin_label:N", scale=alt.Scale(domain=BIN_ORDER), title=X_LABEL, axis=BIN_AXIS),
            y=alt.Y(f"{schema.STEP}:O", sort=steps, title="Probed step", axis=alt.Axis(**ALL_LABELS)),
            color=alt.Color("percent:Q", scale=alt.Scale(type="log", scheme="viridis"), title="% of tokens"),
            tooltip=[alt.Tooltip(f"{schema.STEP}:O", title="Step"), alt.Tooltip("bin_label:N", title="Bin"),
                     alt.Tooltip("count:Q", title="Tokens", format=","),
                     alt.Tooltip("percent:Q", title="% of tokens", format=".3g")],
        )
        .add_params(click(CELL, [schema.STEP, "bin_label"]))
        .properties(height=alt.Step(22))
    )


def token_bars(listing: pl.DataFrame, order: list[str], *, value: str = "count",
               value_title: str = "Tokens") -> alt.FacetChart:
    """Horizontal bars per token, one panel per series (in `order`), coloured by the token's role."""
    roles = sorted(set(listing[schema.ROLE].drop_nulls().to_list()), key=lambda r: (r not in schema.ROLES, r))
    pick = click(BAR, [schema.RUN, schema.STEP, schema.TOKEN])
    shown = listing.with_columns(pl.col(schema.TOKEN).map_elements(repr, return_dtype=pl.String).alias("shown"))
    low, high = (value + suffix for suffix in BAND_SUFFIXES)
    banded = low in shown.columns   # runs grouped: each bar the mean over a group's runs, with its 95% interval
    longest_first = alt.EncodingSortField(field=value, op="max", order="descending")
    bars = alt.Chart().mark_bar().encode(
        y=alt.Y("shown:N", sort=longest_first, title=None, axis=alt.Axis(**ALL_LABELS)),
        x=alt.X(f"{value}:Q", title=value_title),
        color=alt.Color(f"{schema.ROLE}:N", title="Role", legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=roles, range=[schema.role_color(r) for r in roles])),
        tooltip=[alt.Tooltip("shown:N", title="Token"), alt.Tooltip(f"{schema.ROLE}:N", title="Role"),
                 alt.Tooltip(f"{value}:Q", title=value_title, format=".3g" if banded else ",")],
    ).add_params(pick)
    layers = [bars]
    if banded:
        layers.append(alt.Chart().mark_rule(color="#222222").encode(
            y=alt.Y("shown:N", sort=longest_first), x=f"{low}:Q", x2=f"{high}:Q"))
    return (
        alt.layer(*layers, data=shown)
        .properties(width=190, height=alt.Step(18))
        .facet(facet=alt.Facet(f"{SERIES}:N", title=None, sort=order), columns=3, spacing=30)
        .resolve_scale(y="independent")
    )


def mass_bars(mass: pl.DataFrame, colors: dict[str, str], *, shared: bool = True) -> alt.FacetChart:
    """Per series (one panel each): the share of each objective's squared gradient mass per bin, with the
    bin's share of tokens as a grey tick (where the mass would be if every token weighed the same)."""
    objectives = [o for o in colors if o in set(mass[schema.OBJECTIVE])]
    base = alt.Chart().encode(x=alt.X("bin_label:N", sort=BIN_ORDER, title=X_LABEL, axis=BIN_AXIS))
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
    layers = [bars, ticks]
    if "mass_share" + BAND_SUFFIXES[0] in mass.columns:   # runs grouped: each bar a mean, with its 95% interval
        layers.append(base.mark_rule(color="#222222").encode(
            xOffset=alt.XOffset(f"{schema.OBJECTIVE}:N", sort=objectives),
            y=f"mass_share{BAND_SUFFIXES[0]}:Q", y2=f"mass_share{BAND_SUFFIXES[1]}:Q"))
    return _rows(alt.layer(*layers, data=mass).properties(height=200, width=620)
                 .facet(row=alt.Row(f"{SERIES}:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left"))),
                 shared)


def class_bars(classes: pl.DataFrame, height: str, *, shared: bool = True) -> alt.FacetChart:
    """Figure 2 with each bar stacked by role (`height`: "percent" of the series' tokens or "bin_share"),
    one panel per series; roles in their own colours."""
    roles = [r for r in schema.ROLES if r in set(classes[schema.ROLE])] + sorted(
        set(classes[schema.ROLE].drop_nulls()) - set(schema.ROLES))
    shown = classes.filter(pl.col("count") > 0)
    title = "% of tokens" if height == "percent" else "Share of the bin"
    return _rows(
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("bin_label:N", sort=BIN_ORDER, title=X_LABEL, axis=BIN_AXIS),
            y=alt.Y(f"{height}:Q", title=title, stack="zero",
                    axis=alt.Axis(format="%") if height == "bin_share" else alt.Axis()),
            color=alt.Color(f"{schema.ROLE}:N", title="Role", sort=roles, legend=alt.Legend(orient="top"),
                            scale=alt.Scale(domain=roles, range=[schema.role_color(r) for r in roles])),
            order=alt.Order("role_order:Q"),
            tooltip=[alt.Tooltip(f"{SERIES}:N", title="Series"), alt.Tooltip("bin_label:N", title="Bin"),
                     alt.Tooltip(f"{schema.ROLE}:N", title="Role"), alt.Tooltip("count:Q", title="Tokens", format=","),
                     alt.Tooltip("percent:Q", title="% of the series' tokens", format=".3g"),
                     alt.Tooltip("bin_share:Q", title="Share of the bin", format=".1%")],
        )
        .transform_calculate(role_order=f"indexof({roles!r}, datum.{schema.ROLE})")
        .properties(height=180, width=620)
        .facet(row=alt.Row(f"{SERIES}:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left"))),
        shared)
