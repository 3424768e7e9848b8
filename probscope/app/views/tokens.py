"""Tokens: which tokens sit in any probability range, which moved between checkpoints, which a method
left behind, and one training example's reply coloured token by token; one view at a time."""

import polars as pl
import streamlit as st

from probscope import schema
from probscope.analysis import left_behind_table, left_behind_tokens, lowest_bin_tokens, role_shares, stylistic_shares
from probscope.app import charts, data, state
from probscope.app.data import BY, aggregate
from probscope.app.example import legend_html, reply_html
from probscope.app.ui import choose_view, need_selection, problem, show_chart, show_table

TAILS = {"below": "p below the threshold", "at_or_above": "p at or above the threshold"}

st.title("Tokens")
selection = need_selection()
view = choose_view(["Probability range", "Movers", "Left behind", "Example viewer"])
checkpoints = [(name, step) for name in selection.runs for step in selection.probed_steps(name)]


def checkpoint_label(one: tuple[str, int]) -> str:
    return charts.series_label(selection.method(one[0]), *one)


if view == "Probability range":
    left, middle, right = st.columns([2, 1, 1])
    state.url_state("tail", "below")
    tail = left.radio("Which tokens", list(TAILS), key="tail", format_func=TAILS.get, horizontal=True)
    state.to_url("tail")
    state.url_state("threshold", schema.BIN_EDGES[1], float)
    threshold = middle.number_input("Threshold on p", min_value=0.0, max_value=1.0, key="threshold", format="%g",
                                    step=1e-4)
    state.to_url("threshold")
    top = right.slider("Tokens shown per series", 5, 50, 15, key="top")
    with problem("Token listing"):
        if tail == "below":
            listing = aggregate(selection, lowest_bin_tokens, upper=threshold, by=BY)
        else:   # the upper tail: the same listing of the tokens at or above the threshold
            listing = aggregate(selection, lowest_bin_tokens, lower=threshold, upper=None, by=BY)
        series = pl.DataFrame([{schema.METHOD: selection.method(name), schema.RUN: name, schema.STEP: step}
                               for name, step in selection.steps])
        counted = series.join(listing.group_by(BY).agg(pl.col("count").sum()), on=list(BY), how="left").with_columns(
            pl.col("count").fill_null(0))
        listing, order = charts.with_series(listing)
        counted, _ = charts.with_series(counted)
        relation = "<" if tail == "below" else "≥"
        st.caption(f"Target tokens with p {relation} {threshold:g}, counted per series (each run at its sidebar step); "
                   "bars are coloured by the token's role in its example.")
        st.markdown(" · ".join(f"**{row[charts.SERIES]}**: {row['count']:,} tokens" for row in counted.iter_rows(named=True)))
        shown = listing.filter(pl.col("rank") <= top)
        if shown.is_empty():
            st.info(f"No selected run has a token with p {relation} {threshold:g}.")
        else:
            show_chart(charts.token_bars, shown, list(order), name="token-listing",
                       csv=shown.select(charts.SERIES, *BY, "rank", schema.TOKEN, schema.ROLE, "count", "share"))
        if tail == "below":
            shares = aggregate(selection, role_shares, upper=threshold, by=BY)
            st.markdown("**Roles below the threshold against all tokens** (enrichment above 1: the role is more "
                        "common below the threshold than overall)")
            show_table(stylistic_shares(shares))
            show_table(shares)
        with st.expander("Full listing"):
            show_table(listing.drop(charts.SERIES))

elif view == "Movers":
    if len(checkpoints) < 2:
        st.info("Choose a run with two probed steps, or two runs, to compare checkpoints.")
    else:
        cols = st.columns([2, 2, 1, 1])
        before = cols[0].selectbox("Before", checkpoints, index=0, format_func=checkpoint_label, key="movers_before")
        after = cols[1].selectbox("After", checkpoints, index=len(checkpoints) - 1, format_func=checkpoint_label,
                                  key="movers_after")
        by = cols[2].radio("Compare", ["token", "role"], key="movers_by")
        min_count = cols[3].number_input("Seen at least", 1, 1000, 5, key="movers_min")
        with problem("Token movers"):
            if before == after:
                st.info("Choose two different checkpoints.")
            else:
                moved = data.movers(selection, before, after, by=by, top=15, min_count=int(min_count))
                if moved.is_empty():
                    st.info("No token was seen often enough in both checkpoints to compare.")
                else:
                    st.caption(f"Mean p of each {by} under {checkpoint_label(after)} minus under "
                               f"{checkpoint_label(before)}; largest rises, then largest falls.")
                    show_table(moved)

elif view == "Left behind":
    below = st.select_slider("Left behind: p below", schema.BIN_EDGES[1:-1], value=0.1, key="behind_below",
                             format_func=lambda edge: f"{edge:g}")
    with problem("Tokens left behind"):
        final = selection.last_steps()
        st.caption(f"Each run at its last probed step: per role (and the reply's last token) the share of "
                   f"occurrences with p < {below:g}, then the tokens most often below it.")
        show_table(aggregate(selection, left_behind_table, steps=final, below=below, by=BY))
        show_table(aggregate(selection, left_behind_tokens, steps=final, below=below, by=BY, top=10))

else:
    st.caption("One training example's reply, each target token coloured by its probability's bin; hover a token "
               "for its p, rank, entropy and role.")
    st.markdown(legend_html(), unsafe_allow_html=True)
    cols = list(st.columns(2))
    a = cols[0].selectbox("Checkpoint", checkpoints, format_func=checkpoint_label,
                          index=checkpoints.index(selection.steps[0]), key="example_a")
    b = cols[1].selectbox("Beside it (optional)", [None, *checkpoints], key="example_b",
                          format_func=lambda one: "nothing" if one is None else checkpoint_label(one))
    left, right = st.columns([1, 3])
    below = left.select_slider("Low probability: p below", schema.BIN_EDGES[1:-1], value=1e-2, key="example_below",
                               format_func=lambda edge: f"{edge:g}")
    with problem("Example viewer"):
        low = aggregate(selection, lowest_bin_tokens, steps=(a,), upper=below, by=BY)
        candidates = [None, *low[schema.TOKEN].to_list()[:50]]   # most frequent low-p tokens first
        token = right.selectbox(f"Only examples holding this token at p < {below:g}", candidates,
                                format_func=lambda t: "any example" if t is None else repr(t), key="example_token")
        found = data.examples(selection, *a, token=token, upper=below)
        if found.is_empty():
            st.info("No example matches.")
        else:
            ids = found[schema.EXAMPLE_ID].to_list()
            state.url_state("example", ids[0])
            if st.session_state["example"] not in ids:
                st.session_state["example"] = ids[0]
            lowest = dict(found.select(schema.EXAMPLE_ID, "lowest_p").iter_rows())
            example = st.selectbox(f"Example ({len(ids):,}, lowest p first)", ids, key="example",
                                   format_func=lambda i: f"{i} (lowest p {lowest[i]:.2g})")
            state.to_url("example")
            side_by_side = [one for one in (a, b) if one is not None]
            for column, one in zip(st.columns(len(side_by_side)), side_by_side):
                rows = data.example_rows(selection, *one, example)
                column.markdown(f"**{checkpoint_label(one)}** · {rows.height} target tokens")
                if rows.is_empty():
                    column.info("This checkpoint's probe does not hold this example.")
                else:
                    column.markdown(reply_html(rows), unsafe_allow_html=True)
