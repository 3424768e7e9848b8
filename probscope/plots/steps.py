"""How each run's distribution moves over its probed checkpoints.

    import probscope as ps
    tokens = ps.load_tokens("runs", steps="all", lazy=True)
    ps.plot_step_histograms(ps.step_histograms(tokens))          # one panel per run, one ridge per step
    ps.plot_extreme_bin_shares(ps.extreme_bin_shares(tokens))    # lowest and highest bin share vs step

Ridges are Figure 2's bars at each step, scaled so the tallest bar of a panel fills one ridge height;
later steps are drawn more opaque. Colours are the methods' (schema.METHOD_COLORS).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from probscope import schema
from probscope.analysis.histograms import BIN, PERCENT
from probscope.analysis.steps import HIGHEST_SHARE, LOWEST_SHARE, extreme_bin_shares, step_histograms
from probscope.plots.registry import FigureWithTable, register_figure
from probscope.plots.style import method_color, nothing_to_show, panel_axes, plot_series

RIDGE_OVERLAP = 1.6     # a ridge's full height in units of the spacing between steps
LINE_STYLES = ("-", "--", ":", "-.")


def plot_step_histograms(hist: pl.DataFrame, *, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Ridgeline of a `step_histograms` table: one panel per run (or one of `ax` each), one ridge per step."""
    if hist.is_empty():
        return nothing_to_show("No probed steps to plot", ax)
    runs = plot_series(hist, [schema.METHOD, schema.RUN])
    # polars types a column's max as any Python scalar; a count column's is an int
    steps_most = cast(int, hist.group_by(schema.RUN).agg(pl.col(schema.STEP).n_unique())[schema.STEP].max())
    figure, axes = panel_axes(ax, len(runs), (max(6.0, 4.2 * len(runs)), 1.6 + 0.5 * steps_most))
    for one, panel in zip(runs, axes, strict=False):
        rows = one.rows(hist)
        color = method_color(one.key[schema.METHOD])
        steps = sorted(rows[schema.STEP].unique().to_list())
        scale = RIDGE_OVERLAP / max(cast(float, rows[PERCENT].max()), 1e-12)
        for i, step in enumerate(steps):
            ridge = rows.filter(pl.col(schema.STEP) == step).sort(BIN)
            x = ridge[BIN].to_numpy()
            panel.fill_between(np.append(x, x[-1] + 1) - 0.5, i, i + np.append(ridge[PERCENT], 0) * scale,
                               step="post", color=color, alpha=0.25 + 0.65 * (i + 1) / len(steps), lw=0)
        panel.set_yticks(range(len(steps)), [f"step {s}" for s in steps])
        panel.set_xticks(range(len(schema.BIN_LABELS)), schema.BIN_LABELS, rotation=45, ha="right", fontsize=7)
        panel.set_title(one.label, color=color)
        panel.set_xlabel("Prediction Probability")
    return figure


def plot_extreme_bin_shares(shares: pl.DataFrame, *, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Two panels of an `extreme_bin_shares` table over the step: lowest-bin and highest-bin share, a line per run."""
    if shares.is_empty():
        return nothing_to_show("No probed steps to plot", ax)
    figure, axes = panel_axes(ax, 2, (10.0, 3.6))
    per_method: dict[str, int] = {}
    for one in plot_series(shares, [schema.METHOD, schema.RUN]):
        method = one.key[schema.METHOD]
        style = LINE_STYLES[per_method.get(method, 0) % len(LINE_STYLES)]
        per_method[method] = per_method.get(method, 0) + 1
        rows = one.rows(shares).sort(schema.STEP)
        for panel, column in zip(axes, (LOWEST_SHARE, HIGHEST_SHARE), strict=False):
            panel.plot(rows[schema.STEP].to_numpy(), rows[column].to_numpy(), style, marker="o",
                       color=method_color(method), label=one.label)
    titles = (f"Lowest bin {schema.BIN_LABELS[0]}", f"Highest bin {schema.BIN_LABELS[-1]}")
    for panel, title in zip(axes, titles, strict=False):
        panel.set_title(title)
        panel.set_xlabel("Step")
        panel.set_ylabel("share of tokens")
        panel.grid(alpha=0.3)
    axes[-1].legend(frameon=False)
    return figure


@register_figure("step_histograms")
def step_histograms_figure(tokens: pl.LazyFrame) -> FigureWithTable:
    """Figure 2 at every loaded step of every run, as ridgelines."""
    hist = step_histograms(tokens)
    return FigureWithTable(hist, plot_step_histograms(hist))


@register_figure("extreme_bin_shares")
def extreme_bin_shares_figure(tokens: pl.LazyFrame) -> FigureWithTable:
    """Share of tokens in the lowest and highest bins against the step, one line per run."""
    shares = extreme_bin_shares(tokens)
    return FigureWithTable(shares, plot_extreme_bin_shares(shares))
