"""probscope dashboard: the runs of a runs directory, their token-probability distributions, tokens,
gradient weights and benchmark curves, as interactive charts.

    probscope dashboard [--runs DIR]                   # from anywhere, once probscope is installed
    streamlit run app/main.py -- --runs DIR            # from a checkout (reads ./runs or $PROBSCOPE_RUNS)

main() draws the shared sidebar (runs directory, dataset, runs, step per run), stores the choice as a
state.Selection in st.session_state and runs the chosen page (views/). Pages call probscope and render;
only polars and Altair load here: no torch, so the dashboard starts in about a second.

The pages live in views/, not pages/: Streamlit runs a pages/ folder beside the entry script as an
old-style multipage app (each page without this script) whenever st.navigation has not run yet.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

from probscope import schema
from probscope.app import state
from probscope.app.ui import problem
from probscope.errors import ProbscopeError, first_line
from probscope.plots.style import method_color
from probscope.runs import DEFAULT_PROBE_DATASET, discover_runs

VIEWS = Path(__file__).resolve().parent / "views"
BUILD_DEMO = "build the demo runs with `make demo` (or `probscope demo --no-serve`)"
# (file in views/, title in the menu and the browser tab); the first is the landing page. No icons: the
# menu's Material icons are fetched from the internet, which the dashboard must not need.
PAGES = (
    ("overview.py", "Overview"),
    ("distributions.py", "Distributions"),
    ("tokens.py", "Tokens"),
    ("gradients.py", "Gradient weights"),
    ("benchmarks.py", "Benchmarks"),
    ("runs.py", "Runs"),
)


def default_runs_dir() -> str:
    """`-- --runs DIR` on the streamlit command line, else $PROBSCOPE_RUNS, else ./runs."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runs")
    flags, _ = parser.parse_known_args(sys.argv[1:])
    return flags.runs or os.environ.get("PROBSCOPE_RUNS") or "runs"


def run_label(name: str, methods: dict[str, str]) -> str:
    return f"{name} ({schema.method_label(methods[name])})" if methods[name] != name else name


def method_legend(chosen: list[str], methods: dict[str, str]) -> str:
    """The chosen runs as swatches in their method's colour, the colours every chart and export uses."""
    swatches = (f'<span style="color:{method_color(methods[name], i)}">&#9632;</span>&nbsp;{run_label(name, methods)}'
                for i, name in enumerate(chosen))
    return '<div style="font-size:0.875rem;line-height:1.6">' + "<br>".join(swatches) + "</div>"


def choose_runs(dataset: str, probed: list[str]) -> list[str]:
    """The runs multiselect, remembering the choice per dataset: switching datasets and back keeps it."""
    memory: dict[str, list[str]] = st.session_state.setdefault("_runs_by_dataset", {})
    if st.session_state.get("_runs_dataset") != dataset or not set(st.session_state.get("runs", [])) <= set(probed):
        from_url = [name for name in st.query_params.get("runs", "").split(",") if name in probed]
        remembered = [name for name in memory.get(dataset, probed) if name in probed]
        first_visit = "_runs_dataset" not in st.session_state
        st.session_state["runs"] = (from_url if first_visit and from_url else remembered)
    st.session_state["_runs_dataset"] = dataset
    chosen = st.multiselect("Runs", probed, key="runs", placeholder="Choose runs to compare")
    memory[dataset] = chosen
    return chosen


def choose_step(name: str, steps: list[int]) -> int:
    """A step per run, seeded from ?steps=run:step,... and reset to the last when its probe vanished."""
    key = f"step:{name}"
    from_url = dict(part.split(":", 1) for part in st.query_params.get("steps", "").split(",") if ":" in part)
    if st.session_state.get(key) not in steps:
        wanted = from_url.get(name, "")
        st.session_state[key] = int(wanted) if wanted.isdigit() and int(wanted) in steps else steps[-1]
    return st.selectbox(f"Step of {name}", steps, key=key, format_func=lambda step: f"step {step}")


def sidebar() -> tuple[str | None, state.Selection | None, str | None]:
    """(runs directory if it holds runs, the selection if there is one, why something is missing)."""
    with st.sidebar:
        if "runs_dir" not in st.session_state:
            st.session_state["runs_dir"] = default_runs_dir()
        runs_root = st.text_input("Runs directory", key="runs_dir").strip()
        try:
            runs = discover_runs(runs_root)
        except ProbscopeError as e:
            return None, None, f"{e}. Or run `make demo`, or enter another runs directory in the sidebar."
        methods, broken = {}, []
        for run in runs:
            try:
                methods[run.name] = run.read_manifest().method
            except ProbscopeError as e:   # one corrupt manifest must not hide the other runs
                broken.append(first_line(e))
        if broken:
            st.warning(f"Skipped {len(broken)} run(s) whose manifest cannot be read (see the Runs page): "
                       + "; ".join(broken))
        readable = [run for run in runs if run.name in methods]
        datasets = sorted({dataset for run in readable for dataset in run.probe_datasets()} | {DEFAULT_PROBE_DATASET})
        if st.session_state.get("dataset") not in datasets:
            wanted = st.query_params.get("dataset")
            st.session_state["dataset"] = wanted if wanted in datasets else DEFAULT_PROBE_DATASET
        dataset = st.selectbox("Probed dataset", datasets, key="dataset")
        probed = {run.name: run_steps for run in readable if (run_steps := run.probed_steps(dataset))}
        if not probed:
            return runs_root, None, (
                f"{runs_root}: no run has a finished probe table for dataset '{dataset}' yet. "
                f"Probe its checkpoints with `probscope probe`, or {BUILD_DEMO}."
            )
        chosen = st.session_state["chosen_runs"] = choose_runs(dataset, list(probed))
        steps = {name: choose_step(name, probed[name]) for name in chosen}
        if chosen:
            st.markdown(method_legend(chosen, methods), unsafe_allow_html=True)
    st.query_params.update({"dataset": dataset, "runs": ",".join(chosen),
                            "steps": ",".join(f"{name}:{step}" for name, step in steps.items())})
    if not steps:
        return runs_root, None, "Choose at least one run in the sidebar."
    selection = state.Selection(
        runs_root=runs_root, dataset=dataset, steps=tuple(steps.items()),
        probed=tuple((name, tuple(found)) for name, found in probed.items()),
        methods=tuple((name, methods[name]) for name in probed),
    )
    return runs_root, selection, None


def main() -> None:
    """One run of the dashboard script: navigation, page config, the sidebar, then the chosen page."""
    pages = [st.Page(VIEWS / file, title=title, default=i == 0) for i, (file, title) in enumerate(PAGES)]
    page = st.navigation(pages)
    st.set_page_config(page_title=f"{page.title} · probscope", layout="wide")
    if st.session_state.get("page") not in (None, page.title):   # another page's ?view= means nothing here
        st.query_params.pop("view", None)
    st.session_state["page"] = page.title
    st.session_state["chosen_runs"] = None   # the sidebar sets it when it offers runs to choose
    runs_root, selection, missing = sidebar()
    st.session_state["runs_root"], st.session_state["selection"] = runs_root, selection
    st.session_state["missing"] = missing
    with problem(page.title):   # a data problem the page did not catch: one readable line, the sidebar still works
        page.run()
