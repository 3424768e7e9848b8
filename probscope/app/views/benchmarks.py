"""Benchmarks: accuracy over training steps per benchmark (the paper's Figure 1) with confidence intervals,
and one checkpoint's per-problem results with the problem's generations."""

import polars as pl
import streamlit as st

from probscope import schema
from probscope.app import charts, data, state
from probscope.app.ui import problem, show_chart, show_table

st.title("Benchmarks")
runs_root = state.runs_root()
if runs_root is None:
    st.info(st.session_state.get("missing"))
    st.stop()

EVALUATE = "probscope eval --runs {root} --benchmark NAME"
evals = None
with problem("Benchmark results"):
    evals = data.evals(runs_root)
    if evals.is_empty():
        st.info(f"No run in {runs_root} has a finished evaluation yet. Evaluate every checkpoint with "
                f"`{EVALUATE.format(root=runs_root)}` (the Runs page lists what is missing).")
        st.stop()
    selection = state.current()
    chosen = selection.runs if selection is not None else None
    metric = st.radio("Metric", ["average_at_k", "pass_at_k"], horizontal=True, key="metric",
                      format_func={"average_at_k": "Average@k", "pass_at_k": "pass@k"}.get)
    curves = data.curves(runs_root, metric)
    if chosen:
        curves = curves.filter(pl.col(schema.RUN).is_in(chosen))
    if curves.is_empty():
        st.info("None of the runs chosen in the sidebar has been evaluated.")
        st.stop()
    st.caption("Accuracy of each run's checkpoints over training; the band is the 95% bootstrap interval over "
               "problems. Drag to pan, scroll to zoom.")
    curves, colors, dashes = charts.with_run_series(curves)
    benchmarks = curves["benchmark"].unique(maintain_order=True).to_list()
    for column, benchmark in zip(st.columns(min(len(benchmarks), 2)) * len(benchmarks), benchmarks):
        rows = curves.filter(pl.col("benchmark") == benchmark)
        metric_label = rows["metric"][0]
        with column:
            show_chart(charts.lines, rows, "value", colors, y_title=metric_label, band=("lo", "hi"),
                       dashes=dashes, title=benchmark)
    st.download_button("Download the curves (CSV)", curves.write_csv(), "accuracy-curves.csv", "text/csv",
                       key="csv:accuracy-curves")
    show_table(curves.select(schema.METHOD, schema.RUN, "benchmark", schema.STEP, "metric",
                             pl.col("value").alias("accuracy"), pl.col("lo").alias("accuracy_low"),
                             pl.col("hi").alias("accuracy_high"), "source"))

if evals is None:   # unreadable: the message above says why
    st.stop()
st.subheader("Per-problem results")
with problem("Per-problem results"):
    done: list[tuple[str, str, int]] = (
        evals.select(schema.RUN, "eval", schema.STEP).unique().sort(schema.RUN, "eval", schema.STEP).rows())
    checkpoint = st.selectbox("Evaluation", done, key="eval_checkpoint",
                              format_func=lambda one: f"{one[0]} · {one[1]} · step {one[2]}")
    problems = data.problems(runs_root, *checkpoint)
    st.caption("One row per problem; select a row to read its generations.")
    picked = st.dataframe(problems, hide_index=True, on_select="rerun", selection_mode="single-row",
                          key="problem_table", height=300, column_config={
                              "problem_id": "Problem", "samples": "Samples", "correct": "Correct",
                              "accuracy": st.column_config.NumberColumn("Accuracy", format="percent"),
                              "gold": "Gold answer"})
    picked_rows = picked.selection.rows if picked is not None else []
    if picked_rows:
        problem_id = problems["problem_id"][picked_rows[0]]
        for sample in data.generations(runs_root, *checkpoint, problem_id).iter_rows(named=True):
            verdict = "correct" if sample["correct"] else f"wrong ({sample['reason'] or 'mismatch'})"
            st.markdown(f"**Sample {sample['sample']}** · answer `{sample['answer']}` · {verdict}")
            st.code(sample["generation"], language=None, wrap_lines=True)
