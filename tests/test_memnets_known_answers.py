"""MEMnets on processes whose answers are known (docs/science.md 2, issue 4 part 5)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from cgviz.memnets import MEMnets, MEMnetsConfig
from cgviz.memnets.igme import igme_analysis, tica_baseline


def _ar1(noise: np.ndarray, a: float) -> np.ndarray:
    return lfilter([1.0], [1.0, -a], noise)



def test_memoryless_ou_process_has_no_memory_and_the_analytic_time_scale():
    """Two discretised OU processes (time scales 40 and 4 frames), linearly mixed: the
    projection on the slow one is Markovian, so m0 ~ 0 and 1/|log_lambda_hat| = 40."""
    rng = np.random.default_rng(0)
    trajectories = []
    for _ in range(4):
        slow, fast = (_ar1(rng.normal(size=25000) * np.sqrt(1 - np.exp(-2 / t)), np.exp(-1 / t))
                      for t in (40.0, 4.0))
        trajectories.append(np.stack([slow + 0.5 * fast, slow - fast], 1).astype(np.float32))
    config = MEMnetsConfig(lagtimes=[1, 10, 12, 14, 16], encoder_sizes=[2, 16, 16, 1],
                           n_epochs=8, train_batch_size=10000, decay_rate=0.02, thres=0.05,
                           learning_rate=3e-3, seeds=[1])
    model = MEMnets(config).fit(trajectories).fetch_model()
    estimate = model.estimate(trajectories)
    assert estimate.time_scales[0] == pytest.approx(40.0, rel=0.15)
    assert abs(estimate.m0[0]) < 0.1 * abs(estimate.log_lambda_hat[0])
    assert estimate.rmse[0] < 0.01
    # the IGME analysis of the CVs agrees, over a wider lag range
    analysis = igme_analysis(model.cvs(trajectories), range(1, 31), fit_lagtimes=range(10, 31))
    assert analysis.igme_timescales[0] == pytest.approx(40.0, rel=0.15)
    assert np.abs(analysis.memory_term[:, 0]).max() < 0.1 / 40
    # a raw feature that mixes in the fast process is not memoryless: the test can tell
    raw = igme_analysis([t[:, 1:] for t in trajectories], range(1, 31), fit_lagtimes=range(10, 31))
    assert abs(raw.m0[0]) > 10 * abs(estimate.m0[0])


def _hidden_memory(n_frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Observed: a slow OU ``s`` (100 frames) and a fast ``f`` that relaxes in ~2 frames
    towards ``2 h``, with ``h`` an unobserved, even slower OU (400 frames)."""
    rng = np.random.default_rng(seed)
    s = _ar1(rng.normal(size=n_frames) * np.sqrt(1 - np.exp(-2 / 100)), np.exp(-1 / 100))
    h = _ar1(rng.normal(size=n_frames) * np.sqrt(1 - np.exp(-2 / 400)), np.exp(-1 / 400))
    a_f = np.exp(-0.5)
    drive = np.concatenate([[0.0], (1 - a_f) * 2.0 * h[:-1]])
    f = _ar1(rng.normal(size=n_frames) * 0.6 + drive, a_f)
    return np.stack([s, f], axis=1).astype(np.float32), s


def test_hidden_memory_memnets_avoids_the_memory_that_tica_picks_up():
    """At lag 50, f's autocorrelation (dominated by the hidden slow h) beats s's, so TICA
    picks f, whose fast drop at short lags is memory. MEMnets picks the Markovian s."""
    trajectories, slow = zip(*(_hidden_memory(25000, seed) for seed in range(4)))
    lags = [1, 40, 45, 50, 55, 60]
    config = MEMnetsConfig(lagtimes=lags, encoder_sizes=[2, 16, 16, 1], n_epochs=10,
                           train_batch_size=10000, decay_rate=0.02, thres=0.05,
                           learning_rate=3e-3, seeds=[1])
    model = MEMnets(config).fit(list(trajectories)).fetch_model()
    memnets_cvs = model.cvs(list(trajectories))
    tica = tica_baseline(list(trajectories), lagtime=50, dim=1)
    memnets = igme_analysis(memnets_cvs, lags, fit_lagtimes=lags[1:], label="MEMnets")
    markov = igme_analysis(tica.cvs, lags, fit_lagtimes=lags[1:], label="TICA")
    assert abs(memnets.m0[0]) < 0.2 * abs(markov.m0[0])
    assert abs(markov.m0[0]) > 0.02                      # TICA's CV has clear memory
    slow_all = np.concatenate(slow)
    assert abs(np.corrcoef(np.concatenate(memnets_cvs)[:, 0], slow_all)[0, 1]) > 0.95
    assert abs(np.corrcoef(np.concatenate(tica.cvs)[:, 0], slow_all)[0, 1]) < 0.5
    assert memnets.igme_timescales[0] == pytest.approx(100.0, rel=0.2)
