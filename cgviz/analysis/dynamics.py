"""Dynamics: normalised autocorrelation functions and relaxation times.

The autocorrelation of a series x is (docs/science.md 1.5)

    C(d) = <dx(t) dx(t + d)> / <dx^2>,     dx = x - <x>,

where ``<dx(t) dx(t + d)>`` averages over the ``n_frames - d`` overlapping pairs
(unbiased per lag) and ``<x>``, ``<dx^2>`` average over all frames, so ``C(0) = 1``.
For several independent trajectories the per-lag sums and pair counts are added over
the trajectories (no pair spans two trajectories) and the mean and variance are pooled.

A centred running mean (:func:`compute_running_mean`) shows the slow trend of a series
whose frame-to-frame fluctuations would otherwise fill a plot.

The relaxation time cgviz reports is the integral of C from 0 to its first zero
crossing (``method="integral"``); the 1/e crossing is available too. When C never
reaches the crossing inside the available lags, a :class:`CgvizError` is raised rather
than returning a truncated number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cgviz.analysis._checks import as_finite, as_positive, as_trajectories, shape_text
from cgviz.errors import CgvizError

__all__ = [
    "compute_autocorrelation",
    "compute_relaxation_time",
    "compute_rg2_relaxation_time",
    "compute_running_mean",
    "RELAXATION_METHODS",
]

RELAXATION_METHODS = ("integral", "1/e")


def compute_autocorrelation(x: Any, max_lag: int | None = None) -> np.ndarray:
    """Normalised autocorrelation ``C(d)`` for lags ``d = 0 .. max_lag`` (FFT based).

    Parameters
    ----------
    x : (n_frames,) or (n_frames, n_series) array, or a list/tuple of such arrays
        A list is a set of independent trajectories of the same series (lengths may
        differ; all need the same number of columns). Frames must be equally spaced.
    max_lag : int, optional
        Largest lag in frames; must be below the length of the longest trajectory.
        Default: every lag with at least one pair (longest length - 1). Lags close to
        the trajectory length rest on few pairs and are noisy.

    Returns
    -------
    acf : (max_lag + 1,) or (max_lag + 1, n_series) float64 array, ``acf[0] == 1``
        Lags are in frames; multiply ``np.arange(max_lag + 1)`` by the frame interval
        for ps.
    """
    trajectories, _ = as_trajectories(x, "x", ndim=(1, 2))
    is_one_dimensional = trajectories[0].ndim == 1
    trajectories = [t.reshape(t.shape[0], -1) for t in trajectories]
    lengths = [t.shape[0] for t in trajectories]
    longest = max(lengths)
    if longest < 2:
        raise CgvizError(
            f"An autocorrelation needs at least 2 frames; the longest trajectory has "
            f"{longest}.",
            hint="Pass a longer trajectory.",
        )
    if max_lag is None:
        max_lag = longest - 1
    if isinstance(max_lag, (bool, np.bool_)) or not isinstance(max_lag, (int, np.integer)):
        raise CgvizError(f"max_lag must be an integer number of frames, got {max_lag!r}.")
    if max_lag < 0 or max_lag >= longest:
        raise CgvizError(
            f"max_lag = {max_lag} frames, but the longest trajectory has {longest} frames.",
            hint=f"Choose 0 <= max_lag <= {longest - 1} (at most about half the "
            "trajectory for a reliable estimate), or pass a longer trajectory.",
        )
    max_lag = int(max_lag)

    n_total = sum(lengths)
    mean = sum(t.sum(axis=0) for t in trajectories) / n_total
    lag_sums = np.zeros((max_lag + 1, trajectories[0].shape[1]))
    pair_counts = np.zeros(max_lag + 1)
    for trajectory, n_frames in zip(trajectories, lengths):
        fluctuation = trajectory - mean
        n_lags_here = min(max_lag + 1, n_frames)
        n_fft = 1 << (2 * n_frames - 1).bit_length()
        spectrum = np.fft.rfft(fluctuation, n=n_fft, axis=0)
        correlation = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=n_fft, axis=0)
        lag_sums[:n_lags_here] += correlation[:n_lags_here]
        pair_counts[:n_lags_here] += n_frames - np.arange(n_lags_here)

    variance = lag_sums[0] / n_total
    if np.any(variance <= 1e-300) or np.any(
        variance <= 1e-24 * np.maximum(mean * mean, 1e-300)
    ):
        raise CgvizError(
            "x is constant (zero variance), so its autocorrelation is undefined.",
            hint="Check that the observable changes over the trajectory.",
        )
    acf = lag_sums / pair_counts[:, None] / variance
    acf[0] = 1.0
    return acf[:, 0] if is_one_dimensional else acf


def _integral_to_first_zero(acf: np.ndarray) -> float | None:
    """Trapezoid integral of acf (in frames) up to the interpolated first zero crossing."""
    non_positive = np.nonzero(acf[1:] <= 0.0)[0]
    if non_positive.size == 0:
        return None
    first = int(non_positive[0]) + 1  # acf[first] <= 0 < acf[first - 1]
    area = np.sum(0.5 * (acf[: first - 1] + acf[1:first]))
    before, after = acf[first - 1], acf[first]
    fraction = before / (before - after)
    return float(area + 0.5 * before * fraction)


def _one_over_e_crossing(acf: np.ndarray) -> float | None:
    """Lag (frames, linearly interpolated) where acf first drops to 1/e."""
    level = np.exp(-1.0)
    below = np.nonzero(acf[1:] <= level)[0]
    if below.size == 0:
        return None
    first = int(below[0]) + 1
    before, after = acf[first - 1], acf[first]
    return float(first - 1 + (before - level) / (before - after))


def compute_relaxation_time(
    acf: Any, dt: float, method: str = "integral"
) -> float | np.ndarray:
    """Relaxation time of a normalised autocorrelation function.

    Methods
    -------
    ``"integral"`` (default, the number cgviz reports)
        Trapezoid integral of C over lags from 0 to its first zero crossing, the
        crossing itself located by linear interpolation between the last positive and
        the first non-positive sample.
    ``"1/e"``
        The lag at which C first drops to 1/e, linearly interpolated.

    If C does not reach zero (or 1/e) within the given lags, a CgvizError is raised:
    the trajectory is too short for the relaxation, and a truncated integral would
    silently underestimate it.

    Parameters
    ----------
    acf : (n_lags,) or (n_lags, n_series) array
        From :func:`compute_autocorrelation`: lags 0, 1, 2, ... frames, ``acf[0] == 1``.
    dt : float, ps
        Time between frames.
    method : "integral" or "1/e"

    Returns
    -------
    relaxation_time : float, ps (or (n_series,) float64 array for 2-D ``acf``)
    """
    values = as_finite(acf, "acf")
    dt = as_positive(dt, "dt", "ps")
    if method not in RELAXATION_METHODS:
        raise CgvizError(
            f"Unknown relaxation-time method {method!r}.",
            hint=f"Use one of {', '.join(repr(m) for m in RELAXATION_METHODS)}.",
        )
    if values.ndim not in (1, 2) or values.shape[0] < 2:
        raise CgvizError(
            f"acf must have shape (n_lags,) or (n_lags, n_series) with n_lags >= 2, got "
            f"{shape_text(values)}.",
            hint="Pass the output of compute_autocorrelation.",
        )
    columns = values.reshape(values.shape[0], -1)
    if not np.allclose(columns[0], 1.0, rtol=0, atol=1e-6):
        raise CgvizError(
            "acf[0] must be 1 (a normalised autocorrelation).",
            hint="Pass the output of compute_autocorrelation, or divide by acf[0].",
        )
    estimator = _integral_to_first_zero if method == "integral" else _one_over_e_crossing
    target = "zero" if method == "integral" else "1/e"
    times = np.empty(columns.shape[1])
    for column in range(columns.shape[1]):
        in_frames = estimator(columns[:, column])
        if in_frames is None:
            where = f" (series {column})" if values.ndim == 2 else ""
            raise CgvizError(
                f"The autocorrelation{where} never drops to {target} within "
                f"{columns.shape[0] - 1} lags: the trajectory is too short relative to "
                "the relaxation, so no relaxation time can be given.",
                hint="Use a longer trajectory (many times the relaxation time), a larger "
                "max_lag, or more independent trajectories.",
            )
        times[column] = in_frames * dt
    return float(times[0]) if values.ndim == 1 else times


def compute_rg2_relaxation_time(
    rg: Any, dt: float, method: str = "integral", max_lag: int | None = None
) -> float | np.ndarray:
    """Relaxation time of the autocorrelation of Rg^2 (docs/science.md 1.5).

    Parameters
    ----------
    rg : (n_frames,) or (n_frames, n_molecules) array, nm, or a list of such arrays
        Radius of gyration per frame (e.g. from compute_rg or compute_rg_per_molecule).
        Columns are treated separately; a list is pooled as independent trajectories.
    dt : float, ps, time between frames
    method : "integral" (default) or "1/e", see :func:`compute_relaxation_time`
    max_lag : int, optional, see :func:`compute_autocorrelation`

    Returns
    -------
    relaxation_time : float, ps (or (n_molecules,) array for 2-D input)
    """
    trajectories, was_list = as_trajectories(rg, "rg", ndim=(1, 2))
    squared = [t * t for t in trajectories]
    acf = compute_autocorrelation(squared if was_list else squared[0], max_lag=max_lag)
    return compute_relaxation_time(acf, dt, method=method)


def compute_running_mean(x: Any, window: int) -> np.ndarray:
    """Centred running mean of a series over ``window`` frames, same length as ``x``.

    Frame i averages frames ``i - window // 2`` to ``i + (window - 1) // 2``; near either
    end the window holds the frames that exist (so the ends are averaged over fewer
    frames, not padded). ``window`` 1 returns a copy of ``x``.

    x : (n_frames,) array. window : int >= 1 (at most n_frames).
    """
    values = as_finite(x, "x")
    if values.ndim != 1 or len(values) == 0:
        raise CgvizError(f"x must be a non-empty (n_frames,) series, got {shape_text(values)}",
                         hint="Pass one series; call again per column.")
    window = int(window)
    if not 1 <= window <= len(values):
        raise CgvizError(f"window must be between 1 and the {len(values)} frames, got {window}",
                         hint="Choose a window shorter than the series.")
    sums = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(len(values))
    low = np.maximum(index - window // 2, 0)
    high = np.minimum(index + (window - 1) // 2 + 1, len(values))
    return (sums[high] - sums[low]) / (high - low)
