"""Loading coordinate files: :func:`load_trajectory`."""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

import mdtraj as md
import numpy as np

from cgviz.errors import CgvizError
from cgviz.io._files import (
    FEATURE_EXTENSIONS, SELF_TOPOLOGY_EXTENSIONS, _Damaged, _NOISY_WARNINGS, _SCANNERS,
    _as_path_list, _check_readable_file, _check_supported, _damaged_error, _extension,
    _frames_text, _probe_atom_count, _read_untrusted,
)
from cgviz.io._topology import (
    _TimeAxis, _Topology, _analyse_time, _resolve_topology, _same_atoms, _select, _short,
    _time_tolerance, _uniform_time,
)

PathLike = Union[str, os.PathLike]
TopologyLike = Union[PathLike, md.Topology, md.Trajectory]


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
        arrays = _features().load_features(
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




def _features():
    from cgviz.io import features

    return features
