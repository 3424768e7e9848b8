"""`probscope diagnose RUN [--against RUN]`: which tokens a run left behind at its final probed step.

    probscope diagnose dft --against sft --runs runs
"""

from __future__ import annotations

from dataclasses import dataclass, field

from probscope.analysis.left_behind import DEFAULT_BELOW
from probscope.cli.commands import command
from probscope.runs import DEFAULT_PROBE_DATASET


@dataclass
class DiagnoseOptions:
    run: str = field(metadata={"help": "run name (a directory under --runs)", "positional": True})
    against: str | None = field(default=None, metadata={
        "metavar": "RUN", "help": "a second run to compare with (e.g. the SFT run)"})
    runs: str = field(default="runs", metadata={"help": "runs directory (default: ./runs, the built-in demo runs)"})
    dataset: str = field(default=DEFAULT_PROBE_DATASET, metadata={"help": "probed dataset to read"})
    below: float = field(default=DEFAULT_BELOW, metadata={"help": "probability threshold"})


@command("diagnose", options=[DiagnoseOptions],
         help="report the tokens a run still gives low probability at its final step "
              "(end of reply, roles, most frequent tokens)")
def run_diagnose(opts: DiagnoseOptions) -> None:
    from probscope.analysis.diagnose import diagnose

    print(diagnose(opts.runs, opts.run, against=opts.against, dataset=opts.dataset, below=opts.below))
