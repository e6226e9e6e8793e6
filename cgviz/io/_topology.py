"""Topologies (files or objects) and a trajectory's time axis."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import mdtraj as md
import numpy as np

from cgviz.errors import CgvizError
from cgviz.io._files import (
    TOPOLOGY_EXTENSIONS, _NOISY_WARNINGS, _check_readable_file, _extension, _format_list,
    _frames_text, _read_untrusted,
)

PathLike = Union[str, os.PathLike]
TopologyLike = Union[PathLike, md.Topology, md.Trajectory]


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


