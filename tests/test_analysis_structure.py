"""cgviz.analysis.structure against closed forms and brute-force loops."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cgviz.analysis import (
    angle_triples_from_bonds,
    atom_pairs,
    compute_bond_angles,
    compute_bond_lengths,
    compute_collision_rate,
    compute_contact_map,
    compute_min_nonbonded_distance,
    compute_rg,
    compute_rg_per_molecule,
    pairwise_distances,
)
from cgviz.errors import CgvizError


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def brute_force_rg(xyz: np.ndarray, masses: np.ndarray) -> np.ndarray:
    result = []
    for frame in xyz:
        total = 0.0
        center = np.zeros(3)
        for position, mass in zip(frame, masses):
            center += mass * position
        center /= masses.sum()
        for position, mass in zip(frame, masses):
            total += mass * float(np.sum((position - center) ** 2))
        result.append(math.sqrt(total / masses.sum()))
    return np.array(result)


# --------------------------------------------------------------------------- Rg


def test_rg_two_unequal_masses_closed_form():
    # m1 = 1 at x = 0, m2 = 3 at x = 4: Rg^2 = m1 m2 d^2 / (m1 + m2)^2 = 3.
    xyz = np.array([[[0.0, 0.0, 0.0], [4.0, 0.0, 0.0]]])
    rg = compute_rg(xyz, np.array([1.0, 3.0]))
    assert rg.shape == (1,)
    assert rg[0] == pytest.approx(math.sqrt(3.0), rel=1e-14)


def test_rg_matches_brute_force_loop():
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(7, 11, 3)) + 5.0
    masses = rng.uniform(1.0, 30.0, size=11)
    np.testing.assert_allclose(compute_rg(xyz, masses), brute_force_rg(xyz, masses), rtol=1e-12)


def test_rg_translation_and_rotation_invariant():
    rng = np.random.default_rng(2)
    xyz = rng.normal(size=(5, 9, 3))
    masses = rng.uniform(1.0, 16.0, size=9)
    moved = xyz @ random_rotation(rng).T + rng.normal(size=3) * 10.0
    np.testing.assert_allclose(compute_rg(moved, masses), compute_rg(xyz, masses), rtol=1e-12)


def test_rg_differs_from_mdtraj_unweighted_centroid_for_unequal_masses():
    md = pytest.importorskip("mdtraj")
    rng = np.random.default_rng(3)
    n_atoms = 6
    xyz = rng.normal(size=(4, n_atoms, 3)).astype(np.float32)
    topology = md.Topology()
    residue = topology.add_residue("UNK", topology.add_chain())
    for _ in range(n_atoms):
        topology.add_atom("C", md.element.carbon, residue)
    trajectory = md.Trajectory(xyz, topology)
    masses = np.array([1.0, 12.0, 1.0, 16.0, 1.0, 32.0])
    ours = compute_rg(xyz, masses)
    theirs = md.compute_rg(trajectory, masses=masses)
    assert np.all(np.abs(ours - theirs) > 1e-3)
    # mdtraj centres on the unweighted centroid; a mass-weighted Rg is smallest about
    # the centre of mass, so ours is never larger (parallel axis theorem).
    assert np.all(ours < theirs)
    # With equal masses the two definitions agree.
    np.testing.assert_allclose(
        compute_rg(xyz, np.ones(n_atoms)), md.compute_rg(trajectory), rtol=1e-5
    )


def test_rg_atom_indices_and_per_molecule():
    rng = np.random.default_rng(4)
    xyz = rng.normal(size=(6, 10, 3))
    masses = rng.uniform(1.0, 5.0, size=10)
    subset = np.array([1, 4, 5, 9])
    np.testing.assert_allclose(
        compute_rg(xyz, masses, atom_indices=subset),
        brute_force_rg(xyz[:, subset], masses[subset]),
        rtol=1e-12,
    )
    groups = [np.arange(0, 4), np.arange(4, 10), [0, 9]]
    per_molecule = compute_rg_per_molecule(xyz, masses, groups)
    assert per_molecule.shape == (6, 3)
    for column, group in enumerate(groups):
        np.testing.assert_allclose(
            per_molecule[:, column], brute_force_rg(xyz[:, group], masses[group]), rtol=1e-12
        )


def test_rg_errors():
    xyz = np.zeros((3, 4, 3))
    with pytest.raises(CgvizError, match="masses"):
        compute_rg(xyz, np.ones(5))
    with pytest.raises(CgvizError, match="n_frames, n_atoms, 3"):
        compute_rg(np.zeros((4, 3)), np.ones(4))
    with pytest.raises(CgvizError, match="n_frames, n_atoms, 3"):
        compute_rg(np.zeros((2, 4, 2)), np.ones(4))
    bad = xyz.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(CgvizError, match="NaN"):
        compute_rg(bad, np.ones(4))
    with pytest.raises(CgvizError, match="positive"):
        compute_rg(xyz, np.array([1.0, 0.0, 1.0, 1.0]))
    with pytest.raises(CgvizError, match="only 4 atoms"):
        compute_rg(xyz, np.ones(4), atom_indices=[0, 4])
    with pytest.raises(CgvizError, match="empty"):
        compute_rg_per_molecule(xyz, np.ones(4), [[0, 1], []])
    with pytest.raises(CgvizError, match="groups"):
        compute_rg_per_molecule(xyz, np.ones(4), [])


# ------------------------------------------------------------- distances, bonds, angles


def test_pairwise_distances_bond_lengths_and_atom_pairs():
    rng = np.random.default_rng(5)
    xyz = rng.normal(size=(3, 5, 3))
    bonds = np.array([[0, 1], [1, 2], [4, 2]])
    lengths = compute_bond_lengths(xyz, bonds)
    assert lengths.shape == (3, 3)
    for frame in range(3):
        for column, (i, j) in enumerate(bonds):
            expected = math.sqrt(sum((xyz[frame, i, k] - xyz[frame, j, k]) ** 2 for k in range(3)))
            assert lengths[frame, column] == pytest.approx(expected, rel=1e-13)
    np.testing.assert_array_equal(
        atom_pairs(4), [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    )
    np.testing.assert_array_equal(atom_pairs(4, exclude_neighbors=2), [[0, 3]])
    assert pairwise_distances(xyz, atom_pairs(5)).shape == (3, 10)
    with pytest.raises(CgvizError, match="itself"):
        compute_bond_lengths(xyz, [[1, 1]])
    with pytest.raises(CgvizError, match=r"\(n, 2\)"):
        compute_bond_lengths(xyz, [0, 1])
    with pytest.raises(CgvizError, match="only 5 atoms"):
        compute_bond_lengths(xyz, [[0, 5]])


def test_angle_triples_branched_graph_listed_exactly():
    # 0-1-2-3 with a branch 1-4; the bond 2-1 repeated reversed counts once.
    bonds = np.array([[0, 1], [1, 2], [2, 3], [1, 4], [2, 1]])
    triples = angle_triples_from_bonds(bonds, n_atoms=5)
    np.testing.assert_array_equal(triples, [[0, 1, 2], [0, 1, 4], [2, 1, 4], [1, 2, 3]])
    assert angle_triples_from_bonds(np.array([[0, 1]]), n_atoms=2).shape == (0, 3)
    linear = angle_triples_from_bonds([[i, i + 1] for i in range(5)], n_atoms=6)
    np.testing.assert_array_equal(linear, [[i, i + 1, i + 2] for i in range(4)])


def test_bond_angles_exact_and_brute_force():
    square = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-2.0, 0.0, 0.0]]])
    angles = compute_bond_angles(square, [[0, 1, 2], [0, 1, 3], [0, 1, 0]])
    assert angles[0, 0] == np.pi / 2
    assert angles[0, 1] == np.pi
    assert angles[0, 2] == 0.0

    rng = np.random.default_rng(6)
    xyz = rng.normal(size=(4, 6, 3))
    triples = angle_triples_from_bonds([[0, 1], [1, 2], [2, 3], [3, 4], [1, 5]], 6)
    angles = compute_bond_angles(xyz, triples)
    for frame in range(4):
        for column, (i, j, k) in enumerate(triples):
            u, v = xyz[frame, i] - xyz[frame, j], xyz[frame, k] - xyz[frame, j]
            cosine = float(u @ v) / (np.linalg.norm(u) * np.linalg.norm(v))
            assert angles[frame, column] == pytest.approx(math.acos(cosine), abs=1e-12)


# ------------------------------------------------------------------- contacts


def brute_force_contacts(xyz: np.ndarray, cutoff: float) -> np.ndarray:
    n_frames, n_atoms = xyz.shape[:2]
    counts = np.zeros((n_atoms, n_atoms))
    for frame in range(n_frames):
        for i in range(n_atoms):
            for j in range(n_atoms):
                if i != j and np.linalg.norm(xyz[frame, i] - xyz[frame, j]) < cutoff:
                    counts[i, j] += 1
    return counts / n_frames


def test_contact_map_matches_double_loop():
    rng = np.random.default_rng(7)
    xyz = rng.uniform(0.0, 2.0, size=(20, 12, 3))
    contacts = compute_contact_map(xyz, cutoff=0.9)
    expected = brute_force_contacts(xyz, 0.9)
    np.testing.assert_allclose(contacts, expected, rtol=0, atol=1e-15)
    assert 0.05 < contacts.mean() < 0.95  # the check is not trivially all 0 or all 1
    np.testing.assert_array_equal(contacts, contacts.T)
    np.testing.assert_array_equal(np.diag(contacts), 0.0)

    near = compute_contact_map(xyz, cutoff=0.9, exclude_neighbors=2)
    index = np.arange(12)
    close_in_sequence = np.abs(index[:, None] - index[None, :]) <= 2
    np.testing.assert_array_equal(near[close_in_sequence], 0.0)
    np.testing.assert_array_equal(near[~close_in_sequence], expected[~close_in_sequence])

    without_bonds = compute_contact_map(xyz, cutoff=0.9, exclude_pairs=[[0, 5]])
    assert without_bonds[0, 5] == without_bonds[5, 0] == 0.0
    assert expected[0, 5] > 0


def test_contact_map_larger_system_and_errors():
    rng = np.random.default_rng(8)
    xyz = np.cumsum(rng.normal(scale=0.3, size=(1000, 100, 3)), axis=1)
    contacts = compute_contact_map(xyz, cutoff=0.5, exclude_neighbors=1)
    assert contacts.shape == (100, 100)
    assert contacts.max() <= 1.0 and contacts.sum() > 0
    with pytest.raises(CgvizError, match="cutoff"):
        compute_contact_map(xyz, cutoff=-1.0)
    with pytest.raises(CgvizError, match="NaN"):
        compute_contact_map(np.full((2, 3, 3), np.nan), cutoff=1.0)


# ------------------------------------------------------------------ collisions


def test_collision_rate_matches_brute_force():
    rng = np.random.default_rng(9)
    xyz = rng.uniform(0.0, 1.5, size=(40, 8, 3))
    bonds = np.array([[i, i + 1] for i in range(7)])
    bonded = {tuple(b) for b in bonds.tolist()}
    minimum = []
    for frame in xyz:
        distances = [
            np.linalg.norm(frame[i] - frame[j])
            for i in range(8)
            for j in range(i + 1, 8)
            if (i, j) not in bonded
        ]
        minimum.append(min(distances))
    minimum = np.array(minimum)
    np.testing.assert_allclose(compute_min_nonbonded_distance(xyz, bonds), minimum, rtol=1e-12)
    threshold = float(np.median(minimum))
    rate = compute_collision_rate(xyz, bonds, threshold)
    assert rate == pytest.approx(np.mean(minimum < threshold))
    assert 0.0 < rate < 1.0

    # Only pairs inside a molecule count when groups are given: two straight 3-bead
    # chains lying 0.05 nm apart collide with each other but not with themselves.
    chain = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [1.0, 0.0, 0.0]])
    two_chains = np.concatenate([chain, chain + [0.0, 0.05, 0.0]])[None]
    chain_bonds = [[0, 1], [1, 2], [3, 4], [4, 5]]
    groups = [[0, 1, 2], [3, 4, 5]]
    assert compute_collision_rate(two_chains, chain_bonds, 0.1) == 1.0
    assert compute_collision_rate(two_chains, chain_bonds, 0.1, groups=groups) == 0.0
    np.testing.assert_allclose(
        compute_min_nonbonded_distance(two_chains, chain_bonds, groups=groups), [1.0]
    )
    with pytest.raises(CgvizError, match="no non-bonded pair"):
        compute_collision_rate(two_chains[:, :2], [[0, 1]], 0.1)
    with pytest.raises(CgvizError, match="shares atoms"):
        compute_min_nonbonded_distance(two_chains, chain_bonds, groups=[[0, 1], [1, 2]])
    with pytest.raises(CgvizError, match="threshold"):
        compute_collision_rate(two_chains, chain_bonds, 0.0)
