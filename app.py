"""cgviz home page: what cgviz is, the bundled demo data, where to go next."""

import mdtraj as md
import streamlit as st

from cgviz import CgvizError, __version__, datasets, figures, io, jobs

st.set_page_config(page_title="cgviz", page_icon="🧬", layout="wide")


@st.cache_resource(show_spinner="Loading demo data ...")
def load_demo(name: str) -> datasets.Demo:
    return datasets.load_demo(name)


st.title("cgviz")
st.markdown(
    "**See, train and question machine-learned coarse-grained molecular dynamics.** "
    "cgviz loads molecular dynamics trajectories, groups atoms into coarse-grained beads, "
    "and trains graph neural networks that advance those beads by nanosecond-scale steps. "
    "It also finds slow collective variables with MEMnets and shows how much memory their "
    "dynamics carries, next to Markovian baselines."
)

st.subheader("Bundled demo data")
st.caption("Simulated with OpenMM by `python -m cgviz demo-data`; everything works offline.")
try:
    demos = {d.name: d for d in datasets.list_demos()}
except CgvizError as error:
    st.error(f"The bundled demo data cannot be read: {error}")
    demos = {}
if demos:
    left, right = st.columns(2)
    try:
        if "alanine-dipeptide" in demos:
            ala = load_demo("alanine-dipeptide")
            joined = md.join(ala.trajectories)
            right.plotly_chart(figures.ramachandran(
                md.compute_phi(joined)[1], md.compute_psi(joined)[1],
                title=f"Alanine dipeptide, {ala.info.total_time_ns:.0f} ns: free energy (kJ/mol)"),
                width="stretch")
        if "polymer-train" in demos:
            polymer = load_demo("polymer-train")
            chain = [a.index for a in polymer.topology.chain(0).atoms]
            sub = polymer.trajectories[0].atom_slice(chain)[-1]
            bonds = io.topology_bonds(sub.topology)
            left.plotly_chart(figures.molecule_2d(
                sub.xyz[0], bonds, [polymer.atom_types[i] for i in chain],
                title="Copolymer chain 1 of polymer-train, flat view"),
                width="stretch")
    except CgvizError as error:
        st.error(f"A demo failed to load: {error}")
    st.dataframe(
        [
            {"name": d.name, "system": d.system, "atoms": d.n_atoms, "molecules": d.n_molecules,
             "trajectories": len(d.trajectories), "frames": sum(d.n_frames),
             "frame time (ps)": round(d.frame_time_ps, 3), "total (ns)": round(d.total_time_ns, 2),
             "description": d.description}
            for d in demos.values()
        ],
        hide_index=True,
        width="stretch",
    )

st.subheader("Where to go next")
st.markdown(
    "1. **Trajectory**: load a demo or your own files, play them in 3-D, plot Rg and dihedrals.\n"
    "2. **Coarse-Graining**: group atoms into beads (METIS, residues, segments) and look.\n"
    "3. **Training**: train the simulator or MEMnets in the background, on CPU or GPUs.\n"
    "4. **Rollout**: run the bundled (or your) simulator on held-out chains against their MD.\n"
    "5. **MEMnets**: slow CVs and their memory, beside TICA; select points to see frames.\n\n"
    "Everything here is also a command (`python -m cgviz --help`) and a library call "
    "(`cgviz.datasets`, `cgviz.io`, `cgviz.analysis`, `cgviz.mapping`, `cgviz.simulator`, "
    "`cgviz.memnets`, `cgviz.jobs`)."
)
st.caption(f"cgviz {__version__} · compute here: {jobs.device_summary()}")
