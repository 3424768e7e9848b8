"""Token movers as a figure: the tokens whose mean probability rose or fell most, one panel per comparison.

    import probscope as ps
    before, after = ps.load_pair("runs", ("sft", 5), ("sft", "last"))
    ps.plot_token_movers(ps.token_movers(before, after, top=10), title="sft: step 5 -> last")

Bars are the change in mean p (after − before); risers on top, fallers below.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from probscope import schema
from probscope.analysis.movers import DELTA, DIRECTION, token_movers
from probscope.analysis.steps import at_last_step
from probscope.errors import ProbscopeError, first_line
from probscope.plots.registry import FigureWithTable, register_figure
from probscope.plots.style import display_token, nothing_to_show, panel_axes, plot_series

log = logging.getLogger(__name__)
ROSE_COLOR, FELL_COLOR = "#1b9e77", "#e7298a"   # not a method colour: a move is between two series
COMPARISON = "comparison"                        # e.g. "sft: step 5 → 10", the panel of a movers table
DEFAULT_TOP = 10


def plot_token_movers(
    movers: pl.DataFrame, *, title: str | None = None, ax: Axes | Sequence[Axes] | None = None
) -> Figure:
    """Bars of a `token_movers` table (or several, told apart by a `comparison` column: one panel each)."""
    if movers.is_empty():
        return nothing_to_show("No token moved (or none seen often enough in both tables)", ax)
    panels = plot_series(movers, [COMPARISON] if COMPARISON in movers.columns else [])
    rows_most = max(one.rows(movers).height for one in panels)
    figure, axes = panel_axes(ax, len(panels), (max(5.0, 4.2 * len(panels)), 1.2 + 0.26 * rows_most))
    for one, panel in zip(panels, axes, strict=False):
        rows = one.rows(movers)   # token_movers' order: risers by rank, then fallers by rank
        labels = [display_token(t) for t in rows[schema.TOKEN]] if schema.TOKEN in rows.columns \
            else rows[schema.ROLE].to_list()
        colors = [ROSE_COLOR if d == "rose" else FELL_COLOR for d in rows[DIRECTION]]
        panel.barh(range(rows.height), rows[DELTA].to_numpy(), color=colors)
        panel.set_yticks(range(rows.height), labels)
        panel.set_ylim(rows_most - 0.5, -0.5)
        panel.axvline(0, color="black", lw=0.8)
        panel.set_xlabel("change in mean p")
        if one.key:
            panel.set_title(one.label)
    if title:
        figure.suptitle(title)
    return figure


@register_figure("token_movers")
def token_movers_figure(tokens: pl.LazyFrame) -> FigureWithTable | None:
    """Per run, its first loaded step against its last; and each run's last step against the reference
    run's (the first series in plotting order, e.g. Base), where their token ids agree."""
    steps = tokens.select(schema.METHOD, schema.RUN, schema.STEP).unique().collect()
    tables = []
    for one in plot_series(steps, [schema.METHOD, schema.RUN]):
        run_steps = sorted(one.rows(steps)[schema.STEP].to_list())
        if len(run_steps) > 1:
            run = one.key[schema.RUN]
            tables.append(_movers(tokens.filter(run=run, step=run_steps[0]), tokens.filter(run=run, step=run_steps[-1]),
                                  f"{run}: step {run_steps[0]} → {run_steps[-1]}"))
    final = at_last_step(tokens)
    runs = plot_series(steps, [schema.METHOD, schema.RUN])
    for one in runs[1:]:
        reference, run = runs[0].key[schema.RUN], one.key[schema.RUN]
        try:
            tables.append(_movers(final.filter(run=reference), final.filter(run=run),
                                  f"{reference} → {run} (last steps)"))
        except ProbscopeError as e:   # other tokenizer: nothing to compare token by token
            log.warning("token movers %s → %s skipped: %s", reference, run, first_line(e))
    if not tables:
        return None
    table = pl.concat(tables)
    return FigureWithTable(table, plot_token_movers(table))


def _movers(before: pl.LazyFrame, after: pl.LazyFrame, comparison: str) -> pl.DataFrame:
    moved = token_movers(before, after, top=DEFAULT_TOP)
    return moved.select(pl.lit(comparison).alias(COMPARISON), pl.all())
