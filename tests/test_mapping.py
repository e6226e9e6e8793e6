"""cgviz.mapping: builders, connectivity, bead order, coordinates, files and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
from conftest import build_bead_topology, build_peptide_topology

from cgviz import io
from cgviz.errors import CgvizError
from cgviz.mapping import (
    CGMapping,
    _fill_empty_beads,
    _neighbour_lists,
    _adjacency,
    _repair_connectivity,
    clear_mapping_cache,
    contiguous_mapping,
    guess_bonds_from_distances,
    load_mapping,
    mapping_from_assignment,
    metis_mapping,
    residue_mapping,
)

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- independent reference checks


def fine_bonds(topology: md.Topology) -> list[tuple[int, int]]:
    return [(b.atom1.index, b.atom2.index) for b in topology.bonds]


def is_connected(atoms: list[int], bonds: list[tuple[int, int]]) -> bool:
    members = set(atoms)
    neighbours: dict[int, set[int]] = {a: set() for a in members}
    for i, j in bonds:
        if i in members and j in members:
            neighbours[i].add(j)
            neighbours[j].add(i)
    seen, stack = {atoms[0]}, [atoms[0]]
    while stack:
        for other in neighbours[stack.pop()]:
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen == members


def check_mapping_invariants(mapping: CGMapping, topology: md.Topology, masses) -> None:
    bonds = fine_bonds(topology)
    beads = [np.flatnonzero(mapping.assignment == b).tolist() for b in range(mapping.n_beads)]
    assert all(beads), "empty bead"
    for atoms in beads:
        assert is_connected(atoms, bonds), f"bead {atoms} is disconnected"
    # masses: plain loop
    for b, atoms in enumerate(beads):
        assert mapping.bead_masses[b] == pytest.approx(sum(masses[a] for a in atoms))
    # CG bonds: any fine bond joining two beads
    expected = sorted({tuple(sorted((int(mapping.assignment[i]), int(mapping.assignment[j]))))
                       for i, j in bonds if mapping.assignment[i] != mapping.assignment[j]})
    assert [tuple(b) for b in mapping.bead_bonds.tolist()] == expected
    # canonical order: within a molecule, beads sorted by first atom; molecules contiguous
    first_atoms = [atoms[0] for atoms in beads]
    molecules = mapping.bead_molecules.tolist()
    assert molecules == sorted(molecules)
    for m in set(molecules):
        firsts = [f for f, mol in zip(first_atoms, molecules) if mol == m]
        assert firsts == sorted(firsts)


def peptide_masses(topology: md.Topology) -> np.ndarray:
    return np.array([atom.element.mass for atom in topology.atoms])


def two_peptides_and_ion() -> md.Topology:
    """ACE-ALA3-NME, ACE-ALA1-NME and a sodium ion (three molecules)."""
    first = build_peptide_topology(3)
    second = build_peptide_topology(1)
    topology = first.join(second)
    chain = topology.add_chain()
    residue = topology.add_residue("NA", chain)
    topology.add_atom("NA", md.element.sodium, residue)
    return topology


# ---------------------------------------------------------------- METIS


@pytest.mark.parametrize("atoms_per_bead", [1, 2, 3, 4, 5, 7, 10, 40, 100])
def test_metis_beads_are_connected_and_counted(atoms_per_bead):
    topology = build_peptide_topology(8)  # 53 atoms, one molecule
    mapping = metis_mapping(topology, atoms_per_bead, use_cache=False)
    expected = max(1, int(np.floor(topology.n_atoms / atoms_per_bead + 0.5)))
    assert mapping.n_beads == min(expected, topology.n_atoms)
    check_mapping_invariants(mapping, topology, peptide_masses(topology))
    assert mapping.method == "metis" and mapping.parameters["atoms_per_bead"] == atoms_per_bead
    # numpy numbers are accepted and stored as plain JSON numbers
    same = metis_mapping(topology, np.int64(atoms_per_bead))
    assert np.array_equal(same.assignment, mapping.assignment)
    assert type(same.parameters["atoms_per_bead"]) is int


def test_metis_per_molecule_and_ion_is_its_own_bead():
    topology = two_peptides_and_ion()  # 23 + 11 + 1 atoms
    mapping = metis_mapping(topology, 4, use_cache=False)
    assert mapping.parameters["beads_per_molecule"] == [6, 3, 1]  # round(23/4), round(11/4)
    assert mapping.n_molecules == 3
    assert np.bincount(mapping.bead_molecules).tolist() == [6, 3, 1]
    assert mapping.assignment[-1] == mapping.n_beads - 1
    assert np.count_nonzero(mapping.assignment == mapping.n_beads - 1) == 1
    assert mapping.bead_types[-1] == "Na"
    masses = np.array([atom.element.mass for atom in topology.atoms])
    check_mapping_invariants(mapping, topology, masses)
    # total bead count instead: shared in proportion, at least one per molecule
    by_total = metis_mapping(topology, n_beads=8, use_cache=False)
    assert by_total.n_beads == 8 and sum(by_total.parameters["beads_per_molecule"]) == 8
    assert by_total.parameters["beads_per_molecule"][2] == 1


def test_metis_is_deterministic_and_cached(tmp_path):
    topology = build_peptide_topology(6)
    clear_mapping_cache()
    first = metis_mapping(topology, 3)
    assert metis_mapping(topology, 3) is first  # cached by topology
    assert metis_mapping(build_peptide_topology(6), 3) is first  # an equal topology hits too
    assert metis_mapping(topology, 4) is not first
    fresh = metis_mapping(topology, 3, use_cache=False)
    assert fresh is not first and np.array_equal(fresh.assignment, first.assignment)
    # and in a fresh interpreter
    code = (
        "import sys, json; sys.path.insert(0, 'tests');"
        "from conftest import build_peptide_topology;"
        "from cgviz.mapping import metis_mapping;"
        "print(json.dumps(metis_mapping(build_peptide_topology(6), 3).assignment.tolist()))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == first.assignment.tolist()


def test_repair_moves_stray_pieces_and_fill_splits_largest():
    # a path 0-1-2-...-9; bead 0 = {0, 1, 7} is disconnected (7 is a stray piece)
    bonds = np.array([[i, i + 1] for i in range(9)])
    neighbours = _neighbour_lists(_adjacency(bonds, 10))
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 0, 3, 3])
    repaired, moved = _repair_connectivity(labels, bonds, neighbours)
    assert moved == 1
    assert repaired[7] in (2, 3) and repaired[7] != 0
    for bead in range(4):
        assert is_connected(np.flatnonzero(repaired == bead).tolist(), bonds.tolist())
    # two labels used for four requested beads: the largest bead is split twice
    filled, splits = _fill_empty_beads(np.array([5] * 6 + [9] * 4), 4, neighbours)
    assert splits == 2 and sorted(np.bincount(filled).tolist()) == [2, 2, 3, 3]
    for bead in range(4):
        assert is_connected(np.flatnonzero(filled == bead).tolist(), bonds.tolist())


# ---------------------------------------------------------------- other builders


def test_residue_mapping_one_and_two_residues_per_bead():
    topology = build_peptide_topology(3)
    mapping = residue_mapping(topology)
    assert mapping.n_beads == 5
    assert mapping.bead_residue_names == ("ACE", "ALA", "ALA", "ALA", "NME")
    expected = [atom.residue.index for atom in topology.atoms]
    assert mapping.assignment.tolist() == expected
    assert mapping.bead_types[1] == "C*3+H+N+O"
    check_mapping_invariants(mapping, topology, peptide_masses(topology))
    pairs = residue_mapping(topology, residues_per_bead=2)
    assert pairs.n_beads == 3
    assert [r // 2 for r in expected] == pairs.assignment.tolist()


def test_contiguous_mapping_on_a_bead_chain(bead_traj):
    topology = bead_traj.topology  # B S B S ... virtual sites
    props = io.AtomProperties(tuple(a.name for a in topology.atoms),
                              np.array([100.0, 50.0] * (topology.n_atoms // 2)))
    mapping = contiguous_mapping(topology, 2, properties=props)
    assert mapping.n_beads == topology.n_atoms // 2
    assert mapping.bead_types[:2] == ("B1+S1", "B2+S2")
    assert np.allclose(mapping.bead_masses, 150.0)
    identity = contiguous_mapping(topology, 1, properties=props)
    assert identity.bead_types == props.type_names
    check_mapping_invariants(mapping, topology, props.masses)


def test_contiguous_segments_out_of_chain_order_are_repaired():
    # atoms listed B0 B1 B2 S0 S1 S2: segments of 2 in index order are not all bonded
    topology = md.Topology()
    chain = topology.add_chain()
    residue = topology.add_residue("POL", chain)
    atoms = [topology.add_atom(name, md.element.carbon, residue)
             for name in ("B0", "B1", "B2", "S0", "S1", "S2")]
    for i, j in [(0, 1), (1, 2), (0, 3), (1, 4), (2, 5)]:
        topology.add_bond(atoms[i], atoms[j])
    mapping = contiguous_mapping(topology, 2)
    assert mapping.n_beads == 3 and mapping.parameters["pieces_moved"] >= 1
    check_mapping_invariants(mapping, topology, [md.element.carbon.mass] * 6)


def test_mapping_from_assignment_renumbers_into_canonical_order():
    topology = build_bead_topology(3)  # B S B S B S
    props = io.AtomProperties(("B1", "S1", "B2", "S2", "B1", "S1"), np.full(6, 10.0))
    mapping = mapping_from_assignment(topology, [2, 2, 1, 1, 0, 0], properties=props)
    assert mapping.assignment.tolist() == [0, 0, 1, 1, 2, 2]
    assert mapping.parameters["input_bead_labels"] == [2, 1, 0]
    assert mapping.bead_bonds.tolist() == [[0, 1], [1, 2]]


# ---------------------------------------------------------------- errors


def test_user_errors_are_cgviz_errors_with_hints():
    topology = build_peptide_topology(1)  # 11 atoms
    n = topology.n_atoms
    cases = [
        (lambda: metis_mapping(topology, 0.5), "at least 1"),
        (lambda: metis_mapping(topology, n_beads=n + 1), "more beads than atoms"),
        (lambda: metis_mapping(topology, 2, n_beads=3), "exactly one"),
        (lambda: metis_mapping(topology, "4"), "number"),
        (lambda: contiguous_mapping(topology, float("nan")), "number"),
        (lambda: mapping_from_assignment(topology, np.zeros(n - 1, int)), "shape"),
        (lambda: mapping_from_assignment(topology, np.arange(n) + 1), "more beads than atoms"),
        (lambda: mapping_from_assignment(topology, [0] * (n - 1) + [2]), "no atoms"),
        (lambda: mapping_from_assignment(topology, [0.5] * n), "integers"),
        # atom 0 (CH3) and atom 2 (O) are bonded only through atom 1
        (lambda: mapping_from_assignment(topology, [0, 1, 0] + [1] * (n - 3)), "not connected"),
        (lambda: metis_mapping(build_bead_topology(2), 2), "mass"),  # virtual sites, no sidecar
    ]
    for call, words in cases:
        with pytest.raises(CgvizError, match=words) as info:
            call()
        assert info.value.hint, f"no hint for {words!r}"


def bondless_chain() -> tuple[md.Topology, np.ndarray]:
    """Hexane carbons (zig-zag, 0.153 nm bonds) plus a far sodium ion, no bonds."""
    topology = md.Topology()
    chain = topology.add_chain()
    residue = topology.add_residue("HEX", chain)
    for k in range(6):
        topology.add_atom(f"C{k}", md.element.carbon, residue)
    ion_residue = topology.add_residue("NA", topology.add_chain())
    topology.add_atom("NA", md.element.sodium, ion_residue)
    xyz = [[0.126 * k, 0.087 * (k % 2), 0.0] for k in range(6)] + [[0.9, 0.0, 0.0]]
    return topology, np.array(xyz)


def test_topology_without_bonds_offers_guessing():
    topology, xyz = bondless_chain()
    with pytest.raises(CgvizError, match="no bonds") as info:
        metis_mapping(topology, 2)
    assert "guess_bonds=True" in info.value.hint
    for build in (lambda: contiguous_mapping(topology, 2),
                  lambda: metis_mapping(topology, n_beads=3),
                  lambda: mapping_from_assignment(topology, [0, 0, 1, 1, 2, 2, 3])):
        with pytest.raises(CgvizError, match="no bonds"):
            build()
    assert metis_mapping(topology, 1).n_beads == 7  # one atom per bead needs no bonds
    with pytest.raises(CgvizError, match="coordinates"):
        metis_mapping(topology, 2, guess_bonds=True)
    assert guess_bonds_from_distances(topology, xyz).tolist() == [[k, k + 1] for k in range(5)]
    mapping = metis_mapping(topology, 2, guess_bonds=True, coordinates=xyz, use_cache=False)
    assert mapping.parameters["bonds_guessed"] is True
    assert mapping.n_beads == 4 and mapping.bead_types[-1] == "Na"  # 3 x C2 + the ion
    traj = md.Trajectory(xyz[None].astype(np.float32), topology)
    from_traj = mapping_from_assignment(traj, [0, 0, 1, 1, 2, 2, 3], guess_bonds=True)
    assert from_traj.bead_bonds.tolist() == [[0, 1], [1, 2]]


def test_guessing_bead_bonds_needs_a_cutoff(bead_traj):
    with pytest.raises(CgvizError, match="covalent radius") as info:
        guess_bonds_from_distances(bead_traj)
    assert "bond_cutoff_nm" in info.value.hint
    bonds = guess_bonds_from_distances(bead_traj, bond_cutoff_nm=10.0)
    n = bead_traj.n_atoms
    assert len(bonds) == n * (n - 1) // 2  # everything is within 10 nm


# ---------------------------------------------------------------- coordinates and topology


def test_apply_gives_mass_weighted_centres_and_bead_topology(peptide_traj):
    topology = peptide_traj.topology
    masses = peptide_masses(topology)
    mapping = metis_mapping(topology, 4)
    beads = mapping.apply(peptide_traj)
    assert beads.n_atoms == mapping.n_beads and beads.n_frames == peptide_traj.n_frames
    np.testing.assert_allclose(beads.time, peptide_traj.time)
    for b in range(mapping.n_beads):
        atoms = np.flatnonzero(mapping.assignment == b)
        expected = (peptide_traj.xyz[:, atoms] * masses[atoms, None]).sum(1) / masses[atoms].sum()
        np.testing.assert_allclose(beads.xyz[:, b], expected, atol=1e-5)
    bead_top = beads.topology
    assert bead_top.n_chains == mapping.n_molecules == 1
    assert bead_top.n_residues == mapping.n_beads
    assert all(atom.element is md.element.virtual_site for atom in bead_top.atoms)
    assert sorted(fine_bonds(bead_top)) == [tuple(b) for b in mapping.bead_bonds.tolist()]
    assert mapping.bead_properties.type_names == mapping.bead_types
    assert isinstance(mapping.apply([peptide_traj, peptide_traj]), list)
    with pytest.raises(CgvizError, match="atoms"):
        mapping.apply(peptide_traj.atom_slice(range(10)))


def test_apply_handles_beads_split_by_the_periodic_box(peptide_traj):
    mapping = metis_mapping(peptide_traj.topology, 4)
    whole = mapping.apply(peptide_traj)  # the coil sits inside its 3 nm box, unwrapped
    shifted = peptide_traj.xyz + np.array([1.45, 0.0, 0.0], dtype=np.float32)
    wrapped = md.Trajectory(np.mod(shifted, 3.0), peptide_traj.topology,
                            unitcell_lengths=peptide_traj.unitcell_lengths,
                            unitcell_angles=peptide_traj.unitcell_angles)
    spans = [np.ptp(wrapped.xyz[:, mapping.assignment == b, 0], axis=1).max()
             for b in range(mapping.n_beads)]
    assert max(spans) > 2.0, "the test must split a bead across the box boundary"
    mapped = mapping.apply(wrapped)
    difference = mapped.xyz - (whole.xyz + np.array([1.45, 0.0, 0.0]))
    difference -= 3.0 * np.round(difference / 3.0)  # the bead centre may sit in any image
    assert np.abs(difference).max() < 1e-4


def test_bead_system_round_trips_through_pdb_xtc_and_sidecar(tmp_path, peptide_traj):
    mapping = metis_mapping(peptide_traj.topology, 3)
    beads = mapping.apply(peptide_traj)
    pdb, xtc = tmp_path / "beads.pdb", tmp_path / "beads.xtc"
    beads[0].save_pdb(str(pdb))
    beads.save_xtc(str(xtc))
    io.write_atom_properties(io.sidecar_path_for(pdb), mapping.bead_properties)
    loaded, props = io.load_system(str(xtc), topology=str(pdb))
    assert props == mapping.bead_properties
    assert sorted(fine_bonds(loaded.topology)) == [tuple(b) for b in mapping.bead_bonds.tolist()]
    np.testing.assert_allclose(loaded.xyz, beads.xyz, atol=1.5e-3)


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_mapping_file_round_trip_and_validation(tmp_path, suffix):
    topology = two_peptides_and_ion()
    mapping = metis_mapping(topology, 3)
    path = mapping.save(tmp_path / f"mapping{suffix}")
    loaded = load_mapping(path)
    for name in ("assignment", "atom_masses", "atom_bonds", "bead_masses", "bead_bonds",
                 "bead_molecules"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(mapping, name))
    assert loaded.bead_types == mapping.bead_types and loaded.atom_types == mapping.atom_types
    assert dict(loaded.parameters) == dict(mapping.parameters) and loaded.method == "metis"
    loaded.check_topology(topology)
    with pytest.raises(CgvizError, match="atoms"):
        loaded.check_topology(build_peptide_topology(2))


def test_edited_or_foreign_mapping_files_are_rejected(tmp_path):
    mapping = metis_mapping(build_peptide_topology(2), 3)
    document = mapping.to_dict()
    document["bead_masses_amu"][0] += 5.0
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    with pytest.raises(CgvizError, match="bead masses"):
        load_mapping(edited)
    document = mapping.to_dict()
    document["assignment"] = document["assignment"][::-1]  # not canonical / not connected
    shuffled = tmp_path / "shuffled.json"
    shuffled.write_text(json.dumps(document))
    with pytest.raises(CgvizError):
        load_mapping(shuffled)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"hello": 1}))
    with pytest.raises(CgvizError, match="not a cgviz mapping"):
        load_mapping(foreign)
    with pytest.raises(CgvizError, match=".json or .npz"):
        mapping.save(tmp_path / "mapping.txt")


def test_mapping_import_is_light():
    code = ("import sys, cgviz.mapping; "
            "print(','.join(m for m in ('torch', 'torch_geometric', 'lightning') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_map_positions_single_frame_matches_apply(peptide_traj):
    mapping = metis_mapping(peptide_traj.topology, 5)
    one = mapping.map_positions(peptide_traj.xyz[3])
    np.testing.assert_allclose(one, mapping.apply(peptide_traj).xyz[3], atol=1e-6)


def test_polymer_demo_identity_and_monomer_mappings():
    from cgviz.datasets import load_demo

    demo = load_demo("polymer-train")
    traj = demo.trajectories[0][:50]
    props = io.AtomProperties(demo.atom_types, demo.masses)
    identity = contiguous_mapping(traj, 1, properties=props)
    assert identity.bead_types == props.type_names
    assert identity.n_molecules == traj.topology.n_chains
    np.testing.assert_allclose(identity.apply(traj).xyz, traj.xyz, atol=1e-6)
    monomers = residue_mapping(traj, properties=props)
    assert monomers.n_beads == traj.topology.n_residues
    assert set(monomers.bead_types) <= {"B1+S1", "B2+S2", "B1+S2", "B2+S1"}
    chain_of_atom = np.array([atom.residue.chain.index for atom in traj.topology.atoms])
    np.testing.assert_array_equal(monomers.bead_molecules[monomers.assignment], chain_of_atom)
    check_mapping_invariants(monomers, traj.topology, demo.masses)


def test_the_subset_of_one_molecule_renumbers_atoms_beads_and_bonds():
    """The Coarse-Graining page's picture: a subset keeps only bonds with both ends shown,
    numbered locally, and beads at their mass-weighted centres."""
    from cgviz import datasets
    from cgviz.mapping import metis_mapping
    from cgviz.mapping.subset import mapping_subset

    demo = datasets.load_demo("polymer-box")
    traj = demo.trajectories[0]
    cg = metis_mapping(traj.topology, 4,
                       properties=io.AtomProperties(demo.atom_types, demo.masses))
    first = np.array([a.index for a in traj.topology.chain(0).atoms])
    whole = mapping_subset(cg, traj.xyz[0])
    part = mapping_subset(cg, traj.xyz[0], first[::-1])
    assert len(whole.beads) == cg.n_beads and len(part.atoms) == len(first)
    np.testing.assert_array_equal(part.atoms, first)  # sorted
    assert set(part.beads) == set(cg.assignment[first])
    assert part.atom_bonds.max() < len(first) and part.bead_bonds.max() < len(part.beads)
    assert len(part.bead_bonds) == sum(1 for i, j in cg.bead_bonds
                                       if i in part.beads and j in part.beads)
    np.testing.assert_allclose(part.bead_xyz, cg.map_positions(traj.xyz[0])[part.beads],
                               atol=1e-6)
    np.testing.assert_array_equal(part.beads[part.atom_bead], cg.assignment[first])
    assert len(part.labels) == len(part.table["bead"]) == len(part.beads)
    with pytest.raises(CgvizError):
        mapping_subset(cg, traj.xyz[0][:5])
    with pytest.raises(CgvizError):
        mapping_subset(cg, traj.xyz[0], [cg.n_atoms])
