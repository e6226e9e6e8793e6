"""Configuration of a simulator training run: a frozen dataclass that round-trips to YAML."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from cgviz.errors import CgvizError
from cgviz.simulator.model import SimulatorConfig

PRECISIONS = ("32", "bf16-mixed")


@dataclass(frozen=True)
class SimulatorTrainingConfig:
    """Everything a simulator training run needs.

    Data: ``system`` is a ``cgviz.system.MolecularSystem.to_dict()`` (the user's own
    system: files, selection, stride, periodic box, split and, if chosen, mapping); else
    ``train_demo`` names a bundled/generated demo (``data_dir``), or ``train_trajectories``
    + ``topology`` name files (atom types and masses from the sidecar next to the topology,
    else from elements). The latter two are split in time with ``validation_fraction``.

    Attributes
    ----------
    system: the training system as plain data (takes precedence over the others).
    train_demo, data_dir, train_trajectories, topology: where the training data come from.
    atoms_per_bead: METIS mapping size (docs/science.md), used when the system has no
        mapping of its own.
    validation_fraction: the last this fraction of every system's frames is held out
        (a block split, so no near-identical neighbour frames leak into validation).
    model: SimulatorConfig fields (type_vocabulary is filled in from the data if empty).
    batch_size, learning_rate, max_steps, gradient_clip, seed: optimisation (Adam).
    log_every, validate_every, validation_batches: how often to log and to validate.
    precision: "32" or "bf16-mixed".
    frame_stride: use every n-th window start.
    memory_check: refuse a run whose estimated peak memory exceeds what the device has
        free (``cgviz.training.memory``); switch off to run anyway.
    """

    system: dict[str, Any] | None = None
    train_demo: str | None = "polymer-train"
    data_dir: str | None = None
    train_trajectories: tuple[str, ...] = ()
    topology: str | None = None
    atoms_per_bead: float = 4.0
    validation_fraction: float = 0.1
    model: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 16
    learning_rate: float = 1e-3
    max_steps: int = 2000
    gradient_clip: float = 20.0
    seed: int = 0
    log_every: int = 10
    validate_every: int = 200
    validation_batches: int = 4
    precision: str = "32"
    frame_stride: int = 1
    memory_check: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "train_trajectories", tuple(self.train_trajectories))
        if self.system is not None and not isinstance(self.system, dict):
            raise CgvizError("system must be a mapping (MolecularSystem.to_dict()).")
        if not self.system and not self.train_demo and not self.train_trajectories:
            raise CgvizError("Give a system, train_demo or train_trajectories.")
        if self.train_trajectories and not self.topology:
            raise CgvizError("train_trajectories need a topology file.")
        if not 0 <= self.validation_fraction < 0.5:
            raise CgvizError(f"validation_fraction must be in [0, 0.5), got "
                             f"{self.validation_fraction}.",
                             hint="0.1 holds out the last 10 % of every trajectory.")
        for name in ("batch_size", "max_steps", "log_every", "validate_every", "frame_stride"):
            if int(getattr(self, name)) < 1:
                raise CgvizError(f"{name} must be a positive integer, got {getattr(self, name)}.",
                                 hint=f"Give {name} as a whole number of at least 1.")
        if not self.learning_rate > 0:
            raise CgvizError(f"learning_rate must be > 0, got {self.learning_rate}.",
                             hint="1e-3 (cpu-demo) or 1e-4 (paper) are good starts.")
        if self.precision not in PRECISIONS:
            raise CgvizError(f"precision must be one of {PRECISIONS}, got {self.precision!r}.",
                             hint="Use '32', or 'bf16-mixed' on hardware with bfloat16.")
        if not isinstance(self.atoms_per_bead, (int, float)) or isinstance(
                self.atoms_per_bead, bool) or not self.atoms_per_bead >= 1:
            raise CgvizError(f"atoms_per_bead must be a number >= 1, got "
                             f"{self.atoms_per_bead!r}.",
                             hint="4 heavy atoms per bead is a common start.")
        known = {f.name for f in fields(SimulatorConfig)}
        unknown = set(self.model) - known
        if unknown:
            raise CgvizError(f"Unknown model settings {sorted(unknown)}.",
                             hint=f"Known: {sorted(known)}.")

    def model_config(self, type_vocabulary: tuple[str, ...]) -> SimulatorConfig:
        settings = dict(self.model)
        settings.setdefault("type_vocabulary", type_vocabulary)
        return SimulatorConfig(**settings)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["train_trajectories"] = list(self.train_trajectories)
        return data

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulatorTrainingConfig:
        if "preset" in data:
            base = preset(data["preset"]).to_dict()
            data = {**base, **{k: v for k, v in data.items() if k != "preset"},
                    "model": {**base["model"], **dict(data.get("model", {}))}}
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise CgvizError(f"Unknown training settings {sorted(unknown)}.",
                             hint=f"Known: {sorted(f.name for f in fields(cls))}.")
        return cls(**data)

    @classmethod
    def from_yaml(cls, text: str) -> SimulatorTrainingConfig:
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CgvizError(f"The training config is not valid YAML ({first}).",
                             hint="Check brackets, colons and indentation (the keys of "
                             "SimulatorTrainingConfig, one per line).") from exc
        if not isinstance(data, dict):
            raise CgvizError("The training config must be a YAML mapping.",
                             hint="Write one 'key: value' per line, e.g. 'preset: cpu-demo'.")
        return cls.from_dict(data)


def preset(name: str) -> SimulatorTrainingConfig:
    """``cpu-demo`` (SE(3)-equivariant, learns in minutes on 2 cores) or ``paper`` (docs/science.md
    1.3 sizes and settings, a GPU-day; set ``model: {equivariant: true}`` for the fixed
    variant)."""
    if name == "cpu-demo":
        return SimulatorTrainingConfig(
            model=dict(history_length=16, embedding_latent_size=32, embedding_steps=3,
                       embedding_size=32, dynamics_latent_size=48, dynamics_layers=3,
                       dynamics_mlp_hidden_layers=1,
                       score_latent_size=48, score_layers=2, cutoff_nm=1.5,
                       # Measured on the held-out chains (benchmarks/simulator_quality.py):
                       # the equivariant variant's mean-Rg error is 0.1 nm, the plain one's 25.
                       # A slim dynamics network (48 wide, one hidden layer per MLP) with a
                       # longer history (16 frames, cheap: node inputs only) rolls out 1.5x
                       # faster than 64 wide / two hidden layers / 6 frames, and scored as
                       # well or better (Rg r^2 0.62 vs 0.48, Rg MAE 0.07 vs 0.11 nm).
                       equivariant=True),
            batch_size=16, learning_rate=1e-3, max_steps=1500, validate_every=250)
    if name == "paper":
        return SimulatorTrainingConfig(
            model=dict(history_length=30, embedding_latent_size=64, embedding_steps=7,
                       embedding_size=64, dynamics_latent_size=128, dynamics_layers=7,
                       score_latent_size=128, score_layers=4, sigma_min=0.1, cutoff_nm=1.5),
            batch_size=32, learning_rate=1e-4, max_steps=500_000, gradient_clip=20.0,
            validate_every=5000, log_every=100)
    raise CgvizError(f"Unknown preset {name!r}.", hint="Use 'cpu-demo' or 'paper'.")


def with_overrides(config: SimulatorTrainingConfig, **changes: Any) -> SimulatorTrainingConfig:
    return replace(config, **changes)
