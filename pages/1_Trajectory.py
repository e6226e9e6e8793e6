"""1 Trajectory: load a system, see its summary, play it in 3D, plot Rg, RMSD, Ramachandran."""

import mdtraj as md
import streamlit as st

from cgviz import CgvizError, analysis, figures, io, ui

PAYLOAD_BUDGET = 400_000  # atom positions the 3-D player may send (about 10 MB of JSON)

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
st.subheader(system.label)
cols = st.columns(6)
cols[0].metric("atoms", summary.n_atoms)
cols[1].metric("residues", summary.n_residues)
cols[2].metric("molecules", summary.n_chains)
cols[3].metric("frames" if n_traj == 1 else f"frames in {n_traj} runs", f"{system.n_frames:,}")
cols[4].metric("frame time", f"{summary.frame_time_ps:g} ps" if summary.frame_time_ps else "n/a")
cols[5].metric("total time", f"{total_ps / 1000:.3g} ns")

left, right = st.columns([3, 2])
with left:
    run = 0
    if n_traj > 1:
        run = st.selectbox("Trajectory", range(n_traj), format_func=lambda i: f"run {i + 1}")
    traj = system.trajectories[run]
    atoms = ui.molecule_choice(system, key="trajectory.molecule")
    wanted = st.select_slider("Frames in the 3-D player", options=[50, 100, 200, 400],
                              value=100, help="More frames, more data sent to the browser; "
                              f"at most {PAYLOAD_BUDGET:,} atom positions in all.")
    stride = figures.player_stride(traj.n_frames, len(atoms), budget_points=PAYLOAD_BUDGET,
                                   max_frames=wanted)
    shown = traj.atom_slice(atoms)[::stride]
    st.caption(f"Showing {shown.n_frames} of {traj.n_frames} frames (every {stride}th) x "
               f"{len(atoms)} atoms = {shown.n_frames * len(atoms):,} positions "
               f"(budget {PAYLOAD_BUDGET:,}).")
    bonds = io.topology_bonds(shown.topology)
    types = [system.properties.type_names[i] for i in atoms]
    ui.plotly_chart(figures.trajectory_player(shown.xyz, bonds, types, shown.time),
                    width="stretch", key="trajectory.player", config=figures.GL_CONFIG)

with right:
    masses = system.properties.masses[atoms]
    try:
        rg = analysis.compute_rg(traj.xyz[:, atoms], masses)
        smooth = traj.n_frames // 100  # frames per running-mean window
        ui.plotly_chart(figures.time_series(traj.time, {"Rg": rg}, "Rg (nm)", running_mean=smooth,
                                            title="Radius of gyration (mass-weighted)"),
                        width="stretch")
        heavy = [i for i in atoms if system.properties.type_names[i] != "H"]
        rmsd = md.rmsd(traj, traj, 0, atom_indices=heavy)
        ui.plotly_chart(figures.time_series(traj.time, {"RMSD": rmsd}, "RMSD (nm)",
                                            running_mean=smooth,
                                            title="RMSD to the first frame (heavy atoms)"),
                        width="stretch")
    except CgvizError as error:
        ui.show_error(error)

if summary.has_backbone_dihedrals:
    joined = md.join(system.trajectories) if n_traj > 1 else traj
    ui.plotly_chart(figures.ramachandran(md.compute_phi(joined)[1], md.compute_psi(joined)[1],
                                         title=f"Ramachandran free energy, all {n_traj} run(s)"),
                    width="content")
