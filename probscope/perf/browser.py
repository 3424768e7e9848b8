"""Drive the dashboard in a real browser: a Streamlit server on a free loopback port and Debian's Chromium
through Playwright (its own browser download is unreachable offline). Used by `probscope-bench dashboard`
and the browser test; the dashboard itself never imports it (it lives with the bench, not the app).

    with dashboard_server("runs") as url, sync_playwright() as p:
        page = open_chromium(p).new_page(); page.goto(url); wait_until_idle(page, "Overview")
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Idle: the script finished, nothing is loading, every chart drew its canvas (or SVG), the page's title shows.
IDLE = """title => {
  const app = document.querySelector('[data-testid="stApp"]');
  const heading = document.querySelector('[data-testid="stMainBlockContainer"] h1');
  return app && app.dataset.testScriptState === 'notRunning' && heading && heading.innerText.trim() === title
    && !document.querySelector('[data-testid="stSkeleton"], [data-testid="stStatusWidget"]')
    && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].every(c => c.querySelector('canvas, svg'));
}"""


# Per chart of the page: how many marks (bars, lines, points, rules, cells) its Vega view drew, legends and
# axes left out. The app renders charts as SVG (ui.show_chart), where each mark is an element of a role-mark group.
MARKS = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
  .map(chart => chart.querySelectorAll(
    'svg g.role-mark > path, svg g.role-mark > line, svg g.role-mark > rect').length)"""


def drawn_marks(page) -> list[int]:
    """The marks each chart of the page drew (0: an empty chart, e.g. colours that are no CSS colour)."""
    return page.evaluate(MARKS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard_server(runs_root: str | Path, *, script: str | Path | None = None, log: Path | None = None,
                     timeout_s: float = 60) -> Iterator[str]:
    """`streamlit run` of the dashboard on a free loopback port; yields its URL once it answers, stops it after."""
    from probscope.app import streamlit_command

    port = free_port()
    out = open(log, "w") if log else subprocess.DEVNULL
    process = subprocess.Popen(streamlit_command(str(runs_root), port, script), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard server did not start (exit code {process.poll()}; log: {log})")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        if not isinstance(out, int):   # the log file opened above, not DEVNULL
            out.close()


def open_chromium(playwright):
    """Debian's Chromium, headless (Playwright's own browser download is not needed)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def wait_until_idle(page, title: str, timeout_s: float = 30) -> None:
    page.wait_for_function(IDLE, arg=title, timeout=timeout_s * 1000, polling=25)


def page_paths() -> list[tuple[str, str]]:
    """(title, URL path) of every page; the landing page is the root."""
    from probscope.app.dashboard import PAGES

    return [(title, "" if i == 0 else Path(file).stem) for i, (file, title) in enumerate(PAGES)]


def open_page(page, url: str, title: str, path: str) -> float:
    start = time.perf_counter()
    page.goto(f"{url}/{path}")
    wait_until_idle(page, title)
    return time.perf_counter() - start


def click_page(page, title: str) -> float:
    start = time.perf_counter()
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
    wait_until_idle(page, title)
    return time.perf_counter() - start
