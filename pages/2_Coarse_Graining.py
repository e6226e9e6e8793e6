"""2 Coarse-Graining: choose an atom -> bead mapping and look at it in 3D."""

import numpy as np
import streamlit as st

from cgviz import CgvizError, figures, mapping, mapping_export, ui

st.set_page_config(page_title="cgviz · Coarse-Graining", page_icon="🧬", layout="wide")
st.title("2 · Coarse-Graining")
st.caption("Group atoms into beads. A bead sits at the mass-weighted centre of its atoms; two "
           "beads are bonded when any chemical bond joins them.")

system = ui.system_picker("cg")
if system is None:
    st.stop()
topology = system.topology
unbonded = ui.unbonded_atoms(topology)
guess = st.checkbox(
    "Infer bonds from distances", key="cg.guess_bonds", value=False,
    help="Two atoms are bonded when closer than their covalent radii + 0.045 nm in the first "
    "frame (for bead models: closer than the cutoff below). For topologies whose files carry "
    "no bonds (.gro, .xyz, a PDB without CONECT records for non-standard residues).")
cutoff = None
if guess:
    st.caption("Bonds are guessed from the first frame of run 1, not read from the topology: "
               "check the CG bonds below.")
    if any(a.element is None or a.element.symbol in ("VS", "") for a in topology.atoms):
        cutoff = st.number_input("Bond cutoff for beads (nm)", 0.05, 2.0, 0.5, 0.05,
                                 key="cg.bond_cutoff")
elif len(unbonded):
    st.warning(ui.unbonded_warning(topology, unbonded))
bonds = dict(guess_bonds=guess, coordinates=system.trajectories[0] if guess else None,
             bond_cutoff_nm=cutoff, properties=system.properties)
method = st.radio("Mapping", ["METIS (graph partition)", "One bead per residue(s)",
                              "Contiguous segments", "Upload a mapping"], horizontal=True)
# Each method has its own slider (its own key, per range): a slider shows the value used.
try:
    if method.startswith("METIS"):
        largest = max(c.n_atoms for c in topology.chains)
        top = max(2, largest // 2)
        per_bead = st.slider("Atoms per bead", 1, top, min(4, max(1, largest // 2)),
                             key=f"cg.metis.per_bead.{top}")
        cg = mapping.metis_mapping(topology, per_bead, **bonds)
    elif method.startswith("One bead"):
        per_res = st.number_input("Residues per bead", 1, max(1, topology.n_residues), 1,
                                  key=f"cg.residue.per_bead.{topology.n_residues}")
        cg = mapping.residue_mapping(topology, int(per_res), **bonds)
    elif method.startswith("Contiguous"):
        top = max(2, topology.n_atoms // 2)
        per_bead = st.slider("Atoms per bead", 1, top, min(4, top),
                             key=f"cg.contiguous.per_bead.{top}")
        cg = mapping.contiguous_mapping(topology, per_bead, **bonds)
    else:
        upload = st.file_uploader("A mapping saved by cgviz (.json/.npz) or an assignment "
                                  "array (.npy: bead index per atom)", type=["json", "npz", "npy"])
        if upload is None:
            st.stop()
        cg = ui.load_mapping_upload(upload, topology, system.properties)
except CgvizError as error:
    ui.show_error(error, "This mapping cannot be built")
    if not guess and "guess_bonds" in str(error):
        st.info("Tick **Infer bonds from distances** above to guess the missing bonds.")
    st.stop()

st.session_state["cgviz.mapping"] = cg
cols = st.columns(4)
cols[0].metric("atoms", cg.n_atoms)
cols[1].metric("beads", cg.n_beads)
cols[2].metric("CG bonds", len(cg.bead_bonds))
cols[3].metric("mean atoms per bead", f"{cg.n_atoms / cg.n_beads:.2f}")

traj = system.trajectories[0]
atoms = ui.molecule_choice(system, key="cg.molecule")
frame = st.slider("Frame", 0, traj.n_frames - 1, 0) if traj.n_frames > 1 else 0
beads = np.unique(cg.assignment[atoms])
bead_xyz = cg.map_positions(traj.xyz[frame : frame + 1])[0]
atom_index = {a: i for i, a in enumerate(atoms)}
bead_index = {b: i for i, b in enumerate(beads)}
atom_bonds = [(atom_index[a], atom_index[b]) for a, b in cg.atom_bonds if a in atom_index]
bead_bonds = [(bead_index[a], bead_index[b]) for a, b in cg.bead_bonds if a in bead_index]
labels = [f"bead {b}: {cg.bead_types[b]}, {cg.bead_masses[b]:.1f} amu" for b in beads]
ui.plotly_chart(figures.mapping_3d(
    traj.xyz[frame, atoms], np.array(atom_bonds).reshape(-1, 2),
    np.array([bead_index[b] for b in cg.assignment[atoms]]), bead_xyz[beads],
    np.array(bead_bonds).reshape(-1, 2), bead_labels=labels), width="stretch",
    config=figures.GL_CONFIG)

sizes = np.bincount(cg.assignment, minlength=cg.n_beads)
st.dataframe({"bead": beads, "composition": [cg.bead_types[b] for b in beads],
              "atoms": sizes[beads], "mass (amu)": np.round(cg.bead_masses[beads], 2),
              "residue": [cg.bead_residue_names[b] for b in beads]},
             hide_index=True, height=240)
st.download_button("Download mapping + bead trajectory (zip: JSON, PDB, XTC, sidecar)",
                   data=lambda: ui.bead_files_zip(cg, system.trajectories),
                   file_name="cgviz-beads.zip",
                   mime="application/zip")
st.download_button("Download the mapping for GROMACS (zip: .ndx + bead types JSON)",
                   data=lambda: mapping_export.mapping_files_zip(cg), file_name="cgviz-ndx.zip",
                   mime="application/zip", help="Atoms numbered as here, without water; "
                   "`python -m cgviz map` numbers them as in your topology file.")
