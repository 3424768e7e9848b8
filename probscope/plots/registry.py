"""The figures `probscope export` writes: each is a function registered by name.

    from probscope.plots import FIGURES, register_figure

    @register_figure("my_figure")
    def my_figure(tokens, *, by):                      # tokens: LazyFrame from load_tokens; by: series columns
        table = ...                                     # the numbers behind the figure (written as CSV)
        return FigureWithTable(table, plot(table))

A new figure is one registered function plus its test; export and its CLI pick it up by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import polars as pl
from matplotlib.figure import Figure


class FigureWithTable(NamedTuple):
    table: pl.DataFrame   # the data the figure shows, so every exported figure ships with its numbers
    figure: Figure


FigureFunction = Callable[..., FigureWithTable]
FIGURES: dict[str, FigureFunction] = {}


def register_figure(name: str) -> Callable[[FigureFunction], FigureFunction]:
    def register(function: FigureFunction) -> FigureFunction:
        if name in FIGURES:
            raise ValueError(f"figure '{name}' is already registered (by {FIGURES[name].__module__})")
        FIGURES[name] = function
        return function

    return register
