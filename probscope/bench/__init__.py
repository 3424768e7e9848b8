"""`probscope-bench NAME`: benchmarks that print a JSON object of their measurements as the last line.

    probscope-bench probe            # or: python -m probscope.bench probe [--help]

A benchmark is one function in a module of this package, registered with a name:

    @register_benchmark("probe")
    def main(argv: list[str] | None = None) -> dict: ...      # parses argv, prints progress, returns results

The command line imports every module here (they import torch etc. inside their functions, so this is
quick), runs the named function and prints its result as JSON on the last line.
"""

from __future__ import annotations

from collections.abc import Callable

Benchmark = Callable[[list[str] | None], dict]


BENCHMARKS: dict[str, Benchmark] = {}


def register_benchmark(name: str):
    """Decorator: make `fn(argv) -> dict` available as `probscope-bench <name>`."""

    def add(fn: Benchmark) -> Benchmark:
        if BENCHMARKS.get(name, fn) is not fn:
            raise ValueError(f"benchmark {name!r} is registered twice")
        BENCHMARKS[name] = fn
        return fn

    return add
