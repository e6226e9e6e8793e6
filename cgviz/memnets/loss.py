"""The MEMnets / IGME loss maths, written once, as free functions on torch tensors.

Every function works in the dtype it is given: training steps run in float32, every
number cgviz reports is recomputed in float64 (docs/science.md 2.4). Each function is checked
against a plain numpy implementation in ``tests/test_memnets_loss.py``.

Notation (docs/science.md 2.2): a sample is ``(x_t, x_{t+tau_0}, ..., x_{t+tau_K})``; the
encoder maps it to ``chi`` and ``chi_0 .. chi_K`` (each (n_samples, n_cvs)). For every lag
``i``: covariances of the mean-free ``chi`` and ``chi_i``, the reversible whitened
correlation ``Ct_i = L^-1 C1 L^-T`` with ``L = chol(C0)``, its eigenvalues ``lambda_i``
and ``y_i = ln lambda_i``; a straight line ``y(tau) = tau log_lambda_hat + log_A`` fitted
per mode over the long lags; the time-integrated memory kernel
``m0 = min(0, y_0 / tau_0 - log_lambda_hat)``; the loss
``sum_modes |m0| + gamma |log_lambda_hat|``. Time in frames throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from cgviz.errors import CgvizError

__all__ = [
    "LossTerms",
    "covariances",
    "reversible_covariances",
    "regularised_cholesky",
    "whitened_correlation",
    "sorted_eigen",
    "match_mode_order",
    "igme_regression",
    "time_integrated_memory",
    "memnets_terms",
]

#: Smallest ratio (smallest / largest eigenvalue of C0) before C0 counts as singular.
COLLAPSE_TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def covariances(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Instantaneous and time-lagged covariances of two batches.

    Parameters
    ----------
    x, y : (n_samples, n) tensors, ``chi(t)`` and ``chi(t + tau)``; each has its own mean
        removed, then the sums are divided by ``n_samples - 1``.

    Returns
    -------
    c00, c0t, ctt : (n, n) tensors, ``cov(x, x)``, ``cov(x, y)``, ``cov(y, y)``
    """
    if x.shape != y.shape or x.ndim != 2:
        raise CgvizError(f"covariances needs two (n_samples, n) tensors of one shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}.")
    n_samples = x.shape[0]
    if n_samples < 2:
        raise CgvizError(f"{n_samples} sample(s) cannot give a covariance.",
                         hint="Use more frames, or a larger batch size.")
    x = x - x.mean(dim=0, keepdim=True)
    y = y - y.mean(dim=0, keepdim=True)
    scale = 1.0 / (n_samples - 1)
    return scale * x.T @ x, scale * x.T @ y, scale * y.T @ y


def reversible_covariances(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetrised covariances ``C0 = (C00 + Ctt) / 2`` and ``C1 = (C0t + Ct0) / 2``.

    Shapes: x, y (n_samples, n) -> c0, c1 (n, n), both symmetric.
    """
    c00, c0t, ctt = covariances(x, y)
    return 0.5 * (c00 + ctt), 0.5 * (c0t + c0t.T)


def _collapse_error(n_cvs: int, detail: str) -> CgvizError:
    return CgvizError(
        f"The {n_cvs} encoder outputs have collapsed: their covariance C0 is singular "
        f"({detail}), so the whitened correlation cannot be computed.",
        hint="Use fewer CVs (the last encoder size), a smaller learning rate, another "
        "seed, or features that actually change over the trajectories.")


def regularised_cholesky(c0: torch.Tensor, epsilon: float = 1e-6) -> torch.Tensor:
    """Lower Cholesky factor of ``C0 + epsilon s I`` that refuses a singular ``C0``, with
    ``s`` the mean variance (``trace(C0) / n``).

    The regularisation is relative, so it is scale-free: multiplying the encoder's outputs
    by any factor leaves the whitened correlation, the eigenvalues, the loss and ``m0``
    unchanged (an absolute ``epsilon`` shifted every ``ln lambda`` by about
    ``-epsilon / variance``, so the numbers depended on the output scale).

    Parameters
    ----------
    c0 : (..., n, n) symmetric covariance(s) (batched over leading dimensions)
    epsilon : regularisation relative to the mean variance

    Returns
    -------
    (..., n, n) lower-triangular ``L`` with ``L L^T = C0 + epsilon s I``

    Raises
    ------
    CgvizError
        When the factorisation fails, C0 holds NaN/inf, or C0 (before the
        regularisation) has a smallest eigenvalue below ``COLLAPSE_TOLERANCE[dtype]``
        times its largest: the outputs then span fewer directions than there are CVs.
    """
    n = c0.shape[-1]
    eye = torch.eye(n, dtype=c0.dtype, device=c0.device)
    scale = torch.diagonal(c0, dim1=-2, dim2=-1).mean(-1).detach().clamp_min(
        torch.finfo(c0.dtype).tiny)
    factor, info = torch.linalg.cholesky_ex(c0 + epsilon * scale[..., None, None] * eye)
    detached = c0.detach()
    finite = torch.isfinite(detached).all()
    spectrum = torch.linalg.eigvalsh(torch.where(finite, detached, torch.zeros_like(detached)))
    ratio = (spectrum[..., 0] / spectrum[..., -1]).amin()
    tolerance = COLLAPSE_TOLERANCE.get(c0.dtype, 1e-6)
    # one host sync for all checks
    failed, finite, worst = int(info.max()), bool(finite), float(ratio)
    if not finite:
        raise _collapse_error(n, "it holds NaN or inf")
    if failed or not worst > tolerance:
        raise _collapse_error(n, f"smallest/largest eigenvalue {worst:.2g}")
    return factor


def whitened_correlation(c0: torch.Tensor, c1: torch.Tensor, epsilon: float = 1e-6) -> torch.Tensor:
    """Reversible whitened correlation ``Ct = L^-1 C1 L^-T``, ``L = chol(C0 + eps s I)``
    (``s`` the mean variance: scale-free, see :func:`regularised_cholesky`).

    Shapes: c0, c1 (..., n, n) -> (..., n, n), symmetrised against round-off.
    """
    factor = regularised_cholesky(c0, epsilon)
    half = torch.linalg.solve_triangular(factor, c1, upper=False)
    ct = torch.linalg.solve_triangular(factor, half.transpose(-1, -2), upper=False)
    return 0.5 * (ct + ct.transpose(-1, -2))


def sorted_eigen(ct: torch.Tensor, epsilon: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues ``|eig(Ct + eps I)|`` sorted descending, with their eigenvectors.

    Only the eigenvalues carry gradients (the vectors are detached: they serve to match
    modes, and their gradients are unstable near degeneracy).

    Shapes: ct (..., n, n) -> values (..., n), vectors (..., n, n) with vector ``k`` in
    column ``k``.
    """
    n = ct.shape[-1]
    values, vectors = torch.linalg.eigh(ct + epsilon * torch.eye(n, dtype=ct.dtype, device=ct.device))
    values = values.abs()
    order = torch.argsort(values.detach(), dim=-1, descending=True)
    values = torch.gather(values, -1, order)
    vectors = torch.gather(vectors.detach(), -1, order.unsqueeze(-2).expand_as(vectors))
    return values, vectors


def match_mode_order(vectors: np.ndarray) -> np.ndarray:
    """Order the modes of every lag like those of the last lag, by eigenvector overlap.

    Eigenvalues sorted separately at each lag swap modes whose curves cross. Here the
    last (longest) lag keeps its descending order and every shorter lag is matched to its
    longer neighbour by the assignment that maximises the summed ``|v_a . v_b|``.

    Parameters
    ----------
    vectors : (n_lags, n, n) array, column ``k`` of ``vectors[i]`` = mode k at lag i

    Returns
    -------
    (n_lags, n) int array ``order``: mode ``k`` at lag ``i`` is column ``order[i, k]``
    """
    from scipy.optimize import linear_sum_assignment

    n_lags, n = vectors.shape[0], vectors.shape[-1]
    order = np.tile(np.arange(n), (n_lags, 1))
    if n == 1:
        return order
    for lag in range(n_lags - 2, -1, -1):
        reference = vectors[lag + 1][:, order[lag + 1]]
        overlap = np.abs(reference.T @ vectors[lag])
        rows, cols = linear_sum_assignment(-overlap)
        order[lag, rows] = cols
    return order


def igme_regression(
    lagtimes: torch.Tensor, log_lambda: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares line ``y(tau) = tau * log_lambda_hat + log_A`` per mode.

    Parameters
    ----------
    lagtimes : (K,) long lags, frames (at least two distinct values)
    log_lambda : (K, n_modes) observed ``ln lambda(tau)``

    Returns
    -------
    log_lambda_hat : (n_modes,) slopes, 1/frames
    log_a : (n_modes,) intercepts
    fitted : (K, n_modes) the line at ``lagtimes``
    rmse : (n_modes,) ``sqrt(mean_K (fitted - observed)^2)``
    """
    lags = lagtimes.to(dtype=log_lambda.dtype, device=log_lambda.device).reshape(-1, 1)
    if lags.shape[0] != log_lambda.shape[0] or lags.shape[0] < 2:
        raise CgvizError(f"The IGME fit needs >= 2 long lags matching the rows of log_lambda; "
                         f"got {lags.shape[0]} lags and {tuple(log_lambda.shape)}.")
    centred_lags = lags - lags.mean()
    slope = (centred_lags * (log_lambda - log_lambda.mean(dim=0))).sum(dim=0) / (centred_lags ** 2).sum()
    intercept = log_lambda.mean(dim=0) - slope * lags.mean()
    fitted = lags * slope + intercept
    rmse = torch.sqrt(((fitted - log_lambda) ** 2).mean(dim=0))
    return slope, intercept, fitted, rmse


def time_integrated_memory(log_lambda_0: torch.Tensor, tau_0: float,
                           log_lambda_hat: torch.Tensor) -> torch.Tensor:
    """``m0 = min(0, ln lambda(tau_0) / tau_0 - log_lambda_hat)`` per mode, 1/frames.

    Shapes: log_lambda_0 (n_modes,), log_lambda_hat (n_modes,) -> (n_modes,), all <= 0.
    """
    return torch.clamp(log_lambda_0 / float(tau_0) - log_lambda_hat, max=0.0)


@dataclass(frozen=True)
class LossTerms:
    """Everything one evaluation of the MEMnets loss produces (tensors, one dtype).

    Attributes
    ----------
    loss : scalar, ``sum(lm)``
    lm : (n_modes,) per-mode loss terms ``|m0| + gamma |log_lambda_hat|``
    m0 : (n_modes,) time-integrated memory kernel, 1/frames (<= 0)
    log_lambda_hat : (n_modes,) IGME slope, 1/frames; time scale ``1/|log_lambda_hat|``
    log_a : (n_modes,) IGME intercept
    rmse : (n_modes,) RMSE of the fit over the long lags
    log_lambda : (K+1, n_modes) observed ``ln lambda`` at ``tau_0 .. tau_K``
    log_lambda_fit : (K+1, n_modes) the fitted line at the same lags
    gamma : the weight used
    """

    loss: torch.Tensor
    lm: torch.Tensor
    m0: torch.Tensor
    log_lambda_hat: torch.Tensor
    log_a: torch.Tensor
    rmse: torch.Tensor
    log_lambda: torch.Tensor
    log_lambda_fit: torch.Tensor
    gamma: float


def memnets_terms(
    outputs: Sequence[torch.Tensor] | torch.Tensor,
    lagtimes: Sequence[int],
    gamma: float,
    epsilon: float = 1e-6,
    match_modes: bool = True,
) -> LossTerms:
    """The MEMnets loss and its parts for one batch (or, in float64, a whole data set).

    Parameters
    ----------
    outputs : K+2 tensors (or one (K+2, n_samples, n_cvs) tensor): ``chi(t)`` then
        ``chi(t + tau_i)`` for ``i = 0..K``
    lagtimes : (K+1,) frames, ``tau_0 < tau_1 < ... < tau_K``
    gamma : weight of ``|log_lambda_hat|``
    epsilon : regularisation of C0 and of the eigenvalues
    match_modes : order modes across lags by eigenvector overlap (else per-lag sorting)
    """
    lags = [int(lag) for lag in lagtimes]
    if len(outputs) != len(lags) + 1:
        raise CgvizError(f"{len(outputs)} encoded tensors for {len(lags)} lag times; "
                         "need one for x_t plus one per lag.")
    chi = outputs[0]
    pairs = [reversible_covariances(chi, lagged) for lagged in outputs[1:]]
    c0 = torch.stack([pair[0] for pair in pairs])
    c1 = torch.stack([pair[1] for pair in pairs])
    values, vectors = sorted_eigen(whitened_correlation(c0, c1, epsilon), epsilon)
    if match_modes and values.shape[-1] > 1:
        order = torch.as_tensor(match_mode_order(vectors.cpu().numpy()), device=values.device)
        values = torch.gather(values, -1, order)
    log_lambda = torch.log(values)
    long_lags = torch.tensor(lags[1:], dtype=log_lambda.dtype, device=log_lambda.device)
    slope, intercept, _, rmse = igme_regression(long_lags, log_lambda[1:])
    m0 = time_integrated_memory(log_lambda[0], lags[0], slope)
    lm = m0.abs() + gamma * slope.abs()
    all_lags = torch.tensor(lags, dtype=log_lambda.dtype, device=log_lambda.device).reshape(-1, 1)
    return LossTerms(loss=lm.sum(), lm=lm, m0=m0, log_lambda_hat=slope, log_a=intercept,
                     rmse=rmse, log_lambda=log_lambda, log_lambda_fit=all_lags * slope + intercept,
                     gamma=float(gamma))
