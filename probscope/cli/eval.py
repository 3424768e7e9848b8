"""`probscope eval`: benchmark every checkpoint of every run (resumable), per-sample records + summaries.

The sampling flags are SamplingSettings' fields and the engine flags EvalOptions' (defaults and checks there);
EvalTarget holds what to evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from probscope.cli.commands import Flags, command
from probscope.evaluate.benchmarks import BENCHMARKS
from probscope.evaluate.engine import EvalOptions
from probscope.evaluate.generation import SamplingSettings


@dataclass
class EvalTarget:
    """Which runs, checkpoints and problems; the sampling protocol's name and the generation budget."""

    benchmark: str = field(metadata={"help": "benchmark name"})
    runs: str = field(default="runs", metadata={"help": "runs directory"})
    data: str | None = field(default=None, metadata={
        "help": "the benchmark's problems: a local JSONL/JSON/Parquet/CSV file, or a hub dataset name (read from "
                "the hub only when given here); the built-in splits need none"})
    runs_filter: list[str] | None = field(default=None, metadata={
        "metavar": "PATTERN", "repeat": True,
        "help": "only runs whose name matches this shell pattern (repeatable; default: all runs)"})
    steps: list[int] | None = field(default=None, metadata={   # the flag: comma text, parsed below
        "help": "comma-separated checkpoint steps (default: every checkpoint)"})
    preset: str | None = field(default=None, metadata={
        "help": "a named sampling protocol setting --k, --temperature and --top-p: paper (the DFT paper's "
                "Average@16 at temperature 1.0, top-p 1.0)"})
    max_new_tokens: int | None = field(default=None, metadata={
        "help": "generation budget (default: the benchmark's; capped at the model's context)"})
    prompt_template: str | None = field(default=None, metadata={
        "help": "the prompt around each question, with {question} (default: the benchmark's; recorded with the "
                "results). A model whose tokenizer has a chat template gets it inside that template; one without "
                "gets it as written, so write what training put before the question (e.g. '<s> Question: "
                "{question}' for a SentencePiece model TRL trained on 'Question: ...' prompts: its BOS, then the "
                "space it puts before the first word)"})
    limit: int | None = field(default=None, metadata={"help": "only the first N problems"})
    name: str | None = field(default=None, metadata={
        "help": "directory name of this evaluation (default: the benchmark name); use another to keep results "
                "of other settings beside these"})

    def __post_init__(self) -> None:
        from probscope.checks import check_count
        from probscope.errors import ProbscopeError

        check_count("limit", self.limit, optional=True)
        check_count("max_new_tokens", self.max_new_tokens, optional=True)
        if isinstance(self.steps, str):   # the flag's comma-separated text
            try:
                self.steps = [int(s) for s in self.steps.split(",")]
            except ValueError:
                raise ProbscopeError(f"--steps: '{self.steps}' is not comma-separated step numbers") from None


@command("eval", options=[EvalTarget, Flags(SamplingSettings, "sampling", exclude=("max_new_tokens",)),
                          Flags(EvalOptions, "engine", exclude=("progress",))],
         help="evaluate every checkpoint of every run on a benchmark (Average@k, pass@k)",
         description="Generate k replies per problem for each checkpoint not yet evaluated with these settings, "
                     "grade them (math-verify, or the built-in task's checker) and write per-sample records and a "
                     "summary into <run>/evals/<name>/step-N/. Resumable: finished checkpoints and shards are "
                     f"skipped. Benchmarks: {', '.join(BENCHMARKS)}.")
def run_eval(target: EvalTarget, sampling: SamplingSettings, options: EvalOptions) -> int:
    import time

    from probscope.evaluate.engine import evaluate_runs
    from probscope.evaluate.generation import preset

    budget = target.max_new_tokens or BENCHMARKS.get(target.benchmark).max_new_tokens
    settings = (preset(target.preset, max_new_tokens=budget) if target.preset else
                replace(sampling, max_new_tokens=budget))
    start = time.perf_counter()
    results = evaluate_runs(target.runs, target.benchmark, data=target.data, runs_filter=target.runs_filter,
                            steps=target.steps, settings=settings, options=options, limit=target.limit,
                            name=target.name, prompt_template=target.prompt_template)
    failed = [r for r in results if r.error]
    done = sum(not r.already_done for r in results if not r.error)
    print(f"probscope eval: {done} checkpoint(s) evaluated, {len(results) - done - len(failed)} already done, "
          f"{len(failed)} skipped, on {target.benchmark} in {time.perf_counter() - start:.1f} s")
    return 1 if failed else 0
