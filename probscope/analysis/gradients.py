"""Where each objective spends its update, computed from the probe tables.

    import probscope as ps
    tokens = ps.load_tokens("runs")
    ps.gradient_weights(tokens)        # per token: weight under sft, dft, dft-floor, power; RL view w/p
    ps.gradient_mass_by_bin(tokens)    # per method, objective and Figure-2 bin: share of squared gradient mass

Every objective here is −w·log p with a stop-gradient weight w (probscope.training.objectives): the
gradient on the logits is w·(softmax − onehot), whose squared norm is w²·(1 − 2p + Σ_j p_j²). The probe
stores Σ_j p_j² (schema.SUM_P2), so the squared gradient mass of any objective on any probed tokens is
exact. Logit-view weights: SFT 1, DFT p, dft-floor max(p, floor), power p^q; the RL view divides by p
(the importance weight on the reward): SFT 1/p, DFT 1. The training-time counterpart, per training batch,
is the dynamics table's grad_sq_share (ps.load_dynamics); defaults of floor and q are the objectives'.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from probscope import schema
from probscope.analysis.histograms import BIN, BIN_LABEL, bins
from probscope.checks import check_number, check_tokens, check_valid_p
from probscope.errors import ProbscopeError

DEFAULT_FLOOR = 0.1   # dft-floor's default floor
DEFAULT_Q = 0.5       # power's default exponent
OBJECTIVES = ("sft", "dft", "dft-floor", "power")
GRAD_SQ = "grad_sq"            # |∇_z log p|² = 1 − 2p + Σp², the per-token squared gradient norm (weight 1)
MASS_SHARE = "mass_share"      # share of the group's Σ w²·grad_sq in this bin
TOKEN_SHARE = "token_share"    # share of the group's tokens in this bin (what mass_share would be if uniform)


def weight_expressions(floor: float = DEFAULT_FLOOR, q: float = DEFAULT_Q) -> dict[str, pl.Expr]:
    """objective -> its logit-view weight as an expression of p (`floor` in [0, 1], `q` >= 0)."""
    check_number("floor", floor, low=0.0, high=1.0)
    check_number("q", q, low=0.0)
    p = pl.col(schema.P)
    return {"sft": pl.lit(1.0), "dft": p, "dft-floor": pl.max_horizontal(p, pl.lit(floor)), "power": p.pow(q)}


def weight_column(objective: str) -> str:
    return f"w_{objective.replace('-', '_')}"


def rl_weight_column(objective: str) -> str:
    return f"rl_w_{objective.replace('-', '_')}"


def gradient_weights(
    tokens: pl.DataFrame | pl.LazyFrame, *, floor: float = DEFAULT_FLOOR, q: float = DEFAULT_Q
) -> pl.DataFrame | pl.LazyFrame:
    """`tokens` plus grad_sq and, per objective, its logit-view weight w_* and RL-view weight rl_w_* = w/p."""
    weights = weight_expressions(floor, q)
    tokens = check_tokens("tokens", tokens, [schema.P, schema.SUM_P2])
    grad_sq = (1.0 - 2.0 * pl.col(schema.P) + pl.col(schema.SUM_P2)).clip(lower_bound=0.0)   # float32 Σp² rounding
    return tokens.with_columns(
        grad_sq.alias(GRAD_SQ),
        *(w.alias(weight_column(name)) for name, w in weights.items()),
        *((w / pl.col(schema.P)).alias(rl_weight_column(name)) for name, w in weights.items()),
    )


def gradient_mass_by_bin(
    tokens: pl.DataFrame | pl.LazyFrame,
    *,
    by: Sequence[str] = (schema.METHOD,),
    objectives: Sequence[str] = OBJECTIVES,
    floor: float = DEFAULT_FLOOR,
    q: float = DEFAULT_Q,
) -> pl.DataFrame:
    """Per group of `by`, objective and Figure-2 bin: share of the squared logit-gradient mass
    Σ w²·(1 − 2p + Σp²) falling in the bin (mass_share), beside the bin's share of tokens."""
    by = list(by)
    weights = weight_expressions(floor, q)
    unknown = [name for name in objectives if name not in weights]
    if isinstance(objectives, str) or unknown or not objectives:
        raise ProbscopeError(f"objectives={objectives!r}: use a list of {', '.join(weights)}")
    tokens = check_tokens("tokens", tokens, [schema.P, schema.SUM_P2, *by])
    check_valid_p("tokens", tokens)   # a NaN p has no bin: it would silently leave the shares
    grad_sq = (1.0 - 2.0 * pl.col(schema.P) + pl.col(schema.SUM_P2)).clip(lower_bound=0.0)
    sums = (
        tokens.lazy()
        .group_by(*by, schema.bin_index(pl.col(schema.P)).alias(BIN))
        .agg(pl.len().alias("_n"), *((weights[name] ** 2 * grad_sq).sum().alias(name) for name in objectives))
        .unpivot(index=[*by, BIN, "_n"], on=list(objectives), variable_name=schema.OBJECTIVE, value_name="_mass")
        .collect()
    )
    groups = [*by, schema.OBJECTIVE]
    grid = sums.select(groups).unique().join(bins().select(BIN, BIN_LABEL), how="cross")
    return (
        grid.join(sums, on=[*groups, BIN], how="left", nulls_equal=True)
        .with_columns(pl.col("_n", "_mass").fill_null(0))
        .with_columns(
            (pl.col("_mass") / pl.col("_mass").sum().over(groups)).alias(MASS_SHARE),
            (pl.col("_n") / pl.col("_n").sum().over(groups)).alias(TOKEN_SHARE),
        )
        .with_columns(pl.col(schema.OBJECTIVE).replace_strict({o: i for i, o in enumerate(objectives)}).alias("_o"))
        .sort(*by, "_o", BIN)
        .select(*groups, BIN, BIN_LABEL, TOKEN_SHARE, MASS_SHARE)
    )
