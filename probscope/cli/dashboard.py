"""`probscope dashboard [--runs DIR] [--port N]`: serve the Streamlit dashboard on 127.0.0.1."""

from __future__ import annotations

from probscope.cli.commands import COMMANDS


@COMMANDS.register("dashboard")
def add_dashboard_command(sub) -> None:
    p = sub.add_parser("dashboard", help="serve the dashboard for a runs directory on 127.0.0.1")
    p.add_argument("--runs", default="runs", help="runs directory to show (default: %(default)s)")
    p.add_argument("--port", type=int, default=8501, help="port on 127.0.0.1 (default: %(default)s)")
    p.set_defaults(func=run_dashboard)


def run_dashboard(args) -> int:
    from probscope.app import serve

    return serve(args.runs, args.port)
