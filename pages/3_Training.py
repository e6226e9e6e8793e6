"""3 Training: launch background runs (simulator or MEMnets), watch them live, cancel, resume."""

import streamlit as st

from cgviz.app import training_view, ui

st.set_page_config(page_title="cgviz · Training", page_icon="🧬", layout="wide")
st.title("3 · Training")
st.caption("Every run is a folder on disk driven by its own process: it keeps going when you "
           "close the tab, and a reload or a second tab finds it again.")

system = ui.system_in_use()
st.markdown(ui.system_caption(system))
kind = st.radio("What to train", ["CG simulator", "MEMnets"], horizontal=True)
sources = ui.training_sources(system, kind)
devices = training_view.device_options()
with st.form("launch"):
    left, right = st.columns(2)
    name = left.text_input("Run name (optional)")
    device = devices[left.selectbox("Device", list(devices))]
    data = left.selectbox("Training data", list(sources),
                          help="The system in use is the one the Trajectory page loaded, with "
                          "the Coarse-Graining page's mapping when it fits.")
    settings = (training_view.simulator_settings(right) if kind == "CG simulator"
                else training_view.memnets_settings(right))
    launched = st.form_submit_button("Start run", type="primary")

if launched:
    training_view.launch(kind, sources[data], settings, device, name)
training_view.runs_section()
