"""The Streamlit dashboard: a thin layer that calls probscope's analyses and renders them.

    probscope dashboard --runs runs           # or: streamlit run app/main.py -- --runs runs

dashboard.py: the sidebar and navigation; views/: one script per page. Imports no torch.
"""

import logging
import os
import subprocess
import sys
from importlib import resources

# The file `streamlit run` executes; found through importlib so it works from a wheel as from a checkout.
STREAMLIT_SCRIPT = resources.files("probscope.app") / "main.py"
# The widgets' colour, as in .streamlit/config.toml: neutral, since red and blue are DFT's and SFT's colours.
PRIMARY_COLOR = "#475569"

# Streamlit defaults that cost every page (py-spy on the server during a cold page): a full gc.collect() after
# each script run (~135 ms holding the GIL on the dashboard's heap of pandas, pyarrow, polars and Altair, while
# the page's "finished" message and its JavaScript chunks wait to be sent) and a source-file watcher polling the
# installed package. Measured with probscope-bench dashboard's protocol, twice each way: cold 1.87 -> 1.70 s
# (Overview), 1.98 -> 1.89 s (Benchmarks); warm 0.29 -> 0.23 s (Overview). Python's own GC still runs.
FAST_SERVER = ("--runner.postScriptGC", "false", "--server.fileWatcherType", "none")

logger = logging.getLogger(__name__)


def streamlit_command(runs_root: str, port: int, script: str | os.PathLike | None = None, *,
                      live: bool = False) -> list[str]:
    """The `streamlit run` command serving the dashboard (`script`: another entry, e.g. a checkout's app/main.py)
    on 127.0.0.1:`port`, without the Deploy button or usage statistics; `live`: auto-refresh on from the start
    (runs being built land on the pages as they finish)."""
    # probscope.app.serve: `streamlit run` with the pages' libraries imported before the server answers
    return [sys.executable, "-m", "probscope.app.serve", "run", str(script or STREAMLIT_SCRIPT),
            "--server.address", "127.0.0.1", "--server.port", str(port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", *FAST_SERVER,
            "--client.toolbarMode", "viewer", "--theme.primaryColor", PRIMARY_COLOR, "--", "--runs", str(runs_root),
            *(["--live"] if live else [])]


def serve(runs_root: str, port: int = 8501) -> int:
    """Run the dashboard on 127.0.0.1:`port` until interrupted; returns streamlit's exit code."""
    logger.info(f"dashboard: http://127.0.0.1:{port}  (Ctrl+C stops it)")
    return subprocess.run(streamlit_command(runs_root, port), check=False).returncode
