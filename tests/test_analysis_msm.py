"""cgviz.analysis.markov's MSM workflow on a chain whose time scales are known exactly.

Three states hop by a fixed transition matrix; each frame is its state's centre in 2-D
plus noise, so the CVs look like a real projection with metastable basins. The exact
implied time scales are ``-1 / ln lambda_i`` of that matrix (lag-independent, because the
chain is Markovian), so estimates, intervals and the CK test can be checked against them.
"""

from __future__ import annotations

import numpy as np
import pytest

from cgviz.analysis import compare_msms, estimate_msm
from cgviz.errors import CgvizError

MATRIX = np.array([[0.97, 0.03, 0.00], [0.02, 0.96, 0.02], [0.00, 0.03, 0.97]])
CENTRES = np.array([[0.0, 0.0], [3.0, 0.0], [6.0, 1.0]])
EXACT = -1.0 / np.log(np.sort(np.linalg.eigvals(MATRIX).real)[::-1][1:])  # frames: 32.8, 13.8


def chain(n_frames: int, seed: int, matrix: np.ndarray = MATRIX) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cumulative = matrix.cumsum(axis=1)
    draws = rng.random(n_frames)
    states = np.zeros(n_frames, dtype=int)
    for t in range(1, n_frames):
        states[t] = min(np.searchsorted(cumulative[states[t - 1]], draws[t]), 2)
    return CENTRES[states] + rng.normal(0.0, 0.3, (n_frames, 2))


@pytest.fixture(scope="module")
def markovian():
    return [chain(15_000, seed) for seed in range(3)]


@pytest.fixture(scope="module")
def msm(markovian):
    return estimate_msm(markovian, lagtime=5, n_clusters=12, dt=2.0, n_samples=30)


def test_time_scales_match_the_exact_ones_within_their_intervals(msm):
    value, lower, upper = msm.timescale(0)
    assert lower <= EXACT[0] * 2.0 <= upper  # ps: dt = 2 ps
    assert lower < value < upper and (upper - lower) / value < 0.3
    assert msm.timescales[1] == pytest.approx(EXACT[1], rel=0.15)
    # A Markovian chain: the curve is flat against lag, each lag's interval holds the truth.
    slowest = msm.its.timescales[:, 0]
    assert np.all(np.abs(slowest / EXACT[0] - 1) < 0.12)
    assert np.mean((msm.its.lower[:, 0] <= EXACT[0]) & (EXACT[0] <= msm.its.upper[:, 0])) >= 0.7
    assert msm.its.unit == "ps" and msm.its.scaled(np.array([1.0]))[0] == 2.0


def test_the_msm_is_a_reversible_stochastic_matrix_on_all_clusters(msm):
    matrix, pi = msm.transition_matrix, msm.stationary
    assert msm.active_fraction == pytest.approx(1.0) and len(msm.active_clusters) == 12
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-10)
    np.testing.assert_allclose(pi[:, None] * matrix, (pi[:, None] * matrix).T, atol=1e-10)
    assert [len(d) for d in msm.dtrajs] == [15_000] * 3 and msm.n_clusters == 12


def test_ck_test_passes_for_a_markovian_chain(msm):
    ck = msm.ck
    assert ck.n_sets == 2 and ck.lagtimes.tolist() == [0, 5, 10, 15, 20]
    assert ck.predicted.shape == ck.estimated.shape == (5, 2, 2)
    np.testing.assert_allclose(ck.predicted.sum(axis=2), 1.0, atol=1e-8)
    assert ck.max_deviation < 0.03 and ck.outside_fraction <= 0.1
    # The sets are metastable basins: each cluster of one basin falls in one set.
    basin = np.argmin(((msm.centers[:, None] - CENTRES[None]) ** 2).sum(-1), axis=1)
    for b in range(3):
        assert len(set(msm.metastable[basin == b])) == 1


def test_ck_test_fails_for_a_hidden_slow_switch():
    """States 0 and 2 share one place in the CVs, so the projection has memory: the
    prediction from lag 2 misses what is estimated at 8, 12, 16."""
    rng = np.random.default_rng(5)
    hidden = np.zeros(60_000, dtype=int)
    for t in range(1, len(hidden)):
        hidden[t] = hidden[t - 1] if rng.random() > 0.002 else 1 - hidden[t - 1]
    fast = (rng.random(len(hidden)) < 0.5).astype(int)
    place = np.where(hidden == 0, fast, 2 * fast)  # hidden 0: sites 0/1; hidden 1: 0/2
    cvs = np.array([[0.0], [2.0], [4.0]])[place] + rng.normal(0, 0.2, (len(hidden), 1))
    result = estimate_msm(cvs, lagtime=4, n_clusters=3, n_sets=2, n_samples=20)
    assert result.ck.outside_fraction > 0.3


def test_a_rollout_from_the_same_chain_is_within_its_interval_and_a_fast_one_is_not(markovian):
    same = compare_msms(markovian, [chain(15_000, 50 + s) for s in range(3)], lagtime=5,
                        n_clusters=12, n_samples=30, n_sets=None)
    assert same.ratio_lower < 1.0 < same.ratio_upper and same.factor < 1.15
    faster = MATRIX.copy()
    faster[[0, 2], [1, 1]], faster[[0, 2], [0, 2]] = 0.09, 0.91  # basin escape 3x faster
    fast = compare_msms(markovian, [chain(15_000, 70 + s, faster) for s in range(3)],
                        lagtime=5, n_clusters=12, n_samples=30, n_sets=None)
    assert fast.ratio_upper < 0.6 and fast.factor > 1.8
    np.testing.assert_array_equal(fast.model.centers, fast.reference.centers)


def test_assign_uses_the_nearest_centre(msm):
    labels = msm.assign(msm.centers[[3, 0, 7]] + 1e-6)
    assert labels[0].tolist() == [3, 0, 7]
    with pytest.raises(CgvizError, match="columns"):
        msm.assign(np.zeros((4, 3)))


@pytest.mark.parametrize("kwargs, message", [
    ({"lagtime": 8_000}, "longest trajectory"),
    ({"lagtime": 5, "n_clusters": 1}, "n_clusters"),
    ({"lagtime": 5, "n_sets": 40, "n_clusters": 12}, "metastable sets"),
    ({"lagtime": 0}, "lagtime"),
])
def test_impossible_settings_say_what_to_change(markovian, kwargs, message):
    with pytest.raises(CgvizError, match=message) as caught:
        estimate_msm(markovian[:1], n_samples=2, **kwargs)
    assert caught.value.hint or "must" in str(caught.value)


def test_too_many_clusters_for_the_distinct_values():
    with pytest.raises(CgvizError, match="distinct"):
        estimate_msm(np.repeat(np.eye(3), 100, axis=0), lagtime=1, n_clusters=5, n_samples=2)


def _beads(cvs: np.ndarray) -> np.ndarray:
    """Three beads whose pair distances carry the chain's CVs (nm)."""
    n = len(cvs)
    xyz = np.zeros((n, 3, 3))
    xyz[:, 1, 0] = 1.0 + 0.1 * cvs[:, 1]
    xyz[:, 2, 0] = 2.0 + 0.3 * cvs[:, 0]
    xyz[:, 2, 1] = 0.5
    return xyz


def test_rollout_msm_judges_bead_trajectories_on_the_md_states():
    from cgviz.simulator.compare import rollout_msm

    reference = _beads(chain(30_000, 1))
    same = rollout_msm(reference, _beads(chain(30_000, 2)), lag=5, dt_ps=10.0, n_samples=20)
    assert same.ratio_lower < 1.0 < same.ratio_upper
    assert same.reference.timescale(0)[0] == pytest.approx(EXACT[0] * 10.0, rel=0.15)
    faster = MATRIX.copy()
    faster[[0, 2], [1, 1]], faster[[0, 2], [0, 2]] = 0.09, 0.91
    fast = rollout_msm(reference, _beads(chain(30_000, 3, faster)), lag=5, dt_ps=10.0,
                       n_samples=20)
    assert fast.ratio_upper < 0.6
    with pytest.raises(CgvizError, match="beads"):
        rollout_msm(reference, reference[:, :2], lag=5, dt_ps=10.0)
