"""cgviz.system: a user's own system as one object (selection, solvent, bonds, box, split)."""

from __future__ import annotations

from pathlib import Path

import mdtraj as md
import numpy as np
import pytest

from cgviz import CgvizError, datasets, mapping, system

NGLVIEW_DATA = Path(__import__("nglview").__file__).parent / "datafiles"
PROTEIN_XTC, PROTEIN_GRO = NGLVIEW_DATA / "md_1u19.xtc", NGLVIEW_DATA / "md_1u19.gro"
SOLVATED_PDB = Path(__import__("openmm").__file__).parent / "app" / "data" / "test.pdb"


@pytest.fixture(scope="module")
def box_demo(tmp_path_factory):
    """A small periodic demo of interacting chains, simulated here with OpenMM."""
    out = tmp_path_factory.mktemp("box")
    datasets.generate_polymer(out, "polymer-box", n_chains=6, n_monomers=8, n_frames=40,
                              seed=3, box_nm=4.0, equilibration_tau=20.0)
    return out


def test_a_real_protein_with_non_standard_residues_stays_one_system():
    """md_1u19 (nglview's test data: 5,547 atoms, 51 frames, YPL/ASH/LRT residues the gro
    reader leaves without bonds): one system, the missing bonds inferred with a note, no
    one-atom molecules, one bead graph for the whole protein."""
    protein = system.load(PROTEIN_XTC, PROTEIN_GRO)
    assert protein.n_atoms == 5547 and protein.n_frames == 51
    assert any("inferred" in note for note in protein.notes), protein.notes
    assert not protein.periodic and any("box" in note for note in protein.notes)
    cg = mapping.metis_mapping(protein.topology, 50, properties=protein.properties)
    assert cg.n_molecules == 1  # was 152: 5 fragments + 147 one-atom "systems"
    beads = protein.with_mapping(cg).bead_systems(
        "train", sorted(set(protein.properties.type_names)))
    assert len(beads) == 1 and beads[0].n_beads == cg.n_beads
    assert protein.frame_time_ps == pytest.approx(20.0)


def test_water_is_dropped_by_default_and_kept_on_request():
    solvated = system.load(SOLVATED_PDB)
    water = md.load(str(SOLVATED_PDB)).topology.select("water")
    assert solvated.n_atoms == 8867 - len(water)
    assert any("Dropped" in note and "water" in note for note in solvated.notes)
    everything = system.load(SOLVATED_PDB, selection="all")
    assert everything.n_atoms == 8867 and not everything.notes[:1] == solvated.notes[:1]
    protein = system.load(SOLVATED_PDB, selection="protein")
    assert protein.n_atoms == len(md.load(str(SOLVATED_PDB)).topology.select("protein"))


def test_selection_errors_say_what_to_do():
    with pytest.raises(CgvizError, match="matches no atom"):
        system.load(PROTEIN_XTC, PROTEIN_GRO, selection="resname XYZ")
    with pytest.raises(CgvizError, match="not valid mdtraj syntax"):
        system.load(PROTEIN_XTC, PROTEIN_GRO, selection="protein and (")
    with pytest.raises(CgvizError, match="stride"):
        system.load(PROTEIN_XTC, PROTEIN_GRO, stride=0)


def test_stride_sets_the_model_step():
    paths = datasets.demo_paths("alanine-dipeptide-450k")
    ala = system.load(paths["trajectories"][:2], paths["topology"], stride=5,
                      selection="not element H")
    assert ala.n_atoms == 10 and ala.stride == 5
    assert ala.frame_time_ps == pytest.approx(10.0)
    assert ala.time_step_text == "10 ps (stride 5 x 2 ps saved)"
    assert ala.trajectories[0].n_frames == 1000


def test_trajectories_of_different_systems_are_refused():
    ala = datasets.demo_paths("alanine-dipeptide")
    with pytest.raises(CgvizError, match="has 5547 atoms but topology"):
        system.load([ala["trajectories"][0], PROTEIN_XTC], ala["topology"])
    with pytest.raises(CgvizError, match="different systems"):
        system.load([ala["topology"], PROTEIN_GRO])


def test_periodic_box_is_found_unwrapped_and_passed_to_the_graph(box_demo):
    boxed = system.from_demo("polymer-box", box_demo)
    assert boxed.periodic and not boxed.independent_molecules
    raw = datasets.load_demo("polymer-box", box_demo).trajectories[0]
    bonds = np.array([[a.index, b.index] for a, b in raw.topology.bonds])
    # The files are wrapped: chains jump across the box between frames ...
    centres = lambda x: np.stack([x[:, [a.index for a in c.atoms]].mean(1)  # noqa: E731
                                  for c in raw.topology.chains], axis=1)
    assert np.abs(np.diff(centres(raw.xyz), axis=0)).max() > 2.0
    # ... unwrapped, every chain moves continuously and every bond is whole.
    xyz = boxed.trajectories[0].xyz
    assert np.abs(np.diff(centres(xyz), axis=0)).max() < 0.5 * 4.0  # never a box jump
    assert np.linalg.norm(xyz[:, bonds[:, 0]] - xyz[:, bonds[:, 1]], axis=-1).max() < 0.8
    cg = mapping.metis_mapping(boxed.topology, 4, properties=boxed.properties)
    beads = boxed.with_mapping(cg).bead_systems("train", ["B1", "B2", "S1", "S2"])
    assert len(beads) == 1 and beads[0].box.shape == (beads[0].n_frames, 3)
    assert np.allclose(beads[0].box, 4.0)


def test_periodic_asked_without_a_box_is_an_error():
    paths = datasets.demo_paths("alanine-dipeptide")
    with pytest.raises(CgvizError, match="box"):
        system.load(paths["trajectories"][0], paths["topology"], periodic=True)


def test_unwrap_undoes_wrapping_in_a_triclinic_box():
    rng = np.random.default_rng(0)
    steps = rng.normal(scale=0.05, size=(30, 4, 3))
    path = np.cumsum(steps, axis=0) + 1.0
    vectors = np.array([[3.0, 0, 0], [1.0, 3.0, 0], [0.5, 0.5, 3.0]])
    fractional = path @ np.linalg.inv(vectors)
    wrapped = (fractional - np.floor(fractional)) @ vectors
    topology = md.Topology()
    chain = topology.add_chain()
    for _ in range(4):
        topology.add_atom("X", md.element.argon, topology.add_residue("AR", chain))
    traj = md.Trajectory(wrapped.astype(np.float32), topology)
    traj.unitcell_vectors = np.repeat(vectors[None].astype(np.float32), 30, axis=0)
    unwrapped = system.unwrap(traj).xyz
    # Up to one lattice vector per atom (frame 0 is the anchor), the path comes back.
    shift = unwrapped[0] - path[0]
    assert np.allclose(unwrapped - shift, path, atol=1e-4)


@pytest.mark.parametrize("by,n_trajectories,expected", [
    ("trajectory", 4, {"train": [0, 1], "validation": [2], "test": [3]}),
    ("auto", 2, {"train": [0, 1], "validation": [0, 1], "test": [0, 1]}),
])
def test_splits_by_trajectory_and_by_time(by, n_trajectories, expected):
    split = system.Split(by=by, validation=0.1, test=0.1)
    parts = split.blocks([100] * n_trajectories)
    assert {p: sorted({i for i, _, _ in blocks}) for p, blocks in parts.items()} == expected
    if split.resolved(n_trajectories) == "time":
        assert parts["train"][0] == (0, 0, 80) and parts["test"][0] == (0, 90, 100)
    with pytest.raises(CgvizError, match="fraction"):
        system.Split(validation=0.7)
    with pytest.raises(CgvizError, match="split by trajectory"):
        system.Split(by="trajectory").blocks([10, 10])


def test_to_dict_round_trips_with_the_mapping(tmp_path):
    paths = datasets.demo_paths("alanine-dipeptide-450k")
    ala = system.load(paths["trajectories"][:1], paths["topology"], stride=2,
                      selection="not element H")
    ala = ala.with_mapping(mapping.metis_mapping(ala.topology, 2, properties=ala.properties))
    again = system.from_dict(ala.to_dict())
    assert again.n_atoms == ala.n_atoms and again.frame_time_ps == ala.frame_time_ps
    assert np.array_equal(again.mapping.assignment, ala.mapping.assignment)
    assert again.fingerprints == ala.fingerprints
    saved = ala.save_files(tmp_path / "copy")
    reloaded = system.from_dict(saved.to_dict())
    assert reloaded.n_atoms == 10 and reloaded.frame_time_ps == pytest.approx(4.0)
    assert np.allclose(reloaded.trajectories[0].xyz, ala.trajectories[0].xyz, atol=2e-3)
    with pytest.raises(CgvizError, match="source"):
        system.from_dict({"label": "x"})


def test_all_pair_distances_of_a_protein_are_refused_before_computing(monkeypatch):
    """The library guard (not only the page's): heavy-atom distances of md_1u19 would
    need gigabytes; io refuses them with what would fit, before computing anything."""
    from cgviz import io

    protein = system.load(PROTEIN_XTC, PROTEIN_GRO)
    monkeypatch.setenv("CGVIZ_FEATURE_MEMORY_MB", "100")
    with pytest.raises(CgvizError, match="name CA"):
        io.pairwise_distance_features(protein.trajectories[0], selection="not element H")
    assert io.pairwise_distance_features(protein.trajectories[0][:5],
                                         selection="name CA").shape[0] == 5
