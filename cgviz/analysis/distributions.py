"""Histograms on shared bins and the Jensen-Shannon divergence between them.

Used to compare a learned simulator with reference MD (docs/science.md 1.5): bond-length and
bond-angle distributions in 1-D, TICA projections in 2-D.

The Jensen-Shannon divergence uses the natural logarithm, so it lies in [0, ln 2]
(0 for identical distributions, ln 2 ~ 0.693 for disjoint ones). No smoothing epsilon is
needed or applied: with ``m = (p + q) / 2``, ``m > 0`` wherever ``p > 0`` or ``q > 0``,
and empty bins contribute ``0 log 0 = 0``. The value is therefore exact for the given
histograms; it still depends on the binning, so compare numbers computed with the same
``bins`` and ``range``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cgviz.analysis._checks import (
    as_finite,
    as_trajectories,
    is_trajectory_list,
    shape_text,
)
from cgviz.errors import CgvizError

__all__ = [
    "HistogramPair",
    "histogram_pair",
    "jensen_shannon_divergence",
    "distribution_js",
    "histogram_2d_js",
    "shared_range",
]


@dataclass(frozen=True)
class HistogramPair:
    """Two histograms on the same bins.

    Attributes
    ----------
    edges : (n_bins + 1,) bin edges, in the units of the samples
    counts_a, counts_b : (n_bins,) number of samples of a and b in each bin
    """

    edges: np.ndarray
    counts_a: np.ndarray
    counts_b: np.ndarray

    @property
    def centers(self) -> np.ndarray:
        """(n_bins,) bin centres."""
        return 0.5 * (self.edges[:-1] + self.edges[1:])

    @property
    def probabilities_a(self) -> np.ndarray:
        """(n_bins,) fraction of a's in-range samples per bin (sums to 1)."""
        return self.counts_a / self.counts_a.sum()

    @property
    def probabilities_b(self) -> np.ndarray:
        """(n_bins,) fraction of b's in-range samples per bin (sums to 1)."""
        return self.counts_b / self.counts_b.sum()

    @property
    def densities_a(self) -> np.ndarray:
        """(n_bins,) probability density of a (integrates to 1), 1 / sample units."""
        return self.probabilities_a / np.diff(self.edges)

    @property
    def densities_b(self) -> np.ndarray:
        """(n_bins,) probability density of b (integrates to 1), 1 / sample units."""
        return self.probabilities_b / np.diff(self.edges)

    def jensen_shannon(self) -> float:
        """Jensen-Shannon divergence (natural log) between the two histograms."""
        return jensen_shannon_divergence(self.counts_a, self.counts_b)


def shared_range(*sample_sets: np.ndarray) -> tuple[float, float]:
    """(min, max) over all the finite sample sets; widened by 0.5 when they coincide."""
    low = min(float(np.min(samples)) for samples in sample_sets)
    high = max(float(np.max(samples)) for samples in sample_sets)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return low, high


def _check_range(value: Any, name: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise CgvizError(f"{name} must be a pair (low, high), got {value!r}.") from None
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        raise CgvizError(f"{name} must satisfy low < high (finite), got {value!r}.")
    return low, high


def _check_bins(bins: Any) -> int:
    if isinstance(bins, (bool, np.bool_)) or not isinstance(bins, (int, np.integer)):
        raise CgvizError(f"bins must be a positive integer, got {bins!r}.")
    if bins < 1:
        raise CgvizError(f"bins must be a positive integer, got {bins}.")
    return int(bins)


def _samples(values: Any, name: str) -> np.ndarray:
    """All samples of a set (array, any shape, or list of arrays) as a flat array."""
    if is_trajectory_list(values):
        arrays = [as_finite(item, f"{name}[{i}]") for i, item in enumerate(values)]
    else:
        arrays = [as_finite(values, name)]
    flat = np.concatenate([array.ravel() for array in arrays])
    if flat.size == 0:
        raise CgvizError(f"{name} has no samples.", hint="Pass at least one value.")
    return flat


def histogram_pair(
    a: Any, b: Any, bins: int = 50, range: tuple[float, float] | None = None
) -> HistogramPair:
    """Histogram two sample sets on the same equal-width bins.

    Parameters
    ----------
    a, b : arrays of any shape (flattened), or lists of arrays (concatenated)
        E.g. bond lengths (n_frames, n_bonds) of reference MD and of a rollout.
    bins : int, number of bins
    range : (low, high), optional
        Default: the joint min..max of a and b. Samples outside are ignored.

    Returns
    -------
    HistogramPair with edges (n_bins + 1,) and counts_a, counts_b (n_bins,)
    """
    samples_a, samples_b = _samples(a, "a"), _samples(b, "b")
    n_bins = _check_bins(bins)
    limits = shared_range(samples_a, samples_b) if range is None else _check_range(
        range, "range"
    )
    edges = np.linspace(limits[0], limits[1], n_bins + 1)
    counts_a = np.histogram(samples_a, bins=edges)[0].astype(np.float64)
    counts_b = np.histogram(samples_b, bins=edges)[0].astype(np.float64)
    for name, counts in (("a", counts_a), ("b", counts_b)):
        if counts.sum() == 0:
            raise CgvizError(
                f"No sample of {name} falls inside the range {limits}.",
                hint="Widen range or leave it out to use the data's own range.",
            )
    return HistogramPair(edges=edges, counts_a=counts_a, counts_b=counts_b)


def jensen_shannon_divergence(p: Any, q: Any) -> float:
    """Jensen-Shannon divergence between two histograms, natural log.

    ``JS = KL(p || m) / 2 + KL(q || m) / 2`` with ``m = (p + q) / 2``, after normalising
    p and q to sum 1 (so counts may be passed). Symmetric, 0 for identical and ln 2 for
    disjoint histograms. No smoothing: empty bins contribute exactly 0. Computed by
    ``scipy.spatial.distance.jensenshannon`` (which returns its square root).

    Parameters
    ----------
    p, q : arrays of the same shape (any number of dimensions), non-negative

    Returns
    -------
    js : float in [0, ln 2], nats
    """
    p_values, q_values = as_finite(p, "p"), as_finite(q, "q")
    if p_values.shape != q_values.shape:
        raise CgvizError(
            f"p and q must have the same shape, got {shape_text(p_values)} and "
            f"{shape_text(q_values)}.",
            hint="Histogram both on the same bins (histogram_pair does this).",
        )
    for name, values in (("p", p_values), ("q", q_values)):
        if np.any(values < 0):
            raise CgvizError(f"{name} has negative entries; a histogram cannot.")
        if values.sum() <= 0:
            raise CgvizError(
                f"{name} is empty (sums to 0).", hint="It needs at least one count."
            )
    from scipy.spatial.distance import jensenshannon

    # scipy gives the JS distance (the square root of the divergence), natural log.
    distance = jensenshannon(p_values.ravel(), q_values.ravel())
    divergence = float(distance) ** 2
    return float(min(max(divergence, 0.0), np.log(2.0)))


def distribution_js(
    reference_samples: Any,
    model_samples: Any,
    bins: int = 50,
    range: tuple[float, float] | None = None,
) -> float:
    """JS divergence (nats) between two 1-D sample distributions on shared bins.

    See :func:`histogram_pair` for the inputs (flattened; default range the joint
    min..max) and :func:`jensen_shannon_divergence` for the measure.
    """
    return histogram_pair(reference_samples, model_samples, bins, range).jensen_shannon()


def _points_2d(values: Any, name: str) -> np.ndarray:
    arrays, _ = as_trajectories(values, name, ndim=(2,))
    points = np.concatenate(arrays, axis=0)
    if points.shape[1] != 2 or points.shape[0] == 0:
        raise CgvizError(
            f"{name} must have shape (n_samples, 2) with n_samples >= 1, got "
            f"{shape_text(points)}.",
            hint="Pass two columns, e.g. the first two TICA components.",
        )
    return points


def histogram_2d_js(
    ref_xy: Any,
    model_xy: Any,
    bins: int = 50,
    range: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> float:
    """JS divergence (nats) between two 2-D sample distributions on a shared grid.

    For comparing, e.g., the TICA projections of a rollout and of reference MD (both
    projected with the model fitted on the reference).

    Parameters
    ----------
    ref_xy, model_xy : (n_samples, 2) arrays, or lists of such arrays (concatenated)
    bins : int, bins per axis
    range : ((x_low, x_high), (y_low, y_high)), optional
        Default: the joint min..max of both sets, per axis. Samples outside are ignored.

    Returns
    -------
    js : float in [0, ln 2], nats
    """
    reference, model = _points_2d(ref_xy, "ref_xy"), _points_2d(model_xy, "model_xy")
    n_bins = _check_bins(bins)
    if range is None:
        limits = [shared_range(reference[:, axis], model[:, axis]) for axis in (0, 1)]
    else:
        if len(range) != 2:
            raise CgvizError(
                "range must be ((x_low, x_high), (y_low, y_high)).", hint=f"Got {range!r}."
            )
        limits = [_check_range(range[axis], f"range[{axis}]") for axis in (0, 1)]
    edges = [np.linspace(low, high, n_bins + 1) for low, high in limits]
    counts_reference = np.histogram2d(reference[:, 0], reference[:, 1], bins=edges)[0]
    counts_model = np.histogram2d(model[:, 0], model[:, 1], bins=edges)[0]
    for name, counts in (("ref_xy", counts_reference), ("model_xy", counts_model)):
        if counts.sum() == 0:
            raise CgvizError(
                f"No sample of {name} falls inside the range.",
                hint="Widen range or leave it out to use the data's own range.",
            )
    return jensen_shannon_divergence(counts_reference, counts_model)
