"""CVs as files a researcher takes away: ``.npy`` per trajectory and one long CSV.

numpy only (no torch), so the app can offer the download without loading the model code.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["cv_table_csv", "cv_files_zip", "write_cv_files"]


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
