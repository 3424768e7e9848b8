"""`probscope-bench dashboard`: how long each dashboard page takes in a real browser, cold and warm.

    probscope-bench dashboard                        # the runs in ./runs (else the smoke demo, built in a temp dir)
    probscope-bench dashboard --runs DIR --cold 3 --warm 8 --screenshots shots/

Drives Debian's Chromium (/usr/bin/chromium; `apt-get install chromium`) headless with Playwright.
A page's time runs from navigation until the app is idle: the script has finished (Streamlit's
script state), no element is still loading, and every chart has drawn its canvas.
  cold:   a fresh browser opens the page's URL on a server that has just started and served one other
          page that caches nothing this page uses (the Runs page; Benchmarks before Runs): nothing of
          the page is cached, the server's one-time imports are done (median of --cold loads per page).
  server: the same with nothing served before (the one-time imports of a freshly started server included).
  warm:   one server and browser that have shown every page once; the page reached by its sidebar link
          (median of --warm visits): what a user sees moving between pages.
Last line: JSON with pages ({title: {cold_s, server_s, warm_s}}), cold_s_max, server_s_max, warm_s_max.
Targets: cold <= 2 s, warm <= 0.3 s.

The server and browser helpers live in probscope.perf.browser (the browser test uses them too).
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from probscope.cli.commands import parse_options
from probscope.perf import BENCHES
from probscope.perf.browser import click_page, dashboard_server, open_chromium, open_page, page_paths


def smoke_runs(root: Path) -> Path:
    from probscope.builtin.settings import smoke_settings
    from probscope.demo import build_demo_runs

    task, overrides, examples, rl_runs = smoke_settings()
    build_demo_runs(root, task=task, overrides=overrides, probe_examples=examples, rl_runs=rl_runs)
    return root


@dataclass
class DashboardBenchOptions:
    runs: str = field(default="runs", metadata={
        "help": "runs directory (default: ./runs; the smoke demo if it has none)"})
    cold: int = field(default=3, metadata={"help": "cold loads per page"})
    warm: int = field(default=8, metadata={"help": "warm visits per page"})
    screenshots: str | None = field(default=None, metadata={"help": "save a screenshot of each page here"})


@BENCHES.register("dashboard")
def main(argv: list[str] | None = None) -> dict:
    args = parse_options(DashboardBenchOptions, argv, prog="probscope-bench dashboard",
                         description=__doc__.split("\n\n")[0])
    from probscope.runs import discover_runs

    with tempfile.TemporaryDirectory() as tmp:
        runs_root = Path(args.runs)
        try:
            discover_runs(runs_root)
        except Exception:   # no runs there: measure on the smoke demo
            print(f"{runs_root}: no runs; building the smoke demo in {tmp}")
            runs_root = smoke_runs(Path(tmp) / "runs")
        result = measure_pages(runs_root, page_paths(), cold_loads=args.cold, warm_visits=args.warm, log_dir=Path(tmp),
                               screenshots=args.screenshots)
    return {"pages": result, **{f"{kind}_max": max(r[kind] for r in result.values())
                                for kind in ("cold_s", "server_s", "warm_s")},
            "runs": str(runs_root), "cold_loads": args.cold, "warm_visits": args.warm}


def measure_pages(runs_root: Path, pages: list[tuple[str, str]], *, cold_loads: int, warm_visits: int, log_dir: Path,
                  screenshots: str | None = None) -> dict[str, dict[str, float]]:
    """title -> cold_s, server_s, warm_s (medians) of each of `pages` ((title, path) of page_paths) on `runs_root`."""
    from playwright.sync_api import sync_playwright

    everything = page_paths()
    cold: dict[str, list[float]] = {title: [] for title, _ in pages}
    server: dict[str, list[float]] = {title: [] for title, _ in pages}
    warm: dict[str, list[float]] = {title: [] for title, _ in pages}
    log = log_dir / "server.log"
    with sync_playwright() as playwright:
        browser = open_chromium(playwright)

        def fresh_load(url: str, title: str, path: str) -> float:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            seconds = open_page(context.new_page(), url, title, path)
            context.close()
            return seconds

        for rep in range(cold_loads):
            for title, path in pages:
                with dashboard_server(runs_root, log=log) as url:
                    server[title].append(fresh_load(url, title, path))
                with dashboard_server(runs_root, log=log) as url:
                    # the Runs page caches nothing another page uses (Benchmarks before Runs)
                    fresh_load(url, *everything[-2 if (title, path) == everything[-1] else -1])
                    cold[title].append(fresh_load(url, title, path))
            print(f"cold {rep + 1}/{cold_loads}: " + ", ".join(f"{t} {cold[t][-1]:.2f}s" for t, _ in pages))
            print(f"server {rep + 1}/{cold_loads}: " + ", ".join(f"{t} {server[t][-1]:.2f}s" for t, _ in pages))
        with dashboard_server(runs_root, log=log) as url:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            open_page(page, url, *pages[0])
            for title, _ in pages[1:]:   # every page once: its data cached, its scripts loaded
                click_page(page, title)
            for rep in range(warm_visits):
                for title, _ in pages:
                    warm[title].append(click_page(page, title))
                    if screenshots and rep == 0:
                        Path(screenshots).mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(Path(screenshots) / f"{Path(title.lower()).stem}.png"))
            print("warm: " + ", ".join(f"{t} {statistics.median(warm[t]):.3f}s" for t, _ in pages))
        browser.close()
    return {title: {"cold_s": round(statistics.median(cold[title]), 3),
                    "server_s": round(statistics.median(server[title]), 3),
                    "warm_s": round(statistics.median(warm[title]), 3)} for title, _ in pages}
