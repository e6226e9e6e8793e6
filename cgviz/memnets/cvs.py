"""From encoder outputs to collective variables: a reversible TICA-like step (docs/science.md 2.3).

numpy float64 throughout. With ``chi`` the encoder outputs and a lag ``tau`` (frames):
mean ``(mean(chi_t) + mean(chi_{t+tau})) / 2``; ``C0 = (C00 + C11) / 2`` shrunk with the
Rao-Blackwell Ledoit-Wolf estimator; ``C1 = (C01 + C10) / 2``; the generalised
eigenproblem ``C1 v = lambda C0 v`` (``v^T C0 v = 1``), sorted by descending lambda;
``CV = (chi - mean) V``; implied time scales ``-tau / ln|lambda|``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cgviz.errors import CgvizError
from cgviz.memnets.data import as_trajectory_list

__all__ = ["rblw_shrinkage", "CVProjection", "fit_cv_projection", "lagged_moments"]


def rblw_shrinkage(covariance: np.ndarray, n_samples: int) -> tuple[np.ndarray, float]:
    """Rao-Blackwell Ledoit-Wolf shrinkage towards a scaled identity (Chen et al. 2010).

    ``S_shrunk = (1 - rho) S + rho (tr(S) / p) I`` with
    ``rho = min(1, ((n-2)/n tr(S^2) + tr(S)^2) / ((n+2) (tr(S^2) - tr(S)^2 / p)))``.

    Parameters
    ----------
    covariance : (p, p) sample covariance ``S``
    n_samples : number of samples it was estimated from

    Returns
    -------
    (p, p) shrunk covariance, and ``rho`` in [0, 1]
    """
    s = np.asarray(covariance, dtype=np.float64)
    p = s.shape[0]
    n = float(n_samples)
    trace = np.trace(s)
    trace_sq = np.trace(s @ s)
    denominator = (n + 2.0) * (trace_sq - trace ** 2 / p)
    if denominator <= 0:  # S is already a multiple of the identity
        return s.copy(), 0.0
    rho = float(np.clip(((n - 2.0) / n * trace_sq + trace ** 2) / denominator, 0.0, 1.0))
    return (1.0 - rho) * s + rho * trace / p * np.eye(p), rho


def lagged_moments(trajectories: list[np.ndarray], tau: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Means and covariances of the pairs ``(chi_t, chi_{t+tau})`` over all trajectories.

    Returns
    -------
    mean : (n,) ``(mean(chi_t) + mean(chi_{t+tau})) / 2``
    c00, c01, c11 : (n, n) covariances about that mean, divided by ``n_pairs - 1``
    n_pairs : int
    """
    heads = [t[:-tau] for t in trajectories if t.shape[0] > tau]
    tails = [t[tau:] for t in trajectories if t.shape[0] > tau]
    if not heads:
        raise CgvizError(f"No trajectory is longer than tau = {tau} frames.",
                         hint="Use a shorter lag time.")
    x = np.concatenate(heads).astype(np.float64, copy=False)
    y = np.concatenate(tails).astype(np.float64, copy=False)
    n_pairs = x.shape[0]
    if n_pairs < 2:
        raise CgvizError(f"Only {n_pairs} pair(s) at tau = {tau} frames.", hint="Use a shorter lag.")
    mean = 0.5 * (x.mean(axis=0) + y.mean(axis=0))
    x = x - mean
    y = y - mean
    scale = 1.0 / (n_pairs - 1)
    return mean, scale * x.T @ x, scale * x.T @ y, scale * y.T @ y, n_pairs


@dataclass(frozen=True)
class CVProjection:
    """A fitted CV post-processing: ``CV = (chi - mean) @ vectors``.

    Attributes
    ----------
    tau : int, lag time in frames
    mean : (n,) reversible mean of the encoder outputs
    vectors : (n, n) generalised eigenvectors, column k = CV k, ``V^T C0 V = I``
    eigenvalues : (n,) descending
    timescales_frames : (n,) ``-tau / ln|lambda|`` (+inf where ``|lambda| >= 1``)
    shrinkage : the RBLW intensity rho used on C0
    """

    tau: int
    mean: np.ndarray
    vectors: np.ndarray
    eigenvalues: np.ndarray
    timescales_frames: np.ndarray
    shrinkage: float

    def transform(self, outputs: Any) -> np.ndarray | list[np.ndarray]:
        """(n_frames, n) encoder outputs (or a list of them) -> CVs of the same shape."""
        arrays, was_list = as_trajectory_list(outputs, "outputs")
        if arrays[0].shape[1] != self.mean.shape[0]:
            raise CgvizError(f"outputs have {arrays[0].shape[1]} columns, this projection "
                             f"was fitted on {self.mean.shape[0]}.")
        cvs = [(a.astype(np.float64) - self.mean) @ self.vectors for a in arrays]
        return cvs if was_list else cvs[0]


def fit_cv_projection(outputs: Any, tau: int) -> CVProjection:
    """Fit the reversible TICA-like CV step on encoder outputs.

    Parameters
    ----------
    outputs : (n_frames, n) array or list of them (one per trajectory)
    tau : lag time, frames
    """
    import scipy.linalg

    arrays, _ = as_trajectory_list(outputs, "outputs")
    tau = int(tau)
    if tau < 1:
        raise CgvizError(f"tau must be a positive number of frames, got {tau}.")
    mean, c00, c01, c11, n_pairs = lagged_moments(arrays, tau)
    c0, rho = rblw_shrinkage(0.5 * (c00 + c11), n_pairs)
    c1 = 0.5 * (c01 + c01.T)
    try:
        values, vectors = scipy.linalg.eigh(c1, c0)
    except np.linalg.LinAlgError:
        raise CgvizError("The covariance of the encoder outputs is singular even after "
                         "shrinkage (the outputs are constant).",
                         hint="Check the input features and the training.") from None
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    magnitude = np.abs(values)
    timescales = np.full(values.shape, np.inf)
    below = (magnitude < 1) & (magnitude > 0)
    timescales[below] = -tau / np.log(magnitude[below])
    timescales[magnitude == 0] = 0.0
    # fix the sign of each CV so that results are reproducible: largest loading positive
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    vectors = vectors * np.where(signs == 0, 1.0, signs)
    return CVProjection(tau=tau, mean=mean, vectors=vectors, eigenvalues=values,
                        timescales_frames=timescales, shrinkage=rho)
