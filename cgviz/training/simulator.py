"""Simulator training: data preparation, a thin LightningModule, and the jobs task.

The science lives in ``cgviz.simulator`` (model, loss, data); this module only wires it to
Lightning (CPU, one GPU, or DDP over several), to the run directory of ``cgviz.jobs``
(metrics, progress, checkpoints, cancel) and to the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from cgviz.errors import CgvizError
from cgviz.training.config import SimulatorTrainingConfig


@dataclass(frozen=True)
class PreparedData:
    """Training and validation systems (split as the system says) and the mapping used."""

    train: list
    validation: list
    mapping: Any
    type_vocabulary: tuple[str, ...]
    system: Any = None


def training_system(config: SimulatorTrainingConfig):
    """The ``cgviz.system.MolecularSystem`` a config trains on (without its mapping, if
    it has none: :func:`prepare_data` adds a METIS one)."""
    from cgviz import system as cg_system

    if config.system:
        return cg_system.from_dict(config.system)
    # The presets' demos and plain file lists: every molecule's frames split in time, the
    # last validation_fraction for validation (the polymer test set is a demo of its own).
    split = cg_system.Split(by="time", validation=config.validation_fraction, test=0.0)
    if config.train_demo:
        return cg_system.from_demo(config.train_demo, config.data_dir, split=split)
    return cg_system.load(list(config.train_trajectories), config.topology, split=split,
                          independent_molecules=True, label="train")


def prepare_data(config: SimulatorTrainingConfig, devices: Sequence[str] = ("cpu",)
                 ) -> PreparedData:
    """Load the system, map it to beads (its own mapping, else METIS), split it; refuse
    (CgvizError) what cannot train, or would not fit in the memory of ``devices``."""
    from cgviz import mapping

    system = training_system(config)
    props = system.properties
    vocabulary = tuple(sorted(set(props.type_names)))
    vocabulary = tuple(config.model.get("type_vocabulary", vocabulary))
    cg = system.mapping
    if cg is None:
        cg = mapping.metis_mapping(system.topology, config.atoms_per_bead, properties=props)
        system = system.with_mapping(cg)
    check_system(system, config, cg, devices)
    history = config.model_config(vocabulary).history_length
    train = system.bead_systems("train", vocabulary)
    validation = system.bead_systems("validation", vocabulary, min_frames=history + 1)
    return PreparedData(train, validation, cg, vocabulary, system)


def check_system(system, config: SimulatorTrainingConfig, cg=None,
                 devices: Sequence[str] = ("cpu",)) -> None:
    """Refuse, before any training, a system and config that cannot train: a one-bead
    mapping, a validation part too short for one history window, too few training
    windows for one batch, or a run that would not fit in the free memory of ``devices``
    (unless ``config.memory_check`` is off; see ``cgviz.training.memory``). The Training
    page and the CLI call this before they launch a run, without a mapping the METIS one
    that the run would build."""
    if cg is not None:
        check_mapping(cg, system)
    history = int(config.model.get("history_length") or config.model_config(
        ("X",)).history_length)
    parts = system.parts()
    if any(e - s for _, s, e in parts["validation"]):
        longest = max(e - s for _, s, e in parts["validation"])
        if longest < history + 1:
            raise CgvizError(
                f"The validation part holds at most {longest} consecutive frames, but one "
                f"history window needs history_length + 1 = {history + 1}.",
                hint="Use longer trajectories, a smaller stride, a shorter history_length or "
                "a larger validation fraction (or split by trajectory).")
    windows = sum(max(0, e - s - history) for _, s, e in parts["train"])
    if system.independent_molecules:
        windows *= max(1, system.topology.n_chains)
    windows //= max(1, config.frame_stride)
    if windows < config.batch_size:
        raise CgvizError(
            f"The training part holds {windows} history windows, too few for one batch of "
            f"{config.batch_size}: a window needs history_length + 1 = {history + 1} "
            "consecutive frames.",
            hint="Use longer trajectories, a smaller stride, a shorter history_length or a "
            "smaller batch_size.")
    if config.memory_check:
        from cgviz import mapping
        from cgviz.training.memory import check_training_memory

        if cg is None:
            cg = mapping.metis_mapping(system.topology, config.atoms_per_bead,
                                       properties=system.properties)
            check_mapping(cg, system)
        check_training_memory(system, cg, config, devices=devices)


def check_mapping(cg, system) -> None:
    """Refuse mappings a simulator cannot learn from (one bead; beads of ~all atoms)."""
    if cg.n_beads < 2:
        raise CgvizError(
            f"The mapping has {cg.n_beads} bead for {system.n_atoms} atoms: a simulator "
            "needs at least two beads to learn any motion.",
            hint="Use fewer atoms per bead (e.g. 4) or a finer mapping.")
    if system.independent_molecules and cg.n_beads == cg.n_molecules:
        raise CgvizError(
            f"Every one of the {cg.n_molecules} molecules is a single bead: each is its own "
            "system here, so there is nothing inside a molecule to learn.",
            hint="Use fewer atoms per bead (e.g. 4) so that each molecule has several beads.")


def validation_loss(model, systems, n_windows: int = 64, batch_size: int = 16, seed: int = 0
                    ) -> dict[str, float]:
    """Mean loss terms of ``model`` on a fixed random set of windows of ``systems``."""
    import torch

    from cgviz.simulator.data import HistoryWindows, collate

    windows = HistoryWindows(systems, model.config.history_length)
    picks = np.random.default_rng(seed).permutation(len(windows))[:n_windows]
    totals: dict[str, float] = {}
    model.eval()
    with torch.no_grad():
        for start in range(0, len(picks), batch_size):
            batch = collate(windows, picks[start : start + batch_size])
            terms = model.loss(batch, torch.Generator().manual_seed(seed + start))
            for name, value in terms._asdict().items():
                totals[name] = totals.get(name, 0.0) + float(value) * len(batch.positions[0])
    n_beads = sum(len(collate(windows, picks[s : s + batch_size]).positions[0])
                  for s in range(0, len(picks), batch_size))
    return {name: value / n_beads for name, value in totals.items()}


def build_model(config: SimulatorTrainingConfig, data: PreparedData):
    from cgviz.simulator.model import CGSimulator, NormalisationStats

    model_config = config.model_config(data.type_vocabulary)
    stats = NormalisationStats.from_systems(data.train, model_config.history_length)
    return CGSimulator(model_config, stats)


def _lightning_module(model, config: SimulatorTrainingConfig, mapping_dict: dict[str, Any],
                      system_dict: dict[str, Any] | None = None):
    import lightning as L
    import torch

    class SimulatorModule(L.LightningModule):
        """Loss, optimiser and logging around a CGSimulator; nothing else."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.generator = torch.Generator().manual_seed(config.seed)

        def training_step(self, batch, batch_index):
            terms = self.model.loss(batch, self.generator)
            self.log_dict({"loss": terms.total, "nll": terms.nll, "score_loss": terms.score,
                           "mse": terms.mse}, batch_size=batch.n_graphs)
            return terms.total

        def validation_step(self, batch, batch_index):
            generator = torch.Generator().manual_seed(10_000 + batch_index)
            terms = self.model.loss(batch, generator)
            self.log_dict({"val_loss": terms.total, "val_nll": terms.nll,
                           "val_score_loss": terms.score, "val_mse": terms.mse},
                          batch_size=batch.n_graphs, sync_dist=True)

        def configure_optimizers(self):
            return torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)

        def transfer_batch_to_device(self, batch, device, dataloader_idx):
            return batch.to(device)

        def on_save_checkpoint(self, checkpoint):
            # The plain model checkpoint (config + stats + weights) and the mapping ride along,
            # so `cgviz rollout` needs nothing but this file.
            checkpoint["cgviz_model"] = self.model.checkpoint()
            checkpoint["cgviz_mapping"] = mapping_dict
            checkpoint["cgviz_training_config"] = config.to_dict()
            if system_dict is not None:
                checkpoint["cgviz_system"] = system_dict

    return SimulatorModule()


class _IndexDataset:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        return index


def _loaders(config: SimulatorTrainingConfig, data: PreparedData, history_length: int):
    import torch

    from cgviz.simulator.data import HistoryWindows, collate

    train = HistoryWindows(data.train, history_length, config.frame_stride)
    loader = torch.utils.data.DataLoader(
        _IndexDataset(len(train)), batch_size=config.batch_size, shuffle=True, drop_last=True,
        collate_fn=lambda indices: collate(train, indices),
        generator=torch.Generator().manual_seed(config.seed))
    val_loader = None
    usable = [s for s in data.validation if s.n_frames > history_length]
    if usable:
        validation = HistoryWindows(usable, history_length)
        picks = np.random.default_rng(0).permutation(len(validation))
        picks = picks[: config.batch_size * config.validation_batches]
        val_loader = torch.utils.data.DataLoader(
            _IndexDataset(len(picks)), batch_size=config.batch_size,
            collate_fn=lambda idx: collate(validation, [int(picks[i]) for i in idx]))
    return loader, val_loader


def _system_record(system) -> dict[str, Any] | None:
    """What a checkpoint keeps of its training system: where it came from, the split, the
    trajectory fingerprints and lengths (to recognise training frames at evaluation)."""
    if system is None or system.source is None:
        return None
    record = system.to_dict()
    record["mapping"] = None  # stored once, as cgviz_mapping
    record["n_frames"] = [int(t.n_frames) for t in system.trajectories]
    record["frame_time_ps"] = system.frame_time_ps
    record["periodic"] = system.periodic
    return record


def _trainer_devices(devices: list[str]) -> dict[str, Any]:
    if set(devices) == {"cpu"}:
        return {"accelerator": "cpu", "devices": len(devices),
                "strategy": "ddp" if len(devices) > 1 else "auto"}
    indices = [int(d.split(":")[1]) for d in devices]
    return {"accelerator": "gpu", "devices": indices,
            "strategy": "ddp" if len(indices) > 1 else "auto"}


def _saver(trainer):
    """A writer for RunContext.save_checkpoint_file: the full Lightning training state."""
    return lambda path: trainer.save_checkpoint(path, weights_only=False)


def run(ctx) -> None:
    """The ``simulator`` task of cgviz.jobs: train a CGSimulator in a run directory."""
    import lightning as L
    import torch

    config = SimulatorTrainingConfig.from_dict(dict(ctx.config))
    L.seed_everything(config.seed, workers=True, verbose=False)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = prepare_data(config, ctx.devices)
    model = build_model(config, data)
    module = _lightning_module(model, config, data.mapping.to_dict(), _system_record(data.system))
    loader, val_loader = _loaders(config, data, model.config.history_length)
    n_windows, n_ranks = len(loader.dataset), max(1, len(ctx.devices))
    if n_windows // n_ranks < config.batch_size:
        # Lightning would "complete" such a run at step 0 without a word.
        raise CgvizError(
            f"The training data hold {n_windows} history windows, too few for one batch of "
            f"{config.batch_size} on each of {n_ranks} device(s): a window needs "
            f"history_length + 1 = {model.config.history_length + 1} consecutive frames.",
            hint="Use longer trajectories, a shorter history_length, a smaller batch_size "
                 "or fewer devices.")

    class RunCallback(L.Callback):
        """Metrics, progress, checkpoints and cancel through the run context."""

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_index):
            step = trainer.global_step
            if step % config.log_every == 0 or step == config.max_steps:
                values = {k: float(v) for k, v in trainer.callback_metrics.items()
                          if not k.startswith("val_")}
                ctx.log(step, epoch=trainer.current_epoch, **values)
            ctx.progress(step, config.max_steps, epoch=trainer.current_epoch)
            stop = trainer.strategy.reduce_boolean_decision(ctx.should_stop(), all=False)
            if step % ctx.checkpoint_every == 0 or stop:
                ctx.save_checkpoint_file(_saver(trainer), step,
                                         epoch=trainer.current_epoch,
                                         total_steps=config.max_steps)
            if stop:
                trainer.should_stop = True

        def on_validation_end(self, trainer, pl_module):
            if trainer.sanity_checking:
                return
            values = {k: float(v) for k, v in trainer.callback_metrics.items()
                      if k.startswith("val_")}
            if values:
                ctx.log(trainer.global_step, epoch=trainer.current_epoch, **values)

        def on_train_end(self, trainer, pl_module):
            digest = float(sum(p.detach().double().sum() for p in pl_module.model.parameters()))
            print(f"[cgviz] rank {trainer.global_rank} of {trainer.world_size}: step "
                  f"{trainer.global_step}, parameter checksum {digest:.10e}", flush=True)
            if not ctx.should_stop():
                ctx.save_checkpoint_file(_saver(trainer), trainer.global_step,
                                         epoch=trainer.current_epoch,
                                         total_steps=config.max_steps, final=True)

    trainer = L.Trainer(
        **_trainer_devices(ctx.devices), max_steps=config.max_steps,
        precision=config.precision, gradient_clip_val=config.gradient_clip,
        val_check_interval=config.validate_every if val_loader is not None else None,
        check_val_every_n_epoch=None, num_sanity_val_steps=0, logger=False,
        enable_checkpointing=False, enable_model_summary=False,
        enable_progress_bar=ctx.is_main_process and ctx.show_progress_bar,
        callbacks=[RunCallback(), *([L.pytorch.callbacks.TQDMProgressBar(refresh_rate=5)]
                                    if ctx.is_main_process and ctx.show_progress_bar else [])],
        default_root_dir=str(ctx.run_dir),
        limit_val_batches=config.validation_batches,
    )
    if ctx.resume_path is not None and ctx.resume_state.get("global_step") is None:
        raise CgvizError("The last checkpoint of this run is not a training checkpoint.")
    trainer.fit(module, loader, val_loader,
                ckpt_path=str(ctx.resume_path) if ctx.resume_path else None, weights_only=True)
