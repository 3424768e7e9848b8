"""`probscope-bench NAME`: benchmarks that print a JSON object of their measurements as the last line.

    probscope-bench probe            # or: python -m probscope.perf probe [--help]

A benchmark is one function in a module of this package, registered with a name:

    @BENCHES.register("probe")
    def main(argv: list[str] | None = None) -> dict: ...      # parses argv, prints progress, returns results

Its options are a dataclass read by probscope.cli.commands.parse_options (the flag helper of every command).

The command line imports every module here (they import torch etc. inside their functions, so this is
quick), runs the named function and prints its result as JSON on the last line. (These measure probscope's
own speed and memory; the model benchmarks a user evaluates checkpoints on live in probscope.evaluate.)
"""

from __future__ import annotations

from typing import Protocol

from probscope.registry import Registry


class Bench(Protocol):
    """A registered benchmark: `main(argv)`, or `main()` to parse the process's own arguments."""

    def __call__(self, argv: list[str] | None = None) -> dict: ...


BENCHES: Registry[Bench] = Registry("probscope-bench benchmark")
