"""``python -m cgviz train-memnets``: the seed script's command line, through cgviz.

Accepts the seed's flags (``--seed --device --lagtimes --encoder_sizes --decay_rate
--thres --optimizer --learning_rate --n_epochs --save_model_interval --train_split
--train_batch_size --val_batch_size --data_directory --saving_directory``), reads every
``.npy`` file of the data directory (sorted by name) as one trajectory and writes the
seed's files under the seed's names::

    <saving_directory>/<name>/logs/train_args.txt      the arguments
    <saving_directory>/<name>/logs/run.yaml            resolved run file (--run_file repeats it)
    <saving_directory>/<name>/checkpoints/
        training_{loss,lm,m0_tilde,log_lambda_hat,gamma,rmse}.npy        one row per epoch
        validation_{lm,m0_tilde,log_lambda_hat,gamma,Y,Y_predict,rmse}.npy one row per epoch
        model_<N>epochs.pytorch                 the encoder state dict (as the seed)
        model_<N>epochs.pt                      cgviz checkpoint (config + state dict)
        model_<N>epochs_results/model_<N>epochs_{time_scales,log_lambda_hat,m0_tilde,lm,Y,
                                                  Y_predict,rmse}.npy  (float64, all data)
        model_<N>epochs_cvs/cvs_<input file name>  CVs per input file (at the last lag)
        seeds.yaml                              final validation loss of every seed tried

``<name>`` is the seed's ``<date>_memnets_lr_..._n_epochs_<N>`` unless ``--name`` is given.
Training histories are per epoch (the seed's training files were per step). cgviz
extras: ``--seeds`` (several seeds, best kept by validation loss), ``--split blocks``,
``--block_length``, ``--no_match_modes`` and ``--run_file run.yaml`` (a YAML mapping of
the same option names, e.g. ``lagtimes: [1, 7, 8, 9, 10]``).

torch is imported only when the command runs, so ``python -m cgviz --help`` stays fast.
"""

from __future__ import annotations

import argparse
import pprint
from datetime import datetime
from pathlib import Path
from typing import Any

from cgviz.errors import CgvizError

__all__ = ["register", "run_training", "RUN_KEYS"]

#: Options of a run (CLI flag names without dashes); also the keys of a run file.
RUN_KEYS = ("seed", "seeds", "device", "lagtimes", "encoder_sizes", "decay_rate", "thres",
            "optimizer", "learning_rate", "n_epochs", "save_model_interval", "train_split",
            "train_batch_size", "val_batch_size", "data_directory", "saving_directory",
            "split", "block_length", "match_modes", "name", "progress")

_DEFAULTS = {"seed": 1, "seeds": None, "device": "cpu", "decay_rate": 0.005, "thres": 0.015,
             "optimizer": "Adam", "learning_rate": 1e-3, "n_epochs": 50,
             "save_model_interval": None, "train_split": 0.9, "train_batch_size": 10000,
             "val_batch_size": None, "saving_directory": ".", "split": "random",
             "block_length": None, "match_modes": True, "name": None, "progress": True}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``train-memnets`` subcommand to the cgviz command line."""
    parser = sub.add_parser(
        "train-memnets", help="train MEMnets CVs on .npy feature files (the seed's flags)",
        description="Train MEMnets (memory-kernel minimisation) on every .npy file of a "
        "directory and write the seed script's outputs. Flags as the seed's "
        "train_memnets.py (dashed, the underscore spellings work too); or --run-file "
        "run.yaml.")
    def add(flag: str, *more: str, **options: Any) -> None:
        """A dashed flag (--learning-rate) with the seed's underscore spelling as an alias
        (--learning_rate), and the default in the help."""
        dest = options.setdefault("dest", flag.lstrip("-").replace("-", "_"))
        names = [flag.replace("_", "-")] + ([flag] if "_" in flag else []) + [
            m for m in more if m not in (flag, flag.replace("_", "-"))]
        default = _DEFAULTS.get(dest)
        help_text = options.get("help", "")
        if default not in (None, True, False) and "default" not in help_text:
            options["help"] = f"{help_text} (default: {default})"
        parser.add_argument(*names, **options)

    add("--run_file", "--run-file", dest="run_file",
        help="YAML run file with the same option names; flags given too override it")
    add("--seed", type=int, help="random seed (default 1)")
    add("--seeds", type=int, nargs="+", help="several seeds; the best by validation loss is kept")
    add("--device", help="cpu (default), cuda, cuda:N")
    add("--lagtimes", type=int, nargs="+", help="tau_0 tau_1 ... tau_K in frames, e.g. 1 7 8 9 10")
    add("--encoder_sizes", type=int, nargs="+",
        help="layer widths: n_features ... n_cvs, e.g. 30 30 30 30 10 3")
    add("--decay_rate", type=float, help="gamma warm-up decay per step (default 0.005)")
    add("--thres", type=float, help="gamma - 0.5 below which gamma is fixed at 0.5")
    add("--optimizer", help="Adam (default), AdamW, SGD, RMSprop")
    add("--learning_rate", type=float, help="default 1e-3")
    add("--n_epochs", type=int, help="default 50")
    add("--save_model_interval", type=int, help="also save results every this many epochs")
    add("--train_split", type=float, help="fraction of samples for training (default 0.9)")
    add("--train_batch_size", type=int, help="default 10000")
    add("--val_batch_size", type=int, help="frames encoded at a time in evaluation")
    add("--data_directory", help="directory of .npy trajectories (n_frames, n_features)")
    add("--saving_directory", help="where the run directory goes (default .)")
    add("--split", choices=["random", "blocks"], help="validation split (default random)")
    add("--block_length", type=int, help="frames per block for --split blocks")
    add("--no_match_modes", dest="match_modes", action="store_const", const=False,
        help="sort modes per lag like the seed instead of matching them by overlap")
    add("--name", help="run directory name (default: the seed's date-stamped name)")
    add("--no_progress", dest="progress", action="store_const", const=False,
        help="no progress bar")
    parser.set_defaults(func=_command)


def _read_run_file(path: str) -> dict[str, Any]:
    import yaml

    file = Path(path)
    if not file.is_file():
        raise CgvizError(f"Run file '{file}' does not exist.")
    try:
        values = yaml.safe_load(file.read_text())
    except yaml.YAMLError as error:
        raise CgvizError(f"Run file '{file}' is not valid YAML: {error}.") from None
    if not isinstance(values, dict):
        raise CgvizError(f"Run file '{file}' must be a YAML mapping of option names.")
    values = dict(values)
    if isinstance(values.get("config"), dict):  # jobs-style: task/device/config
        values.pop("task", None)
        values.update(values.pop("config"))
    unknown = sorted(set(values) - set(RUN_KEYS))
    if unknown:
        raise CgvizError(f"Run file '{file}' has unknown option(s): {', '.join(unknown)}.",
                         hint=f"Known: {', '.join(RUN_KEYS)}.")
    return values


def _command(args: argparse.Namespace) -> int:
    options = dict(_DEFAULTS)
    if args.run_file:
        options.update(_read_run_file(args.run_file))
    options.update({key: value for key, value in vars(args).items()
                    if key in RUN_KEYS and value is not None})
    run_training(options)
    return 0


def _run_name(options: dict[str, Any]) -> str:
    stamp = datetime.now().strftime("%m_%d_%H_%M")
    return (f"{stamp}_memnets_lr_{options['learning_rate']}_bsz_{options['train_batch_size']}_"
            f"lagtime_{list(options['lagtimes'])}_decay_rate_{options['decay_rate']}_"
            f"thres_{options['thres']}_n_epochs_{options['n_epochs']}")


def _new_directory(parent: Path, name: str, reuse: bool = False) -> Path:
    """``parent/name``, created; when it exists already and the name was made up (two runs
    in the same minute), ``name_2``, ``name_3``, ... instead: runs never share a folder.
    A name the user chose is used as it is."""
    if reuse:
        return parent / name
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = parent / (name if attempt == 1 else f"{name}_{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise CgvizError(f"Too many runs called {name!r} in {parent}.",
                     hint="Give each run its own --name.")


def run_training(options: dict[str, Any]) -> Path:
    """Run a training from resolved options (see ``RUN_KEYS``); returns the run directory."""
    import numpy as np
    import yaml

    from cgviz.memnets.config import MEMnetsConfig
    from cgviz.memnets.estimator import MEMnets
    from cgviz.memnets.task import read_feature_directory

    from cgviz.jobs import sanitize_name

    if options.get("name"):  # a directory name inside --saving_directory, never a path
        options = {**options, "name": sanitize_name(str(options["name"]))}
    for key in ("lagtimes", "encoder_sizes", "data_directory"):
        if options.get(key) in (None, []):
            raise CgvizError(f"--{key} is required (or give it in the run file).",
                             hint="Example: --lagtimes 1 7 8 9 10 --encoder_sizes 4 30 30 3 "
                             "--data_directory ./features")
    data_dir = Path(options["data_directory"])
    trajectories, file_names = read_feature_directory(data_dir)
    n_features = trajectories[0].shape[1]
    sizes = list(options["encoder_sizes"])
    if sizes[0] != n_features:
        raise CgvizError(
            f"--encoder_sizes starts with {sizes[0]}, but the files in '{data_dir}' have "
            f"{n_features} features per frame.",
            hint=f"The first encoder size is the input width: --encoder_sizes {n_features} "
            f"{' '.join(str(s) for s in sizes[1:]) or '... n_cvs'}.")
    seeds = options.get("seeds") or [options["seed"]]
    config = MEMnetsConfig(
        lagtimes=options["lagtimes"], encoder_sizes=sizes,
        learning_rate=options["learning_rate"], optimizer=options["optimizer"],
        n_epochs=options["n_epochs"], train_batch_size=options["train_batch_size"],
        val_batch_size=options["val_batch_size"], decay_rate=options["decay_rate"],
        thres=options["thres"], train_split=options["train_split"], split=options["split"],
        block_length=options["block_length"], seeds=seeds, match_modes=options["match_modes"],
        save_model_interval=options["save_model_interval"])

    name = options.get("name") or _run_name(options)
    if Path(name).name != name or "\\" in name or name in (".", ".."):
        raise CgvizError(f"The run name {name!r} would leave --saving_directory.",
                         hint="Give a plain name with --name.")
    root = _new_directory(Path(options["saving_directory"]), name,
                          reuse=bool(options.get("name")))
    log_dir, model_dir = root / "logs", root / "checkpoints"
    model_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "train_args.txt").write_text(pprint.pformat(options))
    # the resolved run file: absolute paths, every setting (``--run_file`` repeats the run)
    resolved = {"device": str(options["device"]),
                "data_directory": str(data_dir.resolve()),
                "saving_directory": str(Path(options["saving_directory"]).resolve())}
    resolved.update({k: v for k, v in config.to_dict().items() if k in RUN_KEYS})
    (log_dir / "run.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))

    estimator = MEMnets(config, device=options["device"])
    callbacks = []
    bar = None
    if options.get("progress", True):
        from tqdm.auto import tqdm

        bar = tqdm(total=config.n_epochs * len(config.seeds), desc="MEMnets", unit="epoch",
                   dynamic_ncols=True)

        def show(progress) -> None:
            record = progress.validation or progress.train
            bar.set_postfix(seed=progress.seed, loss=f"{record.loss:.4f}",
                            gamma=f"{record.gamma:.3f}")
            bar.update(1)

        callbacks.append(show)
    try:
        estimator.fit(trajectories, callbacks=callbacks)
    finally:
        if bar is not None:
            bar.close()
    from cgviz.memnets.export import write_outputs

    model = write_outputs(estimator, trajectories, file_names, model_dir)
    print(f"MEMnets: kept seed {model.seed}; time scales (frames) "
          f"{np.round(model.estimate(trajectories).time_scales, 2).tolist()} -> {root}")
    return root
