"""Evaluation: greedy generation on a benchmark split, graded by the benchmark's checker.

    from probscope.evaluate import evaluate_checkpoint
    evaluate_checkpoint("runs/sft/checkpoints/step-000600", "builtin-test-hard", runs_root="runs")
"""

from probscope.evaluate.benchmarks import BENCHMARKS, Benchmark, register_benchmark
from probscope.evaluate.generation import generate_replies
from probscope.evaluate.scoring import evaluate_checkpoint

__all__ = ["BENCHMARKS", "Benchmark", "register_benchmark", "generate_replies", "evaluate_checkpoint"]
