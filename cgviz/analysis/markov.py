"""Markovian analysis with deeptime: TICA, and the Markov state model workflow.

- TICA and its implied time scales against lag (:func:`compute_tica`,
  :func:`compute_implied_timescales`);
- Markov state models on any CVs (MEMnets, TICA, or a rollout's CVs): k-means
  clustering, reversible maximum-likelihood MSMs at several lags, implied time scales
  against lag and a Chapman-Kolmogorov test on PCCA+ metastable sets, each with a 95 %
  block-bootstrap interval (:func:`estimate_msm`), and an MSM of a rollout beside the
  MD's on the MD's clusters (:func:`compare_msms`). docs/science.md 3 explains the method.

Clustering, counting, the MSM estimate and PCCA+ are deeptime's. The intervals are a
bootstrap over blocks of the trajectories, not deeptime's Bayesian MSM: on a chain with
known time scales the Bayesian intervals (effective counts) held the true value in 6 of
12 realisations at lag 5, at half the width the spread between realisations calls for;
the block bootstrap held it in 10 of 12 (``benchmarks/msm_intervals.py``,
docs/evaluation.md). The CK test is therefore computed here from the bootstrap MSMs too.

deeptime is imported inside the functions, never at module import (it takes seconds).

TICA here is deeptime's: time-lagged pairs ``(x_t, x_{t+lag})`` from every trajectory
(no pair spans two trajectories), the mean and covariances symmetrised for reversibility
(``C0 = (C00 + Ctt) / 2``, ``C1 = (C0t + Ct0) / 2``, normalised by the number of pairs),
then the generalised eigenproblem ``C1 v = lambda C0 v`` with ``v^T C0 v = 1`` and the
eigenvalues sorted by decreasing ``|lambda|`` (deeptime's order, so the components go
from slowest to fastest implied time scale ``-lag / ln|lambda|``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from cgviz.analysis._checks import as_count, as_positive, as_trajectories
from cgviz.errors import CgvizError

__all__ = ["TICAResult", "compute_tica", "ImpliedTimescales", "compute_implied_timescales",
           "TimescaleCurve", "CKTest", "MSMAnalysis", "MSMComparison", "estimate_msm",
           "compare_msms"]

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


# --- Markov state models ------------------------------------------------------------------

INTERVAL = (2.5, 97.5)  # percentiles over bootstrap samples: a 95 % interval


@dataclass(frozen=True)
class TimescaleCurve:
    """MSM implied time scales against lag, with 95 % bootstrap intervals.

    Attributes
    ----------
    lagtimes : (n_lags,) int array, frames
    timescales : (n_lags, n_its) array, frames, slowest first, from all the data
    lower, upper : (n_lags, n_its) arrays, frames: the 2.5 and 97.5 percentiles over the
        bootstrap MSMs (NaN where too few samples had that process)
    dt_ps : ps per frame, or None
    """

    lagtimes: np.ndarray
    timescales: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    dt_ps: float | None

    @property
    def unit(self) -> str:
        return "frames" if self.dt_ps is None else "ps"

    def scaled(self, values: np.ndarray) -> np.ndarray:
        """Frames to ps (unchanged without ``dt_ps``)."""
        return values if self.dt_ps is None else values * self.dt_ps


@dataclass(frozen=True)
class CKTest:
    """Chapman-Kolmogorov test: ``T(tau)^k`` against MSMs estimated at ``k tau``.

    For metastable sets i and j and each multiple k, the probability to be in set j after
    ``k tau`` when started in set i (stationary weights within i), once predicted from the
    MSM at ``tau`` and once estimated directly at lag ``k tau``. For a Markovian model the
    two agree within their intervals.

    Attributes
    ----------
    lagtimes : (n_steps + 1,) int array, frames (0, tau, 2 tau, ...)
    predicted, predicted_lower, predicted_upper : (n_steps + 1, n_sets, n_sets) arrays
    estimated, estimated_lower, estimated_upper : (n_steps + 1, n_sets, n_sets) arrays
    dt_ps : ps per frame, or None
    """

    lagtimes: np.ndarray
    predicted: np.ndarray
    predicted_lower: np.ndarray
    predicted_upper: np.ndarray
    estimated: np.ndarray
    estimated_lower: np.ndarray
    estimated_upper: np.ndarray
    dt_ps: float | None

    @property
    def n_sets(self) -> int:
        return int(self.predicted.shape[1])

    @property
    def max_deviation(self) -> float:
        """Largest |predicted - estimated| over all sets and lags (a probability)."""
        return float(np.max(np.abs(self.predicted - self.estimated)))

    @property
    def outside_fraction(self) -> float:
        """Fraction of the (k > 0, i, j) entries whose predicted and estimated intervals do
        not overlap: 0 for a model that passes."""
        apart = ((self.predicted_lower > self.estimated_upper)
                 | (self.estimated_lower > self.predicted_upper))[1:]
        return float(np.mean(apart))


@dataclass(frozen=True)
class MSMAnalysis:
    """A Markov state model of some CVs, its implied time scales and its CK test.

    Attributes
    ----------
    lagtime : int, frames: the MSM's lag
    dt_ps : ps per frame, or None
    centers : (n_clusters, n_cvs) k-means cluster centres
    dtrajs : list of (n_frames_i,) int arrays, the cluster of each frame
    active_fraction : fraction of the transition counts in the largest connected set
    transition_matrix : (n_active, n_active) reversible maximum-likelihood MSM at lagtime
    stationary : (n_active,) its stationary distribution
    active_clusters : (n_active,) the cluster of each MSM state
    timescales : (n_its,) implied time scales at ``lagtime``, frames, slowest first
    timescale_samples : (n_samples, n_its) the bootstrap MSMs' time scales, frames
    its : TimescaleCurve against lag (its row at ``lagtime`` gives the intervals)
    ck : CKTest, or None when not asked for
    metastable : (n_clusters,) int, the PCCA+ set of each cluster (-1: outside the active
        set), or None without a CK test
    n_blocks : int, the blocks the bootstrap resampled
    """

    lagtime: int
    dt_ps: float | None
    centers: np.ndarray
    dtrajs: list
    active_fraction: float
    transition_matrix: np.ndarray
    stationary: np.ndarray
    active_clusters: np.ndarray
    timescales: np.ndarray
    timescale_samples: np.ndarray
    its: TimescaleCurve
    ck: CKTest | None
    metastable: np.ndarray | None
    n_blocks: int

    @property
    def n_clusters(self) -> int:
        return int(self.centers.shape[0])

    def timescale(self, index: int = 0) -> tuple[float, float, float]:
        """(value, lower, upper) of implied time scale ``index`` at ``lagtime``, in ps
        (frames without ``dt_ps``)."""
        row = int(np.flatnonzero(self.its.lagtimes == self.lagtime)[0])
        values = [self.its.timescales[row, index], self.its.lower[row, index],
                  self.its.upper[row, index]]
        return tuple(float(v) for v in self.its.scaled(np.asarray(values)))

    def assign(self, cvs: Any) -> list[np.ndarray]:
        """The nearest cluster centre of each frame of other CVs (e.g. a rollout's)."""
        trajectories, _ = _validated_features(cvs)
        if trajectories[0].shape[1] != self.centers.shape[1]:
            raise CgvizError(
                f"These CVs have {trajectories[0].shape[1]} columns; the MSM was built on "
                f"{self.centers.shape[1]}.",
                hint="Project both on the same CVs (the same model, the same features).",
            )
        return [_nearest(self.centers, t) for t in trajectories]


@dataclass(frozen=True)
class MSMComparison:
    """MSMs of reference MD and a model's trajectories on the reference's clusters.

    Attributes
    ----------
    reference, model : MSMAnalysis (the model's uses the reference's cluster centres)
    ratio : model / reference slowest time scale at the common lag (NaN when neither
        is finite; see :attr:`resolved`)
    ratio_lower, ratio_upper : 95 % interval of that ratio (independent bootstrap samples)
    """

    reference: MSMAnalysis
    model: MSMAnalysis
    ratio: float
    ratio_lower: float
    ratio_upper: float

    @property
    def resolved(self) -> bool:
        """Whether both slowest time scales are finite: a process that the data never
        crosses back over (eigenvalue 1) has no time scale to compare."""
        return bool(np.isfinite(self.reference.timescales[0])
                    and np.isfinite(self.model.timescales[0]))

    @property
    def factor(self) -> float:
        """The factor by which the two slowest time scales differ (>= 1)."""
        return float(max(self.ratio, 1.0 / self.ratio)) if self.ratio > 0 else float("inf")


def _nearest(centers: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The nearest centre of each frame (deeptime's k-means assignment)."""
    from deeptime.clustering import KMeansModel

    return KMeansModel(centers, "euclidean").transform(np.ascontiguousarray(frames))


def _kmeans(trajectories: list[np.ndarray], n_clusters: int, seed: int,
            max_frames: int = 50_000) -> np.ndarray:
    """k-means++ centres (deeptime), fitted on at most ``max_frames`` evenly strided frames."""
    from deeptime.clustering import KMeans

    data = np.concatenate(trajectories)
    stride = max(1, len(data) // max_frames)
    n_distinct = len(np.unique(data[::stride], axis=0))
    if n_distinct < n_clusters:
        raise CgvizError(
            f"{n_clusters} clusters asked for, but the CVs take only {n_distinct} distinct "
            "values.",
            hint=f"Choose at most {n_distinct} clusters.",
        )
    with warnings.catch_warnings():  # deeptime warns when it stops at max_iter; centres are fine
        warnings.simplefilter("ignore", UserWarning)
        model = KMeans(n_clusters, init_strategy="kmeans++", fixed_seed=seed, max_iter=100,
                       n_jobs=1).fit(np.ascontiguousarray(data[::stride])).fetch_model()
    return np.asarray(model.cluster_centers, dtype=np.float64)


def _ml_msm(dtrajs: list[np.ndarray], lag: int):
    """Reversible ML MSM on the largest connected set: (msm, active clusters, fraction),
    or None when no two clusters are connected at this lag."""
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    usable = [d for d in dtrajs if len(d) > lag]
    if not usable:
        return None
    counts = TransitionCountEstimator(lag, "sliding").fit_fetch(usable)
    total = counts.count_matrix.sum()
    largest = counts.submodel_largest()
    if largest.n_states < 2 or total <= 0:
        return None
    msm = MaximumLikelihoodMSM(reversible=True).fit_fetch(largest)
    return msm, np.asarray(largest.state_symbols), float(largest.count_matrix.sum() / total)


def _timescales(msm, n_its: int) -> np.ndarray:
    """Slowest ``n_its`` implied time scales, frames; +inf for a process whose eigenvalue
    is 1 to rounding (two sets the data never crosses between), NaN where missing."""
    out = np.full(n_its, np.nan)
    n = min(n_its, msm.n_states - 1)
    magnitude = np.abs(np.asarray(msm.eigenvalues(n + 1), dtype=np.complex128))[1:]
    with np.errstate(divide="ignore"):
        values = np.where(magnitude < 1 - 1e-12, -msm.lagtime / np.log(magnitude), np.inf)
    out[:n] = values
    return out


def _blocks(dtrajs: list[np.ndarray], longest_lag: int, n_blocks: int = 20) -> list[np.ndarray]:
    """Pieces to resample: whole trajectories when there are ``n_blocks`` or more, else
    each trajectory cut into consecutive blocks (at least 4 x the longest lag each)."""
    if len(dtrajs) >= n_blocks:
        return list(dtrajs)
    total = sum(len(d) for d in dtrajs)
    length = max(4 * longest_lag, total // n_blocks)
    pieces = []
    for d in dtrajs:
        n = max(1, len(d) // length)
        pieces += [d[i * len(d) // n:(i + 1) * len(d) // n] for i in range(n)]
    return pieces


def _ck_curves(models: list, memberships: np.ndarray, n_steps: int) -> tuple:
    """(predicted, estimated), each (n_steps + 1, n_sets, n_sets), from ML MSMs at
    lags tau, 2 tau, ... (None where missing) and per-cluster set memberships."""
    n_sets = memberships.shape[1]
    predicted = np.full((n_steps + 1, n_sets, n_sets), np.nan)
    estimated = predicted.copy()

    def start_and_sets(entry):
        msm, clusters, _ = entry
        member = memberships[clusters]
        weights = msm.stationary_distribution[:, None] * member
        mass = weights.sum(axis=0)
        return np.asarray(msm.transition_matrix), (weights / np.where(mass > 0, mass, 1)).T, member

    if models[0] is None:
        return predicted, estimated
    matrix, start, member = start_and_sets(models[0])
    predicted[0] = estimated[0] = start @ member
    power = np.eye(len(matrix))
    for k in range(1, n_steps + 1):
        power = power @ matrix
        predicted[k] = start @ power @ member
        if models[k - 1] is not None:
            other, other_start, other_member = start_and_sets(models[k - 1])
            estimated[k] = other_start @ other @ other_member
    return predicted, estimated


def estimate_msm(
    cvs: Any,
    lagtime: int,
    n_clusters: int = 50,
    lagtimes: Sequence[int] | None = None,
    n_timescales: int = 3,
    n_sets: int | None = 2,
    ck_steps: int = 4,
    n_samples: int = 50,
    dt: float | None = None,
    centers: np.ndarray | None = None,
    seed: int = 0,
) -> MSMAnalysis:
    """Markov state model of CVs: k-means, MSMs at several lags, a CK test, intervals.

    Parameters
    ----------
    cvs : (n_frames, n_cvs) array, or a list of them (independent trajectories sharing a
        frame interval)
    lagtime : int, frames: the MSM's lag (pick it where the time scales against lag have
        levelled off)
    n_clusters : int, k-means++ cluster centres (deeptime's KMeans)
    lagtimes : lags for the implied-time-scale curve, frames; default about 8 lags from 1
        to 2 x ``lagtime``
    n_timescales : int, how many of the slowest processes to report
    n_sets : PCCA+ metastable sets for the CK test (None or 0: no CK test)
    ck_steps : int, the CK test compares ``T(lagtime)^k`` with MSMs at ``k lagtime`` for
        k = 1 .. ck_steps (multiples beyond the data are left out)
    n_samples : int, bootstrap resamples (of whole trajectories when there are 20 or more,
        else of 20 consecutive blocks) for the 95 % intervals
    dt : ps per frame, optional (results then also read in ps)
    centers : (n_clusters, n_cvs) cluster centres to use instead of fitting k-means (an
        MSM of a rollout on the reference's clusters)
    seed : int, k-means and bootstrap seed

    Returns
    -------
    MSMAnalysis
    """
    trajectories, _ = _validated_features(cvs)
    trajectories = [np.asarray(t, dtype=np.float64) for t in trajectories]
    lagtime = as_count(lagtime, "lagtime", 1)
    n_timescales = as_count(n_timescales, "n_timescales", 1)
    n_samples = as_count(n_samples, "n_samples", 2)
    ck_steps = as_count(ck_steps, "ck_steps", 1)
    time_step = None if dt is None else as_positive(dt, "dt", "ps")
    longest = max(len(t) for t in trajectories)
    if lagtime * 2 >= longest:
        raise CgvizError(
            f"lagtime = {lagtime} frames, but the longest trajectory has {longest} frames.",
            hint=f"Choose a lag far below {longest} frames (at most {max(1, longest // 10)} "
            "for a usable estimate).",
        )
    if centers is None:
        centers = _kmeans(trajectories, as_count(n_clusters, "n_clusters", 2), seed)
    else:
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2 or centers.shape[1] != trajectories[0].shape[1]:
            raise CgvizError(
                f"centers must have shape (n_clusters, {trajectories[0].shape[1]}).",
                hint="Pass the cluster centres of an MSM built on the same CVs.",
            )
    dtrajs = [_nearest(centers, t) for t in trajectories]
    if lagtimes is None:
        lagtimes = np.unique(np.geomspace(1, 2 * lagtime, 8).round()).astype(np.int64)
    lags = sorted({as_count(x, "each lag time", 1) for x in np.asarray(lagtimes).tolist()}
                  | {lagtime})
    lags = [lag for lag in lags if lag < longest]
    multiples = [k * lagtime for k in range(1, ck_steps + 1) if k * lagtime < longest]

    main = _ml_msm(dtrajs, lagtime)
    if main is None:
        raise CgvizError(
            f"At lag {lagtime} frames no two clusters are connected both ways, so there is "
            "no Markov model.",
            hint="Use a shorter lag, fewer clusters, or longer trajectories.",
        )
    msm, active, fraction = main
    memberships = None
    if n_sets:
        n_sets = as_count(n_sets, "n_sets", 2)
        if n_sets > msm.n_states:
            raise CgvizError(
                f"{n_sets} metastable sets asked for, but the MSM has only {msm.n_states} "
                "connected states.",
                hint="Ask for fewer sets, or use more clusters.",
            )
        try:
            pcca = msm.pcca(n_sets)
        except (ValueError, RuntimeError, AssertionError, np.linalg.LinAlgError) as error:
            raise CgvizError(
                f"PCCA+ could not split the MSM into {n_sets} metastable sets ({error}).",
                hint="Ask for fewer sets, or use a longer lag.",
            ) from None
        memberships = np.zeros((len(centers), n_sets))
        memberships[active] = np.asarray(pcca.memberships)

    def analyse(pieces):
        fits = {lag: _ml_msm(pieces, lag) for lag in sorted(set(lags) | set(multiples))}
        curve = np.stack([_timescales(fits[lag][0], n_timescales) if fits[lag] else
                          np.full(n_timescales, np.nan) for lag in lags])
        ck = None if memberships is None else _ck_curves(
            [fits[lag] for lag in multiples], memberships, len(multiples))
        return curve, ck

    curve, ck = analyse(dtrajs)
    blocks = _blocks(dtrajs, max(multiples + lags))
    rng = np.random.default_rng(seed)
    samples = [analyse([blocks[i] for i in rng.integers(0, len(blocks), len(blocks))])
               for _ in range(n_samples)]
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):  # all-NaN slices
        sample_curves = np.stack([c for c, _ in samples])
        lower, upper = np.nanpercentile(sample_curves, INTERVAL, axis=0)
        test = None
        if ck is not None:
            predicted_s = np.stack([c[0] for _, c in samples])
            estimated_s = np.stack([c[1] for _, c in samples])
            p_low, p_high = np.nanpercentile(predicted_s, INTERVAL, axis=0)
            e_low, e_high = np.nanpercentile(estimated_s, INTERVAL, axis=0)
            test = CKTest(np.arange(len(multiples) + 1, dtype=np.int64) * lagtime, ck[0],
                          p_low, p_high, ck[1], e_low, e_high, time_step)
    metastable = None
    if memberships is not None:
        metastable = np.where(memberships.sum(axis=1) > 0, memberships.argmax(axis=1), -1)
    here = lags.index(lagtime)
    return MSMAnalysis(
        lagtime=lagtime, dt_ps=time_step, centers=centers, dtrajs=dtrajs,
        active_fraction=fraction, transition_matrix=np.asarray(msm.transition_matrix),
        stationary=np.asarray(msm.stationary_distribution), active_clusters=active,
        timescales=curve[here].copy(), timescale_samples=sample_curves[:, here].copy(),
        its=TimescaleCurve(np.asarray(lags, dtype=np.int64), curve, lower, upper, time_step),
        ck=test, metastable=metastable, n_blocks=len(blocks))


def compare_msms(
    reference_cvs: Any,
    model_cvs: Any,
    lagtime: int,
    n_clusters: int = 50,
    n_timescales: int = 3,
    n_samples: int = 50,
    dt: float | None = None,
    lagtimes: Sequence[int] | None = None,
    n_sets: int | None = 2,
    seed: int = 0,
) -> MSMComparison:
    """MSM of a model's CVs beside the MD's: both on the MD's clusters, at the same lag.

    The clusters come from the reference alone, so a model that spends its time where
    the MD rarely goes shows up as a changed MSM, not as new states. The ratio's
    interval pairs independent bootstrap samples of the two slowest time scales.

    Parameters
    ----------
    reference_cvs, model_cvs : (n_frames, n_cvs) arrays or lists of them, the same CVs and
        the same frame interval (``dt``) for both
    lagtime, n_clusters, n_timescales, n_samples, dt, lagtimes, n_sets, seed : as in
        :func:`estimate_msm`

    Returns
    -------
    MSMComparison
    """
    reference = estimate_msm(reference_cvs, lagtime, n_clusters, lagtimes, n_timescales,
                             n_sets, n_samples=n_samples, dt=dt, seed=seed)
    model = estimate_msm(model_cvs, lagtime, n_clusters, lagtimes, n_timescales, n_sets,
                         n_samples=n_samples, dt=dt, centers=reference.centers, seed=seed + 1)
    with np.errstate(all="ignore"):
        ratio = float(model.timescales[0] / reference.timescales[0])
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):
        ratios = (rng.choice(model.timescale_samples[:, 0], 4000)
                  / rng.choice(reference.timescale_samples[:, 0], 4000))
        low, high = np.nanpercentile(ratios, INTERVAL)
    return MSMComparison(reference, model, ratio, float(low), float(high))
