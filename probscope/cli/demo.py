"""`probscope demo`: build the built-in runs and start the dashboard."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS


@COMMANDS.register("demo")
def add_demo_command(sub) -> None:
    p = sub.add_parser("demo", help="build the built-in runs (base, SFT, DFT, probes) and start the dashboard")
    p.add_argument("--runs", default="runs", help="runs directory to build into and show (default: runs)")
    p.add_argument("--no-serve", action="store_true", help="build the runs and exit without starting the dashboard")
    p.add_argument("--smoke", action="store_true",
                   help="a seconds-long build (small task, 1-layer model, 4 steps) that checks an installation")
    p.add_argument("--port", type=int, default=8501, help="dashboard port on 127.0.0.1")
    p.set_defaults(func=run_demo)


def run_demo(args) -> None:
    from probscope import demo
    from probscope.app import serve

    if args.smoke:
        task, overrides, probe_examples = demo.smoke_settings()
        demo.build_demo_runs(args.runs, task=task, overrides=overrides, probe_examples=probe_examples)
    else:
        demo.build_demo_runs(args.runs)
    if not args.no_serve:
        serve(args.runs, args.port)
