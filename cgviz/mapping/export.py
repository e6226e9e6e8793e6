"""A mapping for other programs: a GROMACS index file and a JSON of the beads.

:func:`ndx_text` writes a :class:`cgviz.mapping.CGMapping` as a GROMACS ``.ndx`` file (one
group per bead, after a leading ``[ System ]`` group), :func:`bead_types_json` describes
each bead (name, type, mass, residue, atoms) and the CG bonds as plain JSON, and
:func:`read_ndx` reads any ``.ndx`` file back (strictly: malformed content is a
:class:`~cgviz.errors.CgvizError`). :func:`write_mapping_files` and
:func:`mapping_files_zip` write both files to a folder or into a zip.

Atom numbers
------------
cgviz numbers the atoms of the system a mapping was built for from 0; an ``.ndx`` file
numbers them from 1. When that system is only part of a file (a selection, or the water
that cgviz drops by default), give ``atom_indices`` (where the mapped atoms are in the
file, 0-based) and the file's ``topology``, so that the index file numbers atoms as the
file (and the ``.tpr`` made from it) does. The bead JSON keeps both numberings.

Nothing here imports more than numpy and the standard library (``cgviz.mapping`` is only
needed for the mapping itself).
"""

from __future__ import annotations

import io as _io
import json
import os
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any, Union

import numpy as np

from cgviz.errors import CgvizError

__all__ = [
    "BEADS_FORMAT",
    "BEADS_VERSION",
    "NDX_NUMBERS_PER_LINE",
    "bead_group_names",
    "ndx_text",
    "bead_types_document",
    "bead_types_json",
    "read_ndx",
    "write_mapping_files",
    "mapping_files_zip",
]

BEADS_FORMAT = "cgviz-bead-types"
BEADS_VERSION = 1
#: Atom numbers per line of an index file, as ``gmx make_ndx`` writes them.
NDX_NUMBERS_PER_LINE = 15
#: The largest atom number GROMACS can hold (a 32-bit int).
_MAX_NDX_NUMBER = 2**31 - 1
_NUMBER = re.compile(r"[0-9]+", re.ASCII)
_HEADER = re.compile(r"\[([^\[\]]*)\]")

PathLike = Union[str, os.PathLike]


# ---------------------------------------------------------------------------------------
# Names and atom numbers
# ---------------------------------------------------------------------------------------


def _clean(name: str) -> str:
    """Letters and digits of an atom type name (``"X"`` if none are left)."""
    return re.sub(r"[^A-Za-z0-9]", "", name, flags=re.ASCII) or "X"


def bead_group_names(mapping) -> list[str]:
    """One index-group name per bead: ``B0001_C2_H3_O`` (bead number, then composition).

    The number is the bead index + 1, zero-padded to at least 4 digits (so names sort in
    bead order and are unique). The composition is that of ``mapping.bead_types``: each
    atom type (letters and digits only) with its count when above 1, sorted and joined by
    ``_``; a count follows an ``x`` when the type ends in a digit (``B1x2_S2``). Names
    hold only ``[A-Za-z0-9_]``: no spaces, nothing a GROMACS tool reads as an operator.

    Parameters
    ----------
    mapping : cgviz.mapping.CGMapping

    Returns
    -------
    list of ``mapping.n_beads`` str
    """
    width = max(4, len(str(mapping.n_beads)))
    members: list[list[str]] = [[] for _ in range(mapping.n_beads)]
    for bead, name in zip(mapping.assignment.tolist(), mapping.atom_types):
        members[bead].append(name)
    names = []
    for bead, types in enumerate(members):
        parts = []
        for name, count in sorted(Counter(types).items()):
            text = _clean(name)
            if count > 1:
                text += ("x" if text[-1].isdigit() else "") + str(count)
            parts.append(text)
        names.append(f"B{bead + 1:0{width}d}_" + "_".join(parts))
    return names


def _n_atoms_of(topology: Any) -> int:
    n_atoms = getattr(topology, "n_atoms", None)
    if isinstance(n_atoms, (int, np.integer)) and not isinstance(n_atoms, bool):
        return int(n_atoms)
    raise CgvizError(f"topology must be an md.Topology or md.Trajectory, got "
                     f"{type(topology).__name__}.",
                     hint="Pass the topology of the whole file, e.g. md.load_topology(path).")


def _file_numbering(mapping, topology: Any, atom_indices: Any
                    ) -> tuple[np.ndarray, int | None]:
    """(0-based file index of each mapped atom, atoms in the file or None if unknown)."""
    n_file = None if topology is None else _n_atoms_of(topology)
    if atom_indices is None:
        if n_file is not None and n_file != mapping.n_atoms:
            raise CgvizError(
                f"The mapping is for {mapping.n_atoms} atoms, the topology has {n_file}.",
                hint="When the mapping covers only some of the file's atoms (a selection, "
                "water dropped), give atom_indices: where its atoms are in the file.")
        return np.arange(mapping.n_atoms, dtype=np.int64), mapping.n_atoms
    raw = np.asarray(atom_indices)
    if raw.shape != (mapping.n_atoms,) or raw.dtype.kind not in "iu":
        raise CgvizError(
            f"atom_indices must hold one whole number per mapped atom ({mapping.n_atoms}), "
            f"got shape {raw.shape} and dtype {raw.dtype}.",
            hint="Give the 0-based index in the file of each atom of the mapping.")
    indices = raw.astype(np.int64)
    if indices.min() < 0 or (n_file is not None and indices.max() >= n_file):
        raise CgvizError(
            f"atom_indices run from {indices.min()} to {indices.max()}, outside the "
            f"{n_file if n_file is not None else 'file'}'s atoms"
            + (f" (0 to {n_file - 1})." if n_file is not None else "."),
            hint="Give 0-based indices of the file's atoms.")
    if len(np.unique(indices)) != len(indices):
        raise CgvizError("atom_indices name some atom of the file twice.",
                         hint="Give each mapped atom's own index in the file.")
    return indices, n_file


def _group_lines(name: str, numbers: np.ndarray) -> list[str]:
    lines = [f"[ {name} ]"]
    values = numbers.tolist()
    for start in range(0, len(values), NDX_NUMBERS_PER_LINE):
        lines.append(" ".join(f"{value:4d}" for value in
                              values[start : start + NDX_NUMBERS_PER_LINE]))
    return lines


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def ndx_text(mapping, topology: Any = None, *, atom_indices: Any = None,
             system_group: bool = True) -> str:
    """The mapping as a GROMACS index (``.ndx``) file: one group per bead.

    Groups are in bead order and named by :func:`bead_group_names` (``B0001_C2_H3_O``);
    each lists its bead's atoms, numbered from 1, at most 15 numbers per line (as ``gmx
    make_ndx`` writes them).

    By default the file starts with ``[ System ]``, all atoms of the file, as every index
    file of ``gmx make_ndx`` does: a tool given ``-n index.ndx`` offers only the groups in
    that file, and many need a whole-system group (output, fitting, ``gmx trjconv``). Bead
    ``k`` (1-based, as in its name) is then group number ``k``, so the bead centres of mass
    of a run are e.g. ``seq 1 N | gmx traj -f traj.xtc -s topol.tpr -n index.ndx -com -ng N
    -ox beads.xvg`` (GROMACS weighs by the ``.tpr``'s masses, cgviz by its own, usually
    the elements').

    Parameters
    ----------
    mapping : cgviz.mapping.CGMapping
    topology : md.Topology or md.Trajectory, optional
        The whole file GROMACS will use (water and all). ``[ System ]`` then holds all of
        its atoms, and the atom numbers are checked against it. Without it the system is
        the mapped atoms.
    atom_indices : (n_atoms,) int array, optional
        The 0-based index in that file of each atom of the mapping, when the mapping was
        built for part of it (cgviz drops water by default; see the module docstring).
        Default: the mapping's own numbering (the mapped atoms are the whole file).
    system_group : bool
        Write the leading ``[ System ]`` group. With ``atom_indices`` it needs
        ``topology`` (else the size of the file is not known).

    Returns
    -------
    str, the file's text (ends with a newline)

    Raises
    ------
    CgvizError
        When ``topology`` or ``atom_indices`` do not fit the mapping.
    """
    numbers, n_file = _file_numbering(mapping, topology, atom_indices)
    lines: list[str] = []
    if system_group:
        if n_file is None:
            raise CgvizError(
                "The [ System ] group needs the size of the whole file, but only "
                "atom_indices were given.",
                hint="Pass topology= (the whole file's), or system_group=False.")
        lines += _group_lines("System", np.arange(1, n_file + 1))
    for name, atoms in zip(bead_group_names(mapping), mapping.bead_atoms):
        lines += _group_lines(name, np.sort(numbers[atoms]) + 1)
    return "\n".join(lines) + "\n"


def bead_types_document(mapping, topology: Any = None, *, atom_indices: Any = None
                        ) -> dict[str, Any]:
    """The content of :func:`bead_types_json` as a dict (plain JSON types)."""
    numbers, n_file = _file_numbering(mapping, topology, atom_indices)
    names = bead_group_names(mapping)
    beads = [
        {"index": bead, "name": names[bead], "type": mapping.bead_types[bead],
         "mass_amu": float(mapping.bead_masses[bead]),
         "residue_name": mapping.bead_residue_names[bead],
         "molecule": int(mapping.bead_molecules[bead]),
         "atoms": atoms.tolist(), "file_atoms": numbers[atoms].tolist()}
        for bead, atoms in enumerate(mapping.bead_atoms)
    ]
    return {
        "format": BEADS_FORMAT,
        "version": BEADS_VERSION,
        "atom_numbering": "atoms: 0-based indices of the atoms the mapping was built for "
                          "(as in the cgviz mapping file); file_atoms: 0-based indices in "
                          "the topology file (the .ndx numbers minus 1)",
        "method": mapping.method,
        "parameters": dict(mapping.parameters),
        "n_atoms": mapping.n_atoms,
        "n_file_atoms": n_file,
        "n_beads": mapping.n_beads,
        "types": sorted(set(mapping.bead_types)),
        "beads": beads,
        "bonds": mapping.bead_bonds.tolist(),
    }


def bead_types_json(mapping, topology: Any = None, *, atom_indices: Any = None) -> str:
    """A JSON document of the beads, for a user's own scripts.

    Plain JSON (``json.loads`` reads it; nothing in it is executable), one bead per line::

        {"format": "cgviz-bead-types", "version": 1, "atom_numbering": "...",
         "method": "metis", "parameters": {...}, "n_atoms": 22, "n_file_atoms": 22,
         "n_beads": 6, "types": ["C*2+H+O", "C+H*3", ...],
         "beads": [{"index": 0, "name": "B0001_C_H3", "type": "C+H*3",
                    "mass_amu": 15.03, "residue_name": "ACE", "molecule": 0,
                    "atoms": [0, 1, 2, 3], "file_atoms": [0, 1, 2, 3]}, ...],
         "bonds": [[0, 1], [1, 2], ...]}

    ``index`` is the 0-based bead index (the one ``bonds`` use), ``name`` the bead's group
    in :func:`ndx_text`, ``type`` its composition label (``mapping.bead_types``), masses in
    amu, ``molecule`` the bead's molecule (connected piece of the bond graph). ``atoms``
    are 0-based in the mapping's numbering, ``file_atoms`` 0-based in the file (the
    ``.ndx`` numbers minus 1; the same unless ``atom_indices`` is given), ``file_atoms[i]``
    being the file index of ``atoms[i]``. ``parameters``
    are the builder's options and diagnostics.

    Parameters
    ----------
    mapping : cgviz.mapping.CGMapping
    topology, atom_indices : as in :func:`ndx_text`.

    Returns
    -------
    str, the JSON text (ends with a newline)
    """
    document = bead_types_document(mapping, topology, atom_indices=atom_indices)
    items = []
    for key, value in document.items():
        if key == "beads" and value:
            inner = ",\n".join("  " + json.dumps(item, allow_nan=False) for item in value)
            items.append(f" {json.dumps(key)}: [\n{inner}\n ]")
        else:
            items.append(f" {json.dumps(key)}: {json.dumps(value, allow_nan=False)}")
    return "{\n" + ",\n".join(items) + "\n}\n"


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def _ndx_error(line_number: int, problem: str, hint: str) -> CgvizError:
    return CgvizError(f"Index file, line {line_number}: {problem}", hint=hint)


def read_ndx(text: str | bytes) -> dict[str, np.ndarray]:
    """Read a GROMACS index (``.ndx``) file: group name -> 0-based atom indices.

    The format: a group starts with a ``[ name ]`` line; the lines up to the next group
    hold its atom numbers (whole numbers from 1, separated by white space, any number per
    line); ``;`` starts a comment (as GROMACS reads it); blank lines are ignored; a group
    may be empty. Group order and the order of numbers within a group are kept.

    The reader is strict: anything else is an error that names the line (numbers before
    the first group, a number that is not a whole number from 1, an empty or repeated
    group name, a ``[`` without its ``]`` or text after it, a number above 2^31 - 1, a
    file without groups).

    Parameters
    ----------
    text : str, or bytes in UTF-8 (an uploaded file)

    Returns
    -------
    dict of str -> (n,) int64 array, in file order, atom numbers minus 1

    Raises
    ------
    CgvizError
        For malformed content (with a ``hint``).
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise CgvizError("The index file is not text (UTF-8).",
                             hint="Give a GROMACS .ndx file, e.g. from gmx make_ndx.") from None
    if not isinstance(text, str):
        raise CgvizError(f"read_ndx needs the file's text, got {type(text).__name__}.",
                         hint="Pass Path('index.ndx').read_text().")
    groups: dict[str, list[int]] = {}
    current: list[int] | None = None
    for line_number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            match = _HEADER.fullmatch(line)
            if match is None:
                raise _ndx_error(line_number, f"{line[:60]!r} is not a group header.",
                                 "A header is one name in brackets on its own line: "
                                 "[ Protein ].")
            name = match.group(1).strip()
            if not name:
                raise _ndx_error(line_number, "a group has an empty name.",
                                 "Name every group: [ Protein ].")
            if name in groups:
                raise _ndx_error(line_number, f"the group name {name!r} appears twice.",
                                 "Give each group its own name.")
            current = groups[name] = []
            continue
        if current is None:
            raise _ndx_error(line_number, "atom numbers come before any group header.",
                             "Start the file with a header such as [ System ].")
        for token in line.split():
            if _NUMBER.fullmatch(token) is None:
                raise _ndx_error(line_number, f"{token[:30]!r} is not an atom number.",
                                 "Atom numbers are whole numbers from 1.")
            if len(token) > 10 or int(token) > _MAX_NDX_NUMBER:
                raise _ndx_error(line_number, f"the atom number {token[:30]} is too large.",
                                 f"GROMACS numbers atoms up to {_MAX_NDX_NUMBER}.")
            value = int(token)
            if value == 0:
                raise _ndx_error(line_number, "atom number 0: index files number atoms "
                                 "from 1.", "Add 1 to 0-based indices.")
            current.append(value - 1)
    if not groups:
        raise CgvizError("The index file has no groups.",
                         hint="A GROMACS .ndx file has [ name ] headers, each followed by "
                         "atom numbers.")
    return {name: np.asarray(values, dtype=np.int64) for name, values in groups.items()}


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def _file_names(stem: str) -> tuple[str, str]:
    if not isinstance(stem, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", stem, re.ASCII) \
            or stem.startswith("."):
        raise CgvizError(f"The file stem {stem!r} is not a plain file name.",
                         hint="Use letters, digits, '_', '-' and '.', e.g. 'mapping'.")
    return f"{stem}.ndx", f"{stem}_beads.json"


def _texts(mapping, stem: str, topology: Any, atom_indices: Any,
           system_group: bool) -> dict[str, str]:
    ndx_name, json_name = _file_names(stem)
    return {
        ndx_name: ndx_text(mapping, topology, atom_indices=atom_indices,
                           system_group=system_group),
        json_name: bead_types_json(mapping, topology, atom_indices=atom_indices),
    }


def write_mapping_files(mapping, folder: PathLike, stem: str = "mapping", *,
                        topology: Any = None, atom_indices: Any = None,
                        system_group: bool = True) -> list[Path]:
    """Write ``<stem>.ndx`` (:func:`ndx_text`) and ``<stem>_beads.json``
    (:func:`bead_types_json`) into ``folder`` (made if missing; files there are replaced).

    Parameters
    ----------
    mapping : cgviz.mapping.CGMapping
    folder : path of the folder
    stem : the files' common name, a plain file name (default ``"mapping"``)
    topology, atom_indices, system_group : as in :func:`ndx_text`.

    Returns
    -------
    [path of the .ndx file, path of the JSON file]
    """
    texts = _texts(mapping, stem, topology, atom_indices, system_group)
    target = Path(folder)
    paths = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            path = target / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)
    except OSError as error:
        raise CgvizError(f"Could not write the mapping files into '{target}' "
                         f"({error.strerror or error}).",
                         hint="Check that the folder is writable.") from error
    return paths


def mapping_files_zip(mapping, stem: str = "mapping", *, topology: Any = None,
                      atom_indices: Any = None, system_group: bool = True) -> bytes:
    """The files of :func:`write_mapping_files` in a zip archive (in memory).

    Parameters as in :func:`write_mapping_files`; returns the archive's bytes.
    """
    texts = _texts(mapping, stem, topology, atom_indices, system_group)
    buffer = _io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in texts.items():
            archive.writestr(name, text)
    return buffer.getvalue()
