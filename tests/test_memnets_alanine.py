"""MEMnets on the bundled alanine dipeptide (sin/cos phi/psi), against answers from the data.

What a data set samples decides its known answer, measured here without any learning from
two-state core-set Markov models of phi or psi:

* ``alanine-dipeptide`` (4 x 10 ns, amber14 + OBC2 implicit water, 300 K, 1 ps frames)
  visits alpha_L/C7ax (phi > 0) in only 5 brief excursions, so the phi flip is not a
  process it can show. Its slowest sampled process is the psi transition between the
  extended beta/PPII basin (psi ~ 150 deg) and alpha_R (psi ~ -40 deg): MEMnets must find
  it as CV1 with its time scale.
* ``alanine-dipeptide-450k`` (the same at 450 K, 2 ps frames) visits alpha_L/C7ax about
  20 times, for about 65 ps each; there the phi flip (time scale about 90 ps) is the
  slowest process by a factor of about ten, and CV1 must separate alpha_L/C7ax from the
  rest with the phi flip's time scale (docs/science.md 2.6)."""

from __future__ import annotations

import mdtraj as md
import numpy as np
import pytest

from cgviz import datasets
from cgviz.datasets.alanine import conformational_states
from cgviz.io import backbone_dihedral_features
from cgviz.memnets import MEMnets, MEMnetsConfig
from cgviz.memnets import figures
from cgviz.memnets.igme import compare_cvs, tica_baseline, vampnet_baseline

LAGS = [1, 5, 6, 7, 8]          # ps (1 ps frames)


def _trans_trajectories(demo) -> list:
    top = demo.topology

    def atom(residue: int, name: str) -> int:
        return next(a.index for a in top.atoms if a.residue.index == residue and a.name == name)

    omega = [atom(0, "CH3"), atom(0, "C"), atom(1, "N"), atom(1, "CA")]
    kept = []
    for trajectory in demo.trajectories:
        angle = md.compute_dihedrals(trajectory, [omega])[:, 0]
        if np.mean(np.abs(angle) < np.pi / 2) < 0.5:
            kept.append(trajectory)
    return kept


def _core_set_timescale(cores: list[np.ndarray], lag: int) -> float:
    """Implied time scale (frames) of a two-state core-set MSM. ``cores`` per trajectory:
    0 or 1 inside a core, -1 between them, where a frame keeps the core it came from."""
    counts = np.zeros((2, 2))
    for core in cores:
        core = core.copy()
        for i in range(1, core.size):
            if core[i] < 0:
                core[i] = core[i - 1] if core[i - 1] >= 0 else 1
        if core[0] < 0:
            core[0] = 1
        np.add.at(counts, (core[:-lag], core[lag:]), 1)
    counts = 0.5 * (counts + counts.T)                  # reversible estimate
    transition = counts / counts.sum(axis=1, keepdims=True)
    second = np.trace(transition) - 1.0                 # the non-unit eigenvalue
    return -lag / np.log(second)


def _psi_cores(psi: np.ndarray) -> np.ndarray:
    """alpha_R (-100 < psi < 0 deg) = 0, beta/PPII (psi > 100 or < -150 deg) = 1."""
    return np.where((psi > -100) & (psi < 0), 0, np.where((psi > 100) | (psi < -150), 1, -1))


def _phi_cores(phi: np.ndarray) -> np.ndarray:
    """alpha_L/C7ax (30 < phi < 130 deg) = 0, the phi < 0 basins (phi < -30 deg) = 1."""
    return np.where((phi > 30) & (phi < 130), 0, np.where(phi < -30, 1, -1))


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """Probability that a random labelled frame scores above a random other (either sign)."""
    ranks = np.empty(score.size)
    ranks[np.argsort(score)] = np.arange(score.size)
    auc = (ranks[label].mean() - (label.sum() - 1) / 2) / (~label).sum()
    return max(auc, 1 - auc)



def test_alanine_cv1_is_the_slowest_sampled_process_with_its_time_scale():
    demo = datasets.load_demo("alanine-dipeptide")
    trajectories = _trans_trajectories(demo)
    assert len(trajectories) >= 2
    features = [backbone_dihedral_features(t) for t in trajectories]
    phi = [np.degrees(np.arctan2(f[:, 0], f[:, 1])) for f in features]
    psi = [np.degrees(np.arctan2(f[:, 2], f[:, 3])) for f in features]
    config = MEMnetsConfig(lagtimes=LAGS, encoder_sizes=[4, 20, 20, 2], n_epochs=6,
                           train_batch_size=5000, decay_rate=0.01, thres=0.05,
                           learning_rate=3e-3, seeds=[1, 2], split="blocks")
    model = MEMnets(config).fit(features).fetch_model()
    estimate = model.estimate(features)
    cvs = model.cvs(features)
    states = conformational_states(np.radians(np.concatenate(phi)), np.radians(np.concatenate(psi)))
    alpha_r = states == 1
    assert _auc(np.concatenate(cvs)[:, 0], alpha_r) > 0.95
    reference = _core_set_timescale([_psi_cores(p) for p in psi], lag=10)
    assert estimate.time_scales[0] == pytest.approx(reference, rel=0.25)
    assert estimate.time_scales[0] > estimate.time_scales[1]

    # MEMnets beside the Markovian baselines on the same features, as the page shows it
    tica = tica_baseline(features, lagtime=LAGS[-1], dim=2)
    vamp = vampnet_baseline(features, lagtime=LAGS[-1], dim=2, hidden=(20, 20), n_epochs=2,
                            batch_size=5000, learning_rate=3e-3)
    analyses = compare_cvs({"MEMnets": cvs, "TICA": tica, "VAMPnets": vamp}, range(1, 11),
                           fit_lagtimes=LAGS[1:], tau_0=1, n_modes=1, dt=demo.info.frame_time_ps)
    # all three find the same slowest process (the time scale is lag independent)
    for analysis in analyses:
        assert analysis.igme_timescales[0] == pytest.approx(reference, rel=0.3)
    for build in (figures.log_lambda_figure, figures.memory_term_figure,
                  figures.timescales_figure):
        assert len(build(analyses).data) >= 3
    labels = np.where(alpha_r, "alpha_R", "beta/PPII or other")
    assert len(figures.cv_scatter(cvs, color=labels).data) == 2
    assert len(figures.cv_free_energy(cvs).data) == 1


def test_hot_alanine_cv1_separates_alpha_l_and_its_time_scale_is_the_phi_flip():
    demo = datasets.load_demo("alanine-dipeptide-450k")
    features = [backbone_dihedral_features(t) for t in demo.trajectories]
    phi = [np.degrees(np.arctan2(f[:, 0], f[:, 1])) for f in features]
    psi = [np.degrees(np.arctan2(f[:, 2], f[:, 3])) for f in features]
    phi_flip = _core_set_timescale([_phi_cores(p) for p in phi], lag=10)
    psi_hop = _core_set_timescale([_psi_cores(p) for p in psi], lag=10)
    assert phi_flip > 5 * psi_hop  # the data make the phi flip the slowest process
    config = MEMnetsConfig(lagtimes=[1, 10, 12, 14, 16], encoder_sizes=[4, 20, 20, 2],
                           n_epochs=6, train_batch_size=5000, decay_rate=0.01, thres=0.05,
                           learning_rate=3e-3, seeds=[1, 2], split="blocks")
    model = MEMnets(config).fit(features).fetch_model()
    estimate = model.estimate(features)
    cvs = np.concatenate(model.cvs(features))
    alpha_l = np.concatenate(phi) > 0
    assert _auc(cvs[:, 0], alpha_l) > 0.95
    assert _auc(cvs[:, 1], alpha_l) < 0.8  # CV2 is something else
    assert estimate.time_scales[0] == pytest.approx(phi_flip, rel=0.2)
    assert estimate.time_scales[1] < 0.3 * estimate.time_scales[0]
