"""The lowest-bin token listing as a figure: the most frequent tokens with p below a threshold, per method.

    import probscope as ps
    tokens = ps.load_tokens("runs")
    fig = ps.plot_lowest_bin_tokens(ps.lowest_bin_tokens(tokens, top=15))

One panel per series (method), horizontal bars of token counts coloured by the token's role, so the
paper's reading (the lowest bin is connectives and punctuation) can be checked at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from probscope import schema
from probscope.analysis.histograms import COUNT
from probscope.analysis.listings import LOWEST_BIN_UPPER, RANK, SHARE, lowest_bin_tokens
from probscope.analysis.steps import at_last_step
from probscope.analysis.tokens import series_columns
from probscope.checks import check_count
from probscope.plots.registry import FigureWithTable, register_figure
from probscope.plots.style import display_token, nothing_to_show, panel_axes, plot_series, role_color

_LISTING_COLUMNS = (RANK, schema.TOKEN, schema.ROLE, COUNT, SHARE, schema.TOKEN_ID)
DEFAULT_TOP = 15


def plot_lowest_bin_tokens(
    listing: pl.DataFrame, *, top: int = DEFAULT_TOP, upper: float = LOWEST_BIN_UPPER, title: str | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Top `top` tokens of a `lowest_bin_tokens` table per series (one panel, or one of `ax`, each);
    `upper` only labels the x axis."""
    check_count("top", top)
    if listing.is_empty():   # a model can leave no token that low: say so instead of failing an export
        return nothing_to_show(f"No token has p < {upper:g}", ax)
    group_columns = [column for column in listing.columns if column not in _LISTING_COLUMNS]
    series = plot_series(listing, group_columns)
    shown = min(top, int(cast(int, listing[RANK].max())))

    figure, axes = panel_axes(ax, len(series), (max(6.0, 3.4 * len(series)), 1.4 + 0.28 * shown))
    for ax, one in zip(axes, series, strict=False):
        rows = one.rows(listing).filter(pl.col(RANK) <= top).sort(RANK)
        positions = range(rows.height)
        ax.barh(positions, rows[COUNT].to_numpy(), color=[role_color(role) for role in rows[schema.ROLE]])
        ax.set_yticks(positions, [display_token(token) for token in rows[schema.TOKEN]])
        ax.set_ylim(shown - 0.5, -0.5)   # rank 1 on top, panels aligned row for row
        ax.set_title(one.label, color=one.color)
        ax.set_xlabel(f"Tokens with p < {upper:g}")

    present = set(listing[schema.ROLE].to_list())
    handles = [Patch(color=role_color(role), label=role) for role in schema.ROLES if role in present]
    if present - set(schema.ROLES):
        handles.append(Patch(color=role_color(None), label="other / unknown"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    if title:
        figure.suptitle(title)
    return figure


@register_figure("lowest_bin_tokens")
def lowest_bin_figure(tokens: pl.LazyFrame) -> FigureWithTable:
    """Tokens of the paper's lowest bin (p < 1e-4) per series at its last loaded step: the full listing
    as the table, the top ones plotted."""
    final = at_last_step(tokens)
    listing = lowest_bin_tokens(final, by=series_columns(final))
    return FigureWithTable(listing, plot_lowest_bin_tokens(listing))
