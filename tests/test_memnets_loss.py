"""The MEMnets loss maths against plain numpy, one function at a time."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import torch

from cgviz.errors import CgvizError
from cgviz.memnets import loss



def _pair(seed: int = 0, n: int = 500, dim: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim)) + rng.normal(size=dim)
    y = 0.7 * x + 0.5 * rng.normal(size=(n, dim)) + 0.3
    return x, y


def test_covariances_match_numpy():
    x, y = _pair()
    c00, c0t, ctt = loss.covariances(torch.from_numpy(x), torch.from_numpy(y))
    full = np.cov(np.hstack([x, y]).T)  # 1/(n-1), each block about its own mean
    np.testing.assert_allclose(c00.numpy(), full[:3, :3], rtol=1e-12)
    np.testing.assert_allclose(c0t.numpy(), full[:3, 3:], rtol=1e-12)
    np.testing.assert_allclose(ctt.numpy(), full[3:, 3:], rtol=1e-12)


def test_whitened_correlation_eigenvalues_are_generalised_eigenvalues():
    x, y = _pair(1)
    c0, c1 = loss.reversible_covariances(torch.from_numpy(x), torch.from_numpy(y))
    eps = 1e-6
    ct = loss.whitened_correlation(c0, c1, eps)
    np.testing.assert_allclose(ct.numpy(), ct.numpy().T, atol=1e-14)
    full = np.cov(np.hstack([x, y]).T)
    c0_np = 0.5 * (full[:3, :3] + full[3:, 3:])
    c1_np = 0.5 * (full[:3, 3:] + full[3:, :3])
    # the regularisation is relative to the mean variance (scale-free)
    expected = scipy.linalg.eigh(c1_np, c0_np + eps * np.trace(c0_np) / 3 * np.eye(3),
                                 eigvals_only=True)
    values, vectors = loss.sorted_eigen(ct, eps)
    np.testing.assert_allclose(values.numpy(), np.sort(np.abs(expected + eps))[::-1], rtol=1e-10)
    # the vectors are eigenvectors of Ct, in the same order
    np.testing.assert_allclose(ct.numpy() @ vectors.numpy(),
                               vectors.numpy() * (values.numpy() - eps), atol=1e-10)


def test_regularised_cholesky_refuses_collapsed_outputs():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(400, 1))
    collapsed = torch.from_numpy(np.hstack([a, 2 * a, rng.normal(size=(400, 1))]))
    c0, _ = loss.reversible_covariances(collapsed, collapsed)
    with pytest.raises(CgvizError, match="collapsed"):
        loss.regularised_cholesky(c0)
    with pytest.raises(CgvizError, match="collapsed"):
        loss.regularised_cholesky(torch.zeros(3, 3, dtype=torch.float64))
    healthy, _ = loss.reversible_covariances(torch.from_numpy(rng.normal(size=(400, 3))),
                                             torch.from_numpy(rng.normal(size=(400, 3))))
    factor = loss.regularised_cholesky(healthy, 1e-6)
    mean_variance = np.trace(healthy.numpy()) / 3  # the regularisation is relative
    np.testing.assert_allclose((factor @ factor.T).numpy(),
                               healthy.numpy() + 1e-6 * mean_variance * np.eye(3), rtol=1e-12)


def test_igme_regression_matches_polyfit():
    rng = np.random.default_rng(3)
    lags = np.array([7.0, 8.0, 9.0, 10.0, 12.0])
    y = np.outer(lags, [-0.01, -0.05]) + [-0.1, -0.3] + 0.01 * rng.normal(size=(5, 2))
    slope, intercept, fitted, rmse = loss.igme_regression(torch.from_numpy(lags), torch.from_numpy(y))
    for mode in range(2):
        expected_slope, expected_intercept = np.polyfit(lags, y[:, mode], 1)
        assert slope[mode].item() == pytest.approx(expected_slope, rel=1e-10)
        assert intercept[mode].item() == pytest.approx(expected_intercept, rel=1e-10)
        line = expected_slope * lags + expected_intercept
        np.testing.assert_allclose(fitted[:, mode].numpy(), line, rtol=1e-10)
        assert rmse[mode].item() == pytest.approx(np.sqrt(np.mean((line - y[:, mode]) ** 2)))


def test_time_integrated_memory_is_clipped_at_zero():
    m0 = loss.time_integrated_memory(torch.tensor([-0.2, -0.01]), 2, torch.tensor([-0.05, -0.02]))
    np.testing.assert_allclose(m0.numpy(), [-0.05, 0.0], atol=1e-7)


def test_mode_matching_follows_eigenvectors_across_a_crossing():
    # two modes whose eigenvalues cross between the lags: sorted per lag they swap
    vectors = np.stack([np.eye(2)[:, ::-1], np.eye(2), np.eye(2)])  # lag 0 order swapped
    order = loss.match_mode_order(vectors)
    np.testing.assert_array_equal(order, [[1, 0], [0, 1], [0, 1]])


def _numpy_terms(chis, lags, gamma, eps):
    """Plain numpy MEMnets terms with per-lag sorting (no matching)."""
    x = chis[0]
    logs = []
    for lagged in chis[1:]:
        full = np.cov(np.hstack([x, lagged]).T)
        n = x.shape[1]
        c0 = 0.5 * (full[:n, :n] + full[n:, n:])
        c1 = 0.5 * (full[:n, n:] + full[n:, :n])
        # C0 regularised relative to its mean variance (scale-free), Ct's eigenvalues + eps
        values = scipy.linalg.eigh(c1, c0 + eps * np.trace(c0) / n * np.eye(n),
                                   eigvals_only=True) + eps
        logs.append(np.log(np.sort(np.abs(values))[::-1]))
    logs = np.array(logs)
    slopes = np.array([np.polyfit(lags[1:], logs[1:, k], 1)[0] for k in range(logs.shape[1])])
    m0 = np.minimum(0.0, logs[0] / lags[0] - slopes)
    lm = np.abs(m0) + gamma * np.abs(slopes)
    return lm.sum(), m0, slopes, logs


def test_memnets_terms_match_numpy_on_an_ar_process():
    rng = np.random.default_rng(4)
    n, dim = 40000, 2
    noise = rng.normal(size=(n, dim))
    series = np.stack([scipy.signal.lfilter([1.0], [1.0, -a], noise[:, k])
                       for k, a in enumerate([0.95, 0.8])], axis=1)
    lags = [1, 3, 4, 5]
    start = np.arange(n - max(lags))
    chis = [series[start]] + [series[start + lag] for lag in lags]
    terms = loss.memnets_terms([torch.from_numpy(c) for c in chis], lags, gamma=1.3,
                               match_modes=False)
    total, m0, slopes, logs = _numpy_terms(chis, lags, 1.3, 1e-6)
    assert terms.loss.item() == pytest.approx(total, rel=1e-9)
    np.testing.assert_allclose(terms.m0.numpy(), m0, atol=1e-12)
    np.testing.assert_allclose(terms.log_lambda_hat.numpy(), slopes, rtol=1e-9)
    np.testing.assert_allclose(terms.log_lambda.numpy(), logs, rtol=1e-9)
    # an AR(1) is memoryless: slopes are ln(0.95), ln(0.8) within noise, m0 near 0
    np.testing.assert_allclose(terms.log_lambda_hat.numpy(), np.log([0.95, 0.8]), atol=0.02)
    assert np.abs(terms.m0.numpy()).max() < 0.02
    # matching keeps the same modes here (no crossing)
    matched = loss.memnets_terms([torch.from_numpy(c) for c in chis], lags, 1.3)
    np.testing.assert_allclose(matched.loss.item(), terms.loss.item(), rtol=1e-12)


def test_memnets_terms_gradient_flows_in_float32():
    rng = np.random.default_rng(5)
    base = torch.from_numpy(rng.normal(size=(6, 2000, 3)).astype(np.float32))
    weight = torch.eye(3, requires_grad=True)
    out = base @ weight
    terms = loss.memnets_terms(out, [1, 4, 5, 6, 7], gamma=0.5)
    terms.loss.backward()
    assert weight.grad is not None and torch.isfinite(weight.grad).all()
    assert terms.loss.dtype == torch.float32


def test_memnets_terms_match_modes_whose_eigenvalues_cross():
    """Mode A (slow + fast parts) is below mode B at tau_0 = 1 but far above it at the long
    lags. Sorting per lag swaps them; matching keeps A's own ln lambda(tau_0) for A."""
    rng = np.random.default_rng(6)
    n = 200000

    def ar(a):
        return scipy.signal.lfilter([1.0], [1.0, -a], rng.normal(size=n) * np.sqrt(1 - a * a))

    mode_a = ar(np.exp(-1 / 200)) + ar(np.exp(-1.0))
    mode_b = ar(np.exp(-1 / 5))
    series = np.stack([mode_a, mode_b], axis=1)
    lags = [1, 10, 12, 14]
    start = np.arange(n - max(lags))
    chis = [torch.from_numpy(series[start])] + [torch.from_numpy(series[start + lag]) for lag in lags]
    matched = loss.memnets_terms(chis, lags, gamma=0.5)
    swapped = loss.memnets_terms(chis, lags, gamma=0.5, match_modes=False)
    alone = loss.memnets_terms([c[:, :1] for c in chis], lags, gamma=0.5)
    # matched mode 1 is A, with A's own short-lag eigenvalue
    assert matched.log_lambda[0, 0].item() == pytest.approx(alone.log_lambda[0, 0].item(), abs=0.01)
    assert matched.m0[0].item() == pytest.approx(alone.m0[0].item(), abs=0.01)
    # per-lag sorting put B's larger short-lag eigenvalue into mode 1
    assert swapped.log_lambda[0, 0].item() > alone.log_lambda[0, 0].item() + 0.1


def test_loss_and_memory_term_do_not_depend_on_the_output_scale():
    """Scaling the encoder's outputs (a BatchNorm-free last layer can do that) leaves the
    whitened correlations, the loss and m0 unchanged: the regularisation is scale-free."""
    rng = np.random.default_rng(3)
    n, lags = 4000, [1, 4, 5, 6]
    z = np.zeros((n + 10, 2))
    for t in range(1, n + 10):
        z[t] = [0.95, 0.6] * z[t - 1] + rng.normal(size=2)
    outputs = [torch.from_numpy(z[:n])] + [torch.from_numpy(z[lag:lag + n]) for lag in lags]
    reference = loss.memnets_terms(outputs, lags, gamma=0.5)
    for scale in (1e-4, 1e3):
        scaled = loss.memnets_terms([o * scale for o in outputs], lags, gamma=0.5)
        np.testing.assert_allclose(scaled.loss.item(), reference.loss.item(), rtol=1e-9)
        np.testing.assert_allclose(scaled.m0.numpy(), reference.m0.numpy(), rtol=1e-7,
                                   atol=1e-12)
