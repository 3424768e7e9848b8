"""Benchmark registry: a benchmark is a data file (relative to the runs root) plus an answer checker.

Adding one is one decorated function returning a Benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from probscope.errors import ProbscopeError
from probscope.runs import BUILTIN_DATA

BENCHMARKS: dict[str, Callable[[], "Benchmark"]] = {}


@dataclass(frozen=True)
class Benchmark:
    name: str
    data: Path                                  # relative to the runs root unless absolute
    check: Callable[[str, str], bool]           # (generated reply, reference answer) -> correct?
    max_new_tokens: int = 64


def register_benchmark(name: str):
    def decorator(fn: Callable[[], Benchmark]):
        BENCHMARKS[name] = fn
        return fn
    return decorator


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ProbscopeError(f"unknown benchmark '{name}' (valid: {', '.join(sorted(BENCHMARKS))})")
    return BENCHMARKS[name]()


def _builtin(split: str, max_new_tokens: int = 64) -> Benchmark:
    from probscope.builtin.task import check_answer

    return Benchmark(f"builtin-{split}", BUILTIN_DATA / f"{split}.jsonl", check_answer, max_new_tokens)


@register_benchmark("builtin-test-id")
def builtin_test_id() -> Benchmark:
    return _builtin("test-id")


@register_benchmark("builtin-test-hard")
def builtin_test_hard() -> Benchmark:
    return _builtin("test-hard", max_new_tokens=80)


@register_benchmark("builtin-facts-test")
def builtin_facts_test() -> Benchmark:
    return _builtin("facts-test", max_new_tokens=24)
