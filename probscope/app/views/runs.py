"""Runs page: one row per run of the runs directory, from its manifest and its files."""

import streamlit as st

import probscope as ps

st.title("Runs")
st.caption("Each run directory holds manifest.json, checkpoints/step-N/ and probes/<dataset>/step-N/.")
st.dataframe(ps.runs_overview(st.session_state["runs_root"]), hide_index=True)
