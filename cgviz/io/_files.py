"""File types cgviz reads, file checks, and integrity scans of XTC/TRR/DCD headers
(truncated or damaged files are found before mdtraj reads them)."""

from __future__ import annotations

import mmap
import os
import struct
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import mdtraj as md
import numpy as np

from cgviz.errors import CgvizError
from cgviz.io import safety

PathLike = Union[str, os.PathLike]


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


