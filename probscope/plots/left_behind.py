"""Tokens left behind as a figure: per role, and for the end of the reply, the share still below p = 0.1.

    import probscope as ps
    final = ps.at_last_step(ps.load_tokens("runs", steps="all", lazy=True))
    ps.plot_left_behind(ps.left_behind_table(final))

Grouped bars, one colour per method; the last group is the reply-ending token (schema order of roles first).
"""

from __future__ import annotations

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from probscope import schema
from probscope.analysis.left_behind import (
    BELOW,
    DEFAULT_BELOW,
    END_OF_REPLY,
    OCCURRENCES,
    SHARE_BELOW,
    left_behind_table,
)
from probscope.analysis.steps import at_last_step
from probscope.analysis.tokens import series_columns
from probscope.plots.registry import FigureWithTable, register_figure
from probscope.plots.style import figure_and_axes, nothing_to_show, plot_series


def plot_left_behind(table: pl.DataFrame, *, below: float = DEFAULT_BELOW, ax: Axes | None = None) -> Figure:
    """Grouped bars of a `left_behind_table`: share below `below` per role, one bar per series."""
    if table.is_empty():
        return nothing_to_show("No tokens to plot", ax)
    by = [c for c in table.columns if c not in (schema.ROLE, OCCURRENCES, BELOW, SHARE_BELOW)]
    series = plot_series(table, by)
    present = set(table[schema.ROLE].to_list())
    roles = [r for r in schema.ROLES if r in present] + sorted(present - {*schema.ROLES, END_OF_REPLY}, key=str)
    roles += [END_OF_REPLY] if END_OF_REPLY in present else []
    figure, ax = figure_and_axes(ax, (max(7.0, 0.9 * len(roles) * max(1, len(series)) / 2), 3.8))
    width = 0.8 / len(series)
    for i, one in enumerate(series):
        shares = dict(one.rows(table).select(schema.ROLE, SHARE_BELOW).iter_rows())
        x = [j + (i - (len(series) - 1) / 2) * width for j in range(len(roles))]
        ax.bar(x, [shares.get(role, 0.0) for role in roles], width=width, color=one.color, label=one.label)
    ax.set_xticks(range(len(roles)), roles, rotation=30, ha="right")
    ax.set_ylabel(f"share of occurrences with p < {below:g}")
    ax.legend(frameon=False)
    return figure


@register_figure("left_behind")
def left_behind_figure(tokens: pl.LazyFrame) -> FigureWithTable:
    """Per series at its last loaded step: the share of each role (and of the end of reply) still below 0.1."""
    final = at_last_step(tokens)
    table = left_behind_table(final, by=series_columns(final))
    return FigureWithTable(table, plot_left_behind(table))
