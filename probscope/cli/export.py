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

    from probscope.plots.export import export_figures

    start = time.perf_counter()
    paths = export_figures(
        args.runs, args.out, formats=args.format.split(","), dataset=args.dataset,
        steps=_parse_steps(args.steps), runs_filter=args.runs_filter, figures=args.figures,
    )
    kinds = ", ".join(sorted({path.suffix.lstrip(".") for path in paths}))
    names = ", ".join(dict.fromkeys(path.stem for path in paths))
    print(f"probscope export: wrote {len(paths)} files ({names} as {kinds}) to {args.out} "
          f"in {time.perf_counter() - start:.1f} s")


def _parse_steps(text: str) -> str | list[int]:
    if text in ("last", "all"):
        return text
    try:
        return [int(step) for step in text.split(",")]
    except ValueError:
        raise ProbscopeError(f"--steps: '{text}' is not 'last', 'all' or comma-separated step numbers") from None
