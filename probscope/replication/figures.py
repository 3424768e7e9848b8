"""The replication's figures, drawn by the library's plot functions from tables pooled or averaged over seeds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from probscope import schema
from probscope.evaluate.curves import BENCHMARK, CURVE_SCHEMA, HI, LO, METRIC, SOURCE, VALUE

FORMATS = ("png", "pdf")


def figure2(tokens: pl.DataFrame) -> Figure:
    """Figure 2: % of training tokens per probability bin, one bar per method (every seed's tokens pooled)."""
    from probscope.analysis import probability_histogram
    from probscope.plots import plot_probability_histogram

    n_seeds = tokens["seed"].n_unique()
    return plot_probability_histogram(probability_histogram(tokens, by=[schema.METHOD]),
                                      title="Training-token probabilities at the last checkpoint "
                                            f"({n_seeds} seeds pooled)")


def curves_figure(accuracy: pl.DataFrame, benchmarks: Sequence[str]) -> Figure:
    """Figure 1's analogue: accuracy vs step per method, the mean over seeds with its 95% t-interval as a band."""
    from probscope.plots import plot_accuracy_curves
    from probscope.replication.stats import t_interval

    rows = []
    fine_tunes = accuracy.filter(pl.col("benchmark").is_in(list(benchmarks)) & (pl.col(schema.METHOD) != "base"))
    for (method, benchmark, step), group in fine_tunes.group_by(schema.METHOD, "benchmark", schema.STEP):
        mean, lo, hi = t_interval(group["accuracy"].to_list())
        rows.append({schema.RUN: f"mean of {len(group)} seeds", schema.METHOD: method, BENCHMARK: benchmark,
                     schema.STEP: step, METRIC: "accuracy", VALUE: mean, LO: lo, HI: hi, SOURCE: "probscope"})
    curves = pl.DataFrame(rows, schema=CURVE_SCHEMA) if rows else pl.DataFrame(schema=CURVE_SCHEMA)
    return plot_accuracy_curves(curves.sort(BENCHMARK, schema.METHOD, schema.STEP),
                                title="Accuracy vs fine-tuning step (greedy; mean over seeds, 95% t-interval)")


def sweep_figure(sweep: pl.DataFrame, benchmarks: Sequence[str]) -> Figure:
    """Learning curves per learning rate: one panel per benchmark and lr, one line per method (seed means)."""
    from probscope.plots.style import panel_axes, plot_series
    from probscope.replication.stats import t_interval

    colors = {one.key[schema.METHOD]: one.color for one in plot_series(sweep, [schema.METHOD])}
    lrs = sorted(sweep["lr"].unique().to_list())
    figure, axes = panel_axes(None, len(benchmarks) * len(lrs), (4.0 * len(lrs), 3.4), columns=len(lrs))
    for i, (benchmark, lr) in enumerate((b, lr) for b in benchmarks for lr in lrs):
        panel = axes[i]
        rows = sweep.filter((pl.col("benchmark") == benchmark) & (pl.col("lr") == lr))
        for method in sorted(rows[schema.METHOD].unique().to_list()):
            by_step = rows.filter(pl.col(schema.METHOD) == method).group_by(schema.STEP).agg(pl.col("accuracy"))
            by_step = by_step.sort(schema.STEP)
            stats = [t_interval(values) for values in by_step["accuracy"].to_list()]
            steps = by_step[schema.STEP].to_numpy()
            color = colors[method]
            panel.plot(steps, [m for m, _, _ in stats], marker="o", markersize=3, color=color,
                       label=schema.method_label(method))
            if all(lo is not None for _, lo, _ in stats):
                panel.fill_between(steps, np.array([lo for _, lo, _ in stats], dtype=float),
                                   np.array([hi for _, _, hi in stats], dtype=float), color=color,
                                   alpha=0.15, linewidth=0)
        panel.set_title(f"{benchmark}, lr {lr:g}", fontsize="medium")
        panel.set_ylim(-0.02, 1.02)
        panel.set_xlabel("fine-tuning step")
        panel.grid(alpha=0.3)
        panel.legend(frameon=False, fontsize="small")
    return figure


def continuum_figure(table: pl.DataFrame, benchmarks: Sequence[str]) -> Figure:
    """Accuracy after fine-tuning against the base's own accuracy, one line per objective and one panel per
    benchmark (means over seeds); the diagonal is "no change"."""
    from probscope.plots.style import panel_axes

    figure, axes = panel_axes(None, len(benchmarks), (5.0 * len(benchmarks), 4.2))
    means = (table.group_by("benchmark", "objective", "stop")
             .agg(pl.col("base_accuracy").mean(), pl.col("accuracy").mean()))
    for panel, benchmark in zip(axes, benchmarks, strict=False):
        rows = means.filter(pl.col("benchmark") == benchmark)
        for objective in sorted(rows["objective"].unique().to_list()):
            line = rows.filter(pl.col("objective") == objective).sort("base_accuracy", "stop")   # ties: in stop order
            panel.plot(line["base_accuracy"].to_numpy(), line["accuracy"].to_numpy(), marker="o", label=objective)
        panel.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="no change")
        panel.set_title(benchmark)
        panel.set_xlabel("base accuracy (pretraining stopped early → late)")
        panel.set_ylabel("accuracy after fine-tuning")
        panel.set_xlim(-0.02, 1.02)
        panel.set_ylim(-0.02, 1.02)
        panel.grid(alpha=0.3)
        panel.legend(frameon=False, fontsize="small")
    return figure


def save(figure: Figure, stem: Path) -> None:
    """png and pdf; the pdf without its creation date, so that regenerating unchanged results changes no file."""
    for fmt in FORMATS:
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        figure.savefig(stem.with_suffix(f".{fmt}"), bbox_inches="tight", dpi=130, metadata=metadata)
