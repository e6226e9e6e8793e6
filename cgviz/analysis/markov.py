"""Markovian baselines: TICA (via deeptime) and its implied time scales.

deeptime is imported inside the functions, never at module import (it takes seconds).

TICA here is deeptime's: time-lagged pairs ``(x_t, x_{t+lag})`` from every trajectory
(no pair spans two trajectories), the mean and covariances symmetrised for reversibility
(``C0 = (C00 + Ctt) / 2``, ``C1 = (C0t + Ct0) / 2``, normalised by the number of pairs),
then the generalised eigenproblem ``C1 v = lambda C0 v`` with ``v^T C0 v = 1`` and the
eigenvalues sorted by decreasing ``|lambda|`` (deeptime's order, so the components go
from slowest to fastest implied time scale ``-lag / ln|lambda|``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from cgviz.analysis._checks import as_count, as_positive, as_trajectories
from cgviz.errors import CgvizError

__all__ = ["TICAResult", "compute_tica", "ImpliedTimescales", "compute_implied_timescales"]

TICA_SCALINGS = ("kinetic_map", "commute_map", None)


def _implied_timescales(eigenvalues: np.ndarray, lagtime: int) -> np.ndarray:
    """``-lag / ln|lambda|`` in frames; +inf where ``|lambda| >= 1``, 0 where it is 0."""
    magnitude = np.abs(eigenvalues)
    timescales = np.full(magnitude.shape, np.inf)
    below_one = magnitude < 1.0
    with np.errstate(divide="ignore"):
        timescales[below_one] = -lagtime / np.log(magnitude[below_one])
    return timescales


@dataclass(frozen=True)
class TICAResult:
    """A fitted TICA and the projection of the data it was fitted on.

    Attributes
    ----------
    projection : (n_frames, dim) array, or a list of them when a list was fitted
    eigenvalues : (n_components,) TICA eigenvalues at ``lagtime``, by decreasing |lambda|
        (n_components = the numerical rank of the features, all of them, not only dim)
    timescales_frames : (n_components,) implied time scales ``-lagtime / ln|lambda|``,
        frames (+inf where ``|lambda| >= 1``)
    timescales_ps : (n_components,) the same in ps, or None when no ``dt`` was given
    lagtime : int, frames
    dim : int, number of projected components
    scaling : the deeptime scaling of the components ("kinetic_map", "commute_map", None)
    model : the fitted ``deeptime.decomposition.CovarianceKoopmanModel``
    """

    projection: np.ndarray | list[np.ndarray]
    eigenvalues: np.ndarray
    timescales_frames: np.ndarray
    timescales_ps: np.ndarray | None
    lagtime: int
    dim: int
    scaling: str | None
    model: Any

    def transform(self, features: Any) -> np.ndarray | list[np.ndarray]:
        """Project other features with this fit (e.g. a rollout onto the reference TICA).

        Parameters
        ----------
        features : (n_frames, n_features) array or a list of them; the same features,
            in the same order, as the data this TICA was fitted on.

        Returns
        -------
        (n_frames, dim) array, or a list of them for a list input
        """
        trajectories, was_list = as_trajectories(features, "features", ndim=(2,))
        n_features = self.model.mean_0.shape[0]
        if trajectories[0].shape[1] != n_features:
            raise CgvizError(
                f"features have {trajectories[0].shape[1]} columns, but this TICA was "
                f"fitted on {n_features}.",
                hint="Compute the same features (same pairs, same order) as for the fit.",
            )
        projections = [self.model.transform(t)[:, : self.dim] for t in trajectories]
        return projections if was_list else projections[0]


def _validated_features(features: Any) -> tuple[list[np.ndarray], bool]:
    trajectories, was_list = as_trajectories(features, "features", ndim=(2,))
    if trajectories[0].shape[1] == 0:
        raise CgvizError("features have no columns.", hint="Pass at least one feature.")
    return trajectories, was_list


def _fit_tica(
    trajectories: list[np.ndarray],
    lagtime: int,
    dim: int | None,
    scaling: str | None,
    epsilon: float,
) -> Any:
    usable = [t for t in trajectories if t.shape[0] > lagtime]
    if not usable:
        longest = max(t.shape[0] for t in trajectories)
        raise CgvizError(
            f"lagtime = {lagtime} frames, but the longest trajectory has only {longest} "
            "frames, so there is no time-lagged pair.",
            hint=f"Choose a lagtime below {longest} (much below, for a good estimate), or "
            "pass longer trajectories.",
        )
    from deeptime.decomposition import TICA
    from deeptime.numeric import ZeroRankError

    estimator = TICA(lagtime=lagtime, dim=dim, scaling=scaling, epsilon=epsilon)
    try:
        estimator.fit(usable if len(usable) > 1 else usable[0])
    except ZeroRankError:
        raise CgvizError(
            "All features are constant, so TICA has nothing to work with.",
            hint="Choose features that change over the trajectory.",
        ) from None
    return estimator.fetch_model()


def compute_tica(
    features: Any,
    lagtime: int,
    dim: int = 2,
    dt: float | None = None,
    scaling: str | None = "kinetic_map",
    epsilon: float = 1e-6,
) -> TICAResult:
    """Time-lagged independent component analysis (deeptime's reversible TICA).

    Parameters
    ----------
    features : (n_frames, n_features) array, or a list of them (independent
        trajectories with a common frame interval; lengths may differ; trajectories not
        longer than ``lagtime`` contribute no pairs but are still projected)
    lagtime : int, frames
    dim : int, number of components to project on
    dt : float, optional, ps between frames; gives ``timescales_ps``
    scaling : "kinetic_map" (default, deeptime's default: components scaled by their
        eigenvalues, so distances reflect kinetics), "commute_map", or None (unit
        variance components)
    epsilon : float, eigenvalue cutoff of C0; directions below it are dropped

    Returns
    -------
    TICAResult (projection, eigenvalues, time scales, the deeptime model, .transform)
    """
    trajectories, was_list = _validated_features(features)
    lagtime = as_count(lagtime, "lagtime", 1)
    dim = as_count(dim, "dim", 1)
    n_features = trajectories[0].shape[1]
    if dim > n_features:
        raise CgvizError(
            f"dim = {dim} components requested from only {n_features} features.",
            hint=f"Choose dim <= {n_features}.",
        )
    if scaling not in TICA_SCALINGS:
        raise CgvizError(
            f"Unknown TICA scaling {scaling!r}.",
            hint="Use 'kinetic_map', 'commute_map' or None.",
        )
    time_step = None if dt is None else as_positive(dt, "dt", "ps")
    model = _fit_tica(trajectories, lagtime, dim, scaling, as_positive(epsilon, "epsilon", ""))
    if model.output_dimension < dim:
        raise CgvizError(
            f"The features span only {model.output_dimension} independent direction(s), "
            f"fewer than dim = {dim}.",
            hint="Lower dim, or use features that are not linear combinations of each "
            "other.",
        )
    eigenvalues = np.asarray(model.singular_values, dtype=np.float64).copy()
    timescales = _implied_timescales(eigenvalues, lagtime)
    projections = [model.transform(t)[:, :dim] for t in trajectories]
    return TICAResult(
        projection=projections if was_list else projections[0],
        eigenvalues=eigenvalues,
        timescales_frames=timescales,
        timescales_ps=None if time_step is None else timescales * time_step,
        lagtime=lagtime,
        dim=dim,
        scaling=scaling,
        model=model,
    )


@dataclass(frozen=True)
class ImpliedTimescales:
    """TICA implied time scales as a function of the lag time.

    Attributes
    ----------
    lagtimes : (n_lags,) int array, frames
    timescales_frames : (n_lags, n_timescales) array, frames, slowest first
    timescales_ps : (n_lags, n_timescales) array in ps, or None without ``dt``
    eigenvalues : (n_lags, n_timescales) TICA eigenvalues at each lag
    """

    lagtimes: np.ndarray
    timescales_frames: np.ndarray
    timescales_ps: np.ndarray | None
    eigenvalues: np.ndarray


def compute_implied_timescales(
    features: Any,
    lagtimes: Sequence[int],
    n_timescales: int = 3,
    dt: float | None = None,
    epsilon: float = 1e-6,
) -> ImpliedTimescales:
    """Markovian (TICA) implied time scales ``-tau / ln|lambda(tau)|`` for several lags.

    For a Markovian projection they do not depend on tau; their drift with tau is the
    memory that MEMnets removes (docs/science.md 2.3).

    Parameters
    ----------
    features : (n_frames, n_features) array or a list of them
    lagtimes : sequence of positive ints, frames
    n_timescales : int, how many of the slowest to keep (at most n_features)
    dt : float, optional, ps between frames
    epsilon : float, eigenvalue cutoff of C0

    Returns
    -------
    ImpliedTimescales; a mode missing at some lag (degenerate features) is NaN there
    """
    trajectories, _ = _validated_features(features)
    lag_array = np.asarray(lagtimes)
    if lag_array.ndim != 1 or lag_array.size == 0:
        raise CgvizError("lagtimes must be a non-empty list of ints (frames).")
    lags = [as_count(lag, "each lag time", 1) for lag in lag_array.tolist()]
    n_timescales = as_count(n_timescales, "n_timescales", 1)
    n_features = trajectories[0].shape[1]
    if n_timescales > n_features:
        raise CgvizError(
            f"n_timescales = {n_timescales} but there are only {n_features} features.",
            hint=f"Choose n_timescales <= {n_features}.",
        )
    time_step = None if dt is None else as_positive(dt, "dt", "ps")
    epsilon = as_positive(epsilon, "epsilon", "")
    eigenvalues = np.full((len(lags), n_timescales), np.nan)
    timescales = np.full((len(lags), n_timescales), np.nan)
    for row, lag in enumerate(lags):
        model = _fit_tica(trajectories, lag, None, None, epsilon)
        values = np.asarray(model.singular_values, dtype=np.float64)[:n_timescales]
        eigenvalues[row, : values.size] = values
        timescales[row, : values.size] = _implied_timescales(values, lag)
    return ImpliedTimescales(
        lagtimes=np.asarray(lags, dtype=np.int64),
        timescales_frames=timescales,
        timescales_ps=None if time_step is None else timescales * time_step,
        eigenvalues=eigenvalues,
    )
