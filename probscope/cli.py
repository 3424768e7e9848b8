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
    from probscope.runs import DEFAULT_PROBE_DATASET

    p = sub.add_parser("export", help="write Figure 2 and the lowest-bin token listing for a runs directory")
    p.add_argument("--runs", default="runs", help="runs directory (default: ./runs, the built-in demo runs)")
    p.add_argument("--out", required=True, help="directory to write the figures and their CSV tables into")
    p.add_argument("--format", default="png,pdf", help="comma-separated image formats (default: png,pdf)")
    p.add_argument("--dataset", default=DEFAULT_PROBE_DATASET, help="probed dataset to read (default: %(default)s)")
    p.add_argument("--step", default="last", help="'last' (default), 'all', or comma-separated steps")
    p.add_argument("--run", action="append", dest="run_names", metavar="NAME",
                   help="only this run (repeat for several; default: every run with finished probe tables)")
    p.set_defaults(func=_export)


def _export(args) -> None:
    import time

    from probscope.plots.export import export_figures

    start = time.perf_counter()
    paths = export_figures(
        args.runs, args.out, formats=args.format.split(","), dataset=args.dataset,
        steps=_parse_steps(args.step), runs=args.run_names,
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
        raise ProbscopeError(f"--step: '{text}' is not 'last', 'all' or comma-separated step numbers") from None


# ---- train / demo ----------------------------------------------------------------------------------
def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train one run from a recipe YAML (flags override its keys)", add_help=False,
        description="probscope train RECIPE.yaml [--key value ...]; `probscope train --help` lists every key.",
    )
    p.add_argument("recipe_args", nargs=argparse.REMAINDER)

    def run(args) -> None:
        from probscope import training

        if {"-h", "--help"} & set(args.recipe_args):
            training.recipe_parser().print_help()
            return
        training.main(args.recipe_args)

    p.set_defaults(func=run)


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="build the built-in runs (base, SFT, DFT, probes) and start the dashboard")
    p.add_argument("--runs", default="runs", help="runs directory to build into and show (default: runs)")
    p.add_argument("--no-serve", action="store_true", help="build the runs and exit without starting the dashboard")
    p.add_argument("--port", type=int, default=8501, help="dashboard port on 127.0.0.1")

    def run(args) -> None:
        from probscope import demo

        demo.build_demo_runs(args.runs)
        if not args.no_serve:
            demo.serve_dashboard(args.runs, args.port)

    p.set_defaults(func=run)


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
