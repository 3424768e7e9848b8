"""Training dynamics page: each run's training batch over optimizer steps, from its dynamics/ parts."""

import streamlit as st

import probscope as ps
from probscope.analysis.dynamics import dynamics_signature


@st.cache_data(show_spinner="Reading training dynamics…", max_entries=32)
def dynamics(runs_root: str, runs: tuple | None, signature: tuple):   # signature: only a cache key
    return ps.load_dynamics(runs_root, runs)


st.title("Training dynamics")
st.caption(
    "Recorded while training (every logging step) on the batch being trained: its SFT and DFT losses, the "
    "share of its target tokens with p < 0.1, and the mean gradient weight of the run's own objective "
    "(SFT 1, DFT p). DFT down-weights tokens the model finds unlikely, so its low-p tail can grow."
)
runs_root, selection = st.session_state["runs_root"], st.session_state["selection"]
# the sidebar's run choice when it has one (it lists probed runs), else every run of the directory
runs = tuple(name for name, _ in selection["steps"]) if selection else None
frame = dynamics(runs_root, runs, dynamics_signature(runs_root, runs))
if frame.is_empty():
    st.info(
        f"No selected run in {runs_root} recorded training dynamics (a dynamics/ directory with Parquet "
        "parts). Train with `probscope train` (dynamics: true is the default), or build the demo with `make demo`."
    )
else:
    st.pyplot(ps.plot_training_dynamics(frame))
    st.subheader("The numbers behind it: one row per run and logged step")
    st.dataframe(ps.dynamics_curves(frame), hide_index=True)
    st.subheader("Every recorded column, one row per run, step and objective")
    st.dataframe(frame, hide_index=True)
