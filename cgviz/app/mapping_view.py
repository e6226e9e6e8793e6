"""Streamlit sections of the Coarse-Graining page: choosing a mapping (with bond inference
for topologies without bonds) and showing it: sizes, the 3-D view of one molecule, the bead
table and the take-away files. The picture's arrays come from
:func:`cgviz.mapping.subset.mapping_subset`."""

from __future__ import annotations

import streamlit as st

from cgviz import CgvizError, figures, mapping
from cgviz.app import ui
from cgviz.mapping import export as mapping_export
from cgviz.mapping.subset import mapping_subset


def choose_mapping(system):
    """The mapping the user builds or uploads, or None (shown with st.error when it cannot
    be built)."""
    topology = system.topology
    unbonded = ui.unbonded_atoms(topology)
    guess = st.checkbox(
        "Infer bonds from distances", key="cg.guess_bonds", value=False,
        help="Two atoms are bonded when closer than their covalent radii + 0.045 nm in the "
        "first frame (for bead models: closer than the cutoff below). For topologies whose "
        "files carry no bonds (.gro, .xyz, a PDB without CONECT records for non-standard "
        "residues).")
    cutoff = None
    if guess:
        st.caption("Bonds are guessed from the first frame of run 1, not read from the "
                   "topology: check the CG bonds below.")
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
                                      "array (.npy: bead index per atom)",
                                      type=["json", "npz", "npy"])
            if upload is None:
                return None
            cg = ui.load_mapping_upload(upload, topology, system.properties)
    except CgvizError as error:
        ui.show_error(error, "This mapping cannot be built")
        if not guess and "guess_bonds" in str(error):
            st.info("Tick **Infer bonds from distances** above to guess the missing bonds.")
        return None
    return cg


def show_mapping(cg, system) -> None:
    """Sizes, the 3-D view of one molecule at one frame, the bead table, the downloads."""
    cols = st.columns(4)
    cols[0].metric("atoms", cg.n_atoms)
    cols[1].metric("beads", cg.n_beads)
    cols[2].metric("CG bonds", len(cg.bead_bonds))
    cols[3].metric("mean atoms per bead", f"{cg.n_atoms / cg.n_beads:.2f}")
    traj = system.trajectories[0]
    atoms = ui.molecule_choice(system, key="cg.molecule")
    frame = st.slider("Frame", 0, traj.n_frames - 1, 0) if traj.n_frames > 1 else 0
    shown = mapping_subset(cg, traj.xyz[frame], atoms)
    ui.plotly_chart(figures.mapping_3d(shown.atom_xyz, shown.atom_bonds, shown.atom_bead,
                                       shown.bead_xyz, shown.bead_bonds,
                                       bead_labels=list(shown.labels)),
                    width="stretch", config=figures.GL_CONFIG)
    st.dataframe(shown.table, hide_index=True, height=240)
    st.download_button("Download mapping + bead trajectory (zip: JSON, PDB, XTC, sidecar)",
                       data=lambda: ui.bead_files_zip(cg, system.trajectories),
                       file_name="cgviz-beads.zip", mime="application/zip")
    st.download_button("Download the mapping for GROMACS (zip: .ndx + bead types JSON)",
                       data=lambda: mapping_export.mapping_files_zip(cg),
                       file_name="cgviz-ndx.zip", mime="application/zip",
                       help="Atoms numbered as here, without water; `python -m cgviz map` "
                       "numbers them as in your topology file.")
