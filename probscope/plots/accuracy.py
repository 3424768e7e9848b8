"""Figure 1 of the DFT paper's form: benchmark accuracy over training steps, one line per run, shaded CI.

    import probscope as ps
    curves = ps.accuracy_curves(ps.load_evals("runs"))          # see probscope.evaluate.curves
    ps.plot_accuracy_curves(curves).savefig("accuracy.png")

One panel per benchmark; colours are the methods' (schema.METHOD_COLORS), several runs of one method differ
by line style; curves imported from lm-evaluation-harness are dashed markers beside probscope's. The band is
the table's [lo, hi] (a bootstrap interval over problems; ±1.96 standard errors for lm-eval rows).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from probscope import schema
from probscope.evaluate.curves import BENCHMARK, HI, LO, METRIC, SOURCE, VALUE
from probscope.plots.registry import FigureWithTable, register_figure
from probscope.plots.style import nothing_to_show, panel_axes, plot_series

X_LABEL = "Training step"
LINE_STYLES = ("-", "--", ":", "-.")
PANEL_SIZE = (4.5, 3.6)
MAX_COLUMNS = 4


def plot_accuracy_curves(curves: pl.DataFrame, *, title: str | None = None,
                         ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Lines of an `accuracy_curves` table over the step (`ax`: one Axes per benchmark, or None)."""
    if curves.is_empty():
        return nothing_to_show("No evaluations yet (run `probscope eval`)", ax)
    benchmarks = sorted(curves[BENCHMARK].unique().to_list())
    figure, axes = panel_axes(ax, len(benchmarks), (PANEL_SIZE[0] * min(len(benchmarks), MAX_COLUMNS),
                                                     PANEL_SIZE[1]), columns=MAX_COLUMNS)
    method_colors = {one.key[schema.METHOD]: one.color for one in plot_series(curves, [schema.METHOD])}
    for panel, benchmark in zip(axes, benchmarks, strict=False):
        rows = curves.filter(pl.col(BENCHMARK) == benchmark)
        several_metrics = rows[METRIC].n_unique() > 1
        styles: dict[str, int] = {}
        for one in plot_series(rows, [schema.METHOD, schema.RUN, METRIC, SOURCE]):
            method = one.key[schema.METHOD]
            line = one.rows(rows).sort(schema.STEP)
            style = LINE_STYLES[styles.get(method, 0) % len(LINE_STYLES)]
            styles[method] = styles.get(method, 0) + 1
            label = f"{schema.method_label(method)} · {one.key[schema.RUN]}"
            if several_metrics or one.key[SOURCE] != "probscope":
                label += f" · {one.key[METRIC]}"
            steps, color = line[schema.STEP].to_numpy(), method_colors[method]
            panel.plot(steps, line[VALUE].to_numpy(), style, marker="o", markersize=3, color=color, label=label)
            band = line.drop_nulls([LO, HI])
            if not band.is_empty():
                panel.fill_between(band[schema.STEP].to_numpy(), band[LO].to_numpy(), band[HI].to_numpy(),
                                   color=color, alpha=0.15, linewidth=0)
        metric = rows[METRIC].unique().to_list()
        panel.set_title(benchmark)
        panel.set_xlabel(X_LABEL)
        panel.set_ylabel(metric[0] if len(metric) == 1 else "accuracy")
        panel.set_ylim(-0.02, 1.02)
        panel.grid(alpha=0.3)
        panel.legend(frameon=False, fontsize="small")
    if title:
        figure.suptitle(title)
    return figure


@register_figure("accuracy_curves")
def accuracy_curves_figure(tokens=None, *, runs_root: str | os.PathLike | None = None) -> FigureWithTable | None:
    """Every run's evaluations under `runs_root` (None when export gives no runs root or nothing is evaluated)."""
    from probscope.evaluate.curves import accuracy_curves, load_evals

    if runs_root is None:
        return None
    curves = accuracy_curves(load_evals(runs_root))
    return None if curves.is_empty() else FigureWithTable(curves, plot_accuracy_curves(curves))
