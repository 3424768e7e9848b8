"""Lowest-bin page: which tokens a model leaves at very low probability, and what roles they play."""

import streamlit as st

import probscope as ps
from probscope import schema


@st.cache_data(show_spinner="Listing low-probability tokens…", max_entries=32)
def tables(upper: float, runs_root: str, dataset: str, steps: tuple, signature: tuple):   # signature: a cache key
    tokens = ps.load_tokens(runs_root, steps=dict(steps), dataset=dataset, lazy=True)
    by = ps.series_columns(tokens)
    shares = ps.role_shares(tokens, upper=upper, by=by)
    return ps.lowest_bin_tokens(tokens, upper=upper, by=by), shares, ps.stylistic_shares(shares)


st.title("Lowest-bin tokens")
st.caption(
    "The paper reads the lowest bin of Figure 2 as conjunctions and punctuation. Bars are coloured by "
    "each token's role in its example."
)
left, right = st.columns(2)
upper = left.selectbox("Tokens with p below", schema.BIN_EDGES[1:5], format_func=lambda edge: f"{edge:g}")
top = right.slider("Tokens shown per method", 5, 50, 15)
listing, shares, stylistic = tables(upper, **st.session_state["selection"])
st.pyplot(ps.plot_lowest_bin_tokens(listing, top=top, upper=upper))

st.subheader("Connectives and punctuation: share among low-p tokens vs among all tokens")
st.dataframe(stylistic, hide_index=True)
st.caption("enrichment > 1: stylistic tokens are over-represented below the threshold.")
st.subheader("Per role")
st.dataframe(shares, hide_index=True)
st.subheader("Full listing")
st.dataframe(listing, hide_index=True)
