"""The three graph networks of the multi-scale GNN simulator (docs/science.md 1.2).

* :class:`EmbeddingGNN` runs on the fine (atom) bond graph, without coordinates, and gives
  each bead a learned embedding (the mean over its atoms). It does not depend on time:
  run it once per molecule per forward pass, never per frame.
* :class:`DynamicsGNN` runs on the bead graph (radius graph + CG bonds, see
  :mod:`cgviz.graph`) and predicts the mean ``mu`` and the standard deviation ``sigma`` of
  each bead's acceleration. :class:`EquivariantDynamicsGNN` is an SE(3)-equivariant
  drop-in alternative (EGNN-style readout on relative vectors).
* :class:`ScoreGNN` estimates the score ``grad log p(x~)`` of a noisy next configuration,
  for denoising-score-matching training and annealed-Langevin refinement;
  :class:`EquivariantScoreGNN` is its equivariant counterpart (pair it with
  :class:`EquivariantDynamicsGNN` so that refined rollouts stay equivariant).

Message passing is done by :class:`InteractionLayer` (and :class:`InvariantInteractionLayer`
in the equivariant variant), ``torch_geometric.nn.MessagePassing`` subclasses; the
networks are plain ``nn.Module`` s made of them.

Units and normalisation. The networks work in **normalised units**: the caller (the
simulator model) divides velocities and accelerations by one isotropic length-per-step
scale and masses by a mass scale, and multiplies ``mu`` and ``sigma`` back. A scale must be
the same for x, y and z, or the equivariant variant stops being equivariant. Edge features
are already dimensionless (``r_ij / r_c``, :func:`cgviz.graph.edge_features`). The score
network is the exception: noisy positions and the noise level ``s`` are in nm and the score
is in 1/nm.

Conventions: ``edge_index`` row 0 = source j, row 1 = target i; messages are summed at the
target; ``r_ij = x_i - x_j``; ``edge_type`` 0 = spatial, 1 = CG bond (:mod:`cgviz.graph`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from cgviz.errors import CgvizError
from cgviz.graph import N_EDGE_FEATURES, N_EDGE_TYPES

__all__ = [
    "MLP",
    "InteractionLayer",
    "InvariantInteractionLayer",
    "EmbeddingGNN",
    "DynamicsGNN",
    "EquivariantDynamicsGNN",
    "ScoreGNN",
    "EquivariantScoreGNN",
    "DynamicsOutput",
    "count_parameters",
]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _check_positive(**sizes: int) -> None:
    for name, value in sizes.items():
        if int(value) != value or value < 1:
            raise CgvizError(f"{name} must be a positive integer, got {value!r}.")


class MLP(nn.Sequential):
    """Linear -> SiLU -> ... -> Linear, optionally followed by LayerNorm.

    Shapes: (..., in_size) -> (..., out_size).
    """

    def __init__(self, in_size: int, hidden_size: int, out_size: int,
                 n_hidden_layers: int = 2, layer_norm: bool = False) -> None:
        _check_positive(in_size=in_size, hidden_size=hidden_size, out_size=out_size,
                        n_hidden_layers=n_hidden_layers)
        layers: list[nn.Module] = []
        width = in_size
        for _ in range(n_hidden_layers):
            layers += [nn.Linear(width, hidden_size), nn.SiLU()]
            width = hidden_size
        layers.append(nn.Linear(width, out_size))
        if layer_norm:
            layers.append(nn.LayerNorm(out_size))
        super().__init__(*layers)

    def reset_parameters(self) -> None:
        for layer in self:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()


def _run_tail(mlp: MLP, hidden: Tensor) -> Tensor:
    """Apply every layer of ``mlp`` after its first Linear."""
    for layer in list(mlp)[1:]:
        hidden = layer(hidden)
    return hidden


class InteractionLayer(MessagePassing):
    r"""One residual interaction step on a graph with node and edge states.

    .. math::
        e_{ij} \leftarrow e_{ij} + \mathrm{LN}(\mathrm{MLP}_e([e_{ij}, h_i, h_j])), \qquad
        h_i \leftarrow h_i + \mathrm{LN}(\mathrm{MLP}_h([h_i, \textstyle\sum_j e_{ij}]))

    with the updated edge states summed over the edges arriving at i (the LayerNorm ends
    each update MLP, as in learning-to-simulate).

    Shapes:
        - node_states: (n_nodes, latent_size)
        - edge_index: (2, n_edges), row 0 source j, row 1 target i
        - edge_states: (n_edges, latent_size)
        - output: (node_states (n_nodes, latent_size), edge_states (n_edges, latent_size))
    """

    def __init__(self, latent_size: int, hidden_size: int, n_hidden_layers: int = 2) -> None:
        super().__init__(aggr="add", flow="source_to_target")
        self.latent_size = int(latent_size)
        self.edge_mlp = MLP(3 * latent_size, hidden_size, latent_size, n_hidden_layers, True)
        self.node_mlp = MLP(2 * latent_size, hidden_size, latent_size, n_hidden_layers, True)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.edge_mlp.reset_parameters()
        self.node_mlp.reset_parameters()

    def forward(self, node_states: Tensor, edge_index: Tensor, edge_states: Tensor
                ) -> tuple[Tensor, Tensor]:
        # The first Linear of MLP_e acts on [e_ij, h_i, h_j]; its h_i and h_j blocks are
        # applied once per node and gathered, instead of per edge on a concatenation
        # (the same function and parameters, about 40 % fewer edge FLOPs). The weight
        # blocks are made contiguous: BLAS is about twice slower on strided slices.
        weight = self.edge_mlp[0].weight
        size = self.latent_size
        target_term = F.linear(node_states, weight[:, size : 2 * size].contiguous())
        source_term = F.linear(node_states, weight[:, 2 * size : 3 * size].contiguous())
        updated_edges = self.edge_updater(edge_index, target_term=target_term,
                                          source_term=source_term, e=edge_states)
        aggregated = self.propagate(edge_index, e=updated_edges,
                                    size=(node_states.shape[0], node_states.shape[0]))
        updated_nodes = node_states + self.node_mlp(torch.cat([node_states, aggregated], -1))
        return updated_nodes, updated_edges

    def edge_update(self, target_term_i: Tensor, source_term_j: Tensor, e: Tensor) -> Tensor:
        first = self.edge_mlp[0]
        hidden = F.linear(e, first.weight[:, : self.latent_size].contiguous(), first.bias)
        return e + _run_tail(self.edge_mlp, hidden + target_term_i + source_term_j)

    def message(self, e: Tensor) -> Tensor:
        return e


# ---------------------------------------------------------------------------------------
# Embedding GNN (fine graph)
# ---------------------------------------------------------------------------------------


class EmbeddingGNN(nn.Module):
    """Learned bead embeddings from the fine bond graph, without coordinates.

    Encode-process-decode: node input = atom-type embedding + normalised mass; edge input =
    the sum of its two atoms' type embeddings + a bond-type embedding; ``n_steps``
    :class:`InteractionLayer` steps; a decoder MLP per atom. A bead's embedding is the mean
    of its atoms' outputs (:meth:`embed_beads`).

    Args:
        n_atom_types: size of the atom-type vocabulary (``AtomProperties.type_indices``).
        latent_size: width of node and edge states.
        n_steps: message-passing steps (docs/science.md: 7 at paper scale, 3 for CPU demos).
        out_size: size of the per-atom output (the bead embedding).
        n_bond_types: size of the bond-type vocabulary (1: all bonds alike).
        mlp_hidden_layers: hidden layers of every MLP.

    Shapes (forward):
        - atom_types: (n_atoms,) int64 in [0, n_atom_types)
        - atom_masses: (n_atoms,) float, normalised (amu / mass scale)
        - bond_index: (2, n_bond_edges) int64, both directions of every bond
        - bond_types: (n_bond_edges,) int64 in [0, n_bond_types), or None (all type 0)
        - output: (n_atoms, out_size)
    """

    def __init__(self, n_atom_types: int, latent_size: int = 32, n_steps: int = 3,
                 out_size: int = 32, n_bond_types: int = 1, mlp_hidden_layers: int = 2) -> None:
        super().__init__()
        _check_positive(n_atom_types=n_atom_types, latent_size=latent_size, n_steps=n_steps,
                        out_size=out_size, n_bond_types=n_bond_types)
        self.n_atom_types = int(n_atom_types)
        self.n_bond_types = int(n_bond_types)
        self.out_size = int(out_size)
        self.type_embedding = nn.Embedding(n_atom_types, latent_size)
        self.bond_type_embedding = nn.Embedding(n_bond_types, latent_size)
        self.node_encoder = MLP(latent_size + 1, latent_size, latent_size, mlp_hidden_layers,
                                True)
        self.edge_encoder = MLP(latent_size, latent_size, latent_size, mlp_hidden_layers, True)
        self.layers = nn.ModuleList(
            InteractionLayer(latent_size, latent_size, mlp_hidden_layers) for _ in range(n_steps)
        )
        self.decoder = MLP(latent_size, latent_size, out_size, mlp_hidden_layers)

    def reset_parameters(self) -> None:
        for module in (self.type_embedding, self.bond_type_embedding, self.node_encoder,
                       self.edge_encoder, self.decoder, *self.layers):
            module.reset_parameters()

    def forward(self, atom_types: Tensor, atom_masses: Tensor, bond_index: Tensor,
                bond_types: Tensor | None = None) -> Tensor:
        if atom_types.numel() and (int(atom_types.min()) < 0
                                   or int(atom_types.max()) >= self.n_atom_types):
            raise CgvizError(
                f"Atom type indices must lie in [0, {self.n_atom_types}), got "
                f"{int(atom_types.min())}..{int(atom_types.max())}.",
                hint="Use the type vocabulary the model was built with.")
        type_vectors = self.type_embedding(atom_types)
        nodes = self.node_encoder(
            torch.cat([type_vectors, atom_masses.to(type_vectors.dtype)[:, None]], dim=-1))
        if bond_types is None:
            bond_types = torch.zeros(bond_index.shape[1], dtype=torch.long,
                                     device=bond_index.device)
        source, target = bond_index[0], bond_index[1]
        edges = self.edge_encoder(type_vectors[source] + type_vectors[target]
                                  + self.bond_type_embedding(bond_types))
        for layer in self.layers:
            nodes, edges = layer(nodes, bond_index, edges)
        return self.decoder(nodes)

    def embed_beads(self, atom_types: Tensor, atom_masses: Tensor, bond_index: Tensor,
                    assignment: Tensor, n_beads: int, bond_types: Tensor | None = None
                    ) -> Tensor:
        """Bead embeddings: the mean of :meth:`forward` over each bead's atoms.

        Shapes: assignment (n_atoms,) int64 bead index per atom (``CGMapping.assignment``,
        offset per system in a batch); output (n_beads, out_size).
        """
        atom_vectors = self.forward(atom_types, atom_masses, bond_index, bond_types)
        return scatter(atom_vectors, assignment, dim=0, dim_size=int(n_beads), reduce="mean")


# ---------------------------------------------------------------------------------------
# Dynamics GNN (bead graph)
# ---------------------------------------------------------------------------------------


class DynamicsOutput(NamedTuple):
    """Per-bead acceleration distribution and the latent bead states.

    Shapes: ``mu`` (n_beads, 3), ``sigma`` (n_beads, 3) > sigma_min (normalised
    acceleration units), ``latent`` (n_beads, latent_size) (input of :class:`ScoreGNN`).
    """

    mu: Tensor
    sigma: Tensor
    latent: Tensor


def _check_history(velocities: Tensor, n_velocities: int) -> None:
    if velocities.ndim != 3 or velocities.shape[1:] != (n_velocities, 3):
        raise CgvizError(
            f"velocities must have shape (n_beads, {n_velocities}, 3) (history_length - 1 "
            f"finite differences), got {tuple(velocities.shape)}.",
            hint="Use the history length the model was built with.")


class DynamicsGNN(nn.Module):
    """Acceleration mean and std per bead from the recent history (docs/science.md 1.2, item 2).

    Node input: bead embedding, the ``history_length - 1`` finite-difference velocities
    ``v_s = x_s - x_{s-1}`` (flattened), bead mass; no absolute positions, so the output is
    invariant to translations. Edge input: ``[r_ij / r_c (3), |r_ij| / r_c (1)]`` and a
    learned edge-type embedding (spatial or bond). ``n_layers`` :class:`InteractionLayer` s.
    Decoder per bead: ``mu`` (3) and ``sigma = sigma_min + softplus(.)`` (3).

    This network sees Cartesian components directly and is **not** rotation-equivariant;
    see :class:`EquivariantDynamicsGNN`.

    Args:
        bead_embedding_size: size of the bead embeddings (``EmbeddingGNN.out_size``).
        history_length: k, the number of past positions (k - 1 velocities).
        latent_size: width of node and edge states.
        n_layers: interaction layers.
        sigma_min: lower bound of sigma (normalised units; docs/science.md: 0.1).
        edge_type_embedding_size: size of the edge-type embedding.
        mlp_hidden_layers: hidden layers of every MLP.

    Shapes (forward):
        - bead_embeddings: (n_beads, bead_embedding_size)
        - velocities: (n_beads, history_length - 1, 3), normalised, oldest first
        - bead_masses: (n_beads,), normalised
        - edge_index: (2, n_edges); edge_attr: (n_edges, 4); edge_type: (n_edges,) int64
        - output: :class:`DynamicsOutput` (mu (n_beads, 3), sigma (n_beads, 3),
          latent (n_beads, latent_size))
    """

    def __init__(self, bead_embedding_size: int, history_length: int = 10,
                 latent_size: int = 64, n_layers: int = 3, sigma_min: float = 0.1,
                 edge_type_embedding_size: int = 8, mlp_hidden_layers: int = 2) -> None:
        super().__init__()
        _check_positive(bead_embedding_size=bead_embedding_size, latent_size=latent_size,
                        n_layers=n_layers, edge_type_embedding_size=edge_type_embedding_size)
        if int(history_length) != history_length or history_length < 2:
            raise CgvizError(f"history_length must be an integer >= 2, got {history_length!r}.",
                             hint="Velocities need at least two past positions.")
        if not sigma_min > 0:
            raise CgvizError(f"sigma_min must be > 0, got {sigma_min!r}.")
        self.bead_embedding_size = int(bead_embedding_size)
        self.history_length = int(history_length)
        self.latent_size = int(latent_size)
        self.register_buffer("sigma_min", torch.tensor(float(sigma_min)))
        n_node_inputs = bead_embedding_size + 3 * (history_length - 1) + 1
        self.node_encoder = MLP(n_node_inputs, latent_size, latent_size, mlp_hidden_layers,
                                True)
        self.edge_type_embedding = nn.Embedding(N_EDGE_TYPES, edge_type_embedding_size)
        self.edge_encoder = MLP(N_EDGE_FEATURES + edge_type_embedding_size, latent_size,
                                latent_size, mlp_hidden_layers, True)
        self.layers = nn.ModuleList(
            InteractionLayer(latent_size, latent_size, mlp_hidden_layers)
            for _ in range(n_layers)
        )
        self.decoder = MLP(latent_size, latent_size, 6, mlp_hidden_layers)

    def reset_parameters(self) -> None:
        for module in (self.node_encoder, self.edge_type_embedding, self.edge_encoder,
                       self.decoder, *self.layers):
            module.reset_parameters()

    def forward(self, bead_embeddings: Tensor, velocities: Tensor, bead_masses: Tensor,
                edge_index: Tensor, edge_attr: Tensor, edge_type: Tensor) -> DynamicsOutput:
        _check_history(velocities, self.history_length - 1)
        nodes = self.node_encoder(torch.cat(
            [bead_embeddings, velocities.flatten(1), bead_masses[:, None]], dim=-1))
        edges = self.edge_encoder(
            torch.cat([edge_attr, self.edge_type_embedding(edge_type)], dim=-1))
        for layer in self.layers:
            nodes, edges = layer(nodes, edge_index, edges)
        decoded = self.decoder(nodes)
        mu = decoded[:, :3]
        sigma = self.sigma_min + F.softplus(decoded[:, 3:])
        return DynamicsOutput(mu, sigma, nodes)


# ---------------------------------------------------------------------------------------
# Equivariant dynamics GNN
# ---------------------------------------------------------------------------------------


class InvariantInteractionLayer(MessagePassing):
    r"""Interaction step on rotation-invariant states (the equivariant network's core).

    Like :class:`InteractionLayer`, with the squared edge length fed to every edge update:

    .. math::
        e_{ij} \leftarrow e_{ij} + \mathrm{LN}(\mathrm{MLP}_e([e_{ij}, h_i, h_j,
        |r_{ij}|^2 / r_c^2])), \qquad
        h_i \leftarrow h_i + \mathrm{LN}(\mathrm{MLP}_h([h_i, \textstyle\sum_j e_{ij}]))

    Shapes:
        - node_states: (n_nodes, latent_size); edge_states: (n_edges, latent_size)
        - edge_index: (2, n_edges); squared_distance: (n_edges, 1), in units of r_c^2
        - output: (node_states, edge_states), shapes unchanged
    """

    def __init__(self, latent_size: int, hidden_size: int, n_hidden_layers: int = 2) -> None:
        super().__init__(aggr="add", flow="source_to_target")
        self.latent_size = int(latent_size)
        self.edge_mlp = MLP(3 * latent_size + 1, hidden_size, latent_size, n_hidden_layers,
                            True)
        self.node_mlp = MLP(2 * latent_size, hidden_size, latent_size, n_hidden_layers, True)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.edge_mlp.reset_parameters()
        self.node_mlp.reset_parameters()

    def forward(self, node_states: Tensor, edge_index: Tensor, edge_states: Tensor,
                squared_distance: Tensor) -> tuple[Tensor, Tensor]:
        # node blocks of the first Linear applied per node, as in InteractionLayer
        weight = self.edge_mlp[0].weight
        size = self.latent_size
        target_term = F.linear(node_states, weight[:, size : 2 * size].contiguous())
        source_term = F.linear(node_states, weight[:, 2 * size : 3 * size].contiguous())
        updated_edges = self.edge_updater(edge_index, target_term=target_term,
                                          source_term=source_term, e=edge_states,
                                          d2=squared_distance)
        aggregated = self.propagate(edge_index, e=updated_edges,
                                    size=(node_states.shape[0], node_states.shape[0]))
        updated_nodes = node_states + self.node_mlp(torch.cat([node_states, aggregated], -1))
        return updated_nodes, updated_edges

    def edge_update(self, target_term_i: Tensor, source_term_j: Tensor, e: Tensor,
                    d2: Tensor) -> Tensor:
        first = self.edge_mlp[0]
        size = self.latent_size
        hidden = F.linear(e, first.weight[:, :size].contiguous(), first.bias)
        hidden = hidden + target_term_i + source_term_j + d2 * first.weight[:, 3 * size]
        return e + _run_tail(self.edge_mlp, hidden)

    def message(self, e: Tensor) -> Tensor:
        return e


class EquivariantDynamicsGNN(nn.Module):
    r"""SE(3)-equivariant alternative to :class:`DynamicsGNN` (same inputs and outputs).

    Rotating every input velocity and edge displacement by R rotates ``mu`` by R and leaves
    ``sigma`` and ``latent`` unchanged; translations change nothing. How (EGNN-style,
    Satorras et al. 2021, without coordinate updates):

    * Invariant node input: bead embedding, mass, the lengths ``|v_s|`` of the k-1
      velocities and their dot products with the latest velocity ``v_s . v_{k-1}``.
    * Invariant edge input: ``|r_ij| / r_c``, the edge-type embedding and the projections
      of the unit vector ``r_ij / |r_ij|`` on the latest velocities of both ends.
    * :class:`InvariantInteractionLayer` s update the invariant states.
    * Equivariant readout: ``mu_i = sum_j (r_ij / r_c) phi_r(e_ij) + sum_s v_{i,s}
      phi_v(h_i)_s`` (invariant weights times vectors), and an **isotropic**
      ``sigma_i = sigma_min + softplus(phi_s(h_i))`` repeated for x, y, z: a per-axis
      sigma cannot be equivariant, because the axes are not.

    Forward arguments and shapes are those of :class:`DynamicsGNN`; ``edge_attr`` must be
    :func:`cgviz.graph.edge_features` (its first three columns are ``r_ij / r_c``).
    """

    def __init__(self, bead_embedding_size: int, history_length: int = 10,
                 latent_size: int = 64, n_layers: int = 3, sigma_min: float = 0.1,
                 edge_type_embedding_size: int = 8, mlp_hidden_layers: int = 2) -> None:
        super().__init__()
        _check_positive(bead_embedding_size=bead_embedding_size, latent_size=latent_size,
                        n_layers=n_layers, edge_type_embedding_size=edge_type_embedding_size)
        if int(history_length) != history_length or history_length < 2:
            raise CgvizError(f"history_length must be an integer >= 2, got {history_length!r}.",
                             hint="Velocities need at least two past positions.")
        if not sigma_min > 0:
            raise CgvizError(f"sigma_min must be > 0, got {sigma_min!r}.")
        self.bead_embedding_size = int(bead_embedding_size)
        self.history_length = int(history_length)
        self.latent_size = int(latent_size)
        n_velocities = self.history_length - 1
        self.register_buffer("sigma_min", torch.tensor(float(sigma_min)))
        n_node_inputs = bead_embedding_size + 1 + 2 * n_velocities
        self.node_encoder = MLP(n_node_inputs, latent_size, latent_size, mlp_hidden_layers,
                                True)
        self.edge_type_embedding = nn.Embedding(N_EDGE_TYPES, edge_type_embedding_size)
        self.edge_encoder = MLP(3 + edge_type_embedding_size, latent_size, latent_size,
                                mlp_hidden_layers, True)
        self.layers = nn.ModuleList(
            InvariantInteractionLayer(latent_size, latent_size, mlp_hidden_layers)
            for _ in range(n_layers)
        )
        self.edge_vector_weight = MLP(latent_size, latent_size, 1, mlp_hidden_layers)
        self.velocity_weight = MLP(latent_size, latent_size, n_velocities, mlp_hidden_layers)
        self.sigma_decoder = MLP(latent_size, latent_size, 1, mlp_hidden_layers)

    def reset_parameters(self) -> None:
        for module in (self.node_encoder, self.edge_type_embedding, self.edge_encoder,
                       self.edge_vector_weight, self.velocity_weight, self.sigma_decoder,
                       *self.layers):
            module.reset_parameters()

    def forward(self, bead_embeddings: Tensor, velocities: Tensor, bead_masses: Tensor,
                edge_index: Tensor, edge_attr: Tensor, edge_type: Tensor) -> DynamicsOutput:
        _check_history(velocities, self.history_length - 1)
        latest = velocities[:, -1, :]
        speeds = velocities.norm(dim=-1)
        alignments = (velocities * latest[:, None, :]).sum(-1)
        nodes = self.node_encoder(torch.cat(
            [bead_embeddings, bead_masses[:, None], speeds, alignments], dim=-1))
        relative = edge_attr[:, :3]  # r_ij / r_c
        distance = edge_attr[:, 3:4]
        direction = relative / distance.clamp_min(1e-6)
        source, target = edge_index[0], edge_index[1]
        along_target = (direction * latest[target]).sum(-1, keepdim=True)
        along_source = (direction * latest[source]).sum(-1, keepdim=True)
        edges = self.edge_encoder(torch.cat(
            [distance, along_target, along_source, self.edge_type_embedding(edge_type)], -1))
        squared = distance * distance
        for layer in self.layers:
            nodes, edges = layer(nodes, edge_index, edges, squared)
        edge_vectors = relative * self.edge_vector_weight(edges)
        mu = scatter(edge_vectors, target, dim=0, dim_size=nodes.shape[0], reduce="sum")
        mu = mu + (velocities * self.velocity_weight(nodes)[:, :, None]).sum(1)
        sigma = (self.sigma_min + F.softplus(self.sigma_decoder(nodes))).expand(-1, 3)
        return DynamicsOutput(mu, sigma, nodes)


# ---------------------------------------------------------------------------------------
# Score GNN
# ---------------------------------------------------------------------------------------


def _noise_column(noise_level: Tensor | float, n_beads: int, like: Tensor) -> Tensor:
    noise = torch.as_tensor(noise_level, dtype=like.dtype, device=like.device)
    noise = noise.reshape(-1, 1) if noise.ndim else noise.reshape(1, 1)
    if noise.shape[0] not in (1, n_beads):
        raise CgvizError(f"noise_level must be a scalar or one value per bead "
                         f"({n_beads}), got shape {tuple(noise.shape)}.",
                         hint="Broadcast the per-system level to its beads: s[batch].")
    if bool((noise <= 0).any()):
        raise CgvizError("noise_level must be > 0.", hint="Use the geometric ladder.")
    return noise


class ScoreGNN(nn.Module):
    """Score of the noisy next configuration, ``score(x~) ~ grad log p(x~)`` (1.2, item 3).

    Runs on the bead graph rebuilt on the noisy positions ``x~ = x_{t+1} + s * eps``. Node
    input: the dynamics network's latent bead states and the bead mass; edge input as in
    :class:`DynamicsGNN`. The network output ``out`` (n_beads, 3) is returned as
    ``score = out / s``, so the denoising score-matching loss
    ``0.5 * |s * score + eps|^2`` is ``0.5 * |out + eps|^2``, well scaled at every noise
    level.

    Args:
        dynamics_latent_size: size of the dynamics network's latent states.
        latent_size, n_layers, edge_type_embedding_size, mlp_hidden_layers: as in
            :class:`DynamicsGNN`.

    Shapes (forward):
        - dynamics_latent: (n_beads, dynamics_latent_size)
        - bead_masses: (n_beads,), normalised
        - edge_index: (2, n_edges); edge_attr: (n_edges, 4) from the noisy positions;
          edge_type: (n_edges,)
        - noise_level: (n_beads,) or (n_beads, 1) or a scalar, nm (per system, broadcast
          to its beads)
        - output: score (n_beads, 3), 1/nm
    """

    def __init__(self, dynamics_latent_size: int, latent_size: int = 64, n_layers: int = 3,
                 edge_type_embedding_size: int = 8, mlp_hidden_layers: int = 2) -> None:
        super().__init__()
        _check_positive(dynamics_latent_size=dynamics_latent_size, latent_size=latent_size,
                        n_layers=n_layers, edge_type_embedding_size=edge_type_embedding_size)
        self.dynamics_latent_size = int(dynamics_latent_size)
        self.latent_size = int(latent_size)
        self.node_encoder = MLP(dynamics_latent_size + 1, latent_size, latent_size,
                                mlp_hidden_layers, True)
        self.edge_type_embedding = nn.Embedding(N_EDGE_TYPES, edge_type_embedding_size)
        self.edge_encoder = MLP(N_EDGE_FEATURES + edge_type_embedding_size, latent_size,
                                latent_size, mlp_hidden_layers, True)
        self.layers = nn.ModuleList(
            InteractionLayer(latent_size, latent_size, mlp_hidden_layers)
            for _ in range(n_layers)
        )
        self.decoder = MLP(latent_size, latent_size, 3, mlp_hidden_layers)

    def reset_parameters(self) -> None:
        for module in (self.node_encoder, self.edge_type_embedding, self.edge_encoder,
                       self.decoder, *self.layers):
            module.reset_parameters()

    def forward(self, dynamics_latent: Tensor, bead_masses: Tensor, edge_index: Tensor,
                edge_attr: Tensor, edge_type: Tensor, noise_level: Tensor) -> Tensor:
        noise = _noise_column(noise_level, dynamics_latent.shape[0], dynamics_latent)
        nodes = self.node_encoder(torch.cat([dynamics_latent, bead_masses[:, None]], -1))
        edges = self.edge_encoder(
            torch.cat([edge_attr, self.edge_type_embedding(edge_type)], dim=-1))
        for layer in self.layers:
            nodes, edges = layer(nodes, edge_index, edges)
        return self.decoder(nodes) / noise


class EquivariantScoreGNN(nn.Module):
    """SE(3)-equivariant alternative to :class:`ScoreGNN` (same inputs and output).

    Invariant node input (latent states of :class:`EquivariantDynamicsGNN` + mass) and
    invariant edge input (``|r_ij| / r_c`` + edge-type embedding) pass through
    :class:`InvariantInteractionLayer` s; the output is the equivariant sum
    ``out_i = sum_j (r_ij / r_c) phi([e_ij, h_i, h_j])``, returned as ``score = out / s``.
    Rotating the noisy configuration rotates the score; translating it changes nothing.

    Shapes as in :class:`ScoreGNN`.
    """

    def __init__(self, dynamics_latent_size: int, latent_size: int = 64, n_layers: int = 3,
                 edge_type_embedding_size: int = 8, mlp_hidden_layers: int = 2) -> None:
        super().__init__()
        _check_positive(dynamics_latent_size=dynamics_latent_size, latent_size=latent_size,
                        n_layers=n_layers, edge_type_embedding_size=edge_type_embedding_size)
        self.dynamics_latent_size = int(dynamics_latent_size)
        self.latent_size = int(latent_size)
        self.node_encoder = MLP(dynamics_latent_size + 1, latent_size, latent_size,
                                mlp_hidden_layers, True)
        self.edge_type_embedding = nn.Embedding(N_EDGE_TYPES, edge_type_embedding_size)
        self.edge_encoder = MLP(1 + edge_type_embedding_size, latent_size, latent_size,
                                mlp_hidden_layers, True)
        self.layers = nn.ModuleList(
            InvariantInteractionLayer(latent_size, latent_size, mlp_hidden_layers)
            for _ in range(n_layers)
        )
        self.edge_vector_weight = MLP(3 * latent_size, latent_size, 1, mlp_hidden_layers)

    def reset_parameters(self) -> None:
        for module in (self.node_encoder, self.edge_type_embedding, self.edge_encoder,
                       self.edge_vector_weight, *self.layers):
            module.reset_parameters()

    def forward(self, dynamics_latent: Tensor, bead_masses: Tensor, edge_index: Tensor,
                edge_attr: Tensor, edge_type: Tensor, noise_level: Tensor) -> Tensor:
        n_beads = dynamics_latent.shape[0]
        noise = _noise_column(noise_level, n_beads, dynamics_latent)
        nodes = self.node_encoder(torch.cat([dynamics_latent, bead_masses[:, None]], -1))
        relative, distance = edge_attr[:, :3], edge_attr[:, 3:4]
        edges = self.edge_encoder(torch.cat([distance, self.edge_type_embedding(edge_type)], -1))
        squared = distance * distance
        for layer in self.layers:
            nodes, edges = layer(nodes, edge_index, edges, squared)
        source, target = edge_index[0], edge_index[1]
        weights = self.edge_vector_weight(torch.cat([edges, nodes[target], nodes[source]], -1))
        out = scatter(relative * weights, target, dim=0, dim_size=n_beads, reduce="sum")
        return out / noise
