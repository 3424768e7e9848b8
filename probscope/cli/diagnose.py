"""`probscope diagnose RUN [--against RUN]`: which tokens a run left behind at its final probed step.

    probscope diagnose dft --against sft --runs runs
"""

from __future__ import annotations

from probscope.cli.commands import COMMANDS


@COMMANDS.register("diagnose")
def add_diagnose_command(sub) -> None:
    from probscope.analysis.left_behind import DEFAULT_BELOW
    from probscope.runs import DEFAULT_PROBE_DATASET

    p = sub.add_parser("diagnose", help="report the tokens a run still gives low probability at its final step "
                                        "(end of reply, roles, most frequent tokens)")
    p.add_argument("run", help="run name (a directory under --runs)")
    p.add_argument("--against", metavar="RUN", help="a second run to compare with (e.g. the SFT run)")
    p.add_argument("--runs", default="runs", help="runs directory (default: ./runs, the built-in demo runs)")
    p.add_argument("--dataset", default=DEFAULT_PROBE_DATASET, help="probed dataset to read (default: %(default)s)")
    p.add_argument("--below", type=float, default=DEFAULT_BELOW, help="probability threshold (default: %(default)s)")
    p.set_defaults(func=_diagnose)


def _diagnose(args) -> None:
    from probscope.analysis.diagnose import diagnose

    print(diagnose(args.runs, args.run, against=args.against, dataset=args.dataset, below=args.below))
