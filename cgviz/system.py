"""One molecular system from the first page to the last: load, select, map, split, train.

A :class:`MolecularSystem` is what a user means by "my system": the trajectories of one
topology as they chose them (a demo, uploaded files or files on disk), the atoms they kept
(an mdtraj selection; water is dropped by default, with a note), whether it is periodic
(then coordinates are made whole and unwrapped across frames, and the box goes to the
radius graph), the model time step (stride x saved frame interval), the split into
train / validation / test, and, once a mapping is chosen, the atom -> bead mapping.

The same object is used by the app's pages, the notebooks and the CLI; training runs get
its :meth:`MolecularSystem.to_dict` (plain YAML types) and rebuild it with
:func:`from_dict`, so nobody re-enters files between steps. ``docs/science.md`` explains
how the system becomes bead graphs for the simulator.

Units: nm, ps, amu, as everywhere in cgviz.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from cgviz.errors import CgvizError

__all__ = [
    "MolecularSystem",
    "Split",
    "SPLIT_PARTS",
    "WATER_SELECTION",
    "from_demo",
    "from_dict",
    "from_loaded_demo",
    "from_trajectories",
    "load",
    "file_fingerprint",
]

#: What "solvent" means when it is dropped by default: water molecules (ions and ligands
#: stay; drop them with a selection).
WATER_SELECTION = "water"

SPLIT_PARTS = ("train", "validation", "test")

#: A frame-to-frame jump of more than this fraction of a box edge means the trajectory was
#: written wrapped into the box (atoms jump across it).
_WRAP_JUMP_FRACTION = 0.4


# ---------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """How frames are divided into train / validation / test.

    Attributes
    ----------
    by: ``"trajectory"`` (whole trajectories per part: the last ones are the test set, the
        ones before them validation), ``"time"`` (each trajectory cut into consecutive
        blocks: train first, then validation, then test), or ``"auto"`` (by trajectory when
        there are at least 3 trajectories, else by time).
    validation, test: fractions of the trajectories (by trajectory, at least one each when
        the fraction is > 0) or of each trajectory's frames (by time).
    """

    by: str = "auto"
    validation: float = 0.1
    test: float = 0.1

    def __post_init__(self) -> None:
        if self.by not in ("auto", "time", "trajectory"):
            raise CgvizError(f"Split by {self.by!r} is not known.",
                             hint="Split by 'time', 'trajectory' or 'auto'.")
        for name in ("validation", "test"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 0.5:
                raise CgvizError(f"The {name} fraction must be in [0, 0.5), got {value!r}.")
        if self.validation + self.test >= 0.8:
            raise CgvizError("Validation and test together leave less than 20 % for training.",
                             hint="Use smaller fractions.")

    def resolved(self, n_trajectories: int) -> str:
        if self.by != "auto":
            return self.by
        return "trajectory" if n_trajectories >= 3 else "time"

    def blocks(self, lengths: Sequence[int]) -> dict[str, list[tuple[int, int, int]]]:
        """Part -> list of (trajectory index, first frame, end frame) for trajectories of
        ``lengths`` frames. Every part is present (possibly empty); train is never empty."""
        n = len(lengths)
        parts: dict[str, list[tuple[int, int, int]]] = {p: [] for p in SPLIT_PARTS}
        if self.resolved(n) == "trajectory":
            n_test = max(1, round(self.test * n)) if self.test > 0 else 0
            n_val = max(1, round(self.validation * n)) if self.validation > 0 else 0
            if n - n_test - n_val < 1:
                raise CgvizError(
                    f"{n} trajectories cannot be split by trajectory into train, "
                    f"{n_val} validation and {n_test} test.",
                    hint="Split by time instead, or give more trajectories.")
            for i, length in enumerate(lengths):
                part = ("test" if i >= n - n_test else
                        "validation" if i >= n - n_test - n_val else "train")
                parts[part].append((i, 0, int(length)))
            return parts
        for i, length in enumerate(lengths):
            n_test = int(round(length * self.test))
            n_val = int(round(length * self.validation))
            cut_val, cut_test = length - n_test - n_val, length - n_test
            for part, start, end in (("train", 0, cut_val), ("validation", cut_val, cut_test),
                                     ("test", cut_test, length)):
                if end > start:
                    parts[part].append((i, int(start), int(end)))
        if not parts["train"]:
            raise CgvizError("The split leaves no frames for training.",
                             hint="Use smaller validation/test fractions or more frames.")
        return parts

    def to_dict(self) -> dict[str, Any]:
        return {"by": self.by, "validation": float(self.validation), "test": float(self.test)}

    @classmethod
    def from_dict(cls, data: Any) -> Split:
        if data is None:
            return cls()
        if isinstance(data, Split):
            return data
        if not isinstance(data, dict):
            raise CgvizError(f"A split must be a mapping, got {type(data).__name__}.")
        unknown = set(data) - {"by", "validation", "test"}
        if unknown:
            raise CgvizError(f"Unknown split settings {sorted(unknown)}.",
                             hint="Known: by, validation, test.")
        return cls(**data)


# ---------------------------------------------------------------------------------------
# The system
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MolecularSystem:
    """One system as the user chose it (see the module docstring).

    Attributes
    ----------
    label: what the user picked ("demo: alanine-dipeptide", "upload: prot.pdb, prot.xtc").
    trajectories: independent trajectories of the kept atoms (nm, ps), strided, and for a
        periodic system whole and unwrapped in time.
    properties: ``cgviz.io.AtomProperties`` (type names, masses) of the kept atoms.
    source: how to load it again (plain data: demo name or file paths, selection, stride);
        None for a system built from objects in memory.
    stride: every ``stride``-th saved frame was kept: one model step = ``frame_time_ps``.
    saved_frame_ps: time between the saved frames in the files.
    periodic: the box enters the bead graph (minimum image).
    independent_molecules: each molecule is its own system (the copolymer demos, whose
        chains were simulated without interactions); else all molecules share one graph.
    notes: what was done on the way that a user should know (solvent dropped, bonds
        inferred, box found but not used, ...).
    split: train / validation / test.
    mapping: the ``cgviz.mapping.CGMapping`` chosen on page 2 (or None).
    fingerprints: one per trajectory file (size + hash of its ends), to recognise the
        training data at evaluation time.
    """

    label: str
    trajectories: tuple
    properties: Any
    source: dict[str, Any] | None = None
    stride: int = 1
    saved_frame_ps: float = 1.0
    periodic: bool = False
    independent_molecules: bool = False
    notes: tuple[str, ...] = ()
    split: Split = field(default_factory=Split)
    mapping: Any = None
    fingerprints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.trajectories:
            raise CgvizError("A system needs at least one trajectory.")
        object.__setattr__(self, "trajectories", tuple(self.trajectories))
        n_atoms = {t.n_atoms for t in self.trajectories}
        if len(n_atoms) != 1:
            raise CgvizError(f"The trajectories of one system have different atom counts "
                             f"{sorted(n_atoms)}.",
                             hint="Give trajectories of one system per run.")
        if len(self.properties.type_names) != self.n_atoms:
            raise CgvizError("The atom properties do not match the system's atoms.")
        if self.mapping is not None and self.mapping.n_atoms != self.n_atoms:
            raise CgvizError(
                f"The mapping is for {self.mapping.n_atoms} atoms, the system has "
                f"{self.n_atoms}.", hint="Map the system again on the Coarse-Graining page.")

    # -- sizes -----------------------------------------------------------------------------
    @property
    def topology(self):
        return self.trajectories[0].topology

    @property
    def n_atoms(self) -> int:
        return int(self.trajectories[0].n_atoms)

    @property
    def n_frames(self) -> int:
        return int(sum(t.n_frames for t in self.trajectories))

    @property
    def frame_time_ps(self) -> float:
        """One model step: stride x the saved frame interval, ps."""
        return float(self.saved_frame_ps * self.stride)

    @property
    def time_step_text(self) -> str:
        """The model step for people: '2 ps (stride 2 x 1 ps saved)'."""
        step = format_time(self.frame_time_ps)
        if self.stride == 1:
            return f"{step} (every saved frame)"
        return f"{step} (stride {self.stride} x {format_time(self.saved_frame_ps)} saved)"

    # -- derived systems -------------------------------------------------------------------
    def with_mapping(self, mapping) -> MolecularSystem:
        return replace(self, mapping=mapping)

    def with_split(self, split: Split | dict | None) -> MolecularSystem:
        return replace(self, split=Split.from_dict(split))

    def parts(self) -> dict[str, list[tuple[int, int, int]]]:
        """The split applied to this system's trajectories (see :meth:`Split.blocks`)."""
        return self.split.blocks([t.n_frames for t in self.trajectories])

    def part_frames(self, part: str) -> int:
        return sum(end - start for _, start, end in self.parts()[part])

    def bead_systems(self, part: str, type_vocabulary: Sequence[str], mapping=None,
                     min_frames: int = 1) -> list:
        """The bead-level ``BeadSystem``s of one part of the split (needs a mapping).

        Each block of consecutive frames becomes one system (or one per molecule for
        independent molecules); blocks shorter than ``min_frames`` are left out."""
        from cgviz.simulator.data import bead_systems_from_trajectory

        if part not in SPLIT_PARTS:
            raise CgvizError(f"Unknown part {part!r}.", hint=f"Use one of {SPLIT_PARTS}.")
        mapping = mapping if mapping is not None else self.mapping
        if mapping is None:
            raise CgvizError("This system has no mapping yet.",
                             hint="Choose a mapping first (Coarse-Graining page, or "
                             "system.with_mapping(cgviz.mapping.metis_mapping(...))).")
        systems = []
        name = self.label.split(": ", 1)[-1]
        for index, start, end in self.parts()[part]:
            if end - start < min_frames:
                continue
            piece = self.trajectories[index][start:end]
            systems.extend(bead_systems_from_trajectory(
                piece, mapping, type_vocabulary, name=f"{name}/{index}/{part}",
                split_molecules=self.independent_molecules, periodic=self.periodic))
        return systems

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML-able) from which :func:`from_dict` rebuilds this system."""
        if self.source is None:
            raise CgvizError("This system was built from objects in memory and cannot be "
                             "sent to a run.",
                             hint="Save it first with system.save_files(folder).")
        return {
            "label": self.label,
            "source": dict(self.source),
            "split": self.split.to_dict(),
            "mapping": None if self.mapping is None else self.mapping.to_dict(),
            "fingerprints": list(self.fingerprints),
        }

    def save_files(self, folder: str | Path) -> MolecularSystem:
        """Write the kept atoms as PDB + one XTC per trajectory (+ the atom sidecar) into
        ``folder`` and return the same system with ``source`` pointing there: runs then
        need neither the original upload nor its selection."""
        from cgviz import io

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        topology = folder / "system.pdb"
        self.trajectories[0][0].save_pdb(str(topology))
        io.write_atom_properties(io.sidecar_path_for(topology), self.properties)
        paths = []
        for i, traj in enumerate(self.trajectories):
            path = folder / f"trajectory_{i:03d}.xtc"
            traj.save_xtc(str(path))
            paths.append(str(path))
        source = {"topology": str(topology), "trajectories": paths, "selection": "all",
                  "stride": 1, "periodic": self.periodic,
                  "frame_time_ps": self.frame_time_ps,
                  "independent_molecules": self.independent_molecules}
        return replace(self, source=source, stride=1, saved_frame_ps=self.frame_time_ps)

    def summary(self) -> dict[str, Any]:
        """What the pages show: sizes, time step, box, split."""
        parts = self.parts()
        return {
            "system": self.label,
            "atoms": self.n_atoms,
            "trajectories": len(self.trajectories),
            "frames": self.n_frames,
            "model step": self.time_step_text,
            "periodic": self.periodic,
            "split": self.split.resolved(len(self.trajectories)),
            **{f"{p} frames": sum(e - s for _, s, e in parts[p]) for p in SPLIT_PARTS},
            "beads": None if self.mapping is None else self.mapping.n_beads,
        }


def format_time(ps: float) -> str:
    """'500 fs', '2 ps', '1.5 ns': the unit a person reads best."""
    if ps < 1:
        return f"{ps * 1000:.3g} fs"
    if ps < 1000:
        return f"{ps:.3g} ps"
    return f"{ps / 1000:.3g} ns"


# ---------------------------------------------------------------------------------------
# Building systems
# ---------------------------------------------------------------------------------------


def file_fingerprint(path: str | Path, chunk: int = 1 << 20) -> str:
    """Size + SHA-256 of the first and last MiB: the same file, cheaply, even if huge."""
    path = Path(path)
    digest = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as handle:
        digest.update(handle.read(chunk))
        if size > chunk:
            handle.seek(max(chunk, size - chunk))
            digest.update(handle.read(chunk))
    return f"{size}:{digest.hexdigest()[:32]}"


def _water_atoms(topology) -> np.ndarray:
    try:
        return np.asarray(topology.select(WATER_SELECTION), dtype=np.int64)
    except Exception:
        return np.zeros(0, dtype=np.int64)


def _select(topology, selection: str | None, keep_solvent: bool
            ) -> tuple[np.ndarray | None, list[str]]:
    """Atom indices to keep (None = all) and notes."""
    notes: list[str] = []
    if selection is not None and not isinstance(selection, str):
        raise CgvizError(f"A selection must be an mdtraj selection string, got "
                         f"{type(selection).__name__}.", hint="E.g. 'protein' or 'not water'.")
    if selection is not None and selection.strip() and selection.strip() != "all":
        try:
            keep = np.asarray(topology.select(selection), dtype=np.int64)
        except Exception as error:
            raise CgvizError(f"The selection {selection!r} is not valid mdtraj syntax "
                             f"({type(error).__name__}: {str(error)[:160]}).",
                             hint="Examples: 'protein', 'not water', 'chainid 0', "
                             "'resname LIG or protein', 'mass > 2'.") from None
        if keep.size == 0:
            raise CgvizError(f"The selection {selection!r} matches no atom of the "
                             f"{topology.n_atoms}-atom topology.",
                             hint="Check residue and atom names (e.g. with `python -m cgviz "
                             "info`), or leave the selection empty to keep everything.")
        notes.append(f"Kept {keep.size} of {topology.n_atoms} atoms ({selection}).")
        return keep, notes
    if selection is None and not keep_solvent:
        water = _water_atoms(topology)
        if water.size:
            keep = np.setdiff1d(np.arange(topology.n_atoms), water)
            if keep.size == 0:
                raise CgvizError("The system is only water; nothing is left once solvent is "
                                 "dropped.", hint="Pass selection='all' to keep the water.")
            notes.append(f"Dropped {water.size} water atoms (solvent); keep them with "
                         "selection 'all'.")
            return keep, notes
    return None, notes


def _infer_missing_bonds(trajectories: list, notes: list[str]) -> list:
    """Give bonds to atoms of multi-atom residues that have none (from distances in the
    first frame); a topology without any bond gets all its bonds this way."""
    from cgviz import mapping

    topology = trajectories[0].topology
    bonded = np.zeros(topology.n_atoms, dtype=bool)
    for a, b in topology.bonds:
        bonded[a.index] = bonded[b.index] = True
    lonely = [a.index for a in topology.atoms if not bonded[a.index]
              and a.residue.n_atoms > 1]
    if not lonely:
        return trajectories
    guessed = mapping.guess_bonds_from_distances(topology, trajectories[0].xyz[0])
    lonely_set = set(lonely)
    new = [(int(i), int(j)) for i, j in guessed if i in lonely_set or j in lonely_set]
    if not new:
        notes.append(f"{len(lonely)} atoms in multi-atom residues have no bonds and none "
                     "could be inferred from distances.")
        return trajectories
    top = topology.copy()
    atoms = list(top.atoms)
    existing = {(min(a.index, b.index), max(a.index, b.index)) for a, b in top.bonds}
    added = 0
    for i, j in new:
        if (min(i, j), max(i, j)) not in existing:
            top.add_bond(atoms[i], atoms[j])
            existing.add((min(i, j), max(i, j)))
            added += 1
    what = ("The topology has no bonds" if topology.n_bonds == 0
            else f"{len(lonely)} atoms had no bonds")
    notes.append(f"{what}: inferred {added} bonds from distances in the first frame "
                 "(covalent radii).")
    return [md_trajectory_with(traj, top) for traj in trajectories]


def md_trajectory_with(traj, topology):
    """The same frames with another topology (a new object: loaded data shared by pages and
    sessions is never changed in place)."""
    import mdtraj as md

    return md.Trajectory(traj.xyz, topology, time=traj.time,
                         unitcell_lengths=traj.unitcell_lengths,
                         unitcell_angles=traj.unitcell_angles)


def _has_box(traj) -> bool:
    lengths = traj.unitcell_lengths
    return lengths is not None and bool(np.all(np.isfinite(lengths))) and bool(
        np.all(lengths > 0.2))


def _looks_wrapped(traj) -> bool:
    """Atoms jump across the box between frames, or bonds span half a box."""
    lengths = traj.unitcell_lengths
    if traj.n_frames > 1:
        jumps = np.abs(np.diff(traj.xyz, axis=0))
        if bool((jumps > _WRAP_JUMP_FRACTION * lengths[1:, None, :]).any()):
            return True
    bonds = np.array([[a.index, b.index] for a, b in traj.topology.bonds], dtype=np.int64)
    if len(bonds):
        stretch = np.abs(traj.xyz[0, bonds[:, 0]] - traj.xyz[0, bonds[:, 1]])
        return bool((stretch > 0.5 * lengths[0]).any())
    return False


def unwrap(traj):
    """Molecules made whole in every frame (minimum image along the bonds), then each
    molecule followed continuously across frames (its centre takes the minimum-image step
    between consecutive frames, any triclinic box): what ``gmx trjconv -pbc mol`` followed
    by ``-pbc nojump`` does. A molecule's centre moves far less per frame than its atoms
    (which may jump by more than half a box between widely spaced frames), so this stays
    unambiguous where unwrapping atom by atom would not. Returns a new trajectory."""
    import mdtraj as md
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    if traj.unitcell_vectors is None:
        raise CgvizError("Unwrapping needs a box in every frame.")
    whole = traj.make_molecules_whole(inplace=False) if traj.topology.n_bonds else traj
    xyz = whole.xyz.astype(np.float64)
    boxes = traj.unitcell_vectors.astype(np.float64)
    bonds = np.array([[a.index, b.index] for a, b in traj.topology.bonds], dtype=np.int64)
    bonds = bonds.reshape(-1, 2)
    graph = sparse.coo_matrix((np.ones(len(bonds)), (bonds[:, 0], bonds[:, 1])),
                              shape=(traj.n_atoms, traj.n_atoms))
    n_molecules, molecule = connected_components(graph, directed=False)
    counts = np.bincount(molecule, minlength=n_molecules)
    centres = np.stack([np.stack([np.bincount(molecule, weights=frame[:, axis],
                                              minlength=n_molecules) for axis in range(3)],
                                 axis=-1) for frame in xyz]) / counts[None, :, None]
    step = centres[1:] - centres[:-1]
    if len(step):
        lattice = np.round(np.einsum("fmi,fij->fmj", step, np.linalg.inv(boxes[1:])))
        correction = -np.einsum("fmj,fji->fmi", lattice, boxes[1:])
        shifts = np.concatenate([np.zeros((1, n_molecules, 3)),
                                 np.cumsum(correction, axis=0)], axis=0)
        xyz = xyz + shifts[:, molecule]
    return md.Trajectory(xyz.astype(np.float32), traj.topology, time=traj.time,
                         unitcell_lengths=traj.unitcell_lengths,
                         unitcell_angles=traj.unitcell_angles)


def _periodic_choice(trajectories: list, periodic: bool | None, notes: list[str]) -> bool:
    boxed = all(_has_box(t) for t in trajectories)
    if periodic is True and not boxed:
        raise CgvizError("Periodic was asked for, but not every frame stores a box.",
                         hint="Load trajectories written with their unit cell (.xtc, .dcd, "
                         ".trr, .h5 of a periodic run), or switch periodic off.")
    if periodic is None:
        periodic = boxed and any(_looks_wrapped(t) for t in trajectories)
        if periodic:
            notes.append("The trajectories are wrapped into their box: treated as periodic "
                         "(unwrapped across frames; minimum image in the bead graph).")
        elif boxed:
            notes.append("The files store a box but the molecules are not wrapped into it: "
                         "treated as non-periodic. Ask for periodic to use the box.")
    return bool(periodic)


def from_trajectories(trajectories: Sequence, properties=None, label: str = "trajectories",
                      selection: str | None = None, keep_solvent: bool = False,
                      periodic: bool | None = None, stride: int = 1,
                      independent_molecules: bool = False, source: dict | None = None,
                      split: Split | dict | None = None, notes: Sequence[str] = (),
                      fingerprints: Sequence[str] = (),
                      saved_frame_ps: float | None = None) -> MolecularSystem:
    """A system from md.Trajectory objects already loaded (same topology).

    ``stride`` is applied here; ``selection``/``keep_solvent`` choose the atoms as in
    :func:`load`. ``saved_frame_ps`` defaults to the trajectories' own time step."""
    from cgviz import io

    trajectories = list(trajectories)
    if not trajectories:
        raise CgvizError("A system needs at least one trajectory.")
    if not isinstance(stride, (int, np.integer)) or isinstance(stride, bool) or stride < 1:
        raise CgvizError(f"stride must be a positive whole number, got {stride!r}.",
                         hint="Use 1 for every saved frame, 2 for every other one, ...")
    first_top = trajectories[0].topology
    for traj in trajectories[1:]:
        if traj.n_atoms != first_top.n_atoms or [a.name for a in traj.topology.atoms] != [
                a.name for a in first_top.atoms]:
            raise CgvizError(
                "The trajectories describe different systems "
                f"({first_top.n_atoms} and {traj.n_atoms} atoms, or other atom names).",
                hint="Give trajectories of one system (one topology) per run.")
    notes = list(notes)
    if properties is None:
        properties = io.atom_properties(first_top)
    keep, selection_notes = _select(first_top, selection, keep_solvent)
    notes.extend(selection_notes)
    if keep is not None:
        trajectories = [t.atom_slice(keep) for t in trajectories]
        properties = properties.subset(keep)
    if saved_frame_ps is None:
        saved_frame_ps = float(trajectories[0].timestep) if trajectories[0].n_frames > 1 else 1.0
    if stride > 1:
        trajectories = [t[::stride] for t in trajectories]
    trajectories = _infer_missing_bonds(trajectories, notes)
    is_periodic = _periodic_choice(trajectories, periodic, notes)
    if is_periodic:
        trajectories = [unwrap(t) for t in trajectories]
    return MolecularSystem(
        label=label, trajectories=tuple(trajectories), properties=properties, source=source,
        stride=int(stride), saved_frame_ps=float(saved_frame_ps), periodic=is_periodic,
        independent_molecules=independent_molecules, notes=tuple(notes),
        split=Split.from_dict(split), fingerprints=tuple(fingerprints))


def load(trajectories: str | os.PathLike | Sequence[str | os.PathLike],
         topology: str | os.PathLike | None = None, selection: str | None = None,
         stride: int = 1, keep_solvent: bool = False, periodic: bool | None = None,
         split: Split | dict | None = None, label: str | None = None,
         frame_time_ps: float | None = None, independent_molecules: bool = False,
         names: Sequence[str] | None = None) -> MolecularSystem:
    """Load a user's system from files.

    Parameters
    ----------
    trajectories: one or more coordinate files of one system (each an independent run).
    topology: needed for coordinate-only formats (.xtc, .dcd, .trr, ...).
    selection: an mdtraj selection of the atoms to keep; default: everything but water
        (``'all'`` keeps the water too).
    stride: keep every n-th saved frame; one model step is then n saved frame intervals.
    periodic: True to use the box (coordinates unwrapped, minimum image in the graph), False
        to ignore it; None decides from the files (a box and wrapped coordinates).
    split: train / validation / test (:class:`Split`; default by trajectory for >= 3 files,
        else by time blocks).
    names: what to call the files in labels and messages (an upload's own names instead of
        its temporary paths).
    """
    from cgviz import io

    paths = [trajectories] if isinstance(trajectories, (str, os.PathLike)) else list(
        trajectories)
    if not paths:
        raise CgvizError("Give at least one trajectory file.")
    loaded, props = io.load_system([str(p) for p in paths],
                                   topology=None if topology is None else str(topology),
                                   concatenate=False,
                                   frame_time_ps=frame_time_ps)
    shown = list(names) if names is not None else [Path(p).name for p in paths]
    source = {"topology": None if topology is None else str(topology),
              "trajectories": [str(p) for p in paths], "selection": selection,
              "stride": int(stride) if isinstance(stride, (int, np.integer)) else stride,
              "keep_solvent": bool(keep_solvent), "periodic": periodic,
              "frame_time_ps": frame_time_ps,
              "independent_molecules": bool(independent_molecules)}
    return from_trajectories(
        loaded, props, label=label or f"files: {', '.join(shown)}", selection=selection,
        keep_solvent=keep_solvent, periodic=periodic, stride=stride,
        independent_molecules=independent_molecules, source=source, split=split,
        fingerprints=[file_fingerprint(p) for p in paths])


def from_demo(name: str, data_dir: str | os.PathLike | None = None, stride: int = 1,
              split: Split | dict | None = None, selection: str | None = None
              ) -> MolecularSystem:
    """A bundled (or generated) demo as a system (see :func:`from_loaded_demo`)."""
    from cgviz import datasets

    return from_loaded_demo(datasets.load_demo(name, data_dir), data_dir, stride=stride,
                            split=split, selection=selection)


def from_loaded_demo(demo, data_dir: str | os.PathLike | None = None, stride: int = 1,
                     split: Split | dict | None = None, selection: str | None = None
                     ) -> MolecularSystem:
    """A ``cgviz.datasets.Demo`` already loaded, as a system. The copolymer demos' chains
    were simulated without interactions between chains, so each chain is its own system;
    periodic demos keep their box."""
    from cgviz import datasets, io

    info = demo.info
    name = info.name
    periodic = bool(info.extra.get("periodic", False))
    independent = info.n_molecules > 1 and not periodic
    paths = datasets.demo_paths(name, data_dir)
    source = {"demo": name, "data_dir": None if data_dir is None else str(data_dir),
              "selection": selection, "stride": int(stride)}
    return from_trajectories(
        demo.trajectories, io.AtomProperties(demo.atom_types, demo.masses),
        label=f"demo: {name}", selection=selection, periodic=periodic, stride=stride,
        independent_molecules=independent, source=source, split=split,
        saved_frame_ps=float(info.frame_time_ps),
        fingerprints=[file_fingerprint(p) for p in paths["trajectories"]])


def from_dict(data: dict[str, Any]) -> MolecularSystem:
    """Rebuild a system written by :meth:`MolecularSystem.to_dict`."""
    from cgviz import mapping as cg_mapping

    if not isinstance(data, dict) or not isinstance(data.get("source"), dict):
        raise CgvizError("A system description needs a 'source' mapping (a demo or files).",
                         hint="Write it with MolecularSystem.to_dict().")
    source = dict(data["source"])
    known = {"demo", "data_dir", "topology", "trajectories", "selection", "stride",
             "keep_solvent", "periodic", "frame_time_ps", "independent_molecules"}
    unknown = set(source) - known
    if unknown:
        raise CgvizError(f"Unknown system source settings {sorted(unknown)}.",
                         hint=f"Known: {sorted(known)}.")
    split = data.get("split")
    if source.get("demo"):
        system = from_demo(source["demo"], source.get("data_dir"),
                           stride=int(source.get("stride") or 1), split=split,
                           selection=source.get("selection"))
    else:
        if not source.get("trajectories"):
            raise CgvizError("A system source needs a demo or trajectory files.")
        system = load(source["trajectories"], source.get("topology"),
                      selection=source.get("selection"), stride=int(source.get("stride") or 1),
                      keep_solvent=bool(source.get("keep_solvent", False)),
                      periodic=source.get("periodic"), split=split,
                      label=data.get("label"), frame_time_ps=source.get("frame_time_ps"),
                      independent_molecules=bool(source.get("independent_molecules", False)))
    if data.get("label"):
        system = replace(system, label=str(data["label"]))
    if data.get("mapping"):
        system = system.with_mapping(cg_mapping.CGMapping.from_dict(data["mapping"]))
    return system
