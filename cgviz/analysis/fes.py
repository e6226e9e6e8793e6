"""Two-dimensional free energy surfaces ``F = -kT ln p`` from samples of two variables.

Units: with ``temperature_K`` (default 300 K) the free energy is in kJ/mol, using
``kT = k_B T`` with k_B = 0.0083144626 kJ/(mol K) (kT = 2.494 kJ/mol at 300 K); with
``temperature_K=None`` it is in units of kT (dimensionless). The minimum is shifted to 0.
Empty bins hold NaN (not +inf): plots leave them blank and ``np.nanmax`` works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cgviz.analysis._checks import as_finite, shape_text
from cgviz.analysis.distributions import shared_range
from cgviz.errors import CgvizError

__all__ = ["BOLTZMANN_KJ_PER_MOL_K", "FreeEnergySurface", "compute_free_energy_surface",
           "compute_ramachandran_surface"]

BOLTZMANN_KJ_PER_MOL_K = 0.0083144626


@dataclass(frozen=True)
class FreeEnergySurface:
    """A 2-D free energy surface on a regular grid.

    Attributes
    ----------
    x_edges : (n_bins_x + 1,) bin edges along x, in the units of x
    y_edges : (n_bins_y + 1,) bin edges along y, in the units of y
    free_energy : (n_bins_x, n_bins_y) array; ``free_energy[i, j]`` is x bin i, y bin j
        (transpose it for plotly's ``Heatmap(z=...)``, whose rows are y). Minimum 0,
        NaN where no sample fell.
    probability : (n_bins_x, n_bins_y) array, fraction of the (weighted) samples per bin
    kT : float, the thermal energy used, in ``units``
    units : "kJ/mol" or "kT"
    """

    x_edges: np.ndarray
    y_edges: np.ndarray
    free_energy: np.ndarray
    probability: np.ndarray
    kT: float
    units: str

    @property
    def x_centers(self) -> np.ndarray:
        """(n_bins_x,) bin centres along x."""
        return 0.5 * (self.x_edges[:-1] + self.x_edges[1:])

    @property
    def y_centers(self) -> np.ndarray:
        """(n_bins_y,) bin centres along y."""
        return 0.5 * (self.y_edges[:-1] + self.y_edges[1:])


def _bins_per_axis(bins: Any) -> tuple[int, int]:
    values = (bins, bins) if np.ndim(bins) == 0 else tuple(bins)
    if len(values) != 2 or any(
        isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1
        for v in values
    ):
        raise CgvizError(
            f"bins must be a positive integer or a pair of them, got {bins!r}."
        )
    return int(values[0]), int(values[1])


def compute_free_energy_surface(
    x: Any,
    y: Any,
    bins: int | tuple[int, int] = 50,
    range: tuple[tuple[float, float], tuple[float, float]] | None = None,
    temperature_K: float | None = 300.0,
    weights: Any = None,
) -> FreeEnergySurface:
    """Free energy ``F = -kT ln(p / p_max)`` of a 2-D histogram of (x, y) samples.

    Parameters
    ----------
    x, y : (n_samples,) arrays, e.g. two TICA or MEMnets components (concatenate
        several trajectories first)
    bins : int or (n_bins_x, n_bins_y)
    range : ((x_low, x_high), (y_low, y_high)), optional
        Default: the data's min..max per axis. Samples outside are ignored. Pass the
        same range to compare two surfaces bin by bin.
    temperature_K : float or None
        Temperature in K; F in kJ/mol. None: F in units of kT.
    weights : (n_samples,) non-negative array, optional (e.g. reweighting factors)

    Returns
    -------
    FreeEnergySurface (free_energy has shape (n_bins_x, n_bins_y); min 0, NaN if empty)
    """
    x_values, y_values = as_finite(x, "x"), as_finite(y, "y")
    if x_values.ndim != 1 or y_values.ndim != 1 or x_values.shape != y_values.shape:
        raise CgvizError(
            f"x and y must be 1-D arrays of the same length, got {shape_text(x_values)} "
            f"and {shape_text(y_values)}.",
            hint="Pass one value per sample; concatenate several trajectories first.",
        )
    if x_values.size == 0:
        raise CgvizError("x and y are empty.", hint="Pass at least one sample.")
    sample_weights = None
    if weights is not None:
        sample_weights = as_finite(weights, "weights")
        if sample_weights.shape != x_values.shape:
            raise CgvizError(
                f"weights must have shape {shape_text(x_values)} like x, got "
                f"{shape_text(sample_weights)}."
            )
        if np.any(sample_weights < 0):
            raise CgvizError("weights must be non-negative.")
    n_bins = _bins_per_axis(bins)
    if range is None:
        limits = [shared_range(x_values), shared_range(y_values)]
    else:
        try:
            limits = [(float(low), float(high)) for low, high in range]
        except (TypeError, ValueError):
            raise CgvizError(
                f"range must be ((x_low, x_high), (y_low, y_high)), got {range!r}."
            ) from None
        if len(limits) != 2 or not all(
            np.isfinite(low) and np.isfinite(high) and high > low for low, high in limits
        ):
            raise CgvizError(
                f"range must be ((x_low, x_high), (y_low, y_high)) with low < high, got "
                f"{range!r}."
            )
    if temperature_K is None:
        kT, units = 1.0, "kT"
    else:
        temperature = float(temperature_K)
        if not np.isfinite(temperature) or temperature <= 0:
            raise CgvizError(f"temperature_K must be positive, got {temperature_K!r}.")
        kT, units = BOLTZMANN_KJ_PER_MOL_K * temperature, "kJ/mol"

    x_edges = np.linspace(limits[0][0], limits[0][1], n_bins[0] + 1)
    y_edges = np.linspace(limits[1][0], limits[1][1], n_bins[1] + 1)
    counts = np.histogram2d(
        x_values, y_values, bins=[x_edges, y_edges], weights=sample_weights
    )[0]
    total = counts.sum()
    if total <= 0:
        raise CgvizError(
            "No (weighted) sample falls inside the range.",
            hint="Widen range or leave it out; check that weights are not all zero.",
        )
    probability = counts / total
    free_energy = np.full(counts.shape, np.nan)
    occupied = counts > 0
    free_energy[occupied] = kT * np.log(probability.max() / probability[occupied])
    return FreeEnergySurface(
        x_edges=x_edges,
        y_edges=y_edges,
        free_energy=free_energy,
        probability=probability,
        kT=kT,
        units=units,
    )


def compute_ramachandran_surface(phi: Any, psi: Any, bins: int = 72) -> FreeEnergySurface:
    """The free energy over backbone dihedrals: ``phi``, ``psi`` in radians (any shape, all
    samples pooled), the surface over [-180, 180] degrees on both axes, kJ/mol at 300 K."""
    return compute_free_energy_surface(
        np.degrees(np.ravel(phi)), np.degrees(np.ravel(psi)), bins=bins,
        range=((-180.0, 180.0), (-180.0, 180.0)))
