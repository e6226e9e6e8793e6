"""Atom types and masses: :class:`AtomProperties`, sidecar files, :func:`load_system`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

import mdtraj as md
import numpy as np

from cgviz.errors import CgvizError
from cgviz.io._files import (
    SIDECAR_FORMAT, SIDECAR_VERSION, _check_readable_file, _frames_text, _strip_extension,
)
from cgviz.io._topology import _same_atoms, _short
from cgviz.io.trajectories import _load
from cgviz.io.features import _as_topology

PathLike = Union[str, os.PathLike]
TopologyLike = Union[PathLike, md.Topology, md.Trajectory]


# ---------------------------------------------------------------------------------------
# Atom properties (types and masses)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class AtomProperties:
    """Per-atom type names and masses of one system (all atoms, topology order).

    Attributes
    ----------
    type_names:
        One type name per atom, e.g. element symbols (``"C"``, ``"N"``) for all-atom
        systems or bead types (``"B1"``, ``"S2"``) for coarse-grained ones.
    masses:
        float64 array of shape (n_atoms,), amu, every value finite and > 0 (read-only).
    """

    type_names: tuple[str, ...]
    masses: np.ndarray

    def __post_init__(self) -> None:
        names = tuple(self.type_names)
        if not all(isinstance(name, str) and name for name in names):
            raise CgvizError(
                "Every atom type name must be a non-empty string.",
                hint="Check the type_names of the atom properties (e.g. 'B1', 'C').",
            )
        masses = np.array(self.masses, dtype=np.float64)
        if masses.ndim != 1 or masses.shape[0] != len(names):
            raise CgvizError(
                f"Atom properties need one mass per type name: got {len(names)} type names "
                f"and masses of shape {masses.shape}.",
                hint="Give type_names and masses of the same length (one entry per atom).",
            )
        bad = np.flatnonzero(~np.isfinite(masses) | (masses <= 0))
        if bad.size:
            raise CgvizError(
                f"Atoms {_frames_text(bad.tolist(), what='atoms')} have no positive mass "
                f"(masses {masses[bad[:5]].tolist()}).",
                hint="Every atom or bead needs a mass > 0 in amu; give a JSON sidecar with "
                "per-atom types and masses, see cgviz.io.write_atom_properties.",
            )
        masses.setflags(write=False)
        object.__setattr__(self, "type_names", names)
        object.__setattr__(self, "masses", masses)

    @property
    def n_atoms(self) -> int:
        """Number of atoms described."""
        return len(self.type_names)

    def __len__(self) -> int:
        return self.n_atoms

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AtomProperties):
            return NotImplemented
        return self.type_names == other.type_names and np.array_equal(self.masses, other.masses)

    __hash__ = None  # type: ignore[assignment]

    def type_vocabulary(self) -> tuple[str, ...]:
        """The distinct type names, sorted."""
        return tuple(sorted(set(self.type_names)))

    def type_indices(self, vocabulary: Sequence[str] | None = None) -> np.ndarray:
        """int64 array (n_atoms,): each atom's position in ``vocabulary``.

        ``vocabulary`` defaults to :meth:`type_vocabulary`; pass a fixed one to keep the
        numbering identical across systems (a type missing from it is a CgvizError).
        """
        vocabulary = self.type_vocabulary() if vocabulary is None else tuple(vocabulary)
        lookup = {name: index for index, name in enumerate(vocabulary)}
        missing = sorted(set(self.type_names) - set(lookup))
        if missing:
            raise CgvizError(
                f"Atom types {missing} are not in the vocabulary {list(vocabulary)}.",
                hint="Use the vocabulary the model was trained with and systems whose types "
                "it contains.",
            )
        return np.array([lookup[name] for name in self.type_names], dtype=np.int64)

    def subset(self, indices: Sequence[int] | np.ndarray) -> AtomProperties:
        """Properties of the atoms at ``indices`` (e.g. after an atom selection)."""
        index_array = np.asarray(indices, dtype=np.int64)
        return AtomProperties(
            tuple(self.type_names[int(i)] for i in index_array), self.masses[index_array]
        )


def sidecar_path_for(topology_path: PathLike) -> Path:
    """The conventional sidecar path ``<topology without extension>.atoms.json``.

    ``polymer.pdb -> polymer.atoms.json``; double extensions such as ``.pdb.gz`` are
    removed whole.
    """
    path = Path(topology_path)
    stem = _strip_extension(path)
    return stem.with_name(stem.name + ".atoms.json")


def write_atom_properties(path: PathLike, props: AtomProperties) -> Path:
    """Write a JSON sidecar with per-atom type names and masses.

    Format (version 1)::

        {"format": "cgviz-atom-properties", "version": 1,
         "type_names": ["B1", "S1", ...], "masses_amu": [100.0, 100.0, ...]}

    one entry per atom in topology order. Returns the path written.
    """
    if not isinstance(props, AtomProperties):
        raise CgvizError(
            f"write_atom_properties needs an AtomProperties, got {type(props).__name__}.",
            hint="Build one with AtomProperties(type_names=(...), masses=np.array([...])).",
        )
    target = Path(path)
    document = {
        "format": SIDECAR_FORMAT,
        "version": SIDECAR_VERSION,
        "type_names": list(props.type_names),
        "masses_amu": [float(mass) for mass in props.masses],
    }
    try:
        target.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    except OSError as error:
        raise CgvizError(
            f"Could not write the atom-properties sidecar '{target}' ({_short(error)}).",
            hint="Check that the folder exists and is writable.",
        ) from error
    return target


def read_atom_properties(path: PathLike) -> AtomProperties:
    """Read a JSON sidecar written by :func:`write_atom_properties` (validated)."""
    source = Path(path)
    _check_readable_file(source, "Atom-properties sidecar")
    hint = (
        "Write it with cgviz.io.write_atom_properties, or by hand as "
        '{"format": "cgviz-atom-properties", "version": 1, "type_names": [...], '
        '"masses_amu": [...]} with one entry per atom.'
    )
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise CgvizError(
            f"Atom-properties sidecar '{source}' is not valid JSON ({_short(error)}).", hint=hint
        ) from error
    if not isinstance(document, dict) or document.get("format") != SIDECAR_FORMAT:
        raise CgvizError(
            f"'{source}' is not a cgviz atom-properties sidecar (missing "
            f'"format": "{SIDECAR_FORMAT}").',
            hint=hint,
        )
    version = document.get("version")
    if version != SIDECAR_VERSION:
        raise CgvizError(
            f"Atom-properties sidecar '{source}' has version {version!r}; this cgviz reads "
            f"version {SIDECAR_VERSION}.",
            hint="Update cgviz or rewrite the sidecar with this version's "
            "write_atom_properties.",
        )
    names = document.get("type_names")
    masses = document.get("masses_amu")
    if not isinstance(names, list) or not isinstance(masses, list):
        raise CgvizError(
            f"Atom-properties sidecar '{source}' needs the lists \"type_names\" and "
            '"masses_amu".',
            hint=hint,
        )
    if len(names) != len(masses):
        raise CgvizError(
            f"Atom-properties sidecar '{source}' has {len(names)} type names but "
            f"{len(masses)} masses.",
            hint="Give one type name and one mass per atom.",
        )
    if not all(isinstance(mass, (int, float)) and not isinstance(mass, bool) for mass in masses):
        raise CgvizError(
            f"Atom-properties sidecar '{source}' has masses that are not numbers.",
            hint="masses_amu must be a list of numbers in amu.",
        )
    try:
        return AtomProperties(tuple(names), np.asarray(masses, dtype=np.float64))
    except CgvizError as error:
        raise CgvizError(
            f"Atom-properties sidecar '{source}': {error.problem}", hint=error.hint
        ) from error


def _atom_properties(
    topology: md.Topology,
    sidecar: AtomProperties | PathLike | None,
    topology_label: str,
) -> AtomProperties:
    if sidecar is not None:
        if isinstance(sidecar, AtomProperties):
            props, source = sidecar, "the given atom properties"
        elif isinstance(sidecar, (str, os.PathLike)):
            props, source = read_atom_properties(sidecar), f"sidecar '{sidecar}'"
        else:
            raise CgvizError(
                f"sidecar must be an AtomProperties or a path to a JSON sidecar, got "
                f"{type(sidecar).__name__}.",
                hint="See cgviz.io.write_atom_properties.",
            )
        if props.n_atoms != topology.n_atoms:
            raise CgvizError(
                f"The atom properties ({source}) describe {props.n_atoms} atoms but "
                f"{topology_label} has {topology.n_atoms}.",
                hint="Use the sidecar written for this topology (one entry per atom, in "
                "topology order), or write a new one with cgviz.io.write_atom_properties.",
            )
        return props
    names: list[str] = []
    masses = np.zeros(topology.n_atoms, dtype=np.float64)
    for atom in topology.atoms:
        element = atom.element
        symbol = getattr(element, "symbol", None) or atom.name
        mass = getattr(element, "mass", None)
        names.append(str(symbol))
        masses[atom.index] = float(mass) if mass is not None else 0.0
    massless = np.flatnonzero(~np.isfinite(masses) | (masses <= 0))
    if massless.size:
        shown = ", ".join(
            f"{topology.atom(int(i))} ({getattr(topology.atom(int(i)).element, 'name', None)})"
            for i in massless[:5]
        )
        more = f" and {massless.size - 5} more" if massless.size > 5 else ""
        raise CgvizError(
            f"{massless.size} atoms of {topology_label} have no mass from their element: "
            f"{shown}{more}. Coarse-grained beads (element virtual_site) carry no type or mass.",
            hint="Give a JSON sidecar with per-atom types and masses, see "
            "cgviz.io.write_atom_properties (saved as "
            "cgviz.io.sidecar_path_for(topology_file) it is found automatically).",
        )
    return AtomProperties(tuple(names), masses)


def atom_properties(
    topology: md.Topology | md.Trajectory,
    sidecar: AtomProperties | PathLike | None = None,
) -> AtomProperties:
    """Per-atom type names and masses (amu) of a topology.

    From ``sidecar`` when given (an :class:`AtomProperties` or the path of a JSON sidecar,
    see :func:`write_atom_properties`); otherwise from the elements (type name = element
    symbol, mass = element mass).

    Raises
    ------
    CgvizError
        If the sidecar describes a different number of atoms, or an atom ends up with
        mass <= 0 (coarse-grained beads with element ``virtual_site``): give a sidecar.
    """
    return _atom_properties(_as_topology(topology), sidecar, "the topology")


def load_system(
    paths: PathLike | Sequence[PathLike],
    topology: TopologyLike | None = None,
    sidecar: AtomProperties | PathLike | None = None,
    **kwargs: Any,
) -> tuple[md.Trajectory | list[md.Trajectory], AtomProperties]:
    """Load trajectories and the atom types and masses that go with them.

    Like :func:`load_trajectory` (``kwargs`` are its options: ``stride``,
    ``atom_selection``, ``concatenate``, ``min_frames``, ``check_time_steps``,
    ``frame_time_ps``), and also returns an :class:`AtomProperties` for the returned atoms.
    They come from ``sidecar`` if given; else from the first existing sidecar file among
    ``sidecar_path_for(topology)`` (when ``topology`` is a path) and
    ``sidecar_path_for(paths[0])`` (so ``chain.pdb``/``chain.xtc`` both find
    ``chain.atoms.json``); else from the elements. With an ``atom_selection`` the
    properties are those of the selected atoms.

    All trajectories must describe the same system (one AtomProperties for all).
    """
    options: dict[str, Any] = {
        "stride": 1,
        "atom_selection": None,
        "concatenate": True,
        "min_frames": 1,
        "check_time_steps": True,
        "frame_time_ps": None,
    }
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise TypeError(f"load_system() got unexpected keyword arguments {unknown}")
    options.update(kwargs)
    result = _load(paths, topology, **options)
    if not result.loaded:
        raise CgvizError(
            "load_system needs coordinate files; feature arrays have no atoms.",
            hint="Use load_features for .npy/.npz files.",
        )
    first = result.loaded[0]
    if result.topology is not None:
        full_topology = result.topology.topology
        label = result.topology.label
        topology_file = result.topology.path
    else:
        full_topology = first.full_topology
        label = f"the topology of '{first.path}'"
        topology_file = first.path
        for item in result.loaded[1:]:
            if not _same_atoms(item.full_topology, full_topology):
                raise CgvizError(
                    f"'{first.path}' and '{item.path}' describe different systems, but "
                    "load_system returns one set of atom properties.",
                    hint="Call load_system once per system.",
                )
    if sidecar is None:
        candidates = [sidecar_path_for(p) for p in (topology_file, first.path) if p is not None]
        sidecar = next((c for c in candidates if c.is_file()), None)
    props = _atom_properties(full_topology, sidecar, label)
    if result.selected is not None:
        props = props.subset(result.selected)
    return result.result, props  # type: ignore[return-value]


