"""Load and validate trajectories and feature arrays, featurize, and describe atoms.

Everything a user hands to cgviz as a file enters through this module, and every problem
with such a file leaves it as a :class:`~cgviz.errors.CgvizError` whose message names the
file and says what to do. Nothing here imports torch or any other heavy library.

Units follow mdtraj throughout: positions in nm, time in ps, masses in amu.

Public API
----------
Loading
    :func:`load_trajectory` (coordinates -> ``md.Trajectory`` or a list of them),
    :func:`load_features` (``.npy`` / ``.npz`` -> float arrays),
    :func:`load_system` (coordinates + :class:`AtomProperties`),
    :data:`SUPPORTED_EXTENSIONS`, :data:`TOPOLOGY_EXTENSIONS`.
Featurizers (``float32`` arrays of shape ``(n_frames, n_features)``, each with a
``*_labels`` companion giving one name per column)
    :func:`backbone_dihedral_features`, :func:`pairwise_distance_features`,
    :func:`aligned_cartesian_features`.
Atom types and masses (needed for coarse-grained bead models)
    :class:`AtomProperties`, :func:`atom_properties`, :func:`read_atom_properties`,
    :func:`write_atom_properties`, :func:`sidecar_path_for`.
Summaries
    :class:`TrajectorySummary`, :func:`trajectory_summary`.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import mdtraj as md
import numpy as np

from cgviz.errors import CgvizError
from cgviz.io import safety

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "TRAJECTORY_EXTENSIONS",
    "FEATURE_EXTENSIONS",
    "TOPOLOGY_EXTENSIONS",
    "SELF_TOPOLOGY_EXTENSIONS",
    "SIDECAR_FORMAT",
    "SIDECAR_VERSION",
    "AtomProperties",
    "TrajectorySummary",
    "load_trajectory",
    "load_features",
    "load_system",
    "backbone_dihedral_features",
    "backbone_dihedral_labels",
    "pairwise_distance_features",
    "pairwise_distance_labels",
    "pairwise_distance_pairs",
    "aligned_cartesian_features",
    "aligned_cartesian_labels",
    "atom_properties",
    "read_atom_properties",
    "write_atom_properties",
    "sidecar_path_for",
    "trajectory_summary",
    "topology_bonds",
]

PathLike = Union[str, os.PathLike]
TopologyLike = Union[PathLike, md.Topology, md.Trajectory]

# ---------------------------------------------------------------------------------------
# Extensions
# ---------------------------------------------------------------------------------------


#: Formats that only list other paths for mdtraj to read (a DESRES ``.stk`` names ``.dtr``
#: folders anywhere on the server): never accepted from a user (``docs/security.md``).
_INDIRECTION_EXTENSIONS = (".stk",)


def _registry_extensions() -> tuple[str, ...]:
    try:
        from mdtraj.formats.registry import FormatRegistry

        found = tuple(sorted(set(FormatRegistry.loaders) - set(_INDIRECTION_EXTENSIONS)))
    except Exception:  # pragma: no cover - depends on mdtraj internals
        found = ()
    return found or (
        ".arc", ".cif", ".crd", ".dcd", ".dtr", ".gro", ".gsd", ".h5", ".hdf5", ".hoomdxml",
        ".lammpstrj", ".lh5", ".mdcrd", ".mol2", ".nc", ".ncdf", ".netcdf", ".pdb", ".pdb.gz",
        ".pdbx", ".trr", ".xtc", ".xyz", ".xyz.gz",
    )  # fmt: skip


def _topology_extensions() -> tuple[str, ...]:
    try:
        from mdtraj.core.trajectory import _TOPOLOGY_EXTS

        found = tuple(_TOPOLOGY_EXTS)
    except Exception:  # pragma: no cover - depends on mdtraj internals
        found = ()
    return found or (
        ".pdb", ".pdb.gz", ".h5", ".lh5", ".prmtop", ".parm7", ".prm7", ".psf", ".mol2",
        ".hoomdxml", ".gro", ".arc", ".hdf5", ".gsd", ".pdbx", ".cif",
    )  # fmt: skip


#: Coordinate formats that mdtraj can read (lower case, with the leading dot).
TRAJECTORY_EXTENSIONS: tuple[str, ...] = _registry_extensions()
#: Feature-array formats (numpy), read with ``allow_pickle=False``.
FEATURE_EXTENSIONS: tuple[str, ...] = (".npy", ".npz")
#: Everything :func:`load_trajectory` accepts.
SUPPORTED_EXTENSIONS: tuple[str, ...] = TRAJECTORY_EXTENSIONS + FEATURE_EXTENSIONS
#: Files that can serve as ``topology=`` (they name atoms, residues and usually bonds).
TOPOLOGY_EXTENSIONS: tuple[str, ...] = _topology_extensions()
#: Coordinate formats that carry their own topology (no ``topology=`` needed).
SELF_TOPOLOGY_EXTENSIONS: tuple[str, ...] = tuple(
    ext for ext in TRAJECTORY_EXTENSIONS if ext in TOPOLOGY_EXTENSIONS
)

SIDECAR_FORMAT = "cgviz-atom-properties"
SIDECAR_VERSION = 1

_COMPOUND_SUFFIXES = (".gz", ".bz2")
_NOISY_WARNINGS = (
    "top= kwargs ignored",
    ".*consider installing netCDF4.*",
    "Unlikely unit cell vectors detected",
)


#: HDF5-based formats: PyTables opens them, so each is inspected first (:mod:`.safety`).
HDF5_EXTENSIONS: tuple[str, ...] = (".h5", ".hdf5", ".lh5")


def _read_untrusted(path: Path, read: Any) -> Any:
    """Run ``read()`` (an mdtraj reader of ``path``) so that the file cannot run code.

    HDF5 content (by extension or by its signature) is inspected with h5py first; then the
    reader runs with unpickling of any global forbidden (:func:`safety.forbid_unpickling`).
    """
    if _extension(path) in HDF5_EXTENSIONS or safety.is_hdf5(path):
        safety.check_hdf5(path)
    try:
        with safety.forbid_unpickling():
            return read()
    except safety.UnsafeFileError as refused:
        raise CgvizError(
            f"File '{path}' was refused: reading it would unpickle the Python object "
            f"'{refused}', which can run code.",
            hint="cgviz never unpickles data files. Write the data again as plain arrays "
            "(e.g. .xtc/.dcd with a .pdb topology, or mdtraj's save_hdf5).",
        ) from None


def _extension(path: PathLike) -> str:
    """Lower-case extension with the leading dot; ``.pdb.gz`` style pairs stay together."""
    name = Path(path).name.lower()
    suffixes = Path(name).suffixes
    if len(suffixes) >= 2 and suffixes[-1] in _COMPOUND_SUFFIXES:
        return suffixes[-2] + suffixes[-1]
    return suffixes[-1] if suffixes else ""


def _strip_extension(path: Path) -> Path:
    ext = _extension(path)
    name = path.name
    if ext and name.lower().endswith(ext):
        name = name[: -len(ext)]
    return path.with_name(name)


def _format_list(items: Iterable[str]) -> str:
    return ", ".join(items)


def _frames_text(indices: Sequence[int], limit: int = 10, what: str = "frames") -> str:
    shown = ", ".join(str(int(i)) for i in indices[:limit])
    if len(indices) > limit:
        shown += f", ... ({len(indices)} {what} in all)"
    return shown


# ---------------------------------------------------------------------------------------
# File checks and integrity scans
# ---------------------------------------------------------------------------------------


def _as_path_list(paths: PathLike | Sequence[PathLike], what: str = "paths") -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    try:
        items = list(paths)
    except TypeError:
        raise CgvizError(
            f"{what} must be a file path or a list of file paths, got {type(paths).__name__}.",
            hint="Pass e.g. 'run1.xtc' or ['run1.xtc', 'run2.xtc'].",
        ) from None
    if not items:
        raise CgvizError(f"No files were given ({what} is empty).", hint="Give at least one path.")
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise CgvizError(
                f"{what} must contain file paths, got a {type(item).__name__}.",
                hint="Pass a list of strings or pathlib.Path objects.",
            )
    return [Path(item) for item in items]


def _check_readable_file(path: Path, role: str) -> None:
    """File exists, is a file and is not empty."""
    if not path.exists():
        parent = path.parent if str(path.parent) else Path(".")
        raise CgvizError(
            f"{role} '{path}' does not exist.",
            hint=f"Check the spelling and the folder (looked in '{parent.resolve()}').",
        )
    if not path.is_file():
        raise CgvizError(
            f"{role} '{path}' is a folder, not a file.", hint="Give the file inside it."
        )
    if path.stat().st_size == 0:
        raise CgvizError(
            f"{role} '{path}' is empty (0 bytes).",
            hint="The writer probably stopped before it flushed anything (a crashed or "
            "still-running simulation, a failed copy or upload); write or copy it again.",
        )


def _check_supported(path: Path) -> str:
    ext = _extension(path)
    if ext not in SUPPORTED_EXTENSIONS:
        shown = ext or "(no extension)"
        raise CgvizError(
            f"File '{path}' has the unsupported extension '{shown}'.",
            hint=f"Supported extensions: {_format_list(SUPPORTED_EXTENSIONS)}. Convert the file "
            "(e.g. with mdtraj or gmx trjconv) or rename it if the extension is wrong.",
        )
    return ext


_XDR_INT = struct.Struct(">i")
_XDR_TWO_INTS = struct.Struct(">ii")
_XDR_THREE_INTS = struct.Struct(">iii")
_XDR_13_INTS = struct.Struct(">13i")


class _Damaged(Exception):
    """Raised by the integrity scans; turned into a CgvizError by the caller."""

    def __init__(self, problem: str, truncated: bool = True) -> None:
        super().__init__(problem)
        self.problem = problem
        self.truncated = truncated


def _scan_xtc(path: Path) -> int | None:
    """Walk the XTC frame headers; return the number of complete frames.

    XTC frames have variable length (compressed coordinates), so a file cut in the middle
    of a frame may be read by mdtraj as a shorter, apparently valid trajectory. Raises
    :class:`_Damaged` when the last frame is incomplete or a header is invalid. Returns None
    when the file is not in the classic single-precision layout (left to mdtraj).
    """
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        size = len(data)
        n_frames = 0
        offset = 0
        while offset < size:
            if offset + 56 > size:
                raise _Damaged(
                    f"frame {n_frames} is cut off inside its header; the {n_frames} frames "
                    "before it are intact"
                )
            magic, n_atoms = _XDR_TWO_INTS.unpack_from(data, offset)
            if magic != 1995:
                if n_frames == 0:
                    if magic == 2023:  # GROMACS 2023 large-system layout; let mdtraj judge
                        return None
                    raise _Damaged("it does not start with an XTC frame header", truncated=False)
                raise _Damaged(
                    f"the header of frame {n_frames} (byte {offset}) is garbled", truncated=False
                )
            (n_atoms_again,) = _XDR_INT.unpack_from(data, offset + 52)
            if n_atoms <= 0 or n_atoms_again != n_atoms:
                raise _Damaged(
                    f"the header of frame {n_frames} (byte {offset}) is garbled", truncated=False
                )
            if n_atoms <= 9:
                frame_size = 56 + 12 * n_atoms
            else:
                if offset + 92 > size:
                    raise _Damaged(
                        f"frame {n_frames} is cut off inside its header; the {n_frames} "
                        "frames before it are intact"
                    )
                (n_bytes,) = _XDR_INT.unpack_from(data, offset + 88)
                if n_bytes < 0:
                    raise _Damaged(
                        f"the header of frame {n_frames} (byte {offset}) is garbled",
                        truncated=False,
                    )
                frame_size = 92 + 4 * ((n_bytes + 3) // 4)
            if offset + frame_size > size:
                raise _Damaged(
                    f"frame {n_frames} is incomplete (needs {frame_size} bytes, "
                    f"{size - offset} remain); the {n_frames} frames before it are intact"
                )
            offset += frame_size
            n_frames += 1
    return n_frames


def _scan_trr(path: Path) -> int | None:
    """Walk the TRR frame headers; return the number of complete frames (see _scan_xtc)."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        size = len(data)
        n_frames = 0
        offset = 0
        while offset < size:
            if offset + 12 > size:
                raise _Damaged(f"frame {n_frames} is cut off inside its header")
            magic, _slen, string_length = _XDR_THREE_INTS.unpack_from(data, offset)
            if magic != 1993 or not 0 < string_length < 256:
                if n_frames == 0:
                    raise _Damaged("it does not start with a TRR frame header", truncated=False)
                raise _Damaged(
                    f"the header of frame {n_frames} (byte {offset}) is garbled", truncated=False
                )
            sizes_at = offset + 12 + 4 * ((string_length + 3) // 4)
            if sizes_at + 52 > size:
                raise _Damaged(f"frame {n_frames} is cut off inside its header")
            sizes = _XDR_13_INTS.unpack_from(data, sizes_at)
            box, vir, pres, x_size, v_size, f_size, n_atoms = (
                sizes[2], sizes[3], sizes[4], sizes[7], sizes[8], sizes[9], sizes[10],
            )  # fmt: skip
            if n_atoms <= 0 or min(sizes[:10]) < 0:
                raise _Damaged(
                    f"the header of frame {n_frames} (byte {offset}) is garbled", truncated=False
                )
            if box:
                real = box // 9
            elif x_size or v_size or f_size:
                real = (x_size or v_size or f_size) // (3 * n_atoms)
            else:
                real = 4
            if real not in (4, 8):
                raise _Damaged(
                    f"the header of frame {n_frames} (byte {offset}) is garbled", truncated=False
                )
            frame_size = (sizes_at - offset) + 52 + 2 * real + box + vir + pres
            frame_size += x_size + v_size + f_size
            if offset + frame_size > size:
                raise _Damaged(
                    f"frame {n_frames} is incomplete (needs {frame_size} bytes, "
                    f"{size - offset} remain); the {n_frames} frames before it are intact"
                )
            offset += frame_size
            n_frames += 1
    return n_frames


def _scan_dcd(path: Path) -> int | None:
    """Check a CHARMM/NAMD/OpenMM DCD file; return the number of complete frames.

    DCD frames have a fixed size, so the file length must be the header plus a whole number
    of frames, and the frame count in the header (when set) must not exceed it. Returns None
    for layouts this check does not know (64-bit record markers, fixed atoms): mdtraj judges.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        data = handle.read(min(size, 4096))
    if len(data) < 4:
        raise _Damaged("it is too short to hold a DCD header")
    endian = None
    for candidate in ("<", ">"):
        if struct.unpack(candidate + "i", data[:4])[0] == 84:
            endian = candidate
    if endian is None:
        if data[:8] in (struct.pack("<q", 84), struct.pack(">q", 84)):
            return None
        raise _Damaged("it does not start with a DCD header", truncated=False)
    if len(data) < 92 or data[4:8] != b"CORD":
        raise _Damaged("it does not start with a DCD header", truncated=False)
    control = struct.unpack(endian + "20i", data[8:88])
    n_set, n_fixed, charmm_version = control[0], control[8], control[19]
    has_cell = charmm_version != 0 and control[10] != 0
    four_dims = charmm_version != 0 and control[11] != 0
    offset = 92
    try:
        (title_size,) = struct.unpack(endian + "i", data[offset : offset + 4])
        offset += 8 + title_size
        marker, n_atoms, marker_end = struct.unpack(endian + "iii", data[offset : offset + 12])
    except struct.error:
        raise _Damaged("its header is cut off") from None
    if marker != 4 or marker_end != 4 or n_atoms <= 0:
        raise _Damaged("its header is garbled", truncated=False)
    offset += 12
    if n_fixed != 0:
        return None
    frame_size = (56 if has_cell else 0) + (4 if four_dims else 3) * (8 + 4 * n_atoms)
    n_complete, leftover = divmod(size - offset, frame_size)
    if leftover:
        raise _Damaged(
            f"frame {n_complete} is incomplete ({leftover} of {frame_size} bytes); "
            f"the {n_complete} frames before it are intact"
        )
    if n_set > n_complete:
        raise _Damaged(
            f"its header announces {n_set} frames but only {n_complete} are in the file"
        )
    return n_complete


_SCANNERS = {".xtc": _scan_xtc, ".trr": _scan_trr, ".dcd": _scan_dcd}


def _damaged_error(path: Path, problem: str, truncated: bool = True) -> CgvizError:
    if truncated:
        return CgvizError(
            f"Trajectory '{path}' is truncated or corrupt: {problem}.",
            hint="This happens when a simulation is killed while writing or a copy/upload "
            "stops early. Use the complete file, or cut it to its intact frames (e.g. gmx "
            "trjconv -e, or mdtraj) and load that.",
        )
    ext = _extension(path)
    return CgvizError(
        f"Trajectory '{path}' is corrupt or not a {ext} file: {problem}.",
        hint=f"Check that it really is a {ext} file (not another format renamed) and that it "
        "was copied completely; re-export it (e.g. with mdtraj or gmx trjconv) if needed.",
    )


def _probe_atom_count(path: Path) -> int | None:
    """Number of atoms stored in a topology-less coordinate file, or None if unknown."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            def first_frame() -> Any:
                with md.open(str(path)) as handle:
                    return handle.read(n_frames=1)

            data = _read_untrusted(path, first_frame)
        xyz = data[0] if isinstance(data, tuple) else data
        xyz = np.asarray(xyz)
        return int(xyz.shape[1]) if xyz.ndim == 3 and xyz.shape[0] > 0 else None
    except CgvizError:
        raise
    except Exception:
        return None


# ---------------------------------------------------------------------------------------
# Topologies
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Topology:
    topology: md.Topology
    label: str
    path: Path | None


def _resolve_topology(topology: TopologyLike | None) -> _Topology | None:
    if topology is None:
        return None
    if isinstance(topology, md.Trajectory):
        return _Topology(topology.topology, "the given trajectory's topology", None)
    if isinstance(topology, md.Topology):
        return _Topology(topology, "the given topology", None)
    if not isinstance(topology, (str, os.PathLike)):
        raise CgvizError(
            f"topology must be a file path, an md.Topology or an md.Trajectory, got "
            f"{type(topology).__name__}.",
            hint="Pass e.g. topology='system.pdb'.",
        )
    path = Path(topology)
    _check_readable_file(path, "Topology")
    ext = _extension(path)
    if ext not in TOPOLOGY_EXTENSIONS:
        raise CgvizError(
            f"Topology '{path}' has the extension '{ext or '(none)'}', which does not describe "
            "atoms and residues.",
            hint=f"Give a topology file ({_format_list(TOPOLOGY_EXTENSIONS)}) of the system the "
            "trajectory was written with.",
        )
    try:
        with warnings.catch_warnings():
            for message in _NOISY_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            loaded = _read_untrusted(path, lambda: md.load_topology(str(path)))
    except (MemoryError, CgvizError):
        raise
    except Exception as error:
        raise CgvizError(
            f"Topology '{path}' could not be read as a {ext} file "
            f"({type(error).__name__}: {_short(error)}).",
            hint="The file is corrupt, truncated or not really a "
            f"{ext} file; export the topology again (e.g. a .pdb of the first frame).",
        ) from error
    if loaded is None or loaded.n_atoms == 0:
        raise CgvizError(
            f"Topology '{path}' contains no atoms.",
            hint="Check that it is the right file and that it is complete.",
        )
    return _Topology(loaded, f"topology '{path}'", path)


def _short(error: BaseException, limit: int = 200) -> str:
    text = " ".join(str(error).split())
    if not text:
        return "no details"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _same_atoms(first: md.Topology, second: md.Topology) -> bool:
    if first.n_atoms != second.n_atoms:
        return False
    return all(
        a.name == b.name and a.residue.name == b.residue.name
        for a, b in zip(first.atoms, second.atoms)
    )


def _select(topology: md.Topology, selection: str, where: str) -> np.ndarray:
    """Atom indices of an mdtraj selection; CgvizError for bad syntax or no match."""
    if not isinstance(selection, str) or not selection.strip():
        raise CgvizError(
            f"The atom selection for {where} must be a non-empty mdtraj selection string, "
            f"got {selection!r}.",
            hint="Examples: 'all', 'name CA', 'not element H', 'resid 0 to 10'.",
        )
    try:
        indices = topology.select(selection)
    except Exception as error:
        raise CgvizError(
            f"The atom selection {selection!r} for {where} is not valid mdtraj selection "
            f"syntax ({_short(error)}).",
            hint="Examples: 'all', 'name CA', 'not element H', 'resname ALA and name CB'; see "
            "https://mdtraj.org/1.9.4/atom_selection.html (available offline in mdtraj's docs).",
        ) from error
    if len(indices) == 0:
        names = sorted({atom.name for atom in topology.atoms})
        shown = ", ".join(names[:15]) + (", ..." if len(names) > 15 else "")
        raise CgvizError(
            f"The atom selection {selection!r} matches no atom of {where}.",
            hint=f"Its atom names are: {shown}. Choose a selection that matches some of them "
            "(for bead models try 'all').",
        )
    return np.asarray(indices, dtype=np.int64)


# ---------------------------------------------------------------------------------------
# Time axis
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TimeAxis:
    start: float
    step: float | None  # None: one frame, or no usable time information


def _time_tolerance(times: np.ndarray, step: float) -> float:
    """Tolerance on a time step: float32 rounding of the stored times plus a relative slack."""
    largest = float(np.max(np.abs(times))) if times.size else 0.0
    ulp = float(np.spacing(np.float32(largest)))
    return 2.0 * ulp + 1e-5 * abs(step)


def _analyse_time(times: np.ndarray, label: str, check: bool, stride: int) -> _TimeAxis:
    """Find the (uniform) frame time step of one file's time axis.

    Raises CgvizError when ``check`` and the steps are not uniform (up to float32 rounding).
    """
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return _TimeAxis(0.0, None)
    start = float(times[0])
    if times.size < 2:
        return _TimeAxis(start, None)
    if not np.all(np.isfinite(times)):
        if check:
            bad = np.flatnonzero(~np.isfinite(times))
            raise CgvizError(
                f"Trajectory '{label}' stores non-finite times at frames "
                f"{_frames_text((bad * stride).tolist())}.",
                hint="Fix the file's time axis, or pass check_time_steps=False to replace it "
                "by a uniform one.",
            )
        return _TimeAxis(0.0, None)
    steps = np.diff(times)
    step = float(np.median(steps))
    tolerance = _time_tolerance(times, step)
    if abs(step) <= tolerance and np.all(np.abs(steps) <= tolerance):
        return _TimeAxis(start, None)  # every frame has the same time: no time information
    off = np.flatnonzero(np.abs(steps - step) > tolerance)
    if step <= tolerance or off.size:
        if check:
            first = int(off[0]) if off.size else 0
            raise CgvizError(
                f"Trajectory '{label}' does not have a uniform time step: it is "
                f"{step:g} ps for most frames, but {steps[first]:g} ps between frames "
                f"{first * stride} and {(first + 1) * stride} (time {times[first]:g} -> "
                f"{times[first + 1]:g} ps); {off.size} of {steps.size} steps differ.",
                hint="Frames were probably dropped, duplicated or saved at another interval "
                "(e.g. a restarted run). Split the file where the step changes, or pass "
                "check_time_steps=False to ignore the stored times and number the frames "
                "uniformly.",
            )
        if step <= 0:
            return _TimeAxis(start, None)
        return _TimeAxis(start, step)
    slope = (times[-1] - times[0]) / (times.size - 1)
    rounded = float(f"{slope:.6g}")
    if abs(rounded - slope) * (times.size - 1) <= tolerance:
        slope = rounded
    return _TimeAxis(start, float(slope))


def _uniform_time(start: float, step: float | None, n_frames: int) -> np.ndarray:
    return start + np.arange(n_frames, dtype=np.float64) * (1.0 if step is None else step)


# ---------------------------------------------------------------------------------------
# Loading coordinates
# ---------------------------------------------------------------------------------------


@dataclass
class _Loaded:
    trajectory: md.Trajectory
    path: Path
    time: _TimeAxis
    own_topology: bool  # the topology came from the file itself
    full_topology: md.Topology  # before any atom selection


def _check_nonfinite(xyz: np.ndarray, label: str, stride: int) -> None:
    finite = np.isfinite(xyz).all(axis=(1, 2))
    if not finite.all():
        bad = np.flatnonzero(~finite) * stride
        raise CgvizError(
            f"Trajectory '{label}' has NaN or infinite coordinates in frames "
            f"{_frames_text(bad.tolist())} (frame numbers in the file, from 0).",
            hint="The simulation probably blew up there. Use only the frames before it "
            "(cut the file, e.g. with mdtraj or gmx trjconv -e) or rerun with a smaller time "
            "step.",
        )
    absurd = (np.abs(xyz) > MAX_COORDINATE_NM).any(axis=(1, 2))
    if absurd.any():
        bad = np.flatnonzero(absurd) * stride
        raise CgvizError(
            f"Trajectory '{label}' has coordinates beyond {MAX_COORDINATE_NM:g} nm in frames "
            f"{_frames_text(bad.tolist())} (frame numbers in the file, from 0).",
            hint="Positions are read in nm: a value this large means a blown-up simulation "
            "or a file written in other units. Cut those frames or convert the file.",
        )


#: Larger absolute coordinates (nm) are refused: a blown-up run or a file in other units.
MAX_COORDINATE_NM = 1e6


def _load_coordinate_file(
    path: Path,
    topology: _Topology | None,
    stride: int,
    check_time_steps: bool,
    frame_time_ps: float | None,
) -> _Loaded:
    ext = _extension(path)
    own_topology = ext in SELF_TOPOLOGY_EXTENSIONS
    if not own_topology and topology is None:
        raise CgvizError(
            f"Trajectory '{path}' ({ext}) stores coordinates only, so it needs a topology.",
            hint="Pass topology=... with a file of the same system (.pdb, .gro, .h5, "
            ".prmtop, .psf, .mol2, ...), e.g. the .pdb or .gro the simulation started from.",
        )
    if not own_topology and topology is not None:
        stored = _probe_atom_count(path)
        if stored is not None and stored != topology.topology.n_atoms:
            raise _atom_mismatch(path, stored, topology)
    expected: int | None = None
    scanner = _SCANNERS.get(ext)
    if scanner is not None:
        try:
            expected = scanner(path)
        except _Damaged as damage:
            raise _damaged_error(path, damage.problem, damage.truncated) from None
        except OSError as error:
            raise CgvizError(
                f"Trajectory '{path}' could not be opened ({_short(error)}).",
                hint="Check the file's permissions and that it is not still being written.",
            ) from error
    kwargs: dict[str, Any] = {"stride": stride}
    if not own_topology and topology is not None:
        kwargs["top"] = topology.topology
    try:
        with warnings.catch_warnings():
            for message in _NOISY_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            trajectory = _read_untrusted(path, lambda: md.load(str(path), **kwargs))
    except (MemoryError, CgvizError):
        raise
    except Exception as error:
        text = str(error)
        if topology is not None and (
            "same atoms" in text or "n_atoms" in text or isinstance(error, AssertionError)
        ):
            raise CgvizError(
                f"Trajectory '{path}' does not match {topology.label} "
                f"({topology.topology.n_atoms} atoms): {_short(error)}.",
                hint="Give the topology the trajectory was written with, or check that the "
                "trajectory file is complete.",
            ) from error
        hint = (
            "The file is truncated (e.g. a simulation killed while writing), corrupt, or not "
            f"really a {ext} file. Re-export it (e.g. with mdtraj or gmx trjconv) and load it "
            "again."
        )
        if topology is not None and not own_topology:
            hint += f" Also check that {topology.label} belongs to this trajectory."
        raise CgvizError(
            f"Trajectory '{path}' could not be read as a {ext} file "
            f"({type(error).__name__}: {_short(error)}).",
            hint=hint,
        ) from error
    if trajectory.n_frames == 0:
        raise CgvizError(
            f"Trajectory '{path}' contains no frames.",
            hint="Check that the simulation wrote frames before it stopped and that the file "
            "is complete.",
        )
    if expected is not None:
        expected_loaded = -(-expected // stride)
        if trajectory.n_frames < expected_loaded:
            raise _damaged_error(
                path,
                f"mdtraj read {trajectory.n_frames} frames but the file holds "
                f"{expected_loaded} (with stride={stride})",
            )
    if own_topology and topology is not None:
        if trajectory.n_atoms != topology.topology.n_atoms:
            raise _atom_mismatch(path, trajectory.n_atoms, topology)
        trajectory = md.Trajectory(
            trajectory.xyz,
            topology.topology,
            time=trajectory.time,
            unitcell_lengths=trajectory.unitcell_lengths,
            unitcell_angles=trajectory.unitcell_angles,
        )
    _check_nonfinite(trajectory.xyz, str(path), stride)
    if frame_time_ps is not None:
        time_axis = _TimeAxis(0.0, float(frame_time_ps) * stride)
    else:
        time_axis = _analyse_time(trajectory.time, str(path), check_time_steps, stride)
    trajectory.time = _uniform_time(time_axis.start, time_axis.step, trajectory.n_frames)
    return _Loaded(
        trajectory, path, time_axis, own_topology and topology is None, trajectory.topology
    )


def _atom_mismatch(path: Path, n_file: int, topology: _Topology) -> CgvizError:
    return CgvizError(
        f"Trajectory '{path}' has {n_file} atoms but {topology.label} has "
        f"{topology.topology.n_atoms}.",
        hint="Give the topology the trajectory was written with (the same atoms in the same "
        "order); to analyse a subset, load with the full topology and use atom_selection=...",
    )


def _check_common_atoms(loaded: Sequence[_Loaded], require_same: bool) -> None:
    first = loaded[0]
    for other in loaded[1:]:
        if other.trajectory.n_atoms != first.trajectory.n_atoms:
            if not require_same:
                continue
            counts = ", ".join(f"'{item.path}': {item.trajectory.n_atoms}" for item in loaded)
            raise CgvizError(
                f"The trajectories to join have different numbers of atoms ({counts}).",
                hint="Only files of the same system can be concatenated; load the others "
                "separately (concatenate=False) or give them the right topology.",
            )
        if (
            require_same
            and first.own_topology
            and other.own_topology
            and not _same_atoms(first.trajectory.topology, other.trajectory.topology)
        ):
            raise CgvizError(
                f"Trajectories '{first.path}' and '{other.path}' have the same number of "
                "atoms but different atom or residue names.",
                hint="Concatenate only files of the same system. If they are the same system "
                "named differently, pass topology=... to use one topology for all of them.",
            )


def _common_step(loaded: Sequence[_Loaded], check: bool) -> float | None:
    reference: _Loaded | None = None
    for item in loaded:
        if item.time.step is None:
            continue
        if reference is None:
            reference = item
            continue
        a, b = reference.time.step, item.time.step
        assert a is not None
        tolerance = 1e-4 * max(abs(a), abs(b)) + _time_tolerance(item.trajectory.time, b)
        if check and abs(a - b) > tolerance:
            raise CgvizError(
                f"Trajectories have different frame time steps: '{reference.path}' "
                f"{a:g} ps, '{item.path}' {b:g} ps.",
                hint="Load files saved at the same interval (or subsample with stride to "
                "match), or pass check_time_steps=False to ignore the stored times.",
            )
    return None if reference is None else reference.time.step


def _join(loaded: Sequence[_Loaded], step: float | None) -> md.Trajectory:
    first = loaded[0].trajectory
    if len(loaded) == 1:
        return first
    xyz = np.concatenate([item.trajectory.xyz for item in loaded], axis=0)
    cells = [item.trajectory.unitcell_lengths for item in loaded]
    angles = [item.trajectory.unitcell_angles for item in loaded]
    if all(c is not None for c in cells) and all(a is not None for a in angles):
        lengths = np.concatenate(cells, axis=0)
        angle_array = np.concatenate(angles, axis=0)
    else:
        lengths = angle_array = None
    time = _uniform_time(loaded[0].time.start, step, xyz.shape[0])
    return md.Trajectory(
        xyz, first.topology, time=time, unitcell_lengths=lengths, unitcell_angles=angle_array
    )


def _validate_options(stride: Any, min_frames: Any) -> None:
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise CgvizError(
            f"stride must be a whole number >= 1, got {stride!r}.",
            hint="stride=1 keeps every frame, stride=10 every tenth.",
        )
    if (
        isinstance(min_frames, bool)
        or not isinstance(min_frames, (int, np.integer))
        or min_frames < 0
    ):
        raise CgvizError(
            f"min_frames must be a whole number >= 0, got {min_frames!r}.",
            hint="It is the fewest frames a trajectory may have, e.g. the largest lag + 1.",
        )


def _too_few_frames(label: str, n_frames: int, min_frames: int, stride: int) -> CgvizError:
    after = f" (after stride={stride})" if stride > 1 else ""
    return CgvizError(
        f"Trajectory {label} has {n_frames} frames{after} but at least {min_frames} are "
        "needed.",
        hint="Use a longer trajectory, a smaller stride, or smaller lag times / history "
        "lengths.",
    )


@dataclass
class _LoadResult:
    result: md.Trajectory | list[md.Trajectory] | np.ndarray | list[np.ndarray]
    topology: _Topology | None
    loaded: list[_Loaded]
    selected: np.ndarray | None


def _load(
    paths: PathLike | Sequence[PathLike],
    topology: TopologyLike | None,
    stride: int,
    atom_selection: str | None,
    concatenate: bool,
    min_frames: int,
    check_time_steps: bool,
    frame_time_ps: float | None,
) -> _LoadResult:
    path_list = _as_path_list(paths)
    _validate_options(stride, min_frames)
    if frame_time_ps is not None and not (
        isinstance(frame_time_ps, (int, float, np.floating))
        and math.isfinite(frame_time_ps)
        and frame_time_ps > 0
    ):
        raise CgvizError(
            f"frame_time_ps must be a positive number of picoseconds, got {frame_time_ps!r}.",
            hint="It is the time between two frames stored in the file, e.g. 1.0 or 0.2.",
        )
    for path in path_list:
        _check_readable_file(path, "Trajectory")
    extensions = [_check_supported(path) for path in path_list]
    is_feature = [ext in FEATURE_EXTENSIONS for ext in extensions]
    if any(is_feature):
        if not all(is_feature):
            features = [str(p) for p, f in zip(path_list, is_feature) if f]
            coordinates = [str(p) for p, f in zip(path_list, is_feature) if not f]
            raise CgvizError(
                f"Feature arrays ({', '.join(features)}) and coordinate files "
                f"({', '.join(coordinates)}) cannot be loaded together.",
                hint="Load the coordinates with load_trajectory and the features with "
                "load_features, in two calls.",
            )
        if atom_selection is not None or topology is not None:
            raise CgvizError(
                f"'{path_list[0]}' is a feature array: it has no atoms, so topology= and "
                "atom_selection= do not apply.",
                hint="Drop those arguments, or load a coordinate file instead.",
            )
        arrays = load_features(
            path_list, min_frames=min_frames, stride=stride, concatenate=concatenate
        )
        return _LoadResult(arrays, None, [], None)

    resolved = _resolve_topology(topology)
    loaded = [
        _load_coordinate_file(path, resolved, stride, check_time_steps, frame_time_ps)
        for path in path_list
    ]
    _check_common_atoms(loaded, require_same=concatenate)
    step = _common_step(loaded, check_time_steps)

    selected: np.ndarray | None = None
    if atom_selection is not None:
        first = loaded[0].trajectory.topology
        where = resolved.label if resolved is not None else f"'{loaded[0].path}'"
        selected = _select(first, atom_selection, where)
        for item in loaded:
            if item is not loaded[0] and item.trajectory.topology is not first:
                indices = _select(item.trajectory.topology, atom_selection, f"'{item.path}'")
            else:
                indices = selected
            item.trajectory = item.trajectory.atom_slice(indices)

    if concatenate:
        joined = _join(loaded, step)
        if joined.n_frames < min_frames:
            names = ", ".join(f"'{item.path}'" for item in loaded)
            label = names if len(loaded) == 1 else f"joined from {names}"
            raise _too_few_frames(label, joined.n_frames, min_frames, stride)
        return _LoadResult(joined, resolved, loaded, selected)
    for item in loaded:
        if item.trajectory.n_frames < min_frames:
            raise _too_few_frames(f"'{item.path}'", item.trajectory.n_frames, min_frames, stride)
    return _LoadResult([item.trajectory for item in loaded], resolved, loaded, selected)


def load_trajectory(
    paths: PathLike | Sequence[PathLike],
    topology: TopologyLike | None = None,
    stride: int = 1,
    atom_selection: str | None = None,
    concatenate: bool = True,
    min_frames: int = 1,
    check_time_steps: bool = True,
    frame_time_ps: float | None = None,
) -> md.Trajectory | list[md.Trajectory] | np.ndarray | list[np.ndarray]:
    """Load one or several trajectory files, validated, as mdtraj trajectories.

    Parameters
    ----------
    paths:
        A path or a list of paths. Any format mdtraj reads (see
        :data:`TRAJECTORY_EXTENSIONS`: pdb, xtc, trr, dcd, h5, nc/netcdf, gro, lammpstrj,
        mdcrd/crd, xyz, arc, mol2, ...). Formats with their own topology
        (:data:`SELF_TOPOLOGY_EXTENSIONS`: pdb, gro, h5, mol2, ...) need no ``topology``.
        If every path is a ``.npy``/``.npz`` feature array, the call is passed on to
        :func:`load_features` (see Returns); mixing the two kinds is an error.
    topology:
        A topology file (:data:`TOPOLOGY_EXTENSIONS`), an ``md.Topology`` or an
        ``md.Trajectory``. Required for coordinate-only formats (xtc, trr, dcd, nc, ...).
        Given together with a self-describing file (pdb, h5, ...), it replaces that file's
        topology after the atom counts are checked.
    stride:
        Keep every ``stride``-th frame of each file (applied per file, while reading).
    atom_selection:
        mdtraj selection string (``"not element H"``, ``"name CA"``, ...) applied after
        loading; matching nothing is an error.
    concatenate:
        True: join all files into one trajectory, in the given order (they must have the
        same atoms). False: return one trajectory per file (e.g. independent runs).
    min_frames:
        The fewest frames each returned trajectory (after stride) may have.
    check_time_steps:
        Require a uniform frame time step within each file (up to float32 rounding of the
        stored times) and the same step across files. False skips both checks.
    frame_time_ps:
        Time between two frames *stored in the file*, in ps, overriding the stored times
        (useful for dcd, pdb, lammpstrj, xyz, which store none). The returned time axis then
        starts at 0 and advances by ``frame_time_ps * stride``.

    Returns
    -------
    ``md.Trajectory`` (``concatenate=True``) or ``list[md.Trajectory]`` (False), with
    positions ``xyz`` of shape (n_frames, n_atoms, 3) in nm (float32) and a uniform
    float64 ``time`` in ps. Time axis rules: the stored times are replaced by
    ``t0 + arange(n_frames) * dt`` with ``t0`` the first stored time of the (first) file
    and ``dt`` its frame step (times stride); joined files continue that axis without gaps
    (their own stored times are dropped). Files that store no time (pdb, dcd, lammpstrj,
    xyz, mdcrd) get mdtraj's frame numbering (dt = 1 "ps" per stored frame) unless
    ``frame_time_ps`` is given. Unit cells are kept when every file has them.

    For feature arrays: ``np.ndarray`` of shape (n_frames, n_features) when
    ``concatenate=True``, else ``list[np.ndarray]`` (one per .npy file / per array in each
    .npz file); see :func:`load_features`.

    Raises
    ------
    CgvizError
        For a missing, empty, truncated or corrupt file, an unsupported extension, a
        missing or unreadable topology, mismatching atom counts, NaN/inf coordinates,
        non-uniform time steps, too few frames or a selection that matches nothing. The
        message names the file and says what to do; the original exception is chained.
    """
    return _load(
        paths,
        topology,
        stride,
        atom_selection,
        concatenate,
        min_frames,
        check_time_steps,
        frame_time_ps,
    ).result


# ---------------------------------------------------------------------------------------
# Feature arrays
# ---------------------------------------------------------------------------------------


def _as_feature_matrix(array: np.ndarray, label: str) -> np.ndarray:
    if array.dtype.kind not in "fiub":
        raise CgvizError(
            f"Feature array {label} has dtype {array.dtype}, not numbers.",
            hint="Save a float array of shape (n_frames, n_features) with numpy.save.",
        )
    if array.ndim == 0:
        raise CgvizError(
            f"Feature array {label} is a single number, not a trajectory of features.",
            hint="Save an array of shape (n_frames, n_features).",
        )
    if array.ndim == 1:
        array = array[:, None]
    elif array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    if array.dtype == np.float32 or array.dtype == np.float64:
        return array
    if array.dtype == np.float16:
        return array.astype(np.float32)
    return array.astype(np.float64)


def _check_feature_values(array: np.ndarray, label: str, stride: int) -> None:
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite) * stride
        raise CgvizError(
            f"Feature array {label} has NaN or infinite values in frames "
            f"{_frames_text(bad.tolist())} (rows of the stored array, from 0).",
            hint="Remove those frames or recompute the features; models cannot train on "
            "NaN.",
        )


def _read_feature_file(path: Path, key: str | None) -> list[tuple[str, np.ndarray]]:
    ext = _extension(path)
    try:
        loaded = np.load(str(path), allow_pickle=False)
    except MemoryError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise CgvizError(
                f"Feature file '{path}' holds Python objects (it needs pickle), which cgviz "
                "does not load for safety.",
                hint="Save plain numeric arrays: numpy.save(path, features.astype(float)).",
            ) from error
        raise _corrupt_feature_file(path, ext, error) from error
    except Exception as error:
        raise _corrupt_feature_file(path, ext, error) from error
    if isinstance(loaded, np.ndarray):
        if ext == ".npz":  # a .npy saved under a .npz name
            return [(f"'{path}'", loaded)]
        if key is not None:
            raise CgvizError(
                f"key={key!r} was given, but '{path}' is a .npy file with a single array.",
                hint="Use key= only with .npz files.",
            )
        return [(f"'{path}'", loaded)]
    try:
        with loaded as archive:
            names = list(archive.files)
            if key is not None:
                if key not in names:
                    raise CgvizError(
                        f"Feature file '{path}' has no array named {key!r}.",
                        hint=f"Its arrays are: {', '.join(names) or '(none)'}.",
                    )
                names = [key]
            if not names:
                raise CgvizError(
                    f"Feature file '{path}' contains no arrays.",
                    hint="Save one array per trajectory with numpy.savez(path, run1=..., ...).",
                )
            return [(f"'{path}' [{name}]", archive[name]) for name in names]
    except CgvizError:
        raise
    except MemoryError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise CgvizError(
                f"Feature file '{path}' holds Python objects (it needs pickle), which cgviz "
                "does not load for safety.",
                hint="Save plain numeric arrays with numpy.savez.",
            ) from error
        raise _corrupt_feature_file(path, ext, error) from error
    except Exception as error:
        raise _corrupt_feature_file(path, ext, error) from error


def _corrupt_feature_file(path: Path, ext: str, error: BaseException) -> CgvizError:
    return CgvizError(
        f"Feature file '{path}' could not be read as a {ext} file "
        f"({type(error).__name__}: {_short(error)}).",
        hint="It is truncated, corrupt or not a numpy file; save it again with numpy.save "
        "(.npy) or numpy.savez (.npz).",
    )


def load_features(
    paths: PathLike | Sequence[PathLike],
    min_frames: int = 1,
    stride: int = 1,
    concatenate: bool = False,
    key: str | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Load feature trajectories from ``.npy`` / ``.npz`` files.

    Parameters
    ----------
    paths:
        A path or a list of paths. A ``.npy`` file is one trajectory. A ``.npz`` file holds
        one trajectory per array, in the order they were stored (``np.savez(f, a, b)``
        stores ``arr_0, arr_1``; keyword arrays keep their keyword order), or only the array
        named ``key``. Files are read with ``allow_pickle=False``.
    min_frames:
        The fewest frames (rows, after stride) each returned trajectory may have.
    stride:
        Keep every ``stride``-th row.
    concatenate:
        False (default): return a list with one array per trajectory (independent
        trajectories stay apart, which lagged-pair methods need). True: stack them all
        into one array (they must have the same number of features).
    key:
        Only load this array from each ``.npz`` file.

    Returns
    -------
    ``list[np.ndarray]`` (``concatenate=False``) or ``np.ndarray`` (True), each of shape
    (n_frames, n_features). 1-D arrays become (n_frames, 1); arrays with more dimensions
    are flattened per frame, e.g. (n_frames, n_atoms, 3) -> (n_frames, 3 * n_atoms).
    float32 and float64 arrays keep their dtype; float16 becomes float32 and integer or
    boolean arrays float64.

    Raises
    ------
    CgvizError
        Missing, empty, corrupt or pickled files, non-numeric arrays, NaN/inf values (the
        frames are named), mismatched feature counts when concatenating, too few frames.
    """
    path_list = _as_path_list(paths)
    _validate_options(stride, min_frames)
    arrays: list[tuple[str, np.ndarray]] = []
    for path in path_list:
        _check_readable_file(path, "Feature file")
        ext = _extension(path)
        if ext not in FEATURE_EXTENSIONS:
            raise CgvizError(
                f"Feature file '{path}' has the extension '{ext or '(none)'}'; feature arrays "
                "must be .npy or .npz.",
                hint="Use load_trajectory for coordinate files, or save the features with "
                "numpy.save / numpy.savez.",
            )
        for label, raw in _read_feature_file(path, key):
            matrix = _as_feature_matrix(np.asarray(raw), label)
            matrix = matrix[::stride]
            _check_feature_values(matrix, label, stride)
            arrays.append((label, matrix))
    if concatenate:
        widths = {matrix.shape[1] for _, matrix in arrays}
        if len(widths) > 1:
            shown = ", ".join(f"{label}: {matrix.shape[1]}" for label, matrix in arrays)
            raise CgvizError(
                f"Feature arrays to join have different numbers of features ({shown}).",
                hint="Compute the same features for every trajectory, or load them "
                "separately (concatenate=False).",
            )
        dtype = np.result_type(*[matrix.dtype for _, matrix in arrays])
        joined = np.concatenate([matrix for _, matrix in arrays], axis=0).astype(dtype, copy=False)
        if joined.shape[0] < min_frames:
            labels = ", ".join(label for label, _ in arrays)
            raise _too_few_frames(labels, joined.shape[0], min_frames, stride)
        return joined
    for label, matrix in arrays:
        if matrix.shape[0] < min_frames:
            raise _too_few_frames(label, matrix.shape[0], min_frames, stride)
    return [matrix for _, matrix in arrays]


# ---------------------------------------------------------------------------------------
# Featurizers
# ---------------------------------------------------------------------------------------


def _as_topology(system: md.Trajectory | md.Topology) -> md.Topology:
    if isinstance(system, md.Trajectory):
        return system.topology
    if isinstance(system, md.Topology):
        return system
    raise CgvizError(
        f"Expected an md.Trajectory or md.Topology, got {type(system).__name__}.",
        hint="Load the file first with cgviz.io.load_trajectory.",
    )


def _require_trajectory(traj: Any) -> md.Trajectory:
    if not isinstance(traj, md.Trajectory):
        raise CgvizError(
            f"Expected an md.Trajectory, got {type(traj).__name__}.",
            hint="Load the file first with cgviz.io.load_trajectory (concatenate=True gives "
            "one trajectory; featurize each element of a list separately).",
        )
    return traj


def _backbone_indices(topology: md.Topology) -> tuple[np.ndarray, np.ndarray]:
    probe = md.Trajectory(np.zeros((1, topology.n_atoms, 3), dtype=np.float32), topology)
    phi_indices, _ = md.compute_phi(probe)
    psi_indices, _ = md.compute_psi(probe)
    return phi_indices, psi_indices


def _no_backbone_error() -> CgvizError:
    return CgvizError(
        "This topology has no backbone dihedrals (phi/psi need residues with atoms named "
        "N, CA and C, bonded along a chain); it looks like a coarse-grained or non-protein "
        "model.",
        hint="Use pairwise_distance_features(traj, selection='all') or "
        "aligned_cartesian_features(traj, selection='all') instead.",
    )


def backbone_dihedral_features(traj: md.Trajectory) -> np.ndarray:
    """sin and cos of every backbone phi and psi dihedral.

    Column order: for each angle in ``[phi_1, ..., phi_n, psi_1, ..., psi_m]`` (mdtraj's
    ``compute_phi`` / ``compute_psi`` order, i.e. along the chain), two columns
    ``sin(angle), cos(angle)``. For alanine dipeptide: ``[sin phi, cos phi, sin psi,
    cos psi]``. Names: :func:`backbone_dihedral_labels`.

    Returns
    -------
    float32 array of shape (n_frames, 2 * (n_phi + n_psi)), values in [-1, 1].

    Raises
    ------
    CgvizError
        If the topology has no phi and no psi (e.g. a bead model).
    """
    traj = _require_trajectory(traj)
    _, phi = md.compute_phi(traj)
    _, psi = md.compute_psi(traj)
    angles = np.concatenate([phi, psi], axis=1)
    if angles.shape[1] == 0:
        raise _no_backbone_error()
    features = np.empty((traj.n_frames, 2 * angles.shape[1]), dtype=np.float32)
    features[:, 0::2] = np.sin(angles)
    features[:, 1::2] = np.cos(angles)
    return features


def backbone_dihedral_labels(system: md.Trajectory | md.Topology) -> list[str]:
    """Column names of :func:`backbone_dihedral_features`, e.g. ``"sin(phi ALA2)"``.

    The residue named is the one the dihedral belongs to (the residue of its N for phi and
    of its CA for psi).
    """
    topology = _as_topology(system)
    phi_indices, psi_indices = _backbone_indices(topology)
    if len(phi_indices) + len(psi_indices) == 0:
        raise _no_backbone_error()
    labels: list[str] = []
    for name, indices in (("phi", phi_indices), ("psi", psi_indices)):
        for quartet in indices:
            residue = topology.atom(int(quartet[1])).residue
            labels.append(f"sin({name} {residue})")
            labels.append(f"cos({name} {residue})")
    return labels


def pairwise_distance_pairs(
    system: md.Trajectory | md.Topology,
    selection: str = "name CA",
    pairs: np.ndarray | Sequence[Sequence[int]] | None = None,
    exclude_neighbors: int = 0,
) -> np.ndarray:
    """Atom index pairs used by :func:`pairwise_distance_features`.

    Returns
    -------
    int64 array of shape (n_pairs, 2), atom indices of the full topology, ``i < j`` in
    selection order (``(s0, s1), (s0, s2), ..., (s1, s2), ...``) when built from
    ``selection``; the given ``pairs`` unchanged (validated) otherwise.
    """
    topology = _as_topology(system)
    if pairs is not None:
        array = np.asarray(pairs)
        if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
            raise CgvizError(
                f"pairs must be an array of shape (n_pairs, 2), got shape {array.shape}.",
                hint="Give atom index pairs, e.g. pairs=[[0, 5], [1, 7]].",
            )
        if array.dtype.kind not in "iu":
            raise CgvizError(
                f"pairs must hold integer atom indices, got dtype {array.dtype}.",
                hint="Give atom index pairs, e.g. pairs=[[0, 5], [1, 7]].",
            )
        array = array.astype(np.int64)
        if array.min() < 0 or array.max() >= topology.n_atoms:
            raise CgvizError(
                f"pairs refer to atom indices outside 0..{topology.n_atoms - 1}.",
                hint="Atom indices count from 0 in the trajectory's topology.",
            )
        if np.any(array[:, 0] == array[:, 1]):
            raise CgvizError(
                "pairs contain an atom paired with itself (distance always 0).",
                hint="Remove those pairs.",
            )
        return array
    if (
        isinstance(exclude_neighbors, bool)
        or not isinstance(exclude_neighbors, (int, np.integer))
        or exclude_neighbors < 0
    ):
        raise CgvizError(
            f"exclude_neighbors must be a whole number >= 0, got {exclude_neighbors!r}.",
            hint="0 keeps all pairs, 1 drops consecutive selected atoms, 2 also next-nearest.",
        )
    selected = _select(topology, selection, "the pairwise distance features")
    first, second = np.triu_indices(len(selected), k=int(exclude_neighbors) + 1)
    if first.size == 0:
        raise CgvizError(
            f"The selection {selection!r} gives {len(selected)} atoms, which leave no pairs "
            f"with exclude_neighbors={exclude_neighbors}.",
            hint="Select more atoms (e.g. 'not element H' or 'all') or lower "
            "exclude_neighbors.",
        )
    return np.stack([selected[first], selected[second]], axis=1).astype(np.int64)


def pairwise_distance_features(
    traj: md.Trajectory,
    selection: str = "name CA",
    pairs: np.ndarray | Sequence[Sequence[int]] | None = None,
    exclude_neighbors: int = 0,
    periodic: bool = True,
) -> np.ndarray:
    """Distances between all pairs of selected atoms (or the given pairs), in nm.

    Parameters
    ----------
    selection:
        mdtraj selection of the atoms whose pairs are measured (ignored if ``pairs``).
    pairs:
        Explicit atom index pairs, shape (n_pairs, 2).
    exclude_neighbors:
        Drop pairs whose positions in the selection differ by at most this much: 0 keeps
        every pair ``i < j``; 1 drops consecutive selected atoms (e.g. CA(i)-CA(i+1), fixed
        by chain geometry); 2 also drops i, i+2. Ignored if ``pairs`` is given.
    periodic:
        Minimum-image distances when the trajectory has unit cells (mdtraj's default).

    Returns
    -------
    float32 array of shape (n_frames, n_pairs) in nm; column order as
    :func:`pairwise_distance_pairs`, names from :func:`pairwise_distance_labels`.
    """
    from cgviz.analysis.budget import check_feature_memory

    traj = _require_trajectory(traj)
    index_pairs = pairwise_distance_pairs(traj, selection, pairs, exclude_neighbors)
    # All pairs grow with the square of the atoms: refuse before computing what would not
    # fit in memory (a 5,500-atom protein's heavy-atom pairs are 15 GB per 1,000 frames).
    check_feature_memory(traj.n_frames, len(index_pairs),
                         f"Distances of {len(index_pairs):,} atom pairs",
                         smaller="a smaller selection (e.g. 'name CA')")
    distances = md.compute_distances(traj, index_pairs, periodic=periodic)
    return np.asarray(distances, dtype=np.float32)


def pairwise_distance_labels(
    system: md.Trajectory | md.Topology,
    selection: str = "name CA",
    pairs: np.ndarray | Sequence[Sequence[int]] | None = None,
    exclude_neighbors: int = 0,
) -> list[str]:
    """Column names of :func:`pairwise_distance_features`, e.g. ``"d(ALA2-CA, ALA3-CA)"``."""
    topology = _as_topology(system)
    index_pairs = pairwise_distance_pairs(topology, selection, pairs, exclude_neighbors)
    return [f"d({topology.atom(int(i))}, {topology.atom(int(j))})" for i, j in index_pairs]


def aligned_cartesian_features(
    traj: md.Trajectory,
    reference: md.Trajectory | None = None,
    selection: str = "not element H",
    reference_frame: int = 0,
) -> np.ndarray:
    """Cartesian coordinates of the selected atoms after superposition onto a reference.

    Each frame is translated and rotated (mdtraj ``superpose``, least-squares on the
    selected atoms) onto frame ``reference_frame`` of ``reference`` (default: the
    trajectory itself, frame 0). The caller's trajectory is not modified.

    Parameters
    ----------
    reference:
        A trajectory with the same atoms as ``traj`` (the same selection is applied to it).
    selection:
        mdtraj selection; the default keeps heavy atoms (bead models have no hydrogens, so
        all beads are kept). At least 3 atoms are needed for a defined rotation.

    Returns
    -------
    float32 array of shape (n_frames, 3 * n_selected) in nm, ordered
    ``x0, y0, z0, x1, y1, z1, ...`` over the selected atoms in topology order; names from
    :func:`aligned_cartesian_labels`.
    """
    traj = _require_trajectory(traj)
    if reference is None:
        reference = traj
    reference = _require_trajectory(reference)
    if reference.n_atoms != traj.n_atoms:
        raise CgvizError(
            f"The reference has {reference.n_atoms} atoms but the trajectory has "
            f"{traj.n_atoms}.",
            hint="Give a reference structure of the same system (same atoms, same order).",
        )
    if not -reference.n_frames <= reference_frame < reference.n_frames:
        raise CgvizError(
            f"reference_frame={reference_frame} is outside the reference's "
            f"{reference.n_frames} frames.",
            hint="Frames count from 0.",
        )
    selected = _select(traj.topology, selection, "the aligned Cartesian features")
    if len(selected) < 3:
        raise CgvizError(
            f"The selection {selection!r} gives {len(selected)} atoms; aligning needs at "
            "least 3.",
            hint="Select more atoms, e.g. 'not element H' or 'all'.",
        )
    frame = reference_frame % reference.n_frames
    moving = md.Trajectory(
        traj.xyz[:, selected].copy(), traj.topology.subset(selected), time=traj.time.copy()
    )
    target = md.Trajectory(reference.xyz[frame : frame + 1, selected].copy(), moving.topology)
    moving.superpose(target, frame=0)
    return moving.xyz.reshape(traj.n_frames, -1).astype(np.float32, copy=False)


def aligned_cartesian_labels(
    system: md.Trajectory | md.Topology, selection: str = "not element H"
) -> list[str]:
    """Column names of :func:`aligned_cartesian_features`, e.g. ``"x(ALA2-CA)"``."""
    topology = _as_topology(system)
    selected = _select(topology, selection, "the aligned Cartesian features")
    return [f"{axis}({topology.atom(int(i))})" for i in selected for axis in "xyz"]


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


# ---------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrajectorySummary:
    """What a trajectory holds, for display.

    Attributes
    ----------
    frame_time_ps:
        Median time between consecutive frames in ps; None for a single frame.
    total_time_ps:
        Time from the first to the last frame in ps (0.0 for one frame).
    has_backbone_dihedrals:
        Whether :func:`backbone_dihedral_features` applies (a protein-like backbone).
    """

    n_atoms: int
    n_residues: int
    n_chains: int
    n_frames: int
    frame_time_ps: float | None
    total_time_ps: float
    n_bonds: int
    has_backbone_dihedrals: bool


def topology_bonds(topology: md.Topology) -> np.ndarray:
    """(n_bonds, 2) int64 atom indices of an md.Topology's bonds."""
    return np.array([[a.index, b.index] for a, b in topology.bonds],
                    dtype=np.int64).reshape(-1, 2)


def trajectory_summary(traj: md.Trajectory) -> TrajectorySummary:
    """Counts and times of a trajectory (see :class:`TrajectorySummary`)."""
    traj = _require_trajectory(traj)
    topology = traj.topology
    time = np.asarray(traj.time, dtype=np.float64)
    if traj.n_frames >= 2:
        frame_time: float | None = float(np.median(np.diff(time)))
        total = float(time[-1] - time[0])
    else:
        frame_time, total = None, 0.0
    phi_indices, psi_indices = _backbone_indices(topology)
    return TrajectorySummary(
        n_atoms=int(topology.n_atoms),
        n_residues=int(topology.n_residues),
        n_chains=int(topology.n_chains),
        n_frames=int(traj.n_frames),
        frame_time_ps=frame_time,
        total_time_ps=total,
        n_bonds=int(topology.n_bonds),
        has_backbone_dihedrals=bool(len(phi_indices) + len(psi_indices) > 0),
    )
