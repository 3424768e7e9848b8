"""Distribution statistics as a figure: each statistic's value with its bootstrap interval.

    import probscope as ps
    ps.plot_distribution_statistics(ps.pairwise_statistics(ps.load_tokens("runs")))

One panel per statistic; one row per comparison (two-sample statistics) or sample (bimodality,
polarization and their difference), a dot at the exact value and a bar over the confidence interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from probscope import schema
from probscope.analysis.stats import CI_HIGH, CI_LOW, SAMPLE, STATISTIC, VALUE, pairwise_statistics
from probscope.analysis.steps import at_last_step
from probscope.analysis.tokens import series_columns
from probscope.plots.registry import FigureWithTable, register_figure
from probscope.plots.style import method_color, nothing_to_show, panel_axes

TITLES = {
    "ks": "Kolmogorov–Smirnov D", "wasserstein_p": "Wasserstein-1 on p", "wasserstein_logp": "Wasserstein-1 on log p",
    "js_divergence": "Jensen–Shannon divergence (bins)", "bimodality": "Bimodality coefficient",
    "polarization": "Polarization (lowest + highest bin)",
}
NEUTRAL = "#444444"   # rows that are not one method (comparisons, differences)


def plot_distribution_statistics(table: pl.DataFrame, *, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Forest plot of a `distribution_statistics` / `pairwise_statistics` table, one panel per statistic."""
    if table.is_empty():
        return nothing_to_show("No pair of distributions to compare", ax)
    statistics = table[STATISTIC].unique(maintain_order=True).to_list()
    rows_most = max(table.filter(pl.col(STATISTIC) == s).unique(SAMPLE).height for s in statistics)
    columns = min(3, len(statistics))
    figure, axes = panel_axes(ax, len(statistics), (4.2 * columns, 1.2 + 0.3 * rows_most), columns=columns)
    for statistic, panel in zip(statistics, axes, strict=False):
        rows = table.filter(pl.col(STATISTIC) == statistic).unique(SAMPLE, keep="first", maintain_order=True)
        for i, (sample, value, low, high) in enumerate(rows.select(SAMPLE, VALUE, CI_LOW, CI_HIGH).iter_rows()):
            color = method_color(sample) if sample in schema.METHOD_COLORS else NEUTRAL
            # a percentile bootstrap interval of a biased statistic (KS, W1 near 0) may exclude the point itself:
            # draw the interval as it is and the point where it is
            panel.errorbar((low + high) / 2, i, xerr=[[(high - low) / 2], [(high - low) / 2]], fmt="none",
                           ecolor=color, capsize=3)
            panel.plot(value, i, "o", color=color)
        panel.set_yticks(range(rows.height), rows[SAMPLE].to_list())
        panel.set_ylim(rows.height - 0.5, -0.5)
        panel.set_title(TITLES.get(statistic, statistic), fontsize=10)
        panel.grid(axis="x", alpha=0.3)
    return figure


@register_figure("distribution_statistics")
def distribution_statistics_figure(tokens: pl.LazyFrame) -> FigureWithTable | None:
    """Every pair of series at their last loaded steps: statistics with bootstrap intervals over examples."""
    final = at_last_step(tokens)
    table = pairwise_statistics(final, by=series_columns(final))
    return FigureWithTable(table, plot_distribution_statistics(table)) if table.height else None
