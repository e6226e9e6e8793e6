"""2 Coarse-Graining: choose an atom -> bead mapping and look at it in 3D."""

import streamlit as st

from cgviz.app import mapping_view, ui

st.set_page_config(page_title="cgviz · Coarse-Graining", page_icon="🧬", layout="wide")
st.title("2 · Coarse-Graining")
st.caption("Group atoms into beads. A bead sits at the mass-weighted centre of its atoms; two "
           "beads are bonded when any chemical bond joins them.")

system = ui.system_picker("cg")
if system is None:
    st.stop()
cg = mapping_view.choose_mapping(system)
if cg is None:
    st.stop()
st.session_state["cgviz.mapping"] = cg
mapping_view.show_mapping(cg, system)
