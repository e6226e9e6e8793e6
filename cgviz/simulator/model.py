"""CGSimulator: the three networks, normalisation statistics, the loss and one model step.

Pipeline (docs/science.md 1.2-1.4), spelled out in :meth:`CGSimulator.loss` and
:meth:`CGSimulator.step`:

    fine graph -> EmbeddingGNN -> bead embeddings (once per distinct system per call)
    history x_{t-k+1..t} -> velocities / velocity_scale -> DynamicsGNN on the bead graph of x_t
        -> mu, sigma of the acceleration in units of acceleration_scale
    next position: x_{t+1} = x_t + (x_t - x_{t-1}) + a            (semi-implicit Euler)
    refinement: annealed Langevin with ScoreGNN on the graph of the noisy configuration

Normalisation statistics are isotropic scalars (one length scale per quantity), stored as
buffers, so the equivariant variant stays rotation-equivariant and a checkpoint carries
everything needed to run the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from cgviz.errors import CgvizError


#: Refinement defaults, chosen on the validation frames of the bundled model's training
#: chains for collisions and size together (benchmarks/refinement_tuning.py,
#: docs/evaluation.md): the lower 60 % of the trained score noise levels, step factor
#: eta_i = REFINE_EPSILON * s_i^2, and REFINE_STEPS Langevin steps per level.
REFINE_EPSILON = 10.0
REFINE_LEVEL_FRACTION = 0.6
REFINE_STEPS = 7


def default_refine_levels(n_levels: int) -> int:
    """How many of the smallest of ``n_levels`` noise levels refinement uses by default."""
    return max(1, min(int(n_levels), round(REFINE_LEVEL_FRACTION * int(n_levels))))


@dataclass(frozen=True)
class SimulatorConfig:
    """Sizes and physics settings of a CGSimulator (all lengths in nm).

    Attributes
    ----------
    type_vocabulary: atom type names the embedding network knows, in index order.
    history_length: k, past positions seen by the dynamics network (k - 1 velocities).
    cutoff_nm: radius of the bead graph.
    embedding_latent_size, embedding_steps, embedding_size: embedding GNN.
    dynamics_latent_size, dynamics_layers: dynamics GNN.
    score_latent_size, score_layers: score GNN.
    sigma_min: lower bound of the predicted std (normalised units).
    equivariant: use the SE(3)-equivariant dynamics and score networks.
    history_noise_levels, history_noise_max, history_noise_min: geometric ladder of the
        Gaussian noise added to the history frames, as fractions of the mean CG bond length.
    score_noise_levels, score_noise_max, score_noise_min: the score network's noise ladder,
        as fractions of the mean CG bond length (largest about one bond, smallest 1e-3).
    mlp_hidden_layers: hidden layers of every MLP.
    dynamics_mlp_hidden_layers: hidden layers of the dynamics network's MLPs (None: as
        ``mlp_hidden_layers``). The dynamics network runs at every rollout step, so this is
        the speed knob: 1 instead of 2 makes rollouts about 1.5x faster; the score network
        keeps its depth, which refinement needs.
    """

    type_vocabulary: tuple[str, ...]
    history_length: int = 10
    cutoff_nm: float = 1.5
    embedding_latent_size: int = 32
    embedding_steps: int = 3
    embedding_size: int = 32
    dynamics_latent_size: int = 64
    dynamics_layers: int = 3
    score_latent_size: int = 48
    score_layers: int = 2
    sigma_min: float = 0.1
    equivariant: bool = False
    history_noise_levels: int = 10
    history_noise_max: float = 0.1
    history_noise_min: float = 0.01
    score_noise_levels: int = 10
    score_noise_max: float = 1.0
    score_noise_min: float = 1e-3
    mlp_hidden_layers: int = 2
    dynamics_mlp_hidden_layers: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type_vocabulary", tuple(str(t) for t in self.type_vocabulary))
        if not self.type_vocabulary:
            raise CgvizError("type_vocabulary must name at least one atom type.")
        if len(set(self.type_vocabulary)) != len(self.type_vocabulary):
            raise CgvizError("type_vocabulary has repeated names.")
        if int(self.history_length) != self.history_length or self.history_length < 2:
            raise CgvizError(f"history_length must be an integer >= 2, got {self.history_length}.")
        if not self.cutoff_nm > 0:
            raise CgvizError(f"cutoff_nm must be > 0, got {self.cutoff_nm}.")
        for name in ("history_noise", "score_noise"):
            levels = getattr(self, f"{name}_levels")
            low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if levels < 1 or not 0 <= low <= high:
                raise CgvizError(f"{name}: need levels >= 1 and 0 <= min <= max, got "
                                 f"{levels}, {low}, {high}.")
        if self.score_noise_min <= 0:
            raise CgvizError("score_noise_min must be > 0 (the score is out / s).")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["type_vocabulary"] = list(self.type_vocabulary)
        return data


def noise_ladder(levels: int, high: float, low: float) -> np.ndarray:
    """A geometric ladder of ``levels`` values from ``high`` down to ``low``."""
    if levels == 1 or low == high:
        return np.full(levels, high, dtype=np.float64)
    if low == 0:
        return np.concatenate([np.geomspace(high, high * 1e-2, levels - 1), [0.0]])
    return np.geomspace(high, low, levels)


@dataclass(frozen=True)
class NormalisationStats:
    """Scales measured on the training data (nm per model step)."""

    velocity_scale: float
    acceleration_scale: float
    mass_mean: float
    mass_scale: float
    mean_bond_length: float

    @classmethod
    def from_systems(cls, systems, history_length: int, max_frames: int = 20_000
                     ) -> NormalisationStats:
        """RMS velocity and acceleration per component, bead-mass moments, mean CG bond."""
        velocities, accelerations, masses, bonds = [], [], [], []
        for system in systems:
            x = system.positions[: max_frames].astype(np.float64)
            v = np.diff(x, axis=0)
            velocities.append(v.reshape(-1))
            accelerations.append(np.diff(v, axis=0).reshape(-1))
            masses.append(system.bead_masses)
            if len(system.bead_bonds):
                b = system.bead_bonds
                bonds.append(np.linalg.norm(x[:, b[:, 0]] - x[:, b[:, 1]], axis=-1).reshape(-1))
        v = np.concatenate(velocities)
        a = np.concatenate(accelerations)
        m = np.concatenate(masses).astype(np.float64)
        bond = float(np.mean(np.concatenate(bonds))) if bonds else float(np.sqrt(np.mean(v**2)))
        return cls(
            velocity_scale=float(np.sqrt(np.mean(v**2))) or 1.0,
            acceleration_scale=float(np.sqrt(np.mean(a**2))) or 1.0,
            mass_mean=float(m.mean()),
            mass_scale=float(m.std()) or float(m.mean()) or 1.0,
            mean_bond_length=bond,
        )


def gaussian_nll(target: Tensor, mu: Tensor, sigma: Tensor) -> Tensor:
    """Mean of ``log sigma + (target - mu)^2 / (2 sigma^2)`` (the constant 0.5 log 2 pi is
    left out), over every element."""
    return (torch.log(sigma) + (target - mu) ** 2 / (2 * sigma**2)).mean()


def denoising_score_loss(score: Tensor, noise: Tensor, noise_level: Tensor) -> Tensor:
    """``0.5 * |s * score + eps|^2`` summed over xyz, averaged over beads.

    Shapes: score, noise (n_beads, 3); noise_level (n_beads,) nm. Zero when the score is
    exactly ``-eps / s``, the score of the Gaussian noise kernel.
    """
    return 0.5 * ((score * noise_level[:, None] + noise) ** 2).sum(-1).mean()


class LossTerms(NamedTuple):
    """The training loss and its parts (scalars)."""

    total: Tensor
    nll: Tensor
    score: Tensor
    mse: Tensor  # mean squared error of mu in normalised units (a diagnostic)


class StepOutput(NamedTuple):
    """One model step: next positions (n_beads, 3) nm, and the predicted mu, sigma (nm/step^2)."""

    positions: Tensor
    mu: Tensor
    sigma: Tensor


class CGSimulator(nn.Module):
    """The multi-scale GNN simulator: embedding, dynamics and score networks + statistics.

    Build with a :class:`SimulatorConfig` and :class:`NormalisationStats` (measured on the
    training systems). The device comes from the caller (``model.to(device)``).
    """

    def __init__(self, config: SimulatorConfig, stats: NormalisationStats) -> None:
        super().__init__()
        from cgviz.simulator import networks

        self.config = config
        self.embedding = networks.EmbeddingGNN(
            n_atom_types=len(config.type_vocabulary), latent_size=config.embedding_latent_size,
            n_steps=config.embedding_steps, out_size=config.embedding_size,
            mlp_hidden_layers=config.mlp_hidden_layers)
        dynamics_class = (networks.EquivariantDynamicsGNN if config.equivariant
                          else networks.DynamicsGNN)
        score_class = networks.EquivariantScoreGNN if config.equivariant else networks.ScoreGNN
        self.dynamics = dynamics_class(
            bead_embedding_size=config.embedding_size, history_length=config.history_length,
            latent_size=config.dynamics_latent_size, n_layers=config.dynamics_layers,
            sigma_min=config.sigma_min,
            mlp_hidden_layers=(config.mlp_hidden_layers if config.dynamics_mlp_hidden_layers
                               is None else config.dynamics_mlp_hidden_layers))
        self.score = score_class(
            dynamics_latent_size=config.dynamics_latent_size,
            latent_size=config.score_latent_size, n_layers=config.score_layers,
            mlp_hidden_layers=config.mlp_hidden_layers)
        for name, value in asdict(stats).items():
            self.register_buffer(name, torch.tensor(float(value), dtype=torch.float32))
        bond = stats.mean_bond_length
        self.register_buffer("history_noise", torch.tensor(noise_ladder(
            config.history_noise_levels, config.history_noise_max * bond,
            config.history_noise_min * bond), dtype=torch.float32))
        self.register_buffer("score_noise", torch.tensor(noise_ladder(
            config.score_noise_levels, config.score_noise_max * bond,
            config.score_noise_min * bond), dtype=torch.float32))

    # ------------------------------------------------------------------ pieces
    @property
    def stats(self) -> NormalisationStats:
        return NormalisationStats(**{k: float(getattr(self, k))
                                     for k in NormalisationStats.__dataclass_fields__})

    def _normalised_masses(self, masses: Tensor) -> Tensor:
        return (masses - self.mass_mean) / self.mass_scale

    def bead_embeddings(self, batch) -> Tensor:
        """(n_beads_total, embedding_size): embedding GNN once per distinct system."""
        table = self.embedding.embed_beads(
            batch.atom_type_ids, self._normalised_masses(batch.atom_masses), batch.atom_bonds,
            batch.bead_of_atom, batch.n_embedding_rows)
        return table[batch.embedding_row]

    def _graph(self, positions: Tensor, batch):
        from cgviz.graph import build_bead_graph

        return build_bead_graph(positions, self.config.cutoff_nm, batch.bead_bonds,
                                batch=batch.bead_graph,
                                periodic_box=getattr(batch, "periodic_box", None))

    def predict(self, embeddings: Tensor, history: Tensor, batch):
        """mu, sigma (normalised) and latent states from a history (k, n_beads, 3) in nm."""
        velocities = (history[1:] - history[:-1]).permute(1, 0, 2) / self.velocity_scale
        graph = self._graph(history[-1], batch)
        return self.dynamics(embeddings, velocities, self._normalised_masses(batch.bead_masses),
                             *graph)

    def score_at(self, latent: Tensor, positions: Tensor, noise_per_bead: Tensor, batch
                 ) -> Tensor:
        """The score (1/nm) of noisy positions (n_beads, 3) at per-bead noise levels (nm)."""
        graph = self._graph(positions, batch)
        return self.score(latent, self._normalised_masses(batch.bead_masses), *graph,
                          noise_per_bead)

    # ------------------------------------------------------------------ training
    def loss(self, batch, generator: torch.Generator | None = None) -> LossTerms:
        """Gaussian NLL of the acceleration (noisy history) + denoising score matching."""
        k = self.config.history_length
        positions = batch.positions
        history, target = positions[:k], positions[k]
        n_graphs, graph = batch.n_graphs, batch.bead_graph
        device = positions.device

        def pick(ladder: Tensor) -> Tensor:
            index = torch.randint(len(ladder), (n_graphs,), generator=generator,
                                  device="cpu").to(device)
            return ladder[index][graph]

        history_noise = pick(self.history_noise)
        noise = torch.randn(history.shape, generator=generator, device="cpu").to(device)
        noisy = history + noise * history_noise[None, :, None]
        acceleration = target - 2 * noisy[-1] + noisy[-2]
        mu, sigma, latent = self.predict(self.bead_embeddings(batch), noisy, batch)
        a_norm = acceleration / self.acceleration_scale
        nll = gaussian_nll(a_norm, mu, sigma)

        score_noise = pick(self.score_noise)
        eps = torch.randn(target.shape, generator=generator, device="cpu").to(device)
        noisy_target = target + eps * score_noise[:, None]
        score = self.score_at(latent, noisy_target, score_noise, batch)
        score_loss = denoising_score_loss(score, eps, score_noise)
        mse = ((a_norm - mu) ** 2).mean()
        return LossTerms(nll + score_loss, nll, score_loss, mse.detach())

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def step(self, embeddings: Tensor, history: Tensor, batch, stochastic: bool = True,
             generator: torch.Generator | None = None, refine_steps: int = 0,
             refine_epsilon: float | None = None, refine_levels: int | None = None
             ) -> StepOutput:
        """Advance a batch of systems by one model step.

        history: (k, n_beads_total, 3) nm, oldest first. ``refine_steps`` > 0 runs annealed
        Langevin refinement with that many steps per noise level, step size
        ``eta_i = refine_epsilon * s_i^2 / s_min^2`` scaled from the smallest level.
        """
        refine_epsilon = REFINE_EPSILON if refine_epsilon is None else refine_epsilon
        mu, sigma, latent = self.predict(embeddings, history, batch)
        if stochastic:
            z = torch.randn(mu.shape, generator=generator, device="cpu").to(mu.device)
            a = (mu + sigma * z) * self.acceleration_scale
        else:
            a = mu * self.acceleration_scale
        x = history[-1] + (history[-1] - history[-2]) + a
        if refine_steps > 0:
            x = self.refine(x, latent, batch, refine_steps, refine_epsilon, generator,
                            refine_levels)
        return StepOutput(x, mu * self.acceleration_scale, sigma * self.acceleration_scale)

    @torch.no_grad()
    def refine(self, positions: Tensor, latent: Tensor, batch, steps_per_level: int,
               epsilon: float, generator: torch.Generator | None = None,
               levels: int | None = None) -> Tensor:
        """Annealed Langevin dynamics from ``positions`` over the score noise ladder.

        Uses the smallest ``levels`` rungs of the ladder, largest first (default:
        :func:`default_refine_levels`, the lower 60 %, chosen on validation frames with
        ``epsilon`` = :data:`REFINE_EPSILON`; docs/evaluation.md).
        """
        ladder = self.score_noise
        if levels is None:
            levels = default_refine_levels(len(ladder))
        ladder = ladder[-levels:]
        s_min = ladder[-1]
        x = positions
        for s in ladder:
            eta = epsilon * (s / s_min) ** 2 * s_min**2
            per_bead = s.expand(x.shape[0])
            for _ in range(steps_per_level):
                z = torch.randn(x.shape, generator=generator, device="cpu").to(x.device)
                x = x + eta * self.score_at(latent, x, per_bead, batch) + torch.sqrt(2 * eta) * z
        return x

    # ------------------------------------------------------------------ persistence
    def checkpoint(self) -> dict[str, Any]:
        """Config + state dict (statistics included) as plain tensors and containers."""
        return {"format": "cgviz-simulator", "version": 1, "config": self.config.to_dict(),
                "stats": asdict(self.stats), "state_dict": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> CGSimulator:
        if checkpoint.get("format") != "cgviz-simulator":
            raise CgvizError("This checkpoint is not a cgviz simulator checkpoint.",
                             hint="Use a checkpoint written by cgviz's simulator training.")
        try:
            config = SimulatorConfig(**checkpoint["config"])
            model = cls(config, NormalisationStats(**checkpoint["stats"]))
            model.load_state_dict(checkpoint["state_dict"])
        except CgvizError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            text = str(error).split("\n")[0][:200]
            raise CgvizError(
                f"This simulator checkpoint does not fit this version of cgviz "
                f"({type(error).__name__}: {text}).",
                hint="Use a checkpoint written by cgviz's simulator training (its settings "
                "and weights must match the model they describe).") from error
        return model


def save_checkpoint(model: CGSimulator, path, extra: dict[str, Any] | None = None) -> None:
    """Write a checkpoint that loads with ``torch.load(weights_only=True)``."""
    torch.save({**model.checkpoint(), **(extra or {})}, path)


def load_checkpoint(path, map_location: str = "cpu") -> tuple[CGSimulator, dict[str, Any]]:
    """(model, the whole checkpoint dict) from a file, loaded with weights_only=True."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise CgvizError(f"Checkpoint {path} does not exist.",
                         hint="Give a run's checkpoints/last.pt or the bundled "
                         "cgviz/datasets/data/simulator_cpu_demo.pt.")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # pickle errors, foreign objects, truncated files
        raise CgvizError(f"Checkpoint {path} cannot be loaded safely ({type(exc).__name__}).",
                         hint="Use a checkpoint written by cgviz.") from exc
    if isinstance(checkpoint, dict) and "cgviz_model" in checkpoint:
        # A training-run checkpoint (Lightning): the plain model checkpoint rides along.
        return CGSimulator.from_checkpoint(checkpoint["cgviz_model"]), checkpoint
    if not isinstance(checkpoint, dict):
        raise CgvizError(f"Checkpoint {path} is not a cgviz checkpoint.",
                         hint="Use a checkpoint written by cgviz's simulator training.")
    return CGSimulator.from_checkpoint(checkpoint), checkpoint


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def load_simulator(path) -> tuple[CGSimulator, dict[str, Any]]:
    """(model, metadata) from a bundled model file or a training-run checkpoint.

    The metadata holds the model ``config`` and, when recorded, the ``mapping`` (a
    CGMapping dict), the ``training_config`` it was trained with and the training
    ``system`` record (source, split, trajectory fingerprints and lengths).
    """
    model, checkpoint = load_checkpoint(path)
    if "cgviz_model" in checkpoint:
        checkpoint = {**checkpoint["cgviz_model"], "mapping": checkpoint.get("cgviz_mapping", {}),
                      "training_config": checkpoint.get("cgviz_training_config", {}),
                      "system": checkpoint.get("cgviz_system", {})}
    return model, checkpoint
