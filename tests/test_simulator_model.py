"""CGSimulator: loss maths, invariances, checkpoints, the embedding run once per system, rollouts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cgviz import CgvizError
from cgviz.simulator import data, model as M
from cgviz.simulator.rollout import rollout

from test_simulator_data import VOCABULARY, bead_chain  # noqa: E402  (shared fixture builders)


def make_systems(seed=0, n_chains=3, n_frames=30):
    from cgviz import mapping

    traj, props = bead_chain(8, n_frames, seed=seed, n_chains=n_chains)
    cg = mapping.metis_mapping(traj.topology, atoms_per_bead=2, properties=props)
    return data.bead_systems_from_trajectory(traj, cg, VOCABULARY, name="m")


def make_model(systems, equivariant=False, history_length=4, seed=0):
    torch.manual_seed(seed)
    config = M.SimulatorConfig(type_vocabulary=tuple(VOCABULARY), history_length=history_length,
                               cutoff_nm=0.8, embedding_latent_size=16, embedding_size=16,
                               dynamics_latent_size=24, score_latent_size=16,
                               equivariant=equivariant)
    return M.CGSimulator(config, M.NormalisationStats.from_systems(systems, history_length))


def test_gaussian_nll_and_score_loss_on_hand_made_cases():
    a = torch.tensor([[1.0, 0.0, 0.0]])
    zero = torch.zeros(1, 3)
    assert float(M.gaussian_nll(a, zero, torch.ones(1, 3))) == pytest.approx(0.5 / 3)
    two = torch.full((1, 3), 2.0)
    assert float(M.gaussian_nll(a, zero, two)) == pytest.approx(math.log(2) + 1 / 24)
    eps = torch.tensor([[0.3, -0.2, 1.0], [0.0, 0.5, -0.5]])
    s = torch.tensor([0.1, 0.02])
    assert float(M.denoising_score_loss(-eps / s[:, None], eps, s)) == pytest.approx(0.0, abs=1e-12)
    expected = 0.5 * ((eps**2).sum(-1)).mean()
    assert float(M.denoising_score_loss(torch.zeros_like(eps), eps, s)) == pytest.approx(float(expected))


def test_noise_ladders_and_statistics():
    ladder = M.noise_ladder(10, 0.1, 0.01)
    assert ladder[0] == pytest.approx(0.1) and ladder[-1] == pytest.approx(0.01)
    assert np.allclose(ladder[1:] / ladder[:-1], ladder[1] / ladder[0])
    systems = make_systems()
    stats = M.NormalisationStats.from_systems(systems, 4)
    v = np.concatenate([np.diff(s.positions, axis=0).ravel() for s in systems])
    assert stats.velocity_scale == pytest.approx(np.sqrt(np.mean(v.astype(np.float64) ** 2)), rel=1e-6)


def test_loss_runs_backward_and_embedding_runs_once_per_distinct_system():
    systems = make_systems()
    model = make_model(systems)
    windows = data.HistoryWindows(systems, 4)
    batch = data.collate(windows, [0, 1, 2, len(windows) - 1])  # 3 windows of system 0 + 1
    calls = []
    original = model.embedding.forward

    def counting_forward(atom_types, *args, **kwargs):  # instrumentation, same computation
        calls.append(atom_types.shape[0])
        return original(atom_types, *args, **kwargs)

    model.embedding.forward = counting_forward
    terms = model.loss(batch, torch.Generator().manual_seed(0))
    terms.total.backward()
    assert calls == [systems[0].n_atoms + systems[-1].n_atoms], "one pass, distinct systems only"
    assert all(torch.isfinite(t) for t in terms)
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("equivariant", [False, True])
def test_step_is_translation_invariant(equivariant):
    systems = make_systems()
    model = make_model(systems, equivariant)
    batch = data.collate_systems(systems, [s.positions[:4] for s in systems])
    emb = model.bead_embeddings(batch)
    shift = torch.tensor([3.0, -1.0, 2.0])
    a = model.step(emb, batch.positions, batch, stochastic=False).positions
    b = model.step(emb, batch.positions + shift, batch, stochastic=False).positions
    torch.testing.assert_close(b, a + shift, atol=1e-4, rtol=0)


def _rotation(seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return torch.tensor(q * np.sign(np.linalg.det(q)), dtype=torch.float32)


def test_equivariant_variant_rotates_with_the_input_and_the_plain_one_does_not():
    systems = make_systems()
    rotation = _rotation()
    errors = {}
    for equivariant in (True, False):
        model = make_model(systems, equivariant)
        batch = data.collate_systems(systems, [s.positions[:4] for s in systems])
        emb = model.bead_embeddings(batch)
        a = model.predict(emb, batch.positions, batch).mu
        b = model.predict(emb, batch.positions @ rotation.T, batch).mu
        errors[equivariant] = float(((b - a @ rotation.T).abs().max() / a.abs().max()).detach())
    assert errors[True] < 1e-4
    assert errors[False] > 1e-2


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    systems = make_systems()
    model = make_model(systems, equivariant=True)
    M.save_checkpoint(model, tmp_path / "m.pt")
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    assert raw["config"]["equivariant"] is True
    loaded, _ = M.load_checkpoint(tmp_path / "m.pt")
    batch = data.collate_systems(systems, [s.positions[:4] for s in systems])
    emb_a, emb_b = model.bead_embeddings(batch), loaded.bead_embeddings(batch)
    torch.testing.assert_close(emb_a, emb_b)
    assert loaded.stats == model.stats
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CgvizError, match="cannot be loaded safely"):
        M.load_checkpoint(tmp_path / "bad.pt")


def test_rollout_is_seeded_batched_and_stops_cleanly(tmp_path):
    systems = make_systems(n_frames=12)
    model = make_model(systems)
    seen = []
    first = rollout(model, systems, 20, seed=3, progress=lambda d, n: seen.append(d),
                    blowup_factor=1e9)
    again = rollout(model, systems, 20, seed=3, blowup_factor=1e9)
    other = rollout(model, systems, 20, seed=4, blowup_factor=1e9)
    assert first.n_steps_completed == 20 and first.stop_reason is None and seen[-1] == 20
    assert all(np.array_equal(a, b) for a, b in zip(first.positions, again.positions))
    assert not np.allclose(first.positions[0], other.positions[0])
    assert [p.shape for p in first.positions] == [(24, s.n_beads, 3) for s in systems]
    np.testing.assert_array_equal(first.positions[1][:4], systems[1].positions[:4])
    # A tiny blow-up limit stops at the first step with a reason, keeping what was done.
    stopped = rollout(model, systems, 20, seed=3, blowup_factor=1e-6)
    assert stopped.n_steps_completed == 0 and "blow-up" in stopped.stop_reason
    # Converts to mdtraj and saves as XTC + PDB.
    first.save(0, tmp_path / "r.xtc", tmp_path / "r.pdb")
    import mdtraj as md
    back = md.load(str(tmp_path / "r.xtc"), top=str(tmp_path / "r.pdb"))
    assert back.n_frames == 24 and back.topology.n_bonds == len(systems[0].bead_bonds)
    with pytest.raises(CgvizError, match="history"):
        rollout(model, systems, 5, start_frames=[1, 1, 1])


def test_refined_rollout_runs_and_differs_from_plain():
    systems = make_systems(n_frames=12)
    model = make_model(systems)
    plain = rollout(model, systems, 3, seed=1, blowup_factor=1e9)
    refined = rollout(model, systems, 3, seed=1, refine_steps=2, blowup_factor=1e9)
    assert refined.n_steps_completed == 3
    assert not np.allclose(plain.positions[0][-1], refined.positions[0][-1])


@pytest.mark.parametrize("equivariant", [False, True])
def test_dynamics_mlp_depth_is_its_own_setting(equivariant):
    from cgviz.simulator.networks import MLP

    def hidden_layers(module):
        return {sum(isinstance(m, torch.nn.Linear) for m in mlp) - 1
                for mlp in module.modules() if isinstance(mlp, MLP)}

    base = dict(type_vocabulary=tuple(VOCABULARY), equivariant=equivariant,
                dynamics_latent_size=24)
    stats = M.NormalisationStats(1.0, 1.0, 10.0, 1.0, 0.5)
    slim = M.CGSimulator(M.SimulatorConfig(**base, dynamics_mlp_hidden_layers=1), stats)
    assert hidden_layers(slim.dynamics) == {1}
    assert hidden_layers(slim.score) == hidden_layers(slim.embedding) == {2}
    same = M.CGSimulator(M.SimulatorConfig(**base), stats)
    assert hidden_layers(same.dynamics) == {2}
    assert M.parameter_count(slim) < M.parameter_count(same)
    with pytest.raises(CgvizError):
        M.CGSimulator(M.SimulatorConfig(**base, dynamics_mlp_hidden_layers=0), stats)


def test_refinement_defaults_are_the_validated_ones():
    """Without arguments, a rollout refines over the lower REFINE_LEVEL_FRACTION of the
    trained noise levels with step factor REFINE_EPSILON (chosen on validation frames,
    docs/evaluation.md): the same as passing them."""
    from cgviz.simulator.model import REFINE_EPSILON, REFINE_LEVEL_FRACTION, default_refine_levels

    systems = make_systems(n_frames=12)
    model = make_model(systems)
    n_levels = len(model.score_noise)
    levels = default_refine_levels(n_levels)
    assert levels == max(1, round(REFINE_LEVEL_FRACTION * n_levels)) and 1 <= levels <= n_levels
    implicit = rollout(model, systems, 2, seed=4, refine_steps=2, blowup_factor=1e9)
    explicit = rollout(model, systems, 2, seed=4, refine_steps=2, blowup_factor=1e9,
                       refine_epsilon=REFINE_EPSILON, refine_levels=levels)
    np.testing.assert_array_equal(implicit.positions[0], explicit.positions[0])
    other = rollout(model, systems, 2, seed=4, refine_steps=2, blowup_factor=1e9,
                    refine_epsilon=REFINE_EPSILON, refine_levels=n_levels)
    assert not np.allclose(implicit.positions[0][-1], other.positions[0][-1])
