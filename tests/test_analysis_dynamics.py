"""cgviz.analysis.dynamics: autocorrelation and relaxation times."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cgviz.analysis import (
    compute_autocorrelation,
    compute_relaxation_time,
    compute_rg2_relaxation_time,
    compute_running_mean,
)
from cgviz.errors import CgvizError


def ar1(a: float, n_frames: int, seed: int, n_series: int | None = None) -> np.ndarray:
    """x_{t+1} = a x_t + noise, started from the stationary distribution."""
    rng = np.random.default_rng(seed)
    shape = (n_frames,) if n_series is None else (n_frames, n_series)
    noise = rng.normal(size=shape)
    x = np.empty(shape)
    x[0] = noise[0] / math.sqrt(1.0 - a * a)
    for t in range(1, n_frames):
        x[t] = a * x[t - 1] + noise[t]
    return x


def brute_force_acf(trajectories: list[np.ndarray], max_lag: int) -> np.ndarray:
    """Pooled-mean, per-lag-unbiased ACF of 1-D trajectories with plain loops."""
    all_values = np.concatenate(trajectories)
    mean = sum(all_values) / len(all_values)
    variance = sum((v - mean) ** 2 for v in all_values) / len(all_values)
    acf = []
    for lag in range(max_lag + 1):
        total, pairs = 0.0, 0
        for x in trajectories:
            for t in range(len(x) - lag):
                total += (x[t] - mean) * (x[t + lag] - mean)
                pairs += 1
        acf.append(total / pairs / variance)
    return np.array(acf)


def test_acf_of_ar1_is_a_to_the_lag():
    a = 0.8
    x = ar1(a, 200_000, seed=10)
    acf = compute_autocorrelation(x, max_lag=40)
    assert acf.shape == (41,)
    assert acf[0] == 1.0
    np.testing.assert_allclose(acf[:25], a ** np.arange(25), atol=0.02)


def test_acf_matches_brute_force_single_multi_column_and_pooled():
    rng = np.random.default_rng(11)
    x = rng.normal(size=60).cumsum()
    np.testing.assert_allclose(
        compute_autocorrelation(x, max_lag=59), brute_force_acf([x], 59), rtol=1e-10, atol=1e-12
    )
    # Default max_lag: every lag with at least one pair.
    assert compute_autocorrelation(x).shape == (60,)

    columns = rng.normal(size=(50, 3)).cumsum(axis=0)
    acf = compute_autocorrelation(columns, max_lag=20)
    assert acf.shape == (21, 3)
    for column in range(3):
        np.testing.assert_allclose(
            acf[:, column], brute_force_acf([columns[:, column]], 20), rtol=1e-10, atol=1e-12
        )

    # Independent trajectories of different lengths: per-lag sums and counts pooled,
    # lags longer than a short trajectory use only the longer ones.
    trajectories = [
        rng.normal(size=n).cumsum() + offset for n, offset in ((40, 0.0), (15, 3.0), (25, -1.0))
    ]
    pooled = compute_autocorrelation(trajectories, max_lag=30)
    np.testing.assert_allclose(pooled, brute_force_acf(trajectories, 30), rtol=1e-10, atol=1e-12)
    # Not the same as gluing the trajectories together.
    glued = compute_autocorrelation(np.concatenate(trajectories), max_lag=30)
    assert np.max(np.abs(glued - pooled)) > 1e-3

    two_d_list = compute_autocorrelation([columns[:30], columns[30:]], max_lag=10)
    np.testing.assert_allclose(
        two_d_list[:, 1], brute_force_acf([columns[:30, 1], columns[30:, 1]], 10), rtol=1e-10
    )


def test_relaxation_time_exact_on_synthetic_acfs():
    # Linear C(d) = 1 - d / 10: zero at d = 10, integral 5 frames; 1/e at 10 (1 - 1/e).
    linear = 1.0 - np.arange(16) / 10.0
    assert compute_relaxation_time(linear, dt=2.0) == pytest.approx(10.0, rel=1e-13)
    assert compute_relaxation_time(linear, dt=2.0, method="1/e") == pytest.approx(
        2.0 * 10.0 * (1.0 - math.exp(-1.0)), rel=1e-13
    )
    # Exponential samples a^d, d = 0..m, then a negative sample -b at d = m + 1:
    # trapezoid over 0..m plus the triangle up to the interpolated zero.
    a, m, b = 0.7, 12, 0.05
    acf = np.append(a ** np.arange(m + 1), -b)
    trapezoid = (1.0 - a ** (m + 1)) / (1.0 - a) - 0.5 * (1.0 + a**m)
    triangle = 0.5 * a**m * (a**m / (a**m + b))
    assert compute_relaxation_time(acf, dt=0.5) == pytest.approx(
        0.5 * (trapezoid + triangle), rel=1e-12
    )
    # 1/e of a^d by linear interpolation between the bracketing samples.
    k = math.floor(-1.0 / math.log(a)) + 1  # first sample at or below 1/e
    expected = (k - 1) + (a ** (k - 1) - math.exp(-1)) / (a ** (k - 1) - a**k)
    assert compute_relaxation_time(acf, dt=1.0, method="1/e") == pytest.approx(expected, rel=1e-12)
    # A 2-D ACF gives one time per column.
    # (second column: 1 then -1, zero crossing at d = 1/2, triangle area 1/4).
    drops_at_once = np.append(1.0, -np.ones(15))
    both = compute_relaxation_time(np.stack([linear, drops_at_once], axis=1), dt=1.0)
    np.testing.assert_allclose(both, [5.0, 0.25], rtol=1e-13)


def test_relaxation_time_of_ar1_against_closed_form():
    a = 0.9
    x = ar1(a, 400_000, seed=12)
    acf = compute_autocorrelation(x, max_lag=300)
    # Trapezoid of C(d) = a^d over all lags: sum a^d - 1/2 = 1 / (1 - a) - 1/2 (= 9.5);
    # the truncation at the first zero (where a^d is at the noise level) is small.
    expected_integral = 1.0 / (1.0 - a) - 0.5
    assert compute_relaxation_time(acf, dt=1.0) == pytest.approx(expected_integral, rel=0.05)
    # 1/e crossing of a^d: -1 / ln a (= 9.49), within interpolation and noise.
    assert compute_relaxation_time(acf, dt=3.0, method="1/e") == pytest.approx(
        -3.0 / math.log(a), rel=0.03
    )


def test_rg2_relaxation_time_is_the_acf_of_rg_squared():
    rg = 1.0 + 0.1 * np.abs(ar1(0.7, 5000, seed=14, n_series=2))
    single = compute_rg2_relaxation_time(rg[:, 0], dt=2.0)
    expected = compute_relaxation_time(compute_autocorrelation(rg[:, 0] ** 2), dt=2.0)
    assert single == expected
    per_chain = compute_rg2_relaxation_time(rg, dt=2.0, max_lag=100)
    assert per_chain.shape == (2,)
    assert per_chain[0] == pytest.approx(
        compute_relaxation_time(compute_autocorrelation(rg[:, 0] ** 2, max_lag=100), 2.0)
    )
    pooled = compute_rg2_relaxation_time([rg[:2500, 0], rg[2500:, 0]], dt=2.0, method="1/e")
    assert pooled == compute_relaxation_time(
        compute_autocorrelation([rg[:2500, 0] ** 2, rg[2500:, 0] ** 2]), 2.0, method="1/e"
    )


def test_dynamics_errors():
    x = np.arange(10.0)
    with pytest.raises(CgvizError, match="max_lag"):
        compute_autocorrelation(x, max_lag=10)
    with pytest.raises(CgvizError, match="max_lag"):
        compute_autocorrelation(x, max_lag=-1)
    with pytest.raises(CgvizError, match="max_lag"):
        compute_autocorrelation(x, max_lag=2.5)
    with pytest.raises(CgvizError, match="NaN"):
        compute_autocorrelation(np.array([1.0, np.nan, 2.0]))
    with pytest.raises(CgvizError, match="constant"):
        compute_autocorrelation(np.full(20, 3.3))
    with pytest.raises(CgvizError, match="at least 2 frames"):
        compute_autocorrelation(np.array([1.0]))
    with pytest.raises(CgvizError, match="1-D or 2-D"):
        compute_autocorrelation(np.zeros((4, 2, 2)))
    with pytest.raises(CgvizError, match="same number of columns"):
        compute_autocorrelation([np.zeros((5, 2)), np.zeros((5, 3))])
    # Never crosses zero: too short for the relaxation.
    slow = np.exp(-np.arange(20) / 100.0)
    with pytest.raises(CgvizError, match="too short"):
        compute_relaxation_time(slow, dt=1.0)
    with pytest.raises(CgvizError, match="too short"):
        compute_relaxation_time(slow, dt=1.0, method="1/e")
    with pytest.raises(CgvizError, match="normalised"):
        compute_relaxation_time(2.0 * slow, dt=1.0)
    with pytest.raises(CgvizError, match="method"):
        compute_relaxation_time(slow, dt=1.0, method="fit")
    with pytest.raises(CgvizError, match="dt"):
        compute_relaxation_time(slow, dt=0.0)


def test_running_mean_against_a_direct_average_and_its_errors():
    rng = np.random.default_rng(4)
    x = rng.normal(size=57)
    for window in (1, 2, 5, 10, 57):
        direct = [x[max(i - window // 2, 0): i + (window - 1) // 2 + 1].mean()
                  for i in range(len(x))]
        np.testing.assert_allclose(compute_running_mean(x, window), direct, rtol=1e-12)
    # a slow sine under fast noise: the running mean recovers the sine
    t = np.arange(20_000)
    slow = np.sin(2 * np.pi * t / 5000)
    noisy = slow + rng.normal(scale=1.0, size=t.size)
    assert np.abs(compute_running_mean(noisy, 200) - slow)[200:-200].max() < 0.35
    assert np.abs(noisy - slow).max() > 3
    with pytest.raises(CgvizError, match="window"):
        compute_running_mean(x, 0)
    with pytest.raises(CgvizError, match="window"):
        compute_running_mean(x, 58)
    with pytest.raises(CgvizError, match="series"):
        compute_running_mean(np.ones((5, 2)), 2)
    with pytest.raises(CgvizError):
        compute_running_mean([1.0, np.nan, 2.0], 2)
