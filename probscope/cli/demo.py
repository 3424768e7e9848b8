"""`probscope demo`: build the built-in runs and start the dashboard."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS


@COMMANDS.register("demo")
def add_demo_command(sub) -> None:
    p = sub.add_parser("demo", help="build the built-in runs (base, SFT, DFT, DPO, GRPO, probes, evaluations) "
                                    "and start the dashboard")
    p.add_argument("--runs", default="runs", help="runs directory to build into and show (default: runs)")
    p.add_argument("--no-serve", action="store_true", help="build the runs and exit without starting the dashboard")
    p.add_argument("--smoke", action="store_true",
                   help="a seconds-long build (small task, 1-layer model, 4 steps) that checks an installation")
    p.add_argument("--port", type=int, default=8501, help="dashboard port on 127.0.0.1")
    p.set_defaults(func=run_demo)


def run_demo(args) -> int:
    import subprocess

    from probscope import demo
    from probscope.app import streamlit_command
    from probscope.builtin.settings import smoke_settings

    options = {}
    if args.smoke:
        task, overrides, probe_examples, rl_runs = smoke_settings()
        options = {"task": task, "overrides": overrides, "probe_examples": probe_examples, "rl_runs": rl_runs}
    server: list[subprocess.Popen] = []
    if not args.no_serve:   # first: the dashboard shows each run as it lands (auto-refresh on)
        print(f"dashboard: http://127.0.0.1:{args.port}  (Ctrl+C stops it; the runs appear as they are built)")
        server.append(subprocess.Popen(streamlit_command(args.runs, args.port, live=True)))

    try:
        demo.build_demo_runs(args.runs, **options)
        if server:
            print("demo: every run is built; the dashboard keeps running (Ctrl+C stops it)")
            return server[0].wait()
    finally:
        for process in server:
            if process.poll() is None:
                process.terminate()
    return 0
