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

Modules: ``_files`` (file types, checks, header scans), ``_topology`` (topologies, time
axes), ``trajectories``, ``features``, ``properties``, ``summary``, ``safety`` (what a
file may not do); everything above is importable from ``cgviz.io``.
"""

from __future__ import annotations

from cgviz.io import safety  # noqa: F401 (cgviz.io.safety)
from cgviz.io._files import (  # noqa: F401
    FEATURE_EXTENSIONS,
    SELF_TOPOLOGY_EXTENSIONS,
    SIDECAR_FORMAT,
    SIDECAR_VERSION,
    SUPPORTED_EXTENSIONS,
    TOPOLOGY_EXTENSIONS,
    TRAJECTORY_EXTENSIONS,
    _extension,
)
from cgviz.io._topology import (  # noqa: F401
    _resolve_topology,
)
from cgviz.io.trajectories import (  # noqa: F401
    load_trajectory,
)
from cgviz.io.features import (  # noqa: F401
    _as_topology,
    aligned_cartesian_features,
    aligned_cartesian_labels,
    backbone_dihedral_features,
    backbone_dihedral_labels,
    load_features,
    pairwise_distance_features,
    pairwise_distance_labels,
    pairwise_distance_pairs,
)
from cgviz.io.properties import (  # noqa: F401
    AtomProperties,
    atom_properties,
    load_system,
    read_atom_properties,
    sidecar_path_for,
    write_atom_properties,
)
from cgviz.io.summary import (  # noqa: F401
    TrajectorySummary,
    topology_bonds,
    trajectory_summary,
)
from cgviz.io.properties import PathLike, TopologyLike  # noqa: F401

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
