"""Training dynamics as a figure: how each run's training batch looked at every logged optimizer step.

    import probscope as ps
    ps.plot_training_dynamics(ps.load_dynamics("runs")).savefig("dynamics.png")

Four panels over the optimizer step, one line per run: the batch's SFT loss (mean -log p), its DFT loss
(mean -p log p), the share of its target tokens with p < 0.1 (DFT's low tail grows, SFT's shrinks) and the
mean gradient weight of the run's own objective (logit view: SFT 1, DFT p). Colours are the methods'
(schema.METHOD_COLORS); several runs of one method differ by line style.

Not in `probscope export`: registered figures are computed from probe tokens, these from training logs.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from probscope import schema
from probscope.analysis.dynamics import DEFAULT_BELOW, SHARE_BELOW, dynamics_curves
from probscope.plots.style import nothing_to_show, panel_axes, plot_series

X_LABEL = "Optimizer step"
LINE_STYLES = ("-", "--", ":", "-.")
# (column of dynamics_curves, panel title, y label); the share's title takes the threshold
PANELS: tuple[tuple[str, str, str], ...] = (
    (schema.SFT_LOSS, "SFT loss of the batch", "mean −log p"),
    (schema.DFT_LOSS, "DFT loss of the batch", "mean −p·log p"),
    (SHARE_BELOW, "Target tokens with p < {below:g}", "share of tokens"),
    (schema.WEIGHT_MEAN, "Mean gradient weight, own objective", "mean w (SFT 1, DFT p)"),
)


def plot_training_dynamics(
    frame: pl.DataFrame, *, below: float = DEFAULT_BELOW, title: str | None = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """Panels of `dynamics_curves(frame, below=below)` over the optimizer step, one line per run
    (`ax`: one Axes per panel, len(PANELS), or None for a new figure)."""
    if frame.is_empty():   # runs trained without the GradientWeightCallback: say so instead of failing
        return nothing_to_show("No training dynamics recorded", ax)
    curves = dynamics_curves(frame, below=below)
    method_colors = {one.key[schema.METHOD]: one.color for one in plot_series(curves, [schema.METHOD])}
    runs = plot_series(curves, [schema.METHOD, schema.RUN])   # METHOD_ORDER first, labelled "SFT · run"

    figure, axes = panel_axes(ax, len(PANELS), (14.0, 3.8))
    runs_so_far: dict[str, int] = {}
    for one in runs:
        method = one.key[schema.METHOD]
        style = LINE_STYLES[runs_so_far.get(method, 0) % len(LINE_STYLES)]
        runs_so_far[method] = runs_so_far.get(method, 0) + 1
        rows = one.rows(curves)
        for ax, (column, _, _) in zip(axes, PANELS, strict=False):
            ax.plot(rows[schema.STEP].to_numpy(), rows[column].to_numpy(), style,
                    color=method_colors[method], label=one.label)
    for ax, (_, panel_title, y_label) in zip(axes, PANELS, strict=False):
        ax.set_title(panel_title.format(below=below))
        ax.set_xlabel(X_LABEL)
        ax.set_ylabel(y_label)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6), frameon=False)
    if title:
        figure.suptitle(title)
    return figure
