"""The dashboard end to end in a real browser: `streamlit run app/main.py` driven by headless Chromium.

    .venv/bin/pytest tests/app/test_dashboard_browser.py -q

Needs Debian's Chromium (/usr/bin/chromium; the Makefile's test target installs it) and the playwright
package; skipped without them. Screenshots of every page land in the test's tmp dir.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from conftest import REPO
from helpers import build_dashboard_runs

from probscope import schema
from probscope.perf.browser import CHROMIUM, dashboard_server, drawn_marks, open_chromium, page_paths, wait_until_idle
from probscope.runs import Run

APP = REPO / "app" / "main.py"
IDLE_S = 90   # a page's first load on a 2-core machine shared with other jobs can take tens of seconds
# (page, ?view= or None, charts it draws on the fixture runs); every one of them must draw marks
VIEWS = (("Overview", None, 1), ("Distributions", "Figure 2", 1), ("Distributions", "Over training", 1),
         ("Distributions", "Over training&over_layout=Heatmap", 2),
         ("Distributions", "Same tokens", 1), ("Distributions", "By role", 1), ("Tokens", "Probability range", 1),
         ("Tokens", "Movers", 0), ("Tokens", "Left behind", 0), ("Tokens", "Example viewer", 0),
         ("Gradient weights", "Gradient mass per bin", 1), ("Gradient weights", "Training curves", 1),
         ("Gradient weights", "Weights while training", 1), ("Benchmarks", None, 1), ("Runs", None, 0),
         # runs grouped over seeds (sft and sft-s1): means with bands, each seed beside them; tokens seen on x
         ("Distributions", "Figure 2&group_by=seed&per_seed=True", 1),
         ("Gradient weights", "Training curves&group_by=seed&x_axis=tokens_seen", 1),
         ("Gradient weights", "Weights while training&group_by=seed&x_axis=tokens_seen", 1))

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                       reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed"),
    pytest.mark.timeout(300),   # 14 views and two links: ~80 s on a busy 2-core machine
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(URL of the dashboard on the fixture runs, a headless Chromium), shared by the tests of this file."""
    from playwright.sync_api import sync_playwright

    tmp = tmp_path_factory.mktemp("browser")
    root = build_dashboard_runs(tmp / "runs")
    shutil.copytree(root / "sft", root / "sft-s1")                                # sft's second seed
    manifest = Run(root / "sft-s1").read_manifest()
    manifest.name, manifest.seed = "sft-s1", 1
    Run(root / "sft-s1").write_manifest(manifest)
    with (dashboard_server(root, script=APP, log=tmp / "server.log") as url,
          sync_playwright() as playwright):
        browser = open_chromium(playwright)
        yield url, browser
        browser.close()


def test_every_page_in_chromium(served, tmp_path):
    url, browser = served
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    paths = dict(page_paths())
    for title, view, charts in VIEWS:
        page.goto(f"{url}/{paths[title]}" + (f"?view={view}" if view else ""))
        wait_until_idle(page, title, IDLE_S)
        page.screenshot(path=str(tmp_path / f"{paths[title] or 'overview'}-{view}.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0, (title, view)
        assert page.locator('[data-testid="stAlert"]:has-text("rror")').count() == 0, (title, view)
        assert page.title() == f"{title} · probscope"                              # a tab title per page
        marks = drawn_marks(page)
        assert len(marks) >= charts and all(count > 0 for count in marks), (title, view, marks)
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0          # no Deploy button

    # change a selection: sft's step in the sidebar moves Figure 2 and the URL
    page.goto(f"{url}/distributions")
    wait_until_idle(page, "Distributions", IDLE_S)
    figure2 = page.locator('[data-testid="stVegaLiteChart"]').first
    before = figure2.screenshot()
    # type into the box: a click alone may open its list below the viewport's bottom edge
    step_box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Step of sft")
    step_box.locator("input").first.click()
    page.keyboard.type("step 5")
    page.get_by_role("option", name="step 5", exact=True).click()
    page.wait_for_url("**steps=*sft%3A5*")
    wait_until_idle(page, "Distributions", IDLE_S)
    for _ in range(50):   # the chart repaints its canvas once the new data arrives
        if figure2.screenshot() != before:
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError("Figure 2 did not change after choosing sft's step 5")
    page.screenshot(path=str(tmp_path / "distributions-sft-step-5.png"))
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not errors, errors


def test_a_shared_link_reproduces_the_view_in_a_fresh_browser(served):
    """The example viewer's comparison checkpoint and the Same-tokens pair, opened from a link alone."""
    url, browser = served
    links = {"tokens?view=Example+viewer&example_a=sft%3A10&example_b=dft%3A5&example_below=0.001": (
                 "Tokens", ["SFT · step 10", "DFT · step 5"]),
             "distributions?view=Same+tokens&pair_a=dft%3A5&pair_b=sft%3A10": (
                 "Distributions", ["DFT · step 5", "SFT · step 10"])}
    for link, (title, shown) in links.items():
        page = browser.new_context().new_page()                                  # nothing remembered
        page.goto(f"{url}/{link}")
        wait_until_idle(page, title, IDLE_S)
        main = page.locator('[data-testid="stMainBlockContainer"]')
        for label in shown:
            assert main.get_by_text(label).count() > 0, (link, label)
        for key, value in (part.split("=") for part in link.split("?")[1].split("&")):
            assert f"{key}={value}" in page.url, (key, page.url)                # and it stays in the URL
        assert all(count > 0 for count in drawn_marks(page)), link
        # the copyable link is drawn when its popover opens (its code block's highlighter loads only then)
        code = page.locator('[data-testid="stCode"]')
        assert code.count() == 0, link
        page.locator('[data-testid="stSidebar"]').get_by_text("Link to this view").click()
        copied = code.first.inner_text(timeout=IDLE_S * 1000)
        assert all(part in copied for part in link.split("?")[1].split("&")), (link, copied)


def test_clicking_a_heatmap_cell_or_a_token_bar_drills_down(served):
    """A click on a step x bin cell moves the scrubber and the drill-down to its step and bin; a click on a token
    bar lists the examples behind it."""
    url, browser = served
    page = browser.new_context().new_page()
    page.goto(f"{url}/distributions?view=Over+training&over_run=sft&over_layout=Heatmap&over_step=10")
    wait_until_idle(page, "Distributions", IDLE_S)
    cells = page.locator('[data-testid="stVegaLiteChart"]').first.locator("svg g.role-mark > path")
    fields = [dict(part.split(": ", 1) for part in (cells.nth(i).get_attribute("aria-label") or "").split("; "))
              for i in range(cells.count())]
    at = next(i for i, cell in enumerate(fields) if cell["Step"] == "5" and cell["Bin"] != schema.BIN_LABELS[0])
    cells.nth(at).click()                                                  # a cell of step 5, not the first bin
    page.wait_for_url("**over_step=5*", timeout=IDLE_S * 1000)
    wait_until_idle(page, "Distributions", IDLE_S)
    assert f"drill_bin={quote_plus(fields[at]['Bin'])}" in page.url, page.url
    page.goto(f"{url}/tokens?threshold=0.01")
    wait_until_idle(page, "Tokens", IDLE_S)
    page.locator('[data-testid="stVegaLiteChart"]').first.locator("svg g.role-mark > path").first.click()
    page.wait_for_url("**bar=*", timeout=IDLE_S * 1000)
    wait_until_idle(page, "Tokens", IDLE_S)
    assert page.get_by_text("examples hold").count() > 0
