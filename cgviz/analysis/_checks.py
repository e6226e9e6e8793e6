"""Input validation shared by the analysis functions (private).

Every check raises :class:`cgviz.errors.CgvizError` with a message that says what was
wrong and what to do about it, so front ends can show it to the user as it is.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from cgviz.errors import CgvizError


def shape_text(array: np.ndarray) -> str:
    return "(" + ", ".join(str(size) for size in array.shape) + ")"


def as_finite(values: Any, name: str, dtype: type = np.float64) -> np.ndarray:
    """``values`` as a float64 array; raises on non-numeric, NaN or infinite entries."""
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise CgvizError(
            f"{name} could not be read as an array of numbers ({error}).",
            hint="Pass a numpy array (ragged nested lists are not accepted).",
        ) from None
    if not np.all(np.isfinite(array)):
        n_bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise CgvizError(
            f"{name} contains {n_bad} NaN or infinite value(s).",
            hint="Remove or fix those frames first (a rollout that blew up should be cut "
            "before its first NaN).",
        )
    return array


def as_positions(xyz: Any, name: str = "xyz") -> np.ndarray:
    """Positions as a finite float64 array of shape (n_frames, n_atoms, 3)."""
    positions = as_finite(xyz, name)
    if positions.ndim != 3 or positions.shape[2] != 3:
        raise CgvizError(
            f"{name} must have shape (n_frames, n_atoms, 3), got {shape_text(positions)}.",
            hint="For a single frame use xyz[None]; for an mdtraj Trajectory pass traj.xyz.",
        )
    if positions.shape[0] == 0 or positions.shape[1] == 0:
        raise CgvizError(
            f"{name} is empty (shape {shape_text(positions)}).",
            hint="Pass at least one frame with at least one atom.",
        )
    return positions


def as_masses(masses: Any, n_atoms: int) -> np.ndarray:
    """Masses as a positive float64 array of shape (n_atoms,)."""
    values = as_finite(masses, "masses")
    if values.ndim != 1 or values.shape[0] != n_atoms:
        raise CgvizError(
            f"masses must have shape ({n_atoms},), one per atom of xyz, got "
            f"{shape_text(values)}.",
            hint="Pass one mass in amu for every atom (or bead) in xyz.",
        )
    if np.any(values <= 0):
        raise CgvizError(
            "masses must all be positive.",
            hint="Check the topology: a virtual site or a missing element gives a zero mass.",
        )
    return values


def as_indices(
    indices: Any, n_atoms: int, name: str, width: int | None = None
) -> np.ndarray:
    """Integer atom indices in [0, n_atoms); shape (n,) or, with ``width``, (n, width)."""
    array = np.asarray(indices)
    if array.size == 0:
        array = array.reshape((0,) if width is None else (0, width)).astype(np.int64)
    if array.dtype.kind not in "iu":
        if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(
            array == np.round(array)
        ):
            array = array.astype(np.int64)
        else:
            raise CgvizError(
                f"{name} must hold integer atom indices, got dtype {array.dtype}.",
                hint="Pass a numpy array of ints.",
            )
    array = array.astype(np.int64, copy=False)
    expected = "(n,)" if width is None else f"(n, {width})"
    if (width is None and array.ndim != 1) or (
        width is not None and (array.ndim != 2 or array.shape[1] != width)
    ):
        raise CgvizError(
            f"{name} must have shape {expected}, got {shape_text(array)}.",
            hint="Each row lists the atom indices of one item.",
        )
    if array.size and (array.min() < 0 or array.max() >= n_atoms):
        raise CgvizError(
            f"{name} refers to atom {int(array.min() if array.min() < 0 else array.max())}, "
            f"but there are only {n_atoms} atoms (valid indices 0..{n_atoms - 1}).",
            hint="Indices are 0-based and must fit the trajectory they are used with.",
        )
    return array


def as_bonds(bonds: Any, n_atoms: int, name: str = "bonds") -> np.ndarray:
    """Bonds as an int64 array of shape (n_bonds, 2) with two different atoms per row."""
    array = as_indices(bonds, n_atoms, name, width=2)
    if np.any(array[:, 0] == array[:, 1]):
        raise CgvizError(
            f"{name} contains a pair of an atom with itself.",
            hint="Each row must join two different atoms.",
        )
    return array


def as_positive(value: Any, name: str, unit: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CgvizError(f"{name} must be a number in {unit}, got {value!r}.") from None
    if not np.isfinite(number) or number <= 0:
        raise CgvizError(f"{name} must be a positive number in {unit}, got {value!r}.")
    return number


def as_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise CgvizError(f"{name} must be an integer, got {value!r}.")
    if value < minimum:
        raise CgvizError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def is_trajectory_list(data: Any) -> bool:
    """True for a list/tuple whose items are arrays (a set of independent trajectories)."""
    return (
        isinstance(data, (list, tuple))
        and len(data) > 0
        and all(np.ndim(item) >= 1 for item in data)
    )


def as_trajectories(
    data: Any, name: str, ndim: Sequence[int]
) -> tuple[list[np.ndarray], bool]:
    """One array or a list of arrays -> (list of finite float64 arrays, was_list)."""
    was_list = is_trajectory_list(data)
    if isinstance(data, (list, tuple)) and len(data) == 0:
        raise CgvizError(f"{name} is an empty list.", hint="Pass at least one trajectory.")
    items = list(data) if was_list else [data]
    arrays = []
    for index, item in enumerate(items):
        label = f"{name}[{index}]" if was_list else name
        array = as_finite(item, label)
        if array.ndim not in ndim:
            wanted = " or ".join(f"{d}-D" for d in ndim)
            raise CgvizError(
                f"{label} must be {wanted}, got shape {shape_text(array)}.",
                hint="Frames go along the first axis.",
            )
        arrays.append(array)
    first = arrays[0]
    for index, array in enumerate(arrays[1:], start=1):
        if array.ndim != first.ndim or array.shape[1:] != first.shape[1:]:
            raise CgvizError(
                f"{name}[{index}] has shape {shape_text(array)} but {name}[0] has "
                f"{shape_text(first)}; all trajectories need the same number of columns.",
                hint="Compute the same features for every trajectory.",
            )
    return arrays, was_list
