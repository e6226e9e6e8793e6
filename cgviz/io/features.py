"""Feature arrays (:func:`load_features`) and featurizers (dihedrals, distances,
aligned coordinates)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence, Union

import mdtraj as md
import numpy as np

from cgviz.errors import CgvizError
from cgviz.io._files import (
    FEATURE_EXTENSIONS, _as_path_list, _check_readable_file, _extension, _frames_text,
)
from cgviz.io._topology import _select, _short
from cgviz.io.trajectories import _too_few_frames, _validate_options

PathLike = Union[str, os.PathLike]


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


