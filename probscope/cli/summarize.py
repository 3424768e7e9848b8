"""`probscope summarize PATH`: give finished probe directories written before summaries existed their summary tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from probscope.cli.commands import command


@dataclass
class SummarizeOptions:
    path: str = field(default="runs", metadata={
        "help": "a probe directory, or a runs directory: every finished probe under it", "positional": True})
    summary_bins: str = field(default="", metadata={
        "help": "p edges to count by besides Figure 2's (comma list, e.g. 0.5,0.99): every directory is "
                "summarized again with them"})


@command("summarize", options=[SummarizeOptions],
         help="write the summary tables of finished probe directories that lack them "
              "(what Figure 2, listings and statistics read instead of the rows)")
def run_summarize(opts: SummarizeOptions) -> int:
    from probscope.probe.config import ProbeOptions
    from probscope.probe.summaries import summarize_all

    edges = cast("tuple[float, ...]", ProbeOptions(summary_bins=opts.summary_bins).summary_bins)   # parsed there
    count = summarize_all(opts.path, edges)
    print(f"probscope summarize: {opts.path}: {count} probe director{'y' if count == 1 else 'ies'} summarized")
    return 0
