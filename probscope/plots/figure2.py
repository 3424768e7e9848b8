"""Figure 2 of the DFT paper: percentage of target tokens per probability bin, one bar per method.

    import probscope as ps
    fig = ps.plot_probability_histogram(ps.probability_histogram(ps.load_tokens("runs")))
    fig.savefig("figure2.png")

The y axis is logarithmic, as in the paper, so the few tokens DFT pushes towards 0 stay visible next
to the many it pushes towards 1. Empty bins draw no bar.
"""

from __future__ import annotations

from typing import cast

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from probscope import schema
from probscope.analysis.histograms import (
    BIN,
    BIN_LABEL,
    COUNT,
    HI,
    LO,
    PERCENT,
    bins,
    probability_histogram,
)
from probscope.analysis.steps import at_last_step
from probscope.analysis.tokens import series_columns
from probscope.plots.registry import FigureWithTable, register_figure
from probscope.plots.style import figure_and_axes, nothing_to_show, plot_series

X_LABEL = schema.FIGURE2_X_LABEL
Y_LABEL = schema.FIGURE2_Y_LABEL
_HISTOGRAM_COLUMNS = (BIN, BIN_LABEL, LO, HI, COUNT, PERCENT)
_GROUP_WIDTH = 0.8   # share of a bin's slot the bars of all series fill


def plot_probability_histogram(hist: pl.DataFrame, *, title: str | None = None, ax: Axes | None = None) -> Figure:
    """Grouped bars from a `probability_histogram` table: one bar container per series, log y axis."""
    if hist.filter(pl.col(COUNT) > 0).is_empty():
        return nothing_to_show("No tokens to plot", ax)
    group_columns = [column for column in hist.columns if column not in _HISTOGRAM_COLUMNS]
    series = plot_series(hist, group_columns)
    bin_labels = bins()[BIN_LABEL].to_list()

    figure, ax = figure_and_axes(ax, (max(10.0, 0.25 * len(bin_labels) * len(series)), 4.5))
    width = _GROUP_WIDTH / len(series)
    for i, one in enumerate(series):
        rows = one.rows(hist).sort(BIN)
        offset = (i - (len(series) - 1) / 2) * width
        ax.bar(rows[BIN].to_numpy() + offset, rows[PERCENT].to_numpy(), width=width, color=one.color, label=one.label)

    ax.set_yscale("log")
    smallest = cast("float | None", hist.filter(pl.col(PERCENT) > 0)[PERCENT].min())   # None: no bar
    ax.set_ylim(schema.log_axis_floor(smallest), 100 * 1.5)
    ax.set_xticks(range(len(bin_labels)), bin_labels, rotation=35, ha="right")
    ax.set_xlabel(X_LABEL)
    ax.set_ylabel(Y_LABEL)
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    return figure


@register_figure("figure2")
def figure2(tokens: pl.LazyFrame) -> FigureWithTable:
    """The paper's Figure 2 for each series at its last loaded step, with its histogram table."""
    final = at_last_step(tokens)
    hist = probability_histogram(final, by=series_columns(final))
    return FigureWithTable(hist, plot_probability_histogram(hist))
