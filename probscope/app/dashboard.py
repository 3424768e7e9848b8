"""probscope dashboard: Figure 2, the lowest-bin tokens, training dynamics and the runs of a runs directory.

    probscope dashboard [--runs DIR]                   # from anywhere, once probscope is installed
    streamlit run app/main.py -- --runs DIR            # from a checkout (reads ./runs or $PROBSCOPE_RUNS)

main() draws the shared sidebar (runs directory, dataset, runs, step per run) and puts the choice
in st.session_state for the selected page; the pages (views/) call probscope and render. Only
polars and matplotlib load here: no torch, so the dashboard starts in about a second.

The pages live in views/, not pages/: Streamlit runs a pages/ folder beside the entry script as an
old-style multipage app (each page without this script) whenever st.navigation has not run yet.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import streamlit as st

from probscope.analysis import probe_signature
from probscope.errors import ProbscopeError
from probscope.runs import DEFAULT_PROBE_DATASET, discover_runs

VIEWS = Path(__file__).resolve().parent / "views"
BUILD_DEMO = "build the demo runs with `make demo` (or `probscope demo --no-serve`)"


def default_runs_dir() -> str:
    """`-- --runs DIR` on the streamlit command line, else $PROBSCOPE_RUNS, else ./runs."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runs")
    flags, _ = parser.parse_known_args(sys.argv[1:])
    return flags.runs or os.environ.get("PROBSCOPE_RUNS") or "runs"


def sidebar() -> tuple[str | None, dict | None, str | None]:
    """(runs directory if it holds runs, selection of probe tables if any, why something is missing)."""
    with st.sidebar:
        runs_root = st.text_input("Runs directory", value=default_runs_dir(), key="runs_dir")
        try:
            runs = discover_runs(runs_root)
        except ProbscopeError as e:
            return None, None, f"{e}. Or run `make demo`, or enter another runs directory in the sidebar."

        datasets = sorted({dataset for run in runs for dataset in run.probe_datasets()} | {DEFAULT_PROBE_DATASET})
        dataset = st.selectbox("Probed dataset", datasets, index=datasets.index(DEFAULT_PROBE_DATASET))
        probed = {run.name: steps for run in runs if (steps := run.probed_steps(dataset))}
        if not probed:
            return runs_root, None, (
                f"{runs_root}: no run has a finished probe table for dataset '{dataset}' yet. "
                f"Probe its checkpoints with `probscope probe`, or {BUILD_DEMO}."
            )
        chosen = st.multiselect("Runs", list(probed), default=list(probed), key="runs")
        steps = {
            name: st.selectbox(f"Step of {name}", probed[name], index=len(probed[name]) - 1, key=f"step:{name}")
            for name in chosen
        }
    if not steps:
        return runs_root, None, "Choose at least one run in the sidebar."
    selection = {
        "runs_root": runs_root,
        "dataset": dataset,
        "steps": tuple(steps.items()),
        "signature": probe_signature(runs_root, steps, dataset),   # cache key: changes when a table is rewritten
    }
    return runs_root, selection, None


def main() -> None:
    """One run of the dashboard script: page config, navigation, the sidebar, then the chosen page."""
    st.set_page_config(page_title="probscope", layout="wide")
    pages = {
        "figure2": st.Page(VIEWS / "figure2.py", title="Figure 2", default=True),
        "lowest_bin": st.Page(VIEWS / "lowest_bin.py", title="Lowest-bin tokens"),
        "dynamics": st.Page(VIEWS / "dynamics.py", title="Training dynamics"),
        "runs": st.Page(VIEWS / "runs.py", title="Runs"),
    }
    needs_probe_tables = (pages["figure2"], pages["lowest_bin"])

    page = st.navigation(list(pages.values()))
    runs_root, selection, missing = sidebar()
    st.session_state["runs_root"], st.session_state["selection"] = runs_root, selection
    if runs_root is None or (selection is None and page in needs_probe_tables):
        st.info(missing)
    else:
        try:
            page.run()
        except ProbscopeError as e:   # a user-facing problem in the data: one line, no traceback
            st.error(str(e))
