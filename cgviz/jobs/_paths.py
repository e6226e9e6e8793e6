"""Run folders: their files, the task registry, and where runs live."""

from __future__ import annotations

import os
import re
from pathlib import Path

from cgviz.errors import CgvizError


STATES = ("queued", "running", "completed", "failed", "cancelled", "interrupted")
FINISHED_STATES = ("completed", "failed", "cancelled", "interrupted")
RESUMABLE_STATES = ("interrupted", "cancelled", "failed")

#: cgviz's own tasks: name -> "module:function" (imported only when a run starts).
TASKS: dict[str, str] = {
    "memnets": "cgviz.memnets.task:run",
    "simulator": "cgviz.training.simulator:run",
}
#: The operator's extra tasks: "name=module:function,..." (never read from a run file).
TASKS_ENV = "CGVIZ_TASKS"
#: The operator's queue limits, e.g. "cpu=2,cuda=1,cuda:1=2".
MAX_RUNS_ENV = "CGVIZ_MAX_RUNS"
#: Set to 1 by the operator to let every visitor cancel, resume and delete every run.
SHARED_CONTROL_ENV = "CGVIZ_SHARED_CONTROL"

RUN_FILE = "run.yaml"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.csv"
LOG_FILE = "log.txt"
LOCK_FILE = ".lock"
CANCEL_FILE = "cancel.request"
CHECKPOINT_DIR = "checkpoints"
CONTROL_LOCK_FILE = ".control.lock"
ENDING_FILE = ".ending"
RESERVE_FILE = ".space-reserve"
OWNER_FILE = ".owner"
MEMORY_FILE = ".peak-memory.json"
QUEUE_DIR = ".queue"
_LOCK_FD_ENV = "CGVIZ_DRIVER_LOCK_FD"
_ENDING_BYTES = 4096
_RESERVE_BYTES = 64 * 1024
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def default_runs_dir() -> Path:
    """``$CGVIZ_RUNS_DIR`` if set, else ``./runs`` (relative to the working directory)."""
    return Path(os.environ.get("CGVIZ_RUNS_DIR", "runs"))


def registered_tasks() -> dict[str, str]:
    """The tasks a run file may name: ``TASKS`` plus the operator's ``$CGVIZ_TASKS``."""
    tasks = dict(TASKS)
    for item in os.environ.get(TASKS_ENV, "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, target = (part.strip() for part in item.partition("="))
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,63}", key) or not re.fullmatch(
                r"[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*", target):
            raise CgvizError(f"${TASKS_ENV} entry {item!r} is not 'name=module:function'.",
                             hint=f"The operator sets ${TASKS_ENV}, e.g. "
                             "'mytask=mypackage.tasks:train'.")
        tasks.setdefault(key, target)  # cgviz's own tasks cannot be replaced
    return tasks


def _unknown_task_hint() -> str:
    return (f"A run file names one of the known tasks: {', '.join(sorted(registered_tasks()))}. "
            f"(The operator can register more with ${TASKS_ENV}='name=module:function'.)")


def sanitize_name(name: str) -> str:
    """A safe directory name for a run, or CgvizError.

    Whitespace becomes '-'; anything that could leave the runs directory (a path
    separator, '..', a leading dot) is refused rather than rewritten.
    """
    if not isinstance(name, str):
        raise CgvizError(f"A run name must be a string, got {type(name).__name__}.")
    cleaned = re.sub(r"\s+", "-", name.strip())
    if "/" in cleaned or "\\" in cleaned or ".." in cleaned or not _NAME_PATTERN.match(cleaned):
        raise CgvizError(
            f"Run name {name!r} is not allowed.",
            hint="Use 1-80 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(no '/', no '..').",
        )
    return cleaned


def _base_dir(runs_dir: str | Path | None) -> Path:
    return Path(runs_dir) if runs_dir is not None else default_runs_dir()


def _run_dir(run: str | Path, runs_dir: str | Path | None = None) -> Path:
    """A run given by name (in runs_dir) or by its directory path (for reading only)."""
    path = Path(run)
    if path.is_dir() and (path / RUN_FILE).exists():
        return path
    base = _base_dir(runs_dir)
    candidate = base / sanitize_name(str(run))
    if not (candidate / RUN_FILE).exists():
        raise CgvizError(f"There is no run {str(run)!r} in {base}.",
                         hint="List the runs with `python -m cgviz runs list`.")
    return candidate


def run_dir(run: str | Path, runs_dir: str | Path | None = None) -> Path:
    """The directory of a run given by name or path (CgvizError if there is none)."""
    return _run_dir(run, runs_dir)


