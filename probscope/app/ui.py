"""What every page shares: readable tables, charts with their data as CSV, and data problems as one line.

    with problem("Figure 2"):            # a data problem becomes one readable line; the page goes on
        show_chart(chart, data, "figure2")
    show_table(frame)                    # readable column names, shares as percentages, no internal ids
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Literal, TypedDict

import polars as pl
import streamlit as st
from altair.utils import schemapi

from probscope import schema
from probscope.app import charts, state
from probscope.app.seeds import BY_SEED, HIGH, LOW, RunFacts, differing_keys, run_groups
from probscope.app.text import md
from probscope.errors import ProbscopeError, first_line

# Column name -> header shown; shares (0..1) listed in SHARES are shown as percentages.
LABELS = {
    schema.RUN: "Run", schema.METHOD: "Method", schema.STEP: "Step", schema.TOKEN: "Token", schema.ROLE: "Role",
    schema.P: "p", schema.ENTROPY: "Entropy (nats)", schema.RANK: "Rank", "bin_label": "Probability bin",
    "count": "Tokens", "percent": "% of tokens", "share": "Share of listed tokens", "low_count": "Tokens below",
    "low_share": "Share of tokens below", "all_count": "All tokens", "all_share": "Share of all tokens",
    "enrichment": "Enrichment (×)", "stylistic": "Stylistic", "occurrences": "Occurrences", "below": "Below",
    "share_below": "Share below", "replies": "Replies", "end_token": "End-of-reply token",
    "n_before": "Count before", "p_before": "Mean p before", "n_after": "Count after", "p_after": "Mean p after",
    "delta": "Change in mean p", "direction": "Direction", "trained_objective": "Trained objective",
    "lowest_share": "Share p < 1e-4", "highest_share": "Share p ≥ 0.9", "tokens": "Tokens",
    schema.N_TOKENS: "Tokens in batch", schema.SFT_LOSS: "SFT loss", schema.DFT_LOSS: "DFT loss",
    schema.WEIGHT_MEAN: "Mean weight (own objective)", "objective": "Objective",
    "mean_p": "Mean p", "nll": "NLL (nats)", "mean_entropy": "Mean entropy (nats)", "top1": "Top-1 accuracy",
    "below_0.1": "p < 0.1", "above_0.9": "p ≥ 0.9", "polarization": "Polarization", "mass_share": "Share of mass",
    "token_share": "Share of tokens", "bin_share": "Share of the bin", "statistic": "Statistic", "sample": "Series",
    "value": "Value", "accuracy": "Accuracy", "accuracy_low": "95% CI low", "accuracy_high": "95% CI high",
    "metric": "Metric", "benchmark": "Benchmark", "ci_low": "95% CI low", "ci_high": "95% CI high",
    "examples": "Examples", "a": "A", "b": "B",
    "counted": "Counted", "seeds": "Runs in the group", schema.TOKENS_SEEN: "Tokens seen",
}
SHARES = {"share", "low_share", "all_share", "share_below", "lowest_share", "highest_share", "top1", "below_0.1",
          "above_0.9", "polarization", "mass_share", "token_share", "bin_share", "accuracy", "accuracy_low",
          "accuracy_high"}
HIDDEN = {schema.TOKEN_ID, "lo", "hi", "bin", "stylistic"}   # internal ids and columns other columns repeat
PROBLEMS = (ProbscopeError, OSError, pl.exceptions.PolarsError)


@contextmanager
def problem(what: str) -> Iterator[None]:
    """Show a data problem inside the block (unreadable, missing or half-written files) as one line; `what` is
    Markdown (a user's name in it escaped with app.text.md)."""
    try:
        yield
    except PROBLEMS as e:
        st.error(f"{what}: {md(first_line(e))}")


def choose_view(views: list[str]) -> str:
    """One view of the page at a time (drawing only its charts keeps the page fast), kept in the URL as ?view=."""
    key = f"view:{st.session_state.get('page', '')}"
    if st.session_state.get(key) not in views:
        wanted = st.query_params.get("view")
        st.session_state[key] = wanted if wanted in views else views[0]
    view = st.radio("View", views, key=key, horizontal=True, label_visibility="collapsed")
    st.query_params["view"] = view
    return view


class BarOptions(TypedDict, total=False):
    """Keyword arguments of the bar charts (charts.figure2, charts.small_multiples)."""
    log: bool
    shared: bool


def bar_options(*, log: bool = True, shared: bool = True) -> BarOptions:
    """The bar-chart controls a view offers (`log`: log/linear y; `shared`: one y range for every panel), in the
    URL as ?y=log|linear and ?shared_y=; returns the chart keyword arguments."""
    options: BarOptions = {}
    columns = st.columns(2 if log and shared else 1)
    if log:
        state.url_state("y", "log", valid=("log", "linear"))
        options["log"] = columns[0].radio("Y axis", ["log", "linear"], key="y", horizontal=True) == "log"
        state.to_url("y")
    if shared:
        state.url_state("shared_y", True, lambda text: text == "True")
        options["shared"] = columns[-1].toggle("Same y range in every panel", key="shared_y")
        state.to_url("shared_y")
    return options


NO_GROUPING = ""   # the "group runs by" choice that keeps every run its own series


def choose_grouping(runs: Mapping[str, RunFacts]) -> tuple[dict[str, str], bool]:
    """The sidebar's grouping of runs (nothing, seeds, or one config key that differs between `runs`), in the
    URL as ?group_by=; returns run -> group ({} without grouping) and whether each run is shown beside its
    group's mean (?per_seed=)."""
    options = [NO_GROUPING, BY_SEED, *differing_keys(runs)]
    state.url_state("group_by", NO_GROUPING, valid=options)
    by = st.selectbox("Group runs that differ only by", options, key="group_by",
                      format_func=lambda key: "nothing (every run its own series)" if key == NO_GROUPING else key,
                      help="Runs alike but for this (seed: named <name>-s<seed>) as one series: the mean over "
                           "them with its 95% t-interval, on every chart and table")
    if by == NO_GROUPING:
        for key in ("group_by", "per_seed"):
            st.query_params.pop(key, None)
        return {}, False
    state.to_url("group_by")
    state.url_state("per_seed", False, lambda text: text == "True")
    per_seed = st.toggle("Each run beside its group's mean", key="per_seed")
    state.to_url("per_seed")
    return run_groups(runs, by), per_seed


X_AXES = {schema.STEP: "Optimizer step", schema.TOKENS_SEEN: "Tokens seen"}   # over-training charts' x axes


def x_axis() -> str:
    """The over-training charts' x axis (X_AXES: the optimizer step or the tokens seen), in the URL as ?x_axis=."""
    state.url_state("x_axis", schema.STEP, valid=X_AXES)
    x = st.radio("X axis", list(X_AXES), key="x_axis", horizontal=True, format_func=X_AXES.get)
    state.to_url("x_axis")
    return x


def need_selection() -> state.Selection:
    """The sidebar's selection; without one, the reason and how to fix it, and the page stops here."""
    selection = state.current()
    if selection is None:
        st.info(st.session_state.get("missing") or "Choose at least one run in the sidebar.")
        st.stop()
    return selection


INTERVAL_ENDS = {LOW: "95% low", HIGH: "95% high"}   # a grouped measure's interval columns (app.seeds.fold)


def measure(column: str) -> str:
    """The measure a column holds: itself, or the measure whose interval end it is (nll_low -> nll)."""
    for suffix in INTERVAL_ENDS:
        if column.endswith(suffix) and column[:-len(suffix)] in LABELS:
            return column[:-len(suffix)]
    return column


def label(column: str) -> str:
    """A column's header: LABELS', its measure's with the interval end ("NLL (nats) · 95% low"), or its name."""
    if column in LABELS:
        return LABELS[column]
    if measure(column) != column:
        return f"{LABELS[measure(column)]} · {INTERVAL_ENDS[column[len(measure(column)):]]}"
    return column.replace("_", " ").capitalize()


def readable(frame: pl.DataFrame) -> pl.DataFrame:
    """Method names as in the figures, shares as percentages; internal columns dropped."""
    frame = frame.drop([column for column in frame.columns if column in HIDDEN])
    if schema.METHOD in frame.columns:
        frame = frame.with_columns(pl.col(schema.METHOD).replace_strict(
            schema.METHOD_LABELS, default=pl.col(schema.METHOD), return_dtype=pl.String))
    return frame.with_columns(pl.col(column) * 100 for column in frame.columns if measure(column) in SHARES)


def show_table(frame: pl.DataFrame, *, height: int | Literal["auto"] = "auto", key: str | None = None) -> None:
    """A table with readable headers; percentages with a % sign, missing values (a share of 0 of 0) as a dash."""
    frame = readable(frame)
    config = {column: st.column_config.Column(label(column)) for column in frame.columns}
    for column in frame.columns:
        if measure(column) in SHARES or measure(column) == "percent":
            config[column] = st.column_config.NumberColumn(label(column), format="%.1f%%")
        elif frame.schema[column] == pl.Float64 and column not in (schema.P,):
            config[column] = st.column_config.NumberColumn(label(column), format="%.3g")
    st.dataframe(frame, hide_index=True, column_config=config, height=height, key=key, placeholder="–")


# Altair validates every chart against the Vega-Lite schema with jsonschema: ~45 ms a chart in to_dict, ~20 ms
# more while layers are combined (its "debug mode", a process-wide switch: this module runs in the dashboard's
# server), half of the Benchmarks page's first run. It checks the code, not the data: the app tests validate
# every chart of every view against the schema instead.
schemapi.disable_debug_mode()

# Charts up to this many rows draw as SVG: crisp text, and each mark an element a test (or a user's
# inspector) can count; larger ones as canvas, which stays fast at any size.
SVG_MAX_ROWS = 5000


@st.cache_data(max_entries=512, show_spinner=False)
def _vega_spec(chart: str, table: pl.DataFrame, args: tuple, kwargs: dict) -> dict:
    # Building an Altair chart takes tens of milliseconds: done once per table. Not validated here (see
    # schemapi.disable_debug_mode above).
    spec = getattr(charts, chart)(table, *args, **kwargs).to_dict(validate=False)
    renderer = "svg" if table.height <= SVG_MAX_ROWS else "canvas"
    return {**spec, "usermeta": {"embedOptions": {"renderer": renderer}}}


def show_chart(chart: Callable, table: pl.DataFrame, *args, csv: pl.DataFrame | None = None, name: str | None = None,
               select: str | None = None, **kwargs) -> list[dict]:
    """The chart `chart`(table, *args, **kwargs) from probscope.app.charts (PNG from its toolbar); with
    `name`, its data (`csv`, default the table) as a CSV download below it. `select`: the name of the chart's
    click selection (charts.click); returns the fields of the marks just clicked (empty without a new click: a
    selection stays in the chart, and the widgets it set may have moved on since)."""
    spec = _vega_spec(chart.__name__, table, args, kwargs)
    clicked: list[dict] = []
    if select is None:
        st.vega_lite_chart(spec=spec, width="stretch")
    else:
        key = f"chart:{name or chart.__name__}"
        event = st.vega_lite_chart(spec=spec, width="stretch", on_select="rerun", selection_mode=select, key=key)
        now = list(event.selection.get(select, [])) if event is not None else []
        clicked = now if now != st.session_state.get(f"_{key}") else []
        st.session_state[f"_{key}"] = now
    if name is not None:
        st.download_button("Download the data (CSV)", (table if csv is None else csv).write_csv(),
                           file_name=f"{name}.csv", mime="text/csv", key=f"csv:{name}")
    return clicked
