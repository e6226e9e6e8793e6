"""Demo data: the bundled files and fresh generation with OpenMM."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest

from cgviz import CgvizError, datasets
from cgviz.analysis import compute_ramachandran_surface
from cgviz.datasets import alanine, polymer

BUNDLED = datasets.BUNDLED_DATA_DIR


# ----------------------------------------------------------------------------- bundled


def test_bundled_demos_are_listed_with_provenance():
    demos = {d.name: d for d in datasets.list_demos()}
    assert {"alanine-dipeptide", "polymer-train", "polymer-test"} <= set(demos)
    for info in demos.values():
        assert info.seed is not None and info.generator_version
        assert info.frame_time_ps > 0
        assert info.checksums, "every bundled file carries a checksum"
        assert set(info.checksums) >= {info.topology, *info.trajectories}
        assert info.extra["provenance"]["command"].startswith("python -m cgviz demo-data")


def test_bundle_is_small_enough_for_git():
    total = sum(p.stat().st_size for p in BUNDLED.iterdir() if p.is_file())
    assert total < 30e6, f"bundled demo data is {total / 1e6:.1f} MB (limit about 30 MB)"


def test_hot_alanine_demo_samples_the_phi_flip_often():
    demo = datasets.load_demo("alanine-dipeptide-450k")
    assert demo.info.extra["temperature_K"] == 450.0
    assert "450 K" in demo.info.description and demo.info.frame_time_ps == 2.0
    phi = np.concatenate([md.compute_phi(t)[1][:, 0] for t in demo.trajectories])
    assert (_chirality_volumes(md.join(demo.trajectories)) > 0).all()  # still L-alanine
    alpha_l = (phi > np.radians(30)) & (phi < np.radians(130))
    entries = np.count_nonzero(alpha_l[1:] & ~alpha_l[:-1])
    assert entries >= 15, f"only {entries} visits to alpha_L/C7ax"  # 300 K: 5 in 40 ns
    assert 0.01 < alpha_l.mean() < 0.2


def test_alanine_temperature_is_checked():
    from cgviz.datasets.alanine import AlanineSimulationSettings

    with pytest.raises(CgvizError, match="outside 200-800 K"):
        AlanineSimulationSettings(temperature_K=1000.0)


def _chirality_volumes(traj):
    """(N - CA) . ((C - CA) x (CB - CA)) of the ALA residue per frame: > 0 for L."""
    index = {a.name: a.index for a in traj.topology.residue(1).atoms}
    ca, n, c, cb = (traj.xyz[:, index[k]] for k in ("CA", "N", "C", "CB"))
    return np.einsum("ij,ij->i", n - ca, np.cross(c - ca, cb - ca))


def test_alanine_demo_is_l_alanine_with_enough_data():
    demo = datasets.load_demo("alanine-dipeptide")
    assert len(demo.trajectories) >= 2, "several independent trajectories"
    assert demo.info.total_time_ns >= 20.0
    assert demo.topology.n_atoms == 22
    assert [r.name for r in demo.topology.residues] == ["ACE", "ALA", "NME"]
    joined = md.join(demo.trajectories)
    # L in every frame, by the signed volume at C-alpha ...
    assert np.all(_chirality_volumes(joined) > 0)
    # ... and by the backbone: phi < 0 in > 90 % of frames (D-alanine: phi > 0 mostly).
    phi = md.compute_phi(joined)[1][:, 0]
    assert np.mean(phi < 0) > 0.9
    # Trans peptide bonds throughout (a cis start would show here).
    index = {(a.residue.name, a.name): a.index for a in joined.topology.atoms}
    omega = md.compute_dihedrals(joined, [[index["ACE", "CH3"], index["ACE", "C"],
                                           index["ALA", "N"], index["ALA", "CA"]]])[:, 0]
    assert np.mean(np.abs(omega) > np.pi / 2) > 0.99
    # The mirror image (D-alanine) fails both checks: the test can fail.
    mirror = md.Trajectory(joined.xyz * np.array([-1.0, 1.0, 1.0], dtype=np.float32),
                           joined.topology)
    assert np.all(_chirality_volumes(mirror) < 0)
    assert np.mean(md.compute_phi(mirror)[1][:, 0] < 0) < 0.1
    # Independent runs: different first frames.
    first = [t.xyz[0] for t in demo.trajectories]
    assert not np.allclose(first[0], first[1], atol=1e-3)
    # Frames are 1 ps apart and masses come from the elements.
    assert np.allclose(np.diff(demo.trajectories[0].time), 1.0)
    assert demo.masses.sum() == pytest.approx(144.17, abs=0.05)


@pytest.mark.parametrize("name, kind", [("polymer-train", "blocky"), ("polymer-test", "random")])
def test_polymer_demo_is_physical(name, kind):
    demo = datasets.load_demo(name)
    info = demo.info
    traj = demo.trajectories[0]
    sequences = info.extra["sequences"]
    assert info.extra["sequence_kind"] == kind
    assert traj.topology.n_chains == len(sequences) == info.n_molecules
    if name == "polymer-train":
        assert len(sequences) >= 24 and traj.n_frames >= 1000
    # Types and masses come from the sidecar; the topology keeps the bonds.
    assert set(demo.atom_types) <= set(polymer.BEAD_TYPES)
    assert np.all(demo.masses == polymer.BEAD_MASS_AMU)
    bonds = np.array([[b[0].index, b[1].index] for b in traj.topology.bonds])
    n_monomers = sum(len(s) for s in sequences)
    assert len(bonds) == n_monomers + (n_monomers - len(sequences))
    lengths = np.linalg.norm(traj.xyz[:, bonds[:, 0]] - traj.xyz[:, bonds[:, 1]], axis=-1)
    r0 = polymer.FENE_R0 * polymer.SIGMA_NM
    assert lengths.max() < r0, "FENE bonds never stretch beyond R0"
    assert 0.8 * polymer.SIGMA_NM < lengths.mean() < 1.1 * polymer.SIGMA_NM
    # Side chains are bonded to their own backbone bead and types follow the sequence.
    first_chain = [a.name for a in traj.topology.chain(0).atoms]
    expected = [t for letter in sequences[0] for t in polymer.MONOMER_BEADS[letter]]
    assert first_chain == expected
    # No two beads of a chain overlap (WCA keeps them apart).
    chain_atoms = [a.index for a in traj.topology.chain(0).atoms]
    xyz = traj.xyz[::50][:, chain_atoms]
    d = np.linalg.norm(xyz[:, :, None] - xyz[:, None, :], axis=-1)
    d[:, np.arange(len(chain_atoms)), np.arange(len(chain_atoms))] = np.inf
    assert d.min() > 0.7 * polymer.SIGMA_NM


def test_blocky_and_random_sequences_differ_in_block_length():
    def mean_block(sequences):
        runs = [len(r) for s in sequences for r in "".join(
            c if i == 0 or c == s[i - 1] else "|" + c for i, c in enumerate(s)).split("|")]
        return np.mean(runs)

    train = datasets.demo_info("polymer-train").extra["sequences"]
    test = datasets.demo_info("polymer-test").extra["sequences"]
    assert mean_block(train) > 1.5 * mean_block(test)


def test_corrupt_bundled_file_is_detected(tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(BUNDLED, copy)
    info = datasets.demo_info("alanine-dipeptide", copy)
    target = copy / info.trajectories[0]
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(CgvizError, match="checksum"):
        datasets.load_demo("alanine-dipeptide", copy)
    shutil.copyfile(BUNDLED / info.trajectories[0], target)
    (copy / info.trajectories[1]).unlink()
    with pytest.raises(CgvizError, match="missing"):
        datasets.load_demo("alanine-dipeptide", copy, verify=True)


def test_unknown_demo_and_missing_manifest(tmp_path):
    with pytest.raises(CgvizError, match="Known demos"):
        datasets.load_demo("no-such-demo")
    with pytest.raises(CgvizError, match="No demo manifest"):
        datasets.list_demos(tmp_path)


def _assert_same_preview(stored, computed):
    np.testing.assert_allclose(stored.xyz, computed.xyz, atol=1e-5)
    np.testing.assert_array_equal(stored.bonds, computed.bonds)
    assert stored.type_names == computed.type_names
    if computed.ramachandran is None:
        assert stored.ramachandran is None
        return
    a, b = stored.ramachandran, computed.ramachandran
    np.testing.assert_allclose(a.x_edges, b.x_edges)
    np.testing.assert_allclose(a.free_energy, b.free_energy, atol=1e-5)  # NaN where empty
    np.testing.assert_allclose(a.probability, b.probability, atol=1e-6)
    assert (a.kT, a.units) == (b.kT, b.units)


@pytest.mark.parametrize("name", ["alanine-dipeptide", "polymer-train"])
def test_stored_previews_match_the_bundled_trajectories(name):
    """The home page draws these without loading the demos; they must be what loading them
    would give, and they are read without mdtraj's help."""
    code = ("import sys; from cgviz import datasets; p = datasets.preview(%r); "
            "assert 'mdtraj' not in sys.modules, 'the stored preview was not used'" % name)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    stored = datasets.preview(name)
    _assert_same_preview(stored, datasets.compute_preview(name))
    demo = datasets.load_demo(name)  # and what the pages see when they load the demo:
    chain = [a.index for a in demo.topology.chain(0).atoms]
    np.testing.assert_allclose(stored.xyz, demo.trajectories[0].xyz[-1, chain], atol=1e-5)
    assert stored.type_names == tuple(demo.atom_types[i] for i in chain)
    if stored.ramachandran is not None:
        joined = md.join(demo.trajectories)
        again = compute_ramachandran_surface(md.compute_phi(joined)[1],
                                             md.compute_psi(joined)[1])
        np.testing.assert_allclose(stored.ramachandran.free_energy, again.free_energy,
                                   atol=1e-5)
    assert (stored.ramachandran is not None) == (name == "alanine-dipeptide")
    if stored.ramachandran is not None:  # the two basins of alanine dipeptide are there
        surface = stored.ramachandran
        assert surface.free_energy.shape == (72, 72) and np.nanmin(surface.free_energy) == 0
        phi, psi = np.meshgrid(surface.x_centers, surface.y_centers, indexing="ij")
        low = surface.free_energy < 5
        assert (low & (phi < 0) & (psi > 90)).any() and (low & (phi < 0) & (psi < 0)).any()


def test_stale_or_damaged_preview_is_recomputed(tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(BUNDLED, copy)
    computed = datasets.compute_preview("polymer-train", copy)
    path = copy / datasets.PREVIEWS_NAME
    stored = json.loads(path.read_text())
    entry = stored["previews"]["polymer-train"]
    entry["xyz"] = (np.asarray(entry["xyz"]) + 1.0).tolist()  # a wrong picture ...
    entry["source_checksums"]["polymer_train.xtc"] = "0" * 64  # ... of other files
    path.write_text(json.dumps(stored))
    _assert_same_preview(datasets.preview("polymer-train", copy), computed)
    path.write_text("{not json")
    _assert_same_preview(datasets.preview("polymer-train", copy), computed)
    path.unlink()
    _assert_same_preview(datasets.preview("polymer-train", copy), computed)
    raw = bytearray((copy / "polymer_train.xtc").read_bytes())  # and a corrupt trajectory:
    raw[len(raw) // 2] ^= 0xFF
    (copy / "polymer_train.xtc").write_bytes(bytes(raw))
    with pytest.raises(CgvizError, match="checksum"):
        datasets.preview("polymer-train", copy)


# ----------------------------------------------------------------------------- generation


def test_generate_tiny_preset_through_the_cli(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "cgviz", "demo-data", "--preset", "tiny", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "frame/s" in result.stderr or "it/s" in result.stderr, "a progress bar is shown"
    names = {d.name for d in datasets.list_demos(out)}
    assert names == {"alanine-dipeptide", "polymer-train", "polymer-test"}
    for name in names:
        demo = datasets.load_demo(name, out)
        assert all(t.n_frames == n for t, n in zip(demo.trajectories, demo.info.n_frames))
        assert np.isfinite(np.concatenate([t.xyz for t in demo.trajectories])).all()
    previews = json.loads((out / datasets.PREVIEWS_NAME).read_text())["previews"]
    assert set(previews) == names, "generation stores every demo's preview"
    assert previews["alanine-dipeptide"]["ramachandran"] is not None
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["demos"]["polymer-train"]
    assert entry["generator_version"] == datasets.GENERATOR_VERSION
    assert entry["seed"] == 1 and "--preset tiny" in entry["extra"]["provenance"]["command"]


def test_generation_is_reproducible_for_a_seed(tmp_path):
    kwargs = dict(name="p", n_chains=2, n_monomers=6, n_frames=5, seed=7,
                  equilibration_tau=1.0, platform="Reference")
    a = datasets.generate_polymer(tmp_path / "a", **kwargs)
    b = datasets.generate_polymer(tmp_path / "b", **kwargs)
    c = datasets.generate_polymer(tmp_path / "c", **{**kwargs, "seed": 8})
    xa, xb, xc = (datasets.load_demo("p", tmp_path / d).trajectories[0].xyz for d in "abc")
    assert a.extra["sequences"] == b.extra["sequences"]
    np.testing.assert_allclose(xa, xb)
    assert not np.allclose(xa, xc)
    assert c.seed == 8


def test_alanine_builder_makes_l_alanine():
    topology, positions = alanine.build_structure()
    assert topology.getNumAtoms() == 22
    assert alanine.chirality_of_alanine(topology, positions) == "L"
    # Mirror image is D: the chirality check can fail.
    assert alanine.chirality_of_alanine(topology, positions * np.array([-1, 1, 1])) == "D"


def test_impossible_generation_settings_are_refused(tmp_path):
    with pytest.raises(CgvizError, match="time_step_tau"):
        polymer.PolymerSimulationSettings(time_step_tau=0.5)
    with pytest.raises(CgvizError, match="sequence_kind"):
        datasets.generate_polymer(tmp_path, "x", n_chains=1, sequence_kind="alternating")
    with pytest.raises(CgvizError, match="platform"):
        datasets.generate_alanine(tmp_path, n_trajectories=1, n_frames=2, platform="NoSuch")
    with pytest.raises(CgvizError, match="whole number"):
        alanine.AlanineSimulationSettings(frame_interval_ps=0.003)
    with pytest.raises(CgvizError, match="sequence"):
        polymer.chain_beads("ABX")
    assert not (Path(tmp_path) / "manifest.json").exists(), "a failed run leaves no manifest entry"
