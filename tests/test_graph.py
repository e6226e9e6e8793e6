"""cgviz.graph: radius graph against brute force, both backends, bonds, edge features."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cgviz import graph as cg_graph
from cgviz.errors import CgvizError
from cgviz.graph import (
    EDGE_TYPE_BOND,
    EDGE_TYPE_SPATIAL,
    batch_bond_edges,
    build_bead_graph,
    edge_features,
    radius_graph,
    union_with_bonds,
)

ROOT = Path(__file__).resolve().parents[1]


def brute_force(positions, cutoff, batch=None, box=None, max_neighbors=None):
    """Plain double loop in float64: sorted (target, source) list of edges."""
    x = np.asarray(positions, dtype=np.float64)
    n = len(x)
    batch = np.zeros(n, int) if batch is None else np.asarray(batch)
    edges = []
    for target in range(n):
        found = []
        for source in range(n):
            if source == target or batch[source] != batch[target]:
                continue
            d = x[source] - x[target]
            if box is not None:
                lengths = np.asarray(box, dtype=np.float64)
                lengths = lengths[batch[target]] if lengths.ndim == 2 else lengths
                d = d - lengths * np.round(d / lengths)
            squared = float(d @ d)
            if squared < cutoff * cutoff:
                found.append((squared, source))
        found.sort()
        if max_neighbors is not None:
            found = found[:max_neighbors]
        edges += sorted((target, source) for _, source in found)
    return edges


def as_pairs(edge_index: torch.Tensor) -> list[tuple[int, int]]:
    return [(int(t), int(s)) for s, t in edge_index.t().tolist()]


def random_system(seed, sizes=(17, 40, 3), box=1.6):
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    positions = rng.uniform(0.0, box, size=(n, 3))
    batch = np.repeat(np.arange(len(sizes)), sizes)
    return torch.tensor(positions, dtype=torch.float32), torch.tensor(batch)


CASES = [
    dict(name="single", batch=False, box=None, max_neighbors=None),
    dict(name="batched", batch=True, box=None, max_neighbors=None),
    dict(name="periodic", batch=True, box=(1.6, 1.7, 1.8), max_neighbors=None),
    dict(name="periodic-per-system", batch=True,
         box=((1.6, 1.6, 1.6), (1.7, 1.9, 1.65), (1.6, 1.61, 1.62)), max_neighbors=None),
    dict(name="max-neighbors", batch=True, box=(1.6, 1.7, 1.8), max_neighbors=3),
]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.parametrize("seed", [0, 1])
def test_radius_graph_matches_brute_force_with_both_backends(case, seed):
    positions, batch = random_system(seed)
    batch = batch if case["batch"] else None
    cutoff = 0.45
    expected = brute_force(positions.numpy(), cutoff, None if batch is None else batch.numpy(),
                           case["box"], case["max_neighbors"])
    assert len(expected) > 20, "the case must have edges to compare"
    results = {}
    for method in ("dense", "kdtree"):
        edge_index = radius_graph(positions, cutoff, batch=batch, periodic_box=case["box"],
                                  max_neighbors=case["max_neighbors"], method=method)
        assert edge_index.dtype == torch.long and edge_index.shape[0] == 2
        assert as_pairs(edge_index) == expected, method
        results[method] = edge_index
    assert torch.equal(results["dense"], results["kdtree"])
    if case["max_neighbors"] is None:  # both directions, no self loops
        pairs = set(as_pairs(results["dense"]))
        assert all((s, t) in pairs for t, s in pairs)
        assert all(t != s for t, s in pairs)


def test_far_from_the_origin_the_float32_prefilter_misses_nothing():
    # float64 positions at 1000 nm, where float32 spacing is 6e-5 nm: pairs just inside the
    # cutoff must still be found (the dense backend pre-filters in float32)
    rng = np.random.default_rng(4)
    positions = torch.tensor(1000.0 + rng.uniform(0.0, 1.2, size=(60, 3)), dtype=torch.float64)
    distances = torch.cdist(positions, positions, compute_mode="donot_use_mm_for_euclid_dist")
    pair_distances = distances[torch.triu_indices(60, 60, 1).unbind()]
    for distance in pair_distances[:: len(pair_distances) // 12][:12].tolist():
        cutoff = distance + 1e-9  # this pair is inside by 1e-9 nm
        expected = brute_force(positions.numpy(), cutoff)
        for method in ("dense", "kdtree"):
            assert as_pairs(radius_graph(positions, cutoff, method=method)) == expected


def test_periodic_images_are_found_across_the_boundary():
    positions = torch.tensor([[0.05, 0.5, 0.5], [1.95, 0.5, 0.5], [1.0, 0.5, 0.5]])
    open_graph = radius_graph(positions, 0.3)
    assert open_graph.shape[1] == 0
    for method in ("dense", "kdtree"):
        periodic = radius_graph(positions, 0.3, periodic_box=(2.0, 2.0, 2.0), method=method)
        assert as_pairs(periodic) == [(0, 1), (1, 0)]


def test_auto_switches_backend_by_size_with_the_same_result(monkeypatch):
    positions, batch = random_system(3, sizes=(30, 30))
    small = radius_graph(positions, 0.4, batch=batch)
    calls = []
    original = cg_graph._kdtree_candidates
    monkeypatch.setattr(cg_graph, "_kdtree_candidates",
                        lambda *args: calls.append(1) or original(*args))
    radius_graph(positions, 0.4, batch=batch)
    assert calls == []  # 2 * 30^2 pairs: dense
    monkeypatch.setattr(cg_graph, "DENSE_MAX_PAIRS", 100)
    large = radius_graph(positions, 0.4, batch=batch)
    assert calls == [1] and torch.equal(small, large)


def test_degenerate_inputs():
    assert radius_graph(torch.zeros((1, 3)), 0.5).shape == (2, 0)
    assert radius_graph(torch.zeros((0, 3)), 0.5).shape == (2, 0)
    # systems of one node each never connect, whatever the distance
    together = torch.zeros((3, 3))
    assert radius_graph(together, 0.5, batch=torch.tensor([0, 1, 2])).shape == (2, 0)
    assert radius_graph(together, 0.5, method="kdtree").shape == (2, 6)


def test_graph_errors_are_cgviz_errors():
    positions, batch = random_system(0)
    cases = [
        (lambda: radius_graph(positions, 0.9, periodic_box=(1.6, 1.6, 1.6)), "half"),
        (lambda: radius_graph(positions, 0.4, batch=batch.flip(0)), "sorted"),
        (lambda: radius_graph(positions, -1.0), "positive"),
        (lambda: radius_graph(positions[:, :2], 0.4), "shape"),
        (lambda: radius_graph(positions * float("nan"), 0.4), "NaN"),
        (lambda: radius_graph(positions, 0.4, method="ball"), "method"),
        (lambda: union_with_bonds(torch.zeros((2, 0), dtype=torch.long),
                                  torch.tensor([[0, 1], [1, 2], [2, 3]])), "shape"),
    ]
    for call, words in cases:
        with pytest.raises(CgvizError, match=words):
            call()


def test_union_keeps_long_bonds_and_does_not_duplicate_short_ones():
    # a chain 0-1-2-3 with 2-3 stretched beyond the cutoff; 4 is unbonded, close to 0 only
    positions = torch.tensor([[0.0, 0, 0], [0.3, 0, 0], [0.6, 0, 0], [1.2, 0, 0],
                              [0.0, 0.3, 0]])
    bonds = torch.tensor([[0, 1, 2], [1, 2, 3]])
    cutoff = 0.4
    radius_edges = radius_graph(positions, cutoff)
    assert sorted(as_pairs(radius_edges)) == [(0, 1), (0, 4), (1, 0), (1, 2), (2, 1), (4, 0)]
    edge_index, edge_type = union_with_bonds(radius_edges, bonds)
    pairs = as_pairs(edge_index)
    assert len(pairs) == len(set(pairs)) == 8 and pairs == sorted(pairs)
    types = dict(zip(pairs, edge_type.tolist()))
    for i, j in [(0, 1), (1, 2), (2, 3)]:
        assert types[(i, j)] == types[(j, i)] == EDGE_TYPE_BOND
    assert types[(0, 4)] == types[(4, 0)] == EDGE_TYPE_SPATIAL
    # giving each bond in both directions changes nothing
    both, both_types = union_with_bonds(radius_edges, torch.cat([bonds, bonds.flip(0)], 1))
    assert torch.equal(both, edge_index) and torch.equal(both_types, edge_type)


def test_batch_bond_edges_offsets_each_system():
    bonds = batch_bond_edges([np.array([[0, 1], [1, 2]]), np.array([[0, 1]])], [3, 2])
    assert bonds.tolist() == [[0, 1, 3], [1, 2, 4]]
    with pytest.raises(CgvizError, match="local"):
        batch_bond_edges([np.array([[0, 5]])], [3])


def test_edge_features_values_periodic_and_gradients():
    positions = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.2, 0.3], [1.9, 0.2, 0.3]],
                             requires_grad=True)
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])  # sources, targets
    cutoff = 0.5
    features = edge_features(positions, edge_index, cutoff, periodic_box=(2.0, 2.0, 2.0))
    assert features.shape == (3, 4)
    x = positions.detach().numpy().astype(np.float64)
    for k, (source, target) in enumerate(edge_index.t().tolist()):
        r = x[target] - x[source]
        r -= 2.0 * np.round(r / 2.0)
        np.testing.assert_allclose(features[k, :3].detach().numpy(), r / cutoff, atol=1e-6)
        np.testing.assert_allclose(float(features[k, 3].detach()), np.linalg.norm(r) / cutoff,
                                   atol=1e-6)
    # edge 2 -> 0: x_0 - x_2 = 0.1 - 1.9 = -1.8 nm, whose minimum image is +0.2 nm
    assert float(features[2, 0].detach()) == pytest.approx(0.2 / cutoff, abs=1e-5)
    features.sum().backward()
    assert torch.isfinite(positions.grad).all()
    # translation invariance of the features
    shifted = edge_features(positions.detach() + 0.77, edge_index, cutoff)
    unshifted = edge_features(positions.detach(), edge_index, cutoff)
    torch.testing.assert_close(shifted, unshifted, atol=1e-5, rtol=0)


def test_build_bead_graph_limits_spatial_edges_but_keeps_bonds():
    positions, batch = random_system(5, sizes=(25, 25))
    bonds = batch_bond_edges([np.array([[i, i + 1] for i in range(24)])] * 2, [25, 25])
    graph = build_bead_graph(positions, 0.5, bonds, batch=batch, max_neighbors=1)
    pairs = as_pairs(graph.edge_index)
    types = graph.edge_type.tolist()
    assert graph.edge_attr.shape == (len(pairs), 4)
    bond_pairs = {(t, s) for s, t in bonds.t().tolist()} | {(s, t) for s, t in bonds.t().tolist()}
    assert {p for p, t in zip(pairs, types) if t == EDGE_TYPE_BOND} == bond_pairs
    spatial_targets = [p[0] for p, t in zip(pairs, types) if t == EDGE_TYPE_SPATIAL]
    assert max(np.bincount(spatial_targets)) <= 1
    no_bonds = build_bead_graph(positions, 0.5, batch=batch)
    assert no_bonds.edge_type.sum() == 0 and no_bonds.edge_attr.shape[1] == 4
    assert torch.equal(no_bonds.edge_index, radius_graph(positions, 0.5, batch=batch))


def test_graph_import_does_not_load_torch_geometric():
    code = "import sys, cgviz.graph; print('torch_geometric' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_brute_force_reference_is_itself_sane():
    points = np.array([[0.0, 0, 0], [0.1, 0, 0], [0.85, 0, 0]])
    assert brute_force(points, 0.3) == [(0, 1), (1, 0)]
    assert brute_force(points, 0.3, box=(1.0, 1.0, 1.0)) == [
        (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    assert brute_force(points, 0.3, box=(1.0, 1.0, 1.0), max_neighbors=1) == [
        (0, 1), (1, 0), (2, 0)]
