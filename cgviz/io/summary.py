"""Trajectory summaries for people: :func:`trajectory_summary`, :func:`topology_bonds`."""

from __future__ import annotations

from dataclasses import dataclass

import mdtraj as md
import numpy as np

from cgviz.io.features import _backbone_indices, _require_trajectory


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
