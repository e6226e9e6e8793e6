"""cgviz.simulator.networks: shapes, invariances, equivariance, score scaling, sizes."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import build_peptide_topology

from cgviz.errors import CgvizError
from cgviz.graph import EDGE_TYPE_BOND, batch_bond_edges, build_bead_graph
from cgviz.mapping import metis_mapping
from cgviz.simulator.networks import (
    DynamicsGNN,
    InteractionLayer,
    InvariantInteractionLayer,
    EmbeddingGNN,
    EquivariantDynamicsGNN,
    EquivariantScoreGNN,
    ScoreGNN,
    count_parameters,
)

ROOT = Path(__file__).resolve().parents[1]
HISTORY = 6
CUTOFF = 0.6
SIZES = (12, 7)  # two systems in one batch


def chain_history(seed: int, sizes=SIZES, dtype=torch.float64):
    """(HISTORY, n_beads, 3) nm positions of random-walk chains, batch, CG bonds."""
    generator = torch.Generator().manual_seed(seed)
    chains = []
    for n in sizes:
        start = torch.cumsum(torch.randn(n, 3, generator=generator, dtype=dtype) * 0.25, 0)
        drift = torch.cumsum(torch.randn(HISTORY, n, 3, generator=generator, dtype=dtype)
                             * 0.03, 0)
        chains.append(start + drift)
    history = torch.cat(chains, dim=1)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    bonds = batch_bond_edges([np.array([[i, i + 1] for i in range(n - 1)]) for n in sizes],
                             sizes)
    return history, batch, bonds


def dynamics_inputs(history: torch.Tensor, batch: torch.Tensor, bonds: torch.Tensor):
    """What the simulator feeds the dynamics network: velocities + graph on the last frame."""
    velocities = (history[1:] - history[:-1]).permute(1, 0, 2)
    graph = build_bead_graph(history[-1], CUTOFF, bonds, batch=batch)
    return velocities, graph


def make_networks(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    embedding = EmbeddingGNN(n_atom_types=4, latent_size=16, n_steps=2, out_size=16)
    plain = DynamicsGNN(16, HISTORY, latent_size=32, n_layers=2)
    equivariant = EquivariantDynamicsGNN(16, HISTORY, latent_size=32, n_layers=2)
    score = ScoreGNN(32, latent_size=32, n_layers=2)
    equivariant_score = EquivariantScoreGNN(32, latent_size=32, n_layers=2)
    return [net.to(dtype) for net in (embedding, plain, equivariant, score, equivariant_score)]


def run_dynamics(net, history, batch, bonds, bead_embeddings, masses):
    velocities, graph = dynamics_inputs(history, batch, bonds)
    return net(bead_embeddings, velocities, masses, *graph)


def random_rotation(seed: int, dtype=torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@pytest.fixture
def setup():
    embedding, plain, equivariant, score, equivariant_score = make_networks()
    history, batch, bonds = chain_history(1)
    n_beads = history.shape[1]
    generator = torch.Generator().manual_seed(3)
    bead_embeddings = torch.randn(n_beads, 16, generator=generator, dtype=torch.float64)
    masses = torch.rand(n_beads, generator=generator, dtype=torch.float64) + 0.5
    return dict(embedding=embedding, plain=plain, equivariant=equivariant, score=score,
                equivariant_score=equivariant_score, history=history, batch=batch,
                bonds=bonds, emb=bead_embeddings, masses=masses)


def test_output_shapes_and_sigma_floor(setup):
    n_beads = setup["history"].shape[1]
    velocities, graph = dynamics_inputs(setup["history"], setup["batch"], setup["bonds"])
    assert int((graph.edge_type == EDGE_TYPE_BOND).sum()) == 2 * (sum(SIZES) - 2)
    for name in ("plain", "equivariant"):
        net = setup[name]
        out = net(setup["emb"], velocities, setup["masses"], *graph)
        assert out.mu.shape == (n_beads, 3) and out.sigma.shape == (n_beads, 3)
        assert out.latent.shape == (n_beads, 32)
        assert bool((out.sigma > net.sigma_min).all())
        assert "sigma_min" in dict(net.named_buffers())
        assert "sigma_min" not in dict(net.named_parameters())
    out = setup["plain"](setup["emb"], velocities, setup["masses"], *graph)
    score = setup["score"](out.latent, setup["masses"], *graph,
                           noise_level=torch.full((n_beads,), 0.05, dtype=torch.float64))
    assert score.shape == (n_beads, 3)
    assert setup["equivariant_score"](out.latent, setup["masses"], *graph,
                                      noise_level=0.05).shape == (n_beads, 3)
    with pytest.raises(CgvizError, match="velocities"):
        setup["plain"](setup["emb"], velocities[:, 1:], setup["masses"], *graph)


@pytest.mark.parametrize("name", ["plain", "equivariant"])
def test_dynamics_outputs_are_translation_invariant(setup, name):
    net = setup[name]
    args = (setup["batch"], setup["bonds"], setup["emb"], setup["masses"])
    before = run_dynamics(net, setup["history"], *args)
    shift = torch.tensor([3.7, -11.2, 0.4], dtype=torch.float64)
    after = run_dynamics(net, setup["history"] + shift, *args)
    for first, second in zip(before, after):
        torch.testing.assert_close(first, second, atol=1e-9, rtol=1e-9)


def test_equivariant_variant_is_rotation_equivariant_and_plain_is_not(setup):
    args = (setup["batch"], setup["bonds"], setup["emb"], setup["masses"])
    history = setup["history"]
    rotation = random_rotation(7)
    centre = history[-1].mean(0)
    rotated = (history - centre) @ rotation.T + centre + 1.3
    base = run_dynamics(setup["equivariant"], history, *args)
    turned = run_dynamics(setup["equivariant"], rotated, *args)
    torch.testing.assert_close(turned.mu, base.mu @ rotation.T, atol=1e-9, rtol=1e-7)
    torch.testing.assert_close(turned.sigma, base.sigma, atol=1e-9, rtol=1e-7)
    # N(mu, diag(sigma^2)) is only equivariant when sigma is the same along x, y and z
    torch.testing.assert_close(base.sigma, base.sigma[:, :1].expand(-1, 3))
    torch.testing.assert_close(turned.latent, base.latent, atol=1e-9, rtol=1e-7)
    assert float(base.mu.abs().mean()) > 1e-3, "a zero output would be trivially equivariant"
    plain_base = run_dynamics(setup["plain"], history, *args)
    plain_turned = run_dynamics(setup["plain"], rotated, *args)
    error = (plain_turned.mu - plain_base.mu @ rotation.T).norm() / plain_base.mu.norm()
    assert float(error) > 0.05, "the plain network should not be rotation-equivariant"


@pytest.mark.parametrize("name", ["score", "equivariant_score"])
def test_score_is_network_output_over_noise_level(setup, name):
    network = setup[name]
    velocities, graph = dynamics_inputs(setup["history"], setup["batch"], setup["bonds"])
    latent = setup["plain"](setup["emb"], velocities, setup["masses"], *graph).latent
    n_beads = latent.shape[0]
    small = network(latent, setup["masses"], *graph, noise_level=0.01)
    large = network(latent, setup["masses"], *graph,
                    noise_level=torch.full((n_beads,), 0.04, dtype=torch.float64))
    assert float(small.abs().mean()) > 1e-3
    torch.testing.assert_close(small * 0.01, large * 0.04)
    per_system = torch.tensor([0.01, 0.04], dtype=torch.float64)[setup["batch"]]
    mixed = network(latent, setup["masses"], *graph, noise_level=per_system)
    first = setup["batch"] == 0
    torch.testing.assert_close(mixed[first], small[first])
    torch.testing.assert_close(mixed[~first], large[~first])
    shifted_graph = build_bead_graph(setup["history"][-1] + 5.0, CUTOFF, setup["bonds"],
                                     batch=setup["batch"])
    shifted = network(latent, setup["masses"], *shifted_graph, noise_level=0.01)
    torch.testing.assert_close(shifted, small)
    with pytest.raises(CgvizError, match="noise_level"):
        network(latent, setup["masses"], *graph, noise_level=torch.ones(3))


def test_equivariant_score_rotates_with_the_configuration(setup):
    noisy = setup["history"][-1]
    rotation = random_rotation(11)
    turned_positions = noisy @ rotation.T
    latent = torch.randn(noisy.shape[0], 32, dtype=torch.float64,
                         generator=torch.Generator().manual_seed(2))
    results = {}
    for name in ("equivariant_score", "score"):
        base = setup[name](latent, setup["masses"],
                           *build_bead_graph(noisy, CUTOFF, setup["bonds"], batch=setup["batch"]),
                           noise_level=0.02)
        turned = setup[name](latent, setup["masses"],
                             *build_bead_graph(turned_positions, CUTOFF, setup["bonds"],
                                               batch=setup["batch"]),
                             noise_level=0.02)
        results[name] = float((turned - base @ rotation.T).norm() / base.norm())
    assert results["equivariant_score"] < 1e-9
    assert results["score"] > 0.05, "the plain score network should not be equivariant"


def test_embedding_gnn_pools_atoms_and_sees_only_the_graph():
    topology = build_peptide_topology(2)
    mapping = metis_mapping(topology, 4)
    vocabulary = sorted(set(mapping.atom_types))
    atom_types = torch.tensor([vocabulary.index(t) for t in mapping.atom_types])
    masses = torch.tensor(mapping.atom_masses / 12.0, dtype=torch.float32)
    bonds = torch.as_tensor(mapping.atom_bonds.T.copy())
    bond_index = torch.cat([bonds, bonds.flip(0)], dim=1)
    torch.manual_seed(0)
    net = EmbeddingGNN(len(vocabulary), latent_size=16, n_steps=3, out_size=8)
    atoms = net(atom_types, masses, bond_index)
    assert atoms.shape == (mapping.n_atoms, 8)
    assignment = torch.tensor(mapping.assignment)
    beads = net.embed_beads(atom_types, masses, bond_index, assignment, mapping.n_beads)
    assert beads.shape == (mapping.n_beads, 8)
    for bead in range(mapping.n_beads):
        torch.testing.assert_close(beads[bead], atoms[assignment == bead].mean(0))
    # the two ALA residues differ only by their neighbours; the graph must tell atoms
    # apart by environment, not by index: relabelling atoms permutes the output
    permutation = torch.randperm(mapping.n_atoms, generator=torch.Generator().manual_seed(1))
    inverse = torch.argsort(permutation)
    permuted = net(atom_types[permutation], masses[permutation], inverse[bond_index])
    torch.testing.assert_close(permuted, atoms[permutation], atol=1e-5, rtol=1e-5)
    with pytest.raises(CgvizError, match="type indices"):
        net(atom_types + len(vocabulary), masses, bond_index)


def test_every_parameter_gets_a_gradient(setup):
    velocities, graph = dynamics_inputs(setup["history"], setup["batch"], setup["bonds"])
    atom_types = torch.tensor([0, 1, 2, 3, 1, 0])
    bond_index = torch.tensor([[0, 1, 2, 3, 4, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0, 1, 2, 3, 4]])
    embedding = setup["embedding"]
    for name, score_name in (("plain", "score"), ("equivariant", "equivariant_score")):
        pooled = embedding.embed_beads(atom_types, torch.ones(6, dtype=torch.float64),
                                       bond_index, torch.tensor([0, 0, 0, 1, 1, 1]), 2)
        bead_embeddings = setup["emb"] + pooled.sum()  # a gradient path through the embedding
        out = setup[name](bead_embeddings, velocities, setup["masses"], *graph)
        score = setup[score_name](out.latent, setup["masses"], *graph, noise_level=0.1)
        loss = (out.mu.square().sum() + out.sigma.log().sum() + score.square().sum())
        for net in (embedding, setup[name], setup[score_name]):
            net.zero_grad()
        loss.backward()
        for net in (embedding, setup[name], setup[score_name]):
            missing = [n for n, p in net.named_parameters()
                       if p.grad is None or not torch.isfinite(p.grad).all()
                       or float(p.grad.abs().sum()) == 0.0]
            assert missing == [], f"{type(net).__name__}: no gradient for {missing}"


@pytest.mark.parametrize("invariant", [False, True])
def test_interaction_layer_computes_the_written_update(invariant):
    """e' = e + MLP_e([e, h_i, h_j(, d2)]), h' = h + MLP_h([h, sum over edges into i of e'])."""
    torch.manual_seed(0)
    layer = (InvariantInteractionLayer if invariant else InteractionLayer)(8, 16).double()
    nodes = torch.randn(5, 8, dtype=torch.float64)
    edge_index = torch.tensor([[0, 1, 1, 2, 4, 3], [1, 0, 2, 1, 1, 1]])  # node 1 gets 4
    edges = torch.randn(6, 8, dtype=torch.float64)
    squared = torch.rand(6, 1, dtype=torch.float64)
    source, target = edge_index
    parts = [edges, nodes[target], nodes[source]] + ([squared] if invariant else [])
    expected_edges = edges + layer.edge_mlp(torch.cat(parts, dim=-1))
    summed = torch.zeros(5, 8, dtype=torch.float64).index_add_(0, target, expected_edges)
    expected_nodes = nodes + layer.node_mlp(torch.cat([nodes, summed], dim=-1))
    args = (nodes, edge_index, edges) + ((squared,) if invariant else ())
    got_nodes, got_edges = layer(*args)
    torch.testing.assert_close(got_edges, expected_edges)
    torch.testing.assert_close(got_nodes, expected_nodes)
    assert not torch.allclose(got_nodes, nodes)


def test_reset_parameters_reinitialises_deterministically():
    for build in (lambda: EmbeddingGNN(3, 8, 2, 8), lambda: DynamicsGNN(8, 4, 16, 2),
                  lambda: EquivariantDynamicsGNN(8, 4, 16, 2), lambda: ScoreGNN(16, 16, 2),
                  lambda: EquivariantScoreGNN(16, 16, 2)):
        net = build()
        with torch.no_grad():
            for parameter in net.parameters():
                parameter.fill_(0.123)
        torch.manual_seed(5)
        net.reset_parameters()
        reset = [p.detach().clone() for p in net.parameters()]
        assert sum(float((p == 0.123).float().mean()) for p in reset) < 0.5 * len(reset)
        torch.manual_seed(5)
        net.reset_parameters()
        assert all(torch.equal(a, b) for a, b in zip(reset, net.parameters()))


def test_parameter_counts_for_cpu_demo_and_paper_sizes():
    cpu_demo = [EmbeddingGNN(8, latent_size=32, n_steps=3, out_size=32),
                DynamicsGNN(32, history_length=10, latent_size=48, n_layers=3),
                ScoreGNN(48, latent_size=48, n_layers=3)]
    total = sum(count_parameters(net) for net in cpu_demo)
    assert 0.15e6 < total < 0.3e6, total
    equivariant = EquivariantDynamicsGNN(32, history_length=10, latent_size=48, n_layers=3)
    assert 0.8 < count_parameters(equivariant) / count_parameters(cpu_demo[1]) < 1.3
    paper = [EmbeddingGNN(8, latent_size=64, n_steps=7, out_size=64),
             DynamicsGNN(64, history_length=30, latent_size=128, n_layers=7)]
    paper_total = sum(count_parameters(net) for net in paper)
    assert 1.0e6 < paper_total < 2.5e6, paper_total  # the paper reports about 1.6M
    assert math.isfinite(paper_total)


def test_simulator_package_import_is_light():
    code = ("import sys, cgviz.simulator; "
            "print(','.join(m for m in ('torch', 'torch_geometric') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
