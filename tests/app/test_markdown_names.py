"""Run and dataset names with Markdown's special characters show literally on every dashboard page: Streamlit
renders st.markdown, captions, alerts, headers and widget labels as Markdown, so the dashboard escapes user text
with probscope.app.text.md (and code for inline code, html.escape in HTML).

The escaping is checked three ways: against a table written by hand; by helpers.markdown_text, CommonMark's
unescaping written apart, on every text element of every page and view of a runs directory whose runs are named
`base <b>`, `sft_[lr]*` and `dft `$x$`` (the escaped name in the source, the literal name once unescaped, the raw
name nowhere); and, where Chromium is installed, by what a real browser shows.

    .venv/bin/pytest tests/app/test_markdown_names.py -q
"""

from __future__ import annotations

import html
import importlib.util
import io
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO
from helpers import build_dashboard_runs, build_fixture_runs, every_dashboard_view, markdown_text
from streamlit.testing.v1 import AppTest

from probscope import schema
from probscope.app.dashboard import VIEWS
from probscope.app.example import COLOURINGS
from probscope.app.text import code, md
from probscope.runs import PROBES, Run

MD = [
    ("plain words 42", "plain words 42"),
    ("dft*?", r"dft\*?"),
    ("sft[lr=1e-4]", r"sft\[lr=1e\-4\]"),
    ("a_b__c", r"a\_b\_\_c"),
    ("`x`", r"\`x\`"),
    ("$x$ and $y$", r"\$x\$ and \$y\$"),
    ("<b>bold</b>", r"\<b\>bold\</b\>"),
    ("a&amp;b", r"a\&amp;b"),
    ("back\\slash", r"back\\slash"),
    ("# h", r"\# h"),
    ("1. x", r"1\. x"),
    ("- + > | ~ !", r"\- \+ \> \| \~ \!"),
    ("{x}(y)", r"\{x\}\(y\)"),
    ("me@x.org", r"me\@x\.org"),
    (":smile: :red[x]", r"&#58;smile&#58; &#58;red\[x\]"),
    ("/a,b;c=d'e\"f?g%", "/a,b;c=d'e\"f?g%"),
    (3, "3"),
]
CODE = [
    ("x", "`x`"),
    ("a`b", "``a`b``"),
    ("`x", "`` `x ``"),
    ("a``b`", "``` a``b` ```"),
    (" x ", "`  x  `"),
    (" x", "` x`"),
    ("$x$ *y*", "`$x$ *y*`"),
]


@pytest.mark.parametrize(("text", "escaped"), MD)
def test_md_escapes_what_markdown_would_read(text, escaped):
    assert md(text) == escaped
    assert markdown_text(md(text)) == str(text)


@pytest.mark.parametrize(("text", "span"), CODE)
def test_code_fences_any_text(text, span):
    assert code(text) == span


def test_every_ascii_character_round_trips():
    text = "".join(map(chr, range(32, 127))) * 2
    assert markdown_text(md(text)) == text
    assert markdown_text(md(md(text))) == md(text)   # escaping twice shows the escaped text, not the name


# ---- every page of the dashboard ---------------------------------------------------------------------------
RUNS = {"base": "base <b>", "sft": "sft_[lr]*", "dft": "dft `$x$`"}   # fixture run -> its odd name
DATASET = ("facts-train", "facts :smile: $1$ [2]")


@pytest.fixture(scope="module")
def odd_root(tmp_path_factory) -> Path:
    root = build_dashboard_runs(tmp_path_factory.mktemp("markdown") / "runs")
    for fixture, name in RUNS.items():
        (root / fixture).rename(root / name)
    shutil.move(root / RUNS["base"] / PROBES / DATASET[0], root / RUNS["base"] / PROBES / DATASET[1])
    return root


def texts(app: AppTest) -> list[str]:
    """The Markdown source of every text element, widget label and radio option now on the page."""
    shown = [element.value for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning",
                                        "error", "success") for element in getattr(app, kind)]
    for kind in ("selectbox", "multiselect", "radio", "toggle", "select_slider", "text_input", "number_input",
                 "slider", "checkbox"):
        for widget in app.get(kind):
            shown.append(widget.label)
            shown += list(widget.options) if kind in ("radio", "select_slider") else []
    return shown


def every_view(root: Path, monkeypatch) -> dict[tuple[str, str], list[str]]:
    """(page, view) -> texts(), for every view of every page, and the sidebar's legend (st.html) as ("", "")."""
    return {(title, view): texts(app) if title else [element.proto.body for element in app.get("html")]
            for title, view, app in every_dashboard_view(root, monkeypatch)}


def shown_literally(shown: dict[tuple[str, str], list[str]]) -> dict[str, int]:
    """Each odd name's count of sources that show it; every such source holds it escaped, none holds it raw."""
    seen = {name: 0 for name in [*RUNS.values(), DATASET[1]]}
    for view, sources in shown.items():
        for source in sources:
            for name in seen:
                assert name not in source, (view, source)                 # never as Markdown would read it
                if name in markdown_text(source):
                    assert md(name) in source, (view, source)             # escaped, and shown as itself
                    seen[name] += 1
    return seen


def test_every_page_shows_odd_names_literally(odd_root, monkeypatch):
    shown = every_view(odd_root, monkeypatch)
    legend = "".join(shown.pop(("", "")))
    assert all(html.escape(name) in legend and name not in legend for name in RUNS.values() if "<" in name)
    seen = shown_literally(shown)
    assert all(count >= 3 for count in seen.values()), seen               # sidebar, captions, findings, labels
    assert f"Step of {md(RUNS['dft'])}" in shown["Overview", ""]          # a widget label


def test_a_token_bar_and_two_checkpoints_show_odd_names_literally(odd_root, monkeypatch):
    """The views a click or a second choice opens: a token bar's examples, two checkpoints side by side."""
    dft, sft = RUNS["dft"], RUNS["sft"]
    monkeypatch.setenv("PROBSCOPE_RUNS", str(odd_root))
    app = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    app.query_params.update(view="Probability range", threshold="0.01")
    app.switch_page(str(VIEWS / "tokens.py")).run()
    listing = pl.read_ipc_stream(io.BytesIO(app.get("vega_lite_chart")[0].proto.datasets[0].data.data))
    token = listing.filter((pl.col(schema.RUN) == dft) & (pl.col("rank") == 1))[schema.TOKEN][0]
    app.selectbox(key="bar").set_value((dft, 10, token)).run()
    assert not app.exception and not app.error
    bar = texts(app)
    assert any(f"in this range under DFT · {dft} · step 10**" in markdown_text(text) for text in bar)
    app.query_params.update(example_a=f"{dft}:10", example_b=f"{sft}:10")
    app.radio(key="view:Tokens").set_value("Example viewer").run()
    assert app.selectbox(key="example_b").value == (sft, 10)
    for colouring in COLOURINGS:   # side by side, then the change in p
        app.radio(key="example_color").set_value(colouring).run()
        assert not app.exception and not app.error
        shown = texts(app)
        assert any(f"p under SFT · {sft} · step 10 minus p under DFT · {dft}" in markdown_text(text)
                   for text in shown) == (colouring == COLOURINGS[1])
        bar += shown
    seen = shown_literally({("Tokens", ""): bar})
    assert seen[dft] >= 4 and seen[sft] >= 2, seen


def test_errors_name_an_odd_run_literally(tmp_path, monkeypatch):
    """A damaged run's errors (Figure 2 per run, polarization, its findings) name it and its file as written."""
    root = build_fixture_runs(tmp_path / "runs")
    name = RUNS["dft"]
    (root / "dft").rename(root / name)
    for part in Run(root / name).probe_dir(10).glob("part-*.parquet"):
        part.write_bytes(b"not parquet")
    monkeypatch.setenv("PROBSCOPE_RUNS", str(root))
    app = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=60)
    app.run()
    errors = [error.value for error in app.error]
    shown = [markdown_text(error) for error in errors]
    assert {f"Figure 2 of {name}", f"Findings for {name}", "Polarization"} == {text.split(": ")[0] for text in shown}
    assert all(str(root / name) in text and name not in error for text, error in zip(shown, errors, strict=True))


# ---- what a browser shows ----------------------------------------------------------------------------------
BROWSER_APP = """
import streamlit as st
from probscope.app.text import code, md

st.title("Names")
for i, name in enumerate({names!r}):
    with st.container(key=f"case-{{i}}"):
        st.markdown(f"**{{md(name)}}**")
        st.caption(md(name) + ": after")
        st.markdown(f"**{{md(name)}}** x", unsafe_allow_html=True)
        st.selectbox(md(name), ["o"], key=f"s{{i}}")
        st.radio("r", [name], format_func=md, key=f"r{{i}}")
        st.markdown("c " + code(name))
"""
SHOWN = """i => [...document.querySelector('.st-key-case-' + i).querySelectorAll(
  '[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"]')].map(element => element.innerText)"""
# What escaping cannot keep: Streamlit turns " -- " into a dash and ":streamlit:" into its logo after parsing, on
# the text itself; it rewrites ":material/" to ":material_" before parsing, inside code too.
BROWSER_NAMES = [*(text for text, _ in MD if isinstance(text, str)), "base <b>", "sft_[lr]*", "dft `$x$`",
                 "x:smile", "http://x.org", "www.x.org", "![i](u)", "x<y>z", "> q", "~~s~~", "*a* _b_ **c**"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/chromium").is_file() or importlib.util.find_spec("playwright") is None,
                    reason="needs /usr/bin/chromium and playwright")
@pytest.mark.timeout(180)
def test_a_browser_shows_the_escaped_text_as_written(tmp_path):
    from playwright.sync_api import sync_playwright

    from probscope.perf.browser import dashboard_server, open_chromium, wait_until_idle

    script = tmp_path / "names.py"
    script.write_text(BROWSER_APP.format(names=BROWSER_NAMES))
    with (dashboard_server(tmp_path, script=script, log=tmp_path / "server.log") as url,
          sync_playwright() as playwright):
        page = open_chromium(playwright).new_page()
        page.goto(url)
        wait_until_idle(page, "Names", timeout_s=90)
        for i, name in enumerate(BROWSER_NAMES):
            bold, caption, with_html, label, radio_label, option, in_code = page.evaluate(SHOWN, i)
            assert [bold, caption, with_html, label, option, in_code] == [
                name, f"{name}: after", f"{name} x", name, name, f"c {name}"], name
            assert radio_label == "r"
