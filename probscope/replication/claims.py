"""The paper's claims as paired comparisons over seeds, read from one long table of per-seed endpoints.

An endpoint is one number per method and seed (an accuracy, a share of tokens, a mean log p). A claim "a beats
b on this endpoint" is tested on the per-seed differences a − b (same seed = same base): mean, 95% t-interval,
exact sign-flip p, minimum detectable effect. PRIMARY_ENDPOINTS are declared here, before any run, and Holm's
correction runs across them; every other comparison is exploratory and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from probscope import schema
from probscope.replication import stats
from probscope.replication.methods import FACTS_BENCHMARKS, HELD_OUT, IN_DISTRIBUTION

SEED = "seed"
ENDPOINT = "endpoint"
VALUE = "value"
LOW, HIGH = "low", "high"   # the endpoint's bounds (null: unbounded): both sides at one is "not measurable"
ENDPOINT_SCHEMA = {schema.METHOD: pl.String, SEED: pl.Int64, ENDPOINT: pl.String, VALUE: pl.Float64,
                   LOW: pl.Float64, HIGH: pl.Float64}
PRIMARY, EXPLORATORY = "primary", "exploratory"


def final_accuracy(benchmark: str) -> str:
    return f"accuracy on {benchmark}, last checkpoint"


def peak_accuracy(benchmark: str) -> str:
    return f"accuracy on {benchmark}, best fine-tuned checkpoint"


def peak_step(benchmark: str) -> str:
    return f"step of the best fine-tuned checkpoint on {benchmark}"


def token_share(share: str) -> str:
    return f"% of training tokens at {share}"


HELD_OUT_LOGP = f"mean log p of the {HELD_OUT} reference replies, last checkpoint"


@dataclass(frozen=True)
class Claim:
    a: str
    b: str
    endpoint: str
    source: str   # what the paper (or its authors) claims, and where

    @property
    def comparison(self) -> str:
        return f"{self.a} − {self.b}"


# Declared before the runs; the verdicts of these five are Holm-corrected. Five, because with eight seeds the
# smallest exact sign-flip p is 2/256 and Holm's first step needs p <= 0.05/5.
PRIMARY_ENDPOINTS = (
    Claim("dft", "sft", final_accuracy(HELD_OUT), "Table 1: DFT generalizes better than SFT"),
    Claim("dft", "sft", HELD_OUT_LOGP, "Table 1, on the lower-variance endpoint: the held-out replies' log p"),
    Claim("dft", "sft", token_share("p<0.1"), "Figure 2: DFT grows the low tail of the training tokens"),
    Claim("dft-offline", "rft", final_accuracy(HELD_OUT), "Table 2: offline DFT beats RFT"),
    Claim("facts-sft", "facts-dft", final_accuracy(FACTS_BENCHMARKS[0]),
          "the authors' limitation: SFT absorbs new facts, DFT does not"),
)

EXPLORATORY_CLAIMS = (
    Claim("dft", "sft", final_accuracy(IN_DISTRIBUTION), "Table 1, in distribution"),
    Claim("dft", "sft", peak_accuracy(HELD_OUT), "Figure 1: DFT's best checkpoint beats SFT's"),
    Claim("sft", "dft", peak_step(IN_DISTRIBUTION), "Figure 1: DFT peaks sooner (positive: DFT first)"),
    Claim("dft", "sft", token_share("p>=0.9"), "Figure 2: DFT grows the high tail"),
    Claim("dft", "dft-sentence", final_accuracy(HELD_OUT), "Table 8: token-level beats sentence-level weighting"),
    Claim("dft", "dft-geometric", final_accuracy(HELD_OUT), "Table 8: ... and the geometric mean"),
    Claim("dft-offline", "dpo", final_accuracy(HELD_OUT), "Table 2: offline DFT beats DPO"),
    Claim("dft-offline", "grpo", final_accuracy(HELD_OUT), "Table 2: offline DFT beats GRPO"),
    Claim("dft-offline", "ppo", final_accuracy(HELD_OUT), "Table 2: offline DFT beats PPO"),
    Claim("dft", "base", final_accuracy(HELD_OUT), "does fine-tuning with DFT help at all on the held-out split?"),
    Claim("sft", "base", final_accuracy(HELD_OUT), "does fine-tuning with SFT help at all on the held-out split?"),
    Claim("dft", "base", HELD_OUT_LOGP, "does DFT raise the held-out replies' log p over the base?"),
    Claim("sft", "base", HELD_OUT_LOGP, "does SFT raise the held-out replies' log p over the base?"),
)

CLAIM_COLUMNS = ["comparison", ENDPOINT, "source", "role", "n", "mean", "lo", "hi", "sd", "min detectable",
                 "sign-flip p", "Holm p", "per_seed", "verdict"]


def compare(endpoints: pl.DataFrame, claim: Claim, role: str = EXPLORATORY, why_not_run: str | None = None) -> dict:
    """One claim's row: the per-seed differences on the seeds both methods have, and what they show (the
    verdict of a primary row is finished by claims_table, after Holm)."""
    row = {"comparison": claim.comparison, ENDPOINT: claim.endpoint, "source": claim.source, "role": role}
    of = endpoints.filter(pl.col(ENDPOINT) == claim.endpoint)
    a = of.filter(pl.col(schema.METHOD) == claim.a).select(SEED, pl.col(VALUE).alias("a"), LOW, HIGH)
    b = of.filter(pl.col(schema.METHOD) == claim.b).select(SEED, pl.col(VALUE).alias("b"))
    both = a.join(b, on=SEED).sort(SEED)
    if both.is_empty():
        missing = [m for m, side in ((claim.a, a), (claim.b, b)) if side.is_empty()] or [f"{claim.a} with {claim.b}"]
        return {**row, "n": 0, "verdict": f"not run: {why_not_run or 'no finished runs of ' + ', '.join(missing)}"}
    differences = [x - y for x, y in zip(both["a"], both["b"], strict=False)]
    mean, lo, hi = stats.t_interval(differences)
    p = stats.sign_flip_p(differences)
    spread = stats.sd(differences)
    low, high = both[LOW][0], both[HIGH][0]
    bound = stats.bound_reached(both["a"].to_list(), both["b"].to_list(),
                                (float("-inf") if low is None else low, float("inf") if high is None else high))
    return {**row, "n": len(differences), "mean": mean, "lo": lo, "hi": hi, "sd": spread,
            "min detectable": None if spread is None else stats.minimum_detectable_effect(spread, len(differences)),
            "sign-flip p": p, "per_seed": ", ".join(f"{d:.3f}" for d in differences),
            "bound": bound, "differences": differences,
            "verdict": stats.verdict(lo, hi, differences, bound, p)}


def claims_table(endpoints: pl.DataFrame, primary: Sequence[Claim], exploratory: Sequence[Claim],
                 why_not_run: dict[str, str]) -> pl.DataFrame:
    """Every claim's row (CLAIM_COLUMNS), primary ones first with their Holm-adjusted sign-flip p and verdict."""
    def reason(claim: Claim) -> str | None:
        return why_not_run.get(claim.a) or why_not_run.get(claim.b)

    rows = [compare(endpoints, claim, PRIMARY, reason(claim)) for claim in primary]
    adjusted = stats.holm([row.get("sign-flip p") for row in rows])
    for row, p in zip(rows, adjusted, strict=False):
        row["Holm p"] = p
        if "differences" in row:
            row["verdict"] = stats.verdict(row["lo"], row["hi"], row["differences"], row["bound"], p, adjusted=True)
    rows += [compare(endpoints, claim, EXPLORATORY, reason(claim)) for claim in exploratory]
    return rows_frame(rows)


def rows_frame(rows: list[dict]) -> pl.DataFrame:
    """Claim rows as a table of CLAIM_COLUMNS (absent values null)."""
    numbers = {"n": pl.Int64, **{c: pl.Float64 for c in ("mean", "lo", "hi", "sd", "min detectable", "sign-flip p",
                                                           "Holm p")}}
    column_types = {c: numbers.get(c, pl.String) for c in CLAIM_COLUMNS}
    return pl.DataFrame([{c: row.get(c) for c in CLAIM_COLUMNS} for row in rows], schema=column_types)
