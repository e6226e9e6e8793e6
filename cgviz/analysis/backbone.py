"""Backbone dihedrals paired per residue, for Ramachandran plots of any protein.

mdtraj's ``compute_phi`` and ``compute_psi`` each list the dihedrals they find: a residue
at a chain start or after a break has no phi, one at a chain end or before a break (or a
non-standard residue without N, CA or C) has no psi, so the two lists differ in length
and their columns belong to different residues. :func:`compute_phi_psi` keeps the
residues that have both, so column ``k`` of phi and of psi is the same residue.

mdtraj is imported when a function is called (importing :mod:`cgviz.analysis` loads
numpy only).
"""

from __future__ import annotations

import numpy as np

__all__ = ["compute_phi_psi", "is_alanine_dipeptide"]


def compute_phi_psi(traj) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(phi, psi, residues): the backbone dihedrals (radians) of the residues that have
    both, in chain order.

    Parameters
    ----------
    traj : md.Trajectory

    Returns
    -------
    phi, psi : (n_frames, n_residues) float arrays, radians; column k of both is the
        residue ``residues[k]``
    residues : (n_residues,) int64 residue indices of the topology (empty where no
        residue has both angles, e.g. a bead model)
    """
    import mdtraj as md

    phi_atoms, phi = md.compute_phi(traj)
    psi_atoms, psi = md.compute_psi(traj)
    topology = traj.topology
    # phi = C(i-1), N(i), CA(i), C(i); psi = N(i), CA(i), C(i), N(i+1): the CA names i
    phi_of = {topology.atom(int(q[2])).residue.index: k for k, q in enumerate(phi_atoms)}
    psi_of = {topology.atom(int(q[1])).residue.index: k for k, q in enumerate(psi_atoms)}
    residues = np.array(sorted(set(phi_of) & set(psi_of)), dtype=np.int64)
    n_frames = traj.n_frames
    if residues.size == 0:
        return np.zeros((n_frames, 0)), np.zeros((n_frames, 0)), residues
    return (phi[:, [phi_of[r] for r in residues]], psi[:, [psi_of[r] for r in residues]],
            residues)


def is_alanine_dipeptide(topology) -> bool:
    """Whether ``topology`` is alanine dipeptide (ACE-ALA-NME, one chain): the system whose
    named conformational states (C7eq/beta, alpha_R, alpha_L/C7ax,
    ``cgviz.datasets.alanine.conformational_states``) apply."""
    chains = list(topology.chains)
    return len(chains) == 1 and [r.name for r in topology.residues] == ["ACE", "ALA", "NME"]
