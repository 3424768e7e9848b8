"""`probscope demo`: build the built-in runs and start the dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from probscope.cli.commands import command


@dataclass
class DemoOptions:
    runs: str = field(default="runs", metadata={"help": "runs directory to build into and show"})
    no_serve: bool = field(default=False, metadata={
        "help": "build the runs and exit without starting the dashboard"})
    smoke: bool = field(default=False, metadata={
        "help": "a seconds-long build (small task, 1-layer model, 4 steps) that checks an installation"})
    full: bool = field(default=False, metadata={
        "help": "train the packaged recipes as written (~16 min on 2 cores; default: their quick schedule, "
                "probscope.builtin.settings.QUICK_DEMO_STEPS, ~6 min)"})
    workers: int | None = field(default=None, metadata={
        "help": "runs built side by side, one torch thread each (default: one per core; 1: one after the other)"})
    check: bool = field(default=False, metadata={
        "help": "build nothing: check that the runs' probe tables hold Figure 2's six methods (exit 1 if not)"})
    port: int = field(default=8501, metadata={"help": "dashboard port on 127.0.0.1"})


@command("demo", options=[DemoOptions],
         help="build the built-in runs (base, SFT, DFT, DPO, GRPO, PPO, probes, evaluations) and start the dashboard")
def run_demo(opts: DemoOptions) -> int:
    import subprocess

    from probscope import demo
    from probscope.app import streamlit_command
    from probscope.builtin.settings import quick_demo_settings, smoke_settings
    from probscope.errors import ProbscopeError

    if opts.check:
        return _check(opts.runs)
    if opts.smoke and opts.full:
        raise ProbscopeError("demo: --smoke and --full exclude each other (a seconds-long check, or the recipes as "
                             "written)")
    options: dict[str, Any] = {"workers": opts.workers}
    if opts.smoke:
        task, overrides, probe_examples, rl_runs = smoke_settings()
        options |= {"task": task, "overrides": overrides, "probe_examples": probe_examples, "rl_runs": rl_runs}
    elif not opts.full:
        options |= quick_demo_settings()
    server: list[subprocess.Popen] = []
    if not opts.no_serve:   # first: the dashboard shows each run as it lands (auto-refresh on)
        print(f"dashboard: http://127.0.0.1:{opts.port}  (Ctrl+C stops it; the runs appear as they are built)")
        server.append(subprocess.Popen(streamlit_command(opts.runs, opts.port, live=True)))

    try:
        demo.build_demo_runs(opts.runs, **options)
        if server:
            print("demo: every run is built; the dashboard keeps running (Ctrl+C stops it)")
            return server[0].wait()
    finally:
        for process in server:
            if process.poll() is None:
                process.terminate()
    return 0


def _check(runs: str) -> int:
    from probscope import demo

    problems = demo.check_demo_probes(runs)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{runs}: the probe tables of the training split hold {', '.join(demo.FIGURE2_METHODS)}")
    return 1 if problems else 0
