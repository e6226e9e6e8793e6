"""Training runs that live on disk: start, watch, cancel, resume, survive a kill.

A run is a directory (default ``runs/<name>/``) driven by its own process,
``python -m cgviz run <dir>``, started detached (own session, output to ``log.txt``), so a
Streamlit rerun, a closed notebook or the exit of the starting process does not touch it.

Files of a run::

    run.yaml          the resolved run file: task, device, checkpoint interval, task config
                      (enough to repeat the run: ``python -m cgviz runs start run.yaml``)
    status.json       state, reason, times, PID, device, step/progress/ETA (atomic rewrite)
    metrics.csv       one row per logged step: step, epoch, time_s, every logged value
    checkpoints/      step_<N>.pt every ``checkpoint_every`` steps, last.pt, last.json
    log.txt           the driving process's stdout and stderr
    .lock             held (flock) by the one process that drives the run
    .control.lock     held for a moment by whoever launches the run or repairs its status
    .ending           a preallocated record of how the run ended (for a full disk)
    .space-reserve    64 KiB given back on a full disk so that the ending can be recorded

States: queued, running, completed, failed, cancelled, interrupted. A run whose driver died
without a word (kill -9, power loss, OOM killer) is seen as ``interrupted`` because its lock
is free while status.json still says running; ``resume`` continues from the last checkpoint
with the step counter and the metrics of that checkpoint.

Every file except the two append-only logs (metrics.csv, log.txt) is written to a temporary
file and renamed into place. metrics.csv gets whole lines in single appends; a torn last line
(a kill in the middle of a write) is ignored on reading and cut off on resume, together with
rows logged after the checkpoint the run resumes from.

A task is a function ``task(ctx: RunContext) -> None``, named in a run file by its key in
the task registry: cgviz's own ``TASKS`` plus what the operator registers in the
environment, ``CGVIZ_TASKS="name=module:function,..."``. A run file cannot name a module
or function itself; anything that is not a registry key is refused.

One driver per run: the launcher takes the run's lock (``.lock``) before the driver process
exists and hands it to the driver, so two resumes at the same moment launch one driver and
the other is refused. A status check that finds a dead driver repairs status.json under
``.control.lock``, which every launch also holds, so a repair never overwrites a new launch.

Queue: a driver first waits (state ``queued``, with its ``place``) for a slot of its device:
``CGVIZ_MAX_RUNS`` (default ``cpu=1,cuda=1``: one run on the CPU, one per GPU; ``cuda:1=2``
sets one GPU) runs per device in one runs folder. Slots are file locks in
``<runs folder>/.queue/``, held by the drivers, so a killed driver frees its slot.

Owners: a run records who started it (``owner``: a browser session, or ``cli:<user>``).
:func:`cancel`, :func:`resume` and :func:`delete` given an ``owner`` refuse other owners'
runs unless the operator sets ``CGVIZ_SHARED_CONTROL=1`` (see :func:`can_control`).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io as _io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from cgviz import peak_memory
from cgviz.errors import CgvizError

try:  # POSIX; on Windows runs are locked with msvcrt (and the launcher hands over no lock)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt

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


# ----------------------------------------------------------------------------- locks


class _FileLock:
    """An exclusive lock on a file that the OS frees when the holder dies (flock on POSIX).

    Every acquisition opens the file anew, so two threads of one process exclude each other
    too. The lock file is never deleted (deleting it would race other lockers).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.handle: Any = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; OSError if the file cannot be opened."""
        handle = open(self.path, "a+")
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:  # pragma: no cover - Windows
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            handle.close()
            return False
        self.handle = handle
        return True

    def acquire(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not self.try_acquire():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def fileno(self) -> int:
        return self.handle.fileno()

    def release(self) -> None:
        """Close this handle. With flock that frees the lock unless a child process holds a
        copy of the handle (the launcher hands the run lock over this way)."""
        if self.handle is None:
            return
        if fcntl is None:  # pragma: no cover - Windows
            with contextlib.suppress(OSError):
                self.handle.seek(0)
                msvcrt.locking(self.handle.fileno(), msvcrt.LK_UNLCK, 1)
        self.handle.close()
        self.handle = None


@contextlib.contextmanager
def _control(run_dir: Path, timeout_s: float = 15.0):
    """Hold the run's control lock (launches and status repairs); yields False if it could
    not be taken (held too long by another process, or the file cannot be opened)."""
    lock = _FileLock(run_dir / CONTROL_LOCK_FILE)
    try:
        locked = lock.acquire(timeout_s)
    except OSError:
        locked = False
    try:
        yield locked
    finally:
        lock.release()


# ----------------------------------------------------------------------------- run file


@dataclass(frozen=True)
class RunSpec:
    """What a run does: the contents of ``run.yaml``.

    Attributes
    ----------
    task: a key of the task registry (``TASKS``: "memnets", "simulator"; plus the
        operator's ``$CGVIZ_TASKS``). Never a module path: a run file runs no code of its own.
    config: the task's own configuration (plain YAML types).
    device: "cpu", "cuda", "cuda:N", or "cuda:0,1,..." for DDP over several GPUs.
    checkpoint_every: save a numbered checkpoint every this many steps (last.pt always).
    name: the run's name (a directory name: letters, digits, '.', '_', '-').
    """

    task: str
    config: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    checkpoint_every: int = 100
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.task, str) or not self.task:
            raise CgvizError("A run needs a task.", hint=_unknown_task_hint())
        if self.task not in registered_tasks():
            raise CgvizError(f"Unknown task {self.task!r}.", hint=_unknown_task_hint())
        if self.name:
            sanitize_name(self.name)
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 1:
            raise CgvizError(f"checkpoint_every must be a positive integer, got "
                             f"{self.checkpoint_every!r}.")
        if not isinstance(self.config, dict):
            raise CgvizError("The task config of a run must be a mapping.")
        parse_device(self.device)

    def to_yaml(self) -> str:
        import yaml

        data = {"cgviz_run": 1, **asdict(self)}
        return yaml.safe_dump(data, sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str, source: str = "run file") -> RunSpec:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CgvizError(f"The {source} is not valid YAML ({exc}).") from exc
        if not isinstance(data, dict):
            raise CgvizError(f"The {source} must be a YAML mapping with a 'task' key.",
                             hint="Write e.g. 'task: simulator' and 'config: {preset: "
                             "cpu-demo}' on their own lines.")
        data = dict(data)
        data.pop("cgviz_run", None)
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise CgvizError(f"The {source} has unknown keys: {sorted(unknown)}.",
                             hint=f"Allowed: {sorted(cls.__dataclass_fields__)}.")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> RunSpec:
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise CgvizError(f"Cannot read run file {path}: {exc.strerror}.") from exc
        return cls.from_yaml(text, source=f"run file {path}")


def parse_device(device: str) -> list[str]:
    """``"cpu"`` -> ["cpu"]; ``"cuda:0,1"`` -> ["cuda:0", "cuda:1"]; validates the form."""
    if not isinstance(device, str):
        raise CgvizError(f"device must be a string like 'cpu' or 'cuda:0', got {device!r}.")
    if device == "cpu":
        return ["cpu"]
    cpu_processes = re.fullmatch(r"cpu:(\d+)", device)
    if cpu_processes:  # DDP over N CPU processes (gloo): for tests and many-core machines
        n = int(cpu_processes.group(1))
        if not 1 <= n <= (os.cpu_count() or 1) * 4:
            raise CgvizError(f"Device {device!r}: the number of CPU processes must be 1.."
                             f"{(os.cpu_count() or 1) * 4}.")
        return ["cpu"] * n
    match = re.fullmatch(r"cuda(?::(\d+(?:,\d+)*))?", device)
    if not match:
        raise CgvizError(f"Unknown device {device!r}.",
                         hint="Use 'cpu', 'cpu:2' (DDP over 2 CPU processes), 'cuda', 'cuda:N' "
                         "or 'cuda:0,1' (DDP over two GPUs).")
    if match.group(1) is None:
        return ["cuda:0"]
    indices = [int(i) for i in match.group(1).split(",")]
    if len(set(indices)) != len(indices):
        raise CgvizError(f"Device {device!r} names a GPU twice.")
    return [f"cuda:{i}" for i in indices]


@dataclass(frozen=True)
class CudaDevice:
    """One CUDA device: index, name, free and total memory in bytes."""

    index: int
    name: str
    free_bytes: int
    total_bytes: int


def devices() -> list[CudaDevice]:
    """The CUDA devices this machine has (empty on a CPU-only machine).

    Without an NVIDIA driver (no ``nvidia-smi``) the answer is an empty list at once,
    without importing torch (which takes seconds), so pages that list devices stay fast.
    """
    import shutil

    if shutil.which("nvidia-smi") is None:
        return []
    import torch

    if not torch.cuda.is_available():
        return []
    found = []
    for index in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(index)
        found.append(CudaDevice(index, torch.cuda.get_device_name(index), int(free), int(total)))
    return found


def device_summary() -> str:
    """One line about the compute here, without importing torch (for fast pages):
    the GPUs from ``nvidia-smi`` with their free memory, else the CPU count."""
    import shutil

    cpus = f"{os.cpu_count() or 1} CPU cores"
    if shutil.which("nvidia-smi") is None:
        return f"CPU only ({cpus})"
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return f"CPU only ({cpus}; nvidia-smi did not answer)"
    gpus = [line.split(", ") for line in out.strip().splitlines() if line.count(", ") >= 2]
    if not gpus:
        return f"CPU only ({cpus})"
    listed = "; ".join(f"GPU {i}: {name} ({int(free) / 1024:.1f} GiB free)" for i, name, free in gpus)
    return f"{listed}; {cpus}"


def _check_device_available(device: str) -> None:
    wanted = parse_device(device)
    if set(wanted) == {"cpu"}:
        return
    present = {f"cuda:{d.index}" for d in devices()}
    missing = [d for d in wanted if d not in present]
    if missing:
        raise CgvizError(
            f"Device {device!r} is not available here ({len(present)} CUDA device(s) found).",
            hint="Pick 'cpu' or one of the GPUs listed by cgviz.jobs.devices().",
        )


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


def run_dir(run: str | Path, runs_dir: str | Path | None = None) -> Path:
    """The directory of a run given by name or path (CgvizError if there is none)."""
    return _run_dir(run, runs_dir)


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


# ----------------------------------------------------------------------------- owners


def local_owner() -> str:
    """The owner of runs started from this shell: ``cli:<user name>``."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name (some containers)
        return "cli"


def shared_control() -> bool:
    """True when the operator lets every visitor control every run ($CGVIZ_SHARED_CONTROL)."""
    return os.environ.get(SHARED_CONTROL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def can_control(run_status: RunStatus, owner: str | None) -> bool:
    """May ``owner`` cancel, resume or delete this run? ``None`` is the operator (the CLI,
    a notebook): always. A visitor (a browser session id) controls only its own runs,
    unless the operator set ``CGVIZ_SHARED_CONTROL=1``; everyone may watch every run."""
    if owner is None or shared_control():
        return True
    return bool(run_status.owner) and run_status.owner == owner


def _check_control(run_status: RunStatus, owner: str | None, action: str) -> None:
    if not can_control(run_status, owner):
        raise CgvizError(
            f"Run {run_status.name!r} was started by someone else; you can watch it but not "
            f"{action} it.",
            hint=f"Ask its owner, or the operator (who can allow shared control with "
            f"{SHARED_CONTROL_ENV}=1).")


# ----------------------------------------------------------------------------- queue


def _queue_keys(device: str) -> list[str]:
    """The slots a run on ``device`` needs: ["cpu"] for any CPU run, else one per GPU."""
    try:
        wanted = parse_device(device)
    except CgvizError:
        return ["cpu"]
    return ["cpu"] if set(wanted) == {"cpu"} else sorted(set(wanted))


def queue_limits() -> dict[str, int]:
    """Runs allowed at once per device: ``$CGVIZ_MAX_RUNS`` ("cpu=1,cuda=1,cuda:1=2") over
    the defaults cpu=1, cuda=1 (each GPU)."""
    limits = {"cpu": 1, "cuda": 1}
    for item in os.environ.get(MAX_RUNS_ENV, "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, value = (part.strip() for part in item.partition("="))
        if not re.fullmatch(r"cpu|cuda|cuda:\d+", key) or not value.isdigit() or int(value) < 1:
            raise CgvizError(f"${MAX_RUNS_ENV} entry {item!r} is not 'device=N' (N >= 1).",
                             hint="Example: CGVIZ_MAX_RUNS='cpu=2,cuda=1,cuda:1=2'.")
        limits[key] = int(value)
    return limits


def _limit(key: str, limits: dict[str, int]) -> int:
    return limits.get(key, limits["cuda"] if key.startswith("cuda") else 1)


def _queue_place(run_dir: Path, me: RunStatus, keys: list[str]) -> int:
    """1 + the number of live queued runs of the same runs folder that share a device with
    this one and joined the queue before it."""
    mine = (me.queued_at or me.created or 0.0, me.name)
    ahead = 0
    for other in run_dir.parent.iterdir():
        if other.name == run_dir.name or not (other / RUN_FILE).exists():
            continue
        theirs, _ = _read_status_safely(other)
        if (theirs is None or theirs.state != "queued"
                or not set(_queue_keys(theirs.device)) & set(keys)):
            continue
        if (theirs.queued_at or theirs.created or 0.0, theirs.name) < mine and _lock_is_held(other):
            ahead += 1
    return ahead + 1


def _take_slots(run_dir: Path, keys: list[str]) -> list[_FileLock] | None:
    """One free slot lock for each key (all or none)."""
    directory = run_dir.parent / QUEUE_DIR
    directory.mkdir(exist_ok=True)
    limits = queue_limits()
    taken: list[_FileLock] = []
    for key in keys:
        for index in range(_limit(key, limits)):
            lock = _FileLock(directory / f"{key.replace(':', '-')}.{index}.lock")
            if lock.try_acquire():
                taken.append(lock)
                break
        else:
            for lock in taken:
                lock.release()
            return None
    return taken


# ----------------------------------------------------------------------------- control


_CHILDREN: list[subprocess.Popen] = []


def _launch(run_dir: Path, resume: bool, record: Callable[[int], None]) -> None:
    """Start the detached driver holding the run's lock; ``record(pid)`` runs before the
    driver may write anything. Call with the control lock held.

    The lock is taken here, before the driver exists, and handed to it as an inherited file
    descriptor (its number in ``$CGVIZ_DRIVER_LOCK_FD``): a second launch at the same moment finds it taken and is
    refused (CgvizError), so there is never a second driver, nor a PID of one in status.json.
    The driver waits for EOF on its stdin (``--wait-for-launcher``), which comes when this
    function closes the pipe (or when the launcher dies), so the launcher's status write can
    never overwrite the driver's.
    """
    command = [sys.executable, "-m", "cgviz", "run", str(run_dir.resolve()),
               "--wait-for-launcher"]
    if resume:
        command.append("--resume")
    lock = _FileLock(run_dir / LOCK_FILE)
    try:
        locked = lock.try_acquire()
    except OSError as exc:
        raise CgvizError(f"Cannot lock run {run_dir.name!r}: {exc.strerror}.",
                         hint="Check that the runs folder is writable and not full.") from exc
    if not locked:
        raise CgvizError(f"Run {run_dir.name!r} is already queued or running.",
                         hint="Watch it, or cancel it first.")
    pass_fds: tuple[int, ...] = ()
    env = dict(os.environ)
    env.pop(_LOCK_FD_ENV, None)
    if fcntl is not None:
        env[_LOCK_FD_ENV] = str(lock.fileno())
        pass_fds = (lock.fileno(),)
    else:  # pragma: no cover - Windows: no handing over; the driver takes the lock itself
        lock.release()
    try:
        log = open(run_dir / LOG_FILE, "ab")
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=os.getcwd(), pass_fds=pass_fds, env=env,
            )
        finally:
            log.close()
    except OSError as exc:
        lock.release()
        raise CgvizError(f"Cannot start the driver of run {run_dir.name!r}: {exc}.") from exc
    lock.release()  # the driver holds its own copy of the locked handle now
    try:
        record(process.pid)
    finally:
        process.stdin.close()
    _CHILDREN.append(process)
    # Reap it when it ends so a long-lived UI process collects no zombies.
    threading.Thread(target=process.wait, daemon=True).start()


def _preallocate(path: Path, size: int) -> None:
    """A file of ``size`` bytes (written, so its blocks are really taken); best effort."""
    try:
        with open(path, "wb") as handle:
            handle.write(b" " * size if path.name == ENDING_FILE else b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        with contextlib.suppress(OSError):
            path.unlink()


def create(spec: RunSpec | dict[str, Any], runs_dir: str | Path | None = None,
           device: str | None = None, name: str | None = None, owner: str | None = None
           ) -> Path:
    """Create ``runs_dir/<name>/`` with its run file and a queued status; launch nothing.

    ``owner`` (default :func:`local_owner`) is recorded in the status. ``start`` = ``create``
    + a detached driver; the CLI's foreground training = ``create`` + ``drive`` in the same
    process.
    """
    if isinstance(spec, dict):
        spec = RunSpec(**spec)
    if device is not None:
        spec = replace(spec, device=device)
    chosen = sanitize_name(
        name or spec.name
        or f"{spec.task.split(':')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}")
    spec = replace(spec, name=chosen)
    owner = local_owner() if owner is None else str(owner)
    _check_device_available(spec.device)
    base = _base_dir(runs_dir)
    target = base / chosen
    if base.exists() and not base.is_dir():
        raise CgvizError(f"The runs folder {base} is a file, not a folder.",
                         hint="Point --runs-dir (or $CGVIZ_RUNS_DIR) at a folder, or move "
                         "the file away.")
    try:
        base.mkdir(parents=True, exist_ok=True)
        target.mkdir()
    except FileExistsError as exc:
        raise CgvizError(f"A run called {chosen!r} exists already in {base}.",
                         hint="Choose another name, resume that run, or delete it.") from exc
    except OSError as exc:
        raise CgvizError(f"Cannot create the run directory {target}: {exc.strerror}.",
                         hint="Pick a runs directory you can write to.") from exc
    try:
        (target / CHECKPOINT_DIR).mkdir()
        for lock_name in (LOCK_FILE, CONTROL_LOCK_FILE):
            (target / lock_name).touch()
        _atomic_write(target / OWNER_FILE, owner + "\n")
        _preallocate(target / ENDING_FILE, _ENDING_BYTES)
        _preallocate(target / RESERVE_FILE, _RESERVE_BYTES)
        now = time.time()
        _write_status(target, RunStatus(name=chosen, state="queued", task=spec.task,
                                        device=spec.device, created=now, queued_at=now,
                                        owner=owner))
        _atomic_write(target / RUN_FILE, spec.to_yaml())
    except OSError as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise CgvizError(f"Cannot write the run directory {target}: {exc.strerror}.",
                         hint="Free space or pick a runs directory you can write to.") from exc
    return target


def start(spec: RunSpec | dict[str, Any], runs_dir: str | Path | None = None,
          device: str | None = None, name: str | None = None, owner: str | None = None
          ) -> RunStatus:
    """Create ``runs_dir/<name>/`` and launch the run as a detached process.

    ``spec`` is a RunSpec or a mapping with its fields; ``device`` and ``name`` override the
    spec's; ``owner`` is who may control it (a browser session id; default the CLI user).
    Returns the queued status at once; poll ``status(name)`` to follow it (it waits as
    ``queued``, with its ``place``, while its device's slots are taken).
    """
    target = create(spec, runs_dir, device, name, owner)
    queued = _read_status_file(target)
    with _control(target) as locked:
        if not locked:
            raise CgvizError(f"Run {target.name!r} is busy; try again.")
        _launch(target, resume=False,
                record=lambda pid: _write_status(target, replace(queued, pid=pid)))
    return _status_of(target)


def resume(run: str | Path, runs_dir: str | Path | None = None, owner: str | None = None
           ) -> RunStatus:
    """Continue an interrupted, cancelled or failed run from its last checkpoint.

    Two resumes at the same moment launch one driver; the other gets CgvizError. The status
    returned shows the step the run continues from. With an ``owner`` (a visitor), only the
    run's owner may resume it (see :func:`can_control`).
    """
    target = _control_dir(run, runs_dir)
    with _control(target) as locked:
        if not locked:
            raise CgvizError(f"Run {target.name!r} is busy (another action holds it); "
                             "try again.")
        current = _status_of(target, have_control=True)
        _check_control(current, owner, "resume")
        if not current.resumable:
            raise CgvizError(f"Run {target.name!r} is {current.state}; only "
                             f"{', '.join(RESUMABLE_STATES)} runs can be resumed.")
        info = _last_checkpoint_info(target) or {}
        step = int(info.get("step") or 0)
        now = time.time()
        recorded: list[RunStatus] = []

        def record(pid: int) -> None:
            queued = replace(current, state="queued", pid=pid, ended=None, eta_s=None,
                             queued_at=now, place=None, step=step,
                             last_checkpoint_step=info.get("step"),
                             progress=(min(1.0, step / current.total_steps)
                                       if current.total_steps else current.progress),
                             reason=f"Resuming from step {step}.")
            _write_status(target, queued)
            recorded.append(queued)

        with contextlib.suppress(OSError):  # a request that the last driver already obeyed
            (target / CANCEL_FILE).unlink()
        _launch(target, resume=True, record=record)
    return recorded[0]


def cancel(run: str | Path, runs_dir: str | Path | None = None, timeout_s: float = 30.0,
           owner: str | None = None) -> RunStatus:
    """Ask a run to stop: it saves a checkpoint and ends ``cancelled`` (a queued run leaves
    the queue).

    First a ``cancel.request`` file (seen by ``RunContext.should_stop``, whatever signal
    handlers the task's libraries install); after half of ``timeout_s`` a SIGTERM to the
    process group; after ``timeout_s`` a SIGKILL, and the run is marked cancelled. With an
    ``owner`` (a visitor), only the run's owner may cancel it (see :func:`can_control`).
    """
    target = _control_dir(run, runs_dir)
    current = _status_of(target)
    _check_control(current, owner, "cancel")
    if current.finished:
        return current
    _atomic_write(target / CANCEL_FILE, f"{time.time()}\n")
    pid = current.pid
    deadline = time.time() + timeout_s
    signalled = False
    while time.time() < deadline:
        current = _status_of(target)
        pid = current.pid or pid
        if current.finished:
            return current
        if not signalled and time.time() > deadline - timeout_s / 2 and pid:
            if fcntl is not None and _lock_is_held(target):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGTERM)
            signalled = True
        time.sleep(0.1)
    if pid and fcntl is not None and _lock_is_held(target):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for _ in range(50):
        if not _lock_is_held(target):
            break
        time.sleep(0.1)
    with _control(target) as locked:
        current = _status_of(target, have_control=locked)
        if current.state == "cancelled" or _lock_is_held(target):
            return current
        final = replace(current, state="cancelled", ended=time.time(), eta_s=None, place=None,
                        reason=f"Cancelled; the process did not stop within {timeout_s:g} s "
                        "and was killed. Resume continues from the last checkpoint.")
        if locked:
            _try_write_status(target, final)
        return final


def delete(run: str | Path, runs_dir: str | Path | None = None, owner: str | None = None
           ) -> None:
    """Delete a finished run's directory (a running one must be cancelled first); only runs
    inside the runs folder. With an ``owner`` (a visitor), only the run's owner may."""
    target = _control_dir(run, runs_dir)
    with _control(target) as locked:
        current = _status_of(target, have_control=locked)
        _check_control(current, owner, "delete")
        if not locked or not current.finished or _lock_is_held(target):
            raise CgvizError(f"Run {target.name!r} is still active.", hint="Cancel it first.")
        shutil.rmtree(target)


def wait(run: str | Path, runs_dir: str | Path | None = None, timeout_s: float = 600.0,
         poll_s: float = 0.2) -> RunStatus:
    """Poll until the run is finished (or CgvizError after ``timeout_s``)."""
    deadline = time.time() + timeout_s
    while True:
        current = status(run, runs_dir)
        if current.finished:
            return current
        if time.time() > deadline:
            raise CgvizError(f"Run {current.name!r} still {current.state} after {timeout_s:g} s.")
        time.sleep(poll_s)


# ----------------------------------------------------------------------------- the driver


class NonFiniteLossError(CgvizError):
    """A logged loss became NaN or infinite."""


class RunContext:
    """What a task sees of its run: config, device, logging, progress, checkpoints, stop.

    Only the main process (global rank 0 under DDP) writes files; the others get the same
    calls as no-ops, so a task needs no rank checks of its own.
    """

    def __init__(self, run_dir: Path, spec: RunSpec, resume_state: dict[str, Any] | None,
                 is_main_process: bool = True, start_step: int | None = None,
                 resume_file: Path | None = None) -> None:
        self.run_dir = run_dir
        self._resume_file = resume_file
        self.spec = spec
        self.config = spec.config
        self.device = parse_device(spec.device)[0]
        self.devices = parse_device(spec.device)
        self.checkpoint_every = spec.checkpoint_every
        self.resume_state = resume_state
        if start_step is None:
            start_step = int(resume_state.get("step", resume_state.get("global_step", 0))
                             ) if resume_state else 0
        #: The step the run resumes from (0 for a fresh run).
        self.start_step = int(start_step)
        self.is_main_process = is_main_process
        #: True when the driver runs in the foreground (a terminal): tasks may show tqdm bars.
        self.show_progress_bar = False
        self._stop_requested = False
        self._last_cancel_check = 0.0
        self._last_status_write = 0.0
        self._started = time.time()
        self._start_step_for_eta = self.start_step
        self._columns: list[str] | None = None
        self._status = _read_status_file(run_dir) if is_main_process else None

    # -- stopping
    def request_stop(self) -> None:
        self._stop_requested = True

    def should_stop(self) -> bool:
        """True once a cancel was requested (cancel file or SIGTERM): save a checkpoint and
        return."""
        if not self._stop_requested:
            now = time.time()
            if now - self._last_cancel_check > 0.2:
                self._last_cancel_check = now
                self._stop_requested = (self.run_dir / CANCEL_FILE).exists()
        return self._stop_requested

    # -- status and metrics
    def _update_status(self, **changes: Any) -> None:
        if not self.is_main_process:
            return
        self._status = replace(self._status, **changes)
        _write_status(self.run_dir, self._status)

    def progress(self, step: int, total_steps: int | None = None, epoch: int | None = None,
                 force: bool = False) -> None:
        """Record progress (status.json, at most a few times a second)."""
        now = time.time()
        if not force and now - self._last_status_write < 0.5:
            return
        self._last_status_write = now
        eta = None
        fraction = None
        if total_steps:
            fraction = min(1.0, step / total_steps)
            done = step - self._start_step_for_eta
            if done > 0:
                eta = (now - self._started) / done * max(0, total_steps - step)
        self._update_status(step=int(step), total_steps=total_steps, epoch=epoch,
                            progress=fraction, eta_s=eta)

    def log(self, step: int, epoch: int | None = None, **values: float) -> None:
        """Append one row to metrics.csv. A non-finite value of a key containing 'loss'
        stops the run as failed (NonFiniteLossError)."""
        bad = [k for k, v in values.items() if "loss" in k and not math.isfinite(float(v))]
        if bad:
            raise NonFiniteLossError(
                f"{', '.join(bad)} became {values[bad[0]]} at step {step}.",
                hint="Lower the learning rate, check the input data for NaN, or enable "
                "gradient clipping; then start again or resume from the last checkpoint.",
            )
        if not self.is_main_process:
            return
        row = {"step": int(step), "epoch": "" if epoch is None else int(epoch),
               "time_s": round(time.time() - self._started, 3), **values}
        path = self.run_dir / METRICS_FILE
        if self._columns is None:
            existing = _read_metrics_rows(self.run_dir)
            self._columns = list(existing[0].keys()) if existing else None
        if self._columns is None or set(row) - set(self._columns):
            self._rewrite_metrics(list(row))
        line = _io.StringIO()
        csv.DictWriter(line, fieldnames=self._columns, extrasaction="ignore").writerow(row)
        with open(path, "a") as handle:
            handle.write(line.getvalue())
            handle.flush()

    def _rewrite_metrics(self, new_columns: Iterable[str]) -> None:
        rows = _read_metrics_rows(self.run_dir)
        columns = list(self._columns or [])
        for column in new_columns:
            if column not in columns:
                columns.append(column)
        buffer = _io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        _atomic_write(self.run_dir / METRICS_FILE, buffer.getvalue())
        self._columns = columns

    # -- checkpoints
    def save_checkpoint(self, state: dict[str, Any], step: int, epoch: int | None = None,
                        total_steps: int | None = None, final: bool = False) -> None:
        """Save ``state`` (tensors and plain containers only, so it loads with
        ``torch.load(weights_only=True)``) as last.pt, and as step_<N>.pt when ``step`` is a
        multiple of ``checkpoint_every`` or ``final``."""
        if not self.is_main_process:
            return
        import torch

        payload = {**state, "step": int(step), "epoch": epoch}
        buffer = _io.BytesIO()
        torch.save(payload, buffer)
        data = buffer.getvalue()
        directory = self.run_dir / CHECKPOINT_DIR
        directory.mkdir(exist_ok=True)
        if final or step % self.checkpoint_every == 0:
            _atomic_write(directory / f"step_{step:09d}.pt", data)
        _atomic_write(directory / "last.pt", data)
        _atomic_write(directory / "last.json", json.dumps(
            {"step": int(step), "epoch": epoch, "total_steps": total_steps, "final": final,
             "time": time.time()}) + "\n")
        self._update_status(last_checkpoint_step=int(step), step=int(step), epoch=epoch)


    def save_checkpoint_file(self, writer: Callable[[Path], None], step: int,
                             epoch: int | None = None, total_steps: int | None = None,
                             final: bool = False) -> None:
        """Like :meth:`save_checkpoint` for tasks that write their own checkpoint files
        (e.g. Lightning's ``trainer.save_checkpoint``): ``writer(path)`` writes to a temporary
        path, which then becomes last.pt (and step_<N>.pt) atomically. ``writer`` is called on
        every process (Lightning's save is collective); only the main one keeps the file."""
        directory = self.run_dir / CHECKPOINT_DIR
        tmp = directory / f".writing.{os.getpid()}.pt"
        writer(tmp)
        if not self.is_main_process:
            if tmp.exists():
                tmp.unlink()
            return
        if final or step % self.checkpoint_every == 0:
            shutil.copyfile(tmp, directory / f".step.{os.getpid()}.tmp")
            os.replace(directory / f".step.{os.getpid()}.tmp", directory / f"step_{step:09d}.pt")
        os.replace(tmp, directory / "last.pt")
        _atomic_write(directory / "last.json", json.dumps(
            {"step": int(step), "epoch": epoch, "total_steps": total_steps, "final": final,
             "time": time.time()}) + "\n")
        self._update_status(last_checkpoint_step=int(step), step=int(step), epoch=epoch)

    @property
    def resume_path(self) -> Path | None:
        """The checkpoint a resumed run continues from (None for a fresh run)."""
        path = self._resume_file or self.run_dir / CHECKPOINT_DIR / "last.pt"
        return path if self.resume_state is not None and path.exists() else None


def _without_torch_hints(text: str) -> str:
    """An error text without torch's advice to load with ``weights_only=False`` (which would
    run code from the file): only its first sentence-sized part, never that hint."""
    text = " ".join(str(text).split())
    cut = re.search(r"(?i)(you can|this file can still|re-?running|in pytorch 2\.6|"
                    r"\(1\)|weights_only)", text)
    text = text[: cut.start()] if cut else text
    return text.strip(" .:;,") or "not a checkpoint cgviz can read"


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load a run checkpoint safely (``weights_only=True``: no code from the file runs)."""
    import torch

    try:
        return torch.load(Path(path), map_location=map_location, weights_only=True)
    except FileNotFoundError as exc:
        raise CgvizError(f"Checkpoint {path} does not exist.") from exc
    except Exception as exc:  # pickle errors, truncated zip, foreign objects
        if ("weights only load failed" in str(exc).lower()
                or type(exc).__name__ == "UnpicklingError"):
            why = "it holds objects other than tensors and plain containers"
        else:
            why = f"{type(exc).__name__}: {_without_torch_hints(exc)}"
        raise CgvizError(f"Checkpoint {path} cannot be loaded safely ({why}).",
                         hint="Use a checkpoint written by cgviz.") from exc


def resolve_task(task: str) -> Callable[[RunContext], None]:
    """The task function for a run file's ``task``: a key of :func:`registered_tasks`
    (anything else is refused: a run file never names code itself)."""
    import importlib

    tasks = registered_tasks()
    if task not in tasks:
        raise CgvizError(f"Unknown task {task!r}.", hint=_unknown_task_hint())
    target = tasks[task]
    module_name, _, function_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise CgvizError(f"Task {task!r} cannot be imported ({exc}).",
                         hint="Check the task name; built-in tasks arrive with their "
                         "trainers.") from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise CgvizError(f"Task {task!r}: {module_name} has no function {function_name!r}.")
    return function


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (f"The disk is full or a file grew too large ({exc.strerror}: "
                f"{exc.filename or 'a run file'}). Free space, then resume.")
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"No permission to write ({exc.strerror}: {exc.filename or 'a run file'}). "
                "Fix the permissions of the runs directory, then resume.")
    if isinstance(exc, CgvizError):
        return _without_torch_hints(str(exc)) + "." if "weights_only" in str(exc) else str(exc)
    return (f"{type(exc).__name__}: {_without_torch_hints(exc)} (see {LOG_FILE} for the "
            "traceback).")


class _Ending:
    """How the run ended, recorded even on a full disk: first in place into the
    preallocated ``.ending`` (no new blocks needed), then in status.json, giving back the
    ``.space-reserve`` if the disk has no room for it."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        path = run_dir / ENDING_FILE
        try:
            if path.stat().st_size < _ENDING_BYTES:
                _preallocate(path, _ENDING_BYTES)
            else:
                self._overwrite(b"")
        except OSError:
            _preallocate(path, _ENDING_BYTES)
        if not (run_dir / RESERVE_FILE).exists():
            _preallocate(run_dir / RESERVE_FILE, _RESERVE_BYTES)

    def _overwrite(self, payload: bytes) -> bool:
        payload = payload[:_ENDING_BYTES]
        try:
            fd = os.open(self.run_dir / ENDING_FILE, os.O_WRONLY)
        except OSError:
            return False
        try:
            os.write(fd, payload + b" " * (_ENDING_BYTES - len(payload)))
            os.fsync(fd)
            return True
        except OSError:
            return False
        finally:
            os.close(fd)

    def record(self, final: RunStatus) -> bool:
        """Record ``final``; True once status.json says so."""
        self._overwrite(json.dumps(asdict(final)).encode())
        if _try_write_status(self.run_dir, final):
            return True
        with contextlib.suppress(OSError):
            (self.run_dir / RESERVE_FILE).unlink()
        return _try_write_status(self.run_dir, final)


def _resume_source(run_dir: Path) -> Path | None:
    """The checkpoint a resume continues from: last.pt, else the newest step_<N>.pt."""
    directory = run_dir / CHECKPOINT_DIR
    if (directory / "last.pt").exists():
        return directory / "last.pt"
    numbered = sorted(directory.glob("step_*.pt"))
    return numbered[-1] if numbered else None


def _checkpoint_step(state: dict[str, Any], info: dict[str, Any] | None) -> int:
    if "step" in state:  # the step saved with the weights themselves
        return int(state["step"])
    if info and info.get("step") is not None:  # a task's own file (Lightning): its last.json
        return int(info["step"])
    return int(state.get("global_step", 0))


def _handed_lock_fd(run_dir: Path) -> int | None:
    """The run lock's descriptor that the launcher handed over (``$CGVIZ_DRIVER_LOCK_FD``),
    if it really is this run's lock file; the variable is removed so no child sees it."""
    value = os.environ.pop(_LOCK_FD_ENV, "")
    if fcntl is None or not value.isdigit():
        return None
    try:
        handed, expected = os.fstat(int(value)), os.stat(run_dir / LOCK_FILE)
    except OSError:
        return None
    same = (handed.st_dev, handed.st_ino) == (expected.st_dev, expected.st_ino)
    return int(value) if same else None


def drive(run_dir: str | Path, resume_run: bool = False, wait_for_launcher: bool = False,
          show_progress: bool = False, lock_fd: int | None = None) -> int:
    """Run a run in this process (what ``python -m cgviz run <dir>`` does). Returns an exit code.

    Holds the run's lock for its whole life (``lock_fd``: the lock handed over by the
    launcher, see ``_launch``; otherwise it is taken here); a second driver is refused
    (exit code 3). It first waits as ``queued`` for a slot of its device (see
    :func:`queue_limits`), then runs the task. Every ending is recorded with its reason.
    With ``wait_for_launcher`` it first reads stdin to EOF (see ``_launch``).
    """
    run_dir = Path(run_dir)
    if wait_for_launcher:
        sys.stdin.read()
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0)
    if rank != 0:  # a DDP worker started by Lightning: the rank-0 process owns the files
        spec = RunSpec.from_file(run_dir / RUN_FILE)
        source = _resume_source(run_dir) if resume_run else None
        state = load_checkpoint(source) if source is not None else None
        resolve_task(spec.task)(RunContext(run_dir, spec, state, is_main_process=False,
                                           resume_file=source))
        return 0
    lock = _FileLock(run_dir / LOCK_FILE)
    if lock_fd is None:
        lock_fd = _handed_lock_fd(run_dir)
    if lock_fd is not None and fcntl is not None:
        lock.handle = os.fdopen(lock_fd, "a+")
        try:  # the same open file as the launcher's: succeeds when the handed lock is held
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except OSError:
            locked = False
        # Handed over as inheritable: no program the task starts may keep the run locked.
        os.set_inheritable(lock_fd, False)
    else:
        with _control(run_dir):  # so that no status repair runs between check and lock
            try:
                locked = lock.try_acquire()
            except OSError:
                locked = False
    if not locked:
        lock.release()
        print(f"error: run {run_dir.name!r} is already driven by another process",
              file=sys.stderr)
        return 3
    slots: list[_FileLock] = []
    try:
        return _drive_locked(run_dir, resume_run, show_progress, slots)
    finally:
        for slot in slots:  # after the ending is recorded: the next run starts after it
            slot.release()
        lock.release()


def _drive_locked(run_dir: Path, resume_run: bool, show_progress: bool,
                  slots: list[_FileLock]) -> int:
    ending = _Ending(run_dir)
    stop = threading.Event()
    context: RunContext | None = None

    def on_sigterm(*_: Any) -> None:
        stop.set()
        if context is not None:
            context.request_stop()

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
        previous, problem = _read_status_safely(run_dir)
        if previous is None:
            previous = _rebuild_status(run_dir, problem or "unreadable at start", write=False)
        try:
            spec = RunSpec.from_file(run_dir / RUN_FILE)
            source = _resume_source(run_dir) if resume_run else None
            state = load_checkpoint(source) if source is not None else None
        except CgvizError as exc:
            reason = (f"{exc} The run cannot start; fix or replace the file, or start a new "
                      "run.")
            ending.record(replace(previous, state="failed", reason=reason, ended=time.time(),
                                  eta_s=None, place=None, pid=os.getpid()))
            print(f"[cgviz] failed: {reason}", flush=True)
            return 1
        resume_step = _checkpoint_step(state, _last_checkpoint_info(run_dir)) if state else 0
        total = previous.total_steps
        current = replace(
            previous, state="queued", pid=os.getpid(), ended=None, eta_s=None,
            queued_at=previous.queued_at or time.time(), task=spec.task, device=spec.device,
            resumes=previous.resumes + (1 if resume_run else 0),
            step=resume_step if resume_run else 0,
            last_checkpoint_step=resume_step if state else None,
            progress=min(1.0, resume_step / total) if total else None,
            owner=previous.owner or _read_owner(run_dir))
        _write_status(run_dir, current)
        with contextlib.suppress(OSError):
            if (run_dir / CANCEL_FILE).stat().st_mtime < current.queued_at - 1.0:
                (run_dir / CANCEL_FILE).unlink()  # older than this launch: already obeyed
        # -- the queue
        keys = _queue_keys(spec.device)
        while True:
            if stop.is_set() or (run_dir / CANCEL_FILE).exists():
                ending.record(replace(current, state="cancelled", ended=time.time(), place=None,
                                      reason="Cancelled while queued; it never started."
                                      if not resume_run else "Cancelled while queued; resume "
                                      "continues from the last checkpoint."))
                with contextlib.suppress(OSError):
                    (run_dir / CANCEL_FILE).unlink()
                print("[cgviz] cancelled while queued", flush=True)
                return 0
            place = _queue_place(run_dir, current, keys)
            if place == 1:
                taken = _take_slots(run_dir, keys)
                if taken is not None:
                    slots.extend(taken)
                    break
            if place != current.place:
                current = replace(current, place=place,
                                  reason=f"Waiting for a free {'/'.join(keys)} slot "
                                  f"(place {place} in the queue).")
                _write_status(run_dir, current)
                print(f"[cgviz] queued: place {place} for {'/'.join(keys)}", flush=True)
            stop.wait(0.5)
        if resume_run:  # before "running": a running run's metrics end at its real step
            _truncate_metrics(run_dir, resume_step)
        current = replace(current, state="running", place=None, reason="",
                          started=current.started or time.time())
        _write_status(run_dir, current)
        if (run_dir / CANCEL_FILE).exists():
            (run_dir / CANCEL_FILE).unlink()
        context = RunContext(run_dir, spec, state, start_step=resume_step, resume_file=source)
        context.show_progress_bar = show_progress
        if stop.is_set():
            context.request_stop()
        print(f"[cgviz] run {run_dir.name}: task {spec.task} on {spec.device}"
              f"{' (resumed at step %d)' % resume_step if resume_run else ''}", flush=True)
        with peak_memory.PeakMemoryWatch(run_dir / MEMORY_FILE):
            resolve_task(spec.task)(context)
    except BaseException as exc:  # noqa: BLE001 - every failure is recorded
        if isinstance(exc, KeyboardInterrupt):
            final_state, reason = "cancelled", "Interrupted (Ctrl-C)."
        elif type(exc).__name__ == "SIGTERMException":  # Lightning's own SIGTERM handler
            final_state, reason = "cancelled", ("Terminated (SIGTERM) before it could save; "
                                                "resume continues from the last checkpoint.")
        else:
            if not isinstance(exc, CgvizError):  # a user error is its message alone
                with contextlib.suppress(Exception):
                    traceback.print_exc()
            final_state, reason = "failed", _failure_reason(exc)
        base, _ = _read_status_safely(run_dir)
        base = base or replace(previous, pid=os.getpid())
        if not ending.record(replace(base, state=final_state, reason=reason, ended=time.time(),
                                     eta_s=None, place=None)):
            with contextlib.suppress(Exception):
                print(f"[cgviz] could not rewrite status.json; the ending is in {ENDING_FILE}: "
                      f"{reason}", file=sys.stderr)
        with contextlib.suppress(Exception):
            print(f"[cgviz] {final_state}: {reason}", flush=True)
        return 1
    final_state = "cancelled" if context.should_stop() else "completed"
    reason = ("Cancelled on request; resume continues from the last checkpoint."
              if final_state == "cancelled" else "")
    current, _ = _read_status_safely(run_dir)
    current = current or previous
    ending.record(replace(current, state=final_state, reason=reason, ended=time.time(),
                          eta_s=None, place=None,
                          progress=1.0 if final_state == "completed" else current.progress))
    with contextlib.suppress(Exception):
        print(f"[cgviz] {final_state}", flush=True)
    return 0


def _truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop metrics rows logged after ``step`` (they will be logged again) and torn lines."""
    path = run_dir / METRICS_FILE
    if not path.exists():
        return
    rows = _read_metrics_rows(run_dir)
    with open(path) as handle:
        header = next(csv.reader(handle), None)
    if not header:
        return
    kept = [r for r in rows if int(float(r["step"])) <= step]
    buffer = _io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(kept)
    _atomic_write(path, buffer.getvalue())
