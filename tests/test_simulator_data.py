"""History windows over many bead systems: index views, batching, the fine graph per system."""

from __future__ import annotations

import mdtraj as md
import numpy as np
import pytest

from cgviz import CgvizError, io, mapping
from cgviz.simulator import data

VOCABULARY = ["B1", "B2", "S1", "S2"]


def bead_chain(n_monomers: int, n_frames: int, seed: int, n_chains: int = 1):
    """A small copolymer-like fine system (backbone + side chain beads) with random walks."""
    rng = np.random.default_rng(seed)
    top = md.Topology()
    types = []
    for _ in range(n_chains):
        chain = top.add_chain()
        previous = None
        for i in range(n_monomers):
            residue = top.add_residue("MNA" if i % 2 else "MNB", chain)
            b_type, s_type = ("B1", "S1") if i % 2 else ("B2", "S2")
            backbone = top.add_atom(b_type, md.element.virtual_site, residue)
            side = top.add_atom(s_type, md.element.virtual_site, residue)
            top.add_bond(backbone, side)
            if previous is not None:
                top.add_bond(previous, backbone)
            previous = backbone
            types += [b_type, s_type]
    xyz = np.cumsum(rng.normal(scale=0.05, size=(n_frames, top.n_atoms, 3)), axis=0)
    xyz += np.arange(top.n_atoms)[None, :, None] * 0.3
    traj = md.Trajectory(xyz.astype(np.float32), top, time=np.arange(n_frames) * 2.0)
    masses = rng.uniform(50, 150, top.n_atoms)
    return traj, io.AtomProperties(tuple(types), masses)


@pytest.fixture(scope="module")
def systems():
    traj, props = bead_chain(6, 12, seed=0, n_chains=3)
    cg = mapping.metis_mapping(traj.topology, atoms_per_bead=4, properties=props)
    return traj, props, cg, data.bead_systems_from_trajectory(traj, cg, VOCABULARY, name="t")


def test_one_system_per_molecule_with_mass_weighted_beads(systems):
    traj, props, cg, split = systems
    assert len(split) == 3 and all(s.n_frames == 12 for s in split)
    assert sum(s.n_beads for s in split) == cg.n_beads
    # First molecule: bead positions are the mass-weighted centres of their atoms.
    s0 = split[0]
    atoms = np.arange(s0.n_atoms)  # molecule 0 holds the first atoms
    for bead in range(s0.n_beads):
        members = atoms[s0.bead_of_atom == bead]
        w = props.masses[members]
        expected = (traj.xyz[:, members] * w[None, :, None]).sum(1) / w.sum()
        np.testing.assert_allclose(s0.positions[:, bead], expected, rtol=1e-5, atol=1e-5)
        assert s0.bead_masses[bead] == pytest.approx(w.sum(), rel=1e-5)
    assert s0.atom_type_ids.tolist() == [VOCABULARY.index(t) for t in props.type_names[:12]]
    whole = data.bead_systems_from_trajectory(traj, cg, VOCABULARY, split_molecules=False)
    assert len(whole) == 1 and whole[0].n_beads == cg.n_beads


def test_windows_are_views_and_cover_every_valid_start(systems):
    *_, split = systems
    windows = data.HistoryWindows(split, history_length=4)
    assert len(windows) == sum(s.n_frames - 4 for s in split)  # t = k-1 .. n-2
    for index in (0, 5, len(windows) - 1):
        window = windows.window(index)
        system = split[windows.system_index[index]]
        end = windows.last_frame[index]
        assert window.shape == (5, system.n_beads, 3)
        np.testing.assert_array_equal(window[-1], system.positions[end + 1])
        assert np.shares_memory(window, system.positions), "a window is a view, not a copy"
    strided = data.HistoryWindows(split, history_length=4, frame_stride=3)
    assert len(strided) == sum(len(range(3, s.n_frames - 1, 3)) for s in split)


def test_collate_offsets_and_one_fine_graph_per_distinct_system(systems):
    *_, split = systems
    windows = data.HistoryWindows(split, history_length=3)
    picks = [0, 1, len(windows) - 1]  # two windows of molecule 0, one of the last
    batch = data.collate(windows, picks)
    first, last = split[0], split[-1]
    assert batch.n_graphs == 3
    assert batch.positions.shape == (4, 2 * first.n_beads + last.n_beads, 3)
    assert batch.n_embedding_rows == first.n_beads + last.n_beads
    assert batch.atom_type_ids.shape[0] == first.n_atoms + last.n_atoms
    rows = batch.embedding_row.numpy()
    assert rows[: first.n_beads].tolist() == rows[first.n_beads : 2 * first.n_beads].tolist()
    assert rows[-1] == batch.n_embedding_rows - 1
    # Bonds run both ways and stay inside their own window.
    bonds = batch.bead_bonds.numpy()
    assert bonds.shape[1] == 2 * (2 * len(first.bead_bonds) + len(last.bead_bonds))
    graph = batch.bead_graph.numpy()
    assert np.all(graph[bonds[0]] == graph[bonds[1]])
    np.testing.assert_array_equal(batch.positions[:, :first.n_beads].numpy(),
                                  windows.window(0))


def test_user_errors(systems):
    traj, props, cg, split = systems
    with pytest.raises(CgvizError, match="enough frames"):
        data.HistoryWindows(split, history_length=20)
    with pytest.raises(CgvizError, match="at least 2"):
        data.HistoryWindows(split, history_length=1)
    with pytest.raises(CgvizError, match="vocabulary"):
        data.bead_systems_from_trajectory(traj, cg, ["B1", "S1"])
    bad = traj.xyz.copy()
    bad[3, 0, 0] = np.nan
    with pytest.raises(CgvizError, match="non-finite"):
        data.bead_systems_from_trajectory(md.Trajectory(bad, traj.topology), cg, VOCABULARY)
