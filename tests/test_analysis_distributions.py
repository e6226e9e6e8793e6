"""cgviz.analysis.distributions (histograms, Jensen-Shannon) and cgviz.analysis.fes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cgviz.analysis import (
    compute_free_energy_surface,
    distribution_js,
    histogram_2d_js,
    histogram_pair,
    jensen_shannon_divergence,
)
from cgviz.errors import CgvizError

LN2 = math.log(2.0)


def brute_force_js(p: list[float], q: list[float]) -> float:
    p = [v / sum(p) for v in p]
    q = [v / sum(q) for v in q]
    total = 0.0
    for p_i, q_i in zip(p, q):
        m_i = 0.5 * (p_i + q_i)
        if p_i > 0:
            total += 0.5 * p_i * math.log(p_i / m_i)
        if q_i > 0:
            total += 0.5 * q_i * math.log(q_i / m_i)
    return total


def test_js_closed_forms_and_symmetry():
    p = np.array([3.0, 1.0, 0.0, 6.0])
    assert jensen_shannon_divergence(p, p) == 0.0
    assert jensen_shannon_divergence(p, 10 * p) == pytest.approx(0.0, abs=1e-15)
    assert jensen_shannon_divergence([1, 2, 0, 0], [0, 0, 5, 1]) == pytest.approx(LN2, rel=1e-14)
    q = np.array([1.0, 1.0, 1.0, 1.0])
    assert jensen_shannon_divergence(p, q) == jensen_shannon_divergence(q, p)
    # Two-bin closed form: p = (1, 0), q = (1/2, 1/2): m = (3/4, 1/4),
    # JS = 1/2 ln(4/3) + 1/4 ln(2/3) + 1/4 ln 2.
    expected = 0.5 * math.log(4 / 3) + 0.25 * math.log(2 / 3) + 0.25 * math.log(2)
    assert jensen_shannon_divergence([1, 0], [1, 1]) == pytest.approx(expected, rel=1e-14)


def test_js_matches_brute_force_formula():
    rng = np.random.default_rng(20)
    for _ in range(5):
        p = rng.integers(0, 5, size=12).astype(float)
        q = rng.integers(0, 5, size=12).astype(float)
        p[0] += 1
        q[1] += 1
        value = jensen_shannon_divergence(p, q)
        assert value == pytest.approx(brute_force_js(list(p), list(q)), rel=1e-12)
        assert 0.0 < value < LN2
    grid_p, grid_q = rng.uniform(size=(4, 5)), rng.uniform(size=(4, 5))
    assert jensen_shannon_divergence(grid_p, grid_q) == pytest.approx(
        brute_force_js(list(grid_p.ravel()), list(grid_q.ravel())), rel=1e-12
    )


def test_histogram_pair_shared_bins_and_distribution_js():
    rng = np.random.default_rng(21)
    reference = rng.normal(0.38, 0.02, size=(500, 4))
    model = rng.normal(0.40, 0.03, size=(300, 4))
    histograms = histogram_pair(reference, model, bins=30)
    low = min(reference.min(), model.min())
    high = max(reference.max(), model.max())
    np.testing.assert_allclose(histograms.edges, np.linspace(low, high, 31))
    np.testing.assert_array_equal(
        histograms.counts_a, np.histogram(reference.ravel(), bins=histograms.edges)[0]
    )
    assert histograms.counts_a.sum() == 2000 and histograms.counts_b.sum() == 1200
    assert histograms.probabilities_b.sum() == pytest.approx(1.0)
    assert np.sum(histograms.densities_a * np.diff(histograms.edges)) == pytest.approx(1.0)
    assert histograms.centers.shape == (30,)
    js = distribution_js(reference, model, bins=30)
    assert js == pytest.approx(brute_force_js(list(histograms.counts_a), list(histograms.counts_b)))
    assert distribution_js(reference, reference) == 0.0
    assert distribution_js([0.1, 0.2], [0.8, 0.9], bins=10) == pytest.approx(LN2)
    # A fixed range: samples outside are ignored.
    fixed = histogram_pair([0.5, 1.5, 9.0], [0.5], bins=2, range=(0.0, 2.0))
    np.testing.assert_array_equal(fixed.counts_a, [1, 1])
    # Lists of trajectories are concatenated.
    assert distribution_js([reference[:100], reference[100:]], reference) == 0.0


def test_histogram_2d_js():
    rng = np.random.default_rng(22)
    reference = rng.normal(size=(2000, 2))
    model = rng.normal(loc=[0.5, 0.0], size=(1500, 2))
    edges = [np.linspace(-3, 3, 21)] * 2
    counts_ref = np.histogram2d(reference[:, 0], reference[:, 1], bins=edges)[0]
    counts_model = np.histogram2d(model[:, 0], model[:, 1], bins=edges)[0]
    value = histogram_2d_js(reference, model, bins=20, range=((-3, 3), (-3, 3)))
    assert value == pytest.approx(
        brute_force_js(list(counts_ref.ravel()), list(counts_model.ravel())), rel=1e-12
    )
    assert histogram_2d_js(reference, reference) == 0.0
    assert histogram_2d_js(reference, reference + 100.0, bins=10) == pytest.approx(LN2)


def test_distribution_errors():
    with pytest.raises(CgvizError, match="same shape"):
        jensen_shannon_divergence([1, 2], [1, 2, 3])
    with pytest.raises(CgvizError, match="negative"):
        jensen_shannon_divergence([1, -2], [1, 2])
    with pytest.raises(CgvizError, match="sums to 0"):
        jensen_shannon_divergence([0, 0], [1, 2])
    with pytest.raises(CgvizError, match="NaN"):
        distribution_js([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(CgvizError, match="inside the range"):
        histogram_pair([5.0, 6.0], [0.5], bins=2, range=(0.0, 1.0))
    with pytest.raises(CgvizError, match="bins"):
        histogram_pair([1.0], [2.0], bins=0)
    with pytest.raises(CgvizError, match=r"\(n_samples, 2\)"):
        histogram_2d_js(np.zeros((5, 3)), np.zeros((5, 3)))


# -------------------------------------------------------------------------- FES

KT_300_KJ_PER_MOL = 0.0083144626 * 300.0


def test_fes_matches_hand_histogram():
    # Counts on a 2 x 2 grid over [0, 2] x [0, 2]: (x bin, y bin) -> count
    # (0, 0): 4, (1, 0): 2, (0, 1): 1, (1, 1): 0.
    points = [(0.5, 0.5)] * 4 + [(1.5, 0.5)] * 2 + [(0.5, 1.5)]
    x, y = np.array(points).T
    surface = compute_free_energy_surface(x, y, bins=2, range=((0, 2), (0, 2)))
    kT = KT_300_KJ_PER_MOL
    assert surface.units == "kJ/mol" and surface.kT == pytest.approx(2.494338, rel=1e-6)
    assert surface.free_energy.shape == (2, 2)
    assert surface.free_energy[0, 0] == 0.0
    assert surface.free_energy[1, 0] == pytest.approx(kT * math.log(2), rel=1e-13)
    assert surface.free_energy[0, 1] == pytest.approx(kT * math.log(4), rel=1e-13)
    assert np.isnan(surface.free_energy[1, 1])
    np.testing.assert_allclose(surface.probability, [[4 / 7, 1 / 7], [2 / 7, 0]])
    np.testing.assert_allclose(surface.x_centers, [0.5, 1.5])
    np.testing.assert_allclose(surface.y_edges, [0.0, 1.0, 2.0])

    in_kT = compute_free_energy_surface(x, y, bins=2, range=((0, 2), (0, 2)), temperature_K=None)
    assert in_kT.units == "kT"
    assert in_kT.free_energy[0, 1] == pytest.approx(math.log(4), rel=1e-13)
    # Weights act like repeated samples.
    weighted = compute_free_energy_surface(
        [0.5, 1.5, 0.5], [0.5, 0.5, 1.5], bins=2, range=((0, 2), (0, 2)), weights=[4, 2, 1]
    )
    np.testing.assert_allclose(weighted.free_energy, surface.free_energy, equal_nan=True)


def test_fes_brute_force_on_random_samples():
    rng = np.random.default_rng(23)
    x, y = rng.normal(size=(2, 3000))
    surface = compute_free_energy_surface(x, y, bins=(12, 9), temperature_K=310.0)
    counts = np.zeros((12, 9))
    for x_value, y_value in zip(x, y):
        i = min(int((x_value - x.min()) / (x.max() - x.min()) * 12), 11)
        j = min(int((y_value - y.min()) / (y.max() - y.min()) * 9), 8)
        counts[i, j] += 1
    kT = 0.0083144626 * 310.0
    expected = np.where(counts > 0, -kT * np.log(np.maximum(counts, 1) / counts.max()), np.nan)
    np.testing.assert_allclose(
        surface.free_energy, expected, rtol=1e-12, atol=1e-12, equal_nan=True
    )
    assert np.nanmin(surface.free_energy) == 0.0


def test_fes_errors():
    with pytest.raises(CgvizError, match="same length"):
        compute_free_energy_surface(np.zeros(5), np.zeros(4))
    with pytest.raises(CgvizError, match="NaN"):
        compute_free_energy_surface(np.array([0.0, np.nan]), np.zeros(2))
    with pytest.raises(CgvizError, match="weights"):
        compute_free_energy_surface(np.zeros(3), np.zeros(3), weights=[1, 2])
    with pytest.raises(CgvizError, match="temperature_K"):
        compute_free_energy_surface(np.zeros(3), np.zeros(3), temperature_K=-5)
    with pytest.raises(CgvizError, match="inside the range"):
        compute_free_energy_surface(np.zeros(3), np.zeros(3), range=((1, 2), (1, 2)))
