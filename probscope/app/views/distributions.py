"""Distributions: Figure 2 at the chosen steps, one run over training, a summary and statistics per run and
step, the same tokens under two checkpoints, and Figure 2 split by token role; one view at a time."""

import streamlit as st

from probscope import schema
from probscope.analysis import class_histogram, pairwise_statistics, probability_histogram
from probscope.app import charts, data, state
from probscope.app.data import BY, aggregate, all_steps, paired
from probscope.app.ui import choose_view, need_selection, problem, show_chart, show_table

st.title("Distributions")
selection = need_selection()
view = choose_view(["Figure 2", "Over training", "Summary and statistics", "Same tokens", "By role"])
union = sorted({step for name in selection.runs for step in selection.probed_steps(name)})


def move_all_runs() -> None:
    """Slider callback: each chosen run to its last probed step at or before the slider's step."""
    for name in selection.runs:
        at_or_before = [step for step in selection.probed_steps(name) if step <= st.session_state["all_step"]]
        st.session_state[f"step:{name}"] = at_or_before[-1] if at_or_before else selection.probed_steps(name)[0]


def checkpoint_label(one: tuple[str, int]) -> str:
    return charts.series_label(selection.method(one[0]), *one)


if view == "Figure 2":
    if len(union) > 1:
        st.session_state["all_step"] = max(step for _, step in selection.steps)
        st.select_slider("Move every run to its probed step at or before", union, key="all_step",
                         on_change=move_all_runs, format_func=lambda step: f"step {step}")
    with problem("Figure 2"):
        hist, colors = charts.with_series(aggregate(selection, probability_histogram, by=BY))
        st.caption(f"Dataset '{selection.dataset}', each run at the step chosen in the sidebar. Percentage of the "
                   "series' target tokens per probability bin, log scale; bins without tokens draw no bar. Click a "
                   "legend entry to highlight it.")
        show_chart(charts.figure2, hist, colors, csv=hist.select(charts.SERIES, *BY, "bin_label", "count", "percent"),
                   name="figure2")

elif view == "Over training":
    trained = [name for name in selection.runs if len(selection.probed_steps(name)) > 1]   # steps to compare
    state.url_state("over_run", (trained or selection.runs)[0])
    if st.session_state["over_run"] not in selection.runs:
        st.session_state["over_run"] = selection.runs[0]
    left, middle, right = st.columns([1, 2, 1])
    run = left.selectbox("Run", selection.runs, key="over_run")
    state.to_url("over_run")
    steps = middle.multiselect("Steps", selection.probed_steps(run), default=list(selection.probed_steps(run)),
                               key=f"over_steps:{run}", format_func=lambda step: f"step {step}")
    layout = right.radio("Layout", ["Side by side", "Small multiples"], key="over_layout")
    if not steps:
        st.info("Choose at least one step.")
    else:
        with problem("Histograms over training"):
            over, colors = charts.with_series(
                aggregate(selection, probability_histogram, steps=((run, tuple(sorted(steps))),), by=BY))
            csv = over.select(charts.SERIES, *BY, "bin_label", "count", "percent")
            st.caption(f"Figure 2 of {run} at each chosen probed step.")
            chart = charts.figure2 if layout == "Side by side" else charts.small_multiples
            show_chart(chart, over, colors, csv=csv, name=f"figure2-{run}-steps")

elif view == "Summary and statistics":
    st.subheader("Summary per run and step")
    with problem("Summary"):
        st.caption("Every probed step of the chosen runs. NLL: mean −log p; top-1: share of tokens the model ranks "
                   "first; polarization: share in the lowest bin (p < 1e-4) plus the highest (p ≥ 0.9).")
        show_table(data.summary(selection, all_steps(selection)))
    st.subheader("Statistics with confidence intervals")
    st.caption("Between every pair of chosen series (each run at its sidebar step): Kolmogorov–Smirnov distance, "
               "Wasserstein distances on p and log p, Jensen–Shannon divergence of the bin shares, and per series "
               "bimodality and polarization, with 95% bootstrap intervals resampling examples.")
    if len(selection.steps) < 2:
        st.info("Choose two runs to compare their distributions.")
    elif st.toggle("Compute (1,000 bootstrap resamples: a few seconds per pair)", key="compute_statistics"):
        with problem("Statistics"):
            show_table(aggregate(selection, pairwise_statistics, by=BY))

elif view == "Same tokens":
    checkpoints = [(name, step) for name in selection.runs for step in selection.probed_steps(name)]
    if len(checkpoints) < 2:
        st.info("Probe a second checkpoint (or choose a second run) to compare the same tokens.")
    else:
        left, right = st.columns(2)
        a = left.selectbox("Checkpoint A (x)", checkpoints, index=0, format_func=checkpoint_label, key="pair_a")
        b = right.selectbox("Checkpoint B (y)", checkpoints, index=len(checkpoints) - 1, format_func=checkpoint_label,
                            key="pair_b")
        with problem("Paired view"):
            pairs = paired(selection, a, b)
            if pairs.is_empty():
                st.info("These two checkpoints share no probed token (different examples were probed).")
            else:
                st.caption("Tokens matched by example and position; each cell is the percentage of matched tokens in "
                           "that pair of bins. Cells off the diagonal are tokens whose bin changed.")
                show_chart(charts.heatmap, pairs, x_title=checkpoint_label(a), y_title=checkpoint_label(b),
                           csv=pairs.select("bin_x", "bin_y", "count", "percent"), name="paired-bins")

else:
    with problem("Class-stacked view"):
        classes, _ = charts.with_series(aggregate(selection, class_histogram, by=BY))
        share = st.radio("Height of each slice", ["percent", "bin_share"], horizontal=True, key="class_height",
                         format_func={"percent": "% of the series' tokens (slices add up to Figure 2's bar)",
                                      "bin_share": "share of the bin (slices add up to 100%)"}.get)
        st.caption("Each bin of Figure 2 split by the tokens' roles (from the data where it has them, else the "
                   f"token's class: {', '.join(schema.ROLES)}).")
        show_chart(charts.class_bars, classes, share, name="classes",
                   csv=classes.select(charts.SERIES, *BY, schema.ROLE, "bin_label", "count", "percent", "bin_share"))
