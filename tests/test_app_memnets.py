"""The MEMnets page and its linked view (selected CV points -> trajectory frames)."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_support import chart_titles
from streamlit.testing.v1 import AppTest

from cgviz.app import ui

ROOT = Path(__file__).resolve().parents[1]


def test_selection_maps_to_the_right_trajectory_and_frame():
    # Three trajectories of 10, 5 and 7 frames, plotted every 2nd frame of the concatenation.
    lengths = [10, 5, 7]
    chosen = ui.frames_for_selection([0, 4, 5, 7, 10, 3, 3], lengths, stride=2)
    # rows 0, 6, 8, 10, 14, 20 -> (0,0) (0,6) (0,8) (1,0) (1,4) (2,5)
    assert chosen == [(0, 0), (0, 6), (0, 8), (1, 0), (1, 4), (2, 5)]
    assert ui.frames_for_selection([], lengths, 2) == []
    many = ui.frames_for_selection(range(1000), [5000], stride=1, max_frames=100)
    assert len(many) == 100 and many[0] == (0, 0)


@pytest.mark.slow
def test_memnets_page_trains_and_shows_memory_kernels_beside_tica():
    at = AppTest.from_file(str(ROOT / "pages" / "5_MEMnets.py"), default_timeout=300).run()
    assert not at.exception and not at.error
    assert "Train MEMnets here" in at.info[0].value
    at.number_input[0].set_value(2)
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    # Training curves, CV free energy, log lambda, memory term, time scales, projection.
    assert len(at.get("plotly_chart")) == 6
    assert "log λ(τ) and the IGME fit" in chart_titles(at)
    # The CVs leave as files.
    assert any("Download the CVs" in b.proto.label for b in at.get("download_button"))
    # Markov state models on MEMnets and TICA CVs: time scales with intervals, a CK test.
    clusters = next(n for n in at.number_input if n.label == "k-means clusters")
    clusters.set_value(20)
    at.get("form_submit_button")[1].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metrics = [m.label for m in at.metric]
    assert any(m.startswith("MEMnets: slowest time scale (ps") for m in metrics)
    assert any(m.startswith("TICA: slowest time scale") for m in metrics)
    assert any("95 % interval" in c.value for c in at.caption)
    titles = chart_titles(at)
    assert "MSM implied time scales (95 % bootstrap intervals)" in titles
    assert "Chapman-Kolmogorov test" in titles and len(at.get("plotly_chart")) == 8
    # Impossible MSM settings are a clear error; the page stays up.
    next(n for n in at.number_input if n.label == "MSM lag (frames)").set_value(100_000)
    at.get("form_submit_button")[1].click().run()
    assert not at.exception and any("lag" in e.value for e in at.error)
    # A bad lag list is a clear error and keeps the results shown.
    at.text_input[0].input("10 1 x")
    at.get("form_submit_button")[0].click().run()
    assert not at.exception and at.error and len(at.get("plotly_chart")) >= 6


@pytest.mark.slow
def test_memnets_page_on_aligned_bead_positions():
    at = AppTest.from_file(str(ROOT / "pages" / "5_MEMnets.py"), default_timeout=300).run()
    at.radio[1].set_value("aligned bead positions").run()
    at.number_input[0].set_value(1)
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 6


@pytest.mark.slow
def test_memnets_page_shows_a_finished_run(tmp_path, monkeypatch):
    from cgviz import jobs

    monkeypatch.setenv("CGVIZ_RUNS_DIR", str(tmp_path))
    spec = jobs.RunSpec(task="memnets", config={"demo": "alanine-dipeptide", "n_epochs": 1,
                                                "lagtimes": [1, 7, 8, 9, 10],
                                                "encoder_sizes": [4, 20, 10, 2]})
    jobs.start(spec, runs_dir=tmp_path, name="ala")
    assert jobs.wait("ala", tmp_path, timeout_s=300).state == "completed"
    at = AppTest.from_file(str(ROOT / "pages" / "5_MEMnets.py"), default_timeout=300).run()
    choice = [o for o in at.radio[2].options if o.startswith("finished run ala")]
    assert choice, at.radio[2].options
    at.radio[2].set_value(choice[0]).run()
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 6
    # A run trained on other data is refused with a hint while a different system is loaded.
    at.selectbox[0].set_value("polymer-test").run()
    at.button[0].click().run()
    at.get("form_submit_button")[0].click().run()
    assert not at.exception and "trained on alanine-dipeptide" in at.error[0].value
