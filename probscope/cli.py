"""`probscope` command line: thin subcommands that parse flags, call the library and report.

    probscope demo [--no-serve]        build the built-in runs (and start the dashboard)
    probscope train RECIPE.yaml        fine-tune / pretrain per a recipe (flags override its keys)
    probscope probe --model PATH --data FILE --out DIR
    probscope export --runs DIR --out DIR --format png,pdf

Errors meant for users (ProbscopeError) print as one line and exit 2; `--debug` shows the traceback.
Each subcommand imports its heavy dependencies only when it runs, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import sys

from probscope.errors import ProbscopeError


# ---- probe -----------------------------------------------------------------------------------------
def _add_probe(sub) -> None:
    p = sub.add_parser("probe", help="probe a model on a dataset: one row per target token, into Parquet")
    p.set_defaults(func=lambda args: print("probe: not implemented yet"))


# ---- export ----------------------------------------------------------------------------------------
def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write Figure 2 and the lowest-bin token listing for a runs directory")
    p.set_defaults(func=lambda args: print("export: not implemented yet"))


# ---- train / demo ----------------------------------------------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train one run from a recipe YAML")
    p.set_defaults(func=lambda args: print("train: not implemented yet"))


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="build the built-in runs (base, SFT, DFT) and start the dashboard")
    p.set_defaults(func=lambda args: print("demo: not implemented yet"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="probscope", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_demo, _add_train, _add_probe, _add_export):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except ProbscopeError as e:
        if args.debug:
            raise
        print(f"probscope {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"probscope {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
