"""Benchmarks: accuracy over training steps per benchmark (the paper's Figure 1) with confidence intervals,
and one checkpoint's per-problem results with the problem's generations."""

import shlex

import polars as pl
import streamlit as st

from probscope import schema
from probscope.app import charts, data, state
from probscope.app.seeds import HIGH, LOW, SEEDS, grouped
from probscope.app.text import code, md
from probscope.app.ui import X_AXES, problem, show_chart, show_table, x_axis

EVALUATE = "probscope eval --runs {root} --benchmark NAME"
METRICS = {"average_at_k": "Average@k", "pass_at_k": "pass@k"}


def accuracy_curves(runs_root: str) -> None:
    selection = state.current()
    chosen = selection.runs if selection is not None else None
    state.url_state("metric", "average_at_k", valid=METRICS)
    metric = st.radio("Metric", list(METRICS), horizontal=True, key="metric", format_func=METRICS.get)
    state.to_url("metric")
    curves = data.curves(runs_root, metric)
    if chosen:
        curves = curves.filter(pl.col(schema.RUN).is_in(chosen))
    if curves.is_empty():
        st.info("None of the runs chosen in the sidebar has been evaluated.")
        return
    x = x_axis()
    curves = charts.on_fine_tuning_axis(curves)
    if x == schema.TOKENS_SEEN:
        curves = tokens_seen_axis(runs_root, curves)
        if curves.is_empty():
            return
    band = ("lo", "hi")
    if selection is not None and selection.grouped():
        curves = grouped(selection, curves, ["value", *([x] if x != schema.STEP else [])],
                         by=["benchmark", "metric", schema.STEP])
        band = ("value" + LOW, "value" + HIGH)
        st.caption("Runs grouped (sidebar): each line the mean accuracy of a group's runs, the band its 95% "
                   "t-interval over them. Drag to pan, scroll to zoom.")
    else:
        st.caption("Accuracy of each run's checkpoints over fine-tuning (the base model at step 0); the band is the "
                   "95% bootstrap interval over problems. Drag to pan, scroll to zoom.")
    curves, colors, dashes = charts.with_run_series(curves)
    benchmarks = curves["benchmark"].unique(maintain_order=True).to_list()
    for column, benchmark in zip(st.columns(min(len(benchmarks), 2)) * len(benchmarks), benchmarks, strict=False):
        rows = curves.filter(pl.col("benchmark") == benchmark)
        with column:
            show_chart(charts.lines, rows, "value", colors, y_title=rows["metric"][0], band=band,
                       dashes=dashes, title=benchmark, y_domain=(0.0, 1.0), x=x, x_title=X_AXES[x])
    st.download_button("Download the curves (CSV)", curves.write_csv(), "accuracy-curves.csv", "text/csv",
                       key="csv:accuracy-curves")
    show_table(curves.select(schema.METHOD, schema.RUN, "benchmark", *dict.fromkeys([schema.STEP, x]), "metric",
                             pl.col("value").alias("accuracy"), pl.col(band[0]).alias("accuracy_low"),
                             pl.col(band[1]).alias("accuracy_high"),
                             *(pl.col(column) for column in (SEEDS, "source") if column in curves.columns)))


def tokens_seen_axis(runs_root: str, curves: pl.DataFrame) -> pl.DataFrame:
    """The curves with the tokens each run had seen at each evaluated step (the training dynamics' exact count),
    saying how many points have no such count; empty (and saying why) when none has."""
    seen = data.dynamics(runs_root, tuple(curves[schema.RUN].unique().sort()))
    counted = charts.with_tokens_seen(curves, seen) if schema.TOKENS_SEEN in seen.columns else curves.clear()
    if counted.is_empty():
        st.info("No evaluated run logged its tokens seen at an evaluated step (the training dynamics' tokens_seen, "
                "recorded by runs trained since it was added): choose the optimizer step as the x axis.")
    elif counted.height < curves.height:
        st.caption(f"{curves.height - counted.height} of {curves.height} points left out: no count of tokens seen "
                   "was logged at their step.")
    return counted


def per_problem(runs_root: str, evals: pl.DataFrame) -> None:
    done: list[tuple[str, str, int]]   # (run, evaluation, step), the arguments of data.problems
    done = evals.select(schema.RUN, "eval", schema.STEP).unique().sort(schema.RUN, "eval", schema.STEP).rows()
    state.url_state("eval_checkpoint", done[0], parse_evaluation, valid=done)
    checkpoint = st.selectbox("Evaluation", done, key="eval_checkpoint",
                              format_func=lambda one: f"{one[0]} · {one[1]} · step {one[2]}")
    st.query_params["eval_checkpoint"] = ":".join(map(str, checkpoint))
    problems = data.problems(runs_root, *checkpoint)
    st.caption("One row per problem; select a row to read its generations.")
    picked = st.dataframe(problems, hide_index=True, on_select="rerun", selection_mode="single-row",
                          key="problem_table", height=300, column_config={
                              "problem_id": "Problem", "samples": "Samples", "correct": "Correct",
                              "accuracy": st.column_config.NumberColumn("Accuracy", format="percent"),
                              "gold": "Gold answer"})
    rows = picked.selection.rows if picked is not None else []
    ids = problems["problem_id"].to_list()
    problem_id = ids[rows[0]] if rows else st.query_params.get("problem")   # a shared link names its problem
    if problem_id is None or problem_id not in ids:
        st.query_params.pop("problem", None)
        return
    st.query_params["problem"] = problem_id
    st.markdown(f"**Problem {md(problem_id)}**")
    for sample in data.generations(runs_root, *checkpoint, problem_id).iter_rows(named=True):
        verdict = "correct" if sample["correct"] else f"wrong ({md(sample['reason'] or 'mismatch')})"
        st.markdown(f"**Sample {sample['sample']}** · answer {code(sample['answer'])} · {verdict}")
        st.code(sample["generation"], language=None, wrap_lines=True)


def parse_evaluation(text: str) -> tuple[str, str, int]:
    """'run:evaluation:step' (a shared link's ?eval_checkpoint=) -> (run, evaluation, step)."""
    run, name, step = text.rsplit(":", 2)
    return run, name, int(step)


st.title("Benchmarks")
root = state.runs_root()
if root is None:
    st.info(st.session_state.get("missing"))
    st.stop()
with problem("Benchmark results"):
    evaluations = data.evals(root)
    if evaluations.is_empty():
        st.info(f"No run in {md(root)} has a finished evaluation yet. Evaluate every checkpoint with "
                f"{code(EVALUATE.format(root=shlex.quote(str(root))))} (the Runs page lists what is missing).")
        st.stop()
    accuracy_curves(root)
    st.subheader("Per-problem results")
    per_problem(root, evaluations)
