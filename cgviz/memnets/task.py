"""The ``memnets`` task of :mod:`cgviz.jobs`: MEMnets training as a run on disk.

A run file (``run.yaml``) for it::

    task: memnets
    device: cpu
    checkpoint_every: 5            # epochs
    config:
      data_directory: features/    # every .npy file is one trajectory (sorted by name)
      # or: demo: alanine-dipeptide   (features: sin/cos of the backbone dihedrals)
      lagtimes: [1, 7, 8, 9, 10]
      encoder_sizes: [4, 30, 30, 30, 10, 3]
      n_epochs: 50
      ...                          # any other MEMnetsConfig field

One logged row and one ``step`` per epoch (steps count epochs over all seeds: seed i,
epoch e is step ``i * n_epochs + e``), with the loss, gamma and per-mode time scales and
m0 of the validation set. Checkpoints hold the full training state, so ``resume``
continues exactly where the run stopped. At the end the seed script's result files are
written under ``<run>/checkpoints/`` like ``train-memnets`` does (``model_<N>epochs_*``).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from cgviz.errors import CgvizError

__all__ = ["run", "load_task_data"]

_DATA_KEYS = ("data_directory", "demo", "stride")


def load_task_data(options: dict[str, Any]) -> tuple[list, list[str], float | None]:
    """(trajectories, one name per trajectory, ps per frame or None) from a task config."""
    stride = int(options.get("stride", 1))
    if options.get("demo"):
        from cgviz import datasets
        from cgviz.io import backbone_dihedral_features

        demo = datasets.load_demo(str(options["demo"]))
        features = [backbone_dihedral_features(t)[::stride] for t in demo.trajectories]
        names = [f"{Path(p).stem}.npy" for p in demo.info.trajectories]
        return features, names, demo.info.frame_time_ps * stride
    if not options.get("data_directory"):
        raise CgvizError("A memnets run needs data_directory (a folder of .npy feature "
                         "files) or demo (a bundled demo name) in its config.")
    features, names = read_feature_directory(options["data_directory"], stride)
    return features, names, None


def read_feature_directory(directory: str | Path, stride: int = 1) -> tuple[list, list[str]]:
    """Every ``.npy`` file of ``directory`` (sorted by name) as one feature trajectory.

    Returns (arrays (n_frames, n_features), file names); CgvizError for a missing or empty
    directory. Used by the ``memnets`` task and by ``python -m cgviz train-memnets``.
    """
    from cgviz.io import load_features

    directory = Path(directory)
    if not directory.is_dir():
        raise CgvizError(f"Data directory '{directory}' does not exist.")
    files = sorted(directory.glob("*.npy"))
    if not files:
        raise CgvizError(f"No .npy files in '{directory}'.",
                         hint="Save each trajectory's features with numpy.save(name.npy, array).")
    return [load_features(path, stride=stride)[0] for path in files], [p.name for p in files]


def check_single_device(devices) -> None:
    """MEMnets trains on one device: refuse several (DDP) instead of silently using one."""
    if len(list(devices)) > 1:
        raise CgvizError(f"MEMnets trains on one device; {len(list(devices))} were given.",
                         hint="Pick one GPU or the CPU (DDP over several is for the "
                         "simulator).")


def run(ctx) -> None:
    """Train MEMnets in a run directory (the ``cgviz.jobs`` task contract)."""
    from cgviz.memnets.export import write_outputs
    from cgviz.memnets.config import MEMnetsConfig
    from cgviz.memnets.estimator import MEMnets

    options = dict(ctx.config)
    known = {f.name for f in fields(MEMnetsConfig)}
    unknown = sorted(set(options) - known - set(_DATA_KEYS))
    if unknown:
        raise CgvizError(f"Unknown memnets run setting(s): {', '.join(unknown)}.",
                         hint=f"Use MEMnetsConfig fields and {', '.join(_DATA_KEYS)}.")
    config = MEMnetsConfig.from_dict({k: v for k, v in options.items() if k in known})
    trajectories, names, _ = load_task_data(options)
    check_single_device(ctx.devices)
    estimator = MEMnets(config, device=ctx.device)
    total = config.n_epochs * len(config.seeds)

    def report(progress) -> bool:
        step = progress.seed_index * config.n_epochs + progress.epoch
        values = {"loss": progress.train.loss, "gamma": progress.train.gamma,
                  "seed": float(progress.seed)}
        record = progress.validation
        if record is not None:
            values["val_loss"] = record.loss
            for mode, (scale, m0) in enumerate(zip(record.timescales_frames, record.m0), 1):
                values[f"val_timescale_{mode}"] = float(scale)
                values[f"val_m0_{mode}"] = float(m0)
        ctx.log(step, epoch=progress.epoch, **values)
        ctx.progress(step, total, epoch=progress.epoch)
        stop = ctx.should_stop()
        if stop or step % ctx.checkpoint_every == 0:
            ctx.save_checkpoint(estimator.training_state(), step, epoch=progress.epoch,
                                total_steps=total)
        return not stop

    estimator.fit(trajectories, callbacks=[report], resume_state=ctx.resume_state)
    if ctx.should_stop():
        return
    write_outputs(estimator, trajectories, names, Path(ctx.run_dir) / "checkpoints")
    ctx.save_checkpoint(estimator.training_state(), total, total_steps=total, final=True)
    ctx.progress(total, total, force=True)


def load_finished_run(run_dir: str | Path):
    """(model, feature trajectories, ps per frame or None, config) of a completed memnets run.

    The model is the last snapshot the run saved (``checkpoints/model_<N>epochs.pt``, loaded
    with ``weights_only=True``); the features are rebuilt from the run's own config.
    """
    import re

    from cgviz import jobs
    from cgviz.memnets.estimator import MEMnetsModel

    run_dir = Path(run_dir)
    spec = jobs.RunSpec.from_file(run_dir / jobs.RUN_FILE)
    if spec.task != "memnets":
        raise CgvizError(f"Run {run_dir.name!r} is a {spec.task} run, not a MEMnets run.")
    snapshots = sorted(
        (run_dir / jobs.CHECKPOINT_DIR).glob("model_*epochs.pt"),
        key=lambda p: int(re.search(r"model_(\d+)epochs", p.name).group(1)))
    if not snapshots:
        raise CgvizError(f"Run {run_dir.name!r} has no saved model yet.",
                         hint="Wait until it completes, or resume it.")
    features, _names, dt = load_task_data(dict(spec.config))
    return MEMnetsModel.load(snapshots[-1]), features, dt, dict(spec.config)
