"""`probscope-bench smoke`: wall and CPU time of `probscope replicate --smoke` and `replicate-continuum --smoke`.

    probscope-bench smoke            # or: python -m probscope.perf smoke [--workers 2]

Each pipeline runs cold into its own temporary folder (the smoke task and 1-layer model, the first two seeds,
a few steps per run), as a subprocess of this one, so that its wall time includes importing the libraries and
its CPU time includes every worker it spawns. Target (issue 17): each under a minute of wall time on the 2-core
machine. A timed test would fail whenever the machine is shared; the tests check what the smoke runs write.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from probscope.cli.commands import parse_options
from probscope.perf import BENCHES

PIPELINES = ("replicate", "replicate-continuum")


@dataclass
class SmokeBenchOptions:
    workers: int = field(default=0, metadata={
        "help": "worker processes of each pipeline (0: the pipelines' default, one per core)"})


def time_smoke(command: str, workers: int) -> dict[str, float]:
    """Run `probscope COMMAND --smoke` cold in a temporary folder; its wall seconds and CPU seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "probscope.cli", command, "--smoke", "--runs_root", f"{tmp}/runs",
                "--results", f"{tmp}/results", "--readme", "", "--workers", str(workers)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, cwd=tmp, env=os.environ | {"HF_HUB_OFFLINE": "1"},
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        assert Path(tmp, "results").is_dir(), f"{command} --smoke wrote no results"
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}


@BENCHES.register("smoke")
def main(argv: list[str] | None = None) -> dict:
    opts = parse_options(SmokeBenchOptions, argv, prog="probscope-bench smoke", description=__doc__.split("\n")[0])
    results: dict[str, object] = {"load_average_1min": round(os.getloadavg()[0], 2)}
    for command in PIPELINES:
        print(f"{command} --smoke ...", file=sys.stderr, flush=True)
        results[command] = time_smoke(command, opts.workers)
    return results
