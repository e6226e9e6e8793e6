"""Coarse-graining maps: which atoms form which bead, and how to build such a map.

A :class:`CGMapping` assigns every atom of a topology to one bead. Beads sit at the
mass-weighted centre of their atoms, weigh the sum of their atoms' masses, and two beads are
bonded when any chemical bond joins them (docs/science.md 1.1). The mapping depends on the
topology only, so it is computed once per molecule type and cached.

Builders
    :func:`metis_mapping` (graph partition of the bond graph with METIS, the paper's choice),
    :func:`residue_mapping` (one bead per residue or per k residues),
    :func:`contiguous_mapping` (segments of consecutive atoms along each molecule),
    :func:`mapping_from_assignment` (a user-supplied atom -> bead array).
Helpers
    :func:`guess_bonds_from_distances` (for topologies without bonds),
    :func:`load_mapping` (read a mapping saved with :meth:`CGMapping.save`),
    :func:`clear_mapping_cache`.

Conventions every caller can rely on
------------------------------------
* **Bead order.** Beads are numbered molecule by molecule (molecules = connected
  components of the bond graph, ordered by their lowest atom index), and within a molecule
  by the lowest atom index of each bead. Every builder returns this canonical order, and
  the :class:`CGMapping` constructor rejects any other, so the bead topology has one chain
  per molecule with its residues (= beads) in index order. A user-supplied assignment is
  renumbered into this order; its original labels are kept in
  ``parameters["input_bead_labels"]``.
* **Every bead is connected**: its atoms form one connected piece of the bond graph
  (single atoms trivially). Builders guarantee it (see each docstring for how);
  :func:`mapping_from_assignment` checks it and raises a :class:`CgvizError` otherwise.
* **Bead types** are composition labels: the sorted atom type names of the bead with
  counts, joined by ``+`` (``"C*2+H*3+O"``); a one-atom bead keeps its atom's type name, so
  the identity map of a bead model keeps the bead types (``"B1"``, ``"S2"``).
* Units: positions in nm, masses in amu.

This module imports neither torch nor anything heavy: numpy, scipy, mdtraj, and pymetis
(only when a METIS mapping is built).
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence, Union

import mdtraj as md
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from cgviz.errors import CgvizError
from cgviz.io import AtomProperties, _as_topology, atom_properties, topology_bonds

__all__ = [
    "MAPPING_FORMAT",
    "MAPPING_VERSION",
    "CGMapping",
    "metis_mapping",
    "residue_mapping",
    "contiguous_mapping",
    "mapping_from_assignment",
    "guess_bonds_from_distances",
    "load_mapping",
    "clear_mapping_cache",
]

MAPPING_FORMAT = "cgviz-cg-mapping"
MAPPING_VERSION = 1

PathLike = Union[str, os.PathLike]
TopologyLike = Union[md.Topology, md.Trajectory]
CoordinatesLike = Union[md.Trajectory, np.ndarray, None]

#: Covalent radii in nm (Cordero et al., Dalton Trans. 2008), used to guess bonds.
COVALENT_RADII_NM: Mapping[str, float] = MappingProxyType({
    "H": 0.031, "B": 0.084, "C": 0.076, "N": 0.071, "O": 0.066, "F": 0.057, "Si": 0.111,
    "P": 0.107, "S": 0.105, "Cl": 0.102, "Se": 0.120, "Br": 0.120, "I": 0.139,
})  # fmt: skip
#: Elements that get no guessed bonds when they are alone in their residue (ions).
_ION_ELEMENTS = frozenset(
    {"Li", "Na", "K", "Rb", "Cs", "Mg", "Ca", "Sr", "Ba", "Zn", "F", "Cl", "Br", "I"}
)
#: Added to the sum of two covalent radii when guessing bonds (nm), as OpenBabel does.
BOND_TOLERANCE_NM = 0.045

_CACHE_SIZE = 64
_CACHE: OrderedDict[tuple, "CGMapping"] = OrderedDict()


def clear_mapping_cache() -> None:
    """Forget every cached mapping (the builders cache by topology and options)."""
    _CACHE.clear()


def _shown(indices: Sequence[int] | np.ndarray, limit: int = 8) -> str:
    items = [str(int(i)) for i in list(indices)[:limit]]
    more = f", ... ({len(indices)} in all)" if len(indices) > limit else ""
    return ", ".join(items) + more


def _as_count_option(value: Any, name: str) -> int | float | None:
    """None, or a finite real number as a plain int (when integral) or float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(
        float(value)
    ):
        raise CgvizError(f"{name} must be a finite number, got {value!r}.",
                         hint=f"e.g. {name}=4.")
    number = float(value)
    return int(number) if number.is_integer() else number


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


# ---------------------------------------------------------------------------------------
# Graph helpers (pure numpy / scipy)
# ---------------------------------------------------------------------------------------


def _normalise_bonds(bonds: Any, n_atoms: int, what: str = "bonds") -> np.ndarray:
    """(n_bonds, 2) int64 with i < j, unique, sorted; self bonds rejected."""
    array = np.asarray(bonds if bonds is not None else np.zeros((0, 2)), dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if array.ndim != 2 or array.shape[1] != 2 or not np.all(array == np.round(array)):
        raise CgvizError(
            f"{what} must be an integer array of shape (n_bonds, 2), got shape {array.shape}.",
            hint="Give one (atom_i, atom_j) pair per bond.",
        )
    pairs = array.astype(np.int64)
    if pairs.min() < 0 or pairs.max() >= n_atoms:
        raise CgvizError(
            f"{what} refer to atoms outside 0..{n_atoms - 1}.",
            hint="Atom indices start at 0 and must be smaller than the number of atoms.",
        )
    if np.any(pairs[:, 0] == pairs[:, 1]):
        raise CgvizError(f"{what} contain a bond from an atom to itself.",
                         hint="Remove the self bonds.")
    pairs = np.sort(pairs, axis=1)
    return np.unique(pairs, axis=0)


def _adjacency(bonds: np.ndarray, n_atoms: int) -> sparse.csr_matrix:
    """Symmetric boolean adjacency matrix with sorted column indices."""
    if len(bonds) == 0:
        return sparse.csr_matrix((n_atoms, n_atoms), dtype=np.int8)
    rows = np.concatenate([bonds[:, 0], bonds[:, 1]])
    cols = np.concatenate([bonds[:, 1], bonds[:, 0]])
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n_atoms, n_atoms)
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def _bead_pieces(assignment: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """Label of the connected piece each atom belongs to, using only intra-bead bonds."""
    n_atoms = len(assignment)
    if len(bonds):
        inside = assignment[bonds[:, 0]] == assignment[bonds[:, 1]]
        intra = bonds[inside]
    else:
        intra = bonds
    _, pieces = connected_components(_adjacency(intra, n_atoms), directed=False)
    return pieces


def _disconnected_beads(assignment: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """Bead labels whose atoms are not one connected piece of the bond graph."""
    pieces = _bead_pieces(assignment, bonds)
    pairs = np.unique(np.stack([assignment, pieces], axis=1), axis=0)
    labels, counts = np.unique(pairs[:, 0], return_counts=True)
    return labels[counts > 1]


def _molecules(assignment: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """Molecule index per atom: components of bonds united with bead membership.

    Molecules are numbered by their lowest atom index.
    """
    n_atoms = len(assignment)
    order = np.argsort(assignment, kind="stable")
    sorted_labels = assignment[order]
    same = sorted_labels[1:] == sorted_labels[:-1]
    links = np.stack([order[:-1][same], order[1:][same]], axis=1)
    edges = np.concatenate([bonds, links]) if len(links) else bonds
    _, labels = connected_components(_adjacency(edges, n_atoms), directed=False)
    first_atom = np.full(labels.max() + 1, n_atoms, dtype=np.int64)
    np.minimum.at(first_atom, labels, np.arange(n_atoms))
    rank = np.empty_like(first_atom)
    rank[np.argsort(first_atom, kind="stable")] = np.arange(len(first_atom))
    return rank[labels]


def _canonical_labels(assignment: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """Renumber beads by (molecule, lowest atom index); labels need not be contiguous."""
    n_atoms = len(assignment)
    molecules = _molecules(assignment, bonds)
    unique, dense = np.unique(assignment, return_inverse=True)
    first_atom = np.full(len(unique), n_atoms, dtype=np.int64)
    np.minimum.at(first_atom, dense, np.arange(n_atoms))
    bead_molecule = molecules[first_atom]
    order = np.lexsort((first_atom, bead_molecule))
    rank = np.empty(len(unique), dtype=np.int64)
    rank[order] = np.arange(len(unique))
    return rank[dense]


def _neighbour_lists(adjacency: sparse.csr_matrix) -> list[np.ndarray]:
    return [
        adjacency.indices[adjacency.indptr[i] : adjacency.indptr[i + 1]]
        for i in range(adjacency.shape[0])
    ]


def _bfs_order(start: int, members: set[int], neighbours: list[np.ndarray]) -> list[int]:
    order = [start]
    seen = {start}
    head = 0
    while head < len(order):
        node = order[head]
        head += 1
        for other in neighbours[node]:
            other = int(other)
            if other in members and other not in seen:
                seen.add(other)
                order.append(other)
    return order


def _repair_connectivity(
    labels: np.ndarray, bonds: np.ndarray, neighbours: list[np.ndarray]
) -> tuple[np.ndarray, int]:
    """Make every bead connected by moving its stray pieces into an adjacent bead.

    A bead keeps its largest connected piece (ties: the piece with the lowest atom index);
    every other piece moves to the smallest bead it is bonded to (ties: lowest label). This
    never empties a bead and never disconnects the receiving bead, and the total number of
    pieces drops with every move, so the loop ends. Requires each molecule to be connected.
    Returns the new labels and the number of pieces moved.
    """
    labels = labels.copy()
    moved = 0
    for _ in range(len(labels) + 1):
        pieces = _bead_pieces(labels, bonds)
        bad = _disconnected_beads(labels, bonds)
        if bad.size == 0:
            return labels, moved
        touched: set[int] = set()
        for bead in bad.tolist():
            if bead in touched:
                continue
            atoms = np.flatnonzero(labels == bead)
            piece_ids, first_index, sizes = np.unique(
                pieces[atoms], return_index=True, return_counts=True
            )
            keep = piece_ids[np.lexsort((atoms[first_index], -sizes))[0]]
            for piece in piece_ids:
                if piece == keep:
                    continue
                members = atoms[pieces[atoms] == piece]
                candidates = sorted(
                    {int(labels[other]) for atom in members for other in neighbours[atom]}
                    - {bead}
                )
                if not candidates:  # an isolated piece: a separate molecule, cannot happen
                    continue  # for per-molecule labels; leave it (caller checks)
                sizes_now = [int(np.count_nonzero(labels == c)) for c in candidates]
                target = candidates[int(np.argmin(sizes_now))]
                labels[members] = target
                touched.add(target)
                moved += 1
            touched.add(bead)
    raise AssertionError("connectivity repair did not converge")  # pragma: no cover


def _bisect(members: np.ndarray, neighbours: list[np.ndarray]) -> np.ndarray:
    """Split a connected set of >= 2 atoms into two connected halves; returns the second.

    Breadth-first search from a pseudo-peripheral atom (the last atom reached from the
    lowest-index one); the first half of the search order is connected; of the rest, the
    largest connected piece becomes the second half and smaller pieces go back to the first.
    """
    member_set = {int(m) for m in members}
    start = _bfs_order(int(members.min()), member_set, neighbours)[-1]
    order = _bfs_order(start, member_set, neighbours)
    rest = set(order[len(order) // 2 :])
    best: list[int] = []
    while rest:
        seed = min(rest)
        piece = _bfs_order(seed, rest, neighbours)
        rest -= set(piece)
        if len(piece) > len(best):
            best = piece
    return np.array(sorted(best), dtype=np.int64)


def _fill_empty_beads(
    labels: np.ndarray, n_parts: int, neighbours: list[np.ndarray]
) -> tuple[np.ndarray, int]:
    """Renumber labels to 0..n-1 and split the largest beads until there are n_parts."""
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.astype(np.int64)
    splits = 0
    while labels.max() + 1 < n_parts:
        sizes = np.bincount(labels)
        largest = int(np.argmax(sizes))  # ties: lowest label
        if sizes[largest] < 2:  # pragma: no cover - n_parts <= n_atoms is checked
            break
        second = _bisect(np.flatnonzero(labels == largest), neighbours)
        labels[second] = labels.max() + 1
        splits += 1
    return labels, splits


# ---------------------------------------------------------------------------------------
# Bond guessing
# ---------------------------------------------------------------------------------------


def _coordinates_of(topology_like: Any, coordinates: CoordinatesLike, n_atoms: int) -> np.ndarray:
    if coordinates is None and isinstance(topology_like, md.Trajectory):
        coordinates = topology_like
    if coordinates is None:
        raise CgvizError(
            "Guessing bonds needs coordinates.",
            hint="Pass a trajectory instead of a topology, or coordinates=traj (its first "
            "frame is used) or an (n_atoms, 3) array in nm.",
        )
    xyz = coordinates.xyz[0] if isinstance(coordinates, md.Trajectory) else coordinates
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim == 3:
        xyz = xyz[0]
    if xyz.shape != (n_atoms, 3):
        raise CgvizError(
            f"The coordinates for guessing bonds have shape {xyz.shape}, expected "
            f"({n_atoms}, 3).",
            hint="Give one frame of the same system (positions in nm).",
        )
    if not np.all(np.isfinite(xyz)):
        raise CgvizError("The coordinates for guessing bonds contain NaN or inf.",
                         hint="Use a frame with finite positions.")
    return xyz


def guess_bonds_from_distances(
    topology: TopologyLike,
    coordinates: CoordinatesLike = None,
    bond_cutoff_nm: float | None = None,
    tolerance_nm: float = BOND_TOLERANCE_NM,
) -> np.ndarray:
    """Guess chemical bonds from the distances in one frame.

    Two atoms are bonded when their distance is below ``bond_cutoff_nm`` if given (the way
    to go for bead models, whose virtual-site "elements" have no radius), else below the
    sum of their covalent radii (:data:`COVALENT_RADII_NM`) plus ``tolerance_nm``. Atoms
    that are alone in their residue and are ions (Na, K, Cl, Mg, ...) get no bonds. No
    periodic images are considered: give whole molecules.

    Parameters
    ----------
    topology : md.Topology or md.Trajectory (then its first frame is the default frame)
    coordinates : md.Trajectory (first frame) or (n_atoms, 3) array in nm, optional
    bond_cutoff_nm : float, optional
    tolerance_nm : float

    Returns
    -------
    bonds : (n_bonds, 2) int64 array, i < j, sorted
    """
    from scipy.spatial import cKDTree

    top = _as_topology(topology)
    xyz = _coordinates_of(topology, coordinates, top.n_atoms)
    atoms = list(top.atoms)
    if bond_cutoff_nm is not None:
        if not bond_cutoff_nm > 0:
            raise CgvizError(f"bond_cutoff_nm must be > 0, got {bond_cutoff_nm}.",
                             hint="Use a little more than the longest bond, e.g. 0.2 nm.")
        radii = np.full(top.n_atoms, bond_cutoff_nm / 2.0)
        tolerance_nm = 0.0
    else:
        radii = np.zeros(top.n_atoms)
        unknown = []
        for atom in atoms:
            symbol = getattr(atom.element, "symbol", None)
            if symbol in COVALENT_RADII_NM:
                radii[atom.index] = COVALENT_RADII_NM[symbol]
            elif symbol in _ION_ELEMENTS or atom.residue.n_atoms == 1:
                radii[atom.index] = np.nan  # bonds to nothing
            else:
                unknown.append(atom.index)
        if unknown:
            raise CgvizError(
                f"Atoms {_shown(unknown)} have no element with a known covalent radius "
                f"(e.g. '{atoms[unknown[0]]}', element "
                f"{getattr(atoms[unknown[0]].element, 'symbol', None)}).",
                hint="For coarse-grained beads pass bond_cutoff_nm (a little more than the "
                "bond length), or give a topology with bonds (PDB CONECT records, PSF, ...).",
            )
    for atom in atoms:
        if atom.residue.n_atoms == 1 and getattr(atom.element, "symbol", None) in _ION_ELEMENTS:
            radii[atom.index] = np.nan
    usable = np.flatnonzero(np.isfinite(radii))
    if usable.size < 2:
        return np.zeros((0, 2), dtype=np.int64)
    reach = 2.0 * radii[usable].max() + tolerance_nm
    pairs = cKDTree(xyz[usable]).query_pairs(reach, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    first, second = usable[pairs[:, 0]], usable[pairs[:, 1]]
    distance = np.linalg.norm(xyz[first] - xyz[second], axis=1)
    bonded = distance < radii[first] + radii[second] + tolerance_nm
    return _normalise_bonds(np.stack([first[bonded], second[bonded]], axis=1), top.n_atoms)


# ---------------------------------------------------------------------------------------
# The fine system a builder works on
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FineSystem:
    topology: md.Topology
    atom_types: tuple[str, ...]
    atom_masses: np.ndarray
    bonds: np.ndarray
    bonds_guessed: bool
    residue_names: tuple[str, ...]

    @property
    def n_atoms(self) -> int:
        return len(self.atom_types)

    @cached_property
    def adjacency(self) -> sparse.csr_matrix:
        return _adjacency(self.bonds, self.n_atoms)

    @cached_property
    def neighbours(self) -> list[np.ndarray]:
        return _neighbour_lists(self.adjacency)

    @cached_property
    def components(self) -> list[np.ndarray]:
        """Atom indices of each connected component, ordered by lowest atom index."""
        _, labels = connected_components(self.adjacency, directed=False)
        order = np.argsort(labels, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)
        return sorted(groups, key=lambda group: int(group[0]))

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update(np.int64(self.n_atoms).tobytes())
        digest.update(self.bonds.tobytes())
        digest.update(json.dumps([self.atom_types, self.residue_names]).encode())
        digest.update(self.atom_masses.tobytes())
        digest.update(
            np.array([atom.residue.index for atom in self.topology.atoms], np.int64).tobytes()
        )
        return digest.hexdigest()


def _default_type(atom: md.core.topology.Atom) -> str:
    element = atom.element
    symbol = getattr(element, "symbol", None)
    if element is None or symbol in (None, "", "VS") or getattr(element, "mass", 0.0) <= 0:
        return str(atom.name)
    return str(symbol)


def _fine_system(
    topology_like: Any,
    properties: AtomProperties | PathLike | None,
    masses: Any,
    guess_bonds: bool,
    coordinates: CoordinatesLike,
    bond_cutoff_nm: float | None,
) -> _FineSystem:
    topology = _as_topology(topology_like)
    n_atoms = topology.n_atoms
    if n_atoms == 0:
        raise CgvizError("The topology has no atoms.", hint="Load a system with atoms.")
    if properties is not None and masses is not None:
        raise CgvizError("Give either properties= or masses=, not both.",
                         hint="properties (an AtomProperties) carries types and masses.")
    if masses is not None:
        mass_array = np.asarray(masses, dtype=np.float64)
        if mass_array.shape != (n_atoms,):
            raise CgvizError(
                f"masses has shape {mass_array.shape}, the topology has {n_atoms} atoms.",
                hint="Give one mass (amu) per atom, in topology order.",
            )
        props = AtomProperties(tuple(_default_type(a) for a in topology.atoms), mass_array)
    else:
        props = atom_properties(topology, properties)
    if guess_bonds:
        bonds = guess_bonds_from_distances(topology_like, coordinates, bond_cutoff_nm)
    else:
        bonds = _normalise_bonds(topology_bonds(topology), n_atoms)
    residue_names = tuple(str(atom.residue.name) for atom in topology.atoms)
    return _FineSystem(topology, props.type_names, np.asarray(props.masses, np.float64),
                       bonds, bool(guess_bonds), residue_names)


def _no_bonds_error(what: str) -> CgvizError:
    return CgvizError(
        f"The topology has no bonds, so {what}.",
        hint="Load a topology with bonds (PDB with CONECT records, PSF, PRMTOP, mol2, ...), "
        "or pass guess_bonds=True to infer bonds from the distances in one frame "
        "(covalent radii + 0.045 nm; for bead models also bond_cutoff_nm=...).",
    )


def _cache_key(method: str, system: _FineSystem, options: tuple) -> tuple:
    return (method, system.fingerprint(), system.bonds_guessed, options)


def _cached(key: tuple, use_cache: bool) -> CGMapping | None:
    if use_cache and key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    return None


def _remember(key: tuple, mapping: CGMapping, use_cache: bool) -> CGMapping:
    if use_cache:
        _CACHE[key] = mapping
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return mapping


def _build(system: _FineSystem, labels: np.ndarray, method: str,
           parameters: dict[str, Any]) -> CGMapping:
    canonical = _canonical_labels(labels, system.bonds)
    n_beads = int(canonical.max()) + 1
    first_atom = np.full(n_beads, system.n_atoms, dtype=np.int64)
    np.minimum.at(first_atom, canonical, np.arange(system.n_atoms))
    parameters = dict(parameters)
    parameters["bonds_guessed"] = system.bonds_guessed
    return CGMapping(
        assignment=canonical,
        atom_types=system.atom_types,
        atom_masses=system.atom_masses,
        atom_bonds=system.bonds,
        bead_residue_names=tuple(system.residue_names[int(a)] for a in first_atom),
        method=method,
        parameters=parameters,
    )


# ---------------------------------------------------------------------------------------
# CGMapping
# ---------------------------------------------------------------------------------------


def _composition_label(type_names: Sequence[str]) -> str:
    counts = Counter(type_names)
    return "+".join(
        name if count == 1 else f"{name}*{count}" for name, count in sorted(counts.items())
    )


@dataclass(frozen=True, eq=False)
class CGMapping:
    """An atom -> bead assignment and everything derived from it.

    Build one with :func:`metis_mapping`, :func:`residue_mapping`,
    :func:`contiguous_mapping` or :func:`mapping_from_assignment`; load a saved one with
    :func:`load_mapping`. The constructor validates (lengths, no empty or disconnected
    bead, canonical bead order; see the module docstring) and freezes the arrays.

    Attributes
    ----------
    assignment : (n_atoms,) int64, bead index of each atom
    atom_types : tuple of n_atoms str, atom type names (element symbols or sidecar types)
    atom_masses : (n_atoms,) float64, amu
    atom_bonds : (n_atom_bonds, 2) int64, the fine bond graph (i < j, sorted)
    bead_residue_names : tuple of n_beads str, the residue name of each bead's first atom
        (for display: "bead 3 comes from ALA")
    method : str, the builder ("metis", "residue", "contiguous", "assignment")
    parameters : mapping, the builder's options and diagnostics, JSON-serialisable
    bead_masses : (n_beads,) float64, amu, sum of the atoms' masses (derived)
    bead_types : tuple of n_beads str, composition labels (derived)
    bead_bonds : (n_cg_bonds, 2) int64, beads joined by any fine bond, i < j, sorted
        (derived)
    bead_molecules : (n_beads,) int64, molecule index of each bead (derived)
    """

    assignment: np.ndarray
    atom_types: tuple[str, ...]
    atom_masses: np.ndarray
    atom_bonds: np.ndarray
    bead_residue_names: tuple[str, ...]
    method: str
    parameters: Mapping[str, Any]

    def __post_init__(self) -> None:
        atom_types = tuple(str(name) for name in self.atom_types)
        n_atoms = len(atom_types)
        if n_atoms == 0:
            raise CgvizError("A mapping needs at least one atom.")
        raw = np.asarray(self.assignment)
        if raw.shape != (n_atoms,) or raw.dtype.kind not in "iu":
            raise CgvizError(
                f"The assignment must be an integer array with one bead index per atom "
                f"({n_atoms}), got shape {raw.shape} and dtype {raw.dtype}.",
                hint="Give assignment[i] = bead index of atom i.",
            )
        assignment = raw.astype(np.int64)
        if assignment.min() < 0:
            raise CgvizError("The assignment contains negative bead indices.",
                             hint="Number the beads 0, 1, 2, ...")
        n_beads = int(assignment.max()) + 1
        counts = np.bincount(assignment, minlength=n_beads)
        if np.any(counts == 0):
            raise CgvizError(f"Beads {_shown(np.flatnonzero(counts == 0))} have no atoms.",
                             hint="Number the beads 0..n_beads-1 without gaps.")
        masses = AtomProperties(atom_types, np.asarray(self.atom_masses, np.float64)).masses
        bonds = _normalise_bonds(self.atom_bonds, n_atoms, "atom_bonds")
        disconnected = _disconnected_beads(assignment, bonds)
        if disconnected.size:
            raise CgvizError(f"Beads {_shown(disconnected)} are not connected by bonds.",
                             hint="Every bead must be one bonded piece.")
        if not np.array_equal(_canonical_labels(assignment, bonds), assignment):
            raise CgvizError(
                "The beads are not in the canonical order (by molecule, then by lowest atom "
                "index).",
                hint="Build the mapping with cgviz.mapping.mapping_from_assignment, which "
                "renumbers the beads.",
            )
        residue_names = tuple(str(name) for name in self.bead_residue_names)
        if len(residue_names) != n_beads:
            raise CgvizError(f"bead_residue_names has {len(residue_names)} entries for "
                             f"{n_beads} beads.", hint="Give one name per bead.")
        parameters = json.loads(json.dumps(dict(self.parameters)))  # JSON-able deep copy
        for array in (assignment, masses, bonds):
            array.setflags(write=False)
        for name, value in [
            ("assignment", assignment), ("atom_types", atom_types), ("atom_masses", masses),
            ("atom_bonds", bonds), ("bead_residue_names", residue_names),
            ("method", str(self.method)), ("parameters", MappingProxyType(parameters)),
        ]:
            object.__setattr__(self, name, value)

    # -- sizes -----------------------------------------------------------------------------

    @property
    def n_atoms(self) -> int:
        """Number of atoms of the fine system."""
        return len(self.atom_types)

    @property
    def n_beads(self) -> int:
        """Number of beads."""
        return int(self.assignment.max()) + 1

    @property
    def n_molecules(self) -> int:
        """Number of molecules (chains of the bead topology)."""
        return int(self.bead_molecules.max()) + 1

    # -- derived bead data -------------------------------------------------------------------

    @cached_property
    def bead_masses(self) -> np.ndarray:
        """(n_beads,) float64, amu: sum of each bead's atom masses."""
        masses = np.bincount(self.assignment, weights=self.atom_masses, minlength=self.n_beads)
        masses.setflags(write=False)
        return masses

    @cached_property
    def bead_types(self) -> tuple[str, ...]:
        """Composition label per bead (sorted atom types with counts, joined by '+')."""
        members: list[list[str]] = [[] for _ in range(self.n_beads)]
        for bead, name in zip(self.assignment.tolist(), self.atom_types):
            members[bead].append(name)
        return tuple(_composition_label(names) for names in members)

    @cached_property
    def bead_bonds(self) -> np.ndarray:
        """(n_cg_bonds, 2) int64: bead pairs joined by at least one fine bond, i < j."""
        if len(self.atom_bonds) == 0:
            bonds = np.zeros((0, 2), dtype=np.int64)
        else:
            pairs = self.assignment[self.atom_bonds]
            pairs = pairs[pairs[:, 0] != pairs[:, 1]]
            bonds = _normalise_bonds(pairs, self.n_beads) if len(pairs) else pairs
        bonds = np.ascontiguousarray(bonds, dtype=np.int64)
        bonds.setflags(write=False)
        return bonds

    @cached_property
    def bead_molecules(self) -> np.ndarray:
        """(n_beads,) int64: molecule index of each bead (molecules by lowest atom index)."""
        molecules = _molecules(self.assignment, self.atom_bonds)
        result = np.zeros(self.n_beads, dtype=np.int64)
        result[self.assignment] = molecules
        result.setflags(write=False)
        return result

    @cached_property
    def bead_atoms(self) -> tuple[np.ndarray, ...]:
        """Atom indices of each bead (sorted)."""
        order = np.argsort(self.assignment, kind="stable")
        return tuple(np.split(order, np.cumsum(np.bincount(self.assignment))[:-1]))

    @cached_property
    def bead_properties(self) -> AtomProperties:
        """Bead types and masses as :class:`cgviz.io.AtomProperties` (for the sidecar)."""
        return AtomProperties(self.bead_types, np.array(self.bead_masses))

    @cached_property
    def bead_topology(self) -> md.Topology:
        """Synthetic bead topology: one chain per molecule, one residue per bead.

        Every residue is named ``"CG"`` (a name that mdtraj's PDB reader leaves alone, so
        CONECT bonds round-trip; a standard name such as ALA would lose them), with
        ``resSeq`` = bead index + 1. Atom names are the bead types when every type has at
        most 4 characters (e.g. ``"B1"``, ``"S2"``), else ``"B<k>"`` for every bead, k the
        type's index in the sorted list of bead types. Elements are ``virtual_site``; bonds
        are :attr:`bead_bonds`. Types and masses travel in :attr:`bead_properties`.
        """
        vocabulary = sorted(set(self.bead_types))
        if all(len(name) <= 4 for name in vocabulary):
            short = {name: name for name in vocabulary}
        else:
            short = {name: f"B{index}"[:4] for index, name in enumerate(vocabulary)}
        topology = md.Topology()
        chains: dict[int, Any] = {}
        atoms = []
        for bead in range(self.n_beads):
            molecule = int(self.bead_molecules[bead])
            if molecule not in chains:
                chains[molecule] = topology.add_chain()
            residue = topology.add_residue("CG", chains[molecule], resSeq=bead + 1)
            atoms.append(topology.add_atom(short[self.bead_types[bead]],
                                           md.element.virtual_site, residue))
        for first, second in self.bead_bonds.tolist():
            topology.add_bond(atoms[first], atoms[second])
        return topology

    @cached_property
    def _weights(self) -> sparse.csr_matrix:
        bead_mass = self.bead_masses[self.assignment]
        return sparse.csr_matrix(
            (self.atom_masses / bead_mass, (self.assignment, np.arange(self.n_atoms))),
            shape=(self.n_beads, self.n_atoms),
        )

    @cached_property
    def _reference_atom(self) -> np.ndarray:
        """(n_atoms,) the first atom of each atom's bead (the anchor for minimum images)."""
        first = np.array([atoms[0] for atoms in self.bead_atoms], dtype=np.int64)
        return first[self.assignment]

    # -- mapping coordinates --------------------------------------------------------------

    def map_positions(self, xyz: Any, unitcell_vectors: Any = None) -> np.ndarray:
        """Bead positions: the mass-weighted centre of each bead's atoms, per frame.

        Parameters
        ----------
        xyz : (n_frames, n_atoms, 3) or (n_atoms, 3) array, nm
        unitcell_vectors : (n_frames, 3, 3) array, nm, optional
            When given, each atom is first moved to the periodic image closest to its
            bead's first atom, so a bead split across the box boundary is centred
            correctly (any triclinic box; beads must be smaller than half the box).

        Returns
        -------
        (n_frames, n_beads, 3) float32 array (or (n_beads, 3) for a single frame), nm
        """
        try:
            positions = np.asarray(xyz, dtype=np.float64)
        except (TypeError, ValueError):
            raise CgvizError("The coordinates are not numbers.",
                             hint="Give an (n_frames, n_atoms, 3) float array in nm, e.g. "
                             "traj.xyz.") from None
        single = positions.ndim == 2
        if single:
            positions = positions[None]
        if positions.ndim != 3 or positions.shape[1:] != (self.n_atoms, 3):
            raise CgvizError(
                f"The coordinates have shape {np.shape(xyz)}, but this mapping is for "
                f"{self.n_atoms} atoms.",
                hint="Apply the mapping to the system it was built for.",
            )
        if not np.isfinite(positions).all():
            bad = np.flatnonzero(~np.isfinite(positions).all(axis=(1, 2)))
            raise CgvizError(
                f"The coordinates hold non-finite values (NaN or inf) in frames "
                f"{bad[:10].tolist()}.",
                hint="Load the trajectory with cgviz.io.load_trajectory, which finds such "
                "frames, and leave them out.")
        if unitcell_vectors is not None:
            boxes = np.asarray(unitcell_vectors, dtype=np.float64).reshape(-1, 3, 3)
            if boxes.shape[0] not in (1, positions.shape[0]):
                raise CgvizError(
                    f"unitcell_vectors has {boxes.shape[0]} frames, the coordinates "
                    f"{positions.shape[0]}.", hint="Give one box per frame.")
            displacement = positions - positions[:, self._reference_atom]
            fractional = np.einsum("fai,fij->faj", displacement, np.linalg.inv(boxes))
            fractional -= np.round(fractional)
            positions = positions[:, self._reference_atom] + np.einsum(
                "faj,fji->fai", fractional, boxes
            )
        n_frames = positions.shape[0]
        flat = positions.transpose(1, 0, 2).reshape(self.n_atoms, n_frames * 3)
        beads = np.asarray(self._weights @ flat).reshape(self.n_beads, n_frames, 3)
        beads = beads.transpose(1, 0, 2).astype(np.float32)
        return beads[0] if single else beads

    def apply(self, traj: md.Trajectory | Sequence[md.Trajectory]
              ) -> md.Trajectory | list[md.Trajectory]:
        """Map an atomistic trajectory (or a list of them) to beads.

        Bead positions are mass-weighted centres (periodic images handled as in
        :meth:`map_positions` when the trajectory has a unit cell); the result has
        :attr:`bead_topology`, the same times and unit cells. Write it with
        ``bead_traj[0].save_pdb(...)``, ``bead_traj.save_xtc(...)`` and
        ``cgviz.io.write_atom_properties(..., mapping.bead_properties)``.
        """
        if isinstance(traj, (list, tuple)):
            return [self.apply(item) for item in traj]  # type: ignore[misc]
        if not isinstance(traj, md.Trajectory):
            raise CgvizError(f"apply needs an md.Trajectory, got {type(traj).__name__}.",
                             hint="Load it with cgviz.io.load_trajectory first.")
        if traj.n_atoms != self.n_atoms:
            raise CgvizError(
                f"The trajectory has {traj.n_atoms} atoms, this mapping was built for "
                f"{self.n_atoms}.", hint="Build a mapping for this system first.")
        boxes = traj.unitcell_vectors
        beads = self.map_positions(traj.xyz, boxes)
        return md.Trajectory(
            beads, self.bead_topology, time=np.array(traj.time),
            unitcell_lengths=None if boxes is None else np.array(traj.unitcell_lengths),
            unitcell_angles=None if boxes is None else np.array(traj.unitcell_angles),
        )

    def check_topology(self, topology: TopologyLike) -> None:
        """Raise a CgvizError unless this mapping fits ``topology`` (atom count, bonds).

        Bonds are compared only when the mapping's bonds were read from a topology (not
        guessed) and the topology has bonds.
        """
        top = _as_topology(topology)
        if top.n_atoms != self.n_atoms:
            raise CgvizError(
                f"This mapping is for {self.n_atoms} atoms, the topology has {top.n_atoms}.",
                hint="Use a mapping made for this system, or build a new one.")
        if self.parameters.get("bonds_guessed") or top.n_bonds == 0:
            return
        bonds = _normalise_bonds([(b.atom1.index, b.atom2.index) for b in top.bonds],
                                 top.n_atoms)
        if not np.array_equal(bonds, self.atom_bonds):
            raise CgvizError(
                "This mapping was built for a topology with different bonds.",
                hint="Use a mapping made for this system, or build a new one.")

    # -- files -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (format ``cgviz-cg-mapping``, version 1)."""
        return {
            "format": MAPPING_FORMAT,
            "version": MAPPING_VERSION,
            "method": self.method,
            "parameters": dict(self.parameters),
            "n_atoms": self.n_atoms,
            "n_beads": self.n_beads,
            "assignment": self.assignment.tolist(),
            "atom_types": list(self.atom_types),
            "atom_masses_amu": self.atom_masses.tolist(),
            "atom_bonds": self.atom_bonds.tolist(),
            "bead_residue_names": list(self.bead_residue_names),
            "bead_types": list(self.bead_types),
            "bead_masses_amu": self.bead_masses.tolist(),
            "bead_bonds": self.bead_bonds.tolist(),
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], source: str = "the mapping") -> CGMapping:
        """Inverse of :meth:`to_dict`; validates everything (derived fields must agree)."""
        if not isinstance(document, Mapping) or document.get("format") != MAPPING_FORMAT:
            raise CgvizError(f"{source} is not a cgviz mapping (missing \"format\": "
                             f"\"{MAPPING_FORMAT}\").",
                             hint="Save mappings with CGMapping.save.")
        if document.get("version") != MAPPING_VERSION:
            raise CgvizError(f"{source} has version {document.get('version')!r}; this cgviz "
                             f"reads version {MAPPING_VERSION}.", hint="Rebuild the mapping.")
        needed = ("method", "parameters", "assignment", "atom_types", "atom_masses_amu",
                  "atom_bonds", "bead_residue_names")
        missing = [key for key in needed if key not in document]
        if missing:
            raise CgvizError(f"{source} lacks {missing}.", hint="Save it again with "
                             "CGMapping.save.")
        try:
            mapping = cls(
                assignment=np.asarray(document["assignment"], dtype=np.int64),
                atom_types=tuple(document["atom_types"]),
                atom_masses=np.asarray(document["atom_masses_amu"], dtype=np.float64),
                atom_bonds=np.asarray(document["atom_bonds"], dtype=np.int64).reshape(-1, 2),
                bead_residue_names=tuple(document["bead_residue_names"]),
                method=str(document["method"]),
                parameters=dict(document["parameters"]),
            )
        except CgvizError as error:
            raise CgvizError(f"{source}: {error.problem}", hint=error.hint) from error
        except (TypeError, ValueError) as error:
            raise CgvizError(f"{source} is malformed ({error}).",
                             hint="Save it again with CGMapping.save.") from error
        if "bead_masses_amu" in document and not np.allclose(
            np.asarray(document["bead_masses_amu"], dtype=np.float64), mapping.bead_masses
        ):
            raise CgvizError(f"{source}: the bead masses do not match the atoms' masses.",
                             hint="The file was edited by hand; rebuild the mapping.")
        return mapping

    def save(self, path: PathLike) -> Path:
        """Write the mapping as ``.json`` (readable) or ``.npz`` (compact); returns path."""
        target = Path(path)
        suffix = target.suffix.lower()
        document = self.to_dict()
        try:
            if suffix == ".json":
                target.write_text(json.dumps(document) + "\n", encoding="utf-8")
            elif suffix == ".npz":
                with open(target, "wb") as handle:
                    np.savez_compressed(
                        handle,
                        header=np.array(json.dumps({
                            key: value for key, value in document.items()
                            if key not in ("assignment", "atom_masses_amu", "atom_bonds")
                        })),
                        assignment=self.assignment,
                        atom_masses_amu=self.atom_masses,
                        atom_bonds=self.atom_bonds,
                    )
            else:
                raise CgvizError(f"Cannot save a mapping as '{target.name}'.",
                                 hint="Use a .json or .npz file name.")
        except OSError as error:
            raise CgvizError(f"Could not write '{target}' ({error}).",
                             hint="Check that the folder exists and is writable.") from error
        return target

    def __repr__(self) -> str:
        return (f"CGMapping(method={self.method!r}, n_atoms={self.n_atoms}, "
                f"n_beads={self.n_beads}, n_molecules={self.n_molecules}, "
                f"n_cg_bonds={len(self.bead_bonds)})")


def load_mapping(path: PathLike) -> CGMapping:
    """Read a mapping written by :meth:`CGMapping.save` (``.json`` or ``.npz``)."""
    source = Path(path)
    if not source.is_file():
        raise CgvizError(f"Mapping file '{source}' does not exist.",
                         hint="Check the path, or build a mapping instead.")
    suffix = source.suffix.lower()
    try:
        if suffix == ".json":
            document = json.loads(source.read_text(encoding="utf-8"))
        elif suffix == ".npz":
            with np.load(source, allow_pickle=False) as archive:
                document = json.loads(str(archive["header"]))
                document["assignment"] = archive["assignment"]
                document["atom_masses_amu"] = archive["atom_masses_amu"]
                document["atom_bonds"] = archive["atom_bonds"]
        else:
            raise CgvizError(f"Cannot read a mapping from '{source.name}'.",
                             hint="Mapping files end in .json or .npz.")
    except (ValueError, KeyError, OSError, UnicodeDecodeError) as error:
        raise CgvizError(f"Mapping file '{source}' is unreadable ({error}).",
                         hint="Save it again with CGMapping.save.") from error
    return CGMapping.from_dict(document, source=f"Mapping file '{source}'")


# ---------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------


def _beads_per_component(sizes: list[int], atoms_per_bead: float | None,
                         n_beads: int | None) -> list[int]:
    n_atoms = sum(sizes)
    atoms_per_bead = _as_count_option(atoms_per_bead, "atoms_per_bead")
    n_beads = _as_count_option(n_beads, "n_beads")  # type: ignore[assignment]
    if (atoms_per_bead is None) == (n_beads is None):
        raise CgvizError("Give exactly one of atoms_per_bead and n_beads.",
                         hint="e.g. atoms_per_bead=4, or n_beads=10.")
    if atoms_per_bead is not None:
        if atoms_per_bead < 1:
            raise CgvizError(
                f"atoms_per_bead must be at least 1, got {atoms_per_bead}.",
                hint="Use atoms_per_bead >= 1 (1 keeps every atom as its own bead; 4 is a "
                "common start).")
        return [min(size, max(1, _round_half_up(size / atoms_per_bead))) for size in sizes]
    if int(n_beads) != n_beads or n_beads < 1:  # type: ignore[operator]
        raise CgvizError(f"n_beads must be a positive integer, got {n_beads!r}.")
    n_beads = int(n_beads)  # type: ignore[arg-type]
    if n_beads > n_atoms:
        raise CgvizError(f"n_beads = {n_beads} is more beads than atoms ({n_atoms}).",
                         hint=f"Use at most {n_atoms} beads.")
    if n_beads < len(sizes):
        raise CgvizError(
            f"n_beads = {n_beads} is fewer than the {len(sizes)} molecules; each molecule "
            "(connected piece of the bond graph) needs at least one bead.",
            hint=f"Use n_beads >= {len(sizes)}, or atoms_per_bead.")
    # One bead per molecule, the rest by largest remainder of the proportional share.
    share = np.array(sizes, dtype=np.float64) * n_beads / n_atoms
    counts = np.maximum(1, np.floor(share)).astype(np.int64)
    counts = np.minimum(counts, sizes)
    while counts.sum() > n_beads:  # the max(1, .) floor can overshoot
        candidates = np.flatnonzero(counts > 1)
        counts[candidates[np.argmax((counts - share)[candidates])]] -= 1
    while counts.sum() < n_beads:
        room = np.flatnonzero(counts < np.array(sizes))
        counts[room[np.argmax((share - counts)[room])]] += 1
    return counts.tolist()


def _groups_requested(n_atoms: int, atoms_per_bead: float | None, n_beads: int | None
                      ) -> bool:
    """Whether the options ask for beads of several atoms (which need bonds).

    False for options of the wrong type: :func:`_beads_per_component` reports those.
    """
    if isinstance(atoms_per_bead, (int, float)) and n_beads is None:
        return n_atoms > 1 and atoms_per_bead > 1
    if isinstance(n_beads, (int, float)) and atoms_per_bead is None:
        return n_beads < n_atoms
    return False


def _metis_labels(local: sparse.csr_matrix, n_parts: int, seed: int,
                  recursive: bool) -> np.ndarray | None:
    """Raw METIS part labels, or None when METIS refuses the graph."""
    import pymetis

    graph = pymetis.CSRAdjacency(local.indptr.astype(np.int64).tolist(),
                                 local.indices.astype(np.int64).tolist())
    options = pymetis.Options(seed=int(seed), contig=0 if recursive else 1)
    try:
        result = pymetis.part_graph(n_parts, graph, recursive=recursive, options=options)
    except Exception:  # noqa: BLE001 - METIS rejects some tiny graphs (e.g. with contig)
        return None
    return np.asarray(result.vertex_part, dtype=np.int64)


def _partition_component(
    atoms: np.ndarray, n_parts: int, system: _FineSystem, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Connected, non-empty labels 0..n_parts-1 for one connected component.

    Runs METIS k-way (contig) and recursive bisection, makes both connected and complete
    (see :func:`metis_mapping`), keeps the one with the smaller spread of bead sizes
    (standard deviation of atom counts; ties: k-way). Returns labels and diagnostics.
    """
    size = len(atoms)
    if n_parts == 1:
        return np.zeros(size, dtype=np.int64), {"scheme": "trivial", "moved": 0, "split": 0}
    if n_parts >= size:
        return np.arange(size, dtype=np.int64), {"scheme": "trivial", "moved": 0, "split": 0}
    local = system.adjacency[atoms][:, atoms].tocsr()
    local.sort_indices()
    local_bonds = np.stack(sparse.triu(local).nonzero(), axis=1).astype(np.int64)
    neighbours = _neighbour_lists(local)
    best: tuple[float, np.ndarray, dict[str, Any]] | None = None
    for scheme, recursive in (("kway", False), ("recursive", True)):
        labels = _metis_labels(local, n_parts, seed, recursive)
        if labels is None:
            continue
        labels, moved = _repair_connectivity(labels, local_bonds, neighbours)
        labels, split = _fill_empty_beads(labels, n_parts, neighbours)
        spread = float(np.bincount(labels).std())
        if best is None or spread < best[0] - 1e-12:
            best = (spread, labels, {"scheme": scheme, "moved": moved, "split": split})
    if best is None:  # both refused: fall back to splitting by breadth-first bisection
        labels, split = _fill_empty_beads(np.zeros(size, dtype=np.int64), n_parts, neighbours)
        return labels, {"scheme": "bisection", "moved": 0, "split": split}
    return best[1], best[2]


def metis_mapping(
    topology: TopologyLike,
    atoms_per_bead: float | None = None,
    *,
    n_beads: int | None = None,
    properties: AtomProperties | PathLike | None = None,
    masses: Any = None,
    guess_bonds: bool = False,
    coordinates: CoordinatesLike = None,
    bond_cutoff_nm: float | None = None,
    seed: int = 0,
    use_cache: bool = True,
) -> CGMapping:
    """Partition the bond graph into connected beads with METIS (docs/science.md 1.1).

    Each connected component (molecule) is partitioned on its own into
    ``max(1, round(n_atoms_component / atoms_per_bead))`` beads (round half up), so an
    isolated atom or ion is its own bead; alternatively ``n_beads`` in total, shared out
    over the molecules in proportion to their size (at least one each).

    How the result is made connected, balanced and deterministic:

    * METIS runs with a fixed ``seed`` on the component's adjacency (neighbours in index
      order), twice: k-way with ``contig=1`` and recursive bisection. The same topology
      and seed give the same partition (pymetis bundles its own METIS build; another build
      might differ, which is why the mapping is saved with a model rather than recomputed).
    * Recursive bisection often returns disconnected parts. Such a part keeps its largest
      piece; each stray piece moves to the smallest bead it is bonded to
      (``parameters["pieces_moved"]`` counts them).
    * k-way often leaves parts empty on small graphs. The largest bead is then split in two
      connected halves (breadth-first from a peripheral atom) until the requested number
      of beads is reached (``parameters["beads_split"]``).
    * Of the two repaired partitions the one with the smaller spread of bead sizes is kept
      (ties: k-way); ``parameters["metis_scheme_per_molecule"]`` says which.
    * Every bead is checked for connectivity at the end (the :class:`CGMapping`
      constructor does), so a connected bead is a guarantee, not a hope.

    Parameters
    ----------
    topology : md.Topology or md.Trajectory
    atoms_per_bead : float >= 1, or give ``n_beads`` instead
    properties : AtomProperties or a sidecar path; default: types and masses from the
        elements (bead models need a sidecar). ``masses`` (n_atoms,) amu is the
        alternative when only masses are known.
    guess_bonds, coordinates, bond_cutoff_nm : see :func:`guess_bonds_from_distances`;
        needed when the topology has no bonds.
    seed : METIS seed.
    use_cache : reuse an earlier result for the same topology and options.
    """
    atoms_per_bead = _as_count_option(atoms_per_bead, "atoms_per_bead")
    n_beads = _as_count_option(n_beads, "n_beads")  # type: ignore[assignment]
    system = _fine_system(topology, properties, masses, guess_bonds, coordinates,
                          bond_cutoff_nm)
    if len(system.bonds) == 0 and _groups_requested(system.n_atoms, atoms_per_bead, n_beads):
        raise _no_bonds_error("METIS has no bond graph to partition")
    components = system.components
    counts = _beads_per_component([len(c) for c in components], atoms_per_bead, n_beads)
    key = _cache_key("metis", system, (tuple(counts), int(seed)))
    found = _cached(key, use_cache)
    if found is not None:
        return found
    labels = np.zeros(system.n_atoms, dtype=np.int64)
    offset, moved, splits, schemes = 0, 0, 0, []
    for atoms, n_parts in zip(components, counts):
        local, report = _partition_component(atoms, n_parts, system, seed)
        labels[atoms] = local + offset
        offset += n_parts
        moved += report["moved"]
        splits += report["split"]
        schemes.append(report["scheme"])
    parameters = {
        "atoms_per_bead": atoms_per_bead, "n_beads": n_beads, "seed": int(seed),
        "beads_per_molecule": counts, "metis_scheme_per_molecule": schemes,
        "pieces_moved": moved, "beads_split": splits,
    }
    return _remember(key, _build(system, labels, "metis", parameters), use_cache)


def residue_mapping(
    topology: TopologyLike,
    residues_per_bead: int = 1,
    *,
    properties: AtomProperties | PathLike | None = None,
    masses: Any = None,
    guess_bonds: bool = False,
    coordinates: CoordinatesLike = None,
    bond_cutoff_nm: float | None = None,
    use_cache: bool = True,
) -> CGMapping:
    """One bead per residue, or per ``residues_per_bead`` consecutive residues.

    Residues are grouped in index order within each molecule (connected component); the
    last group of a molecule may be shorter. A group of residues that is not bonded
    together is split into its connected pieces (``parameters["groups_split"]``). A
    residue whose own atoms are not bonded together is an error (missing bonds).
    Other arguments as in :func:`metis_mapping`.
    """
    if int(residues_per_bead) != residues_per_bead or residues_per_bead < 1:
        raise CgvizError(f"residues_per_bead must be a positive integer, got "
                         f"{residues_per_bead!r}.", hint="e.g. 1 or 2.")
    residues_per_bead = int(residues_per_bead)
    system = _fine_system(topology, properties, masses, guess_bonds, coordinates,
                          bond_cutoff_nm)
    key = _cache_key("residue", system, (residues_per_bead,))
    found = _cached(key, use_cache)
    if found is not None:
        return found
    residue_of = np.array([atom.residue.index for atom in system.topology.atoms],
                          dtype=np.int64)
    broken = _disconnected_beads(residue_of, system.bonds)
    if broken.size:
        if len(system.bonds) == 0:
            raise _no_bonds_error("the atoms of a residue cannot be grouped into a bead")
        names = [str(system.topology.residue(int(r))) for r in broken[:5]]
        raise CgvizError(
            f"Residues {', '.join(names)}{' ...' if broken.size > 5 else ''} are not bonded "
            "together (their atoms form several pieces of the bond graph).",
            hint="The topology is missing bonds: load one with complete bonds, pass "
            "guess_bonds=True, or use metis_mapping.")
    labels = np.zeros(system.n_atoms, dtype=np.int64)
    next_label = 0
    for atoms in system.components:
        residues = np.unique(residue_of[atoms])
        for start in range(0, len(residues), residues_per_bead):
            group = residues[start : start + residues_per_bead]
            labels[atoms[np.isin(residue_of[atoms], group)]] = next_label
            next_label += 1
    pieces = _bead_pieces(labels, system.bonds)
    n_groups = next_label
    _, labels = np.unique(np.stack([labels, pieces], axis=1), axis=0, return_inverse=True)
    labels = labels.reshape(-1)
    parameters = {"residues_per_bead": residues_per_bead,
                  "groups_split": int(labels.max() + 1 - n_groups)}
    return _remember(key, _build(system, labels, "residue", parameters), use_cache)


def contiguous_mapping(
    topology: TopologyLike,
    atoms_per_bead: float,
    *,
    properties: AtomProperties | PathLike | None = None,
    masses: Any = None,
    guess_bonds: bool = False,
    coordinates: CoordinatesLike = None,
    bond_cutoff_nm: float | None = None,
    use_cache: bool = True,
) -> CGMapping:
    """Segments of consecutive atoms (in index order) along each molecule.

    Each molecule of n atoms is cut into ``max(1, round(n / atoms_per_bead))`` segments of
    near-equal length (round half up; longer segments first). For a bead-spring chain this
    is the obvious "k monomers per bead". When a segment is not bonded together (atoms
    listed out of chain order), its stray pieces move to the smallest bonded neighbouring
    bead, as in :func:`metis_mapping` (``parameters["pieces_moved"]``).
    Other arguments as in :func:`metis_mapping`.
    """
    atoms_per_bead = _as_count_option(atoms_per_bead, "atoms_per_bead")  # type: ignore
    system = _fine_system(topology, properties, masses, guess_bonds, coordinates,
                          bond_cutoff_nm)
    if len(system.bonds) == 0 and _groups_requested(system.n_atoms, atoms_per_bead, None):
        raise _no_bonds_error("the atoms cannot be grouped along a chain")
    components = system.components
    counts = _beads_per_component([len(c) for c in components], atoms_per_bead, None)
    key = _cache_key("contiguous", system, (tuple(counts),))
    found = _cached(key, use_cache)
    if found is not None:
        return found
    labels = np.zeros(system.n_atoms, dtype=np.int64)
    offset = 0
    for atoms, n_parts in zip(components, counts):
        for index, segment in enumerate(np.array_split(atoms, n_parts)):
            labels[segment] = offset + index
        offset += n_parts
    labels, moved = _repair_connectivity(labels, system.bonds, system.neighbours)
    parameters = {"atoms_per_bead": atoms_per_bead, "beads_per_molecule": counts,
                  "pieces_moved": moved}
    return _remember(key, _build(system, labels, "contiguous", parameters), use_cache)


def mapping_from_assignment(
    topology: TopologyLike,
    assignment: Any,
    *,
    properties: AtomProperties | PathLike | None = None,
    masses: Any = None,
    guess_bonds: bool = False,
    coordinates: CoordinatesLike = None,
    bond_cutoff_nm: float | None = None,
) -> CGMapping:
    """A mapping from a user-supplied array: ``assignment[i]`` = bead label of atom i.

    Labels are any non-negative integers numbering the beads 0..n_beads-1 without gaps;
    the beads are renumbered into the canonical order (module docstring), and
    ``parameters["input_bead_labels"][k]`` is the label the user gave bead k.

    Raises
    ------
    CgvizError
        wrong length or non-integer labels, more beads than atoms, a label with no atoms,
        a bead whose atoms are not bonded together, a multi-atom bead in a topology
        without bonds (pass ``guess_bonds=True``).
    """
    system = _fine_system(topology, properties, masses, guess_bonds, coordinates,
                          bond_cutoff_nm)
    raw = np.asarray(assignment)
    if raw.ndim != 1 or raw.shape[0] != system.n_atoms:
        raise CgvizError(
            f"The assignment has shape {raw.shape}, the topology has {system.n_atoms} atoms.",
            hint="Give one bead label per atom, in topology order.")
    if raw.dtype.kind == "f" and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw)):
        raw = raw.astype(np.int64)
    if raw.dtype.kind not in "iu":
        raise CgvizError(f"Bead labels must be integers, got dtype {raw.dtype}.",
                         hint="e.g. [0, 0, 0, 1, 1, 2, ...].")
    labels = raw.astype(np.int64)
    if labels.min() < 0:
        raise CgvizError("The assignment contains negative bead labels.",
                         hint="Number the beads 0, 1, 2, ...")
    n_beads = int(labels.max()) + 1
    if n_beads > system.n_atoms:
        raise CgvizError(
            f"The assignment asks for {n_beads} beads (labels up to {n_beads - 1}) but the "
            f"system has only {system.n_atoms} atoms: more beads than atoms.",
            hint="Number the beads 0..n_beads-1 without gaps.")
    counts = np.bincount(labels, minlength=n_beads)
    if np.any(counts == 0):
        raise CgvizError(
            f"Beads {_shown(np.flatnonzero(counts == 0))} have no atoms (empty beads).",
            hint="Number the beads 0..n_beads-1 without gaps.")
    disconnected = _disconnected_beads(labels, system.bonds)
    if disconnected.size:
        if len(system.bonds) == 0:
            raise _no_bonds_error("no bead with several atoms can be checked for connectivity")
        bead = int(disconnected[0])
        pieces = _bead_pieces(labels, system.bonds)
        members = np.flatnonzero(labels == bead)
        groups = [members[pieces[members] == p].tolist() for p in np.unique(pieces[members])]
        raise CgvizError(
            f"Beads {_shown(disconnected)} are not connected: e.g. bead {bead} falls apart "
            f"into the unbonded atom groups {groups[:3]}.",
            hint="Every bead must be one bonded piece of the molecule: move those atoms to "
            "a bonded bead, split the bead, or pass guess_bonds=True if bonds are missing.")
    canonical = _canonical_labels(labels, system.bonds)
    input_labels = np.zeros(n_beads, dtype=np.int64)
    input_labels[canonical] = labels
    parameters = {"input_bead_labels": input_labels.tolist()}
    return _build(system, canonical, "assignment", parameters)
