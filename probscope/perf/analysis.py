"""`probscope-bench analysis`: Figure 2, the lowest-bin listing and the statistics on a large probe table.

    probscope-bench analysis                    # or: python -m probscope.perf analysis [--rows 10000000]

Workload: a runs directory written to a temporary directory (or --keep DIR): 6 runs, one per method
(base, sft, dft, dpo, grpo, ppo), each probed at --steps steps, --rows target tokens in all (replies of
--tokens-per-example tokens, a 32,000-token vocabulary, roles left null as on a real dataset so token
classes are computed). Probabilities are drawn per method and step: Base spread out, SFT moving to 1,
DFT polarizing, so every bin is populated.

Measured (median of --reps after one warm-up, the tables in the page cache):
  figure2_listing_s   load_tokens(steps="all", lazy) over every row, Figure 2 per method and the lowest-bin
                      listing per method, both figures built (not rendered to a file)
  last_step_s         the same at each run's last step (what `probscope export` draws)
  stats_s             distribution_statistics of sft vs dft at their last steps, 1,000 bootstrap resamples
  peak_rss_mb         the process's peak resident memory (getrusage), generation included

Last line: JSON with rows, figure2_listing_s, last_step_s, stats_s, peak_rss_mb and the workload's shape.
Targets (2 cores): figure2_listing_s <= 1, stats_s <= 5, peak_rss_mb <= 2048.
"""

from __future__ import annotations

import json
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from probscope.cli.commands import parse_options
from probscope.perf import BENCHES

METHODS = ("base", "sft", "dft", "dpo", "grpo", "ppo")
VOCAB = 32_000
ROWS_PER_PART = 200_000


def write_runs(root: Path, rows: int, steps: int, tokens_per_example: int, seed: int = 0) -> dict:
    """The benchmark's runs directory under `root`; returns its shape."""
    import numpy as np
    import polars as pl

    from probscope import schema
    from probscope.probe.table import part_name
    from probscope.runs import PROBE_DONE, Manifest, Run, write_parquet_atomic, write_text_atomic

    rng = np.random.default_rng(seed)
    vocabulary = pl.Series([f"tok{i}" if i % 7 else f" w{i}" for i in range(VOCAB)])
    per_table = rows // (len(METHODS) * steps)
    examples = max(1, per_table // tokens_per_example)
    for m, method in enumerate(METHODS):
        run = Run(root / method)
        run.write_manifest(Manifest(name=method, method=method, status="finished", code_version="bench"))
        for s in range(steps):
            step = 100 * (s + 1)
            progress = (s + 1) / steps
            # method m's mass near 1 grows with the step; the polarizing methods keep a low tail
            low_share = 0.01 + (0.08 * progress if method in ("dft", "grpo") else 0.0)
            a, b = 2.0 + (6 + 3 * m) * progress, 2.0 - 1.4 * progress * (method != "base")
            n = per_table
            token_ids = (rng.zipf(1.3, n) - 1) % VOCAB
            p = np.where(rng.random(n) < low_share, 10 ** rng.uniform(-8, -2, n), rng.beta(a, b, n))
            table = pl.DataFrame({
                schema.RUN: method,
                schema.STEP: step,
                schema.EXAMPLE_ID: (np.arange(n) // tokens_per_example).astype(str),
                schema.POSITION: np.arange(n) % tokens_per_example + 16,
                schema.TOKEN_ID: token_ids,
                schema.TOKEN: vocabulary.gather(token_ids),
                schema.P: p,
                schema.LOGP: np.log(p),
                schema.ENTROPY: rng.uniform(0, 4, n),
                schema.RANK: np.where(p > 0.5, 1, 2),
                schema.IS_TOP1: p > 0.5,
                schema.SUM_P2: np.maximum(p**2, 0.3),
                schema.ROLE: None,
            }, schema=schema.token_schema())
            probe_dir = run.probe_dir(step)
            for shard, start in enumerate(range(0, n, ROWS_PER_PART)):
                write_parquet_atomic(table[start:start + ROWS_PER_PART], probe_dir / part_name(0, shard))
            write_text_atomic(probe_dir / PROBE_DONE, json.dumps({"rows": n, "schema_version": schema.SCHEMA_VERSION}))
    return {"runs": len(METHODS), "steps": steps, "rows_per_table": per_table, "examples_per_table": examples}


def figure2_and_listing(runs_root: Path, last_step: bool) -> tuple:
    import probscope as ps

    tokens = ps.load_tokens(runs_root, steps="all", lazy=True)
    if last_step:
        tokens = ps.at_last_step(tokens)
    hist = ps.probability_histogram(tokens)
    listing = ps.lowest_bin_tokens(tokens)
    return ps.plot_probability_histogram(hist), ps.plot_lowest_bin_tokens(listing), hist, listing


def pair_statistics(runs_root: Path, n_boot: int):
    import probscope as ps

    final = ps.at_last_step(ps.load_tokens(runs_root, runs=["sft", "dft"], steps="all", lazy=True))
    return ps.distribution_statistics(final.filter(method="sft"), final.filter(method="dft"),
                                      labels=("sft", "dft"), n_boot=n_boot)


def timed(function, reps: int = 1) -> float:
    """Median wall seconds of `reps` calls of `function`."""
    seconds = []
    for _ in range(reps):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


@dataclass
class AnalysisBenchOptions:
    rows: int = field(default=10_000_000, metadata={"help": "target tokens in all tables"})
    steps: int = field(default=4, metadata={"help": "probed steps per run"})
    tokens_per_example: int = field(default=250, metadata={"help": "reply length"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples"})
    reps: int = field(default=3, metadata={"help": "timed repetitions, median reported"})
    keep: str | None = field(default=None, metadata={
        "metavar": "DIR", "help": "write the runs here and keep them (default: a temp dir)"})


@BENCHES.register("analysis")
def main(argv: list[str] | None = None) -> dict:
    args = parse_options(AnalysisBenchOptions, argv, prog="probscope-bench analysis",
                         description=__doc__.split("\n")[0])

    with tempfile.TemporaryDirectory(prefix="probscope-bench-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        start = time.perf_counter()
        shape = write_runs(root, args.rows, args.steps, args.tokens_per_example)
        print(f"wrote {args.rows:,} rows ({shape}) in {time.perf_counter() - start:.1f} s to {root}", flush=True)

        figure2_and_listing(root, last_step=False)                 # warm-up: imports, page cache
        figure2_s = timed(lambda: figure2_and_listing(root, last_step=False), args.reps)
        last_step_s = timed(lambda: figure2_and_listing(root, last_step=True), args.reps)
        pair_statistics(root, n_boot=10)
        stats_s = timed(lambda: pair_statistics(root, args.bootstrap), args.reps)
        table = pair_statistics(root, args.bootstrap)
        print(table.select("statistic", "sample", "value", "ci_low", "ci_high"), flush=True)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: kilobytes
    return {
        "rows": args.rows, "figure2_listing_s": round(figure2_s, 3), "last_step_s": round(last_step_s, 3),
        "stats_s": round(stats_s, 3), "peak_rss_mb": round(peak_rss_mb, 1), "bootstrap": args.bootstrap,
        **shape,
    }
