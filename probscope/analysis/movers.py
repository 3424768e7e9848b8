"""Token movers: whose mean probability rose or fell most between two checkpoints, or between two runs.

    import probscope as ps
    before, after = ps.load_pair("runs", ("sft", 5), ("sft", "last"))   # checks the tokenizers match
    ps.token_movers(before, after, top=10)             # token_id, token, n/p before and after, delta, direction
    ps.token_movers(before, after, by="role")          # the same per role (any two runs: roles need no tokenizer)

Comparing token by token needs one tokenizer: token id 17 must be the same token in both tables.
`same_tokenizer` compares the tokenizer files of the runs' checkpoints (the vocabulary and merges,
not incidental settings) and `token_movers` also checks that every token id shared by the two
tables decodes to the same string; either mismatch is refused. Histograms of such runs still compare
(`probability_histogram`, `distribution_statistics`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import polars as pl

from probscope import schema
from probscope.analysis import summary_tables
from probscope.analysis.catalog import find_runs
from probscope.analysis.tokens import load_tokens
from probscope.checks import check_count, check_tokens
from probscope.errors import ProbscopeError
from probscope.runs import DEFAULT_PROBE_DATASET, Run

N_BEFORE, N_AFTER = "n_before", "n_after"   # occurrences in each table
P_BEFORE, P_AFTER = "p_before", "p_after"   # mean p in each table
DELTA = "delta"                             # p_after - p_before
DIRECTION = "direction"                     # "rose" | "fell"
RANK = "rank"                               # 1 = largest move in its direction
BY = {"token": (schema.TOKEN_ID, schema.TOKEN), "role": (schema.ROLE,)}
# Files that define a vocabulary, by tokenizer family; tokenizer.json is reduced to its model and added tokens.
VOCABULARY_FILES = ("vocab.json", "merges.txt", "tokenizer.model", "vocab.txt")

Checkpoint = tuple[str, int | str]   # (run name, step or "last")


def token_movers(
    before: pl.DataFrame | pl.LazyFrame,
    after: pl.DataFrame | pl.LazyFrame,
    *,
    by: str = "token",
    top: int | None = 20,
    min_count: int = 5,
) -> pl.DataFrame:
    """The `top` keys of `by` ("token" or "role") whose mean p rose most, then the `top` that fell most.

    Only keys seen at least `min_count` times in both tables take part (a token seen twice moves by chance).
    """
    if by not in BY:
        raise ProbscopeError(f"token movers: by='{by}' is not one of {', '.join(BY)}")
    check_count("top", top, optional=True)
    check_count("min_count", min_count)
    before, after = (check_tokens(name, frame, [*BY[by], schema.P])
                     for name, frame in (("before", before), ("after", after)))
    if by == "token":
        check_token_ids_agree(before, after)
    keys = list(BY[by])
    means = [_means(frame, keys, n, p) for frame, n, p in ((before, N_BEFORE, P_BEFORE), (after, N_AFTER, P_AFTER))]
    moved = (
        means[0].join(means[1], on=keys, how="inner", nulls_equal=True)
        .filter((pl.col(N_BEFORE) >= min_count) & (pl.col(N_AFTER) >= min_count))
        .with_columns((pl.col(P_AFTER) - pl.col(P_BEFORE)).alias(DELTA))
        .filter(pl.col(DELTA) != 0)
        .with_columns(pl.when(pl.col(DELTA) > 0).then(pl.lit("rose")).otherwise(pl.lit("fell")).alias(DIRECTION))
        .sort(pl.col(DELTA).abs(), *keys, descending=[True] + [False] * len(keys), nulls_last=True)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(DIRECTION).alias(RANK))
    )
    if top is not None:
        moved = moved.filter(pl.col(RANK) <= top)
    return (moved.sort(pl.col(DIRECTION) == "fell", RANK)
            .select(DIRECTION, RANK, *keys, N_BEFORE, P_BEFORE, N_AFTER, P_AFTER, DELTA).collect())


def _means(frame: pl.DataFrame | pl.LazyFrame, keys: list[str], n: str, p: str) -> pl.LazyFrame:
    """Per key: occurrences and mean p, from the probe summaries when `frame` is load_tokens' own."""
    cells = summary_tables.cell_table(frame, keys)
    if cells is not None:
        count = pl.col(summary_tables.COUNT).sum()
        return cells.group_by(keys).agg(count.alias(n), (pl.col(summary_tables.SUM_P).sum() / count).alias(p))
    return frame.lazy().group_by(keys).agg(pl.len().cast(pl.Int64).alias(n), pl.col(schema.P).mean().alias(p))


def check_token_ids_agree(before: pl.DataFrame | pl.LazyFrame, after: pl.DataFrame | pl.LazyFrame) -> None:
    """Refuse two tables in which one token id decodes to different strings (different tokenizers)."""
    tokens = (schema.TOKEN_ID, schema.TOKEN)
    cells = [summary_tables.cell_table(frame, tokens) for frame in (before, after)]
    pairs = [(frame.lazy() if summary is None else summary).select(tokens).unique()
             for frame, summary in zip((before, after), cells, strict=False)]
    clash = (pairs[0].join(pairs[1], on=schema.TOKEN_ID, suffix="_after")
             .filter(pl.col(schema.TOKEN).ne_missing(pl.col(f"{schema.TOKEN}_after"))).head(1).collect())
    if clash.height:
        token_id, a, b = clash.row(0)
        raise ProbscopeError(
            f"token movers: token id {token_id} is {a!r} in one table and {b!r} in the other: the runs use "
            "different tokenizers, so tokens cannot be compared one by one (compare by='role' or their histograms)"
        )


def tokenizer_fingerprint(directory: str | os.PathLike) -> str | None:
    """A hash of the vocabulary a Hugging Face tokenizer directory defines; None when it holds none."""
    directory = Path(directory)
    digest = hashlib.sha256()
    found = False
    fast = directory / "tokenizer.json"
    if fast.is_file():
        spec = json.loads(fast.read_text())
        digest.update(json.dumps([spec.get("model"), spec.get("added_tokens")], sort_keys=True).encode())
        found = True
    else:   # slow tokenizers: the files that define the vocabulary, byte for byte
        for name in VOCABULARY_FILES:
            if (directory / name).is_file():
                digest.update(name.encode() + b"\0" + (directory / name).read_bytes())
                found = True
    return digest.hexdigest() if found else None


def run_tokenizer_fingerprint(run: Run) -> str | None:
    """The fingerprint of the tokenizer saved with the run's newest checkpoint (a run keeps one tokenizer),
    else of its base model when that is a local directory; None when neither holds a tokenizer."""
    candidates = [run.checkpoint(step) for step in reversed(run.checkpoint_steps())]
    base_model = run.read_manifest().base_model
    if base_model and Path(base_model).is_dir():
        candidates.append(Path(base_model))
    return next((fp for fp in map(tokenizer_fingerprint, candidates) if fp is not None), None)


def same_tokenizer(runs_root: str | os.PathLike, run_a: str, run_b: str) -> bool | None:
    """True/False when both runs saved a tokenizer; None when at least one did not (then only
    `check_token_ids_agree` on the probe tables can tell)."""
    a, b = (run_tokenizer_fingerprint(run) for run in find_runs(runs_root, [run_a, run_b]))
    return None if a is None or b is None else a == b


def load_pair(
    runs_root: str | os.PathLike, before: Checkpoint, after: Checkpoint, *,
    dataset: str = DEFAULT_PROBE_DATASET, token_by_token: bool = True,
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The probe tokens of two checkpoints (run, step or "last"); with `token_by_token` (movers by token),
    runs that saved different tokenizers are refused."""
    (run_a, _), (run_b, _) = before, after
    if token_by_token and run_a != run_b and same_tokenizer(runs_root, run_a, run_b) is False:
        raise ProbscopeError(
            f"{runs_root}: runs {run_a} and {run_b} saved different tokenizers, so tokens cannot be compared "
            "one by one (compare by role or their histograms)"
        )
    a, b = (load_tokens(runs_root, steps={run: step}, dataset=dataset, lazy=True) for run, step in (before, after))
    return a, b
