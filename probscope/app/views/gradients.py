"""Gradient weights: where each objective puts its update (from the probe tables), and the losses and
weights recorded on the training batches while the runs trained (their dynamics/ parts); one view at a time
(VIEWS)."""

import polars as pl
import streamlit as st

from probscope import schema
from probscope.analysis import gradient_mass_by_bin
from probscope.analysis.dynamics import SHARE_BELOW, TRAINED_OBJECTIVE, dynamics_curves
from probscope.app import charts, data, state
from probscope.app.data import BY, aggregate
from probscope.app.seeds import HIGH, LOW, SEEDS, grouped
from probscope.app.text import md
from probscope.app.ui import X_AXES, bar_options, choose_view, problem, show_chart, show_table, x_axis


def mass_view(runs_root: str) -> None:
    selection = state.current()
    if selection is None:
        st.info(st.session_state.get("missing"))
        return
    mass = grouped(selection, aggregate(selection, gradient_mass_by_bin, by=BY), ["mass_share", "token_share"],
                   by=[schema.STEP, schema.OBJECTIVE, "bin", "bin_label"])
    mass, _ = charts.with_series(mass)
    objectives = mass[schema.OBJECTIVE].unique(maintain_order=True).to_list()
    state.url_state("mass_objectives", [o for o in objectives if o in ("sft", "dft")], state.parse_list(str),
                    valid=objectives)
    chosen = st.multiselect("Objectives", objectives, key="mass_objectives")
    state.to_url("mass_objectives")
    st.caption("Share of each objective's squared logit-gradient mass, Σ w²·(1 − 2p + Σp²), that falls in each "
               "bin if that objective were trained on these tokens (each run at its sidebar step); grey ticks: "
               "the bin's share of tokens.")
    shown = mass.filter(pl.col(schema.OBJECTIVE).is_in(chosen))
    if shown.is_empty():
        st.info("Choose at least one objective.")
        return
    colors = dict(zip(objectives, schema.series_palette(objectives), strict=False))
    show_chart(charts.mass_bars, shown, colors, name="gradient-mass", **bar_options(log=False),
               csv=shown.select(charts.SERIES, *BY, schema.OBJECTIVE, "bin_label", "token_share", "mass_share"))


def recorded(runs_root: str, x: str) -> tuple[pl.DataFrame, pl.DataFrame, dict, dict, pl.DataFrame | None] | None:
    """The chosen runs' dynamics, their curves with series labels, colours, dashes and the sidebar's steps
    as rules; None (after saying why) when there is nothing to draw."""
    selection = state.current()
    runs = selection.runs if selection is not None else None
    if runs is None and st.session_state.get("chosen_runs") == []:
        st.info("Choose at least one run in the sidebar.")
        return None
    frame = data.dynamics(runs_root, runs)
    state.url_state("with_base", False, lambda text: text == "True")
    if not frame.filter(pl.col(schema.METHOD) == "base").is_empty() and not st.toggle(
            "Include the base model's pretraining", key="with_base"):
        frame = frame.filter(pl.col(schema.METHOD) != "base")   # its long run would squash the fine-tunes' axis
    state.to_url("with_base")
    if frame.is_empty():
        st.info(f"No selected run in {md(runs_root)} recorded training dynamics (a dynamics/ directory with Parquet "
                "parts). Train with `probscope train` (dynamics: true is the default), or build the demo with "
                "`make demo`.")
        return None
    curves = dynamics_curves(frame)
    if x == schema.TOKENS_SEEN:
        curves = curves.filter(pl.col(schema.TOKENS_SEEN).is_not_null())
        if curves.is_empty():
            st.info("No selected run logged its tokens seen (the training dynamics' tokens_seen, recorded by runs "
                    "trained since it was added): choose the optimizer step as the x axis.")
            return None
    if selection is not None and selection.grouped():   # a group's mean and 95% band in every panel
        measured = [c for c in curves.columns if c not in (*BY, TRAINED_OBJECTIVE, schema.N_TOKENS)]
        curves = grouped(selection, curves, measured, by=[schema.STEP], sums=[schema.N_TOKENS])
    curves, colors, dashes = charts.with_run_series(curves)
    groups = dict(selection.groups) if selection is not None and selection.grouped() else {}
    rules = (pl.DataFrame([{schema.STEP: step, schema.RUN: groups.get(name, name)} for name, step in selection.steps])
             .unique(maintain_order=True)
             .join(curves.unique(schema.RUN).select(schema.RUN, charts.SERIES), on=schema.RUN)
             if selection is not None else None)
    if rules is not None and x == schema.TOKENS_SEEN:   # each chosen step where its tokens seen are known
        rules = charts.with_tokens_seen(rules, curves)
    return frame, curves, colors, dashes, rules


def curves_view(runs_root: str) -> None:
    # the panels' titles are the exported figure's; imported here, so matplotlib loads only for this view
    from probscope.plots.dynamics import PANELS

    x = x_axis()
    found = recorded(runs_root, x)
    if found is None:
        return
    _, curves, colors, dashes, rules = found
    st.caption("Recorded on each logged training batch: its SFT and DFT losses, the share of its target tokens "
               "with p < 0.1 and the mean gradient weight of the run's own objective (SFT 1, DFT p; none for RL "
               "runs). Dashed marks: the steps chosen in the sidebar. Drag to pan, scroll to zoom.")
    panels = {column: title.format(below=0.1) for column, title, _ in PANELS}
    show_chart(charts.panels, curves, panels, colors, dashes=dashes, rules=rules, name="training-curves", x=x,
               x_title=X_AXES[x])
    show_table(curves.select(schema.RUN, schema.STEP, schema.N_TOKENS, schema.SFT_LOSS, schema.DFT_LOSS, SHARE_BELOW,
                             schema.WEIGHT_MEAN,
                             *(column for column in curves.columns if column.endswith((LOW, HIGH)) or column == SEEDS)),
               height=240)


def weights_view(runs_root: str) -> None:
    x = x_axis()
    found = recorded(runs_root, x)
    if found is None:
        return
    frame, curves, colors, dashes, rules = found
    objectives = sorted(frame[schema.OBJECTIVE].unique())
    state.url_state("weight_objective", objectives[0], valid=objectives)
    objective = st.radio("Objective", objectives, horizontal=True, key="weight_objective", format_func=md)
    state.to_url("weight_objective")
    st.caption(f"The logit-view weight w each training batch's target tokens would get under {md(objective)} "
               "(SFT 1, DFT p): median, band from the 10th to the 90th percentile.")
    low, median, high = (schema.WEIGHT_QUANTILE[q] for q in schema.DYNAMICS_QUANTILES)
    weights = frame.filter(pl.col(schema.OBJECTIVE) == objective)
    band = (low, high)
    selection = state.current()
    if selection is not None and selection.grouped():
        st.caption("Runs grouped (sidebar): each line the mean over a group's runs of their medians, the band its "
                   "95% t-interval over them.")
        weights = grouped(selection, weights, [median, *([x] if x != schema.STEP else [])],
                          by=[schema.STEP, schema.OBJECTIVE])
        band = (median + LOW, median + HIGH)
    weights = weights.join(curves.select(schema.RUN, schema.STEP, charts.SERIES), on=[schema.RUN, schema.STEP])
    if x != schema.STEP:
        weights = weights.filter(pl.col(x).is_not_null())
    show_chart(charts.lines, weights, median, colors, y_title=f"weight w under {objective}", band=band,
               rules=rules, dashes=dashes, name=f"weights-{objective}", x=x, x_title=X_AXES[x],
               csv=weights.select(schema.RUN, *dict.fromkeys([schema.STEP, x]), schema.OBJECTIVE, *band, median))


VIEWS = {"Gradient mass per bin": mass_view, "Training curves": curves_view, "Weights while training": weights_view}

st.title("Gradient weights")
root = state.runs_root()
if root is None:
    st.info(st.session_state.get("missing"))
    st.stop()
view = choose_view(list(VIEWS))
with problem(view):
    VIEWS[view](root)
