"""Evaluation: benchmark accuracy of every checkpoint (Average@k, pass@k), graded with math-verify.

    probscope eval --runs runs --benchmark builtin-test-id --k 4
    probscope grade generations.jsonl --pred-field output --gold-field answer

    from probscope.evaluate import SamplingSettings, evaluate_runs, load_evals, accuracy_curves
    evaluate_runs("runs", "math500", data="math500_test.jsonl", settings=SamplingSettings(k=16))
    curves = accuracy_curves(load_evals("runs"))      # polars: run, method, benchmark, step, value, lo, hi

benchmarks.py: declarative benchmark definitions; generation.py: generation backends; grading.py: answer
extraction and math-verify grading; metrics.py: Average@k, pass@k, bootstrap CIs; engine.py: the resumable
per-checkpoint stage; curves.py: reading results (and lm-evaluation-harness files) into curve tables.
Heavy imports (torch, transformers, math-verify) happen inside the functions that need them.
"""

from probscope.evaluate.benchmarks import BENCHMARKS, Benchmark, Problem, load_problems
from probscope.evaluate.curves import accuracy_curves, load_evals, load_lm_eval_results, problem_results
from probscope.evaluate.engine import EvalOptions, EvalResult, evaluate_checkpoint, evaluate_runs, read_samples
from probscope.evaluate.generation import GENERATORS, SamplingSettings
from probscope.evaluate.grading import GRADERS, Grade, grade_all
from probscope.evaluate.metrics import pass_at_k, summarize

__all__ = [
    "BENCHMARKS", "Benchmark", "EvalOptions", "EvalResult", "GENERATORS", "GRADERS", "Grade", "Problem",
    "SamplingSettings", "accuracy_curves", "evaluate_checkpoint", "evaluate_runs", "grade_all", "load_evals",
    "load_lm_eval_results", "load_problems", "pass_at_k", "problem_results", "read_samples", "summarize",
]
