"""`probscope-bench grade`: grader accuracy on MATH-500 and the speed of grading and of evaluating a checkpoint.

    probscope-bench grade [--math500 math500_test.jsonl] [--model CKPT] [--workers N]

Measurements (skipped, and reported as null, when the MATH-500 file is absent):
- reference: the reference solutions of MATH-500 graded against its answers (target >= 0.99 correct);
  shuffled: each solution against a random other problem's answer (some problems share an answer, so a
  few are rightly correct), and against a random other answer *written differently* (target <= 0.01).
- grade_10k: 10,000 raw generations (full MATH-500 solutions, 20 per problem, whose final \\boxed{} holds the
  right answer or one drawn from the benchmark's other answers) graded with the default workers
  (target <= 60 s on 2 cores). grade_10k_distinct: the same with every boxed answer a distinct expression,
  so no parse is reused (the worst case for the caches).
- eval: one built-in-task checkpoint on the 200 builtin-test-id problems with k = 4 (target <= 60 s on 2
  cores), with torch's default CPU threads and with one thread (what `probscope eval` uses for a small model
  on the CPU: on cores other processes also use, the threads of tiny matrix products mostly wait on each
  other). Without --model, a randomly initialised model of the built-in shape: it rarely stops before
  max_new_tokens, so this is the longest-replies case. The built-in data is written to a temporary
  directory (seed 0) unless --runs names a root that holds it.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from probscope.cli.commands import parse_options
from probscope.perf import BENCHES

SAMPLES_PER_PROBLEM = 20


@dataclass
class GradeBenchOptions:
    math500: Path | None = field(default=None, metadata={
        "help": "MATH-500 JSONL (problem, solution, answer); without it the grader accuracy and grading speed are "
                "skipped"})
    workers: int | None = field(default=None, metadata={"help": "grading processes (default: one per core)"})
    model: str | None = field(default=None, metadata={
        "help": "a built-in-task checkpoint to time (default: random init, built-in shape)"})
    runs: str | None = field(default=None, metadata={
        "help": "runs root holding data/builtin (default: a temporary one)"})
    skip_eval: bool = field(default=False, metadata={"help": "only the grading measurements"})
    skip_grading: bool = field(default=False, metadata={"help": "only the evaluation measurement"})


@BENCHES.register("grade")
def main(argv: list[str] | None = None) -> dict:
    args = parse_options(GradeBenchOptions, argv, prog="probscope-bench grade", description=__doc__.split("\n")[0])
    result: dict = {}
    if args.skip_grading:
        pass
    elif args.math500 is not None and args.math500.is_file():
        result.update(_grader_accuracy(args.math500, args.workers))
    else:
        print(f"{args.math500 or 'no --math500'}: grader accuracy and grading speed skipped")
        result.update(reference=None, shuffled=None, shuffled_different=None, grade_10k_seconds=None)
    if not args.skip_eval:
        result.update(_eval_speed(args.model, args.runs))
    return result


def _grader_accuracy(path: Path, workers: int | None) -> dict:
    from probscope.evaluate.grading import gold_text, grade_all

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    answers = [gold_text(r["answer"]) for r in rows]
    golds = [gold for gold in answers if gold is not None]
    if len(golds) != len(answers):
        raise SystemExit(f"probscope-bench grade: {path}: row {answers.index(None) + 1} has no reference answer")
    solutions = [r["solution"] for r in rows]
    rng = random.Random(0)

    def share(grades) -> float:
        return round(sum(g.correct for g in grades) / len(grades), 4)

    start = time.perf_counter()
    reference = share(grade_all(solutions, golds, workers=workers))
    reference_s = time.perf_counter() - start
    permuted = golds[:]
    rng.shuffle(permuted)
    shuffled = share(grade_all(solutions, permuted, workers=workers))
    different = [rng.choice([g for g in golds if g != gold]) for gold in golds]
    shuffled_different = share(grade_all(solutions, different, workers=workers))
    print(f"MATH-500 reference solutions: {reference:.2%} correct ({reference_s:.1f} s); shuffled answers: "
          f"{shuffled:.2%}; shuffled among differently written answers: {shuffled_different:.2%}")

    # 10,000 raw generations: solutions whose last \boxed{} is replaced by the right or another answer
    preds, pred_golds, distinct = [], [], []
    for i, (solution, gold) in enumerate(zip(solutions, golds, strict=False)):
        for j in range(SAMPLES_PER_PROBLEM):
            answer = gold if rng.random() < 0.5 else rng.choice(golds)
            preds.append(_rebox(solution, answer))
            distinct.append(_rebox(solution, f"\\frac{{{i * SAMPLES_PER_PROBLEM + j + 7}}}{{{j + 3}}}"))
            pred_golds.append(gold)
    timings = {}
    for name, texts in (("grade_10k", preds), ("grade_10k_distinct", distinct)):
        start = time.perf_counter()
        grades = grade_all(texts, pred_golds, workers=workers, progress=True)
        timings[f"{name}_seconds"] = round(time.perf_counter() - start, 2)
        timings[f"{name}_correct"] = share(grades)
        print(f"{name}: {len(texts):,} generations graded in {timings[f'{name}_seconds']:.1f} s "
              f"({timings[f'{name}_correct']:.2%} correct)")
    return {"reference": reference, "reference_seconds": round(reference_s, 2), "shuffled": shuffled,
            "shuffled_different": shuffled_different, "generations": len(preds), **timings}


def _rebox(solution: str, answer: str) -> str:
    """The solution with the content of its last \\boxed{} replaced (balanced braces)."""
    from probscope.data.formats import last_boxed

    inner = last_boxed(solution)
    if inner is None:
        return f"{solution}\nThe final answer is \\boxed{{{answer}}}."
    start = solution.rfind("\\boxed{") + len("\\boxed{")
    return solution[:start] + answer + solution[start + len(inner):]


def _eval_speed(model: str | None, runs_root: str | None) -> dict:
    import torch

    from probscope.builtin.task import TOKENIZER_DIR, TaskConfig, write_builtin_data
    from probscope.evaluate.benchmarks import BENCHMARKS, load_problems
    from probscope.evaluate.engine import EvalOptions, evaluate_checkpoint
    from probscope.evaluate.generation import SamplingSettings
    from probscope.runs import BUILTIN_DATA

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(runs_root or tmp)
        if not (root / BUILTIN_DATA / "test-id.jsonl").is_file():
            write_builtin_data(root / BUILTIN_DATA, TaskConfig())
        if model is None:
            model = str(Path(tmp) / "random-builtin")
            _random_builtin_model(root / BUILTIN_DATA / TOKENIZER_DIR, model)
        bench = BENCHMARKS.get("builtin-test-id")
        problems = load_problems(bench, runs_root=root, limit=200)
        settings = SamplingSettings(k=4, temperature=0.6, top_p=0.95, max_new_tokens=bench.max_new_tokens)
        default_threads = torch.get_num_threads()
        timings, summary = {}, None
        for label, threads in (("default_threads", default_threads), ("one_thread", 1)):
            start = time.perf_counter()
            result = evaluate_checkpoint(model, bench, problems, Path(tmp) / f"eval-{label}", settings,
                                         EvalOptions(progress=False, threads=threads), run="bench", step=0)
            timings[f"eval_seconds_{label}"] = round(time.perf_counter() - start, 2)
            if result.error:
                raise SystemExit(f"probscope-bench grade: {result.error}")
            assert result.summary is not None, "a result without an error has a summary"
            if summary is not None and result.summary["average_at_k"] != summary["average_at_k"]:
                print("note: the thread count changed the sampled replies (floating-point order)")
            summary = result.summary
            seconds = timings[f"eval_seconds_{label}"]
            print(f"eval ({threads} thread(s)): {len(problems)} problems x k=4 in {seconds:.1f} s "
                  f"(model load included), {summary['mean_tokens']:.1f} tokens per reply, "
                  f"Average@4 {summary['average_at_k']:.3f}")
        torch.set_num_threads(default_threads)
    assert summary is not None, "the loop above evaluated at least once"
    return {"eval_problems": len(problems), "eval_k": 4, **timings, "eval_default_threads": default_threads,
            "eval_mean_tokens": round(summary["mean_tokens"], 1), "eval_average_at_4": summary["average_at_k"],
            "eval_model": "random-init built-in shape" if re.search("random-builtin", model) else model}


def _random_builtin_model(tokenizer_dir: Path, out: str) -> None:
    """A randomly initialised Llama of the built-in base recipe's shape, with the built-in tokenizer."""
    from transformers import AutoTokenizer

    from probscope.perf.train import BUILTIN_SHAPE, tiny_llama

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tiny_llama(tokenizer, len(tokenizer), **BUILTIN_SHAPE).save_pretrained(out)
    tokenizer.save_pretrained(out)
