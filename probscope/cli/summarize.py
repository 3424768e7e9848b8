"""`probscope summarize PATH`: give finished probe directories written before summaries existed their summary tables."""

from __future__ import annotations

from typing import cast

from probscope.cli.commands import COMMANDS


@COMMANDS.register("summarize")
def add_summarize_command(sub) -> None:
    p = sub.add_parser("summarize", help="write the summary tables of finished probe directories that lack them "
                                         "(what Figure 2, listings and statistics read instead of the rows)")
    p.add_argument("path", nargs="?", default="runs",
                   help="a probe directory, or a runs directory: every finished probe under it (default: %(default)s)")
    p.add_argument("--summary-bins", default="", help="p edges to count by besides Figure 2's (comma list, e.g. "
                                                      "0.5,0.99): every directory is summarized again with them")
    p.set_defaults(func=run_summarize)


def run_summarize(args) -> int:
    from probscope.probe.config import ProbeOptions
    from probscope.probe.summaries import summarize_all

    edges = cast("tuple[float, ...]", ProbeOptions(summary_bins=args.summary_bins).summary_bins)   # parsed there
    count = summarize_all(args.path, edges)
    print(f"probscope summarize: {args.path}: {count} probe director{'y' if count == 1 else 'ies'} summarized")
    return 0
