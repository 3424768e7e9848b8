"""Figure 2 with each bar split by token role: what fills each probability bin.

    import probscope as ps
    ps.plot_class_histogram(ps.class_histogram(ps.load_tokens("runs")))

One panel per series (method). Each bin's bar is split into its roles' shares of the bin (so the lowest
bin's composition reads as clearly as the top bin's, however few tokens it holds); the number above a
bar is the bin's percentage of all tokens, Figure 2's bar height.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from probscope import schema
from probscope.analysis.class_histogram import BIN_SHARE, class_histogram
from probscope.analysis.histograms import BIN, BIN_LABEL, COUNT, HI, LO, PERCENT
from probscope.analysis.steps import at_last_step
from probscope.analysis.tokens import series_columns
from probscope.plots.registry import FigureWithTable, register_figure
from probscope.plots.style import nothing_to_show, panel_axes, plot_series, role_color

_TABLE_COLUMNS = (schema.ROLE, BIN, BIN_LABEL, LO, HI, COUNT, PERCENT, BIN_SHARE)


def plot_class_histogram(table: pl.DataFrame, *, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Role-stacked bars of a `class_histogram` table, one panel per series (or one of `ax` each)."""
    if table.filter(pl.col(COUNT) > 0).is_empty():
        return nothing_to_show("No tokens to plot", ax)
    series = plot_series(table, [c for c in table.columns if c not in _TABLE_COLUMNS])
    present = set(table.filter(pl.col(COUNT) > 0)[schema.ROLE].to_list())
    roles = [r for r in schema.ROLES if r in present] + sorted(present - set(schema.ROLES), key=str)
    figure, axes = panel_axes(ax, len(series), (10.0, 3.8), columns=2)
    for one, panel in zip(series, axes, strict=False):
        rows = one.rows(table)
        bottom = [0.0] * len(schema.BIN_LABELS)
        for role in roles:
            shares = rows.filter(pl.col(schema.ROLE).eq_missing(role)).sort(BIN)
            heights = dict(zip(shares[BIN].to_list(), shares[BIN_SHARE].fill_null(0).to_list(), strict=False))
            values = [heights.get(i, 0.0) for i in range(len(bottom))]
            panel.bar(range(len(bottom)), values, bottom=bottom, color=role_color(role), label=str(role))
            bottom = [b + v for b, v in zip(bottom, values, strict=False)]
        totals = rows.group_by(BIN).agg(pl.col(PERCENT).sum()).sort(BIN)
        for i, percent in zip(totals[BIN], totals[PERCENT], strict=False):
            panel.text(i, 1.01, f"{percent:.2g}%", ha="center", va="bottom", fontsize=6, rotation=90)
        panel.set_ylim(0, 1.25)
        panel.set_xticks(range(len(schema.BIN_LABELS)), schema.BIN_LABELS, rotation=45, ha="right", fontsize=7)
        panel.set_ylabel("share of the bin's tokens")
        panel.set_title(one.label, color=one.color)
    handles = [Patch(color=role_color(role), label=str(role)) for role in roles]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 9), frameon=False)
    return figure


@register_figure("class_histogram")
def class_histogram_figure(tokens: pl.LazyFrame) -> FigureWithTable:
    """Figure 2 per series at its last loaded step, each bar split by token role."""
    final = at_last_step(tokens)
    table = class_histogram(final, by=series_columns(final))
    return FigureWithTable(table, plot_class_histogram(table))
