"""The runs table: one row per probed run at its step (the sidebar's, else its last probed), with the
metrics a researcher sorts runs by, as in W&B's runs table.

    table = runs_metrics(selection)   # run, method, step, below_0.1, above_0.9, nll, sft_loss, dft_loss, acc:<bench>

Every number comes from a cached library call (distribution_summary, accuracy_curves, dynamics_curves);
an evaluation or a training loss is the last one at or before the run's step (null when there is none).
"""

from __future__ import annotations

import polars as pl

from probscope import schema
from probscope.analysis.dynamics import dynamics_curves
from probscope.app import data, state

ACCURACY_PREFIX = "acc: "   # one column per benchmark: "acc: gsm8k"
CHOSEN = "chosen"           # the table's tick column: the run is shown on every page
LOSSES = (schema.SFT_LOSS, schema.DFT_LOSS)


def run_steps(selection: state.Selection) -> tuple[tuple[str, int], ...]:
    """Every probed run at its sidebar step when chosen, else at its last probed step."""
    chosen = dict(selection.steps)
    return tuple((name, chosen.get(name, steps[-1])) for name, steps in selection.probed)


def last_at_or_before(frame: pl.DataFrame, steps: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Per run (and `by`), the row of `frame` with the largest step at or before the run's step in `steps`."""
    return (frame.join(steps.rename({schema.STEP: "at"}), on=schema.RUN)
            .filter(pl.col(schema.STEP) <= pl.col("at"))
            .sort(schema.STEP).group_by([schema.RUN, *by], maintain_order=True).last())


def runs_metrics(selection: state.Selection) -> pl.DataFrame:
    steps = run_steps(selection)
    at = pl.DataFrame(steps, schema={schema.RUN: pl.String, schema.STEP: pl.Int64}, orient="row")
    table = data.summary(selection, steps).select(schema.RUN, schema.METHOD, schema.STEP, "tokens", "below_0.1",
                                                  "above_0.9", "nll")
    dynamics = data.dynamics(selection.runs_root, tuple(name for name, _ in steps))
    if not dynamics.is_empty():
        losses = last_at_or_before(dynamics_curves(dynamics), at, []).select(schema.RUN, *LOSSES)
        table = table.join(losses, on=schema.RUN, how="left")
    curves = data.curves(selection.runs_root, "average_at_k")
    if not curves.is_empty():
        accuracy = (last_at_or_before(curves, at, ["benchmark"])
                    .with_columns((ACCURACY_PREFIX + pl.col("benchmark")).alias("benchmark"))
                    .pivot("benchmark", index=schema.RUN, values="value"))
        table = table.join(accuracy, on=schema.RUN, how="left")
    order = {name: i for i, (name, _) in enumerate(steps)}
    return table.sort(pl.col(schema.RUN).replace_strict(order, return_dtype=pl.Int64))


def ticked_runs(chosen: list[str], probed: list[str], rows: list[str], ticks: dict[int, bool | None]) -> list[str]:
    """The runs chosen after ticking (True) or unticking (False) rows of a table listing `rows` (None: the row's
    tick did not change), in `probed` order."""
    now = set(chosen)
    for row, tick in ticks.items():
        if tick is not None:
            (now.add if tick else now.discard)(rows[row])
    return [name for name in probed if name in now]
