"""The part of a mapping that one picture shows: some atoms (a molecule, a selection) of
one frame, their beads, and the bonds among them, renumbered from 0.

:func:`mapping_subset` is the one call behind the Coarse-Graining page's 3-D view and bead
table; the figure builder ``cgviz.figures.mapping_3d`` takes its arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cgviz.errors import CgvizError


@dataclass(frozen=True)
class MappingSubset:
    """Atoms and beads of one picture, renumbered (local indices from 0).

    Attributes
    ----------
    atoms: (n,) the atoms shown (indices in the system).
    beads: (m,) the beads holding them (indices in the mapping), sorted.
    atom_xyz: (n, 3) nm; bead_xyz: (m, 3) nm, the beads' mass-weighted centres.
    atom_bonds, bead_bonds: (., 2) local index pairs (bonds with both ends shown).
    atom_bead: (n,) local bead index of each atom shown.
    labels: one hover label per bead ("bead 3: C*2+O, 28.0 amu").
    table: column name -> values, one row per bead (composition, atoms, mass, residue).
    """

    atoms: np.ndarray
    beads: np.ndarray
    atom_xyz: np.ndarray
    bead_xyz: np.ndarray
    atom_bonds: np.ndarray
    bead_bonds: np.ndarray
    atom_bead: np.ndarray
    labels: tuple[str, ...]
    table: dict


def mapping_subset(mapping, xyz: np.ndarray, atoms=None) -> MappingSubset:
    """The picture of ``atoms`` (default: all) of one frame ``xyz`` ((n_atoms, 3), nm)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.shape != (mapping.n_atoms, 3):
        raise CgvizError(f"The frame has shape {xyz.shape}; the mapping is for "
                         f"{mapping.n_atoms} atoms.", hint="Give one frame of the system.")
    atoms = (np.arange(mapping.n_atoms) if atoms is None
             else np.unique(np.asarray(atoms, dtype=np.int64)))
    if atoms.size == 0 or atoms[0] < 0 or atoms[-1] >= mapping.n_atoms:
        raise CgvizError("The atoms to show must be indices of the system's atoms.")
    beads = np.unique(mapping.assignment[atoms])
    atom_local = -np.ones(mapping.n_atoms, dtype=np.int64)
    atom_local[atoms] = np.arange(len(atoms))
    bead_local = -np.ones(mapping.n_beads, dtype=np.int64)
    bead_local[beads] = np.arange(len(beads))

    def local(pairs: np.ndarray, index: np.ndarray) -> np.ndarray:
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        kept = pairs[(index[pairs] >= 0).all(axis=1)]
        return index[kept].reshape(-1, 2)

    sizes = np.bincount(mapping.assignment, minlength=mapping.n_beads)
    table = {"bead": beads, "composition": [mapping.bead_types[b] for b in beads],
             "atoms": sizes[beads], "mass (amu)": np.round(mapping.bead_masses[beads], 2),
             "residue": [mapping.bead_residue_names[b] for b in beads]}
    labels = tuple(f"bead {b}: {mapping.bead_types[b]}, {mapping.bead_masses[b]:.1f} amu"
                   for b in beads)
    return MappingSubset(atoms, beads, xyz[atoms], mapping.map_positions(xyz)[beads],
                         local(mapping.atom_bonds, atom_local),
                         local(mapping.bead_bonds, bead_local),
                         bead_local[mapping.assignment[atoms]], labels, table)
