"""``MEMnets(config).fit(train, validation, callbacks).fetch_model()``, deeptime-style.

The estimator owns the training (optimiser, gamma schedule, seeds, history); it returns a
plain :class:`MEMnetsModel` holding the trained lobe (an ``nn.Module``) that encodes
features, post-processes CVs and re-estimates every reported number in float64.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from cgviz.errors import CgvizError
from cgviz.memnets.config import MEMnetsConfig
from cgviz.memnets.cvs import CVProjection, fit_cv_projection
from cgviz.memnets.data import MultiLagData, as_trajectory_list
from cgviz.memnets.lobe import MEMnetsLobe
from cgviz.memnets.loss import LossTerms, memnets_terms

__all__ = ["EpochRecord", "History", "TrainingProgress", "IGMEEstimate", "MEMnets",
           "MEMnetsModel", "encode", "estimate_terms", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "cgviz-memnets/1"
TRAINING_STATE_FORMAT = "cgviz-memnets-training/1"


@dataclass(frozen=True)
class EpochRecord:
    """The MEMnets quantities of one epoch, float64 numpy.

    ``split="train"``: the mean over that epoch's optimiser steps (float32 batches, as
    trained). ``split="validation"``: one float64 estimate from all validation samples.
    Time in frames; ``n_modes`` = number of CVs; ``n_lags = K + 1``.

    Attributes
    ----------
    epoch : 1-based
    split : "train" or "validation"
    loss : ``sum(lm)``
    lm : (n_modes,) per-mode terms ``|m0| + gamma |log_lambda_hat|``
    m0 : (n_modes,) time-integrated memory kernel, 1/frames
    log_lambda_hat : (n_modes,) IGME slope, 1/frames
    rmse : (n_modes,) RMSE of the IGME fit over the long lags
    log_lambda : (n_lags, n_modes) observed ``ln lambda(tau_i)``
    log_lambda_fit : (n_lags, n_modes) the fitted line at the same lags
    gamma : weight of ``|log_lambda_hat|`` in the loss
    seconds : wall time of the epoch (training + validation)
    """

    epoch: int
    split: str
    loss: float
    lm: np.ndarray
    m0: np.ndarray
    log_lambda_hat: np.ndarray
    rmse: np.ndarray
    log_lambda: np.ndarray
    log_lambda_fit: np.ndarray
    gamma: float
    seconds: float = float("nan")

    @property
    def timescales_frames(self) -> np.ndarray:
        """(n_modes,) IGME time scales ``1 / |log_lambda_hat|``, frames."""
        with np.errstate(divide="ignore"):
            return 1.0 / np.abs(self.log_lambda_hat)

    def to_dict(self) -> dict[str, Any]:
        """Plain python types (lists for arrays): for checkpoints and JSON."""
        return {key: value.tolist() if isinstance(value, np.ndarray) else value
                for key, value in vars(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EpochRecord":
        return cls(**{key: np.asarray(value, dtype=np.float64) if isinstance(value, list)
                      else value for key, value in values.items()})

    @classmethod
    def from_terms(cls, terms: list[LossTerms], epoch: int, split: str,
                   seconds: float = float("nan")) -> "EpochRecord":
        def mean(name: str) -> np.ndarray:
            return np.mean([getattr(t, name).detach().double().cpu().numpy() for t in terms],
                           axis=0)
        return cls(epoch=epoch, split=split, loss=float(mean("loss")), lm=mean("lm"),
                   m0=mean("m0"), log_lambda_hat=mean("log_lambda_hat"), rmse=mean("rmse"),
                   log_lambda=mean("log_lambda"), log_lambda_fit=mean("log_lambda_fit"),
                   gamma=float(np.mean([t.gamma for t in terms])), seconds=seconds)


@dataclass
class History:
    """Per-epoch records of one training (one seed)."""

    seed: int
    train: list[EpochRecord] = field(default_factory=list)
    validation: list[EpochRecord] = field(default_factory=list)

    def array(self, name: str, split: str = "validation") -> np.ndarray:
        """Stack one field over epochs, e.g. ``array("m0")`` -> (n_epochs, n_modes)."""
        records = self.train if split == "train" else self.validation
        if records and not hasattr(records[0], name):
            raise CgvizError(f"History records have no field {name!r}.")
        return np.asarray([getattr(record, name) for record in records], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "train": [r.to_dict() for r in self.train],
                "validation": [r.to_dict() for r in self.validation]}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "History":
        return cls(seed=int(values["seed"]),
                   train=[EpochRecord.from_dict(r) for r in values["train"]],
                   validation=[EpochRecord.from_dict(r) for r in values["validation"]])

    @property
    def final_loss(self) -> float:
        """Last validation loss (last training loss without validation)."""
        records = self.validation or self.train
        return records[-1].loss if records else float("nan")


@dataclass(frozen=True)
class TrainingProgress:
    """What a callback receives after every epoch. Return ``False`` from it to stop."""

    seed: int
    seed_index: int
    n_seeds: int
    epoch: int
    n_epochs: int
    train: EpochRecord
    validation: EpochRecord | None


@dataclass(frozen=True)
class IGMEEstimate:
    """MEMnets quantities estimated once, in float64, from all samples of a data set.

    Names follow the seed's outputs: ``lm``, ``m0`` (the seed's ``m0_tilde``), ``Y`` =
    observed ``ln lambda`` at the long lags, ``Y_predict`` = the fit there.

    Attributes
    ----------
    lagtimes : (K+1,) frames
    time_scales : (n_modes,) ``1/|log_lambda_hat|``, frames
    log_lambda_hat, m0, lm, rmse : (n_modes,)
    log_lambda, log_lambda_fit : (K+1, n_modes), all lags including ``tau_0``
    gamma : weight used in ``lm``
    n_samples : number of samples used
    """

    lagtimes: np.ndarray
    time_scales: np.ndarray
    log_lambda_hat: np.ndarray
    m0: np.ndarray
    lm: np.ndarray
    rmse: np.ndarray
    log_lambda: np.ndarray
    log_lambda_fit: np.ndarray
    gamma: float
    n_samples: int

    @property
    def Y(self) -> np.ndarray:  # noqa: N802 (the seed's name)
        return self.log_lambda[1:]

    @property
    def Y_predict(self) -> np.ndarray:  # noqa: N802
        return self.log_lambda_fit[1:]


def encode(lobe: torch.nn.Module, frames: torch.Tensor, batch_size: int = 100_000) -> torch.Tensor:
    """Encoder outputs of every row, eval mode, no gradients.

    Shapes: frames (n_frames, n_features) -> (n_frames, n_cvs), the lobe's dtype/device.
    """
    was_training = lobe.training
    lobe.eval()
    parameter = next(lobe.parameters())
    with torch.no_grad():
        out = torch.cat([lobe(chunk.to(device=parameter.device, dtype=parameter.dtype))
                         for chunk in frames.split(int(batch_size))])
    lobe.train(was_training)
    return out


def estimate_terms(lobe: torch.nn.Module, data: MultiLagData, gamma: float, epsilon: float,
                   match_modes: bool = True, batch_size: int = 100_000) -> LossTerms:
    """The MEMnets terms of a whole data set in float64 (no gradients).

    Every frame that a sample uses is encoded once; the samples then index the float64
    outputs.
    """
    rows = data.needed_rows()
    outputs = encode(lobe, data.frames[rows], batch_size).double()
    with torch.no_grad():
        parts = [outputs[torch.searchsorted(rows, data.starts + int(offset)).to(outputs.device)]
                 for offset in data.offsets.tolist()]
        return memnets_terms(parts, data.lagtimes, gamma, epsilon, match_modes)


def _to_estimate(terms: LossTerms, lagtimes: Sequence[int], n_samples: int) -> IGMEEstimate:
    numpy = lambda t: t.detach().double().cpu().numpy()  # noqa: E731
    slope = numpy(terms.log_lambda_hat)
    with np.errstate(divide="ignore"):
        time_scales = 1.0 / np.abs(slope)
    return IGMEEstimate(lagtimes=np.asarray(lagtimes, dtype=np.int64), time_scales=time_scales,
                        log_lambda_hat=slope, m0=numpy(terms.m0), lm=numpy(terms.lm),
                        rmse=numpy(terms.rmse), log_lambda=numpy(terms.log_lambda),
                        log_lambda_fit=numpy(terms.log_lambda_fit), gamma=terms.gamma,
                        n_samples=n_samples)


_OPTIMIZERS = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "SGD": torch.optim.SGD,
               "RMSprop": torch.optim.RMSprop}


class MEMnetsModel:
    """A trained MEMnets encoder and what it can compute.

    Attributes
    ----------
    lobe : the trained :class:`MEMnetsLobe` (eval mode)
    config : the :class:`MEMnetsConfig` it was trained with
    history : :class:`History` of the kept seed (None for a loaded checkpoint)
    seed : the seed of this model
    seed_losses : {seed: final validation loss} of every seed tried
    """

    def __init__(self, lobe: MEMnetsLobe, config: MEMnetsConfig, history: History | None = None,
                 seed: int | None = None, seed_losses: dict[int, float] | None = None) -> None:
        self.lobe = lobe.eval()
        self.config = config
        self.history = history
        self.seed = seed
        self.seed_losses = dict(seed_losses or {})

    @property
    def device(self) -> torch.device:
        return next(self.lobe.parameters()).device

    def transform(self, data: Any, batch_size: int | None = None) -> np.ndarray | list[np.ndarray]:
        """Encoder outputs.

        Parameters
        ----------
        data : (n_frames, n_features) array or a list of them

        Returns
        -------
        (n_frames, n_cvs) float64 array, or a list of them for a list input
        """
        arrays, was_list = as_trajectory_list(data, "data")
        if arrays[0].shape[1] != self.lobe.n_features:
            raise CgvizError(f"data has {arrays[0].shape[1]} features, the encoder expects "
                             f"{self.lobe.n_features}.",
                             hint="Use the same features (same order) as for training.")
        dtype = next(self.lobe.parameters()).dtype
        size = batch_size or self.config.val_batch_size or 100_000
        outputs = [encode(self.lobe, torch.from_numpy(np.ascontiguousarray(a)).to(dtype), size)
                   .double().cpu().numpy() for a in arrays]
        return outputs if was_list else outputs[0]

    def cv_projection(self, data: Any, tau: int | None = None) -> CVProjection:
        """Fit the CV post-processing (docs/science.md 2.3) at ``tau`` (default: the last lag)."""
        outputs = self.transform(data if isinstance(data, (list, tuple)) else [data])
        return fit_cv_projection(outputs, tau or self.config.lagtimes[-1])

    def cvs(self, data: Any, tau: int | None = None) -> np.ndarray | list[np.ndarray]:
        """CVs of ``data``: encoder outputs post-processed at ``tau`` (default the last lag),
        slowest first. (n_frames, n_cvs) float64 array, or a list for a list input."""
        outputs = self.transform(data)
        as_list = outputs if isinstance(outputs, list) else [outputs]
        projection = fit_cv_projection(as_list, tau or self.config.lagtimes[-1])
        return projection.transform(outputs)

    def estimate(self, data: Any, gamma: float = 0.5) -> IGMEEstimate:
        """Time scales, log_lambda_hat, m0, fit and RMSE from all samples of ``data``, in
        float64 (the seed's ``MEMEstimator``). ``data``: arrays or a :class:`MultiLagData`."""
        if not isinstance(data, MultiLagData):
            data = MultiLagData(data, self.config.lagtimes, device=self.device)
        terms = estimate_terms(self.lobe, data, gamma, self.config.epsilon,
                               self.config.match_modes, self.config.val_batch_size or 100_000)
        return _to_estimate(terms, self.config.lagtimes, data.n_samples)

    def save(self, path: str | Path) -> Path:
        """Write config + state dict; load with :meth:`load` (``weights_only=True``)."""
        path = Path(path)
        torch.save({"format": CHECKPOINT_FORMAT, "config": self.config.to_dict(),
                    "seed": self.seed, "state_dict": self.lobe.state_dict()}, path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: Any = "cpu") -> "MEMnetsModel":
        """Read a checkpoint written by :meth:`save` (never runs code from the file)."""
        path = Path(path)
        if not path.is_file():
            raise CgvizError(f"Checkpoint '{path}' does not exist.")
        try:
            payload = torch.load(path, map_location=device, weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is a user error
            raise CgvizError(f"Cannot read MEMnets checkpoint '{path}': {error}.",
                             hint="Pass a file written by MEMnetsModel.save.") from None
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise CgvizError(f"'{path}' is not a cgviz MEMnets checkpoint.",
                             hint="Pass a file written by MEMnetsModel.save.")
        config = MEMnetsConfig.from_dict(payload["config"])
        lobe = MEMnetsLobe(config.encoder_sizes).to(device)
        lobe.load_state_dict(payload["state_dict"])
        return cls(lobe, config, seed=payload.get("seed"))


Callback = Callable[[TrainingProgress], Any]


class MEMnets:
    """Trains MEMnets encoders (docs/science.md 2.2), one per seed, and keeps the best.

    Parameters
    ----------
    config : :class:`MEMnetsConfig`
    device : where to train ("cpu", "cuda", a ``torch.device``); the caller's choice
    dtype : dtype of the weights and training batches (float32; reported numbers are
        always recomputed in float64)

    Attributes after :meth:`fit`
    ----------------------------
    histories : {seed: History}
    snapshots : {epoch: state_dict} of the kept seed, every ``save_model_interval`` epochs
        and after the last epoch
    """

    def __init__(self, config: MEMnetsConfig, device: Any = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        if not isinstance(config, MEMnetsConfig):
            raise CgvizError("MEMnets needs a MEMnetsConfig.",
                             hint="MEMnets(MEMnetsConfig(lagtimes=[...], encoder_sizes=[...])).")
        self.config = config
        try:
            self.device = torch.device(device)
            torch.empty(0, device=self.device)
        except (RuntimeError, AssertionError) as error:
            raise CgvizError(f"Device {device!r} is not available here: {error}.",
                             hint="Use 'cpu', or 'cuda' on a machine with a GPU.") from None
        self.dtype = dtype
        self.histories: dict[int, History] = {}
        self.snapshots: dict[int, dict[str, torch.Tensor]] = {}
        self._model: MEMnetsModel | None = None
        self._finished: dict[str, Any] = {}
        self._current: dict[str, Any] | None = None

    def gamma(self, step: int, warm: bool = True) -> float:
        """``0.5 + 1.5 exp(-decay_rate * step)`` during warm-up, 0.5 after it."""
        return 0.5 + 1.5 * math.exp(-self.config.decay_rate * step) if warm else 0.5

    def _prepare(self, train: Any, validation: Any) -> tuple[MultiLagData, MultiLagData | None]:
        config = self.config
        if not isinstance(train, MultiLagData):
            if validation is not None:
                raise CgvizError("Pass validation only together with MultiLagData training "
                                 "samples; raw trajectories are split by the config.")
            data = MultiLagData(train, config.lagtimes, dtype=self.dtype, device=self.device)
            train, validation = data.split(config.train_split, config.split,
                                           seed=config.seeds[0], block_length=config.block_length)
        for name, part in (("train", train), ("validation", validation)):
            if part is None:
                continue
            if tuple(part.lagtimes) != config.lagtimes:
                raise CgvizError(f"The {name} samples use lag times {list(part.lagtimes)}, the "
                                 f"config {list(config.lagtimes)}.",
                                 hint="Build MultiLagData with config.lagtimes.")
            if part.n_features != config.n_features:
                raise CgvizError(
                    f"The {name} data have {part.n_features} features, but encoder_sizes "
                    f"starts with {config.n_features}.",
                    hint=f"Set the first encoder size to {part.n_features}.")
            if part.n_samples < 2 * config.n_cvs + 2:
                raise CgvizError(f"The {name} set has only {part.n_samples} samples.",
                                 hint="Use more frames or shorter lag times.")
        train = train.to(self.device)
        validation = validation.to(self.device) if validation is not None else None
        return train, validation

    def fit(self, train: Any, validation: MultiLagData | None = None,
            callbacks: Iterable[Callback] | None = None,
            resume_state: dict[str, Any] | None = None) -> "MEMnets":
        """Train one encoder per seed of the config and keep the best.

        Parameters
        ----------
        train : :class:`MultiLagData` of training samples, or raw trajectories (array or
            list of (n_frames, n_features) arrays), then split by ``config.train_split``
            and ``config.split``
        validation : :class:`MultiLagData` of validation samples (only with MultiLagData
            ``train``); None for none
        callbacks : callables receiving a :class:`TrainingProgress` after every epoch;
            one returning ``False`` stops the training (the current seed ends there and
            no further seeds are trained). :meth:`training_state` is then up to date.
        resume_state : a :meth:`training_state` saved earlier with the same config and
            data: training continues after its last epoch, exactly as if uninterrupted

        Returns
        -------
        self; the best model (lowest final validation loss, else training loss) is
        :meth:`fetch_model`
        """
        train, validation = self._prepare(train, validation)
        callbacks = list(callbacks or [])
        finished: dict[str, Any] = {}
        current: dict[str, Any] | None = None
        if resume_state is not None:
            finished, current = self._check_resume(resume_state)
        self._finished = {}
        self.histories = {}
        best: tuple[float, int, MEMnetsLobe, dict] | None = None
        for seed_index, seed in enumerate(self.config.seeds):
            stopped = False
            if str(seed) in finished:
                done = finished[str(seed)]
                lobe = self._new_lobe()
                lobe.load_state_dict(done["lobe"])
                history = History.from_dict(done["history"])
                snapshots = {int(k): v for k, v in done["snapshots"].items()}
            else:
                initial = current if current is not None and current["seed_index"] == seed_index \
                    else None
                lobe, history, snapshots, stopped = self._fit_seed(
                    seed, seed_index, train, validation, callbacks, initial)
            self.histories[seed] = history
            if not stopped:
                self._finished[str(seed)] = {"lobe": copy.deepcopy(lobe.state_dict()),
                                             "history": history.to_dict(),
                                             "snapshots": {str(k): v for k, v in snapshots.items()}}
            loss = history.final_loss
            if best is None or (math.isfinite(loss) and not loss >= best[0]) \
                    or not math.isfinite(best[0]):
                best = (loss, seed, lobe, snapshots)
            if stopped:
                break
        assert best is not None
        loss, seed, lobe, self.snapshots = best
        self._model = MEMnetsModel(lobe, self.config, self.histories[seed], seed,
                                   {s: h.final_loss for s, h in self.histories.items()})
        return self

    def _new_lobe(self) -> MEMnetsLobe:
        return MEMnetsLobe(self.config.encoder_sizes).to(device=self.device, dtype=self.dtype)

    def _check_resume(self, state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(state, dict) or state.get("format") != TRAINING_STATE_FORMAT:
            raise CgvizError("The resume state is not a MEMnets training state.",
                             hint="Pass what MEMnets.training_state() returned.")
        if MEMnetsConfig.from_dict(state["config"]) != self.config:
            raise CgvizError("The resume state was saved with another MEMnets config.",
                             hint="Resume with the config of the interrupted training.")
        return dict(state["finished"]), dict(state["current"])

    def training_state(self) -> dict[str, Any]:
        """Everything needed to continue this training later, after the last finished
        epoch: tensors and plain containers only (``torch.load(weights_only=True)``)."""
        if getattr(self, "_current", None) is None:
            raise CgvizError("No training state yet.", hint="Call fit(...) first.")
        return {"format": TRAINING_STATE_FORMAT, "config": self.config.to_dict(),
                "finished": copy.deepcopy(self._finished), "current": copy.deepcopy(self._current)}

    def _fit_seed(self, seed: int, seed_index: int, train: MultiLagData,
                  validation: MultiLagData | None, callbacks: list[Callback],
                  initial: dict[str, Any] | None = None):
        config = self.config
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        lobe = self._new_lobe()
        optimizer = _OPTIMIZERS[config.optimizer](lobe.parameters(), lr=config.learning_rate)
        history = History(seed=seed)
        snapshots: dict[int, dict[str, torch.Tensor]] = {}
        step, warm, first_epoch = 0, True, 1
        if initial is not None:
            lobe.load_state_dict(initial["lobe"])
            optimizer.load_state_dict(initial["optimizer"])
            generator.set_state(initial["generator"])
            history = History.from_dict(initial["history"])
            snapshots = {int(k): v for k, v in initial["snapshots"].items()}
            step, warm = int(initial["optimizer_step"]), bool(initial["warm"])
            first_epoch = int(initial["seed_epoch"]) + 1
        n_steps, n_cvs = len(config.lagtimes) + 1, config.n_cvs
        for epoch in range(first_epoch, config.n_epochs + 1):
            started = time.perf_counter()
            lobe.train()
            step_terms: list[LossTerms] = []
            for index in train.batch_indices(config.train_batch_size, True, generator):
                batch = train.gather(index)                      # (K+2, B, F)
                size = batch.shape[1]
                out = lobe(batch.reshape(n_steps * size, -1)).reshape(n_steps, size, n_cvs)
                terms = memnets_terms(out, config.lagtimes, self.gamma(step, warm),
                                      config.epsilon, config.match_modes)
                if not torch.isfinite(terms.loss):
                    raise CgvizError(
                        f"The MEMnets loss became {terms.loss.item()} at epoch {epoch} "
                        f"(seed {seed}).",
                        hint="Lower the learning rate or check the features for outliers.")
                optimizer.zero_grad(set_to_none=True)
                terms.loss.backward()
                optimizer.step()
                step_terms.append(_detach(terms))
                step += 1
            if warm and self.gamma(step) <= 0.5 + config.thres:
                warm = False
            gamma = self.gamma(step, warm)
            validation_record = None
            if validation is not None:
                terms = estimate_terms(lobe, validation, gamma, config.epsilon,
                                       config.match_modes, config.val_batch_size or 100_000)
                validation_record = EpochRecord.from_terms([terms], epoch, "validation")
            seconds = time.perf_counter() - started
            train_record = EpochRecord.from_terms(step_terms, epoch, "train", seconds)
            history.train.append(train_record)
            if validation_record is not None:
                validation_record = _with_seconds(validation_record, seconds)
                history.validation.append(validation_record)
            interval = config.save_model_interval
            if (interval and epoch % interval == 0) or epoch == config.n_epochs:
                snapshots[epoch] = copy.deepcopy(lobe.state_dict())
            self._current = {"seed_index": seed_index, "seed_epoch": epoch,
                             "optimizer_step": step, "warm": warm, "lobe": lobe.state_dict(),
                             "optimizer": optimizer.state_dict(),
                             "generator": generator.get_state(), "history": history.to_dict(),
                             "snapshots": {str(k): v for k, v in snapshots.items()}}
            progress = TrainingProgress(seed, seed_index, len(config.seeds), epoch,
                                        config.n_epochs, train_record, validation_record)
            if any(callback(progress) is False for callback in callbacks):
                snapshots.setdefault(epoch, copy.deepcopy(lobe.state_dict()))
                return lobe.eval(), history, snapshots, True
        return lobe.eval(), history, snapshots, False

    def fetch_model(self) -> MEMnetsModel:
        """The best trained model (a copy: further fitting does not change it)."""
        if self._model is None:
            raise CgvizError("MEMnets has not been fitted yet.", hint="Call fit(...) first.")
        model = self._model
        return MEMnetsModel(copy.deepcopy(model.lobe), model.config, model.history,
                            model.seed, model.seed_losses)

    def model_at(self, epoch: int) -> MEMnetsModel:
        """The kept seed's model as it was after ``epoch`` (see ``save_model_interval``)."""
        if epoch not in self.snapshots:
            raise CgvizError(f"No snapshot at epoch {epoch}; saved: {sorted(self.snapshots)}.")
        lobe = self._new_lobe()
        lobe.load_state_dict(self.snapshots[epoch])
        return MEMnetsModel(lobe, self.config, self._model.history if self._model else None,
                            self._model.seed if self._model else None)


def _detach(terms: LossTerms) -> LossTerms:
    return LossTerms(**{name: value.detach() if isinstance(value, torch.Tensor) else value
                        for name, value in vars(terms).items()})


def _with_seconds(record: EpochRecord, seconds: float) -> EpochRecord:
    values = dict(vars(record))
    values["seconds"] = seconds
    return EpochRecord(**values)
