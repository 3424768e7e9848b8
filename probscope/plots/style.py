"""How figures name, order and colour what they show; facts come from probscope.schema.

Every plot function takes `ax=None`, as seaborn's do: given, it draws into that Axes (or, for a figure
of several panels, that sequence of Axes, one per panel) so figures compose; None, it makes its own
Figure. Empty input draws the one "nothing to show" message (`nothing_to_show`) instead of failing.

    figure = Figure(figsize=(12, 4)); left, right = figure.subplots(1, 2)
    ps.plot_probability_histogram(hist, ax=left); ps.plot_extreme_bin_shares(shares, ax=[right])

A *series* is one distinct value of a table's group columns (e.g. method="sft"): one bar colour in
Figure 2, one panel in the lowest-bin listing. Methods keep the paper's order and colours; when a
method appears more than once (seeds, learning rates, steps) its series are shades of its colour
(schema.series_palette: CSS strings, which the dashboard's Vega-Lite charts need as much as matplotlib).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from probscope import schema
from probscope.errors import ProbscopeError


class Series(NamedTuple):
    key: dict[str, Any]   # group column -> value
    label: str
    color: str

    def rows(self, table: pl.DataFrame) -> pl.DataFrame:
        """The rows of `table` belonging to this series."""
        return table.filter(**self.key) if self.key else table


def plot_series(table: pl.DataFrame, group_columns: Sequence[str]) -> list[Series]:
    """The distinct groups of `table` in plotting order (schema.METHOD_ORDER first), labelled and coloured."""
    group_columns = list(group_columns)
    if not group_columns:
        return [Series({}, "all tokens", schema.CYCLE_COLORS[0])]
    keys = table.select(group_columns).unique().rows(named=True)
    keys.sort(key=_order)
    if schema.METHOD in group_columns:
        palette = schema.series_palette([key[schema.METHOD] for key in keys])
    else:
        palette = [schema.CYCLE_COLORS[i % len(schema.CYCLE_COLORS)] for i in range(len(keys))]
    return [Series(key, _label(key), color) for key, color in zip(keys, palette, strict=False)]


def role_color(role: str | None) -> str:
    """A fixed colour per schema.ROLES entry (schema.ROLE_COLORS); grey for unknown roles."""
    return schema.role_color(role)


def display_token(token: str | None) -> str:
    """A token as a tick label: quoted so spaces show, escapes visible, `$` kept out of mathtext."""
    return repr(token).replace("$", r"\$") if token is not None else "<none>"


def _order(key: dict[str, Any]) -> tuple:
    method = key.get(schema.METHOD)
    rank = schema.METHOD_ORDER.index(method) if method in schema.METHOD_ORDER else len(schema.METHOD_ORDER)
    return (rank, *key.values())


def _label(key: dict[str, Any]) -> str:
    """E.g. "SFT", or "SFT · sft-lr2 · step 100" when runs or steps must be told apart."""
    def part(column: str, value: Any) -> str:
        if column == schema.METHOD:
            return schema.method_label(value)
        return f"step {value}" if column == schema.STEP else str(value)

    return " · ".join(part(column, value) for column, value in key.items())


def figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The figure to draw on and its one Axes: `ax`'s own, or a new constrained-layout Figure."""
    if ax is not None:
        return cast(Figure, ax.figure), ax   # a SubFigure's when ax is in one: drawn on alike, typed as the Figure
    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


def panel_axes(
    ax: Axes | Sequence[Axes] | None, panels: int, figsize: tuple[float, float], *, columns: int | None = None
) -> tuple[Figure, list[Axes]]:
    """One Axes per panel: the given ones (a single Axes counts as a sequence of one), or a new grid of
    them, `columns` wide (default: one row), `figsize` per row of panels."""
    if ax is None:
        columns = min(columns or panels, panels)
        rows = -(-panels // columns)
        figure = Figure(figsize=(figsize[0], figsize[1] * rows), layout="constrained")
        grid = list(figure.subplots(rows, columns, squeeze=False).flat)
        for unused in grid[panels:]:
            figure.delaxes(unused)
        return figure, grid[:panels]
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    if len(axes) != panels:
        raise ProbscopeError(f"ax: this figure draws {panels} panel(s); pass {panels} Axes (got {len(axes)}) or None")
    return cast(Figure, axes[0].figure), axes   # a SubFigure when they are in one (see figure_and_axes)


def nothing_to_show(message: str, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """The figure every plot draws for empty input: `message` centred in the (first) Axes, axes hidden.

    The message sits in an Axes, not on the bare figure, so notebooks (which skip axes-less figures) show it.
    """
    if ax is None:
        ax = Figure(figsize=(6.0, 1.5), layout="constrained").add_subplot()
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    for one in axes:
        one.set_axis_off()
    axes[0].text(0.5, 0.5, message, ha="center", va="center", transform=axes[0].transAxes)
    return cast(Figure, axes[0].figure)   # a SubFigure when it is in one (see figure_and_axes)


def method_color(method: str, fallback_index: int = 0) -> str:
    """A method's colour (schema.METHOD_COLORS), else a colour no method owns (schema.method_color)."""
    return schema.method_color(method, fallback_index)
