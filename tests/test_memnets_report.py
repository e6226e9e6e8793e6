"""One call for the MEMnets screen: cv_report (MEMnets beside TICA, analysed alike) and
cv_projection (the linked view's points), on the bundled alanine dipeptide."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cgviz import CgvizError, datasets
from cgviz.datasets.alanine import STATE_NAMES
from cgviz.io import backbone_dihedral_features
from cgviz.memnets import MEMnets, MEMnetsConfig, igme
from cgviz.memnets.report import CVReport, cv_projection, cv_report

LAGS = [1, 5, 6, 7, 8]


@pytest.fixture(scope="module")
def fitted():
    demo = datasets.load_demo("alanine-dipeptide")
    trajectories = [t[:3000] for t in demo.trajectories[:2]]
    features = [backbone_dihedral_features(t) for t in trajectories]
    config = MEMnetsConfig(lagtimes=LAGS, encoder_sizes=[4, 10, 2], n_epochs=2,
                           train_batch_size=2000, seeds=[1], split="blocks")
    model = MEMnets(config).fit(features).fetch_model()
    return model, features, trajectories


def test_the_report_holds_memnets_beside_tica_analysed_with_the_training_lags(fitted):
    model, features, _ = fitted
    report = cv_report(model, features, 1.0, "demo: alanine-dipeptide")
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.label = "other"
    assert isinstance(report, CVReport) and list(report.cv_sets) == ["MEMnets", "TICA"]
    assert [a.label for a in report.analyses] == ["MEMnets", "TICA"]
    for mine, expected in zip(report.cvs, model.cvs(features)):
        np.testing.assert_allclose(mine, expected)
    tica = igme.tica_baseline(features, LAGS[-1], 2)
    for mine, expected in zip(report.cv_sets["TICA"], tica.cvs):
        np.testing.assert_allclose(np.abs(mine), np.abs(expected), rtol=1e-6, atol=1e-9)
    alone = igme.igme_analysis(list(report.cvs), LAGS, LAGS[1:], LAGS[0], dt=1.0)
    np.testing.assert_allclose(report.analyses[0].m0, alone.m0)
    assert report.msm_lag == 8
    wide = cv_report(model, features, 1.0, analysis_lagtimes=range(1, 11))
    assert len(wide.analyses[0].lagtimes) == 10
    # The fit and m0 use the training lags either way.
    np.testing.assert_allclose(wide.analyses[0].m0, report.analyses[0].m0)


def test_the_projection_colours_alanine_by_state_and_thins_to_the_limit(fitted):
    model, features, trajectories = fitted
    report = cv_report(model, features, 1.0)
    points = cv_projection(report, trajectories, trajectories[0].topology, max_points=1000)
    assert points.stride == 6 and len(points.x) == len(points.y) == len(points.color)
    assert len(points.x) == -(-6000 // 6)
    assert points.category_names == STATE_NAMES and points.color_label == "state"
    assert set(np.unique(points.color)) <= set(range(len(STATE_NAMES)))
    plain = cv_projection(report, trajectories, None)
    assert plain.color_label == "frame" and plain.category_names is None
    with pytest.raises(CgvizError, match="do not match"):
        cv_projection(report, trajectories[:1], None)


def test_a_single_cv_is_plotted_along_the_frames(fitted):
    _, features, trajectories = fitted
    config = MEMnetsConfig(lagtimes=LAGS, encoder_sizes=[4, 10, 1], n_epochs=1,
                           train_batch_size=2000, seeds=[1], split="blocks")
    model = MEMnets(config).fit(features).fetch_model()
    points = cv_projection(cv_report(model, features, 1.0), trajectories, None)
    assert points.x_label.startswith("frame") and points.y_label == "CV 1"
    np.testing.assert_array_equal(points.x[:3], [0, points.stride, 2 * points.stride])
