"""`probscope eval`: benchmark every checkpoint of every run (resumable), per-sample records + summaries."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS


@COMMANDS.register("eval")
def add_eval_command(sub) -> None:
    from probscope.evaluate.benchmarks import BENCHMARKS
    from probscope.evaluate.engine import DEFAULT_SHARD_SIZE

    p = sub.add_parser(
        "eval", help="evaluate every checkpoint of every run on a benchmark (Average@k, pass@k)",
        description="Generate k replies per problem for each checkpoint not yet evaluated with these settings, "
                    "grade them (math-verify, or the built-in task's checker) and write per-sample records and a "
                    "summary into <run>/evals/<name>/step-N/. Resumable: finished checkpoints and shards are skipped. "
                    f"Benchmarks: {', '.join(BENCHMARKS)}.",
    )
    p.add_argument("--runs", default="runs", help="runs directory (default: ./runs)")
    p.add_argument("--benchmark", required=True, help="benchmark name")
    p.add_argument("--data", help="the benchmark's problems: a local JSONL/JSON/Parquet/CSV file, or a hub dataset "
                                  "name (read from the hub only when given here); the built-in splits need none")
    p.add_argument("--runs-filter", action="append", metavar="PATTERN",
                   help="only runs whose name matches this shell pattern (repeatable; default: all runs)")
    p.add_argument("--steps", help="comma-separated checkpoint steps (default: every checkpoint)")
    p.add_argument("--k", type=int, default=1, help="samples per problem; 1 = greedy (default: 1)")
    p.add_argument("--temperature", type=float, default=0.6, help="sampling temperature when k > 1 (default: 0.6)")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus mass when k > 1 (default: 0.95)")
    p.add_argument("--preset", help="a named sampling protocol setting --k, --temperature and --top-p: paper "
                                    "(the DFT paper's Average@16 at temperature 1.0, top-p 1.0)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument("--max-new-tokens", type=int, help="generation budget (default: the benchmark's; capped at the "
                                                       "model's context)")
    p.add_argument("--prompt-template", help="the prompt around each question, with {question} (default: the "
                                             "benchmark's; recorded with the results). A model whose tokenizer has a "
                                             "chat template gets it inside that template; one without gets it as "
                                             "written, so write what training put before the question (e.g. "
                                             "'<s> Question: {question}' for a SentencePiece model TRL trained on "
                                             "'Question: ...' prompts: its BOS, then the space it puts before the "
                                             "first word)")
    p.add_argument("--limit", type=int, help="only the first N problems")
    p.add_argument("--name", help="directory name of this evaluation (default: the benchmark name); "
                                  "use another to keep results of other settings beside these")
    p.add_argument("--backend", default="hf", help="generation backend (default: hf)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default: auto)")
    p.add_argument("--dtype", help="model dtype: float32, bfloat16, float16 (default: as saved)")
    p.add_argument("--batch-size", type=int, default=256, help="sequences per generate call (default: 256)")
    p.add_argument("--threads", type=int, help="CPU threads while generating (default: 1 for a model under 50M "
                                                "parameters on the CPU, whose products are too small to split; "
                                                "else torch's default)")
    p.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE,
                   help="problems per output shard: the unit of resuming a killed evaluation (default: %(default)s)")
    p.add_argument("--grade-workers", type=int, help="grading processes (default: one per core)")
    p.set_defaults(func=_eval)


def _eval(args) -> int:
    import time

    from probscope.errors import ProbscopeError
    from probscope.evaluate.benchmarks import BENCHMARKS
    from probscope.evaluate.engine import EvalOptions, evaluate_runs
    from probscope.evaluate.generation import SamplingSettings, preset

    for flag, value in (("--k", args.k), ("--batch-size", args.batch_size), ("--limit", args.limit),
                        ("--max-new-tokens", args.max_new_tokens), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise ProbscopeError(f"{flag}: must be at least 1, got {value}")
    if not 0 < args.top_p <= 1:
        raise ProbscopeError(f"--top-p: must be in (0, 1], got {args.top_p}")
    try:
        steps = [int(s) for s in args.steps.split(",")] if args.steps else None
    except ValueError:
        raise ProbscopeError(f"--steps: '{args.steps}' is not comma-separated step numbers") from None
    bench = BENCHMARKS.get(args.benchmark)
    budget = args.max_new_tokens or bench.max_new_tokens
    settings = (preset(args.preset, max_new_tokens=budget) if args.preset else
                SamplingSettings(k=args.k, temperature=args.temperature, top_p=args.top_p, max_new_tokens=budget))
    options = EvalOptions(seed=args.seed, backend=args.backend, device=args.device, dtype=args.dtype,
                          batch_size=args.batch_size, threads=args.threads, grade_workers=args.grade_workers,
                          shard_size=args.shard_size)
    start = time.perf_counter()
    results = evaluate_runs(args.runs, args.benchmark, data=args.data, runs_filter=args.runs_filter, steps=steps,
                            settings=settings, options=options, limit=args.limit, name=args.name,
                            prompt_template=args.prompt_template)
    failed = [r for r in results if r.error]
    done = sum(not r.already_done for r in results if not r.error)
    print(f"probscope eval: {done} checkpoint(s) evaluated, {len(results) - done - len(failed)} already done, "
          f"{len(failed)} skipped, on {args.benchmark} in {time.perf_counter() - start:.1f} s")
    return 1 if failed else 0
