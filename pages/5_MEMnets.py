"""5 MEMnets: slow CVs with small memory, beside TICA/VAMPnets; select points, see frames."""

import streamlit as st

from cgviz import CgvizError
from cgviz.app import markov_view, memnets_view, ui

st.set_page_config(page_title="cgviz · MEMnets", page_icon="🧬", layout="wide")
st.title("5 · MEMnets")
st.caption("MEMnets learns collective variables whose time-integrated memory kernel is small, "
           "so the dynamics along them is close to Markovian already at short lag times.")

system = ui.system_picker("memnets")
if system is None:
    st.stop()
KINDS = {"backbone dihedrals (sin/cos)": "dihedrals", "heavy-atom distances": "distances",
         "C-alpha distances": "ca-distances",
         "aligned heavy-atom coordinates": "coordinates", "aligned bead positions": "beads"}
kind = KINDS[st.radio("Features", list(KINDS), horizontal=True,
                      help="Bead positions use the Coarse-Graining page's mapping when it fits "
                      "this system, else METIS with 4 atoms per bead.")]
runs = ui.finished_runs("memnets")
source = st.radio("Model", ["train here"] + [f"finished run {r}" for r in runs], horizontal=True)
with st.form("memnets"):
    left, right = st.columns(2)
    lags = left.text_input("Lag times in frames (tau_0, then the IGME fit lags)", "1 7 8 9 10")
    hidden = left.text_input("Hidden layer sizes", "30 30 30 10")
    n_cvs = right.slider("CVs", 1, 4, 2)
    epochs = right.number_input("Epochs", 1, 200, 10)
    vampnets = right.checkbox("Also VAMPnets (slower)")
    run = st.form_submit_button("Train MEMnets here" if source == "train here" else "Show run",
                                type="primary")

if run:
    try:
        report = (memnets_view.fit_here(kind, system, lags, hidden, n_cvs, epochs, vampnets)
                  if source == "train here" else memnets_view.from_run(
                      runs[source.removeprefix("finished run ")], system, vampnets))
        st.session_state[memnets_view.REPORT_KEY] = report
        st.session_state.pop("cgviz.msm", None)
    except (CgvizError, ValueError) as error:
        ui.show_error(error, "MEMnets could not run")

report = st.session_state.get(memnets_view.REPORT_KEY)
if report is None or report.label != system.label:
    st.info("Choose features and settings, then press **Train MEMnets here**.")
    st.stop()
memnets_view.report_section(report)
st.subheader("Markov state model on the CVs")
markov_view.cv_section(report.cv_sets, report.dt_ps, report.msm_lag)
st.subheader("Linked view: select points (box or lasso), see those frames")
try:
    memnets_view.linked_view(report, system)
except CgvizError as error:
    ui.show_error(error, "The linked view cannot be drawn")
