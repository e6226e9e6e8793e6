"""cgviz.widgets without a browser: what each view holds, slider ranges, callbacks move frames.

The views are real nglview/ipywidgets/plotly objects on the bundled demo data; clicks and
selections go through plotly's own frontend message (``_js2py_pointsCallback``).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest

import cgviz
from cgviz import CgvizError, datasets, jobs, mapping

TESTS = Path(__file__).resolve().parent
CHECKPOINT = Path(cgviz.__file__).parent / "datasets" / "data" / "simulator_cpu_demo.pt"


@pytest.fixture(scope="module")
def alanine() -> md.Trajectory:
    return datasets.load_demo("alanine-dipeptide").trajectories[0][:60]


@pytest.fixture(scope="module")
def alanine_mapping(alanine):
    return mapping.metis_mapping(alanine.topology, atoms_per_bead=4)


def _conect_pairs(pdb: str) -> set[tuple[int, int]]:
    pairs = set()
    for line in pdb.splitlines():
        if line.startswith("CONECT"):
            a, b = int(line[6:11]) - 1, int(line[11:16]) - 1
            pairs.add((min(a, b), max(a, b)))
    return pairs


def _representations(view) -> list[dict]:
    return [m for m in view._ngl_msg_archive if m["methodName"] == "addRepresentation"]


def test_show_mapping_atoms_and_beads_share_the_frames(alanine, alanine_mapping):
    from cgviz.widgets import show_mapping

    view = show_mapping(alanine, alanine_mapping)
    atoms, beads = view._trajlist
    assert view.max_frame == alanine.n_frames - 1
    assert atoms.n_frames == beads.n_frames == alanine.n_frames
    # nm in cgviz, Angstrom at the nglview boundary
    np.testing.assert_allclose(atoms.get_coordinates(17), 10 * alanine.xyz[17], rtol=1e-6)
    bead_nm = alanine_mapping.apply(alanine[17]).xyz[0]
    np.testing.assert_allclose(beads.get_coordinates(17), 10 * bead_nm, rtol=1e-5, atol=1e-4)
    # every fine bond and every CG bond is written as CONECT (beads have no templates)
    assert _conect_pairs(atoms.get_structure_string()) == {tuple(b) for b in
                                                           alanine_mapping.atom_bonds.tolist()}
    assert _conect_pairs(beads.get_structure_string()) == {tuple(b) for b in
                                                           alanine_mapping.bead_bonds.tolist()}
    # atoms coloured by bead: the colour scheme covers every atom once, bead by bead
    reps = _representations(view)
    assert [r["component_index"] for r in reps] == [0, 1]
    scheme = reps[0]["kwargs"]["color"]
    covered = [int(i) for _, sele in scheme for i in sele.lstrip("@").split(",")]
    assert sorted(covered) == list(range(alanine.n_atoms))
    for bead, (colour, sele) in enumerate(scheme):
        assert {int(i) for i in sele.lstrip("@").split(",")} == set(
            alanine_mapping.bead_atoms[bead].tolist())
    bead_colours = [colour for colour, _ in reps[1]["kwargs"]["color"]]
    assert bead_colours == [colour for colour, _ in scheme]  # a bead and its atoms match
    view.frame = 25
    assert view.frame == 25


def test_show_mapping_thins_frames_and_rejects_bad_input(alanine, alanine_mapping):
    from cgviz.widgets import show_mapping

    view = show_mapping(alanine, alanine_mapping, stride=2, max_frames=10)
    assert view.max_frame == 9 and len(view.cgviz_frames) == 10
    assert view.cgviz_frames[0] == 0 and np.all(np.diff(view.cgviz_frames) % 2 == 0)
    other = mapping.contiguous_mapping(alanine.atom_slice(range(12)).topology, 4)
    with pytest.raises(CgvizError, match="mapping is for 12 atoms"):
        show_mapping(alanine, other)
    with pytest.raises(CgvizError, match="needs a CGMapping"):
        show_mapping(alanine, np.zeros(22, int))
    with pytest.raises(CgvizError, match="must be an md.Trajectory"):
        show_mapping(alanine.xyz, alanine_mapping)
    broken = alanine[:5]
    broken.xyz[3, 4] = np.nan
    with pytest.raises(CgvizError, match="NaN or infinite coordinates in 1 frame"):
        show_mapping(broken, alanine_mapping)
    with pytest.raises(CgvizError, match="stride must be at least 1"):
        show_mapping(alanine, alanine_mapping, stride=0)


@pytest.fixture(scope="module")
def demo_rollout():
    from cgviz.simulator import evaluate
    from cgviz.simulator.model import load_simulator
    from cgviz.simulator.rollout import rollout

    model, meta = load_simulator(CHECKPOINT)
    systems = evaluate.test_systems_for(meta, "polymer-test")[:2]
    first = model.config.history_length - 1
    result = rollout(model, systems, 24, seed=0, start_frames=[first, first])
    return result, systems


def test_rollout_player_one_slider_moves_both_views_and_the_marker(demo_rollout):
    from cgviz.analysis import compute_rg
    from cgviz.widgets import RolloutPlayer

    result, systems = demo_rollout
    reference = systems[1].positions[: 40]  # longer than the rollout: the slider spans both
    player = RolloutPlayer(reference, result, system=1)
    n = len(result.positions[1])
    assert player.n_frames == n
    assert player.slider.max == player.play.max == n - 1
    assert player.reference_view.max_frame == player.rollout_view.max_frame == n - 1
    views, controls, figure = player.children  # the layout a notebook shows
    assert [box.children[1] for box in views.children] == [player.reference_view,
                                                           player.rollout_view]
    assert controls.children[:2] == (player.play, player.slider) and figure is player.rg_figure
    player.slider.value = 9
    assert player.reference_view.frame == player.rollout_view.frame == 9
    t = 9 * result.frame_time_ps
    assert list(player.rg_figure.data[2].x) == [pytest.approx(t)] * 2
    assert player.rg_figure.data[2].name == "frame marker"
    np.testing.assert_allclose(player.rg_figure.data[1].y,
                               compute_rg(result.positions[1], result.bead_masses[1]))
    np.testing.assert_allclose(player.rollout_view._trajlist[0].get_coordinates(9),
                               10 * result.positions[1][9], rtol=1e-6)
    player.frame = 10_000  # clamped
    assert player.slider.value == n - 1 and player.rollout_view.frame == n - 1
    # an md.Trajectory works as either side
    as_traj = RolloutPlayer(result.to_mdtraj(0), result.to_mdtraj(0))
    assert as_traj.slider.max == n - 1
    assert as_traj.frame_time_ps == pytest.approx(result.frame_time_ps)


def test_rollout_player_rejects_mismatched_systems(demo_rollout):
    from cgviz.widgets import RolloutPlayer

    result, systems = demo_rollout
    with pytest.raises(CgvizError, match="beads"):
        RolloutPlayer(systems[0].positions[:10, :20], result)
    with pytest.raises(CgvizError, match="no system 5"):
        RolloutPlayer(systems[0].positions[:10], result, system=5)
    bad = systems[0].positions[:10].copy()
    bad[2, 0, 0] = np.inf
    with pytest.raises(CgvizError, match="NaN or infinite"):
        RolloutPlayer(bad, result)


def _frontend_event(figure, event: str, point_indexes: list[int]) -> None:
    """What plotly.js sends when the user clicks or box-selects points of trace 0."""
    trace = figure.data[0]
    message = {"event_type": event,
               "points": {"trace_indexes": [0] * len(point_indexes),
                          "point_indexes": point_indexes,
                          "xs": [float(trace.x[i]) for i in point_indexes],
                          "ys": [float(trace.y[i]) for i in point_indexes]}}
    if event == "plotly_selected":
        message["selector"] = {"type": "box", "selector_state": {"xrange": [-4, 4],
                                                                 "yrange": [-4, 4]}}
    figure._js2py_pointsCallback = message


def test_projection_explorer_click_and_select_move_the_view():
    from cgviz.widgets import ProjectionExplorer

    trajs = [t[:300] for t in datasets.load_demo("alanine-dipeptide").trajectories[:2]]
    cvs = [np.degrees(np.column_stack([md.compute_phi(t)[1][:, 0], md.compute_psi(t)[1][:, 0]]))
           for t in trajs]
    explorer = ProjectionExplorer(cvs, trajs, stride=3, cv_labels=("phi", "psi"))
    assert explorer.view.max_frame == 599
    plots, controls = explorer.children
    assert plots.children == (explorer.figure, explorer.view)
    assert controls.children == (explorer.selection_slider, explorer.label)
    assert len(explorer.figure.data[0].x) == 200
    _frontend_event(explorer.figure, "plotly_click", [7])
    assert explorer.selected == [21] and explorer.view.frame == 21
    assert list(explorer.figure.data[1].x) == [pytest.approx(cvs[0][21, 0])]
    _frontend_event(explorer.figure, "plotly_selected", [10, 150, 199])
    assert explorer.selected == [30, 450, 597]
    assert explorer.selection_slider.max == 2 and not explorer.selection_slider.disabled
    explorer.selection_slider.value = 1
    assert explorer.view.frame == 450  # frame 150 of the second trajectory
    assert "2 of 3" in explorer.label.value
    np.testing.assert_allclose(explorer.view._trajlist[0].get_coordinates(450),
                               10 * trajs[1].xyz[150], rtol=1e-6)
    explorer.figure.data[0]._dispatch_on_deselect(None)
    assert explorer.selected == [] and explorer.selection_slider.disabled


def test_projection_explorer_checks_its_inputs(alanine):
    from cgviz.widgets import ProjectionExplorer

    with pytest.raises(CgvizError, match="60 frames"):
        ProjectionExplorer(np.zeros((50, 2)), alanine)
    with pytest.raises(CgvizError, match="2 or more"):
        ProjectionExplorer(np.zeros((60, 1)), alanine)
    cvs = np.zeros((60, 2))
    cvs[4, 1] = np.nan
    with pytest.raises(CgvizError, match="NaN"):
        ProjectionExplorer(cvs, alanine)
    explorer = ProjectionExplorer(np.random.default_rng(0).normal(size=(60, 3)), alanine)
    with pytest.raises(CgvizError, match="out of range"):
        explorer.select([60])


@pytest.fixture
def task_on_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))


def _until(predicate, timeout=60.0):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_run_monitor_follows_cancels_and_resumes_a_real_run(tmp_path, task_on_path):
    from cgviz.widgets import RunMonitor

    runs = tmp_path / "runs"
    spec = jobs.RunSpec(task="linear_regression", checkpoint_every=10,
                        config={"steps": 400, "sleep_s": 0.01})
    jobs.start(spec, runs_dir=runs, name="watched")
    monitor = RunMonitor("watched", runs_dir=runs, interval_s=0.1)
    assert monitor.polling  # it polls in a thread: the constructor returned at once
    assert monitor.figure in monitor.children
    assert {monitor.cancel_button, monitor.resume_button} <= set(monitor.children[2].children)
    _until(lambda: monitor.status.step >= 30 and monitor.figure.data)
    assert monitor.figure.data[0].name == "loss" and len(monitor.figure.data[0].x) >= 10
    assert 0 < monitor.progress.value < 1
    assert "running" in monitor.status_label.value and monitor.resume_button.disabled
    monitor.cancel_button.click()
    assert monitor.status.state == "cancelled"
    assert not monitor.resume_button.disabled and monitor.cancel_button.disabled
    stopped_at = monitor.status.step
    monitor.resume_button.click()
    final = monitor.wait(timeout_s=60)
    assert final.state == "completed" and final.step == 400
    assert monitor.progress.value == 1.0 and monitor.progress.bar_style == "success"
    _until(lambda: not monitor.polling, timeout=10)  # the thread ends with the run
    steps = monitor.figure.data[0].x
    assert steps[-1] == 400 and list(steps) == list(range(1, 401))  # nothing lost on resume
    assert stopped_at < 400
    losses = monitor.figure.data[0].y
    assert losses[-1] < 0.01 * losses[0]  # it learned
    assert "completed" in monitor.status_label.value


def test_run_monitor_reports_a_failed_run_and_unknown_runs(tmp_path, task_on_path):
    from cgviz.widgets import RunMonitor

    runs = tmp_path / "runs"
    with pytest.raises(CgvizError, match="no run 'nothing'"):
        RunMonitor("nothing", runs_dir=runs)
    spec = jobs.RunSpec(task="linear_regression", config={"steps": 50, "lr": 1e6})
    jobs.start(spec, runs_dir=runs, name="diverges")
    monitor = RunMonitor("diverges", runs_dir=runs, autostart=False)
    assert not monitor.polling
    status = monitor.wait(timeout_s=60)
    assert status.state == "failed"
    assert monitor.progress.bar_style == "danger"
    assert re.search("not finite|NaN|inf", monitor.status_label.value, re.I)
    assert monitor.cancel_button.disabled  # nothing to cancel
    monitor.cancel_button.click()  # a stray click on a finished run changes nothing
    assert monitor.status.state == "failed" and monitor.message.value == ""


def test_run_monitor_polls_on_the_running_event_loop_like_in_a_kernel(tmp_path, task_on_path):
    """In a Jupyter kernel cells run inside an asyncio loop: the monitor then polls as a task
    on that loop (its widget updates stay on the kernel's thread), not in a thread."""
    import asyncio
    import threading

    from cgviz.widgets import RunMonitor

    runs = tmp_path / "runs"
    jobs.start(jobs.RunSpec(task="linear_regression",
                            config={"steps": 60, "sleep_s": 0.01}), runs_dir=runs, name="loop")

    async def cell():
        monitor = RunMonitor("loop", runs_dir=runs, interval_s=0.05)
        assert monitor._task is not None and monitor._thread is None
        updates = []
        monitor.status_label.observe(lambda change: updates.append(threading.get_ident()),
                                     "value")
        for _ in range(1200):
            if not monitor.polling:
                break
            await asyncio.sleep(0.05)
        return monitor, updates

    monitor, updates = asyncio.run(cell())
    assert monitor.status.state == "completed" and monitor.status.step == 60
    assert updates and set(updates) == {threading.get_ident()}  # all on this thread
    assert list(monitor.figure.data[0].x)[-1] == 60


def test_run_monitor_shows_a_queued_runs_place(tmp_path, task_on_path, monkeypatch):
    from cgviz.widgets import RunMonitor

    monkeypatch.setenv("CGVIZ_MAX_RUNS", "cpu=1")
    runs = tmp_path / "runs"
    spec = jobs.RunSpec(task="linear_regression", config={"steps": 300, "sleep_s": 0.02})
    jobs.start(spec, runs_dir=runs, name="first")
    _until(lambda: jobs.status("first", runs).state == "running", timeout=120)
    jobs.start(spec, runs_dir=runs, name="second")
    _until(lambda: jobs.status("second", runs).place == 1, timeout=60)
    monitor = RunMonitor("second", runs_dir=runs, autostart=False)
    monitor.refresh()
    assert "queued</b> (place 1 in the queue)" in monitor.status_label.value
    jobs.cancel("first", runs)
    jobs.cancel("second", runs)
