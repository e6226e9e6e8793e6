"""The Trajectory and Coarse-Graining pages, run headless with streamlit.testing."""

from __future__ import annotations

import os
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
from app_support import chart_titles
from streamlit.testing.v1 import AppTest

from cgviz import CgvizError, datasets
from cgviz.app import ui

ROOT = Path(__file__).resolve().parents[1]


def page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=120)


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def test_trajectory_page_on_the_alanine_demo():
    at = page("1_Trajectory.py").run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["atoms"] == "22" and metrics["frames in 4 runs"] == "40,000"
    assert metrics["frame time"] == "1 ps"
    assert charts(at) == 4  # 3-D player, Rg, RMSD, Ramachandran
    assert chart_titles(at) == ["Radius of gyration (mass-weighted)",
                                "RMSD to the first frame (heavy atoms)",
                                "Ramachandran free energy, all 4 run(s)"]
    assert any("Showing" in c.value for c in at.caption)
    assert any("Showing 100 of 10000 frames" in c.value for c in at.caption)
    # Another run of the same system, and more frames in the player.
    at.selectbox[1].set_value(2).run()
    at.select_slider[0].set_value(400).run()
    assert not at.exception and charts(at) == 4
    assert any("Showing 400 of 10000 frames" in c.value for c in at.caption)


def test_trajectory_views_are_built_once_per_trajectory_and_choice(monkeypatch):
    import gc
    import threading
    import time

    traj = md.load(str(datasets.demo_paths("alanine-dipeptide")["topology"]))
    traj = md.join([traj] * 30)
    types = ["C"] * traj.n_atoms
    atoms = np.arange(traj.n_atoms)
    player, caption = ui.player_view(traj, types, atoms, max_frames=10)
    assert ui.player_view(traj, types, atoms, max_frames=10)[0] is player
    assert player.layout.datarevision, "plotly may skip its data when the chart is redrawn"
    assert len(player.frames) == 10 and caption.startswith("Showing 10 of 30 frames (every 3th)")
    assert ui.player_view(traj, types, atoms[:5], max_frames=10)[0] is not player
    assert ui.player_view(traj, types, atoms, max_frames=50)[1].startswith("Showing 30 of 30")
    # another trajectory object gets its own views, even where it is equal
    assert ui.player_view(traj[:], types, atoms, max_frames=10)[0] is not player
    # a view is forgotten with its trajectory
    slots = [slot for slot, (ref, _, _) in ui._VIEWS.items() if ref() is traj]
    del traj, player
    gc.collect()
    assert all(ui._VIEWS[slot][0]() is None for slot in slots if slot in ui._VIEWS)

    # the views kept hold at most _VIEWS_POINTS plotted positions: the oldest go first
    traj = md.join([md.load(str(datasets.demo_paths("alanine-dipeptide")["topology"]))] * 30)
    monkeypatch.setattr(ui, "_VIEWS_POINTS", 3 * 10 * 22)
    ui._VIEWS.clear()
    players = [ui.player_view(traj, types, atoms[:n], max_frames=10)[0] for n in (19, 20, 21, 22)]
    kept = {id(value[0]) for _, value, _ in ui._VIEWS.values()}
    assert [id(p) in kept for p in players] == [False, True, True, True]
    assert sum(size for _, _, size in ui._VIEWS.values()) == 10 * (20 + 21 + 22)

    # threads that ask for the same view at once wait for one build
    class Loaded:  # anything a weak reference can point to, as a trajectory
        pass

    anchor, builds = Loaded(), []

    def build():
        builds.append(1)
        time.sleep(0.2)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(ui._view(anchor, ("k",), build)))
               for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(builds) == 1 and len({id(r) for r in results}) == 1


def test_trajectory_page_polymer_demo_picks_one_molecule():
    at = page("1_Trajectory.py").run()
    at.selectbox[0].set_value("polymer-test").run()
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["molecules"] == "12"
    molecule = [s for s in at.selectbox if s.label == "Molecule"][0]
    assert molecule.value.startswith("molecule 1")
    assert charts(at) == 3  # no backbone dihedrals in a bead model


def test_trajectory_page_bad_files_show_an_error_and_keep_the_loaded_system(tmp_path,
                                                                           monkeypatch):
    paths = datasets.demo_paths("alanine-dipeptide")
    monkeypatch.setenv("CGVIZ_SERVER_ROOTS", os.pathsep.join(
        [str(tmp_path), str(Path(paths["topology"]).parent)]))
    corrupt = tmp_path / "broken.xtc"
    corrupt.write_bytes(os.urandom(3000))
    other = tmp_path / "other.pdb"
    md.load(str(paths["topology"])).atom_slice(range(10)).save_pdb(str(other))

    at = page("1_Trajectory.py").run()
    at.radio[0].set_value("Path on the server").run()
    at.text_input[0].input(str(corrupt)).run()
    at.text_input[1].input(str(paths["topology"])).run()
    at.button[0].click().run()
    assert not at.exception
    assert "corrupt" in at.error[0].value and "What to do" in at.error[0].value
    assert {m.label: m.value for m in at.metric}["atoms"] == "22", "previous system kept"

    at.text_input[0].input(str(paths["trajectories"][0])).run()
    at.text_input[1].input(str(other)).run()
    at.button[0].click().run()
    assert not at.exception and "has 22 atoms" in at.error[0].value


def test_coarse_graining_page_methods_and_slider():
    at = page("2_Coarse_Graining.py").run()
    assert not at.exception and not at.error
    beads = lambda: int({m.label: m.value for m in at.metric}["beads"])  # noqa: E731
    assert beads() == round(22 / 4)
    at.slider[0].set_value(2).run()
    assert beads() == 11 and charts(at) == 1
    at.radio[1].set_value("One bead per residue(s)").run()
    assert not at.exception and beads() == 3
    at.radio[1].set_value("Contiguous segments").run()
    assert not at.exception and beads() >= 5
    labels = [button.label for button in at.get("download_button")]
    assert len(labels) == 2 and "GROMACS" in labels[1] and ".ndx" in labels[1]


def test_upload_splitting_needs_a_topology_and_reads_sidecars(tmp_path):
    paths = datasets.demo_paths("polymer-test")
    traj = md.load(str(paths["trajectories"][0]), top=str(paths["topology"]))[:5]
    traj.save_xtc(str(tmp_path / "p.xtc"))
    (tmp_path / "p.pdb").write_bytes(Path(paths["topology"]).read_bytes())
    (tmp_path / "p.atoms.json").write_bytes(Path(paths["atom_properties"]).read_bytes())
    with pytest.raises(CgvizError, match="need.*topology"):
        ui._system_from_files([tmp_path / "p.xtc"])
    loaded = ui._system_from_files([tmp_path / "p.pdb", tmp_path / "p.xtc",
                                    tmp_path / "p.atoms.json"])
    assert loaded.trajectories[0].n_frames == 5
    assert set(loaded.properties.type_names) == {"B1", "B2", "S1", "S2"}
    assert np.all(loaded.properties.masses == 100.0)
