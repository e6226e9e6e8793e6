"""MEMnets on the bundled alanine dipeptide (sin/cos phi/psi), against answers from the data.

What the bundled demo (4 x 10 ns, amber14 + OBC2 implicit water, 300 K, 1 ps frames) samples
decides the known answer. It visits alpha_L/C7ax (phi > 0) in a handful of brief
excursions only (5 in 40 ns), so the phi flip into alpha_L is not a process these data can
show (SCIENCE.md 2.6 expects it from much longer data). The slowest process they do sample
is the psi transition between the extended beta/PPII basin (psi ~ 150 deg) and alpha_R
(psi ~ -40 deg). Its time scale is measured here without any learning, from a two-state
core-set Markov model of psi, and MEMnets must find that process as CV1 with that time
scale.
"""

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


def _core_set_timescale(psi_degrees: list[np.ndarray], lag: int) -> float:
    """Implied time scale (frames) of a two-state core-set MSM: cores alpha_R
    (-100 < psi < 0 deg) and beta/PPII (psi > 100 or psi < -150 deg); between them a frame
    keeps the core it came from."""
    counts = np.zeros((2, 2))
    for psi in psi_degrees:
        core = np.where((psi > -100) & (psi < 0), 0,
                        np.where((psi > 100) | (psi < -150), 1, -1))
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
    reference = _core_set_timescale(psi, lag=10)
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
