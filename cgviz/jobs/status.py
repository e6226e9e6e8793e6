"""A run's status, metrics, log and checkpoints on disk, read safely after any crash."""

from __future__ import annotations

import contextlib
import csv
import io as _io
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cgviz import peak_memory
from cgviz.errors import CgvizError
from cgviz.jobs._paths import (
    CHECKPOINT_DIR, ENDING_FILE, FINISHED_STATES, LOCK_FILE, LOG_FILE, MEMORY_FILE,
    METRICS_FILE, OWNER_FILE, RESUMABLE_STATES, RUN_FILE, STATES, STATUS_FILE, _base_dir,
    _run_dir, sanitize_name,
)
from cgviz.jobs._locks import _FileLock, _control
from cgviz.jobs.spec import RunSpec


# ----------------------------------------------------------------------------- files


def _atomic_write(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file + rename (never half a file)."""
    payload = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@dataclass(frozen=True)
class RunStatus:
    """The state of one run, as written in status.json (times are Unix seconds).

    ``place`` is the run's place in its device's queue while it is ``queued`` (1 = next),
    ``owner`` who started it (see :func:`can_control`), ``queued_at`` when it last joined
    the queue (a start or a resume; the queue is served in this order).
    """

    name: str
    state: str
    reason: str = ""
    task: str = ""
    device: str = "cpu"
    pid: int | None = None
    created: float | None = None
    started: float | None = None
    ended: float | None = None
    step: int = 0
    total_steps: int | None = None
    epoch: int | None = None
    progress: float | None = None
    eta_s: float | None = None
    last_checkpoint_step: int | None = None
    resumes: int = 0
    owner: str = ""
    queued_at: float | None = None
    place: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE_STATES


def _control_dir(run: str | Path, runs_dir: str | Path | None = None) -> Path:
    """A run that cancel, resume or delete may act on: a directory directly inside the runs
    folder (not a link), given by name or path; CgvizError for anything else."""
    base = _base_dir(runs_dir)
    text = str(run)
    by_name = "/" not in text and "\\" not in text and (base / text / RUN_FILE).exists()
    candidate = base / sanitize_name(text) if by_name or not Path(text).is_dir() else Path(text)
    try:
        inside = (not candidate.is_symlink()
                  and candidate.resolve().parent == base.resolve())
    except OSError:
        inside = False
    if not inside:
        raise CgvizError(
            f"{text!r} is not a run in the runs folder {base}: cancel, resume and delete act "
            "only on runs inside it.",
            hint="Name the run (see `python -m cgviz runs list`), or pass the runs folder "
            "that holds it (--runs-dir / runs_dir=).")
    if not (candidate / RUN_FILE).exists():
        raise CgvizError(f"There is no run {text!r} in {base}.",
                         hint="List the runs with `python -m cgviz runs list`.")
    return candidate


def _write_status(run_dir: Path, status: RunStatus) -> None:
    _atomic_write(run_dir / STATUS_FILE, json.dumps(asdict(status), indent=1) + "\n")


def _try_write_status(run_dir: Path, status: RunStatus) -> bool:
    try:
        _write_status(run_dir, status)
        return True
    except OSError:
        return False


def _status_from_dict(data: Any) -> RunStatus:
    if not isinstance(data, dict) or data.get("state") not in STATES or not data.get("name"):
        raise ValueError("no valid state")
    known = RunStatus.__dataclass_fields__
    return RunStatus(**{k: v for k, v in data.items() if k in known})


def _read_status_file(run_dir: Path) -> RunStatus:
    return _status_from_dict(json.loads((run_dir / STATUS_FILE).read_text()))


def _read_status_safely(run_dir: Path) -> tuple[RunStatus | None, str]:
    try:
        return _read_status_file(run_dir), ""
    except (OSError, ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        return None, f"{type(exc).__name__}: {exc}"


def _lock_is_held(run_dir: Path) -> bool:
    """True while some process drives the run (holds its lock: queued or running). When the
    lock cannot even be checked (no permission, no space for the file) the answer is True:
    nothing is then declared dead."""
    path = run_dir / LOCK_FILE
    if not path.exists():
        return False
    lock = _FileLock(path)
    try:
        if not lock.try_acquire():
            return True
    except OSError:
        return True
    lock.release()
    return False


def _last_checkpoint_info(run_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((run_dir / CHECKPOINT_DIR / "last.json").read_text())
        return info if isinstance(info, dict) else None
    except (OSError, ValueError):
        return None


def _read_owner(run_dir: Path) -> str:
    try:
        return (run_dir / OWNER_FILE).read_text().strip()
    except OSError:
        return ""


def _read_ending(run_dir: Path) -> RunStatus | None:
    """The ending a driver recorded in place when it could not rewrite status.json."""
    try:
        text = (run_dir / ENDING_FILE).read_bytes().decode(errors="replace").strip("\0 \n")
        return _status_from_dict(json.loads(text)) if text else None
    except (OSError, ValueError, TypeError):
        return None


def _rebuild_status(run_dir: Path, problem: str, write: bool = True) -> RunStatus:
    """status.json is unreadable: rebuild it from the run file, lock, checkpoint and metrics."""
    try:
        spec = RunSpec.from_file(run_dir / RUN_FILE)
        task, device = spec.task, spec.device
    except CgvizError as exc:
        task, device = "?", "cpu"
        problem += f"; the run file is not valid either ({exc.problem})"
    info = _last_checkpoint_info(run_dir) or {}
    try:
        rows = _read_metrics_rows(run_dir)
        step = max([int(info.get("step", 0))]
                   + [int(float(r["step"])) for r in rows if r.get("step")])
    except (OSError, ValueError):
        step = int(info.get("step", 0) or 0)
    ending = _read_ending(run_dir)
    if _lock_is_held(run_dir):
        state, why = "running", ""
    elif ending is not None and ending.finished:
        state, why = ending.state, f"; it had ended: {ending.reason}"
    elif info.get("final"):
        state, why = "completed", ""
    else:
        state, why = "interrupted", "; resumable from its last checkpoint" if info else ""
    status = RunStatus(
        name=run_dir.name, state=state, task=task, device=device, step=step,
        last_checkpoint_step=info.get("step"), total_steps=info.get("total_steps"),
        owner=_read_owner(run_dir),
        reason=f"status.json was unreadable ({problem}); rebuilt from the run's other "
        f"files{why}.",
    )
    if write and state != "running":
        _try_write_status(run_dir, status)
    return status


def status(run: str | Path, runs_dir: str | Path | None = None) -> RunStatus:
    """The current status of a run (by name or directory).

    A run that says queued/running but whose driving process is gone is reported (and
    recorded, when the disk allows) as ``interrupted``, or with the ending its driver
    recorded in place when the disk was full. An unreadable status.json is rebuilt from
    the other files, and the reason says so. Never raises for a run folder that a crash,
    a full disk or a race left behind (only CgvizError for a run that does not exist).
    """
    return _status_of(_run_dir(run, runs_dir))


def _status_of(run_dir: Path, have_control: bool = False) -> RunStatus:
    current, problem = _read_status_safely(run_dir)
    if current is not None and (current.finished or _lock_is_held(run_dir)):
        return current
    # The driver may be dead: decide under the control lock, which every launch holds, so
    # that a new launch is never mistaken for the dead driver.
    with contextlib.nullcontext(True) if have_control else _control(run_dir) as locked:
        current, problem = _read_status_safely(run_dir)
        if _lock_is_held(run_dir):
            return current or _rebuild_status(run_dir, problem, write=False)
        if current is None:
            return _rebuild_status(run_dir, problem, write=locked)
        if current.finished:
            return current
        if current.state == "queued" and current.pid is None and (
                time.time() - (current.created or 0.0) < 60):
            return current  # created a moment ago; its launch (or drive) comes next
        ending = _read_ending(run_dir)
        if (ending is not None and ending.finished and ending.name == current.name
                and (ending.ended or 0.0) >= (current.queued_at or 0.0)):
            repaired = replace(ending, place=None)
        elif current.state == "running":
            checkpoint = current.last_checkpoint_step
            repaired = replace(
                current, state="interrupted", ended=time.time(), eta_s=None, place=None,
                reason=f"The process (PID {current.pid}) ended without finishing (killed, "
                "crashed or the machine went down)."
                + peak_memory.killed_reason(run_dir / MEMORY_FILE)
                + " Resume it to continue from the last "
                + ("checkpoint." if checkpoint is None else f"checkpoint (step {checkpoint})."))
        else:
            repaired = replace(
                current, state="interrupted", ended=time.time(), eta_s=None, place=None,
                reason=f"The process (PID {current.pid}) ended before the run started; see "
                f"{LOG_FILE}. Resume it to try again.")
        if locked:
            _try_write_status(run_dir, repaired)
        return repaired


def list_runs(runs_dir: str | Path | None = None) -> list[RunStatus]:
    """Every run in ``runs_dir``, newest first."""
    base = _base_dir(runs_dir)
    if not base.is_dir():
        return []
    found = []
    for child in base.iterdir():
        if not child.is_symlink() and (child / RUN_FILE).exists():
            found.append(_status_of(child))
    return sorted(found, key=lambda s: s.created or 0.0, reverse=True)


def queue(runs_dir: str | Path | None = None) -> list[RunStatus]:
    """The queued runs of ``runs_dir`` in the order they will start (``place`` 1 first;
    the place is per device: runs on different devices do not wait for each other)."""
    waiting = [s for s in list_runs(runs_dir) if s.state == "queued"]
    return sorted(waiting, key=lambda s: (s.place or 10**9, s.queued_at or s.created or 0.0))


def _read_metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / METRICS_FILE
    if not path.exists():
        return []
    text = path.read_text(errors="replace")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # a torn last line (killed mid-write)
    reader = csv.DictReader(_io.StringIO(text))
    return [row for row in reader if None not in row and row.get("step")]


def metrics(run: str | Path, runs_dir: str | Path | None = None):
    """The logged metrics of a run as a pandas DataFrame (one row per logged step)."""
    import pandas as pd

    rows = _read_metrics_rows(_run_dir(run, runs_dir))
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def read_log(run: str | Path, runs_dir: str | Path | None = None, tail_bytes: int = 20_000) -> str:
    """The end of a run's log.txt."""
    path = _run_dir(run, runs_dir) / LOG_FILE
    if not path.exists():
        return ""
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - tail_bytes))
        return handle.read().decode(errors="replace")


def metrics_csv(run: str | Path, runs_dir: str | Path | None = None) -> str:
    """A run's metrics as CSV text: every complete row of metrics.csv (a line torn by a
    kill is left out), the header first; '' before anything was logged."""
    rows = _read_metrics_rows(_run_dir(run, runs_dir))
    if not rows:
        return ""
    out = _io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def take_away_files(run: str | Path, runs_dir: str | Path | None = None) -> dict[str, Path]:
    """What a user takes away from a run, as far as it exists yet: ``"run file"``
    (run.yaml, to repeat it), ``"last checkpoint"`` (checkpoints/last.pt, loadable
    weights-only) and ``"metrics"`` (metrics.csv; :func:`metrics_csv` cleans it)."""
    folder = _run_dir(run, runs_dir)
    files = {"run file": folder / RUN_FILE, "last checkpoint": folder / CHECKPOINT_DIR / "last.pt",
             "metrics": folder / METRICS_FILE}
    return {name: path for name, path in files.items() if path.is_file()}


