"""IGME analysis of given CVs, the (tau_K, L) window scan, and the Markovian baselines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from cgviz.errors import CgvizError
from cgviz.memnets.igme import (compare_cvs, igme_analysis, igme_window_scan, tica_baseline,
                                vampnet_baseline)



def _ou(n_frames: int, time_scale: float, rng) -> np.ndarray:
    a = np.exp(-1.0 / time_scale)
    return lfilter([1.0], [1.0, -a], rng.normal(size=n_frames) * np.sqrt(1 - a * a))


@pytest.fixture(scope="module")
def ou_pair():
    """Two trajectories of two independent OU processes, time scales 30 and 3 frames."""
    rng = np.random.default_rng(0)
    return [np.stack([_ou(30000, 30.0, rng), _ou(30000, 3.0, rng)], axis=1) for _ in range(2)]


def test_markovian_cvs_have_flat_time_scales_and_no_memory(ou_pair):
    analysis = igme_analysis(ou_pair, range(1, 9), fit_lagtimes=range(1, 9), dt=0.5)
    np.testing.assert_allclose(analysis.igme_timescales, [30.0, 3.0], rtol=0.1)
    np.testing.assert_allclose(analysis.implied_timescales[:, 0], 30.0, rtol=0.1)
    assert (np.abs(analysis.m0) < 0.1 * np.abs(analysis.log_lambda_hat)).all()
    assert analysis.rmse.max() < 0.05
    assert analysis.in_ps(analysis.igme_timescales)[0] == pytest.approx(15.0, rel=0.1)
    assert analysis.lagtimes.tolist() == list(range(1, 9))


def test_memory_shows_as_a_negative_memory_term_that_fades_with_the_lag():
    """A CV = slow OU (100 frames) + fast OU (1 frame): its ACF is bi-exponential, so at
    short lags ln lambda(tau)/tau lies far below the long-lag slope."""
    rng = np.random.default_rng(1)
    cv = [(_ou(40000, 100.0, rng) + _ou(40000, 1.0, rng))[:, None] for _ in range(2)]
    analysis = igme_analysis(cv, [1, 2, 4, 8, 20, 25, 30, 35, 40], fit_lagtimes=[20, 25, 30, 35, 40])
    memory = analysis.memory_term[:, 0]
    assert memory[0] < -0.3                           # ln(~0.68)/1 vs -0.01
    assert np.all(np.diff(memory[:5]) > 0)            # fades as tau grows
    assert abs(memory[-1]) < 0.1 * abs(memory[0])
    assert analysis.m0[0] == pytest.approx(memory[0])
    assert analysis.igme_timescales[0] == pytest.approx(100.0, rel=0.25)
    # the Markovian implied time scale at lag 1 is far too short
    assert analysis.implied_timescales[0, 0] < 0.1 * analysis.igme_timescales[0]


def test_window_scan_finds_the_time_scale_and_a_low_rmse_window(ou_pair):
    scan = igme_window_scan(ou_pair, tau_k=[1, 3, 6], window_lengths=[2, 5, 10])
    assert scan.rmse.shape == (3, 3) and np.isfinite(scan.rmse).all()
    assert scan.best[0] in (1, 3, 6) and scan.best[1] in (2, 5, 10)
    i = list(scan.tau_k).index(scan.best[0])
    j = list(scan.window_lengths).index(scan.best[1])
    assert scan.timescales[i, j, 0] == pytest.approx(30.0, rel=0.15)
    assert scan.rmse.min() < 0.01


def test_baselines_find_the_slow_process(ou_pair):
    mixed = [np.stack([x[:, 0] + x[:, 1], x[:, 0] - 2 * x[:, 1]], axis=1) for x in ou_pair]
    tica = tica_baseline(mixed, lagtime=5, dim=2)
    assert tica.timescales_frames[0] == pytest.approx(30.0, rel=0.1)
    vamp = vampnet_baseline(mixed, lagtime=5, dim=1, hidden=(16, 16), n_epochs=5,
                            batch_size=5000, learning_rate=1e-2)
    slow = np.concatenate([x[:, 0] for x in ou_pair])
    for cvs in (tica.cvs, vamp.cvs):
        assert abs(np.corrcoef(np.concatenate(cvs)[:, 0], slow)[0, 1]) > 0.95
    assert vamp.scores is not None and vamp.scores.size > 0
    analyses = compare_cvs({"TICA": tica, "VAMPnets": vamp}, range(1, 9), n_modes=1)
    assert [a.label for a in analyses] == ["TICA", "VAMPnets"]
    assert all(a.n_modes == 1 for a in analyses)


def test_analysis_errors_are_user_errors(ou_pair):
    with pytest.raises(CgvizError, match="at least two"):
        igme_analysis(ou_pair, [1, 5], fit_lagtimes=[5])
    with pytest.raises(CgvizError, match="positive frame counts"):
        igme_analysis(ou_pair, [0, 5, 6])
    with pytest.raises(CgvizError, match="n_modes"):
        igme_analysis(ou_pair, [1, 5, 6], n_modes=3)
    with pytest.raises(CgvizError, match="linearly dependent"):
        igme_analysis([np.stack([x[:, 0], x[:, 0]], axis=1) for x in ou_pair], [1, 2, 3])


def test_analysis_fits_the_same_lags_as_training_by_default():
    rng = np.random.default_rng(0)
    cvs = np.cumsum(rng.normal(size=(3000, 2)), axis=0) * 0.01 + rng.normal(size=(3000, 2))
    analysis = igme_analysis(cvs, [1, 7, 8, 9, 10])
    assert list(analysis.fit_lagtimes) == [7, 8, 9, 10]  # training fits tau_1 .. tau_K


def test_made_up_run_directories_never_collide(tmp_path):
    from cgviz.memnets.cli import _new_directory

    first = _new_directory(tmp_path, "12_07_02_15_memnets")
    second = _new_directory(tmp_path, "12_07_02_15_memnets")
    assert first != second and first.is_dir() and second.name.endswith("_2")
    assert _new_directory(tmp_path, "mine", reuse=True) == tmp_path / "mine"
