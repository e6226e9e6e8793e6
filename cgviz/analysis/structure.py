"""Static structure: radius of gyration, distances, bonds, angles, contacts, collisions.

All positions are in nm, masses in amu, angles in radians. Functions take numpy arrays
(``traj.xyz`` of an mdtraj Trajectory, atom or bead level alike) and return numpy
arrays. No periodic boundary conditions are applied: pass whole (unwrapped) molecules.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from cgviz.analysis._checks import (
    as_bonds,
    as_count,
    as_indices,
    as_masses,
    as_positions,
    as_positive,
)
from cgviz.errors import CgvizError

__all__ = [
    "compute_rg",
    "compute_rg_per_molecule",
    "pairwise_distances",
    "atom_pairs",
    "compute_bond_lengths",
    "angle_triples_from_bonds",
    "compute_bond_angles",
    "compute_contact_map",
    "compute_min_nonbonded_distance",
    "compute_collision_rate",
]

def _rg_of(positions: np.ndarray, masses: np.ndarray) -> np.ndarray:
    total_mass = masses.sum()
    center_of_mass = np.einsum("fai,a->fi", positions, masses) / total_mass
    displacement = positions - center_of_mass[:, None, :]
    squared = np.einsum("fai,fai->fa", displacement, displacement)
    return np.sqrt(squared @ masses / total_mass)


def compute_rg(xyz: Any, masses: Any, atom_indices: Any = None) -> np.ndarray:
    """Mass-weighted radius of gyration about the centre of mass, per frame.

    ``Rg^2 = sum_i m_i |r_i - R|^2 / sum_i m_i`` with ``R = sum_i m_i r_i / sum_i m_i``.
    Unlike ``mdtraj.compute_rg(traj, masses)``, which centres on the unweighted
    centroid, the centre here is the centre of mass (docs/science.md 1.5).

    Parameters
    ----------
    xyz : (n_frames, n_atoms, 3) array, nm
    masses : (n_atoms,) array, amu, all positive (``np.ones(n_atoms)`` for unweighted)
    atom_indices : (n_selected,) int array, optional
        Use only these atoms (their masses are taken from ``masses``).

    Returns
    -------
    rg : (n_frames,) float64 array, nm
    """
    positions = as_positions(xyz)
    weights = as_masses(masses, positions.shape[1])
    if atom_indices is not None:
        selection = as_indices(atom_indices, positions.shape[1], "atom_indices")
        if selection.size == 0:
            raise CgvizError("atom_indices is empty.", hint="Select at least one atom.")
        positions, weights = positions[:, selection], weights[selection]
    return _rg_of(positions, weights)


def compute_rg_per_molecule(
    xyz: Any, masses: Any, groups: Sequence[Any]
) -> np.ndarray:
    """Mass-weighted radius of gyration of each molecule (group of atoms), per frame.

    Meant for trajectories holding several chains (the polymer demo packs many
    non-interacting chains into one system).

    Parameters
    ----------
    xyz : (n_frames, n_atoms, 3) array, nm
    masses : (n_atoms,) array, amu
    groups : list of n_groups int arrays
        The atom indices of each molecule (e.g. one per chain).

    Returns
    -------
    rg : (n_frames, n_groups) float64 array, nm
    """
    positions = as_positions(xyz)
    weights = as_masses(masses, positions.shape[1])
    if isinstance(groups, np.ndarray) and groups.ndim == 2:
        groups = list(groups)
    if not isinstance(groups, (list, tuple)) or len(groups) == 0:
        raise CgvizError(
            "groups must be a non-empty list of index arrays, one per molecule.",
            hint="For chains in an mdtraj topology: [[a.index for a in c.atoms] for c in "
            "top.chains].",
        )
    result = np.empty((positions.shape[0], len(groups)))
    for group_number, group in enumerate(groups):
        selection = as_indices(group, positions.shape[1], f"groups[{group_number}]")
        if selection.size == 0:
            raise CgvizError(
                f"groups[{group_number}] is empty.", hint="Every group needs an atom."
            )
        result[:, group_number] = _rg_of(positions[:, selection], weights[selection])
    return result


def pairwise_distances(xyz: Any, pairs: Any) -> np.ndarray:
    """Distances between the given atom pairs in every frame.

    Parameters
    ----------
    xyz : (n_frames, n_atoms, 3) array, nm
    pairs : (n_pairs, 2) int array

    Returns
    -------
    distances : (n_frames, n_pairs) float64 array, nm
    """
    positions = as_positions(xyz)
    index_pairs = as_indices(pairs, positions.shape[1], "pairs", width=2)
    difference = positions[:, index_pairs[:, 1]] - positions[:, index_pairs[:, 0]]
    return np.sqrt(np.einsum("fpi,fpi->fp", difference, difference))


def atom_pairs(n_atoms: int, exclude_neighbors: int = 0) -> np.ndarray:
    """All pairs ``(i, j)`` with ``j - i > exclude_neighbors`` (so i < j), row-major order.

    With pairwise_distances this gives the usual "all bead distances" features for TICA.

    Returns
    -------
    pairs : (n_pairs, 2) int64 array
    """
    n_atoms = as_count(n_atoms, "n_atoms", 1)
    exclude_neighbors = as_count(exclude_neighbors, "exclude_neighbors", 0)
    first, second = np.triu_indices(n_atoms, k=exclude_neighbors + 1)
    return np.stack([first, second], axis=1).astype(np.int64)


def compute_bond_lengths(xyz: Any, bonds: Any) -> np.ndarray:
    """Length of every bond in every frame.

    Parameters
    ----------
    xyz : (n_frames, n_atoms, 3) array, nm
    bonds : (n_bonds, 2) int array

    Returns
    -------
    lengths : (n_frames, n_bonds) float64 array, nm
    """
    positions = as_positions(xyz)
    return pairwise_distances(positions, as_bonds(bonds, positions.shape[1]))


def angle_triples_from_bonds(bonds: Any, n_atoms: int) -> np.ndarray:
    """Every bond angle ``i-j-k`` of a bond graph: i and k both bonded to j, ``i < k``.

    Duplicate bonds (in either direction) count once. The rows are sorted by the central
    atom j, then by i, then by k.

    Parameters
    ----------
    bonds : (n_bonds, 2) int array
    n_atoms : int

    Returns
    -------
    triples : (n_angles, 3) int64 array of ``(i, j, k)``; (0, 3) when there is none
    """
    n_atoms = as_count(n_atoms, "n_atoms", 1)
    bond_array = as_bonds(bonds, n_atoms)
    neighbors: list[set[int]] = [set() for _ in range(n_atoms)]
    for first, second in bond_array.tolist():
        neighbors[first].add(second)
        neighbors[second].add(first)
    triples = [
        (i, center, k)
        for center in range(n_atoms)
        for position, i in enumerate(sorted(neighbors[center]))
        for k in sorted(neighbors[center])[position + 1 :]
    ]
    return np.asarray(triples, dtype=np.int64).reshape(-1, 3)


def compute_bond_angles(xyz: Any, triples: Any) -> np.ndarray:
    """Angle ``i-j-k`` at the central atom j, in every frame.

    Computed as ``atan2(|u x v|, u . v)`` with ``u = r_i - r_j``, ``v = r_k - r_j``, which
    is accurate near 0 and pi. If two of the atoms coincide the angle is 0.

    Parameters
    ----------
    xyz : (n_frames, n_atoms, 3) array, nm
    triples : (n_angles, 3) int array of ``(i, j, k)``

    Returns
    -------
    angles : (n_frames, n_angles) float64 array, radians in [0, pi]
    """
    positions = as_positions(xyz)
    index_triples = as_indices(triples, positions.shape[1], "triples", width=3)
    center = positions[:, index_triples[:, 1]]
    first = positions[:, index_triples[:, 0]] - center
    second = positions[:, index_triples[:, 2]] - center
    sine_part = np.linalg.norm(np.cross(first, second), axis=-1)
    cosine_part = np.einsum("fai,fai->fa", first, second)
    return np.arctan2(sine_part, cosine_part)


def _condensed_index(n_atoms: int, mask: np.ndarray) -> np.ndarray:
    """Boolean (n_atoms, n_atoms) mask -> boolean mask over scipy's condensed pairs i < j."""
    first, second = np.triu_indices(n_atoms, k=1)
    return mask[first, second]


def _excluded_mask(n_atoms: int, exclude_neighbors: int, exclude_pairs: Any) -> np.ndarray:
    index = np.arange(n_atoms)
    excluded = np.abs(index[:, None] - index[None, :]) <= exclude_neighbors
    if exclude_pairs is not None:
        pairs = as_bonds(exclude_pairs, n_atoms, "exclude_pairs")
        excluded[pairs[:, 0], pairs[:, 1]] = True
        excluded[pairs[:, 1], pairs[:, 0]] = True
    return excluded


def compute_contact_map(
    xyz: Any,
    cutoff: float,
    exclude_neighbors: int = 0,
    exclude_pairs: Any = None,
) -> np.ndarray:
    """Contact probability ``P(|r_i - r_j| < cutoff)`` of every pair over the frames.

    Frames are processed one at a time, so memory is O(n_atoms^2) whatever the number
    of frames (10,000 frames of 300 beads take about a second).

    Diagonal and neighbours: pairs with ``|i - j| <= exclude_neighbors`` are set to 0,
    so the diagonal is always 0 (an atom is not in contact with itself) and
    ``exclude_neighbors=1`` also drops chain neighbours. ``exclude_pairs`` (e.g. the
    bonds) sets those pairs to 0 as well.

    Parameters
    ----------
    xyz : (n_frames, n_atoms, 3) array, nm
    cutoff : float, nm (strict: a pair exactly at the cutoff is not a contact)
    exclude_neighbors : int >= 0, index separation at or below which pairs are zeroed
    exclude_pairs : (n_pairs, 2) int array, optional, pairs to zero (both orders)

    Returns
    -------
    contact_probability : (n_atoms, n_atoms) float64 array in [0, 1], symmetric
    """
    from scipy.spatial.distance import pdist, squareform

    positions = as_positions(xyz)
    cutoff = as_positive(cutoff, "cutoff", "nm")
    exclude_neighbors = as_count(exclude_neighbors, "exclude_neighbors", 0)
    n_frames, n_atoms = positions.shape[:2]
    excluded = _excluded_mask(n_atoms, exclude_neighbors, exclude_pairs)
    counts = np.zeros(n_atoms * (n_atoms - 1) // 2, dtype=np.int64)
    squared_cutoff = cutoff * cutoff
    for frame in positions:
        counts += pdist(frame, "sqeuclidean") < squared_cutoff
    probability = squareform(counts / n_frames, checks=False)
    probability[excluded] = 0.0
    return probability


def compute_min_nonbonded_distance(
    xyz: Any, bonds: Any, groups: Sequence[Any] | None = None
) -> np.ndarray:
    """Smallest distance between two atoms that are not bonded to each other, per frame.

    Parameters
    ----------
    xyz : (n_frames, n_atoms, 3) array, nm
    bonds : (n_bonds, 2) int array; bonded pairs are left out (angle partners are not)
    groups : list of int arrays, optional
        Molecules; when given, only pairs inside the same group count (for trajectories
        of non-interacting copies, where chains may overlap freely). Atoms in no group
        are ignored.

    Returns
    -------
    min_distance : (n_frames,) float64 array, nm
    """
    from scipy.spatial.distance import pdist

    positions = as_positions(xyz)
    n_frames, n_atoms = positions.shape[:2]
    considered = ~_excluded_mask(n_atoms, 0, bonds)
    if groups is not None:
        label = np.full(n_atoms, -1)
        for group_number, group in enumerate(groups):
            selection = as_indices(group, n_atoms, f"groups[{group_number}]")
            if np.any(label[selection] >= 0):
                raise CgvizError(
                    f"groups[{group_number}] shares atoms with an earlier group.",
                    hint="Each atom may belong to one molecule only.",
                )
            label[selection] = group_number
        considered &= (label[:, None] == label[None, :]) & (label[:, None] >= 0)
    considered = np.triu(considered, k=1)
    if not considered.any():
        raise CgvizError(
            "There is no non-bonded pair of atoms to measure.",
            hint="A collision check needs at least two atoms that are not bonded.",
        )
    considered_pairs = _condensed_index(n_atoms, considered)
    result = np.empty(n_frames)
    for frame_number, frame in enumerate(positions):
        result[frame_number] = pdist(frame, "sqeuclidean")[considered_pairs].min()
    return np.sqrt(result)


def compute_collision_rate(
    xyz: Any, bonds: Any, threshold: float, groups: Sequence[Any] | None = None
) -> float:
    """Fraction of frames where some non-bonded pair is closer than ``threshold``.

    The stability measure of docs/science.md 1.5 (threshold e.g. half the mean CG bond
    length). See :func:`compute_min_nonbonded_distance` for ``bonds`` and ``groups``.

    Parameters
    ----------
    xyz : (n_frames, n_atoms, 3) array, nm
    bonds : (n_bonds, 2) int array
    threshold : float, nm

    Returns
    -------
    collision_rate : float in [0, 1]
    """
    threshold = as_positive(threshold, "threshold", "nm")
    min_distance = compute_min_nonbonded_distance(xyz, bonds, groups)
    return float(np.mean(min_distance < threshold))
