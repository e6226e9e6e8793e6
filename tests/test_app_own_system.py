"""The app on a user's own protein-like system (issue 18): two chains, a chain without its
C-terminal cap (more phi than psi angles), a non-standard residue, a .gro without its
bonds; and the MEMnets page with one CV, large feature sets and other systems' colours."""

from __future__ import annotations

import json
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
from app_support import chart_titles
from streamlit.testing.v1 import AppTest

from cgviz import CgvizError, analysis, datasets, mapping
from cgviz.app import ui

ROOT = Path(__file__).resolve().parents[1]


def page(name: str, timeout: int = 120) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=timeout)


def protein_like(n_frames: int = 200) -> md.Trajectory:
    """Alanine dipeptide (chain 1) beside a copy 2 nm away without its NME cap and with
    its ALA renamed XYZ (chain 2): 38 atoms, 2 phi and 1 psi angles, real geometry."""
    demo = datasets.demo_paths("alanine-dipeptide")
    first = md.load(str(demo["trajectories"][0]), top=str(demo["topology"]))[:n_frames]
    second = first.atom_slice([a.index for a in first.topology.atoms
                               if a.residue.name != "NME"])
    second.xyz += 2.0
    for residue in second.topology.residues:
        if residue.name == "ALA":
            residue.name = "XYZ"
    return first.stack(second)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    traj = protein_like()
    traj[0].save_pdb(str(folder / "prot.pdb"))
    traj.save_xtc(str(folder / "prot.xtc"))
    traj.save_gro(str(folder / "prot.gro"))
    return {name: (folder / name).read_bytes() for name in ("prot.pdb", "prot.xtc", "prot.gro")}


def upload(at: AppTest, files: dict, names: list[str]) -> AppTest:
    at.radio[0].set_value("Upload files").run()
    at.file_uploader[0].set_value([(n, files[n], "application/octet-stream") for n in names])
    at.run()
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def in_use(at: AppTest) -> str:
    """The picker's "In use: ..." caption, its markdown escapes dropped."""
    return next(c.value for c in at.caption if c.value.startswith("In use")).replace("\\", "")


def metrics(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


# ---------------------------------------------------------------------------------------
# Ramachandran: phi and psi per residue
# ---------------------------------------------------------------------------------------


def test_phi_and_psi_are_paired_per_residue():
    traj = protein_like(20)
    assert md.compute_phi(traj)[1].shape[1] == 2 and md.compute_psi(traj)[1].shape[1] == 1
    phi, psi, residues = analysis.compute_phi_psi(traj)
    top = traj.topology
    assert [str(top.residue(int(r))) for r in residues] == ["ALA2"]  # XYZ5 has no psi
    atoms = {(a.residue.index, a.name): a.index for a in top.atoms}
    ala = int(residues[0])
    expected_phi = md.compute_dihedrals(traj, [[atoms[ala - 1, "C"], atoms[ala, "N"],
                                                atoms[ala, "CA"], atoms[ala, "C"]]])
    expected_psi = md.compute_dihedrals(traj, [[atoms[ala, "N"], atoms[ala, "CA"],
                                                atoms[ala, "C"], atoms[ala + 1, "N"]]])
    np.testing.assert_allclose(phi, expected_phi, atol=1e-6)
    np.testing.assert_allclose(psi, expected_psi, atol=1e-6)
    beads = md.load(str(datasets.demo_paths("polymer-test")["topology"]))
    assert analysis.compute_phi_psi(beads)[2].size == 0


def test_trajectory_page_draws_the_ramachandran_plot_of_an_uneven_protein(files):
    at = upload(page("1_Trajectory.py").run(), files, ["prot.pdb", "prot.xtc"])
    assert metrics(at)["atoms"] == "38" and metrics(at)["molecules"] == "2"
    assert "Ramachandran free energy, all 1 run(s)" in chart_titles(at)


# ---------------------------------------------------------------------------------------
# Coarse-graining a topology without bonds; each method's own slider
# ---------------------------------------------------------------------------------------


def test_coarse_graining_infers_missing_bonds_with_a_note_and_offers_to_guess_all(files):
    at = upload(page("2_Coarse_Graining.py").run(), files, ["prot.gro"])
    assert in_use(at) == "In use: **upload: prot.gro**"
    notes = [c.value.replace("\\", "") for c in at.caption if c.value.startswith("Note")]
    assert any("10 atoms had no bonds: inferred" in n for n in notes), notes  # XYZ5's
    assert not at.warning
    assert int(metrics(at)["beads"]) == round(22 / 4) + round(16 / 4)  # per molecule
    at.checkbox(key="cg.guess_bonds").check().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("guessed from the first frame" in c.value for c in at.caption)
    assert int(metrics(at)["beads"]) == round(22 / 4) + round(16 / 4)


def test_coarse_graining_warns_of_atoms_left_without_bonds(tmp_path):
    traj = protein_like(5)
    xyz = traj.xyz[0:1, 22:]  # XYZ5's and its ACE's atoms: spread 4 x, too far to bond
    xyz_spread = xyz.mean(axis=1, keepdims=True) + 4.0 * (xyz - xyz.mean(axis=1, keepdims=True))
    traj = traj[0]
    traj.xyz[:, 22:] = xyz_spread
    traj.save_gro(str(tmp_path / "far.gro"))
    assert len(ui.unbonded_atoms(md.load(str(tmp_path / "far.gro")).topology)) == 10
    at = upload(page("2_Coarse_Graining.py").run(),
                {"far.gro": (tmp_path / "far.gro").read_bytes()}, ["far.gro"])
    (warning,) = at.warning
    shown = warning.value.replace("\\", "")
    assert "10 of 38 atoms have no bond" in shown and "XYZ" in shown, shown
    assert "Infer bonds from distances" in shown


def test_each_mapping_method_shows_the_value_it_uses():
    at = page("2_Coarse_Graining.py").run()
    topology = at.session_state[ui.SYSTEM_KEY].topology
    at.slider[0].set_value(2).run()
    assert metrics(at)["beads"] == "11"
    at.radio[1].set_value("Contiguous segments").run()
    shown = at.slider[0].value
    assert shown == 4, "the Contiguous slider starts at its own default"
    assert int(metrics(at)["beads"]) == mapping.contiguous_mapping(topology, shown).n_beads
    at.slider[0].set_value(3).run()
    assert int(metrics(at)["beads"]) == mapping.contiguous_mapping(topology, 3).n_beads
    at.radio[1].set_value("METIS (graph partition)").run()
    assert int(metrics(at)["beads"]) == mapping.metis_mapping(
        topology, at.slider[0].value).n_beads


# ---------------------------------------------------------------------------------------
# MEMnets: one CV, feature sizes, colours, the system in use
# ---------------------------------------------------------------------------------------


def _projection_colour_title(at: AppTest) -> str:
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    return spec["data"][0]["marker"]["colorbar"]["title"]["text"]


@pytest.mark.slow
def test_memnets_with_one_cv_trains_and_shows_every_chart():
    at = page("5_MEMnets.py", 300).run()
    at.slider[0].set_value(1)
    at.number_input[0].set_value(1)
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == 6
    profile = json.loads(at.get("plotly_chart")[1].proto.spec)
    assert profile["data"][0]["type"] == "scatter"  # F along CV1, not a 2-D surface
    assert _projection_colour_title(at) == "state"  # alanine dipeptide: its named states


@pytest.mark.slow
def test_memnets_on_an_own_protein_names_it_and_colours_frames_not_alanine_states(files):
    loaded = upload(page("1_Trajectory.py").run(), files, ["prot.pdb", "prot.xtc"])
    at = page("5_MEMnets.py", 300)  # the next page of the same session
    at.session_state[ui.SYSTEM_KEY] = loaded.session_state[ui.SYSTEM_KEY]
    at.run()
    assert not at.exception
    assert at.radio[0].value == "Upload files", "not 'Demo data' while an upload is in use"
    assert in_use(at) == "In use: **upload: prot.pdb, prot.xtc**"
    at.number_input[0].set_value(1)
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert _projection_colour_title(at) == "frame"


def test_is_alanine_dipeptide():
    assert analysis.is_alanine_dipeptide(md.load(
        str(datasets.demo_paths("alanine-dipeptide")["topology"])).topology)
    assert not analysis.is_alanine_dipeptide(protein_like(1).topology)


def _big_protein(n_atoms: int, n_frames: int) -> md.Trajectory:
    topology = md.Topology()
    chain = topology.add_chain()
    for i in range(n_atoms // 5):
        residue = topology.add_residue("GLY", chain, resSeq=i + 1)
        for name in ("N", "CA", "C", "O", "H"):
            element = md.element.hydrogen if name == "H" else md.element.carbon
            topology.add_atom(name, element, residue)
    xyz = np.random.default_rng(0).normal(size=(n_frames, topology.n_atoms, 3))
    return md.Trajectory(xyz.astype(np.float32), topology)


def test_heavy_atom_distances_of_a_large_protein_are_refused_before_computing():
    traj = _big_protein(5500, 20)  # 4,400 heavy atoms: 9.7 M pairs, 0.8 GB x 3 for 20 frames
    with pytest.raises(CgvizError) as caught:
        ui.memnets_features("distances", [traj], None)
    error = caught.value
    assert "9,677,800 pairs" in error.problem and "GB" in error.problem
    assert "C-alpha distances (604,450 pairs)" in error.hint
    assert "one frame in 2 (e.g. traj[::2])" in error.hint
    # a subset that fits is computed
    features = ui.memnets_features("ca-distances", [traj[:2]], None)
    assert features[0].shape == (2, 1100 * 1099 // 2)


def test_memnets_page_refuses_features_over_the_memory_limit(monkeypatch):
    monkeypatch.setenv("CGVIZ_FEATURE_MEMORY_MB", "1")  # alanine's 45 distances: 21 MB
    at = page("5_MEMnets.py").run()
    at.radio[1].set_value("heavy-atom distances").run()
    at.get("form_submit_button")[0].click().run()
    assert not at.exception, at.exception
    shown = at.error[0].value.replace("\\", "")
    assert len(at.error) == 1 and "would need about 21 MB" in shown
    assert "traj[::21]" in shown and "CGVIZ_FEATURE_MEMORY_MB" in shown


@pytest.mark.slow
def test_every_page_at_real_size_with_a_5500_atom_protein():
    """nglview's md_1u19 (5,547 atoms, 51 frames) as the system in use: each page runs,
    says which system it is, keeps its charts within a payload budget, and the bundled
    polymer model refuses the protein's atom types with st.error instead of a crash."""
    from cgviz import system

    data = Path(__import__("nglview").__file__).parent / "datafiles"
    protein = system.load(data / "md_1u19.xtc", data / "md_1u19.gro")
    budget = 12e6  # bytes of chart JSON a page sends
    for name in ("1_Trajectory.py", "2_Coarse_Graining.py", "3_Training.py"):
        at = page(name, timeout=300)
        at.session_state[ui.SYSTEM_KEY] = protein
        at.run()
        assert not at.exception, (name, at.exception)
        assert not at.error, (name, [e.value for e in at.error])
        text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
        assert "md\\_1u19" in text or "md_1u19" in text, name
        sent = sum(len(c.proto.spec) for c in at.get("plotly_chart"))
        assert sent < budget, (name, sent)
    rollout = page("4_Rollout.py", timeout=300)
    rollout.session_state[ui.SYSTEM_KEY] = protein
    rollout.run()
    rollout.get("form_submit_button")[0].click().run()
    assert not rollout.exception
    assert any("type vocabulary" in e.value for e in rollout.error), [
        e.value for e in rollout.error]
