"""cgviz.mapping.export and `python -m cgviz map`: a mapping as a GROMACS .ndx file and a
JSON of the beads, on real METIS mappings of the alanine demo and of small topologies."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
from conftest import build_peptide_topology

from cgviz import datasets
from cgviz.errors import CgvizError
from cgviz.mapping import CGMapping, load_mapping, metis_mapping
from cgviz.mapping.export import (
    bead_group_names,
    bead_types_json,
    mapping_files_zip,
    ndx_text,
    read_ndx,
    write_mapping_files,
)

ROOT = Path(__file__).resolve().parents[1]
ALANINE = datasets.demo_paths("alanine-dipeptide")


def alanine_mapping(atoms_per_bead: float = 4):
    topology = md.load_topology(str(ALANINE["topology"]))
    return topology, metis_mapping(topology, atoms_per_bead)


def peptides_water_and_ion() -> md.Topology:
    """ACE-ALA3-NME, ACE-ALA-NME, three waters and a sodium ion: 23 + 11 + 9 + 1 atoms."""
    topology = build_peptide_topology(3).join(build_peptide_topology(1))
    chain = topology.add_chain()
    for _ in range(3):
        residue = topology.add_residue("HOH", chain)
        oxygen = topology.add_atom("O", md.element.oxygen, residue)
        for name in ("H1", "H2"):
            topology.add_bond(oxygen, topology.add_atom(name, md.element.hydrogen, residue))
    topology.add_atom("NA", md.element.sodium, topology.add_residue("NA", topology.add_chain()))
    return topology


def data_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("[")]


@pytest.mark.parametrize("atoms_per_bead", [1, 3, 4, 22])
def test_alanine_ndx_round_trips_to_the_bead_atoms(atoms_per_bead):
    topology, mapping = alanine_mapping(atoms_per_bead)
    text = ndx_text(mapping, topology)
    groups = read_ndx(text)
    names = bead_group_names(mapping)
    assert list(groups) == ["System", *names]  # bead k (1-based) is group number k
    np.testing.assert_array_equal(groups["System"], np.arange(topology.n_atoms))
    for bead, name in enumerate(names):
        np.testing.assert_array_equal(groups[name], mapping.bead_atoms[bead])
        assert groups[name].dtype == np.int64
    # every atom is in exactly one bead group
    members = np.concatenate([groups[name] for name in names])
    assert sorted(members.tolist()) == list(range(mapping.n_atoms))
    # GROMACS conventions: no spaces in names, at most 15 numbers per line, 1-based
    assert all(" " not in name and name.startswith(f"B{i + 1:04d}_")
               for i, name in enumerate(names))
    assert all(1 <= len(line.split()) <= 15 for line in data_lines(text))
    assert "   1    2    3" in text.splitlines()[1] and text.endswith("\n")
    assert [len(line.split()) for line in data_lines(text)][:2] == [15, 7]  # 22 atoms


def test_group_names_follow_the_composition():
    _, mapping = alanine_mapping(4)
    names = bead_group_names(mapping)
    for name, label in zip(names, mapping.bead_types):
        parts = {p.split("*")[0]: int(p.split("*")[1]) if "*" in p else 1
                 for p in label.split("+")}
        expected = "_".join(f"{t}{n if n > 1 else ''}" for t, n in sorted(parts.items()))
        assert name.split("_", 1)[1] == expected
    assert names[0] == "B0001_C_H3"
    # a type ending in a digit gets its count after an x; only letters and digits are kept
    beads = CGMapping(assignment=np.array([0, 0, 0, 1]), atom_types=("B1", "B1", "S2", "Na+"),
                      atom_masses=np.ones(4), atom_bonds=np.array([[0, 1], [1, 2]]),
                      bead_residue_names=("M", "NA"), method="assignment", parameters={})
    assert bead_group_names(beads) == ["B0001_B1x2_S2", "B0002_Na"]


def test_multi_residue_topology_with_solvent_numbers_atoms_as_in_the_file():
    full = peptides_water_and_ion()
    kept = full.select("not water")
    assert len(kept) == 35 and full.n_atoms == 44
    mapping = metis_mapping(full.subset(kept), 3, use_cache=False)
    assert mapping.n_molecules == 3
    groups = read_ndx(ndx_text(mapping, full, atom_indices=kept))
    np.testing.assert_array_equal(groups["System"], np.arange(44))
    names = bead_group_names(mapping)
    for bead, name in enumerate(names):
        np.testing.assert_array_equal(groups[name], kept[mapping.bead_atoms[bead]])
    assert groups[names[-1]].tolist() == [43]  # the ion: the file's last atom
    assert names[-1].endswith("_Na")
    document = json.loads(bead_types_json(mapping, full, atom_indices=kept))
    assert document["n_atoms"] == 35 and document["n_file_atoms"] == 44
    for bead in document["beads"]:
        assert bead["file_atoms"] == kept[bead["atoms"]].tolist()
        assert groups[bead["name"]].tolist() == sorted(bead["file_atoms"])
    # without the file's topology the System group's size is unknown
    with pytest.raises(CgvizError, match="System") as caught:
        ndx_text(mapping, atom_indices=kept)
    assert caught.value.hint
    assert "[ System ]" not in ndx_text(mapping, atom_indices=kept, system_group=False)
    # a topology that is not the mapping's and indices that do not fit
    with pytest.raises(CgvizError, match="35 atoms, the topology has 44"):
        ndx_text(mapping, full)
    with pytest.raises(CgvizError, match="one whole number per mapped atom"):
        ndx_text(mapping, full, atom_indices=kept[:-1])
    with pytest.raises(CgvizError, match="outside"):
        ndx_text(mapping, full, atom_indices=kept + 9)
    with pytest.raises(CgvizError, match="twice"):
        ndx_text(mapping, full, atom_indices=np.r_[kept[:-1], kept[0]])


def test_bead_json_matches_the_mapping():
    topology = build_peptide_topology(4)
    mapping = metis_mapping(topology, 3, use_cache=False)
    text = bead_types_json(mapping)
    document = json.loads(text)
    assert document["format"] == "cgviz-bead-types" and document["version"] == 1
    assert document["method"] == "metis" and document["n_beads"] == mapping.n_beads
    assert document["parameters"] == dict(mapping.parameters)
    assert document["bonds"] == mapping.bead_bonds.tolist()
    assert document["types"] == sorted(set(mapping.bead_types))
    names = bead_group_names(mapping)
    assert [b["index"] for b in document["beads"]] == list(range(mapping.n_beads))
    for bead, entry in enumerate(document["beads"]):
        assert entry["name"] == names[bead]
        assert entry["type"] == mapping.bead_types[bead]
        assert entry["mass_amu"] == pytest.approx(mapping.bead_masses[bead])
        assert entry["residue_name"] == mapping.bead_residue_names[bead]
        assert entry["atoms"] == entry["file_atoms"] == mapping.bead_atoms[bead].tolist()
        assert entry["molecule"] == 0
    bead_lines = [line for line in text.splitlines() if line.startswith('  {"index": ')]
    assert [json.loads(line.rstrip(","))
            for line in bead_lines] == document["beads"]  # one bead per line
    assert "NaN" not in text and "Infinity" not in text


@pytest.mark.parametrize("text, problem", [
    ("1 2 3\n[ A ]\n4\n", "before any group header"),
    ("[ A ]\n1 2 x3\n", "'x3' is not an atom number"),
    ("[ A ]\n1 2.5\n", "'2.5' is not an atom number"),
    ("[ A ]\n1 -2\n", "'-2' is not an atom number"),
    ("[ A ]\n0 1 2\n", "atom number 0"),
    ("[  ]\n1 2\n", "empty name"),
    ("[ A ]\n1\n[ A ]\n2\n", "appears twice"),
    ("[ A\n1\n", "not a group header"),
    ("[ A ] 1 2\n", "not a group header"),
    ("[ A ]\n99999999999\n", "too large"),
    ("; only a comment\n\n", "no groups"),
    (b"[ A ]\n\xff\xfe\n", "not text"),
])
def test_malformed_ndx_is_a_clear_error(text, problem):
    with pytest.raises(CgvizError, match=problem.replace(".", r"\.")) as caught:
        read_ndx(text)
    assert caught.value.hint
    if "\n1 2 x3" in str(text):
        assert "line 2" in str(caught.value)


def test_read_ndx_takes_what_gromacs_writes():
    text = ("[ System ]\n   1    2    3\n\n[ Empty ]\n[ Protein ] ; a comment\n"
            "   3    1 ; out of order\n\t2\r\n")
    groups = read_ndx(text.encode())
    assert list(groups) == ["System", "Empty", "Protein"]
    assert groups["Empty"].shape == (0,) and groups["Protein"].tolist() == [2, 0, 1]
    with pytest.raises(CgvizError, match="needs the file's text"):
        read_ndx(None)


def test_files_and_zip_hold_the_same_texts(tmp_path):
    topology, mapping = alanine_mapping(4)
    paths = write_mapping_files(mapping, tmp_path / "new" / "folder", "ala")
    assert [p.name for p in paths] == ["ala.ndx", "ala_beads.json"]
    assert paths[0].read_text() == ndx_text(mapping)
    assert paths[1].read_text() == bead_types_json(mapping)
    with zipfile.ZipFile(io.BytesIO(mapping_files_zip(mapping))) as archive:
        assert archive.namelist() == ["mapping.ndx", "mapping_beads.json"]
        assert archive.read("mapping.ndx").decode() == ndx_text(mapping, topology)
        assert json.loads(archive.read("mapping_beads.json")) == json.loads(
            bead_types_json(mapping))
    for stem in ("", "../up", "a/b", ".hidden"):
        with pytest.raises(CgvizError, match="plain file name"):
            write_mapping_files(mapping, tmp_path, stem)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(CgvizError, match="Could not write"):
        write_mapping_files(mapping, blocker / "sub")


# ---------------------------------------------------------------- the command line


def cgviz(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cgviz", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_cli_map_writes_the_three_files(tmp_path):
    out = tmp_path / "out"
    done = cgviz("map", "--topology", ALANINE["topology"], "--trajectory",
                 ALANINE["trajectories"][0], "--atoms-per-bead", 4, "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["mapping.json", "mapping.ndx",
                                                    "mapping_beads.json"]
    assert "6 beads" in done.stdout and done.stdout.count("wrote ") == 3
    saved = load_mapping(out / "mapping.json")
    topology, expected = alanine_mapping(4)
    np.testing.assert_array_equal(saved.assignment, expected.assignment)
    groups = read_ndx((out / "mapping.ndx").read_text())
    assert len(groups) == 1 + saved.n_beads
    for name, atoms in zip(bead_group_names(saved), saved.bead_atoms):
        np.testing.assert_array_equal(groups[name], atoms)
    beads = json.loads((out / "mapping_beads.json").read_text())
    assert [b["type"] for b in beads["beads"]] == list(saved.bead_types)
    # residues, from the topology's own coordinates, with another stem
    done = cgviz("map", "--topology", ALANINE["topology"], "--residues-per-bead", 1,
                 "--out", out, "--stem", "res", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "residue mapping: 22 atoms -> 3 beads" in done.stdout
    assert len(read_ndx((out / "res.ndx").read_text())) == 4


def test_cli_map_numbers_a_solvated_file_as_the_file_does(tmp_path):
    full = peptides_water_and_ion()
    xyz = np.random.default_rng(0).uniform(0, 3, (1, full.n_atoms, 3))
    md.Trajectory(xyz, full).save_pdb(str(tmp_path / "solvated.pdb"))
    done = cgviz("map", "--topology", tmp_path / "solvated.pdb", "--atoms-per-bead", 3,
                 "--out", tmp_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Dropped 9 water atoms" in done.stdout
    groups = read_ndx((tmp_path / "mapping.ndx").read_text())
    assert groups["System"].tolist() == list(range(44))
    assert list(groups.values())[-1].tolist() == [43]  # the ion, after the water
    beads = json.loads((tmp_path / "mapping_beads.json").read_text())
    assert beads["n_atoms"] == 35 and beads["beads"][-1]["atoms"] == [34]


@pytest.mark.parametrize("arguments, message", [
    (["--topology", "missing.pdb", "--atoms-per-bead", "4"], "does not exist"),
    (["--topology", ALANINE["topology"], "--atoms-per-bead", "0"], "at least 1"),
    (["--topology", ALANINE["topology"], "--residues-per-bead", "0"], "positive integer"),
    (["--topology", ALANINE["topology"], "--atoms-per-bead", "4", "--selection", "frobnicate 3"],
     "not valid mdtraj syntax"),
    (["--topology", ALANINE["topology"], "--atoms-per-bead", "4", "--stem", "../x"],
     "plain file name"),
    (["--topology", ALANINE["topology"], "--atoms-per-bead", "4", "--bond-cutoff-nm", "0.3"],
     "goes with --guess-bonds"),
])
def test_cli_map_user_errors_are_one_line(tmp_path, arguments, message):
    done = cgviz("map", *arguments, "--out", tmp_path / "out", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
