"""Overview (landing page): the runs, Figure 2 at their final steps, polarization, benchmarks, findings."""

import polars as pl
import streamlit as st

import probscope as ps
from probscope import schema
from probscope.app import charts, data, state
from probscope.app.data import BY
from probscope.app.seeds import grouped, grouped_table
from probscope.app.text import md
from probscope.app.ui import need_selection, problem, show_chart, show_table

st.title("Overview")
st.caption("The runs of this directory and how their target-token probabilities compare at each run's last "
           "probed step. Details on the other pages.")

with problem("Runs"):
    overview = ps.runs_overview(root) if (root := state.runs_root()) else None
    if overview is not None:
        st.subheader("Runs")
        show_table(overview.select(
            schema.RUN, schema.METHOD, "status",
            pl.col("checkpoints").list.eval(pl.element().cast(pl.String)).list.join(", ").alias("Checkpoint steps"),
            pl.col("probed").alias("Probed (dataset: steps)")))

selection = need_selection()
final = selection.last_steps()

st.subheader("Figure 2 at the final steps")
with problem("Figure 2"):
    hist, colors = charts.with_series(data.histograms_per_run(selection, final))
    st.caption(f"Dataset '{md(selection.dataset)}'. Percentage of each series' target tokens per probability bin "
               "(log scale). Click a legend entry to highlight it.")
    show_chart(charts.figure2, hist, colors, csv=hist.select(charts.SERIES, *BY, "bin_label", "count", "percent"),
               name="overview-figure2")

left, right = st.columns(2)
with left:
    st.subheader("Polarization")
    with problem("Polarization"):
        st.caption("Share of each run's target tokens with p < 0.1 (the tokens a method leaves behind) and with "
                   "p ≥ 0.9; polarization: the lowest bin (p < 1e-4) plus the highest; NLL: mean −log p.")
        polarization = data.summary(selection, final).select(schema.METHOD, schema.RUN, schema.STEP, "below_0.1",
                                                               "above_0.9", "polarization", "nll")
        show_table(grouped_table(selection, polarization))

with right:
    st.subheader("Final benchmark accuracy")
    with problem("Benchmarks"):
        curves = data.curves(selection.runs_root, "average_at_k").filter(pl.col(schema.RUN).is_in(selection.runs))
        if curves.is_empty():
            st.info("No chosen run has been evaluated yet: `probscope eval --runs DIR --benchmark NAME` writes "
                    "the results.")
        else:
            st.caption("Each run's last evaluated checkpoint per benchmark, with the 95% bootstrap interval.")
            last = curves.filter(pl.col(schema.STEP) == pl.col(schema.STEP).max().over(schema.RUN, "benchmark"))
            last = last.select(schema.METHOD, schema.RUN, "benchmark", schema.STEP, "metric",
                               pl.col("value").alias("accuracy"), pl.col("lo").alias("accuracy_low"),
                               pl.col("hi").alias("accuracy_high"))
            if selection.grouped():   # a group's mean accuracy, its interval over the group's runs
                last = grouped(selection, last.drop("accuracy_low", "accuracy_high"), ["accuracy"],
                               by=["benchmark", schema.STEP, "metric"])
            show_table(last)

st.subheader("Findings")
st.caption("What each run left behind at its final step (p < 0.1), against the SFT run where there is one "
           "(`probscope diagnose`).")
sft_runs = [name for name in selection.runs if selection.method(name) == "sft"]
pairs = [(name, sft_runs[0] if sft_runs and selection.method(name) != "sft" else None) for name in selection.runs]
with problem("Findings"):
    for (name, _), (report, error) in zip(pairs, data.diagnoses(selection, pairs), strict=False):
        if error:
            st.error(f"Findings for {md(name)}: {md(error)}")
            continue
        assert report is not None, "a diagnosis without an error has a report"
        headline, *lines = report.splitlines()
        st.markdown(f"**{md(headline)}**\n" + "\n".join(f"- {md(line)}" for line in lines))
