"""cgviz.analysis.markov (TICA via deeptime) against a plain numpy TICA; import hygiene."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg

from cgviz.analysis import TICAResult, compute_implied_timescales, compute_tica
from cgviz.errors import CgvizError


def slow_features(n_frames: int, seed: int) -> np.ndarray:
    """Four AR(1) processes with different memories, linearly mixed into 5 features."""
    rng = np.random.default_rng(seed)
    coefficients = np.array([0.98, 0.9, 0.6, 0.2])
    latent = np.empty((n_frames, 4))
    latent[0] = rng.normal(size=4)
    noise = rng.normal(size=(n_frames, 4))
    for t in range(1, n_frames):
        latent[t] = coefficients * latent[t - 1] + noise[t]
    mixing = np.random.default_rng(99).normal(size=(4, 5))
    return latent @ mixing + 0.1 * rng.normal(size=(n_frames, 5)) + 3.0


def numpy_tica(trajectories: list[np.ndarray], lagtime: int):
    """Reversible TICA: symmetrised mean and covariances over the lagged pairs."""
    instantaneous = np.concatenate([t[:-lagtime] for t in trajectories])
    lagged = np.concatenate([t[lagtime:] for t in trajectories])
    mean = 0.5 * (instantaneous.mean(axis=0) + lagged.mean(axis=0))
    x, y = instantaneous - mean, lagged - mean
    n_pairs = x.shape[0]
    c0 = (x.T @ x + y.T @ y) / (2 * n_pairs)
    ct = (x.T @ y + y.T @ x) / (2 * n_pairs)
    eigenvalues, eigenvectors = scipy.linalg.eigh(ct, c0)  # v^T C0 v = 1
    order = np.argsort(np.abs(eigenvalues))[::-1]  # slowest first, as deeptime
    return mean, eigenvalues[order], eigenvectors[:, order]


def assert_equal_up_to_sign(actual: np.ndarray, expected: np.ndarray) -> None:
    for column in range(expected.shape[1]):
        sign = np.sign(actual[:, column] @ expected[:, column])
        np.testing.assert_allclose(
            sign * actual[:, column], expected[:, column], rtol=1e-7, atol=1e-8
        )


def test_tica_matches_numpy_generalised_eigenproblem():
    trajectories = [slow_features(3000, seed=30), slow_features(2000, seed=31)]
    lagtime = 5
    mean, eigenvalues, eigenvectors = numpy_tica(trajectories, lagtime)

    result = compute_tica(trajectories, lagtime=lagtime, dim=2, dt=2.5, scaling=None)
    assert isinstance(result, TICAResult)
    np.testing.assert_allclose(result.eigenvalues, eigenvalues, rtol=1e-8, atol=1e-10)
    assert result.eigenvalues[0] > 0.8  # the slow latent process (0.98 ** 5 = 0.90)
    expected_timescales = -lagtime / np.log(np.abs(eigenvalues))
    np.testing.assert_allclose(result.timescales_frames, expected_timescales, rtol=1e-7)
    np.testing.assert_allclose(result.timescales_ps, 2.5 * expected_timescales, rtol=1e-7)
    assert isinstance(result.projection, list) and len(result.projection) == 2
    for trajectory, projection in zip(trajectories, result.projection):
        assert projection.shape == (trajectory.shape[0], 2)
        assert_equal_up_to_sign(projection, (trajectory - mean) @ eigenvectors[:, :2])

    # Kinetic map (the default) scales each component by its eigenvalue.
    kinetic = compute_tica(trajectories, lagtime=lagtime, dim=3)
    assert kinetic.scaling == "kinetic_map" and kinetic.timescales_ps is None
    assert_equal_up_to_sign(
        kinetic.projection[0], (trajectories[0] - mean) @ (eigenvectors[:, :3] * eigenvalues[:3])
    )

    # Fit on one data set, project another (a rollout onto the reference TICA).
    other = slow_features(500, seed=32)
    assert_equal_up_to_sign(result.transform(other), (other - mean) @ eigenvectors[:, :2])
    assert len(result.transform([other, other[:10]])) == 2


def test_tica_single_array_and_implied_timescales():
    features = slow_features(4000, seed=33)
    single = compute_tica(features, lagtime=3, dim=1)
    assert isinstance(single.projection, np.ndarray) and single.projection.shape == (4000, 1)
    scan = compute_implied_timescales(features, lagtimes=[1, 3, 6], n_timescales=2, dt=0.5)
    assert scan.timescales_frames.shape == (3, 2)
    np.testing.assert_array_equal(scan.lagtimes, [1, 3, 6])
    for row, lag in enumerate([1, 3, 6]):
        _, eigenvalues, _ = numpy_tica([features], lag)
        np.testing.assert_allclose(scan.eigenvalues[row], eigenvalues[:2], rtol=1e-8)
        np.testing.assert_allclose(
            scan.timescales_frames[row], -lag / np.log(eigenvalues[:2]), rtol=1e-7
        )
    np.testing.assert_allclose(scan.timescales_ps, 0.5 * scan.timescales_frames)
    # A trajectory too short for the lag adds no pairs but is still projected.
    with_short = compute_tica([features, features[:2]], lagtime=3, dim=1)
    np.testing.assert_allclose(with_short.eigenvalues, single.eigenvalues, rtol=1e-12)
    assert with_short.projection[1].shape == (2, 1)
    # The slowest process has a memory of 0.98 per frame: about 49.5 frames.
    assert 35 < scan.timescales_frames[-1, 0] < 65


def test_tica_errors():
    features = slow_features(50, seed=34)
    with pytest.raises(CgvizError, match="lagtime"):
        compute_tica(features, lagtime=50)
    with pytest.raises(CgvizError, match="dim"):
        compute_tica(features, lagtime=2, dim=6)
    with pytest.raises(CgvizError, match="2-D"):
        compute_tica(features[:, 0], lagtime=2)
    with pytest.raises(CgvizError, match="NaN"):
        compute_tica(np.where(features > 10, np.nan, features), lagtime=2)
    with pytest.raises(CgvizError, match="constant"):
        compute_tica(np.ones((20, 3)), lagtime=2, dim=1)
    with pytest.raises(CgvizError, match="independent direction"):
        compute_tica(np.repeat(features[:, :1], 3, axis=1), lagtime=2, dim=2)
    with pytest.raises(CgvizError, match="columns"):
        compute_tica(features, lagtime=2).transform(features[:, :3])
    with pytest.raises(CgvizError, match="scaling"):
        compute_tica(features, lagtime=2, scaling="whatever")


def test_import_is_light():
    code = (
        "import sys, cgviz.analysis; "
        "heavy = [m for m in ('deeptime', 'torch', 'torch_geometric', 'lightning', "
        "'streamlit', 'plotly') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
