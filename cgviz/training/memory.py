"""How much memory a simulator training run will need, known before it starts.

A training step holds, for each of the ``batch_size`` history windows of a batch, the
activations of every message-passing layer on every edge of the bead graph (all bead
pairs within ``cutoff_nm``, plus the CG bonds), for the backward pass. The edge count
therefore sets the peak memory: a 5,500-atom protein at 4 atoms per bead has ~1,400
beads and ~250,000 edges within 1.5 nm per frame, ~20 GB at batch 16 (measured: the
kernel's out-of-memory killer ended such a run at 23 GB).

:func:`estimate_training_memory` counts the edges of the first training frame (scipy's
cKDTree, minimum image for periodic systems) and turns them into bytes with a per-edge
cost proportional to the networks' widths and depths. The proportionality constant
``BYTES_PER_EDGE_UNIT`` was measured with ``benchmarks/training_memory.py``, which prints
the estimate beside the measured peak (docs/performance.md). :func:`check_training_memory`
refuses a run whose estimate exceeds what the machine has free, with a hint on what to
change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cgviz.errors import CgvizError

#: Bytes per (edge x batch window x layer x latent channel) of a training step, forward
#: and backward; measured by benchmarks/training_memory.py (docs/performance.md).
BYTES_PER_EDGE_UNIT = 18.0
#: Bytes per (bead x batch window x history frame): node inputs and their encodings.
BYTES_PER_BEAD_FRAME = 12_000.0
#: What Python, torch, Lightning and the loaded trajectories take before the first step.
BASE_BYTES = 0.8e9
#: A run may use at most this fraction of the memory the machine has free at launch.
USABLE_FRACTION = 0.8
#: The operator's cap on one training run's memory, in GB (a server for a class).
RUN_MEMORY_VARIABLE = "CGVIZ_MAX_RUN_MEMORY_GB"


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimated peak memory of one training run (bytes) and what it rests on."""

    n_beads: int
    edges_per_window: int
    batch_size: int
    history_length: int
    peak_bytes: float
    available_bytes: float | None

    @property
    def fits(self) -> bool:
        return (self.available_bytes is None
                or self.peak_bytes <= USABLE_FRACTION * self.available_bytes)

    def text(self) -> str:
        """'~2.1 GB (1,387 beads, 251,000 edges per window x batch 16)' for people."""
        free = ("" if self.available_bytes is None
                else f" of {self.available_bytes / 1e9:.1f} GB available")
        return (f"~{self.peak_bytes / 1e9:.1f} GB{free} ({self.n_beads:,} beads, "
                f"{self.edges_per_window:,} graph edges per window x batch "
                f"{self.batch_size})")


def available_memory_bytes(devices: Sequence[str] = ("cpu",)) -> float | None:
    """Memory free now for one rank of a run on ``devices``: the machine's free memory
    shared by the CPU ranks (at most ``$CGVIZ_MAX_RUN_MEMORY_GB`` for the whole run), or
    the least free memory of the GPUs (None where it cannot tell)."""
    devices = list(devices) or ["cpu"]
    if all(d == "cpu" for d in devices):
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is a pinned requirement
            return None
        free = float(psutil.virtual_memory().available)
        cap = os.environ.get(RUN_MEMORY_VARIABLE, "").strip()
        if cap:
            try:
                free = min(free, float(cap) * 1e9)
            except ValueError:
                raise CgvizError(f"${RUN_MEMORY_VARIABLE} must be a number of GB, got "
                                 f"{cap!r}.", hint="e.g. 8 (the server's operator sets "
                                 "it).") from None
        return free / len(devices)
    try:
        import torch

        free = [torch.cuda.mem_get_info(int(d.split(":")[1]))[0]
                for d in devices if d.startswith("cuda:")]
    except (RuntimeError, ValueError, IndexError, AssertionError):
        return None
    return float(min(free)) if free else None


def count_edges(positions: np.ndarray, cutoff_nm: float, box: np.ndarray | None = None,
                groups: np.ndarray | None = None, bonds: np.ndarray | None = None) -> int:
    """Directed edges of a bead graph: ordered pairs within ``cutoff_nm`` (minimum image
    in an orthorhombic ``box``; only within the same ``groups`` entry when given), plus
    bonds farther apart than the cutoff."""
    from scipy.spatial import cKDTree

    x = np.asarray(positions, dtype=np.float64)
    if box is not None:
        box = np.asarray(box, dtype=np.float64)
        x = np.mod(x, box)
        tree = cKDTree(x, boxsize=box)
    else:
        tree = cKDTree(x)
    pairs = tree.query_pairs(float(cutoff_nm), output_type="ndarray")
    if groups is not None and len(pairs):
        pairs = pairs[groups[pairs[:, 0]] == groups[pairs[:, 1]]]
    n = 2 * len(pairs)
    if bonds is not None and len(bonds):
        near = {tuple(sorted(p)) for p in pairs.tolist()}
        n += 2 * sum(1 for i, j in np.asarray(bonds).tolist()
                     if (min(i, j), max(i, j)) not in near)
    return int(n)


def _edge_units(model) -> float:
    """Sum over the two edge networks of latent width x layers x MLP depth."""
    depth = 1 + model.mlp_hidden_layers
    dynamics_depth = 1 + (model.mlp_hidden_layers if model.dynamics_mlp_hidden_layers is None
                          else model.dynamics_mlp_hidden_layers)
    return float(model.dynamics_latent_size * model.dynamics_layers * dynamics_depth
                 + model.score_latent_size * model.score_layers * depth)


def estimate_training_memory(system, mapping, config, available_bytes: float | None = None,
                             devices: Sequence[str] = ("cpu",)) -> MemoryEstimate:
    """Estimated peak memory of training ``config`` on ``system`` mapped by ``mapping``.

    The largest graph a batch can hold is used: the whole system, or for independent
    molecules the largest molecule. ``available_bytes`` defaults to what ``devices`` have
    free now (:func:`available_memory_bytes`)."""
    model = config.model_config(tuple(sorted(set(mapping.atom_types))))
    history = int(model.history_length)
    traj = system.trajectories[0]
    beads = mapping.map_positions(traj.xyz[0],
                                  None if system.periodic or traj.unitcell_vectors is None
                                  else traj.unitcell_vectors[:1])
    box = None
    if system.periodic and traj.unitcell_lengths is not None:
        box = np.asarray(traj.unitcell_lengths[0], dtype=np.float64)
    molecules = mapping.bead_molecules if system.independent_molecules else None
    edges = count_edges(beads, float(model.cutoff_nm), box, molecules, mapping.bead_bonds)
    n_beads = mapping.n_beads
    if molecules is not None:
        # One window holds one molecule: the largest one sets the peak.
        sizes = np.bincount(molecules)
        share = sizes.max() / max(1, sizes.sum())
        edges = int(round(edges * share))
        n_beads = int(sizes.max())
    batch = int(config.batch_size)
    peak = (BASE_BYTES + batch * edges * _edge_units(model) * BYTES_PER_EDGE_UNIT
            + batch * n_beads * history * BYTES_PER_BEAD_FRAME)
    if available_bytes is None:
        available_bytes = available_memory_bytes(devices)
    return MemoryEstimate(n_beads, edges, batch, history, float(peak), available_bytes)


def check_training_memory(system, mapping, config, available_bytes: float | None = None,
                          devices: Sequence[str] = ("cpu",)) -> MemoryEstimate:
    """The estimate, or CgvizError when the run would not fit in the free memory."""
    estimate = estimate_training_memory(system, mapping, config, available_bytes, devices)
    if not estimate.fits:
        per_window = max(1.0, (estimate.peak_bytes - BASE_BYTES) / estimate.batch_size)
        room = USABLE_FRACTION * estimate.available_bytes - BASE_BYTES
        largest_batch = int(room // per_window)
        if largest_batch >= 1:
            change = (f"Use more atoms per bead (fewer beads and edges), a batch size of "
                      f"{largest_batch} or less (Batch size on the Training page, "
                      "--batch-size), or a selection of fewer atoms.")
        else:
            change = ("Use many more atoms per bead (even one history window of this mapping "
                      "does not fit) or a selection of fewer atoms.")
        raise CgvizError(
            f"This training would need {estimate.text()}: more than this machine (or the "
            "server's $CGVIZ_MAX_RUN_MEMORY_GB) can give it, so the run would be killed for "
            "lack of memory.",
            hint=f"{change} If you know better, switch the check off "
            "(--ignore-memory-estimate; memory_check: false in a config).")
    return estimate
