"""Owners, the queue per device, and the controls: create, start, resume, cancel,
delete, wait."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from cgviz.errors import CgvizError
from cgviz.jobs._paths import (
    CANCEL_FILE, CHECKPOINT_DIR, CONTROL_LOCK_FILE, ENDING_FILE, LOCK_FILE, LOG_FILE,
    MAX_RUNS_ENV, OWNER_FILE, QUEUE_DIR, RESERVE_FILE, RESUMABLE_STATES, RUN_FILE,
    SHARED_CONTROL_ENV, _ENDING_BYTES, _LOCK_FD_ENV, _RESERVE_BYTES, _base_dir, sanitize_name,
)
from cgviz.jobs._locks import fcntl, _FileLock, _control
from cgviz.jobs.spec import RunSpec, _check_device_available, parse_device
from cgviz.jobs.status import (
    RunStatus, _atomic_write, _control_dir, _last_checkpoint_info, _lock_is_held,
    _read_status_file, _read_status_safely, _status_of, _try_write_status, _write_status,
    status,
)


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


