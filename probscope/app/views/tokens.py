"""Tokens: which tokens sit in any probability range, which moved between checkpoints, which a method
left behind, and one training example's reply coloured token by token; one view at a time (VIEWS)."""

from urllib.parse import urlencode

import polars as pl
import streamlit as st

from probscope import schema
from probscope.analysis import left_behind_table, left_behind_tokens, lowest_bin_tokens, role_shares, stylistic_shares
from probscope.app import charts, data, state
from probscope.app.alternatives import TOKEN, alternatives
from probscope.app.data import BY, aggregate
from probscope.app.example import COLOURINGS, DELTA, delta_html, delta_legend_html, legend_html, paired_rows, reply_html
from probscope.app.seeds import grouped, grouped_table
from probscope.app.text import md
from probscope.app.ui import choose_view, need_selection, problem, show_chart, show_table

TAILS = {"below": "p below the threshold", "at_or_above": "p at or above the threshold"}
EDGES = schema.BIN_EDGES[1:-1]   # the thresholds a slider offers: Figure 2's inner bin edges
# "No second checkpoint" and "any token" as values (Streamlit shows a None value as an empty choice)
NOTHING: tuple[str, int] = ("", -1)
ANY_TOKEN = ""


def checkpoints(selection: state.Selection) -> list[tuple[str, int]]:
    return [(name, step) for name in selection.runs for step in selection.probed_steps(name)]


def labeller(selection: state.Selection):
    def label(one: tuple[str, int]) -> str:
        return "nothing" if one == NOTHING else charts.series_label(selection.method(one[0]), *one)
    return label


def probability_range_view(selection: state.Selection) -> None:
    left, middle, right = st.columns([2, 1, 1])
    state.url_state("tail", "below", valid=TAILS)
    tail = left.radio("Which tokens", list(TAILS), key="tail", format_func=TAILS.get, horizontal=True)
    state.to_url("tail")
    state.url_state("threshold", schema.BIN_EDGES[1], float)
    threshold = middle.number_input("Threshold on p", min_value=0.0, max_value=1.0, key="threshold", format="%g",
                                    step=1e-4)
    state.to_url("threshold")
    state.url_state("top", 15, int, valid=range(5, 51))
    top = right.slider("Tokens shown per series", 5, 50, key="top")
    state.to_url("top")
    if tail == "below":
        listing = aggregate(selection, lowest_bin_tokens, upper=threshold, by=BY)
    else:   # the upper tail: the same listing of the tokens at or above the threshold
        listing = aggregate(selection, lowest_bin_tokens, lower=threshold, upper=None, by=BY)
    if selection.grouped():   # each group's mean count per token over its runs (0 where a run lists none)
        listing = grouped(selection, listing, ["count", "share"], by=[schema.STEP, *LISTED], listed=LISTED)
        listing = listing.sort("count", schema.TOKEN, descending=[True, False], nulls_last=True).with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(schema.RUN, schema.STEP).alias("rank"))
    groups = dict(selection.groups)
    series = pl.DataFrame([{schema.METHOD: selection.method(name), schema.RUN: groups.get(name, name),
                            schema.STEP: step} for name, step in selection.steps]).unique(maintain_order=True)
    counted = series.join(listing.group_by(BY).agg(pl.col("count").sum()), on=list(BY), how="left").with_columns(
        pl.col("count").fill_null(0))
    listing, order = charts.with_series(listing)
    counted, _ = charts.with_series(counted)
    relation = "<" if tail == "below" else "≥"
    st.caption(f"Target tokens with p {relation} {threshold:g}, counted per series (each run at its sidebar step); "
               "bars are coloured by the token's role in its example.")
    position = {label: i for i, label in enumerate(order)}   # the charts' series order
    rows = sorted(counted.iter_rows(named=True), key=lambda row: position.get(row[charts.SERIES], len(position)))
    st.markdown(" · ".join(f"**{md(row[charts.SERIES])}**: {row['count']:,} tokens" for row in rows))
    shown = listing.filter(pl.col("rank") <= top)
    if shown.is_empty():
        st.info(f"No selected run has a token with p {relation} {threshold:g}.")
    else:
        clicked = show_chart(charts.token_bars, shown, list(order), name="token-listing", select=charts.BAR,
                             csv=shown.select(charts.SERIES, *BY, "rank", schema.TOKEN, schema.ROLE, "count", "share"))
        bar_examples(selection, shown, clicked, threshold if tail == "below" else None,
                     None if tail == "below" else threshold)
    if tail == "below":
        shares = aggregate(selection, role_shares, upper=threshold, by=BY)
        st.markdown("**Stylistic roles below the threshold against all tokens** (enrichment above 1: "
                    "stylistic tokens are more common below the threshold than overall)")
        counted_roles = f"stylistic roles ({', '.join(schema.STYLISTIC_ROLES)})"
        show_table(grouped_table(selection, stylistic_shares(shares)).with_columns(
            pl.lit(counted_roles).alias("counted")))
        st.markdown("**Each role below the threshold against all tokens**")
        show_table(grouped_table(selection, shares, by=[schema.STEP, schema.ROLE]))
    with st.expander("Full listing"):
        show_table(listing.drop(charts.SERIES))


LISTED = [schema.TOKEN_ID, schema.TOKEN, schema.ROLE]   # what a token listing lists, a row each
Bar = tuple[str, int, str]   # a token bar: (run or group, step, token)
NO_BAR: Bar = ("", -1, "")   # no bar opened (Streamlit shows a None value as an empty choice)
MAX_LINKS = 10               # examples listed behind a bar


def parse_bar(text: str) -> Bar:
    """'run:step:token' (a link's ?bar=) -> (run, step, token); a token may hold ':' itself, a run name cannot."""
    run, step, token = text.split(":", 2)
    return run, int(step), token


def bar_examples(selection: state.Selection, shown: pl.DataFrame, clicked: list[dict], upper: float | None,
                 lower: float | None) -> None:
    """A token bar opened (clicked, or chosen): the examples holding that token in the range, each linking to the
    example viewer at that checkpoint and example (the link carries the whole view)."""
    bars: list[Bar] = [(row[schema.RUN], row[schema.STEP], row[schema.TOKEN])
                       for row in shown.drop_nulls(schema.TOKEN).iter_rows(named=True)]
    series = dict(zip(bars, shown.drop_nulls(schema.TOKEN)[charts.SERIES], strict=True))
    if clicked:   # a clicked bar becomes the chosen one
        st.session_state["bar"] = (clicked[0][schema.RUN], int(clicked[0][schema.STEP]), clicked[0][schema.TOKEN])
    state.url_state("bar", NO_BAR, parse_bar, valid=[NO_BAR, *bars])
    bar = st.selectbox("Examples behind a bar (or click one)", [NO_BAR, *bars], key="bar",
                       format_func=lambda one: "none" if one == NO_BAR else f"{series[one]} · {one[2]!r}")
    if bar == NO_BAR:
        st.query_params.pop("bar", None)
        return
    st.query_params["bar"] = ":".join(map(str, bar))
    group, step, token = bar
    groups = dict(selection.groups)
    for run in [group] if group in selection.runs else [name for name in selection.runs if groups.get(name) == group]:
        found = data.examples(selection, run, step, token=token, upper=float("inf") if upper is None else upper,
                              lower=lower or 0.0)
        viewer = {"view": "Example viewer", "example_a": f"{run}:{step}"}
        if upper in EDGES:   # the viewer can filter on this token below this threshold itself
            viewer.update(example_token=token, example_below=str(upper))
        links = [f"[{md(row[schema.EXAMPLE_ID])}](tokens?{urlencode({**viewer, 'example': row[schema.EXAMPLE_ID]})}) "
                 f"({row['tokens']:,} × · lowest p {row['lowest_p']:.2g})"
                 for row in found.head(MAX_LINKS).iter_rows(named=True)]
        more = f" (the first {MAX_LINKS} of {found.height:,})" if found.height > MAX_LINKS else ""
        st.markdown(f"**{found.height:,} examples hold {md(repr(token))} in this range under {md(series[bar])}"
                    f"{'' if run == group else f' ({md(run)})'}**{more}, lowest p first:\n"
                    + "\n".join(f"- {link}" for link in links))


def movers_view(selection: state.Selection) -> None:
    found = checkpoints(selection)
    if len(found) < 2:
        st.info("Choose a run with two probed steps, or two runs, to compare checkpoints.")
        return
    label = labeller(selection)
    cols = st.columns([2, 2, 1, 1])
    state.url_state("movers_before", found[0], state.parse_checkpoint, valid=found)
    before = cols[0].selectbox("Before", found, format_func=label, key="movers_before")
    state.url_state("movers_after", found[-1], state.parse_checkpoint, valid=found)
    after = cols[1].selectbox("After", found, format_func=label, key="movers_after")
    state.url_state("movers_by", "token", valid=("token", "role"))
    by = cols[2].radio("Compare", ["token", "role"], key="movers_by")
    state.url_state("movers_min", 5, int, valid=range(1, 1001))
    min_count = cols[3].number_input("Seen at least", 1, 1000, key="movers_min")
    for key in ("movers_before", "movers_after", "movers_by", "movers_min"):
        state.to_url(key)
    if before == after:
        st.info("Choose two different checkpoints.")
        return
    moved = data.movers(selection, before, after, by=by, top=15, min_count=int(min_count))
    if moved.is_empty():
        st.info("No token was seen often enough in both checkpoints to compare.")
        return
    st.caption(f"Mean p of each {by} under {md(label(after))} minus under {md(label(before))}; largest rises, then "
               "largest falls.")
    show_table(moved)


def left_behind_view(selection: state.Selection) -> None:
    state.url_state("behind_below", 0.1, float, valid=EDGES)
    below = st.select_slider("Left behind: p below", EDGES, key="behind_below", format_func=lambda edge: f"{edge:g}")
    state.to_url("behind_below")
    final = selection.last_steps()
    st.caption(f"Each run at its last probed step: per role (and the reply's last token) the share of "
               f"occurrences with p < {below:g}, then the tokens most often below it.")
    roles = aggregate(selection, left_behind_table, steps=final, below=below, by=BY)
    show_table(grouped_table(selection, roles, by=[schema.STEP, schema.ROLE]))
    behind = aggregate(selection, left_behind_tokens, steps=final, below=below, by=BY, top=10)
    if selection.grouped():   # each token's counts pooled over the runs of a group that list it (SEEDS of them)
        st.caption("Runs grouped: a token's counts summed over the runs whose ten most left behind list it, its "
                   "share below averaged over them.")
        behind = grouped(selection, behind, ["share_below"], by=[schema.STEP, *LISTED], sums=["count", "occurrences"])
        behind = behind.sort("count", schema.TOKEN, descending=[True, False], nulls_last=True).with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(schema.RUN, schema.STEP).alias("rank"))
    show_table(behind)


def example_view(selection: state.Selection) -> None:
    st.caption("One training example's reply, each target token coloured by its probability's bin; hover a token "
               "for its p, rank, entropy and role.")
    st.markdown(legend_html(), unsafe_allow_html=True)
    found, label = checkpoints(selection), labeller(selection)
    cols = st.columns(2)
    state.url_state("example_a", selection.steps[0], state.parse_checkpoint, valid=found)
    a = cols[0].selectbox("Checkpoint", found, format_func=label, key="example_a")
    state.url_state("example_b", NOTHING, state.parse_checkpoint, valid=[NOTHING, *found])
    b = cols[1].selectbox("Beside it (optional)", [NOTHING, *found], key="example_b", format_func=label)
    left, right = st.columns([1, 3])
    state.url_state("example_below", 1e-2, float, valid=EDGES)
    below = left.select_slider("Low probability: p below", EDGES, key="example_below",
                               format_func=lambda edge: f"{edge:g}")
    low = aggregate(selection, lowest_bin_tokens, steps=(a,), upper=below, by=BY)
    candidates = [ANY_TOKEN, *low[schema.TOKEN].drop_nulls().to_list()[:50]]   # most frequent low-p tokens first
    state.url_state("example_token", ANY_TOKEN, valid=candidates)
    token = right.selectbox(f"Only examples holding this token at p < {below:g}", candidates,
                            format_func=lambda t: "any example" if t == ANY_TOKEN else repr(t), key="example_token")
    for key in ("example_a", "example_b", "example_below", "example_token"):
        if st.session_state[key] in (NOTHING, ANY_TOKEN):   # the defaults: nothing to keep in a link
            st.query_params.pop(key, None)
        else:
            state.to_url(key)
    state.url_state("example_text", "")
    text = st.text_input("Only examples whose reply contains (spacing and case aside)", key="example_text").strip()
    if text:
        state.to_url("example_text")
    else:
        st.query_params.pop("example_text", None)
    matching = data.examples(selection, *a, token=None if token == ANY_TOKEN else token, upper=below, text=text)
    if matching.is_empty():
        st.info("No example matches.")
        return
    ids = matching[schema.EXAMPLE_ID].to_list()
    state.url_state("example", ids[0], valid=ids)
    lowest = dict(matching.select(schema.EXAMPLE_ID, "lowest_p").iter_rows())
    example = st.selectbox(f"Example ({len(ids):,}, lowest p first)", ids, key="example",
                           format_func=lambda i: f"{i} (lowest p {lowest[i]:.2g})")
    state.to_url("example")
    rows = data.example_rows(selection, *a, example)
    texts = data.token_texts(selection, *a, rows)
    state.url_state("example_color", COLOURINGS[0], valid=COLOURINGS)
    colouring = COLOURINGS[0]
    if b != NOTHING:
        colouring = st.radio("Colour tokens by", COLOURINGS, key="example_color", horizontal=True)
        state.to_url("example_color")
    else:   # nothing beside it: nothing to compare, nothing to keep in a link
        st.query_params.pop("example_color", None)
    if colouring == COLOURINGS[1]:
        changed = paired_rows(rows, data.example_rows(selection, *b, example))
        st.markdown(f"**p under {md(label(b))} minus p under {md(label(a))}** · "
                    f"{changed[DELTA].is_not_null().sum()} of {rows.height} target tokens in both",
                    unsafe_allow_html=True)
        st.markdown(delta_legend_html(), unsafe_allow_html=True)
        st.markdown(delta_html(changed, texts), unsafe_allow_html=True)
    else:
        shown = [one for one in (a, b) if one != NOTHING]
        for column, one in zip(st.columns(len(shown)), shown, strict=False):
            one_rows = rows if one == a else data.example_rows(selection, *one, example)
            column.markdown(f"**{md(label(one))}** · {one_rows.height} target tokens")
            if one_rows.is_empty():
                column.info("This checkpoint's probe does not hold this example.")
            else:
                spelled = texts if one == a else data.token_texts(selection, *one, one_rows)
                column.markdown(reply_html(one_rows, spelled), unsafe_allow_html=True)
    if not rows.is_empty():
        top_tokens(selection, a, example, rows, texts, label(a))


def top_tokens(selection: state.Selection, checkpoint: tuple[str, int], example: str, rows: pl.DataFrame,
               texts: list[str] | None, label: str) -> None:
    """On demand: the checkpoint's k most likely tokens at one reply position, with the data's token's rank."""
    state.url_state("example_topk", False, lambda text: text == "True")
    if not st.toggle(f"Top-k alternatives under {md(label)} (loads its weights)", key="example_topk"):
        st.query_params.pop("example_topk", None)
        return
    state.to_url("example_topk")
    positions = rows[schema.POSITION].to_list()
    spelled = dict(zip(positions, texts if texts is not None else rows[schema.TOKEN].to_list(), strict=True))
    p = dict(zip(positions, rows[schema.P].to_list(), strict=True))
    left, right = st.columns([3, 1])
    state.url_state("example_position", positions[0], int, valid=positions)
    position = left.selectbox("Position in the example", positions, key="example_position",
                              format_func=lambda at: f"{at} · {spelled[at]!r} · p {p[at]:.2g}")
    state.url_state("example_k", 10, int, valid=range(1, 51))
    k = int(right.number_input("k", 1, 50, key="example_k"))
    for key in ("example_position", "example_k"):
        state.to_url(key)
    found = alternatives(selection, *checkpoint, example, rows, k)
    if isinstance(found, str):
        st.info(f"No alternatives: {md(found)}.")
        return
    here = found.filter(pl.col(schema.POSITION) == position).sort("rank")
    target = here.row(0, named=True)
    st.markdown(f"At position {position} the data has {md(repr(spelled[position]))}: p = {target['target_p']:.3g}, "
                f"rank {target['target_rank']:,} under {md(label)}. The {here.height} most likely tokens there:")
    show_table(here.select("rank", TOKEN, schema.P), key="alternatives")


VIEWS = {"Probability range": probability_range_view, "Movers": movers_view, "Left behind": left_behind_view,
         "Example viewer": example_view}

st.title("Tokens")
chosen = need_selection()
view = choose_view(list(VIEWS))
with problem(view):
    VIEWS[view](chosen)
