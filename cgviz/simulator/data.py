"""Training data for the CG simulator: bead systems and history windows as index views.

A :class:`BeadSystem` is one molecule (or one system of molecules) at bead level: its bead
positions over time plus the fine graph (atom types, masses, bonds, atom -> bead) that the
embedding GNN needs. :class:`HistoryWindows` indexes every ``(system, t)`` whose window of
``history_length`` past positions and one next position lies inside that system's
trajectory; a window is two integers, never a copy of coordinates. :func:`collate` turns a
list of windows into one :class:`HistoryBatch`, keeping the fine graph once per *distinct*
system in the batch, so the embedding GNN runs once per molecule, not once per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cgviz.errors import CgvizError


@dataclass(frozen=True, eq=False)
class BeadSystem:
    """One system at bead level with its fine graph.

    Attributes
    ----------
    name: label, e.g. "polymer-train/chain-3".
    atom_type_ids: (n_atoms,) int64 indices into the model's atom-type vocabulary.
    atom_masses: (n_atoms,) float32, amu.
    atom_bonds: (n_atom_bonds, 2) int64 atom index pairs.
    bead_of_atom: (n_atoms,) int64 bead index of each atom.
    bead_masses: (n_beads,) float32, amu.
    bead_bonds: (n_bead_bonds, 2) int64 bead index pairs (CG bonds).
    positions: (n_frames, n_beads, 3) float32 bead positions, nm (unwrapped in time for a
        periodic system: each bead moves continuously, the box only enters the graph).
    frame_time_ps: time between frames (one model step), ps.
    box: (n_frames, 3) float32 orthorhombic box edge lengths, nm, for a periodic system
        (the radius graph and edge vectors then use the minimum image); None otherwise.
    bead_types: (n_beads,) type label of each bead from the mapping (for written files),
        or None.
    """

    name: str
    atom_type_ids: np.ndarray
    atom_masses: np.ndarray
    atom_bonds: np.ndarray
    bead_of_atom: np.ndarray
    bead_masses: np.ndarray
    bead_bonds: np.ndarray
    positions: np.ndarray
    frame_time_ps: float
    box: np.ndarray | None = None
    bead_types: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        n_atoms = len(self.atom_type_ids)
        if self.box is not None:
            box = np.asarray(self.box, dtype=np.float32)
            if box.shape != (self.positions.shape[0], 3):
                raise CgvizError(f"{self.name}: box must be (n_frames, 3) edge lengths, got "
                                 f"{box.shape} for {self.positions.shape[0]} frames.")
            if not (np.isfinite(box).all() and (box > 0).all()):
                raise CgvizError(f"{self.name}: the periodic box has non-positive or "
                                 "non-finite edge lengths.",
                                 hint="Check the unit cell stored in the trajectory.")
            object.__setattr__(self, "box", box)
        if self.positions.ndim != 3 or self.positions.shape[2] != 3:
            raise CgvizError(f"{self.name}: positions must be (n_frames, n_beads, 3), got "
                             f"{self.positions.shape}.")
        n_beads = self.positions.shape[1]
        if self.atom_masses.shape != (n_atoms,) or self.bead_of_atom.shape != (n_atoms,):
            raise CgvizError(f"{self.name}: atom arrays disagree in length.")
        if self.bead_masses.shape != (n_beads,):
            raise CgvizError(f"{self.name}: {len(self.bead_masses)} bead masses for "
                             f"{n_beads} beads.")
        if n_atoms and (self.bead_of_atom.min() < 0 or self.bead_of_atom.max() >= n_beads):
            raise CgvizError(f"{self.name}: bead_of_atom points outside 0..{n_beads - 1}.")
        if not np.isfinite(self.positions).all():
            bad = np.flatnonzero(~np.isfinite(self.positions).all(axis=(1, 2)))
            raise CgvizError(f"{self.name}: non-finite bead positions in frames {bad[:10]}.",
                             hint="Clean the trajectory (cgviz.io.load_trajectory checks this).")

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_beads(self) -> int:
        return int(self.positions.shape[1])

    @property
    def n_atoms(self) -> int:
        return int(len(self.atom_type_ids))


def bead_systems_from_trajectory(traj, mapping, type_vocabulary: Sequence[str],
                                 name: str = "system", split_molecules: bool = True,
                                 periodic: bool = False) -> list[BeadSystem]:
    """Map a fine trajectory to beads and cut it into one BeadSystem per molecule.

    Parameters
    ----------
    traj: md.Trajectory of the fine system (nm, ps), uniform frame time.
    mapping: a ``cgviz.mapping.CGMapping`` of that topology.
    type_vocabulary: the atom type names the model knows; the index of each atom's type in
        it becomes ``atom_type_ids`` (CgvizError for a type not in it).
    split_molecules: one BeadSystem per molecule (the copolymer demo's chains do not
        interact, so each is its own system); False keeps the whole system as one graph
        (interacting molecules, a protein with breaks, ligands and ions).
    periodic: pass the trajectory's orthorhombic box to the model (minimum image); the
        trajectory must already be unwrapped in time (``cgviz.system`` does this).
    """
    vocabulary = {t: i for i, t in enumerate(type_vocabulary)}
    unknown = sorted(set(mapping.atom_types) - set(vocabulary))
    if unknown:
        raise CgvizError(f"Atom types {unknown} are not in the model's type vocabulary "
                         f"{list(type_vocabulary)}.",
                         hint="Train a model that includes these types, or map them to known "
                         "ones.")
    if traj.n_atoms != mapping.n_atoms:
        raise CgvizError(f"The trajectory has {traj.n_atoms} atoms, the mapping "
                         f"{mapping.n_atoms}.", hint="Build the mapping from this topology.")
    box = None
    if periodic:
        if traj.unitcell_lengths is None:
            raise CgvizError(f"{name}: periodic was asked for, but the trajectory stores no "
                             "box.", hint="Load a trajectory with unit cells (e.g. .xtc, .dcd, "
                             ".h5 from a periodic simulation) or switch periodic off.")
        if not np.allclose(traj.unitcell_angles, 90.0, atol=1e-3):
            raise CgvizError(f"{name}: the box is triclinic; cgviz's radius graph handles "
                             "orthorhombic boxes only.",
                             hint="Convert the trajectory to a rectangular box (e.g. gmx "
                             "trjconv -ur rect) or switch periodic off.")
        box = np.asarray(traj.unitcell_lengths, dtype=np.float32)
    # Periodic positions are already whole and continuous: map them as they are.
    bead_xyz = mapping.map_positions(traj.xyz, None if periodic else traj.unitcell_vectors)
    frame_time = float(traj.timestep) if traj.n_frames > 1 else 1.0
    type_ids = np.array([vocabulary[t] for t in mapping.atom_types], dtype=np.int64)
    molecules = (mapping.bead_molecules if split_molecules
                 else np.zeros(mapping.n_beads, dtype=np.int64))
    systems = []
    for molecule in range(int(molecules.max()) + 1):
        beads = np.flatnonzero(molecules == molecule)
        bead_new = -np.ones(mapping.n_beads, dtype=np.int64)
        bead_new[beads] = np.arange(len(beads))
        atoms = np.flatnonzero(np.isin(mapping.assignment, beads))
        atom_new = -np.ones(mapping.n_atoms, dtype=np.int64)
        atom_new[atoms] = np.arange(len(atoms))
        atom_bonds = mapping.atom_bonds[np.isin(mapping.atom_bonds[:, 0], atoms)]
        bead_bonds = mapping.bead_bonds[np.isin(mapping.bead_bonds[:, 0], beads)]
        systems.append(BeadSystem(
            name=f"{name}/molecule-{molecule}" if split_molecules else name,
            atom_type_ids=type_ids[atoms],
            atom_masses=mapping.atom_masses[atoms].astype(np.float32),
            atom_bonds=atom_new[atom_bonds].reshape(-1, 2),
            bead_of_atom=bead_new[mapping.assignment[atoms]],
            bead_masses=mapping.bead_masses[beads].astype(np.float32),
            bead_bonds=bead_new[bead_bonds].reshape(-1, 2),
            positions=np.ascontiguousarray(bead_xyz[:, beads], dtype=np.float32),
            frame_time_ps=frame_time,
            box=box,
            bead_types=tuple(mapping.bead_types[b] for b in beads),
        ))
    return systems


class HistoryWindows:
    """Every (system, t) with positions t-history_length+1 .. t and the target t+1.

    Stored as two int arrays (system index, last history frame); nothing is copied.

    Parameters
    ----------
    systems: the BeadSystems (different systems may have different sizes and lengths).
    history_length: k, the number of past positions the model sees (k-1 velocities).
    frame_stride: use every n-th window start (1 = all).
    """

    def __init__(self, systems: Sequence[BeadSystem], history_length: int,
                 frame_stride: int = 1) -> None:
        if history_length < 2:
            raise CgvizError(f"history_length must be at least 2 (one velocity), got "
                             f"{history_length}.")
        if frame_stride < 1:
            raise CgvizError("frame_stride must be at least 1.")
        if not systems:
            raise CgvizError("HistoryWindows needs at least one system.")
        self.systems = list(systems)
        self.history_length = int(history_length)
        system_index, last_frame = [], []
        for i, system in enumerate(self.systems):
            ends = np.arange(history_length - 1, system.n_frames - 1, frame_stride)
            system_index.append(np.full(len(ends), i, dtype=np.int64))
            last_frame.append(ends.astype(np.int64))
        self.system_index = np.concatenate(system_index)
        self.last_frame = np.concatenate(last_frame)
        if len(self.system_index) == 0:
            longest = max(s.n_frames for s in self.systems)
            raise CgvizError(
                f"No system has enough frames for history_length = {history_length}: the "
                f"longest has {longest}, at least {history_length + 1} are needed.",
                hint="Use a shorter history or longer trajectories.")

    def __len__(self) -> int:
        return int(len(self.system_index))

    def window(self, index: int) -> np.ndarray:
        """Positions (history_length + 1, n_beads, 3): the history and then the target."""
        system = self.systems[int(self.system_index[index])]
        end = int(self.last_frame[index])
        return system.positions[end - self.history_length + 1 : end + 2]

    def window_box(self, index: int) -> np.ndarray | None:
        """The (3,) box at the last history frame of a window (None if not periodic)."""
        system = self.systems[int(self.system_index[index])]
        return None if system.box is None else system.box[int(self.last_frame[index])]


@dataclass(frozen=True)
class HistoryBatch:
    """A batch of windows, flattened over systems (torch tensors).

    Attributes
    ----------
    positions: (history_length + 1, n_beads_total, 3) float32 nm; [:-1] history, [-1] target.
    bead_masses: (n_beads_total,) float32 amu.
    bead_graph: (n_beads_total,) int64 graph (window) index of each bead.
    bead_bonds: (2, n_bead_bonds_total) int64 CG bonds, both directions.
    embedding_row: (n_beads_total,) int64 row of each bead in the per-system bead
        embedding table (beads of the distinct systems, concatenated).
    atom_type_ids, atom_masses: (n_atoms_unique,) fine atoms of the distinct systems.
    atom_bonds: (2, n_atom_bonds_unique) fine bonds, both directions.
    bead_of_atom: (n_atoms_unique,) row in the bead embedding table of each atom.
    n_embedding_rows: number of beads of the distinct systems.
    n_graphs: number of windows.
    periodic_box: (n_graphs, 3) float32 orthorhombic box per window, nm, or None.
    """

    positions: object
    bead_masses: object
    bead_graph: object
    bead_bonds: object
    embedding_row: object
    atom_type_ids: object
    atom_masses: object
    atom_bonds: object
    bead_of_atom: object
    n_embedding_rows: int
    n_graphs: int
    periodic_box: object = None

    def to(self, device) -> HistoryBatch:
        moved = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in self.__dict__.items()}
        return HistoryBatch(**moved)


def _both_directions(pairs: np.ndarray) -> np.ndarray:
    pairs = pairs.reshape(-1, 2)
    return np.concatenate([pairs, pairs[:, ::-1]]).T


def _stack_boxes(systems: Sequence[BeadSystem], boxes: Sequence | None):
    import torch

    periodic = [s.box is not None for s in systems]
    if not any(periodic):
        return None
    if not all(periodic):
        raise CgvizError("A batch mixes periodic and non-periodic systems.",
                         hint="Train or roll out periodic and open systems separately.")
    if boxes is None:
        boxes = [s.box[-1] for s in systems]
    return torch.from_numpy(np.asarray(boxes, dtype=np.float32).reshape(len(systems), 3))


def collate_systems(systems: Sequence[BeadSystem], positions: Sequence[np.ndarray],
                    boxes: Sequence[np.ndarray] | None = None) -> HistoryBatch:
    """Batch ``positions[i]`` ((n_time, n_beads_i, 3)) of ``systems[i]`` (repeats allowed);
    ``boxes[i]`` is the (3,) box of window i for periodic systems (default: the system's
    last box)."""
    import torch

    unique: dict[int, int] = {}
    unique_systems: list[BeadSystem] = []
    for system in systems:
        if id(system) not in unique:
            unique[id(system)] = len(unique_systems)
            unique_systems.append(system)
    # The distinct systems' fine graphs and bead embedding rows.
    row_offsets = np.cumsum([0] + [s.n_beads for s in unique_systems])
    atom_offsets = np.cumsum([0] + [s.n_atoms for s in unique_systems])
    atom_type_ids = np.concatenate([s.atom_type_ids for s in unique_systems])
    atom_masses = np.concatenate([s.atom_masses for s in unique_systems])
    atom_bonds = np.concatenate(
        [_both_directions(s.atom_bonds) + atom_offsets[i] for i, s in enumerate(unique_systems)],
        axis=1)
    bead_of_atom = np.concatenate(
        [s.bead_of_atom + row_offsets[i] for i, s in enumerate(unique_systems)])
    # The windows.
    bead_offsets = np.cumsum([0] + [s.n_beads for s in systems])
    bead_graph = np.concatenate([np.full(s.n_beads, g) for g, s in enumerate(systems)])
    bead_masses = np.concatenate([s.bead_masses for s in systems])
    bead_bonds = np.concatenate(
        [_both_directions(s.bead_bonds) + bead_offsets[g] for g, s in enumerate(systems)], axis=1)
    embedding_row = np.concatenate(
        [np.arange(s.n_beads) + row_offsets[unique[id(s)]] for s in systems])
    stacked = np.concatenate(positions, axis=1)
    return HistoryBatch(
        positions=torch.from_numpy(np.ascontiguousarray(stacked, dtype=np.float32)),
        bead_masses=torch.from_numpy(bead_masses.astype(np.float32)),
        bead_graph=torch.from_numpy(bead_graph.astype(np.int64)),
        bead_bonds=torch.from_numpy(bead_bonds.astype(np.int64)),
        embedding_row=torch.from_numpy(embedding_row.astype(np.int64)),
        atom_type_ids=torch.from_numpy(atom_type_ids.astype(np.int64)),
        atom_masses=torch.from_numpy(atom_masses.astype(np.float32)),
        atom_bonds=torch.from_numpy(atom_bonds.astype(np.int64)),
        bead_of_atom=torch.from_numpy(bead_of_atom.astype(np.int64)),
        n_embedding_rows=int(row_offsets[-1]),
        n_graphs=len(systems),
        periodic_box=_stack_boxes(systems, boxes),
    )


def collate(windows: HistoryWindows, indices: Sequence[int]) -> HistoryBatch:
    """A HistoryBatch of the windows ``indices`` of ``windows``."""
    systems = [windows.systems[int(windows.system_index[i])] for i in indices]
    boxes = None
    if any(s.box is not None for s in systems):
        boxes = [windows.window_box(int(i)) for i in indices]
    return collate_systems(systems, [windows.window(int(i)) for i in indices], boxes)
