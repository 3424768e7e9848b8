"""Accuracy of a checkpoint on a benchmark."""

from __future__ import annotations

from pathlib import Path

from probscope.evaluate.benchmarks import get_benchmark
from probscope.evaluate.generation import generate_replies


def evaluate_checkpoint(model_path: str | Path, benchmark: str, *, runs_root: str | Path = "runs",
                        limit: int | None = None) -> dict:
    """{'benchmark', 'n', 'correct', 'accuracy'} of greedy replies graded by the benchmark's checker."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from probscope.data import read_records

    bench = get_benchmark(benchmark)
    data = bench.data if bench.data.is_absolute() else Path(runs_root) / bench.data
    records = read_records(data)[:limit]
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    model = AutoModelForCausalLM.from_pretrained(str(model_path))
    replies = generate_replies(model, tokenizer, [r["prompt"] for r in records], max_new_tokens=bench.max_new_tokens)
    correct = sum(bench.check(reply, str(r["answer"])) for reply, r in zip(replies, records))
    return {"benchmark": benchmark, "n": len(records), "correct": correct,
            "accuracy": correct / max(len(records), 1)}
