"""Figures: functions that take analysis tables (polars) and return matplotlib Figures, plus batch export.

    import probscope as ps
    tokens = ps.load_tokens("runs")
    ps.plot_probability_histogram(ps.probability_histogram(tokens)).savefig("figure2.png")
    ps.export_figures("runs", "figures")          # every registered figure, as png + pdf + csv

Figures are built with `matplotlib.figure.Figure`, never pyplot, so nothing lands in global state.
"""

from probscope.plots.export import export_figures
from probscope.plots.figure2 import plot_probability_histogram  # registers "figure2"
from probscope.plots.lowest_bin import (
    plot_lowest_bin_tokens,  # registers "lowest_bin_tokens"
)
from probscope.plots.registry import FIGURES, FigureWithTable, register_figure

__all__ = [
    "FIGURES", "FigureWithTable", "export_figures", "plot_lowest_bin_tokens", "plot_probability_histogram",
    "register_figure",
]
