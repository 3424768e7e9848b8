"""Seeds grouped: per-run tables folded into one series per seed group, the mean over its runs with a 95%
t-interval over seeds (runs are the independent replicates; tokens within a run are not).

    hist = over_seeds(per_run_histograms, groups)   # run -> group; adds seeds, ci_low, ci_high
"""

from __future__ import annotations

from typing import cast

import polars as pl

from probscope import schema

SEEDS, CI_LOW, CI_HIGH = "seeds", "ci_low", "ci_high"


def t_quantiles(max_df: int) -> list[float]:
    """Student's t 97.5% quantile for 1..max_df degrees of freedom ([0] unused: one seed has no interval)."""
    from scipy.stats import t  # only when seeds are grouped: scipy costs the first page a noticeable import

    return [float("nan")] + [float(t.ppf(0.975, df)) for df in range(1, max_df + 1)]


def over_seeds(table: pl.DataFrame, groups: dict[str, str], value: str = "percent",
               keys: tuple[str, ...] = ("bin", "bin_label")) -> pl.DataFrame:
    """`table` (method, run, step, `keys`, `value`, count) with each group's runs at one step folded into one
    row per key: `value` averaged over the runs, counts summed, SEEDS runs, CI_LOW/CI_HIGH the 95% t-interval
    of the mean (equal to the mean for a group of one run). The group's name replaces the run's."""
    grouped = table.with_columns(pl.col(schema.RUN).replace_strict(groups, default=pl.col(schema.RUN)))
    folded = (grouped.group_by(schema.METHOD, schema.RUN, schema.STEP, *keys, maintain_order=True)
              .agg(pl.col(value).mean(), pl.col(value).std().fill_null(0.0).alias("_sd"),
                   pl.col("count").sum(), pl.len().alias(SEEDS)))
    most = int(cast("int | None", folded[SEEDS].max()) or 1)
    t = t_quantiles(max(most - 1, 1))   # indexed by degrees of freedom, seeds - 1
    factor = pl.col(SEEDS).replace_strict({n: t[n - 1] if n > 1 else 0.0 for n in range(1, most + 1)},
                                          return_dtype=pl.Float64)
    half = pl.col("_sd") / pl.col(SEEDS).sqrt() * factor
    return folded.with_columns((pl.col(value) - half).alias(CI_LOW), (pl.col(value) + half).alias(CI_HIGH)).drop("_sd")
