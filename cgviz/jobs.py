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

States: queued, running, completed, failed, cancelled, interrupted. A run whose driver died
without a word (kill -9, power loss, OOM killer) is seen as ``interrupted`` because its lock
is free while status.json still says running; ``resume`` continues from the last checkpoint
with the step counter and the metrics of that checkpoint.

Every file except the two append-only logs (metrics.csv, log.txt) is written to a temporary
file and renamed into place. metrics.csv gets whole lines in single appends; a torn last line
(a kill in the middle of a write) is ignored on reading and cut off on resume, together with
rows logged after the checkpoint the run resumes from.

A task is a function ``task(ctx: RunContext) -> None``: built-in kinds are looked up in
``TASKS``; any importable ``"module:function"`` works too.
"""

from __future__ import annotations

import csv
import errno
import fcntl
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

from cgviz.errors import CgvizError

STATES = ("queued", "running", "completed", "failed", "cancelled", "interrupted")
FINISHED_STATES = ("completed", "failed", "cancelled", "interrupted")
RESUMABLE_STATES = ("interrupted", "cancelled", "failed")

#: Built-in task kinds: name -> "module:function" (imported only when a run starts).
TASKS: dict[str, str] = {
    "memnets": "cgviz.memnets.task:run",
    "simulator": "cgviz.training.simulator:run",
}

RUN_FILE = "run.yaml"
STATUS_FILE = "status.json"
METRICS_FILE = "metrics.csv"
LOG_FILE = "log.txt"
LOCK_FILE = ".lock"
CANCEL_FILE = "cancel.request"
CHECKPOINT_DIR = "checkpoints"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def default_runs_dir() -> Path:
    """``$CGVIZ_RUNS_DIR`` if set, else ``./runs`` (relative to the working directory)."""
    return Path(os.environ.get("CGVIZ_RUNS_DIR", "runs"))


# ----------------------------------------------------------------------------- run file


@dataclass(frozen=True)
class RunSpec:
    """What a run does: the contents of ``run.yaml``.

    Attributes
    ----------
    task: a key of ``TASKS`` ("memnets", "simulator") or "module:function".
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
            raise CgvizError("A run needs a task.",
                             hint=f"Use one of {sorted(TASKS)} or 'module:function'.")
        if self.task not in TASKS and ":" not in self.task:
            raise CgvizError(f"Unknown task {self.task!r}.",
                             hint=f"Use one of {sorted(TASKS)} or 'module:function'.")
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
            raise CgvizError(f"The {source} must be a YAML mapping with a 'task' key.")
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
    """The state of one run, as written in status.json (times are Unix seconds)."""

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

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE_STATES


def _run_dir(run: str | Path, runs_dir: str | Path | None = None) -> Path:
    """A run given by name (in runs_dir) or by its directory path."""
    path = Path(run)
    if path.is_dir() and (path / RUN_FILE).exists():
        return path
    base = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    candidate = base / sanitize_name(str(run))
    if not (candidate / RUN_FILE).exists():
        raise CgvizError(f"There is no run {str(run)!r} in {base}.",
                         hint="List the runs with `python -m cgviz runs list`.")
    return candidate


def _write_status(run_dir: Path, status: RunStatus) -> None:
    _atomic_write(run_dir / STATUS_FILE, json.dumps(asdict(status), indent=1) + "\n")


def _read_status_file(run_dir: Path) -> RunStatus:
    data = json.loads((run_dir / STATUS_FILE).read_text())
    if not isinstance(data, dict) or data.get("state") not in STATES:
        raise ValueError("no valid state")
    known = RunStatus.__dataclass_fields__
    return RunStatus(**{k: v for k, v in data.items() if k in known})


def _lock_is_held(run_dir: Path) -> bool:
    """True while some process drives the run (holds its flock)."""
    path = run_dir / LOCK_FILE
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _last_checkpoint_info(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / CHECKPOINT_DIR / "last.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _rebuild_status(run_dir: Path, problem: str) -> RunStatus:
    """status.json is unreadable: rebuild it from the run file, lock, checkpoint and metrics."""
    spec = RunSpec.from_file(run_dir / RUN_FILE)
    info = _last_checkpoint_info(run_dir) or {}
    rows = _read_metrics_rows(run_dir)
    step = max([int(info.get("step", 0))] + [int(float(r["step"])) for r in rows if r.get("step")])
    if _lock_is_held(run_dir):
        state, why = "running", ""
    elif info.get("final"):
        state, why = "completed", ""
    else:
        state, why = "interrupted", "; resumable from its last checkpoint" if info else ""
    status = RunStatus(
        name=run_dir.name, state=state, task=spec.task, device=spec.device, step=step,
        last_checkpoint_step=info.get("step"), total_steps=info.get("total_steps"),
        reason=f"status.json was unreadable ({problem}); rebuilt from the run's other "
        f"files{why}.",
    )
    _write_status(run_dir, status)
    return status


def status(run: str | Path, runs_dir: str | Path | None = None) -> RunStatus:
    """The current status of a run (by name or directory).

    A run that says queued/running but whose driving process is gone is reported (and
    recorded) as ``interrupted``. An unreadable status.json is rebuilt from the other files,
    and the reason says so.
    """
    run_dir = _run_dir(run, runs_dir)
    try:
        current = _read_status_file(run_dir)
    except (OSError, ValueError, TypeError) as exc:
        return _rebuild_status(run_dir, f"{type(exc).__name__}: {exc}")
    if current.state == "running" and not _lock_is_held(run_dir):
        if _lock_is_held(run_dir) or _read_status_file(run_dir).state != "running":
            return status(run_dir)  # it finished between the two reads
        current = replace(current, state="interrupted", ended=time.time(),
                          reason=f"The process (PID {current.pid}) ended without finishing "
                          "(killed, crashed or the machine went down). Resume it to continue "
                          "from the last checkpoint.", eta_s=None)
        _write_status(run_dir, current)
    elif current.state == "queued" and not _pid_alive(current.pid) and not (
        current.pid is None and time.time() - (current.created or 0) < 60
    ):
        if _lock_is_held(run_dir) or _read_status_file(run_dir).state != "queued":
            return status(run_dir)
        current = replace(current, state="interrupted", ended=time.time(),
                          reason=f"The process (PID {current.pid}) ended before the run started; "
                          f"see {LOG_FILE}.")
        _write_status(run_dir, current)
    return current


def list_runs(runs_dir: str | Path | None = None) -> list[RunStatus]:
    """Every run in ``runs_dir``, newest first."""
    base = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    if not base.is_dir():
        return []
    found = []
    for child in base.iterdir():
        if (child / RUN_FILE).exists():
            found.append(status(child))
    return sorted(found, key=lambda s: s.created or 0.0, reverse=True)


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


# ----------------------------------------------------------------------------- control


_CHILDREN: list[subprocess.Popen] = []


def _launch(run_dir: Path, resume: bool, record: Callable[[int], None]) -> None:
    """Start the detached driver; ``record(pid)`` runs before the driver may write anything.

    The driver waits for EOF on its stdin (``--wait-for-launcher``), which comes when this
    function closes the pipe (or when the launcher dies), so the launcher's status write can
    never overwrite the driver's.
    """
    command = [sys.executable, "-m", "cgviz", "run", str(run_dir.resolve()),
               "--wait-for-launcher"]
    if resume:
        command.append("--resume")
    log = open(run_dir / LOG_FILE, "ab")
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=os.getcwd(),
        )
    finally:
        log.close()
    try:
        record(process.pid)
    finally:
        process.stdin.close()
    _CHILDREN.append(process)
    # Reap it when it ends so a long-lived UI process collects no zombies.
    threading.Thread(target=process.wait, daemon=True).start()


def create(spec: RunSpec | dict[str, Any], runs_dir: str | Path | None = None,
           device: str | None = None, name: str | None = None) -> Path:
    """Create ``runs_dir/<name>/`` with its run file and a queued status; launch nothing.

    ``start`` = ``create`` + a detached driver; the CLI's foreground training = ``create`` +
    ``drive`` in the same process.
    """
    if isinstance(spec, dict):
        spec = RunSpec(**spec)
    if device is not None:
        spec = replace(spec, device=device)
    chosen = sanitize_name(
        name or spec.name
        or f"{spec.task.split(':')[-1]}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}")
    spec = replace(spec, name=chosen)
    _check_device_available(spec.device)
    base = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    target = base / chosen
    try:
        base.mkdir(parents=True, exist_ok=True)
        target.mkdir()
    except FileExistsError as exc:
        raise CgvizError(f"A run called {chosen!r} exists already in {base}.",
                         hint="Choose another name, resume that run, or delete it.") from exc
    except OSError as exc:
        raise CgvizError(f"Cannot create the run directory {target}: {exc.strerror}.",
                         hint="Pick a runs directory you can write to.") from exc
    (target / CHECKPOINT_DIR).mkdir()
    _write_status(target, RunStatus(name=chosen, state="queued", task=spec.task,
                                    device=spec.device, created=time.time()))
    _atomic_write(target / RUN_FILE, spec.to_yaml())
    return target


def start(spec: RunSpec | dict[str, Any], runs_dir: str | Path | None = None,
          device: str | None = None, name: str | None = None) -> RunStatus:
    """Create ``runs_dir/<name>/`` and launch the run as a detached process.

    ``spec`` is a RunSpec or a mapping with its fields; ``device`` and ``name`` override the
    spec's. Returns the queued status at once; poll ``status(name)`` to follow it.
    """
    target = create(spec, runs_dir, device, name)
    queued = _read_status_file(target)
    _launch(target, resume=False, record=lambda pid: _write_status(target, replace(queued, pid=pid)))
    return status(target)


def resume(run: str | Path, runs_dir: str | Path | None = None) -> RunStatus:
    """Continue an interrupted, cancelled or failed run from its last checkpoint."""
    target = _run_dir(run, runs_dir)
    current = status(target)
    if not current.resumable:
        raise CgvizError(f"Run {target.name!r} is {current.state}; only "
                         f"{', '.join(RESUMABLE_STATES)} runs can be resumed.")
    _launch(target, resume=True, record=lambda pid: _write_status(
        target, replace(current, state="queued", reason="resuming", pid=pid, ended=None)))
    return status(target)


def cancel(run: str | Path, runs_dir: str | Path | None = None, timeout_s: float = 30.0
           ) -> RunStatus:
    """Ask a run to stop: it saves a checkpoint and ends ``cancelled``.

    First a ``cancel.request`` file (seen by ``RunContext.should_stop``, whatever signal
    handlers the task's libraries install); after half of ``timeout_s`` a SIGTERM to the
    process group; after ``timeout_s`` a SIGKILL, and the run is marked cancelled.
    """
    target = _run_dir(run, runs_dir)
    current = status(target)
    if current.finished:
        return current
    _atomic_write(target / CANCEL_FILE, f"{time.time()}\n")
    pid = current.pid
    deadline = time.time() + timeout_s
    signalled = False
    while time.time() < deadline:
        current = status(target)
        if current.finished:
            return current
        if not signalled and time.time() > deadline - timeout_s / 2 and pid:
            try:
                os.killpg(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            signalled = True
        time.sleep(0.1)
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for _ in range(50):
        if not _lock_is_held(target):
            break
        time.sleep(0.1)
    final = replace(status(target), state="cancelled", ended=time.time(), eta_s=None,
                    reason=f"Cancelled; the process did not stop within {timeout_s:g} s and "
                    "was killed. Resume continues from the last checkpoint.")
    _write_status(target, final)
    return final


def delete(run: str | Path, runs_dir: str | Path | None = None) -> None:
    """Delete a finished run's directory (a running one must be cancelled first)."""
    target = _run_dir(run, runs_dir)
    if not status(target).finished:
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
                 is_main_process: bool = True, start_step: int | None = None) -> None:
        self.run_dir = run_dir
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
        path = self.run_dir / CHECKPOINT_DIR / "last.pt"
        return path if self.resume_state is not None and path.exists() else None


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load a run checkpoint safely (``weights_only=True``: no code from the file runs)."""
    import torch

    try:
        return torch.load(Path(path), map_location=map_location, weights_only=True)
    except FileNotFoundError as exc:
        raise CgvizError(f"Checkpoint {path} does not exist.") from exc
    except Exception as exc:  # pickle errors, truncated zip, foreign objects
        raise CgvizError(f"Checkpoint {path} cannot be loaded safely ({type(exc).__name__}: "
                         f"{exc}).", hint="Use a checkpoint written by cgviz.") from exc


def resolve_task(task: str) -> Callable[[RunContext], None]:
    """The task function for a run file's ``task`` (a TASKS key or 'module:function')."""
    import importlib

    target = TASKS.get(task, task)
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
        return str(exc)
    return f"{type(exc).__name__}: {exc} (see {LOG_FILE} for the traceback)."


def drive(run_dir: str | Path, resume_run: bool = False, wait_for_launcher: bool = False,
          show_progress: bool = False) -> int:
    """Run a run in this process (what ``python -m cgviz run <dir>`` does). Returns an exit code.

    Holds the run's lock for its whole life; a second driver is refused. With
    ``wait_for_launcher`` it first reads stdin to EOF (see ``_launch``).
    """
    run_dir = Path(run_dir)
    if wait_for_launcher:
        sys.stdin.read()
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0)
    if rank != 0:  # a DDP worker started by Lightning: the rank-0 process owns the files
        spec = RunSpec.from_file(run_dir / RUN_FILE)
        state = _resume_state(run_dir) if resume_run else None
        resolve_task(spec.task)(RunContext(run_dir, spec, state, is_main_process=False))
        return 0
    lock_handle = open(run_dir / LOCK_FILE, "a+")
    try:
        fcntl.flock(lock_handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"error: run {run_dir.name!r} is already driven by another process",
              file=sys.stderr)
        return 3
    try:
        spec = RunSpec.from_file(run_dir / RUN_FILE)
        try:
            previous = _read_status_file(run_dir)
        except (OSError, ValueError, TypeError):
            previous = _rebuild_status(run_dir, "unreadable at start")
        state = _resume_state(run_dir) if resume_run else None
        started = replace(
            previous, state="running", pid=os.getpid(), started=previous.started or time.time(),
            ended=None, reason="", resumes=previous.resumes + (1 if resume_run else 0),
        )
        _write_status(run_dir, started)
        if (run_dir / CANCEL_FILE).exists():
            (run_dir / CANCEL_FILE).unlink()
        try:
            resume_step = 0
            if resume_run and state is not None:
                resume_step = int((_last_checkpoint_info(run_dir) or {}).get(
                    "step", state.get("step", state.get("global_step", 0))))
            if resume_run:
                _truncate_metrics(run_dir, resume_step)
            context = RunContext(run_dir, spec, state, start_step=resume_step)
            context.show_progress_bar = show_progress
            signal.signal(signal.SIGTERM, lambda *_: context.request_stop())
            print(f"[cgviz] run {run_dir.name}: task {spec.task} on {spec.device}"
                  f"{' (resumed at step %d)' % resume_step if resume_run else ''}", flush=True)
            resolve_task(spec.task)(context)
        except BaseException as exc:  # noqa: BLE001 - every failure is recorded
            if isinstance(exc, KeyboardInterrupt):
                final_state, reason = "cancelled", "Interrupted (Ctrl-C)."
            elif type(exc).__name__ == "SIGTERMException":  # Lightning's own SIGTERM handler
                final_state, reason = "cancelled", ("Terminated (SIGTERM) before it could save; "
                                                    "resume continues from the last checkpoint.")
            else:
                traceback.print_exc()
                final_state, reason = "failed", _failure_reason(exc)
            try:
                _write_status(run_dir, replace(_read_status_file(run_dir), state=final_state,
                                               reason=reason, ended=time.time(), eta_s=None))
            except OSError:
                print(f"[cgviz] could not record the failure: {reason}", file=sys.stderr)
            print(f"[cgviz] {final_state}: {reason}", flush=True)
            return 1
        final_state = "cancelled" if context.should_stop() else "completed"
        reason = ("Cancelled on request; resume continues from the last checkpoint."
                  if final_state == "cancelled" else "")
        current = _read_status_file(run_dir)
        _write_status(run_dir, replace(current, state=final_state, reason=reason,
                                       ended=time.time(), eta_s=None,
                                       progress=1.0 if final_state == "completed"
                                       else current.progress))
        print(f"[cgviz] {final_state}", flush=True)
        return 0
    finally:
        fcntl.flock(lock_handle.fileno(), fcntl.LOCK_UN)
        lock_handle.close()


def _resume_state(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / CHECKPOINT_DIR / "last.pt"
    if not path.exists():
        return None
    return load_checkpoint(path)


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
