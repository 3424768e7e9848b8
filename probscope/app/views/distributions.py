"""Distributions: Figure 2 at the chosen steps, one run over training, a summary and statistics per run and
step, the same tokens under two checkpoints, and Figure 2 split by token role; one view at a time (VIEWS)."""

from urllib.parse import urlencode

import polars as pl
import streamlit as st

from probscope import schema
from probscope.analysis import class_histogram, lowest_bin_tokens, pairwise_statistics, probability_histogram
from probscope.app import charts, data, state
from probscope.app.data import BY, Steps, aggregate, all_steps, paired
from probscope.app.seeds import grouped, grouped_table, over_seeds
from probscope.app.text import md
from probscope.app.ui import bar_options, choose_view, need_selection, problem, show_chart, show_table


def fine_tuning_runs(selection: state.Selection) -> list[str]:
    """The chosen runs whose steps count fine-tuning (the base's one step counts its pretraining)."""
    return [name for name in selection.runs if selection.method(name) != "base"]


def move_all_runs(selection: state.Selection) -> None:
    """Slider callback: each fine-tuned run to its last probed step at or before the slider's step."""
    remembered = st.session_state.setdefault("_steps", {})
    for name in fine_tuning_runs(selection):
        at_or_before = [step for step in selection.probed_steps(name) if step <= st.session_state["all_step"]]
        remembered[name] = at_or_before[-1] if at_or_before else selection.probed_steps(name)[0]


def figure2_view(selection: state.Selection) -> None:
    runs = fine_tuning_runs(selection)
    union = sorted({step for name in runs for step in selection.probed_steps(name)})
    if len(union) > 1:
        st.session_state["all_step"] = max(step for name, step in selection.steps if name in runs)
        st.select_slider("Move every fine-tuned run to its probed step at or before", union, key="all_step",
                         on_change=move_all_runs, args=(selection,), format_func=lambda step: f"step {step}")
    options = bar_options(shared=False)
    hist, colors = charts.with_series(data.histograms_per_run(selection, selection.steps))
    st.caption(f"Dataset '{md(selection.dataset)}', each run at the step chosen in the sidebar. Percentage of the "
               "series' target tokens per probability bin, log scale; bins without tokens draw no bar. Click a "
               "legend entry to highlight it.")
    show_chart(charts.figure2, hist, colors, csv=hist.select(charts.SERIES, *BY, "bin_label", "count", "percent"),
               name="figure2", **options)
    drill_down(selection)


def drill_down(selection: state.Selection, steps: Steps | None = None, what: str = "a bin") -> None:
    """One bin of Figure 2 (of each run at its sidebar step, or at `steps`) opened: its most frequent tokens per
    series, each linking to the example viewer showing the examples that hold it in that bin (the link carries
    the whole view, as a shared link does)."""
    labels = list(schema.BIN_LABELS)
    state.url_state("drill_bin", labels[0], valid=labels)
    label = st.selectbox(f"Tokens behind {what}", labels, key="drill_bin")
    state.to_url("drill_bin")
    index = labels.index(label)
    lower, upper = schema.BIN_EDGES[index], schema.BIN_EDGES[index + 1]
    listing = aggregate(selection, lowest_bin_tokens, steps=steps, lower=lower or None, top=5, by=BY,
                        upper=None if index == len(labels) - 1 else upper)
    if listing.is_empty():
        st.info(f"No chosen series has a token in {label}.")
        return
    listing, _ = charts.with_series(listing)
    below = upper if upper in schema.BIN_EDGES[1:-1] else None   # the example viewer's threshold, when it has it
    lines = []
    for series, rows in listing.group_by(charts.SERIES, maintain_order=True):
        links = []
        for row in rows.iter_rows(named=True):
            query = {"view": "Example viewer", "example_a": f"{row[schema.RUN]}:{row[schema.STEP]}",
                     "example_token": row[schema.TOKEN], **({"example_below": below} if below else {})}
            links.append(f"[{md(repr(row[schema.TOKEN]))} ({row['count']:,})](tokens?{urlencode(query)})")
        lines.append(f"- **{md(series[0])}**: " + " · ".join(links))
    st.markdown("\n".join(lines))


def over_training_view(selection: state.Selection) -> None:
    trained = [name for name in selection.runs if len(selection.probed_steps(name)) > 1]   # steps to compare
    state.url_state("over_run", (trained or list(selection.runs))[0], valid=selection.runs)
    left, middle, right = st.columns([1, 2, 1])
    run = left.selectbox("Run", selection.runs, key="over_run")
    state.to_url("over_run")
    members = group_members(selection, run)
    probed = sorted(set.intersection(*(set(selection.probed_steps(name)) for name in members)))
    state.url_state("over_steps", probed, state.parse_list(int), valid=probed)
    steps = middle.multiselect("Steps", probed, key="over_steps", format_func=lambda step: f"step {step}")
    state.to_url("over_steps")
    state.url_state("over_layout", LAYOUTS[0], valid=LAYOUTS)
    layout = right.radio("Layout", LAYOUTS, key="over_layout")
    state.to_url("over_layout")
    if not steps:
        st.info("Choose at least one step.")
        return
    over = pl.concat([aggregate(selection, probability_histogram, steps=((name, tuple(sorted(steps))),), by=BY)
                      for name in members])
    if len(members) > 1:   # runs grouped (sidebar): the group's mean at each step, with its 95% interval
        over = over_seeds(over, dict(selection.groups), members=selection.per_seed)
        st.caption(f"Figure 2 of {md(run)}'s group ({', '.join(map(md, members))}: their mean and 95% interval) at "
                   "each probed step they share.")
    else:
        st.caption(f"Figure 2 of {md(run)} at each chosen probed step.")
    over, colors = charts.with_series(over)
    csv = over.select(charts.SERIES, *BY, "bin_label", "count", "percent")
    if layout == "Heatmap":
        step_scrubber(selection, members, sorted(steps), over, colors)
        return
    side_by_side = layout == "Side by side"
    options = bar_options(shared=not side_by_side)
    chart = charts.figure2 if side_by_side else charts.small_multiples
    show_chart(chart, over, colors, csv=csv, name=f"figure2-{run}-steps", **options)


LAYOUTS = ("Side by side", "Small multiples", "Heatmap")


def group_members(selection: state.Selection, run: str) -> list[str]:
    """The chosen runs in `run`'s group when runs are grouped (the sidebar), else `run` alone."""
    groups = dict(selection.groups)
    return [name for name in selection.runs if name in groups and groups[name] == groups.get(run)] or [run]


def step_scrubber(selection: state.Selection, runs: list[str], steps: list[int], over: pl.DataFrame,
                  colors: dict[str, str]) -> None:
    """The step × bin heatmap of one run (or its group's mean), Figure 2 at the step the scrubber points at (a
    clicked cell's step), and the tokens behind one of its bins (a clicked cell's bin)."""
    run = runs[0]
    st.caption(f"{', '.join(map(md, runs))} over training: each row a probed step, each cell the share of that "
               "step's tokens in the bin (log colour). Move the scrubber to see one step as Figure 2; click a cell to "
               "list its tokens.")
    mean = over.filter(pl.col(schema.RUN) == over[schema.RUN][0])   # the group's mean, not each run beside it
    clicked = show_chart(charts.step_heatmap, mean.select(*BY, "bin_label", "count", "percent"),
                         name=f"heatmap-{run}", select=charts.CELL)
    if clicked:   # the cell's step and bin become the scrubber's and the drill-down's
        st.session_state["over_step"], st.session_state["drill_bin"] = (clicked[0][schema.STEP],
                                                                         clicked[0]["bin_label"])
    state.url_state("over_step", steps[-1], int, valid=steps)
    step = st.select_slider("Step", steps, key="over_step", format_func=lambda one: f"step {one}")
    state.to_url("over_step")
    one = over.filter(pl.col(schema.STEP) == step)
    show_chart(charts.figure2, one, {label: colors[label] for label in one[charts.SERIES].unique()},
               **bar_options(shared=False))
    drill_down(selection, tuple((name, step) for name in runs), f"a cell of step {step}")


def summary_view(selection: state.Selection) -> None:
    st.subheader("Summary per run and step")
    with problem("Summary"):
        st.caption("Every probed step of the chosen runs. NLL: mean −log p; top-1: share of tokens the model ranks "
                   "first; polarization: share in the lowest bin (p < 1e-4) plus the highest (p ≥ 0.9).")
        show_table(grouped_table(selection, data.summary(selection, all_steps(selection))))
    st.subheader("Statistics with confidence intervals")
    st.caption("Between every pair of chosen series (each run at its sidebar step): Kolmogorov–Smirnov distance, "
               "Wasserstein distances on p and log p, Jensen–Shannon divergence of the bin shares, and per series "
               "bimodality and polarization, with 95% bootstrap intervals resampling examples.")
    if len(selection.steps) < 2:
        st.info("Choose two runs to compare their distributions.")
        return
    state.url_state("compute_statistics", False, lambda text: text == "True")
    if st.toggle("Compute (1,000 bootstrap resamples: a few seconds per pair)", key="compute_statistics"):
        state.to_url("compute_statistics")
        show_table(aggregate(selection, pairwise_statistics, by=BY))
    else:
        st.query_params.pop("compute_statistics", None)


def checkpoints(selection: state.Selection) -> list[tuple[str, int]]:
    return [(name, step) for name in selection.runs for step in selection.probed_steps(name)]


def same_tokens_view(selection: state.Selection) -> None:
    found = checkpoints(selection)
    if len(found) < 2:
        st.info("Probe a second checkpoint (or choose a second run) to compare the same tokens.")
        return
    left, right = st.columns(2)

    def label(one: tuple[str, int]) -> str:
        return charts.series_label(selection.method(one[0]), *one)

    state.url_state("pair_a", found[0], state.parse_checkpoint, valid=found)
    a = left.selectbox("Checkpoint A (x)", found, format_func=label, key="pair_a")
    state.url_state("pair_b", found[-1], state.parse_checkpoint, valid=found)
    b = right.selectbox("Checkpoint B (y)", found, format_func=label, key="pair_b")
    state.to_url("pair_a")
    state.to_url("pair_b")
    pairs, alignment = paired(selection, a, b)
    if alignment.mismatched:
        st.warning(f"{alignment.mismatched:,} of the {alignment.paired:,} positions both checkpoints probed "
                   f"({alignment.share:.1%}) hold different tokens (the data was tokenized differently, e.g. by a "
                   "tokenizer the trainer re-saved): they are left out of the pairing.")
    if pairs.is_empty():
        st.info("These two checkpoints share no probed token (different examples were probed).")
        return
    st.caption("Tokens matched by example and position; each cell is the percentage of matched tokens in "
               "that pair of bins. Cells off the diagonal are tokens whose bin changed.")
    show_chart(charts.heatmap, pairs, x_title=label(a), y_title=label(b),
               csv=pairs.select("bin_x", "bin_y", "count", "percent"), name="paired-bins")


HEIGHTS = {"percent": "% of the series' tokens (slices add up to Figure 2's bar)",
           "bin_share": "share of the bin (slices add up to 100%)"}


def by_role_view(selection: state.Selection) -> None:
    classes = grouped(selection, aggregate(selection, class_histogram, by=BY), ["percent", "bin_share"],
                      by=[schema.STEP, schema.ROLE, "bin", "bin_label"], sums=["count"])
    classes, _ = charts.with_series(classes)
    state.url_state("class_height", "percent", valid=HEIGHTS)
    share = st.radio("Height of each slice", list(HEIGHTS), horizontal=True, key="class_height",
                     format_func=HEIGHTS.get)
    state.to_url("class_height")
    st.caption("Each bin of Figure 2 split by the tokens' roles (from the data where it has them, else the "
               f"token's class: {', '.join(schema.ROLES)}).")
    show_chart(charts.class_bars, classes, share, name="classes", **bar_options(log=False),
               csv=classes.select(charts.SERIES, *BY, schema.ROLE, "bin_label", "count", "percent", "bin_share"))


VIEWS = {"Figure 2": figure2_view, "Over training": over_training_view, "Summary and statistics": summary_view,
         "Same tokens": same_tokens_view, "By role": by_role_view}

st.title("Distributions")
chosen = need_selection()
view = choose_view(list(VIEWS))
with problem(view):
    VIEWS[view](chosen)
