"""Where each objective spends its update: share of squared logit-gradient mass per probability bin.

    import probscope as ps
    ps.plot_gradient_mass(ps.gradient_mass_by_bin(ps.load_tokens("runs")))

One panel per series (method); in each, one bar per objective and bin (the share of Σ w²·|∇z|² the
bin's tokens carry under that objective) and a black step line with the bin's share of tokens, the
mass every bin would carry if each token pulled equally. SFT spends most on the low bins, DFT on the
high ones. The same quantity per training batch is in the training-dynamics figure's data (grad_sq_share).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from probscope import schema
from probscope.analysis.gradients import MASS_SHARE, TOKEN_SHARE, gradient_mass_by_bin
from probscope.analysis.histograms import BIN, BIN_LABEL
from probscope.analysis.steps import at_last_step
from probscope.analysis.tokens import series_columns
from probscope.plots.registry import FigureWithTable, register_figure
from probscope.plots.style import method_color, nothing_to_show, panel_axes, plot_series

_TABLE_COLUMNS = (schema.OBJECTIVE, BIN, BIN_LABEL, TOKEN_SHARE, MASS_SHARE)


def plot_gradient_mass(table: pl.DataFrame, *, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Bars of a `gradient_mass_by_bin` table: one panel per series, one bar colour per objective."""
    if table.is_empty():
        return nothing_to_show("No tokens to weigh", ax)
    series = plot_series(table, [c for c in table.columns if c not in _TABLE_COLUMNS])
    objectives = table[schema.OBJECTIVE].unique(maintain_order=True).to_list()
    figure, axes = panel_axes(ax, len(series), (10.0, 3.6), columns=2)
    width = 0.8 / len(objectives)
    for one, panel in zip(series, axes, strict=False):
        rows = one.rows(table)
        for i, objective in enumerate(objectives):
            bars = rows.filter(pl.col(schema.OBJECTIVE) == objective).sort(BIN)
            panel.bar(bars[BIN].to_numpy() + (i - (len(objectives) - 1) / 2) * width, bars[MASS_SHARE].to_numpy(),
                      width=width, color=method_color(objective, i), label=objective)
        tokens = rows.filter(pl.col(schema.OBJECTIVE) == objectives[0]).sort(BIN)
        x = tokens[BIN].to_numpy()
        panel.step(np.append(x, x[-1] + 1) - 0.5, np.append(tokens[TOKEN_SHARE], tokens[TOKEN_SHARE][-1]),
                   where="post", color="black", lw=1, label="share of tokens")
        panel.set_xticks(range(len(schema.BIN_LABELS)), schema.BIN_LABELS, rotation=45, ha="right", fontsize=7)
        panel.set_title(one.label, color=one.color)
        panel.set_ylabel("share of squared gradient mass")
    axes[0].legend(frameon=False, fontsize=8)
    return figure


@register_figure("gradient_mass")
def gradient_mass_figure(tokens: pl.LazyFrame) -> FigureWithTable:
    """Squared logit-gradient mass per bin under each objective, for each series at its last loaded step."""
    final = at_last_step(tokens)
    table = gradient_mass_by_bin(final, by=series_columns(final))
    return FigureWithTable(table, plot_gradient_mass(table))
