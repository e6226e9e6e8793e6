"""``MEMnetsConfig``: every setting of a MEMnets run, validated, round-tripping to YAML.

Lag times are in frames. The seed script's flags map one to one onto the fields
(``--lagtimes`` -> ``lagtimes``, ``--encoder_sizes`` -> ``encoder_sizes``, ...); the fields
the seed does not have (``seeds``, ``split``, ``block_length``, ``match_modes``,
``epsilon``) are where cgviz does better (docs/science.md 2.4).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from cgviz.errors import CgvizError

__all__ = ["MEMnetsConfig", "OPTIMIZERS", "SPLITS"]

OPTIMIZERS = ("Adam", "SGD", "RMSprop", "AdamW")
SPLITS = ("random", "blocks")


def _int_tuple(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise CgvizError(f"{name} must be a list of integers, got {value!r}.",
                         hint=f"For example {name}: [1, 7, 8, 9, 10].")
    items = list(value)
    out = []
    for item in items:
        if isinstance(item, bool) or not float(item).is_integer():
            raise CgvizError(f"{name} must hold whole numbers, got {item!r} in {items}.")
        out.append(int(item))
    return tuple(out)


def _positive(value: Any, name: str, integer: bool = False, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
        and value > 0
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise CgvizError(f"{name} must be {kind}, got {value!r}.")
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class MEMnetsConfig:
    """Settings of one MEMnets training run (docs/science.md 2.2).

    Attributes
    ----------
    lagtimes : (K+1,) ints, frames: ``tau_0`` (short, inside the memory lifetime) then
        ``tau_1 < ... < tau_K`` (beyond it) used for the IGME fit; ``tau_0 < tau_1``, K >= 2
    encoder_sizes : layer widths, first = number of input features, last = number of CVs
    learning_rate : optimiser step size
    optimizer : "Adam" (seed default), "AdamW", "SGD" or "RMSprop"
    n_epochs : passes over the training samples
    train_batch_size : samples per optimiser step (seed: 10000)
    val_batch_size : frames encoded at a time when evaluating (memory only; the
        float64 estimate uses all samples at once either way); None = 100000
    decay_rate : gamma warm-up ``gamma = 0.5 + 1.5 exp(-decay_rate * step)``
    thres : gamma is fixed at 0.5 after the first epoch that ends with gamma <= 0.5 + thres
    train_split : fraction of samples used for training (1.0: no validation)
    split : "random" (seed behaviour: random samples) or "blocks" (contiguous blocks of
        each trajectory, so validation frames are not neighbours of training frames)
    block_length : frames per block for ``split="blocks"``; None = max(20 tau_K, 1 % of
        the frames of the longest trajectory)
    seeds : one training per seed; the model with the lowest final validation loss is kept
    epsilon : regularisation of the eigenvalues and of the Cholesky factor of C0
    match_modes : match modes across lags by eigenvector overlap before the IGME fit
        (False: sort each lag separately, as the seed does)
    save_model_interval : keep a snapshot every this many epochs (None: only the last)
    """

    lagtimes: tuple[int, ...]
    encoder_sizes: tuple[int, ...]
    learning_rate: float = 1e-3
    optimizer: str = "Adam"
    n_epochs: int = 50
    train_batch_size: int = 10000
    val_batch_size: int | None = None
    decay_rate: float = 0.005
    thres: float = 0.015
    train_split: float = 0.9
    split: str = "random"
    block_length: int | None = None
    seeds: tuple[int, ...] = (1,)
    epsilon: float = 1e-6
    match_modes: bool = True
    save_model_interval: int | None = None

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        lags = _int_tuple(self.lagtimes, "lagtimes")
        if len(lags) < 3:
            raise CgvizError(
                f"lagtimes = {list(lags)} has {len(lags)} value(s); MEMnets needs a short lag "
                "tau_0 and at least two long lags for the IGME fit.",
                hint="For example lagtimes: [1, 7, 8, 9, 10] (frames).")
        if min(lags) < 1:
            raise CgvizError(f"lagtimes must be positive frame counts, got {list(lags)}.")
        if lags[0] >= lags[1] or any(b <= a for a, b in zip(lags[1:], lags[2:])):
            raise CgvizError(
                f"lagtimes = {list(lags)} must be increasing: tau_0 below tau_1 < tau_2 < ... .",
                hint="Sort them and remove duplicates, e.g. [1, 7, 8, 9, 10].")
        set_("lagtimes", lags)
        sizes = _int_tuple(self.encoder_sizes, "encoder_sizes")
        if len(sizes) < 2 or min(sizes) < 1:
            raise CgvizError(
                f"encoder_sizes = {list(sizes)}: need at least an input width and a CV count, "
                "all positive.",
                hint="For example [4, 30, 30, 30, 10, 3] for 4 features and 3 CVs.")
        set_("encoder_sizes", sizes)
        set_("learning_rate", _positive(self.learning_rate, "learning_rate"))
        if self.optimizer not in OPTIMIZERS:
            raise CgvizError(f"Unknown optimizer {self.optimizer!r}.",
                             hint=f"Choose one of {', '.join(OPTIMIZERS)}.")
        set_("n_epochs", _positive(self.n_epochs, "n_epochs", integer=True))
        set_("train_batch_size", _positive(self.train_batch_size, "train_batch_size", True))
        set_("val_batch_size", _positive(self.val_batch_size, "val_batch_size", True, True))
        set_("decay_rate", _positive(self.decay_rate, "decay_rate"))
        set_("thres", _positive(self.thres, "thres"))
        split = self.train_split
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split <= 1:
            raise CgvizError(f"train_split must be in (0, 1], got {split!r}.",
                             hint="0.9 keeps 10 % of the samples for validation.")
        set_("train_split", float(split))
        if self.split not in SPLITS:
            raise CgvizError(f"Unknown split {self.split!r}.",
                             hint="Use 'random' (seed behaviour) or 'blocks'.")
        set_("block_length", _positive(self.block_length, "block_length", True, True))
        if self.block_length is not None and self.block_length <= lags[-1]:
            raise CgvizError(
                f"block_length = {self.block_length} frames is not longer than the longest "
                f"lag ({lags[-1]}).",
                hint="Blocks must hold whole samples; use >= 10 tau_K, or leave it unset.")
        seeds = _int_tuple(self.seeds, "seeds")
        if not seeds or len(set(seeds)) != len(seeds):
            raise CgvizError(f"seeds must be a non-empty list of distinct integers, got {seeds}.")
        set_("seeds", seeds)
        set_("epsilon", _positive(self.epsilon, "epsilon"))
        if not isinstance(self.match_modes, bool):
            raise CgvizError(f"match_modes must be true or false, got {self.match_modes!r}.")
        set_("save_model_interval",
             _positive(self.save_model_interval, "save_model_interval", True, True))

    @property
    def n_features(self) -> int:
        return self.encoder_sizes[0]

    @property
    def n_cvs(self) -> int:
        return self.encoder_sizes[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain python types (lists, not tuples), ready for YAML or JSON."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "MEMnetsConfig":
        if not isinstance(values, dict):
            raise CgvizError(f"A MEMnets config must be a mapping, got {type(values).__name__}.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CgvizError(f"Unknown MEMnets setting(s): {', '.join(unknown)}.",
                             hint=f"Known settings: {', '.join(sorted(known))}.")
        missing = [name for name in ("lagtimes", "encoder_sizes") if name not in values]
        if missing:
            raise CgvizError(f"The MEMnets config lacks {', '.join(missing)}.",
                             hint="Both lagtimes and encoder_sizes are required.")
        return cls(**values)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The config as YAML text; also written to ``path`` when given."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> "MEMnetsConfig":
        """Read a config from YAML text or a ``.yaml``/``.yml`` file."""
        import yaml

        text = str(text_or_path)
        if isinstance(text_or_path, Path) or text.endswith((".yaml", ".yml")):
            path = Path(text_or_path)
            if not path.is_file():
                raise CgvizError(f"Config file '{path}' does not exist.")
            text = path.read_text()
        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise CgvizError(f"The MEMnets config is not valid YAML: {error}.") from None
        return cls.from_dict(values)
