"""Figures: functions that take analysis tables (polars) and return matplotlib Figures, plus batch export.

    import probscope as ps
    tokens = ps.load_tokens("runs")
    ps.plot_probability_histogram(ps.probability_histogram(tokens)).savefig("figure2.png")
    ps.export_figures("runs", "figures")          # every registered figure, as png + pdf + csv + md

Figures are built with `matplotlib.figure.Figure`, never pyplot, so nothing lands in global state.
Every plot function takes `ax=None` (see probscope.plots.style) so figures compose.
"""

# importing each figure module registers its figure(s) with FIGURES, in this (export) order
from probscope.plots.accuracy import plot_accuracy_curves
from probscope.plots.class_histogram import plot_class_histogram
from probscope.plots.export import export_figures, markdown_table
from probscope.plots.figure2 import plot_probability_histogram
from probscope.plots.gradients import plot_gradient_mass
from probscope.plots.left_behind import plot_left_behind
from probscope.plots.lowest_bin import plot_lowest_bin_tokens
from probscope.plots.movers import plot_token_movers
from probscope.plots.registry import FIGURES, FigureWithTable, register_figure
from probscope.plots.stats import plot_distribution_statistics
from probscope.plots.steps import plot_extreme_bin_shares, plot_step_histograms

__all__ = [
    "FIGURES", "FigureWithTable", "export_figures", "plot_accuracy_curves", "markdown_table", "plot_class_histogram",
    "plot_distribution_statistics", "plot_extreme_bin_shares", "plot_gradient_mass", "plot_left_behind",
    "plot_lowest_bin_tokens", "plot_probability_histogram", "plot_step_histograms", "plot_token_movers",
    "register_figure",
]
