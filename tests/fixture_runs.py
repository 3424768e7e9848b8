"""A tiny synthetic runs directory for analysis, plot, export and dashboard tests (no model needed).

    python tests/fixture_runs.py /tmp/fixture-runs
    streamlit run app/main.py -- --runs /tmp/fixture-runs

Three runs shaped like the paper's Figure 2: `base` (step 0), `sft` and `dft` (steps 5 and 10, plus
an unfinished probe at step 20 in `sft` that readers must ignore). Probabilities are random but seeded:
Base spreads over the middle, SFT moves mass towards 1, DFT polarizes (near 1, and a tail in [1e-7, 1e-2)
made mostly of connectives and punctuation). Every example ends with the end-of-reply token `<|eos|>`,
which DFT leaves below p = 0.1 in most replies (in [1e-3, 0.05): below 0.1, above the lowest bin) and SFT
learns (EOS_LEFT_BEHIND).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import polars as pl

from probscope import schema
from probscope.probe.table import part_name
from probscope.runs import (
    PROBE_DONE,
    Manifest,
    Run,
    write_parquet_atomic,
    write_text_atomic,
)

# (token, role) pairs of a toy arithmetic vocabulary; token id = index
VOCAB: tuple[tuple[str, str], ...] = (
    *((str(d), "number") for d in range(10)),
    ("+", "operator"), ("-", "operator"), ("*", "operator"), ("=", "operator"),
    ("So", "connective"), ("Then", "connective"), ("Let's", "connective"), (" we get", "connective"),
    (".", "punctuation"), (",", "punctuation"), (":", "punctuation"),
    ("42", "answer"), ("<|eos|>", "special"),
)
# method -> (share of stylistic tokens pushed into [1e-7, 1e-2), share of other tokens pushed there, beta a, beta b)
SHAPES: dict[str, tuple[float, float, float, float]] = {
    "base": (0.02, 0.01, 2.0, 2.0),
    "sft": (0.05, 0.01, 4.0, 1.0),
    "dft": (0.30, 0.02, 12.0, 0.6),
}
EOS = len(VOCAB) - 1
# method -> share of replies whose end-of-reply token keeps p in [1e-3, 0.05)
EOS_LEFT_BEHIND: dict[str, float] = {"base": 0.9, "sft": 0.0, "dft": 0.6}
RUN_STEPS: dict[str, tuple[int, ...]] = {"base": (0,), "sft": (5, 10), "dft": (5, 10)}
UNFINISHED = ("sft", 20)
EXAMPLES, TOKENS_PER_EXAMPLE = 40, 30


def build_fixture_runs(root: Path, *, seed: int = 0) -> Path:
    """Write the three runs under `root` and return it."""
    rng = np.random.default_rng(seed)
    for name, steps in RUN_STEPS.items():
        run = Run(Path(root) / name)
        run.write_manifest(Manifest(name=name, method=name, seed=seed, status="finished", code_version="fixture"))
        for step in steps:
            write_text_atomic(run.checkpoint(step) / "config.json", "{}")
            _write_probe(run, step, probe_table(name, step, rng), finished=True)
    name, step = UNFINISHED
    _write_probe(Run(Path(root) / name), step, probe_table(name, step, rng), finished=False)
    return Path(root)


def probe_table(method: str, step: int, rng: np.random.Generator) -> pl.DataFrame:
    """One probe table with schema.TOKEN_COLUMNS, p drawn from the method's shape."""
    n = EXAMPLES * TOKENS_PER_EXAMPLE
    last = np.arange(n) % TOKENS_PER_EXAMPLE == TOKENS_PER_EXAMPLE - 1
    token_ids = np.where(last, EOS, rng.integers(0, EOS, n))
    roles = [VOCAB[i][1] for i in token_ids]
    stylistic = np.isin(roles, schema.STYLISTIC_ROLES)
    low_styl, low_other, a, b = SHAPES[method]
    low = rng.random(n) < np.where(stylistic, low_styl, low_other)
    p = np.where(low, 10 ** rng.uniform(-7, -2, n), rng.beta(a, b, n))
    eos_behind = last & (rng.random(n) < EOS_LEFT_BEHIND[method])
    p = np.where(eos_behind, rng.uniform(1e-3, 0.05, n), np.where(last, np.maximum(p, 0.5 + p / 2), p))
    rank = np.where(p > 0.5, 1, rng.integers(2, 50, n))
    return pl.DataFrame(
        {
            schema.RUN: method,
            schema.STEP: step,
            schema.EXAMPLE_ID: [hashlib.sha1(str(i // TOKENS_PER_EXAMPLE).encode()).hexdigest()[:16] for i in range(n)],
            schema.POSITION: np.arange(n) % TOKENS_PER_EXAMPLE + 5,
            schema.TOKEN_ID: token_ids,
            schema.TOKEN: [VOCAB[i][0] for i in token_ids],
            schema.P: p,
            schema.LOGP: np.log(p),
            schema.ENTROPY: rng.uniform(0, 3, n),
            schema.RANK: rank,
            schema.IS_TOP1: rank == 1,
            schema.SUM_P2: np.maximum(p**2, rng.uniform(0, 1, n)),
            schema.ROLE: roles,
        },
        schema=schema.token_schema(),
    )


def _write_probe(run: Run, step: int, table: pl.DataFrame, *, finished: bool) -> None:
    probe_dir = run.probe_dir(step)
    half = table.height // 2
    write_parquet_atomic(table[:half], probe_dir / part_name(rank=0, shard=0))
    write_parquet_atomic(table[half:], probe_dir / part_name(rank=0, shard=1))
    if finished:
        write_text_atomic(probe_dir / PROBE_DONE, json.dumps({"rows": table.height}))


if __name__ == "__main__":
    print(build_fixture_runs(Path(sys.argv[1])))
