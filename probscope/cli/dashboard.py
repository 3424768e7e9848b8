"""`probscope dashboard [--runs DIR] [--port N]`: serve the Streamlit dashboard on 127.0.0.1."""

from __future__ import annotations

from dataclasses import dataclass, field

from probscope.cli.commands import command


@dataclass
class DashboardOptions:
    runs: str = field(default="runs", metadata={"help": "runs directory to show"})
    port: int = field(default=8501, metadata={"help": "port on 127.0.0.1"})


@command("dashboard", help="serve the dashboard for a runs directory on 127.0.0.1", options=[DashboardOptions])
def run_dashboard(opts: DashboardOptions) -> int:
    from probscope.app import serve

    return serve(opts.runs, opts.port)
