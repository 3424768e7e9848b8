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
import logging
import sys

from probscope.cli.commands import COMMANDS, add_command_parser, load_commands, run_command
from probscope.errors import ProbscopeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="probscope", description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    load_commands()
    for name, cmd in COMMANDS.items():
        add_command_parser(sub, name, cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # a command that takes the rest (train: its recipe keys) gets what argparse left (REMAINDER drops a leading --flag)
    args, rest = parser.parse_known_args(argv)
    if rest and not args.command_entry.takes_rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    # library modules report counts (rows encoded, examples truncated) through logging
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("probscope").addHandler(handler)
    logging.getLogger("probscope").setLevel(logging.INFO)
    try:
        result = run_command(args.command_entry, args, rest)
    except ProbscopeError as e:
        if args.debug:
            raise
        print(f"probscope {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"probscope {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:    # one handler per command: a second main() in the same process (tests, notebooks) adds its own
        logging.getLogger("probscope").removeHandler(handler)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
