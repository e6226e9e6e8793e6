"""1 Trajectory: load a system, see its summary, play it in 3D, plot Rg, RMSD, Ramachandran."""

import streamlit as st

from cgviz import CgvizError, figures, io
from cgviz.app import ui

st.set_page_config(page_title="cgviz · Trajectory", page_icon="🧬", layout="wide")
st.title("1 · Trajectory")
st.caption("Load a trajectory: a bundled demo, your own files, or files on this server.")

system = ui.system_picker("trajectory")
if system is None:
    st.info("Pick a system above to start.")
    st.stop()

summary = io.trajectory_summary(system.trajectories[0])
n_traj = len(system.trajectories)
total_ps = sum(io.trajectory_summary(t).total_time_ps or 0.0 for t in system.trajectories)
st.subheader(ui.markdown_text(system.label))
cols = st.columns(6)
cols[0].metric("atoms", summary.n_atoms)
cols[1].metric("residues", summary.n_residues)
cols[2].metric("molecules", summary.n_chains)
cols[3].metric("frames" if n_traj == 1 else f"frames in {n_traj} runs", f"{system.n_frames:,}")
cols[4].metric("frame time", f"{summary.frame_time_ps:g} ps" if summary.frame_time_ps else "n/a")
cols[5].metric("total time", f"{total_ps / 1000:.3g} ns")

# The figures are built once per trajectory and choice, and shared by reruns and sessions
# (the home page builds the first demo's in the background): see cgviz.ui.player_view.
left, right = st.columns([3, 2])
with left:
    run = 0
    if n_traj > 1:
        run = st.selectbox("Trajectory", range(n_traj), format_func=lambda i: f"run {i + 1}")
    traj = system.trajectories[run]
    atoms = ui.molecule_choice(system, key="trajectory.molecule")
    wanted = st.select_slider("Frames in the 3-D player", options=ui.PLAYER_FRAMES,
                              value=ui.PLAYER_FRAMES[1], help="More frames, more data sent to "
                              f"the browser; at most {ui.PLAYER_BUDGET:,} atom positions in all.")
    player, shown = ui.player_view(traj, system.properties.type_names, atoms, wanted)
    st.caption(shown)
    ui.plotly_chart(player, width="stretch", key="trajectory.player", config=figures.GL_CONFIG)

with right:
    try:
        rg, rmsd = ui.rg_rmsd_views(traj, system.properties, atoms)
        ui.plotly_chart(rg, title="Radius of gyration (mass-weighted)", width="stretch")
        ui.plotly_chart(rmsd, title="RMSD to the first frame (heavy atoms)", width="stretch")
    except CgvizError as error:
        ui.show_error(error)

if summary.has_backbone_dihedrals:
    ramachandran = ui.ramachandran_view(system.trajectories)
    if ramachandran is None:
        st.info("No residue has both backbone dihedrals (phi and psi), so there is no "
                "Ramachandran plot.")
    else:
        ui.plotly_chart(ramachandran, title=f"Ramachandran free energy, all {n_traj} run(s)",
                        width="content")
