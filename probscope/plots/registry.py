"""The figures `probscope export` writes: each is a function registered by name.

    from probscope.plots import FIGURES, register_figure

    @register_figure("my_figure")
    def my_figure(tokens, *, by):                      # tokens: LazyFrame from load_tokens; by: series columns
        table = ...                                     # the numbers behind the figure (written as CSV)
        return FigureWithTable(table, plot(table))

A new figure is one registered function plus its test; export and its CLI pick it up by name.
A name registered twice raises; an unknown name gets the nearest known ones (probscope.registry.Registry).
A function may return None when the loaded tokens hold nothing it can show (e.g. movers of a run probed
at one step only): export then skips it. A figure drawn from other tables of the runs directory (evaluation
curves) declares a keyword parameter `runs_root`, and export passes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import polars as pl
from matplotlib.figure import Figure

from probscope.registry import Registry


class FigureWithTable(NamedTuple):
    table: pl.DataFrame   # the data the figure shows, so every exported figure ships with its numbers
    figure: Figure


FigureFunction = Callable[..., FigureWithTable | None]
FIGURES: Registry[FigureFunction] = Registry("figure")
register_figure = FIGURES.register


def draw_registered(name: str, tokens: pl.LazyFrame, runs_root) -> FigureWithTable | None:
    """Call the figure `name` with what it declares: the loaded tokens, and the runs root when it asks for it."""
    import inspect

    function = FIGURES.get(name)
    if "runs_root" in inspect.signature(function).parameters:
        return function(tokens, runs_root=runs_root)
    return function(tokens)
