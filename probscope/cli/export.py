"""`probscope export`: every registered figure and its tables for a runs directory.

    probscope export --runs runs --out figures --format png,pdf,svg --steps all --runs-filter 'sft*'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probscope.cli.commands import command
from probscope.errors import ProbscopeError
from probscope.runs import DEFAULT_PROBE_DATASET


@dataclass
class ExportOptions:
    out: str = field(metadata={"help": "directory to write the figures and their tables into"})
    runs: str = field(default="runs", metadata={"help": "runs directory (default: ./runs, the built-in demo runs)"})
    format: str = field(default="png,pdf", metadata={"help": "comma-separated image formats, e.g. png,pdf,svg"})
    dataset: str = field(default=DEFAULT_PROBE_DATASET, metadata={"help": "probed dataset to read"})
    steps: str = field(default="all", metadata={
        "help": "'all' (default), 'last', or comma-separated steps; figures of one step show each run's last "
                "chosen step"})
    runs_filter: str | None = field(default=None, metadata={
        "metavar": "GLOBS",
        "help": "comma-separated glob patterns on run names, e.g. 'sft*,dft*' (default: every run)"})
    figure: list[str] | None = field(default=None, metadata={
        "metavar": "NAME", "repeat": True,
        "help": "only this figure (repeat for several; default: all registered figures)"})


@command("export", options=[ExportOptions],
         help="write every figure (Figure 2, listings, dynamics, statistics, ...) with its tables (CSV, Markdown) "
              "for a runs directory")
def run_export(opts: ExportOptions) -> None:
    import time

    from probscope.analysis.steps import unprobed_last_checkpoints
    from probscope.plots.export import export_figures
    from probscope.runs.writable import check_directory

    start = time.perf_counter()
    check_directory(opts.out, "--out")
    steps = _parse_steps(opts.steps)
    if isinstance(steps, list) and not opts.runs_filter:
        _say_runs_left_out(opts.runs, steps, opts.dataset)
    paths = export_figures(
        opts.runs, opts.out, formats=opts.format.split(","), dataset=opts.dataset,
        steps=steps, runs_filter=opts.runs_filter, figures=opts.figure,
    )
    if steps in ("last", "all"):   # figures of one step show each run's last probed step: say when it is not its last
        for note in unprobed_last_checkpoints(opts.runs, None, opts.dataset):
            print(f"probscope export: {note}")
    kinds = ", ".join(sorted({path.suffix.lstrip(".") for path in paths}))
    names = ", ".join(dict.fromkeys(path.stem for path in paths))
    print(f"probscope export: wrote {len(paths)} files ({names} as {kinds}) to {opts.out} "
          f"in {time.perf_counter() - start:.1f} s")


def _parse_steps(text: str) -> str | list[int]:
    if text in ("last", "all"):
        return text
    try:
        steps = [int(step) for step in text.split(",")]
    except ValueError:
        raise ProbscopeError(f"--steps: '{text}' is not 'last', 'all' or comma-separated step numbers") from None
    if any(step < 0 for step in steps):
        raise ProbscopeError(f"--steps: '{text}': steps are whole numbers >= 0")
    return steps


def _say_runs_left_out(runs_root: str, steps: list[int], dataset: str) -> None:
    """Runs with probes, none at `steps`, are left out of the figures: a line says which (not silence)."""
    from probscope.analysis.catalog import find_runs
    from probscope.analysis.tokens import select_steps

    picked = select_steps(runs_root, steps=steps, dataset=dataset)   # a step no run has: an error here
    left_out = [f"{run.name} ({', '.join(map(str, run.probed_steps(dataset)))})" for run in find_runs(runs_root)
                if run.name not in picked and run.probed_steps(dataset)]
    if left_out:
        print(f"probscope export: no probe at step(s) {', '.join(map(str, steps))} in {len(left_out)} run(s), left "
              f"out: {'; '.join(left_out)}")
