"""The evaluation's noise floor: the reference MD scored against itself."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from cgviz.simulator import evaluate


def dumbbells(n_frames: int, sizes, memories, seed: int = 0):
    """Two equal beads whose distance is an AR(1) process around ``size`` with coefficient
    ``memory`` per frame: mean Rg = size / 2, Rg^2 relaxation time grows with memory."""
    rng = np.random.default_rng(seed)
    systems = []
    for size, memory in zip(sizes, memories):
        d = np.empty(n_frames)
        d[0] = 0.0
        for t in range(1, n_frames):
            d[t] = memory * d[t - 1] + 0.05 * rng.normal()
        positions = np.zeros((n_frames, 2, 3))
        positions[:, 1, 0] = size + d
        systems.append(SimpleNamespace(positions=positions, bead_masses=np.ones(2),
                                       frame_time_ps=10.0))
    return systems


def test_long_reference_data_agree_with_themselves():
    sizes, memories = [1.0, 1.4, 1.8, 2.2, 2.6], [0.5, 0.8, 0.9, 0.95, 0.98]
    rg_r2, relaxation_r2 = evaluate.reference_split_scores(dumbbells(40_000, sizes, memories))
    assert rg_r2 > 0.99
    assert relaxation_r2 > 0.9


def test_short_data_of_alike_systems_cannot_rank_their_relaxation_times():
    # Same dynamics for every system: any across-system ranking in one half is noise, so
    # the other half does not reproduce it.
    systems = dumbbells(120, [1.0] * 8, [0.9] * 8, seed=3)
    _, relaxation_r2 = evaluate.reference_split_scores(systems)
    assert relaxation_r2 is not None and relaxation_r2 < 0.5


def _scores(rg_pairs):
    return [evaluate.SystemScores(
        name=f"s{i}", n_steps=10, stop_reason=None, rg_reference=a, rg_model=b,
        relaxation_reference_ps=None, relaxation_model_ps=None, bond_js=0.1, angle_js=0.1,
        contact_js=0.1, tica_js=None, collision_rate_reference=0.0, collision_rate_model=0.0)
        for i, (a, b) in enumerate(rg_pairs)]


def test_bootstrap_intervals_hold_the_value_and_shrink_with_more_systems():
    rng = np.random.default_rng(1)
    few = [(x, x + rng.normal(scale=0.1)) for x in np.linspace(1, 2, 6)]
    many = [(x, x + rng.normal(scale=0.1)) for x in np.linspace(1, 2, 60)]
    wide = evaluate.bootstrap_intervals(_scores(few), 500)
    narrow = evaluate.bootstrap_intervals(_scores(many), 500)
    value = evaluate._summary(_scores(few))["rg_mae_nm"]
    assert wide["rg_mae_nm"][0] <= value <= wide["rg_mae_nm"][1]
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(narrow["rg_r2"]) < width(wide["rg_r2"])
    assert "relaxation_r2_log" not in wide  # undefined without relaxation times
    assert evaluate.bootstrap_intervals(_scores(few[:1])) == {}


def test_a_report_leaves_as_json_csv_and_offline_html(tmp_path):
    import csv
    import json

    from cgviz import datasets
    from cgviz.simulator.model import load_simulator

    model, meta = load_simulator(datasets.BUNDLED_DATA_DIR / "simulator_cpu_demo.pt")
    systems = evaluate.test_systems_for(meta, "polymer-test")[:4]
    report, _ = evaluate.evaluate(model, systems, 30, bootstrap_samples=200)
    # Equal windows from one start: 30 model frames against the 30 MD frames after the
    # history; the MD floor over windows of the same length.
    assert report.compared_frames == 30 and report.reference_floor_frames == 30
    assert "rg_r2" in report.intervals
    paths = report.save(tmp_path / "out")
    assert set(paths) == {"json", "summary", "systems", "html"}
    data = json.loads(paths["json"].read_text())
    assert data["intervals"]["rg_r2"][0] <= data["rg_r2"] <= data["intervals"]["rg_r2"][1]
    rows = list(csv.DictReader(open(paths["summary"])))
    assert rows[0]["key"] == "rg_r2" and rows[0]["ci95_low"] and rows[0]["paper"] == "0.9"
    assert len(list(csv.DictReader(open(paths["systems"])))) == 4
    html = paths["html"].read_text()
    import re

    # plotly.js is inside the page (no script loaded from the network).
    assert "plotly" in html.lower() and len(html) > 1_000_000
    assert re.search(r"<script[^>]*\bsrc=", html) is None
    assert "95 % bootstrap" in html
