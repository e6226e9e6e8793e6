"""cgviz's entry point: the pages in the sidebar (the home page is cgviz.app.home)."""

import streamlit as st

from cgviz.app.home import home

# The sidebar: the home page and the five steps, in order, at the addresses the pages/
# folder gave them (/Trajectory ...). Streamlit runs this file on every page's run, so it
# imports little; each page file imports what it needs.
PAGES = [
    st.Page(home, title="Home", default=True),
    st.Page("pages/1_Trajectory.py", title="1 Trajectory", url_path="Trajectory"),
    st.Page("pages/2_Coarse_Graining.py", title="2 Coarse-Graining", url_path="Coarse_Graining"),
    st.Page("pages/3_Training.py", title="3 Training", url_path="Training"),
    st.Page("pages/4_Rollout.py", title="4 Rollout", url_path="Rollout"),
    st.Page("pages/5_MEMnets.py", title="5 MEMnets", url_path="MEMnets"),
]
st.navigation(PAGES).run()
