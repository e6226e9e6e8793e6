"""The evaluation's noise floor: the reference MD scored against itself."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from cgviz.simulator import evaluate


def dumbbells(n_frames: int, sizes, memories, seed: int = 0):
    """Two equal beads whose distance is an AR(1) process around ``size`` with coefficient
    ``memory`` per frame: mean Rg = size / 2, Rg^2 relaxation time grows with memory."""
    rng = np.random.default_rng(seed)
    systems = []
    for size, memory in zip(sizes, memories):
        d = np.empty(n_frames)
        d[0] = 0.0
        for t in range(1, n_frames):
            d[t] = memory * d[t - 1] + 0.05 * rng.normal()
        positions = np.zeros((n_frames, 2, 3))
        positions[:, 1, 0] = size + d
        systems.append(SimpleNamespace(positions=positions, bead_masses=np.ones(2),
                                       frame_time_ps=10.0))
    return systems


def test_long_reference_data_agree_with_themselves():
    sizes, memories = [1.0, 1.4, 1.8, 2.2, 2.6], [0.5, 0.8, 0.9, 0.95, 0.98]
    rg_r2, relaxation_r2 = evaluate.reference_split_scores(dumbbells(40_000, sizes, memories))
    assert rg_r2 > 0.99
    assert relaxation_r2 > 0.9


def test_short_data_of_alike_systems_cannot_rank_their_relaxation_times():
    # Same dynamics for every system: any across-system ranking in one half is noise, so
    # the other half does not reproduce it.
    systems = dumbbells(120, [1.0] * 8, [0.9] * 8, seed=3)
    _, relaxation_r2 = evaluate.reference_split_scores(systems)
    assert relaxation_r2 is not None and relaxation_r2 < 0.5
