"""The dashboard end to end in a real browser: `streamlit run app/main.py` driven by headless Chromium.

    .venv/bin/pytest tests/app/test_dashboard_browser.py -q

Needs Debian's Chromium (/usr/bin/chromium; the Makefile's test target installs it) and the playwright
package; skipped without them. Screenshots of every page land in the test's tmp dir.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import REPO
from helpers import build_dashboard_runs

from probscope.app.browser import CHROMIUM, dashboard_server, open_chromium, page_paths, wait_until_idle

APP = REPO / "app" / "main.py"
# charts each page draws on the fixture runs (at least)
CHARTS = {"Overview": 1, "Distributions": 1, "Tokens": 1, "Gradient weights": 1, "Benchmarks": 1, "Runs": 0}

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                       reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed"),
    pytest.mark.timeout(120),
]


def drawn_charts(page) -> int:
    return page.locator('[data-testid="stVegaLiteChart"]:has(canvas, svg)').count()


def test_every_page_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    runs_root = build_dashboard_runs(tmp_path / "runs")
    errors: list[str] = []
    with dashboard_server(runs_root, script=APP, log=tmp_path / "server.log") as url, sync_playwright() as playwright:
        browser = open_chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda error: errors.append(str(error)))
        for title, path in page_paths():
            page.goto(f"{url}/{path}")
            wait_until_idle(page, title)
            page.screenshot(path=str(tmp_path / f"{path or 'overview'}.png"), full_page=True)
            assert page.locator('[data-testid="stException"]').count() == 0, title
            assert page.title() == f"{title} · probscope"                              # a tab title per page
            assert drawn_charts(page) >= CHARTS[title], title
        assert page.locator('[data-testid="stAppDeployButton"]').count() == 0          # no Deploy button

        # change a selection: sft's step in the sidebar moves Figure 2 and the URL
        page.goto(f"{url}/distributions")
        wait_until_idle(page, "Distributions")
        figure2 = page.locator('[data-testid="stVegaLiteChart"]').first
        before = figure2.screenshot()
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Step of sft").click()
        page.get_by_role("option", name="step 5", exact=True).click()
        page.wait_for_url("**steps=*sft%3A5*")
        wait_until_idle(page, "Distributions")
        for _ in range(50):   # the chart repaints its canvas once the new data arrives
            if figure2.screenshot() != before:
                break
            page.wait_for_timeout(100)
        else:
            raise AssertionError("Figure 2 did not change after choosing sft's step 5")
        page.screenshot(path=str(tmp_path / "distributions-sft-step-5.png"))
        assert page.locator('[data-testid="stException"]').count() == 0
        browser.close()
    assert not errors, errors
