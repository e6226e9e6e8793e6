"""CVs as files a researcher takes away: ``.npy`` per trajectory and one long CSV.

numpy only (no torch), so the app can offer the download without loading the model code.

:func:`write_outputs` writes the published script's result files of a fitted model (the
``train-memnets`` command and the memnets run task both use it).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cv_table_csv", "cv_files_zip", "write_cv_files", "write_outputs"]


def _named_sets(cv_sets: Any) -> dict[str, list[np.ndarray]]:
    if not isinstance(cv_sets, dict):
        cv_sets = {"cvs": cv_sets}
    named = {}
    for name, cvs in cv_sets.items():
        arrays = [cvs] if isinstance(cvs, np.ndarray) else list(cvs)
        named[str(name)] = [np.asarray(a, dtype=np.float64).reshape(len(a), -1) for a in arrays]
    return named


def cv_table_csv(cv_sets: Any, dt_ps: float | None = None) -> str:
    """One CSV row per frame: ``cvs, trajectory, frame, time_ps, cv1, cv2, ...``.

    Parameters
    ----------
    cv_sets : a list of (n_frames, n_cvs) arrays (one per trajectory), or a dict of such
        lists by name (e.g. {"MEMnets": ..., "TICA": ...}); sets may differ in n_cvs
        (missing columns are left empty)
    dt_ps : ps between frames (the time column is left empty without it)
    """
    named = _named_sets(cv_sets)
    width = max(a.shape[1] for arrays in named.values() for a in arrays)
    lines = ["cvs,trajectory,frame,time_ps," + ",".join(f"cv{i + 1}" for i in range(width))]
    for name, arrays in named.items():
        for index, values in enumerate(arrays):
            frames = np.arange(len(values))
            times = frames * dt_ps if dt_ps else None
            for frame in frames:
                cells = [f"{v:.8g}" for v in values[frame]] + [""] * (width - values.shape[1])
                time = "" if times is None else f"{times[frame]:.6g}"
                lines.append(f"{name},{index},{frame},{time}," + ",".join(cells))
    return "\n".join(lines) + "\n"


def _npy_bytes(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    return buffer.getvalue()


def cv_files_zip(cv_sets: Any, dt_ps: float | None = None) -> bytes:
    """A zip of ``<set>_traj<i>.npy`` (float64, (n_frames, n_cvs)) and ``cvs.csv``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, arrays in _named_sets(cv_sets).items():
            for index, values in enumerate(arrays):
                archive.writestr(f"{name}_traj{index}.npy", _npy_bytes(values))
        archive.writestr("cvs.csv", cv_table_csv(cv_sets, dt_ps))
    return buffer.getvalue()


def write_cv_files(cv_sets: Any, directory: str | Path, dt_ps: float | None = None) -> Path:
    """Write what :func:`cv_files_zip` holds into ``directory`` (created); returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(cv_files_zip(cv_sets, dt_ps))) as archive:
        archive.extractall(directory)
    return directory


def write_outputs(estimator: Any, trajectories: list, file_names: list[str],
                  model_dir: Path) -> Any:
    """Write the seed script's result files for a fitted ``MEMnets`` into ``model_dir``.

    Parameters
    ----------
    estimator : a fitted :class:`~cgviz.memnets.estimator.MEMnets`
    trajectories : the (n_frames, n_features) arrays it was trained on
    file_names : one name per trajectory, for ``cvs_<name>`` (e.g. "traj0.npy")
    model_dir : the seed's ``checkpoints`` directory (created if missing)

    Returns
    -------
    the kept :class:`~cgviz.memnets.estimator.MEMnetsModel`
    """
    import numpy as np
    import torch
    import yaml

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    model = estimator.fetch_model()
    history = model.history
    config = model.config

    def save(name: str, values: Any) -> None:
        np.save(model_dir / name, np.asarray(values))

    for split, fields in (("training", ("loss", "lm", "m0", "log_lambda_hat", "gamma", "rmse")),
                          ("validation", ("lm", "m0", "log_lambda_hat", "gamma", "rmse"))):
        source = "train" if split == "training" else "validation"
        for field in fields:
            seed_name = "m0_tilde" if field == "m0" else field
            save(f"{split}_{seed_name}.npy", history.array(field, source))
    if history.validation:
        save("validation_Y.npy", history.array("log_lambda", "validation")[:, 1:])
        save("validation_Y_predict.npy", history.array("log_lambda_fit", "validation")[:, 1:])
    (model_dir / "seeds.yaml").write_text(yaml.safe_dump(
        {"kept_seed": model.seed, "final_validation_loss": {int(k): float(v) for k, v in
                                                            model.seed_losses.items()}}))
    for epoch in sorted(estimator.snapshots):
        snapshot = estimator.model_at(epoch)
        torch.save(snapshot.lobe.state_dict(), model_dir / f"model_{epoch}epochs.pytorch")
        snapshot.save(model_dir / f"model_{epoch}epochs.pt")
        results = model_dir / f"model_{epoch}epochs_results"
        cv_dir = model_dir / f"model_{epoch}epochs_cvs"
        results.mkdir(exist_ok=True)
        cv_dir.mkdir(exist_ok=True)
        estimate = snapshot.estimate(trajectories)
        for field, values in (("time_scales", estimate.time_scales),
                              ("log_lambda_hat", estimate.log_lambda_hat),
                              ("m0_tilde", estimate.m0), ("lm", estimate.lm), ("Y", estimate.Y),
                              ("Y_predict", estimate.Y_predict), ("rmse", estimate.rmse)):
            np.save(results / f"model_{epoch}epochs_{field}.npy", values)
        cvs = snapshot.cvs(trajectories, tau=config.lagtimes[-1])
        for name, cv in zip(file_names, cvs):
            np.save(cv_dir / f"cvs_{name}", cv)
        (cv_dir / "cvs.csv").write_text(cv_table_csv({"MEMnets": cvs}))
    return model
