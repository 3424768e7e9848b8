"""`probscope-bench scale`: the paper's scale, a billion probe rows, through Figure 2, the statistics and the dashboard.

    probscope-bench scale                          # 1e9 rows in ./bench-scale-runs (25 GB, ~10 min; kept, reused)
    probscope-bench scale --rows 10000000 --dir /tmp/scale --no-dashboard

Workload: a runs folder of 6 methods (sft, dft, dpo, grpo, ppo, rft) x --steps checkpoints holding --rows probe
rows in all, written the way the probe writes them (shards of --shard-examples examples of --tokens-per-example
tokens, each shard's summary tables from the same frame, merged and vouched for by the completion marker), but
drawn with numpy instead of a model: streaming, one shard in memory at a time. Every checkpoint probes the same
examples (the paired design). Token ids follow a Zipf law over a 32,000-token vocabulary whose strings span the
token classes; roles are left null, as on a real dataset. A folder already holding the same workload is reused.

Measured in this process after writing (the tables in the page cache, as on a machine that just probed them):
  figure2_listing_s     load_tokens(steps="all", lazy) + Figure 2 per (method, run, step) + the lowest-bin
                        listing per (method, run, step): the first call of this process (modules imported)
  stats_s               pairwise_statistics of the 6 methods at their last steps, --bootstrap example resamples
  dashboard_*_s_max     the Overview and Distributions pages in Chromium (probscope-bench dashboard's
                        machinery): cold (fresh server, median of --cold) and warm (sidebar click, median of --warm)
  peak_rss_mb           the largest peak resident memory of this process and of the dashboard servers
  bytes_per_row         bytes on disk of the probe directories (shards + summaries + markers) / rows
Last line: JSON with those keys, rows, write_s and the shape. Targets at 1e9 rows on 2 cores: figure2_listing_s
<= 1, stats_s <= 5, dashboard <= 2 s cold / <= 0.3 s warm, peak_rss_mb <= 2048.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

from probscope.cli.commands import parse_options
from probscope.perf import BENCHES
from probscope.perf.analysis import timed
from probscope.perf.browser import page_paths
from probscope.perf.dashboard import measure_pages

METHODS = ("sft", "dft", "dpo", "grpo", "ppo", "rft")
VOCAB = 32_000
DASHBOARD_PAGES = ("Overview", "Distributions")
SHAPE_FILE = "_bench_scale.json"   # the workload a folder holds, so a rerun with the same one reuses it


def vocabulary() -> list[str]:
    """Token strings covering the token classes: numbers, punctuation, connectives, words, whitespace."""
    from probscope.analysis.token_classes import CONNECTIVE_WORDS

    connectives = sorted(CONNECTIVE_WORDS)
    marks = [".", ",", ":", "=", "+", "(", ")", "\\", "$", "?"]
    return [str(i % 1000) if i % 11 == 0 else marks[i % len(marks)] if i % 13 == 0 else
            " " + connectives[i % len(connectives)] if i % 17 == 0 else " " if i == 1 else f" w{i}"
            for i in range(VOCAB)]


def write_checkpoint(probe_dir: Path, run: str, method_index: int, step: int, progress: float, examples: int,
                     tokens_per_example: int, shard_examples: int, seed: int) -> int:
    """One checkpoint's probe directory (shards, summaries, marker) drawn shard by shard; returns its bytes."""
    import numpy as np
    import polars as pl

    from probscope import schema
    from probscope.probe import state, summaries
    from probscope.probe.table import part_name, write_shard

    rng = np.random.default_rng([seed, method_index, step])
    words = pl.Series(vocabulary())
    ids = pl.Series([f"{i:016x}" for i in range(examples)])
    edges = summaries.cell_edges()
    # the method's mass near 1 grows with the step; the polarizing methods (dft, grpo) keep a low tail
    low_share = 0.01 + (0.08 * progress if METHODS[method_index] in ("dft", "grpo") else 0.0)
    a, b = 2.0 + (6 + 3 * method_index) * progress, 2.0 - 1.4 * progress
    probe_dir.mkdir(parents=True, exist_ok=True)
    for shard, first in enumerate(range(0, examples, shard_examples)):
        count = min(shard_examples, examples - first)
        n = count * tokens_per_example
        token_ids = ((rng.zipf(1.3, n) - 1) % VOCAB).astype(np.int32)
        p = np.where(rng.random(n) < low_share, 10 ** rng.uniform(-8, -2, n), rng.beta(a, b, n))
        frame = pl.DataFrame({
            schema.RUN: pl.repeat(run, n, eager=True),
            schema.STEP: np.full(n, step, dtype=np.int64),
            schema.EXAMPLE_ID: ids.gather(np.repeat(np.arange(first, first + count), tokens_per_example)),
            schema.POSITION: np.tile(np.arange(16, 16 + tokens_per_example, dtype=np.int32), count),
            schema.TOKEN_ID: token_ids,
            schema.TOKEN: words.gather(token_ids),
            schema.P: p,
            schema.LOGP: np.log(p),
            schema.ENTROPY: rng.uniform(0, 4, n).astype(np.float32),
            schema.RANK: np.where(p > 0.5, 1, 2).astype(np.int32),
            schema.IS_TOP1: p > 0.5,
            schema.SUM_P2: np.maximum(p**2, 0.3).astype(np.float32),
            schema.ROLE: pl.repeat(None, n, dtype=pl.String, eager=True),
        }, schema=schema.token_schema())
        summaries.write_shard_summaries(frame, probe_dir, shard, edges)
        write_shard(frame, probe_dir / part_name(0, shard))
    shards = -(-examples // shard_examples)
    files = state.shard_records(probe_dir, shards)
    record = summaries.merge_shard_summaries(probe_dir, [probe_dir / f["name"] for f in files], edges)
    state.mark_finished(state.ProbeSummary(
        out_dir=str(probe_dir), run=run, step=step, model="bench-scale (synthetic)", examples=examples,
        tokens=sum(f["rows"] for f in files), shards=shards, fingerprint="bench-scale", files=files, summaries=record))
    summaries.remove_shard_summaries(probe_dir)
    return sum(f.stat().st_size for f in probe_dir.iterdir())


def write_runs(root: Path, shape: dict, seed: int = 0) -> int:
    """The workload's runs folder (reused when it holds this shape); returns the probe directories' bytes."""
    from tqdm.auto import tqdm

    from probscope.runs import Manifest, Run, discover_runs, write_text_atomic

    marker = root / SHAPE_FILE
    if marker.is_file() and json.loads(marker.read_text()) == shape:
        print(f"{root}: reusing the runs of this workload", flush=True)
        return sum(f.stat().st_size for run in discover_runs(root) for f in (run.root / "probes").rglob("*")
                   if f.is_file())
    total = 0
    jobs = [(m, s) for m in range(len(METHODS)) for s in range(shape["steps"])]
    for m, s in tqdm(jobs, desc="write checkpoints", unit="ckpt"):
        run = Run(root / METHODS[m])
        if s == 0:
            run.write_manifest(Manifest(name=METHODS[m], method=METHODS[m], status="finished", code_version="bench"))
        step = 100 * (s + 1)
        total += write_checkpoint(run.probe_dir(step), METHODS[m], m, step, (s + 1) / shape["steps"],
                                  shape["examples_per_checkpoint"], shape["tokens_per_example"],
                                  shape["shard_examples"], seed)
    write_text_atomic(marker, json.dumps(shape))
    return total


def figure2_and_listing(root: Path) -> None:
    import probscope as ps

    tokens = ps.load_tokens(root, steps="all", lazy=True)
    by = (ps.schema.METHOD, ps.schema.RUN, ps.schema.STEP)
    ps.probability_histogram(tokens, by=by)
    ps.lowest_bin_tokens(tokens, by=by)


def statistics_at_last_steps(root: Path, n_boot: int):
    import probscope as ps

    return ps.pairwise_statistics(ps.load_tokens(root, lazy=True), n_boot=n_boot)


@dataclass
class ScaleBenchOptions:
    rows: float = field(default=1e9, metadata={"help": "probe rows in all"})
    steps: int = field(default=10, metadata={"help": "checkpoints per method"})
    tokens_per_example: int = field(default=400, metadata={"help": "reply length"})
    shard_examples: int = field(default=4096, metadata={"help": "examples per shard"})
    bootstrap: int = field(default=1000, metadata={"help": "bootstrap resamples"})
    dir: str = field(default="bench-scale-runs", metadata={"help": "runs folder, kept and reused"})
    cold: int = field(default=2, metadata={"help": "cold dashboard loads per page"})
    warm: int = field(default=5, metadata={"help": "warm dashboard visits per page"})
    no_dashboard: bool = field(default=False, metadata={"help": "skip the browser measurement"})


@BENCHES.register("scale")
def main(argv: list[str] | None = None) -> dict:
    args = parse_options(ScaleBenchOptions, argv, prog="probscope-bench scale", description=__doc__.split("\n")[0])
    root = Path(args.dir)
    per_checkpoint = int(args.rows) // (len(METHODS) * args.steps)
    shape = {"methods": len(METHODS), "steps": args.steps, "tokens_per_example": args.tokens_per_example,
             "examples_per_checkpoint": max(1, per_checkpoint // args.tokens_per_example),
             "shard_examples": args.shard_examples}
    rows = shape["examples_per_checkpoint"] * args.tokens_per_example * len(METHODS) * args.steps

    start = time.perf_counter()
    disk = write_runs(root, shape)
    write_s = time.perf_counter() - start
    print(f"{rows:,} rows, {disk / 1e9:.2f} GB in {root} (written in {write_s:.0f} s)", flush=True)
    import probscope.analysis  # noqa: F401  the modules' imports (~0.6 s) are not the first call's work
    figure2_s = timed(lambda: figure2_and_listing(root))
    figure2_warm_s = timed(lambda: figure2_and_listing(root))
    stats_s = timed(lambda: statistics_at_last_steps(root, args.bootstrap))
    print(f"Figure 2 + listing {figure2_s:.3f} s (again {figure2_warm_s:.3f} s), statistics {stats_s:.3f} s",
          flush=True)
    result = {"rows": rows, "figure2_listing_s": round(figure2_s, 3),
              "figure2_listing_again_s": round(figure2_warm_s, 3),
              "stats_s": round(stats_s, 3), "bootstrap": args.bootstrap, "bytes_per_row": round(disk / rows, 2),
              "disk_gb": round(disk / 1e9, 2), "write_s": round(write_s, 1), **shape}
    if not args.no_dashboard:
        result |= dashboard(root, args.cold, args.warm)
    rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {**result, "peak_rss_mb": round(rss / 1024, 1)}   # Linux: kilobytes


def dashboard(root: Path, cold: int, warm: int) -> dict:
    import tempfile

    pages = dashboard_pages()
    with tempfile.TemporaryDirectory() as tmp:
        measured = measure_pages(root, pages, cold_loads=cold, warm_visits=warm, log_dir=Path(tmp))
    return {"dashboard": measured, "dashboard_cold_s_max": max(m["cold_s"] for m in measured.values()),
            "dashboard_warm_s_max": max(m["warm_s"] for m in measured.values())}


def dashboard_pages() -> list[tuple[str, str]]:
    """(title, URL path) of the pages the scale bench opens: those that read the probe tables of many runs."""
    pages = [page for page in page_paths() if page[0] in DASHBOARD_PAGES]
    assert len(pages) == len(DASHBOARD_PAGES), f"the dashboard has no page named one of {DASHBOARD_PAGES}"
    return pages
