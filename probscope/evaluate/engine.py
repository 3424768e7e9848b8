"""Evaluating checkpoints on a benchmark: generate k samples per problem, grade, summarize; resumable.

    from probscope.evaluate import SamplingSettings, evaluate_runs
    evaluate_runs("runs", "builtin-test-id")               # greedy, every checkpoint not yet evaluated
    evaluate_runs("runs", "math500", data="math500_test.jsonl",
                  settings=SamplingSettings(k=16, temperature=0.6, top_p=0.95, max_new_tokens=2048))

Per checkpoint, into <run>/evals/<name>/step-<N>/ (runs.Run.eval_dir):
- _PLAN.json first: benchmark, settings and a fingerprint of the problems; a resume with other settings or
  problems is refused (name the evaluation differently to keep both).
- part-<shard>.parquet: `shard_size` problems each, one row per sample (SAMPLE_COLUMNS), written atomically;
  a finished shard is skipped on resume. Shard i samples with seed (seed, i), so a resumed evaluation
  draws what an uninterrupted one would have.
- _DONE.json last: the summary (metrics.summarize + reasons, tokens, seconds, settings).
A checkpoint that fails to load is reported and skipped; the others are evaluated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import polars as pl

from probscope import devices, runs
from probscope.checks import check_count, check_sampling
from probscope.errors import ProbscopeError, first_line
from probscope.evaluate.benchmarks import BENCHMARKS, Benchmark, Problem, data_source, load_problems
from probscope.evaluate.generation import GENERATORS, SamplingSettings
from probscope.evaluate.grading import GRADERS, REASONS
from probscope.evaluate.metrics import summarize

logger = logging.getLogger(__name__)

PROBLEM_ID, SAMPLE, GENERATION, TOKENS, ANSWER, GOLD, CORRECT, REASON = (
    "problem_id", "sample", "generation", "tokens", "answer", "gold", "correct", "reason")
SAMPLE_COLUMNS = {PROBLEM_ID: pl.String, SAMPLE: pl.Int32, GENERATION: pl.String, TOKENS: pl.Int32,
                  ANSWER: pl.String, GOLD: pl.String, CORRECT: pl.Boolean, REASON: pl.String}
DEFAULT_SHARD_SIZE = 64
_PART = "part-{:06d}.parquet"


@dataclass
class EvalResult:
    """What happened to one checkpoint: a summary (finished) or an error (skipped)."""

    run: str
    step: int
    out_dir: str
    summary: dict | None = None
    error: str | None = None
    already_done: bool = False

    def line(self) -> str:
        where = f"{self.run} step {self.step}"
        if self.error:
            return f"{where}: skipped ({self.error})"
        s = self.summary
        assert s is not None, "a result without an error has a summary"
        verb = "already evaluated" if self.already_done else "evaluated"
        generated = s["generated_tokens_this_session"]
        speed = (f", {generated / s['seconds']:,.0f} tok/s" if generated and s["seconds"] and not self.already_done
                 else "")
        return (f"{where}: {verb} {s['benchmark']} k={s['k']}: Average@{s['k']} {s['average_at_k']:.3f} "
                f"[{s['average_at_k_lo']:.3f}, {s['average_at_k_hi']:.3f}], pass@{s['k']} {s['pass_at_k']:.3f} "
                f"on {s['problems']} problems in {s['seconds']:.1f} s{speed}")


@dataclass
class EvalOptions:
    """How checkpoints are evaluated (beyond the sampling settings)."""

    seed: int = field(default=0, metadata={"help": "sampling seed (k > 1)"})
    backend: str = field(default="hf", metadata={"help": "generation backend (generation.GENERATORS)"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:1, mps"})
    dtype: str | None = field(default=None, metadata={"help": "model dtype (default: as saved)"})
    batch_size: int = field(default=256, metadata={"help": "sequences per generate call"})
    threads: int | None = field(default=None, metadata={
        "help": "CPU threads while generating (None: 1 for a small model on the CPU, else torch's default; "
                "see generation.load_hf)"})
    shard_size: int = field(default=DEFAULT_SHARD_SIZE, metadata={"help": "problems per output shard"})
    grade_workers: int | None = field(default=None, metadata={"help": "grading processes (default: cores)"})
    progress: bool = True

    def __post_init__(self) -> None:
        check_count("seed", self.seed, minimum=0)
        check_count("batch_size", self.batch_size)
        check_count("threads", self.threads, optional=True)
        check_count("shard_size", self.shard_size)
        check_count("grade_workers", self.grade_workers, optional=True)


def evaluate_checkpoint(model_path: str | os.PathLike, bench: Benchmark, problems: Sequence[Problem],
                        out_dir: str | os.PathLike, settings: SamplingSettings, options: EvalOptions | None = None,
                        *, run: str = "", step: int = 0) -> EvalResult:
    """Evaluate one checkpoint into `out_dir` (resumable; nothing to do when finished with these settings).
    Under torchrun (WORLD_SIZE > 1) process r does shards r, r + world, ...; rank 0 writes the summary."""
    options = options or EvalOptions()
    out_dir = Path(out_dir)
    if not problems:
        raise ProbscopeError(f"{bench.name}: no problems to evaluate")
    settings = within_context(settings, model_path)
    plan = {**_plan(bench, problems, settings, options), "prompt_template": bench.prompt,
            "chat_template": "the tokenizer's" if has_chat_template(model_path) else "none (the tokenizer has none)"}
    done = out_dir / runs.EVAL_DONE
    if done.is_file():
        summary = json.loads(done.read_text())
        if summary.get("fingerprint") == plan["fingerprint"]:
            return EvalResult(run, step, str(out_dir), summary, already_done=True)
    shards = [problems[i:i + options.shard_size] for i in range(0, len(problems), options.shard_size)]
    started = time.perf_counter()
    with devices.process_group() as (rank, world):
        _claim(out_dir, plan)
        missing = [i for i in range(len(shards)) if not (out_dir / _PART.format(i)).is_file()]
        error = _evaluate_shards(model_path, bench, shards, [i for i in missing if i % world == rank], out_dir,
                                 settings, options, run=run, step=step, show=options.progress and rank == 0)
        devices.barrier()
        if rank == 0 and error is None:
            try:
                samples = read_samples(out_dir, shards=len(shards))
            except ProbscopeError as e:      # another process could not do its shards
                error = str(e)
            else:
                summary = _summarize(samples, plan, settings, run=run, step=step, model=str(model_path),
                                     seconds=time.perf_counter() - started,
                                     generated=sum(_tokens_in(out_dir / _PART.format(i)) for i in missing))
                runs.write_text_atomic(done, json.dumps(summary, indent=2))
        devices.barrier()
    if error is None and not done.is_file():
        error = f"{out_dir}: not finished by the other processes; rerun to complete it"
    if error is not None:
        return EvalResult(run, step, str(out_dir), error=error)
    return EvalResult(run, step, str(out_dir), json.loads(done.read_text()))


def within_context(settings: SamplingSettings, model_path: str | os.PathLike) -> SamplingSettings:
    """`settings` with the generation budget capped at the model's context (its config's position limit), with a
    one-line notice: a longer budget only generates past what the model was trained to attend to."""
    context = model_context(model_path)
    if context is None or settings.max_new_tokens <= context:
        return settings
    logger.warning("%s: generation budget %d tokens capped at the model's context, %d tokens", model_path,
                   settings.max_new_tokens, context)
    return dataclasses.replace(settings, max_new_tokens=context)


_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def model_context(model_path: str | os.PathLike) -> int | None:
    """The longest sequence the model's config.json allows, or None when it says nothing (or is unreadable)."""
    try:
        config = json.loads((Path(model_path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    config = {**config.get("text_config", {}), **config} if isinstance(config.get("text_config"), dict) else config
    values = [config.get(key) for key in _CONTEXT_KEYS]
    return next((v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0), None)


def has_chat_template(model_path: str | os.PathLike) -> bool:
    """Whether the tokenizer saved with the model has a chat template (then generation wraps each prompt in it)."""
    folder = Path(model_path)
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return bool(isinstance(config, dict) and config.get("chat_template"))


def _evaluate_shards(model_path, bench: Benchmark, shards: list[Sequence[Problem]], indices: list[int], out_dir: Path,
                     settings: SamplingSettings, options: EvalOptions, *, run: str, step: int,
                     show: bool) -> str | None:
    """Generate, grade and write the shards `indices`; the error that stopped it, or None."""
    from tqdm.auto import tqdm

    if not indices:
        return None
    try:
        generate = GENERATORS.get(options.backend)(model_path, device=options.device, dtype=options.dtype,
                                                   batch_size=options.batch_size, threads=options.threads)
    except ProbscopeError as e:
        return str(e)
    except ImportError:
        raise
    except Exception as e:   # a corrupt checkpoint raises whatever its loader raises: report it, go on
        return f"cannot load {model_path}: {type(e).__name__}: {first_line(e)}"
    grade = GRADERS.get(bench.grader)
    started, generated = time.perf_counter(), 0
    bar = tqdm(total=sum(len(shards[i]) for i in indices) * settings.k, unit="sample",
               desc=f"eval {run} step {step} {bench.name}", disable=not show)

    def advance(samples: int, tokens: int) -> None:
        nonlocal generated
        generated += tokens
        bar.update(samples)
        bar.set_postfix_str(f"{generated / (time.perf_counter() - started):,.0f} tok/s")

    with bar:
        for index in indices:
            shard = shards[index]
            replies = generate([p.prompt for p in shard], settings, seed=_shard_seed(options.seed, index),
                               on_batch=advance)
            texts = [g.text for gens in replies for g in gens]
            golds = [p.gold for p, gens in zip(shard, replies, strict=False) for _ in gens]
            grades = grade(texts, golds, workers=options.grade_workers)
            frame = pl.DataFrame(
                {PROBLEM_ID: [p.id for p, gens in zip(shard, replies, strict=False) for _ in gens],
                 SAMPLE: [j for gens in replies for j in range(len(gens))], GENERATION: texts,
                 TOKENS: [g.tokens for gens in replies for g in gens], ANSWER: [g.answer for g in grades],
                 GOLD: golds, CORRECT: [g.correct for g in grades], REASON: [g.reason for g in grades]},
                schema=SAMPLE_COLUMNS,
            )
            runs.write_parquet_atomic(frame, out_dir / _PART.format(index))
    return None


def _tokens_in(part: Path) -> int:
    return int(pl.read_parquet(part, columns=[TOKENS], glob=False)[TOKENS].sum())


def evaluate_runs(runs_root: str | os.PathLike, benchmark: str, *, data: str | os.PathLike | None = None,
                  runs_filter: Sequence[str] | None = None, steps: Sequence[int] | None = None,
                  settings: SamplingSettings | None = None, options: EvalOptions | None = None,
                  limit: int | None = None, name: str | None = None,
                  prompt_template: str | None = None) -> list[EvalResult]:
    """Evaluate every checkpoint (or `steps`) of every run (or those matching `runs_filter`, shell patterns).
    `prompt_template` (with {question}) replaces the benchmark's prompt; both are recorded with the results."""
    check_count("limit", limit, optional=True)
    bench = BENCHMARKS.get(benchmark)
    if prompt_template is not None:
        bench = dataclasses.replace(bench, prompt=check_prompt_template(prompt_template))
    settings = settings or SamplingSettings(max_new_tokens=bench.max_new_tokens)
    check_sampling(settings.k, settings.temperature)
    name = name or bench.name
    runs.validate_run_name(name)   # the evaluation's directory name obeys the rules of a run's
    chosen = runs.discover_runs(runs_root)
    if isinstance(runs_filter, str):
        runs_filter = [runs_filter]
    wanted: set[str] = set()
    for pattern in runs_filter or ():
        matched = runs.runs_matching([r.name for r in chosen], pattern)
        if not matched:
            raise ProbscopeError(f"{runs_root}: no run matches --runs-filter {pattern!r} "
                                 f"(runs: {', '.join(r.name for r in chosen) or 'none'})")
        wanted.update(matched)
    if runs_filter:
        chosen = [r for r in chosen if r.name in wanted]
    if steps is not None:
        saved = {step for run in chosen for step in run.checkpoint_steps()}
        nowhere = sorted(set(steps) - saved)
        if nowhere:
            raise ProbscopeError(f"{runs_root}: no chosen run has a checkpoint at step(s) "
                                 f"{', '.join(map(str, nowhere))} (steps saved: {', '.join(map(str, sorted(saved)))})")
    problems = load_problems(bench, data, runs_root=runs_root, limit=limit)   # field errors before generating
    logger.info("%s: %d problems from %s, k=%d", bench.name, len(problems), data_source(bench, data, runs_root),
                settings.k)
    results = []
    for run in chosen:
        for step in run.checkpoint_steps():
            if steps is not None and step not in steps:
                continue
            result = evaluate_checkpoint(run.checkpoint(step), bench, problems, run.eval_dir(step, name),
                                         settings, options, run=run.name, step=step)
            logger.info(result.line())
            results.append(result)
    return results


def check_prompt_template(template: str) -> str:
    """A prompt template holds {question} once and no other field (literal braces doubled: {{}})."""
    import string

    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as e:
        raise ProbscopeError(f"--prompt-template {template!r}: {e} (write literal braces as {{{{ }}}})") from None
    if fields != ["question"]:
        raise ProbscopeError(f"--prompt-template {template!r}: must hold {{question}} once and no other field "
                             f"(found: {', '.join('{' + f + '}' for f in fields) or 'none'}); write literal "
                             "braces as {{ }}")
    return template


def read_samples(out_dir: str | os.PathLike, *, shards: int | None = None) -> pl.DataFrame:
    """The per-sample rows of an evaluation directory (all shards; `shards`: how many there must be)."""
    out_dir = Path(out_dir)
    files = sorted(out_dir.glob("part-*.parquet"))
    if shards is not None and len(files) != shards:
        raise ProbscopeError(f"{out_dir}: {len(files)} of {shards} shards present; rerun to complete it")
    if not files:
        raise ProbscopeError(f"{out_dir}: no evaluation shards (part-*.parquet)")
    return pl.concat([pl.read_parquet(f, glob=False) for f in files])


# ---- plan, fingerprint, summary ------------------------------------------------------------------------------
def _plan(bench: Benchmark, problems: Sequence[Problem], settings: SamplingSettings, options: EvalOptions) -> dict:
    sampling = settings.as_dict()
    if settings.greedy:      # temperature and top_p do not change greedy replies
        sampling.update(temperature=None, top_p=None)
    digest = hashlib.sha256()
    for p in problems:
        digest.update(json.dumps([p.id, p.prompt, p.gold]).encode())
    key = [bench.name, bench.grader, sampling, None if settings.greedy else options.seed, options.shard_size,
           options.backend, digest.hexdigest()]
    return {"benchmark": bench.name, "grader": bench.grader, "settings": sampling,
            "seed": None if settings.greedy else options.seed, "shard_size": options.shard_size,
            "backend": options.backend, "problems": len(problems),
            "fingerprint": hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]}


def _claim(out_dir: Path, plan: dict) -> None:
    plan_file = out_dir / runs.EVAL_PLAN
    if not plan_file.is_file() and (out_dir / runs.EVAL_DONE).is_file():   # finished under other settings
        raise ProbscopeError(f"{out_dir}: already holds a finished evaluation with other settings; "
                             "pass --name to keep both, or delete the directory")
    started = runs.claim_plan(plan_file, plan, "evaluation", required=("fingerprint",))
    if started is not None and started["fingerprint"] != plan["fingerprint"]:
        raise ProbscopeError(
            f"{out_dir}: holds an evaluation with other settings or problems ({_describe(started)}; now "
            f"{_describe(plan)}); pass --name to keep both, or delete the directory")


def _describe(plan: dict) -> str:
    s = plan.get("settings", {})
    return (f"{plan.get('benchmark')}, {plan.get('problems')} problems, k={s.get('k')}, "
            f"temperature={s.get('temperature')}")


def _shard_seed(seed: int, index: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{index}".encode()).digest()[:4], "little")


def _summarize(samples: pl.DataFrame, plan: dict, settings: SamplingSettings, *, run: str, step: int, model: str,
               seconds: float, generated: int) -> dict:
    per_problem = samples.group_by(PROBLEM_ID, maintain_order=True).agg(pl.col(CORRECT))[CORRECT].to_list()
    reasons = Counter(samples[REASON].drop_nulls().to_list())
    return {
        "run": run, "step": step, "model": model, **plan, **summarize(per_problem, k=settings.k),
        **{f"reason_{r.replace(' ', '_')}": reasons.get(r, 0) for r in REASONS},
        "tokens": int(samples[TOKENS].sum()), "mean_tokens": float(cast(float, samples[TOKENS].mean())),
        "seconds": round(seconds, 3), "generated_tokens_this_session": generated,
    }
