"""Run a registered benchmark: `python -m probscope.perf NAME [ARGS]` or `probscope-bench NAME [ARGS]`.

The benchmark's results are printed as one JSON object on the last line (for scripts and CI logs).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys

import probscope.perf as bench


def load_benches():
    """Import every module of probscope.perf so that its @BENCHES.register functions register."""
    for module in pkgutil.iter_modules(bench.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"probscope.perf.{module.name}")
    return bench.BENCHES


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    benchmarks = load_benches()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in benchmarks:
        names = ", ".join(sorted(benchmarks.names())) or "none"
        print(f"usage: probscope-bench NAME [ARGS]   (benchmarks: {names}; NAME --help for its options)",
              file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    result = benchmarks.get(argv[0])(argv[1:])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
