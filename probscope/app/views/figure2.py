"""Figure 2 page: the share of target tokens per probability bin, one bar per method, and its table."""

import streamlit as st

import probscope as ps


@st.cache_data(show_spinner="Binning token probabilities…", max_entries=32)
def histogram(runs_root: str, dataset: str, steps: tuple, signature: tuple):   # signature: only a cache key
    tokens = ps.load_tokens(runs_root, steps=dict(steps), dataset=dataset, lazy=True)
    return ps.probability_histogram(tokens, by=ps.series_columns(tokens))


st.title("Figure 2: where the probabilities of the training tokens fall")
st.caption(
    "Teacher-forced probability of every target token of the probed dataset, in the DFT paper's bins; "
    "y is the percentage of each method's tokens, on a log axis. DFT polarizes: most tokens move "
    "towards 1 while a few stay near 0."
)
hist = histogram(**st.session_state["selection"])
st.pyplot(ps.plot_probability_histogram(hist))
st.subheader("The table behind it")
st.dataframe(hist, hide_index=True)
