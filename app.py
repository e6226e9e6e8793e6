"""cgviz home page: what cgviz is, the bundled demo data, where to go next."""

import streamlit as st

from cgviz import CgvizError, __version__, datasets

st.set_page_config(page_title="cgviz", page_icon="🧬", layout="wide")

st.title("cgviz")
st.markdown(
    "**See, train and question machine-learned coarse-grained molecular dynamics.** "
    "cgviz loads molecular dynamics trajectories, groups atoms into coarse-grained beads, "
    "and trains graph neural networks that advance those beads by nanosecond-scale steps. "
    "It also finds slow collective variables with MEMnets and shows how much memory their "
    "dynamics carries, next to Markovian baselines."
)

st.subheader("Bundled demo data")
st.caption("Simulated with OpenMM by `python -m cgviz demo-data`; they work offline.")
try:
    demos = datasets.list_demos()
except CgvizError as error:
    st.error(f"The bundled demo data cannot be read: {error}")
    demos = []
if demos:
    st.dataframe(
        [
            {
                "name": d.name,
                "system": d.system,
                "atoms": d.n_atoms,
                "molecules": d.n_molecules,
                "trajectories": len(d.trajectories),
                "frames": sum(d.n_frames),
                "frame time (ps)": round(d.frame_time_ps, 3),
                "total (ns)": round(d.total_time_ns, 2),
                "description": d.description,
            }
            for d in demos
        ],
        hide_index=True,
        width="stretch",
    )

st.subheader("Where to go next")
st.markdown(
    "- **Command line**: `python -m cgviz demos` lists these data sets; "
    "`python -m cgviz demo-data --help` makes new ones (up to paper scale).\n"
    "- **Python**: `cgviz.datasets.load_demo('alanine-dipeptide')`, "
    "`cgviz.io.load_trajectory(...)`, `cgviz.analysis`.\n"
    "- The pages for trajectories, coarse-graining, training, rollouts and MEMnets "
    "appear in the sidebar as they land."
)
st.caption(f"cgviz {__version__}")
