"""Tables over probed tokens (method, seed, p, logp, role): polarization (Figure 2), who fills the lowest bins
against who *can* (the task's non-deterministic positions), the base's distance to the task's entropy bound,
and the held-out replies' mean log p. Pure functions of token tables and the task's own record (task.json)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import polars as pl

from probscope import schema
from probscope.errors import ProbscopeError

SEED = "seed"
POLARIZATION_SHARES = ("p<1e-4", "p<0.1", "p>=0.9")   # the lowest bin, the low tail, the highest bin
# the probability thresholds of the lowest-bin listing (the paper's lowest bins, and p < 0.1)
LOW_THRESHOLDS = (1e-4, 1e-3, 1e-2, 0.1)
NOT_RECORDED = "not recorded"
# The DFT authors' README, Limitations: the regime in which they expect DFT to be weaker.
LOW_ENTROPY_LIMITATION = ("weaker on tasks with a single, well-specified ground-truth answer, particularly when the "
                          "associated CoT is highly constrained and near-deterministic (low-entropy)")
# the target: a base whose demonstration tokens at p >= 0.9 sit this many points below the entropy bound
# leaves the demonstrations something to teach; closer, the authors' limitation applies
HEADROOM_POINTS = 15.0


def polarization(tokens: pl.DataFrame) -> pl.DataFrame:
    """Per method and seed: % of training tokens with p < 1e-4 (lowest bin), p < 0.1, and p ≥ 0.9 (highest)."""
    p = pl.col(schema.P)
    low_bin, low_tail, high_bin = POLARIZATION_SHARES
    return tokens.group_by(schema.METHOD, SEED).agg(
        (100 * (p < 1e-4).mean()).alias(low_bin), (100 * (p < 0.1).mean()).alias(low_tail),
        (100 * (p >= 0.9).mean()).alias(high_bin), pl.len().alias("tokens"),
    ).sort(schema.METHOD, SEED)


def low_roles(tokens: pl.DataFrame) -> pl.DataFrame:
    """Per method and threshold (pooled over seeds): tokens below it and each role's share of them (%)."""
    rows = []
    for threshold in LOW_THRESHOLDS:
        low = tokens.filter(pl.col(schema.P) < threshold)
        counts = low.group_by(schema.METHOD, schema.ROLE).len()
        for (method,), group in counts.group_by(schema.METHOD):
            total = group["len"].sum()
            shares = {role: 100 * n / total for role, n in group.select(schema.ROLE, "len").iter_rows()}
            rows.append({schema.METHOD: method, "threshold": threshold, "tokens": total,
                         **{f"% {role}": shares.get(role, 0.0) for role in _roles(tokens)}})
    return pl.DataFrame(rows).sort(schema.METHOD, "threshold") if rows else pl.DataFrame()


def role_baseline(tokens: pl.DataFrame, task: dict) -> pl.DataFrame:
    """Each role's share (%) of all probed tokens, and of all and of the non-deterministic reply positions as the
    task records them: what the lowest bins' role shares compare against (a role that holds every free position
    fills the low bins by construction)."""
    total = len(tokens)
    probed = (tokens.group_by(schema.ROLE).len().with_columns((100 * pl.col("len") / total).alias("% of probed tokens"))
              .drop("len"))
    bound = task.get("entropy_bound") or {}
    recorded = {"% of reply positions": bound.get("role_shares"),
                "% of non-deterministic positions": bound.get("free_role_shares")}
    return probed.with_columns(
        pl.col(schema.ROLE).map_elements(partial(_percent, shares), return_dtype=pl.String)
        .alias(name) for name, shares in recorded.items()
    ).sort("% of probed tokens", descending=True)


def low_roles_against_free(low: pl.DataFrame, task: dict, threshold: float = 0.1) -> pl.DataFrame:
    """Per method and role: its share (%) of the tokens below `threshold` beside its share of the non-deterministic
    positions (the task's record). Only a role over-represented against the free positions says something about
    the objective; one that holds most free positions fills the low bins by construction."""
    free = (task.get("entropy_bound") or {}).get("free_role_shares")
    rows = []
    for row in low.filter(pl.col("threshold") == threshold).iter_rows(named=True):
        for column, share in row.items():
            if column.startswith("% "):
                role = column[2:]
                expected = None if free is None else 100 * free.get(role, 0.0)
                rows.append({schema.METHOD: row[schema.METHOD], schema.ROLE: role, f"% of tokens below {threshold:g}":
                             share, "% of non-deterministic positions": expected,
                             "excess (points)": None if expected is None else share - expected})
    return pl.DataFrame(rows, schema={schema.METHOD: pl.String, schema.ROLE: pl.String,
                                      f"% of tokens below {threshold:g}": pl.Float64,
                                      "% of non-deterministic positions": pl.Float64, "excess (points)": pl.Float64})


def _percent(shares: dict | None, role: str | None) -> str:
    if shares is None:
        return NOT_RECORDED
    return f"{100 * shares.get(role, 0.0):.1f}"


def entropy_headroom(pol: pl.DataFrame, task: dict) -> pl.DataFrame:
    """Per seed: the base's and SFT's % of demonstration tokens at p ≥ 0.9, the task's entropy bound (the share a
    model that knew the authors' distribution exactly would reach), the base's distance below it, and how far
    SFT moved the share."""
    high = POLARIZATION_SHARES[2]
    bound = (task.get("entropy_bound") or {}).get("share_p_ge_0.9")
    side = {m: pol.filter(pl.col(schema.METHOD) == m).select(SEED, pl.col(high).alias(m)) for m in ("base", "sft")}
    table = side["base"].join(side["sft"], on=SEED, how="left").sort(SEED)
    bound_pct = None if bound is None else 100 * bound
    return table.select(
        SEED, pl.col("base").alias(f"base: % at {high}"), pl.col("sft").alias(f"sft: % at {high}"),
        pl.lit(bound_pct, dtype=pl.Float64).alias("entropy bound (%)"),
        (pl.lit(bound_pct, dtype=pl.Float64) - pl.col("base")).alias("base below the bound (points)"),
        (pl.col("sft") - pl.col("base")).alias("sft − base (points)"))


def limitation_applies(headroom: pl.DataFrame) -> bool | None:
    """Whether some seed's base sits within HEADROOM_POINTS of the entropy bound (None: bound not recorded)."""
    gaps = headroom["base below the bound (points)"].drop_nulls()
    return None if gaps.is_empty() else bool((gaps < HEADROOM_POINTS).any())


def held_out_logp(tokens: pl.DataFrame) -> pl.DataFrame:
    """Per method and seed: the mean teacher-forced log p of the held-out reference replies' target tokens."""
    return tokens.group_by(schema.METHOD, SEED).agg(pl.col(schema.LOGP).mean().alias("mean log p"),
                                                    pl.len().alias("tokens")).sort(schema.METHOD, SEED)


def read_task_record(data_dir: Path) -> dict:
    """The task's own record (task.json): its entropy bound and facts guessing floor where it writes them."""
    path = data_dir / "task.json"
    try:
        record = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError) as e:
        raise ProbscopeError(f"{path}: unreadable ({e}); delete the task directory (it is rebuilt)") from None
    return record if isinstance(record, dict) else {}


def _roles(tokens: pl.DataFrame) -> list[str]:
    return sorted(r for r in tokens[schema.ROLE].unique().to_list() if r is not None)
