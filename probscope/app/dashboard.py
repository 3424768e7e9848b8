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
import html
import os
import sys
from pathlib import Path
from urllib.parse import urlencode

import polars as pl
import streamlit as st

from probscope import schema
from probscope.app import charts, state
from probscope.app.seeds import RunFacts, flat_config
from probscope.app.text import md
from probscope.app.ui import choose_grouping, problem
from probscope.errors import ProbscopeError, first_line
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
# Beyond this many chosen runs the sidebar sets one run's step at a time (one widget per run would make
# 300 widgets at 300 runs).
MAX_STEP_WIDGETS = 8
LIVE_SECONDS = 3   # auto-refresh: how often the runs directory is checked for what jobs added


def command_line() -> argparse.Namespace:
    """`-- --runs DIR [--live]` on the streamlit command line."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runs")
    parser.add_argument("--live", action="store_true")
    return parser.parse_known_args(sys.argv[1:])[0]


def default_runs_dir() -> str:
    """`-- --runs DIR` on the streamlit command line, else $PROBSCOPE_RUNS, else ./runs."""
    return command_line().runs or os.environ.get("PROBSCOPE_RUNS") or "runs"


@st.fragment(run_every=LIVE_SECONDS)
def watch_runs(runs_root: str) -> None:
    """While auto-refresh is on: every LIVE_SECONDS, the whole page reruns if a job added or finished
    something in the runs directory (pages read it again through their file-signature caches)."""
    signature = state.runs_signature(runs_root)
    if st.session_state.setdefault("_live_signature", signature) != signature:
        st.session_state["_live_signature"] = signature
        st.rerun(scope="app")


def live_controls(runs_root: str, building: list[str]) -> None:
    """The auto-refresh toggle (on from the start under `probscope demo`) and the runs still being built."""
    state.url_state("live", command_line().live, lambda text: text == "True")
    if st.toggle("Auto-refresh", key="live", help=f"Check the runs directory every {LIVE_SECONDS} s and show "
                 "new checkpoints, probes, evaluations and training dynamics as they land"):
        st.query_params["live"] = "True"
        watch_runs(runs_root)
    else:
        st.query_params.pop("live", None)
    if building:
        st.caption("Still being built: " + ", ".join(map(md, building)))


def method_legend(chosen: list[str], methods: dict[str, str]) -> str:
    """The chosen runs as swatches in the colours the charts give them (a method's runs in its shades), for
    st.html: Markdown with HTML would fetch its 190 KB HTML parser with every page."""
    _, colors, _ = charts.with_run_series(pl.DataFrame({schema.RUN: chosen, schema.METHOD: [methods[name]
                                                                                          for name in chosen]}))
    swatches = (f'<span style="color:{color}">&#9632;</span>&nbsp;{html.escape(label)}'
                for label, color in colors.items())
    return '<div style="font-size:0.875rem;line-height:1.6">' + "<br>".join(swatches) + "</div>"


def choose_runs(dataset: str, probed: list[str]) -> list[str]:
    """The runs multiselect, remembering the choice per dataset: switching datasets and back keeps it."""
    memory: dict[str, list[str]] = st.session_state.setdefault("_runs_by_dataset", {})
    before = st.session_state.setdefault("_probed_by_dataset", {}).get(dataset)
    st.session_state["_probed_by_dataset"][dataset] = probed
    if before is not None and set(before) < set(probed) and set(st.session_state.get("runs", [])) == set(before):
        st.session_state["runs"] = probed   # every run was shown: the runs that landed since are shown too
    if st.session_state.get("_runs_dataset") != dataset or not set(st.session_state.get("runs", [])) <= set(probed):
        from_url = [name for name in st.query_params.get("runs", "").split(",") if name in probed]
        remembered = [name for name in memory.get(dataset, probed) if name in probed]
        first_visit = "_runs_dataset" not in st.session_state
        st.session_state["runs"] = (from_url if first_visit and from_url else remembered)
    st.session_state["_runs_dataset"] = dataset
    chosen = st.multiselect("Runs", probed, key="runs", placeholder="Choose runs to compare")
    memory[dataset] = chosen
    return chosen


def choose_steps(chosen: list[str], probed: dict[str, list[int]]) -> dict[str, int]:
    """A step per chosen run: remembered across pages, seeded from ?steps=run:step,..., the last probed step
    when neither holds one. A selectbox per run, or for one run at a time beyond MAX_STEP_WIDGETS runs."""
    remembered: dict[str, int] = st.session_state.setdefault("_steps", {})
    from_url = dict(part.rsplit(":", 1) for part in st.query_params.get("steps", "").split(",") if ":" in part)
    steps = {}
    for name in chosen:
        wanted = from_url.get(name, "")
        url_step = int(wanted) if wanted.isdigit() else None
        steps[name] = next(step for step in (remembered.get(name), url_step, probed[name][-1]) if step in probed[name])
    shown = chosen
    if len(chosen) > MAX_STEP_WIDGETS:
        shown = [st.selectbox("Set the step of", chosen, key="step_run")]
    for name in shown:
        key = f"step:{name}"
        if st.session_state.get(key) not in probed[name] or st.session_state[key] != steps[name]:
            st.session_state[key] = steps[name]
        steps[name] = st.selectbox(f"Step of {md(name)}", probed[name], key=key,
                                   format_func=lambda step: f"step {step}",
                                   on_change=_remember_step, args=(name,))
    remembered.update(steps)
    return steps


def _remember_step(name: str) -> None:
    st.session_state.setdefault("_steps", {})[name] = st.session_state[f"step:{name}"]


def dataset_label(dataset: str, runs: int) -> str:
    return f"{dataset} ({runs} run{'s' if runs != 1 else ''})"


def sidebar() -> tuple[str | None, state.Selection | None, str | None]:
    """(runs directory if it holds runs, the selection if there is one, why something is missing)."""
    with st.sidebar:
        if "runs_dir" not in st.session_state:
            st.session_state["runs_dir"] = default_runs_dir()
        runs_root = st.text_input("Runs directory", key="runs_dir").strip()
        try:
            runs = discover_runs(runs_root)
        except ProbscopeError as e:
            if command_line().live:   # `probscope demo` starts the dashboard before its first run exists
                watch_runs(runs_root)
                return None, None, f"{md(runs_root)}: no run yet; the demo is building them (this page refreshes)."
            return None, None, f"{md(e)}. Or run `make demo`, or enter another runs directory in the sidebar."
        methods, facts, broken, building = {}, {}, [], []
        for run in runs:
            try:
                manifest = run.read_manifest()
            except (ProbscopeError, OSError) as e:   # one corrupt manifest must not hide the other runs
                broken.append(first_line(e))
                continue
            methods[run.name] = manifest.method
            facts[run.name] = RunFacts(manifest.method, manifest.seed, flat_config(manifest.config))
            if manifest.status == "running":
                building.append(run.name)
        live_controls(runs_root, building)
        if broken:
            st.warning(f"Skipped {len(broken)} run(s) whose manifest cannot be read (see the Runs page): "
                       + "; ".join(map(md, broken)))
        readable = [run for run in runs if run.name in methods]
        datasets = sorted({dataset for run in readable for dataset in run.probe_datasets()} | {DEFAULT_PROBE_DATASET})
        if st.session_state.get("dataset") not in datasets:
            wanted = st.query_params.get("dataset")
            st.session_state["dataset"] = wanted if wanted in datasets else DEFAULT_PROBE_DATASET
        counts = {name: sum(bool(run.probed_steps(name)) for run in readable) for name in datasets}
        # the run count names where each dataset's runs are (facts runs live on a facts dataset)
        dataset = st.selectbox("Probed dataset", datasets, key="dataset",
                               format_func=lambda name: dataset_label(name, counts[name]))
        probed = {run.name: found for run in readable if (found := run.probed_steps(dataset))}
        elsewhere = [name for name in datasets if name != dataset and counts[name]]
        if elsewhere:
            st.caption("Also probed: " + ", ".join(md(dataset_label(name, counts[name])) for name in elsewhere)
                       + "; switch the dataset above to see them.")
        if not probed:
            return runs_root, None, (
                f"{md(runs_root)}: no run has a finished probe table for dataset '{md(dataset)}' yet. "
                f"Probe its checkpoints with `probscope probe`, or {BUILD_DEMO}."
            )
        chosen = st.session_state["chosen_runs"] = choose_runs(dataset, list(probed))
        steps = choose_steps(chosen, probed)
        if chosen:
            st.html(method_legend(chosen, methods))
        groups, per_seed = choose_grouping({name: facts[name] for name in probed})
    st.query_params.update({"dataset": dataset, "runs": ",".join(chosen),
                            "steps": ",".join(f"{name}:{step}" for name, step in steps.items())})
    if not steps:
        return runs_root, None, "Choose at least one run in the sidebar."
    selection = state.Selection(
        runs_root=runs_root, dataset=dataset, steps=tuple(steps.items()),
        probed=tuple((name, tuple(found)) for name, found in probed.items()),
        methods=tuple((name, methods[name]) for name in probed),
        groups=tuple(groups.items()), per_seed=per_seed,
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
    try:
        with problem(page.title):   # a data problem the page did not catch: one readable line, the sidebar works
            page.run()
    finally:   # also when the page stopped early: its widgets are in the URL by now
        share_link()


def share_link() -> None:
    """The URL of this view (every widget's value is in its query string) with the code block's copy button.
    In a popover, not an expander: a popover draws its content when opened, so the browser fetches the code
    block's 1.5 MB syntax highlighter then, not with every page (0.3 s of a cold page on 2 busy cores)."""
    query = urlencode(st.query_params.to_dict())
    page = (st.context.url or "").split("?")[0]
    with st.sidebar.popover("Link to this view"):
        st.code(f"{page}?{query}" if query else page, language=None, wrap_lines=True)
