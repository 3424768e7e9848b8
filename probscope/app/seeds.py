"""Runs grouped: runs that differ only by seed (or only by one chosen config key) folded into one series, the
mean over its runs with a 95% t-interval over them (runs are the independent replicates; tokens within a run
are not). The one grouping every page uses.

    groups = run_groups(runs, by="seed")                   # run -> group name ({} when nothing groups)
    curves = fold(curves, groups, ["value"], by=[STEP, "benchmark"])   # adds seeds, value_low, value_high
    hist = over_seeds(per_run_histograms, groups)           # Figure 2's bars: percent, ci_low, ci_high

`runs` describe each run as RunFacts (method, seed, flattened config); grouping by a config key puts together
the runs of one method whose configs agree on every other key, leaving out the keys that name the run itself
(its name or folder) and the seed, which tells replicates apart.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import NamedTuple, cast

import polars as pl

from probscope import schema
from probscope.app.state import Selection

SEEDS, CI_LOW, CI_HIGH = "seeds", "ci_low", "ci_high"
BY_SEED = "seed"   # the grouping of runs that differ only by seed (run names <name>-s<seed>)
LOW, HIGH = "_low", "_high"   # suffixes of a folded value's interval columns: value_low, value_high


class RunFacts(NamedTuple):
    method: str
    seed: int | None
    config: dict[str, str]   # flat_config of the run's training config


def flat_config(config: Mapping, prefix: str = "") -> dict[str, str]:
    """A nested training config as dotted keys -> readable values."""
    out = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flat_config(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return out


def seed_group(name: str, seed: int | None) -> str:
    """The name of a run's seed group: its name without its seed's "-s<seed>" and what follows
    (sft-s3 -> sft, sft-lr1e-05-s2 -> sft-lr1e-05, base-s3-try2 -> base); a name without it, or a run of
    unknown seed (None), is its own group."""
    marker = f"-s{seed}"
    return name[:name.rindex(marker)] if seed is not None and marker in name else name


def differing_keys(runs: Mapping[str, RunFacts]) -> list[str]:
    """The config keys whose values differ between runs (what a grouping can pool over), sorted."""
    keys = sorted({key for facts in runs.values() for key in facts.config})
    return [key for key in keys if len({facts.config.get(key) for facts in runs.values()}) > 1]


def _identity(name: str, facts: RunFacts, pooled: str) -> tuple:
    """What runs must share to fall in one group when `pooled` is set aside: the method and every other setting
    except those naming the run itself and the seed."""
    kept = tuple(sorted((key, value) for key, value in facts.config.items()
                        if key != pooled and name not in value and key.rsplit(".", 1)[-1] != "seed"))
    return facts.method, kept


def run_groups(runs: Mapping[str, RunFacts], by: str) -> dict[str, str]:
    """Run name -> group name when grouping `by` BY_SEED (names without their seed) or by a config key (runs of
    one method alike in every other setting); each group named after its runs' common name prefix, or its first
    run's name with the count of the others."""
    if by == BY_SEED:
        return {name: seed_group(name, facts.seed) for name, facts in runs.items()}
    members: dict[tuple, list[str]] = {}
    for name, facts in runs.items():
        members.setdefault(_identity(name, facts, by), []).append(name)
    groups = {}
    for names in members.values():
        label = os.path.commonprefix(names).rstrip("-_.") if len(names) > 1 else names[0]
        if not label or label in runs and label not in names:
            label = f"{names[0]} +{len(names) - 1}"
        groups.update(dict.fromkeys(names, label))
    return groups


def t_quantiles(max_df: int) -> list[float]:
    """Student's t 97.5% quantile for 1..max_df degrees of freedom ([0] unused: one seed has no interval)."""
    from scipy.stats import t  # only when seeds are grouped: scipy costs the first page a noticeable import

    return [float("nan")] + [float(t.ppf(0.975, df)) for df in range(1, max_df + 1)]


def fold(table: pl.DataFrame, groups: Mapping[str, str], values: Sequence[str], by: Sequence[str],
         sums: Sequence[str] = (), listed: Sequence[str] = ()) -> pl.DataFrame:
    """`table` (method, run, `by`, `values`, `sums`) with each group's runs folded into one row per (method,
    group, `by`): each value averaged over the runs with its 95% t-interval (value_low, value_high: the mean
    itself for one run), `sums` summed, SEEDS the runs counted. The group's name replaces the run's; a run
    outside `groups` is its own group. `listed`: columns of `by` naming what a listing holds (e.g. its tokens):
    a run of the group that does not list one counts 0 there (a listing leaves out what it did not see)."""
    if listed:
        table = _zero_filled(table, groups, [column for column in by if column not in listed], listed,
                             [*values, *sums])
    grouped = table.with_columns(pl.col(schema.RUN).replace_strict(dict(groups), default=pl.col(schema.RUN)))
    folded = (grouped.group_by(schema.METHOD, schema.RUN, *by, maintain_order=True)
              .agg(*(pl.col(v).mean() for v in values), *(pl.col(v).std().fill_null(0.0).alias(f"_sd{v}")
                                                          for v in values),
                   *(pl.col(s).sum() for s in sums), pl.len().alias(SEEDS)))
    most = int(cast("int | None", folded[SEEDS].max()) or 1)
    t = t_quantiles(max(most - 1, 1))   # indexed by degrees of freedom, seeds - 1
    factor = pl.col(SEEDS).replace_strict({n: t[n - 1] if n > 1 else 0.0 for n in range(0, most + 1)},
                                          return_dtype=pl.Float64)
    halves = {v: pl.col(f"_sd{v}") / pl.col(SEEDS).sqrt() * factor for v in values}
    return folded.with_columns(*((pl.col(v) - half).alias(v + LOW) for v, half in halves.items()),
                               *((pl.col(v) + half).alias(v + HIGH) for v, half in halves.items())
                               ).drop(f"_sd{v}" for v in values)


def _zero_filled(table: pl.DataFrame, groups: Mapping[str, str], level: list[str], listed: Sequence[str],
                 zeros: list[str]) -> pl.DataFrame:
    """`table` with a row, its `zeros` 0, for every `listed` entry some run of the same group lists and it does not."""
    group = pl.col(schema.RUN).replace_strict(dict(groups), default=pl.col(schema.RUN)).alias("_group")
    runs = table.select(schema.METHOD, schema.RUN, *level, group).unique()
    entries = table.select(group, *listed).unique()
    grid = runs.join(entries, on="_group").drop("_group")
    return (grid.join(table, on=[schema.METHOD, schema.RUN, *level, *listed], how="left", nulls_equal=True)
            .with_columns(pl.col(zeros).fill_null(0)).select(table.columns))


def over_seeds(table: pl.DataFrame, groups: Mapping[str, str], value: str = "percent",
               keys: tuple[str, ...] = ("bin", "bin_label"), *, members: bool = False) -> pl.DataFrame:
    """Figure 2's histograms (method, run, step, `keys`, `value`, count) folded: `value` averaged, counts summed,
    CI_LOW/CI_HIGH its 95% interval; `members`: each group's runs beside it (with_members)."""
    folded = fold(table, groups, [value], [schema.STEP, *keys], sums=["count"])
    return (with_members(folded, table, groups) if members else folded).rename(
        {value + LOW: CI_LOW, value + HIGH: CI_HIGH})


def with_members(folded: pl.DataFrame, table: pl.DataFrame, groups: Mapping[str, str]) -> pl.DataFrame:
    """The folded groups plus, on demand, the runs of every group of several (each its own series, SEEDS 1, no
    interval): the per-seed lines beside their mean."""
    sizes = Counter(groups.values())
    pooled = [name for name, group in groups.items() if sizes[group] > 1]
    members = table.filter(pl.col(schema.RUN).is_in(pooled)).with_columns(pl.lit(1, pl.UInt32).alias(SEEDS))
    return pl.concat([folded, members], how="diagonal_relaxed")


def grouped(selection: Selection, table: pl.DataFrame, values: Sequence[str], by: Sequence[str],
            sums: Sequence[str] = (), listed: Sequence[str] = ()) -> pl.DataFrame:
    """`table` folded over the sidebar's groups (fold), with each group's runs beside it when the sidebar asks
    (with_members); `table` itself when nothing chosen is grouped."""
    if not selection.grouped():
        return table
    groups = dict(selection.groups)
    folded = fold(table, groups, values, by, sums, listed)
    return with_members(folded, table, groups) if selection.per_seed else folded


def grouped_table(selection: Selection, table: pl.DataFrame, by: Sequence[str] = (schema.STEP,)) -> pl.DataFrame:
    """A per-run table (method, run, `by`, measures) grouped as `grouped` does: every float column averaged with its
    interval, every other integer column (a count) summed."""
    keys = {schema.METHOD, schema.RUN, *by}
    values = [column for column, dtype in table.schema.items() if column not in keys and dtype.is_float()]
    sums = [column for column, dtype in table.schema.items() if column not in keys and dtype.is_integer()]
    return grouped(selection, table, values, by, sums)
