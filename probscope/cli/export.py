"""`probscope export`: every registered figure and its tables for a runs directory.

    probscope export --runs runs --out figures --format png,pdf,svg --steps all --runs-filter 'sft*'
"""

from __future__ import annotations

from probscope.cli.commands import COMMANDS
from probscope.errors import ProbscopeError


@COMMANDS.register("export")
def add_export_command(sub) -> None:
    from probscope.runs import DEFAULT_PROBE_DATASET

    p = sub.add_parser("export", help="write every figure (Figure 2, listings, dynamics, statistics, ...) "
                                      "with its tables (CSV, Markdown) for a runs directory")
    p.add_argument("--runs", default="runs", help="runs directory (default: ./runs, the built-in demo runs)")
    p.add_argument("--out", required=True, help="directory to write the figures and their tables into")
    p.add_argument("--format", default="png,pdf", help="comma-separated image formats, e.g. png,pdf,svg "
                                                       "(default: png,pdf)")
    p.add_argument("--dataset", default=DEFAULT_PROBE_DATASET, help="probed dataset to read (default: %(default)s)")
    p.add_argument("--steps", default="all", help="'all' (default), 'last', or comma-separated steps; figures "
                                                  "of one step show each run's last chosen step")
    p.add_argument("--runs-filter", metavar="GLOBS",
                   help="comma-separated glob patterns on run names, e.g. 'sft*,dft*' (default: every run)")
    p.add_argument("--figure", action="append", dest="figures", metavar="NAME",
                   help="only this figure (repeat for several; default: all registered figures)")
    p.set_defaults(func=_export)


def _export(args) -> None:
    import time

    from probscope.analysis.steps import unprobed_last_checkpoints
    from probscope.plots.export import export_figures
    from probscope.runs.writable import check_directory

    start = time.perf_counter()
    check_directory(args.out, "--out")
    steps = _parse_steps(args.steps)
    if isinstance(steps, list) and not args.runs_filter:
        _say_runs_left_out(args.runs, steps, args.dataset)
    paths = export_figures(
        args.runs, args.out, formats=args.format.split(","), dataset=args.dataset,
        steps=steps, runs_filter=args.runs_filter, figures=args.figures,
    )
    if steps in ("last", "all"):   # figures of one step show each run's last probed step: say when it is not its last
        for note in unprobed_last_checkpoints(args.runs, None, args.dataset):
            print(f"probscope export: {note}")
    kinds = ", ".join(sorted({path.suffix.lstrip(".") for path in paths}))
    names = ", ".join(dict.fromkeys(path.stem for path in paths))
    print(f"probscope export: wrote {len(paths)} files ({names} as {kinds}) to {args.out} "
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
