"""IGME analysis of any CVs over a range of lag times, and the Markovian baselines.

Works on MEMnets CVs and on CVs from TICA or VAMPnets alike, so they can be shown side by
side (docs/science.md 2.3 and 2.5). numpy float64; lag times and time scales in frames
(``dt`` in ps per frame gives ps where a field says so).

For every lag ``tau``: pairs ``(cv_t, cv_{t+tau})`` from all trajectories, reversible
covariances, the whitened correlation ``T(tau) = L^-1 C1 L^-T`` (``L = chol(C0)``), its
eigenvalues ``lambda_k(tau)`` (modes matched across lags by eigenvector overlap) and
``y_k(tau) = ln |lambda_k(tau)|``. The IGME line ``y = tau log_lambda_hat + log_A`` is
fitted over ``fit_lagtimes``; the memory term is ``y(tau)/tau - log_lambda_hat``; the
Markovian implied time scales ``-tau / y(tau)`` are compared with the IGME time scale
``1 / |log_lambda_hat|``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from cgviz.errors import CgvizError
from cgviz.memnets.cvs import fit_cv_projection, lagged_moments
from cgviz.memnets.data import as_trajectory_list

__all__ = ["IGMEAnalysis", "WindowScan", "whitened_correlations", "igme_analysis",
           "igme_window_scan", "tica_baseline", "vampnet_baseline", "BaselineCVs", "compare_cvs"]


def _lags(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0 or not np.all(np.equal(np.mod(array, 1), 0)) \
            or array.min() < 1:
        raise CgvizError(f"{name} must be a non-empty list of positive frame counts, got "
                         f"{values!r}.")
    return np.unique(array.astype(np.int64))


def whitened_correlations(cvs: list[np.ndarray], lagtimes: Sequence[int],
                          epsilon: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """``T(tau)`` for every lag, with its eigen-decomposition (modes matched across lags).

    Returns
    -------
    matrices : (n_lags, n, n) symmetric ``T(tau)``
    eigen : (values (n_lags, n), vectors (n_lags, n, n)); mode k of lag i is
        ``values[i, k]``, ``vectors[i][:, k]``; modes ordered by ``|lambda|`` at the
        longest lag and followed to shorter lags by overlap
    """
    from cgviz.memnets.loss import match_mode_order

    n = cvs[0].shape[1]
    matrices = np.empty((len(lagtimes), n, n))
    values = np.empty((len(lagtimes), n))
    vectors = np.empty((len(lagtimes), n, n))
    for row, tau in enumerate(lagtimes):
        _, c00, c01, c11, _ = lagged_moments(cvs, int(tau))
        c0 = 0.5 * (c00 + c11)
        c1 = 0.5 * (c01 + c01.T)
        spectrum = np.linalg.eigvalsh(c0)
        if not spectrum[0] > 1e-12 * spectrum[-1]:
            raise CgvizError(
                f"The CVs are linearly dependent or constant (covariance eigenvalues "
                f"{spectrum[0]:.3g} ... {spectrum[-1]:.3g} at lag {int(tau)}).",
                hint="Drop redundant or constant CVs (or use n_modes) before the analysis.")
        factor = np.linalg.cholesky(c0 + epsilon * np.eye(n))
        half = np.linalg.solve(factor, c1)
        matrix = np.linalg.solve(factor, half.T)
        matrix = 0.5 * (matrix + matrix.T)
        lam, vec = np.linalg.eigh(matrix)
        order = np.argsort(np.abs(lam))[::-1]
        matrices[row], values[row], vectors[row] = matrix, lam[order], vec[:, order]
    order = match_mode_order(vectors)
    values = np.take_along_axis(values, order, axis=1)
    vectors = np.take_along_axis(vectors, order[:, None, :], axis=2)
    return matrices, (values, vectors)


@dataclass(frozen=True)
class IGMEAnalysis:
    """The IGME view of a set of CVs over a range of lags.

    Attributes
    ----------
    label : name of the CVs ("MEMnets", "TICA", ...)
    lagtimes : (n_lags,) frames analysed (sorted)
    fit_lagtimes : (n_fit,) frames used for the IGME fit
    tau_0 : short lag of the memory kernel ``m0``, frames
    log_lambda : (n_lags, n_modes) observed ``ln|lambda(tau)|``
    log_lambda_hat : (n_modes,) fitted slope, 1/frames
    log_a : (n_modes,) fitted intercept
    log_lambda_fit : (n_lags, n_modes) the fitted line at every lag
    rmse : (n_modes,) RMSE of the fit over ``fit_lagtimes``
    memory_term : (n_lags, n_modes) ``y(tau)/tau - log_lambda_hat``, 1/frames
    m0 : (n_modes,) ``min(0, y(tau_0)/tau_0 - log_lambda_hat)``, 1/frames
    implied_timescales : (n_lags, n_modes) Markovian ``-tau / y(tau)``, frames
    igme_timescales : (n_modes,) ``1/|log_lambda_hat|``, frames
    dt : ps per frame, or None
    """

    label: str
    lagtimes: np.ndarray
    fit_lagtimes: np.ndarray
    tau_0: int
    log_lambda: np.ndarray
    log_lambda_hat: np.ndarray
    log_a: np.ndarray
    log_lambda_fit: np.ndarray
    rmse: np.ndarray
    memory_term: np.ndarray
    m0: np.ndarray
    implied_timescales: np.ndarray
    igme_timescales: np.ndarray
    dt: float | None = None

    @property
    def n_modes(self) -> int:
        return int(self.log_lambda_hat.shape[0])

    def in_ps(self, frames: np.ndarray) -> np.ndarray:
        """Frames -> ps (needs ``dt``)."""
        if self.dt is None:
            raise CgvizError("This analysis has no frame interval (dt).",
                             hint="Pass dt (ps per frame) to igme_analysis.")
        return np.asarray(frames) * self.dt


def _prepare_cvs(cvs: Any, n_modes: int | None) -> list[np.ndarray]:
    arrays, _ = as_trajectory_list(cvs, "cvs")
    arrays = [a.astype(np.float64, copy=False) for a in arrays]
    if n_modes is not None:
        if not 1 <= n_modes <= arrays[0].shape[1]:
            raise CgvizError(f"n_modes = {n_modes}, but the CVs have {arrays[0].shape[1]} "
                             "columns.")
        arrays = [a[:, :n_modes] for a in arrays]
    return arrays


def igme_analysis(cvs: Any, lagtimes: Sequence[int], fit_lagtimes: Sequence[int] | None = None,
                  tau_0: int | None = None, n_modes: int | None = None, dt: float | None = None,
                  label: str = "CVs") -> IGMEAnalysis:
    """IGME analysis of CVs (docs/science.md 2.3).

    Parameters
    ----------
    cvs : (n_frames, n_cvs) array or list of them (one per trajectory), slowest first
    lagtimes : lags to analyse, frames
    fit_lagtimes : lags of the IGME fit (default: every lag but the first, as MEMnets
        training fits ``tau_1 .. tau_K``); each must be among ``lagtimes`` or is added
    tau_0 : short lag for ``m0`` (default: the smallest lag)
    n_modes : analyse only the first ``n_modes`` CVs
    dt : ps per frame, for display
    label : a name for figures
    """
    arrays = _prepare_cvs(cvs, n_modes)
    lags = _lags(lagtimes, "lagtimes")
    if fit_lagtimes is None:
        fit = lags[1:]
    else:
        fit = _lags(fit_lagtimes, "fit_lagtimes")
    tau0 = int(lags[0] if tau_0 is None else tau_0)
    lags = np.unique(np.concatenate([lags, fit, [tau0]]))
    if fit.size < 2:
        raise CgvizError("The IGME fit needs at least two fit lag times.",
                         hint="Pass fit_lagtimes with >= 2 values beyond the memory time.")
    _, (values, _) = whitened_correlations(arrays, lags)
    log_lambda = np.log(np.maximum(np.abs(values), 1e-300))
    in_fit = np.isin(lags, fit)
    slope = np.empty(values.shape[1])
    intercept = np.empty(values.shape[1])
    for mode in range(values.shape[1]):
        slope[mode], intercept[mode] = np.polyfit(lags[in_fit], log_lambda[in_fit, mode], 1)
    line = lags[:, None] * slope + intercept
    rmse = np.sqrt(np.mean((line[in_fit] - log_lambda[in_fit]) ** 2, axis=0))
    memory = log_lambda / lags[:, None] - slope
    m0 = np.minimum(0.0, memory[lags == tau0][0])
    with np.errstate(divide="ignore"):
        implied = np.where(log_lambda < 0, -lags[:, None] / log_lambda, np.inf)
        igme_timescales = 1.0 / np.abs(slope)
    return IGMEAnalysis(label=label, lagtimes=lags, fit_lagtimes=fit, tau_0=tau0,
                        log_lambda=log_lambda, log_lambda_hat=slope, log_a=intercept,
                        log_lambda_fit=line, rmse=rmse, memory_term=memory, m0=m0,
                        implied_timescales=implied, igme_timescales=igme_timescales,
                        dt=None if dt is None else float(dt))


@dataclass(frozen=True)
class WindowScan:
    """The (tau_K, L) scan of the matrix IGME fit (docs/science.md 2.5).

    Attributes
    ----------
    tau_k : (a,) first lag of each window, frames
    window_lengths : (b,) L, frames (window = ``tau_k .. tau_k + L``, every frame)
    rmse : (a, b) RMSE between ``expm(ln A + t ln T_hat)`` and the observed ``T(t)``
        over the window (all matrix elements)
    timescales : (a, b, n_modes) ``-1 / eig(ln T_hat)``, frames, slowest first
    best : (tau_k, L) of the lowest RMSE
    """

    tau_k: np.ndarray
    window_lengths: np.ndarray
    rmse: np.ndarray
    timescales: np.ndarray
    best: tuple[int, int]


def _sym_log(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.log(np.maximum(np.abs(values), 1e-12))) @ vectors.T


def _sym_exp(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    return (vectors * np.exp(values)) @ vectors.T


def igme_window_scan(cvs: Any, tau_k: Sequence[int], window_lengths: Sequence[int],
                     n_modes: int | None = None) -> WindowScan:
    """Scan the IGME fit window ``[tau_K, tau_K + L]`` in matrix form.

    For each window: ``ln T(t) = ln A + t ln T_hat`` fitted element by element over every
    lag in the window, its RMSE against the observed ``T(t)`` and its implied time scales
    ``-1/eig(ln T_hat)``. Pick the window with the lowest RMSE (``best``).

    Parameters
    ----------
    cvs : (n_frames, n_cvs) array or list of them
    tau_k : window starts, frames
    window_lengths : window lengths L >= 1, frames
    n_modes : use only the first n_modes CVs
    """
    arrays = _prepare_cvs(cvs, n_modes)
    starts = _lags(tau_k, "tau_k")
    lengths = _lags(window_lengths, "window_lengths")
    all_lags = np.arange(starts.min(), starts.max() + lengths.max() + 1)
    matrices, _ = whitened_correlations(arrays, all_lags)
    logs = np.stack([_sym_log(m) for m in matrices])
    n = matrices.shape[1]
    rmse = np.empty((starts.size, lengths.size))
    timescales = np.empty((starts.size, lengths.size, n))
    for i, start in enumerate(starts):
        for j, length in enumerate(lengths):
            rows = np.flatnonzero((all_lags >= start) & (all_lags <= start + length))
            t = all_lags[rows].astype(np.float64)
            flat = logs[rows].reshape(rows.size, -1)
            design = np.stack([t, np.ones_like(t)], axis=1)
            (slope, intercept), *_ = np.linalg.lstsq(design, flat, rcond=None)
            log_hat, log_a = slope.reshape(n, n), intercept.reshape(n, n)
            predicted = np.stack([_sym_exp(log_a + tt * log_hat) for tt in t])
            rmse[i, j] = np.sqrt(np.mean((predicted - matrices[rows]) ** 2))
            rates = np.sort(np.linalg.eigvalsh(0.5 * (log_hat + log_hat.T)))[::-1]
            with np.errstate(divide="ignore"):
                timescales[i, j] = np.where(rates < 0, -1.0 / rates, np.inf)
    best_i, best_j = np.unravel_index(np.argmin(rmse), rmse.shape)
    return WindowScan(tau_k=starts, window_lengths=lengths, rmse=rmse, timescales=timescales,
                      best=(int(starts[best_i]), int(lengths[best_j])))


@dataclass(frozen=True)
class BaselineCVs:
    """CVs of a Markovian baseline on the same features as MEMnets.

    Attributes
    ----------
    label : "TICA" or "VAMPnets"
    cvs : list of (n_frames, dim) float64 arrays, slowest first
    lagtime : frames
    timescales_frames : (dim,) implied time scales at ``lagtime``
    scores : VAMP-2 training scores per step (VAMPnets), else None
    """

    label: str
    cvs: list[np.ndarray]
    lagtime: int
    timescales_frames: np.ndarray
    scores: np.ndarray | None = None


def tica_baseline(features: Any, lagtime: int, dim: int = 2) -> BaselineCVs:
    """TICA (deeptime, via :func:`cgviz.analysis.compute_tica`) CVs, unit variance."""
    from cgviz.analysis import compute_tica

    arrays, _ = as_trajectory_list(features, "features")
    result = compute_tica(arrays, lagtime=lagtime, dim=dim, scaling=None)
    cvs = [np.asarray(p, dtype=np.float64) for p in result.projection]
    return BaselineCVs("TICA", cvs, int(lagtime), result.timescales_frames[:dim])


def vampnet_baseline(features: Any, lagtime: int, dim: int = 2,
                     hidden: Sequence[int] = (30, 30, 30), n_epochs: int = 10,
                     batch_size: int = 5000, learning_rate: float = 1e-3, seed: int = 1,
                     device: Any = "cpu") -> BaselineCVs:
    """VAMPnets (deeptime, VAMP-2 score) with the MEMnets lobe architecture.

    The lobe outputs are post-processed exactly like MEMnets outputs (reversible TICA-like
    step at ``lagtime``) so the CVs are comparable. Batches are gathered as tensors by
    index, without a DataLoader.
    """
    import torch
    from deeptime.decomposition.deep import VAMPNet

    from cgviz.memnets.lobe import MEMnetsLobe

    arrays, _ = as_trajectory_list(features, "features")
    lagtime = int(lagtime)
    heads = [a[:-lagtime] for a in arrays if a.shape[0] > lagtime]
    tails = [a[lagtime:] for a in arrays if a.shape[0] > lagtime]
    if not heads:
        raise CgvizError(f"No trajectory is longer than the lag time {lagtime}.")
    x0 = torch.from_numpy(np.concatenate(heads).astype(np.float32)).to(device)
    xt = torch.from_numpy(np.concatenate(tails).astype(np.float32)).to(device)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    lobe = MEMnetsLobe([arrays[0].shape[1], *hidden, dim]).to(device)
    vampnet = VAMPNet(lobe=lobe, learning_rate=learning_rate, device=device)
    for _ in range(int(n_epochs)):
        order = torch.randperm(x0.shape[0], generator=generator).to(x0.device)
        chunks = [c for c in order.split(int(batch_size)) if c.shape[0] > 2 * dim + 2]
        vampnet.fit([(x0[c], xt[c]) for c in chunks], n_epochs=1)
    model = vampnet.fetch_model()
    outputs = [np.asarray(model.transform(a.astype(np.float32)), dtype=np.float64).reshape(len(a), -1)
               for a in arrays]
    projection = fit_cv_projection(outputs, lagtime)
    scores = np.asarray(vampnet.train_scores)[:, 1] if len(vampnet.train_scores) else None
    return BaselineCVs("VAMPnets", projection.transform(outputs), lagtime,
                       projection.timescales_frames, scores)


def compare_cvs(cv_sets: dict[str, Any], lagtimes: Sequence[int],
                fit_lagtimes: Sequence[int] | None = None, tau_0: int | None = None,
                n_modes: int | None = None, dt: float | None = None) -> list[IGMEAnalysis]:
    """The same IGME analysis for several CV sets, e.g. ``{"MEMnets": ..., "TICA": ...,
    "VAMPnets": ...}`` (values: CV arrays, lists of them, or :class:`BaselineCVs`), ready
    for the figure builders that take a list of analyses."""
    if not cv_sets:
        raise CgvizError("compare_cvs needs at least one set of CVs.")
    analyses = []
    for label, cvs in cv_sets.items():
        values = cvs.cvs if isinstance(cvs, BaselineCVs) else cvs
        analyses.append(igme_analysis(values, lagtimes, fit_lagtimes, tau_0, n_modes, dt, label))
    return analyses

