"""The driver: the process that runs a task in its run folder (:class:`RunContext`,
:func:`drive`)."""

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
import sys
import threading
import time
import traceback
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from cgviz import peak_memory
from cgviz.errors import CgvizError
from cgviz.jobs._paths import (
    CANCEL_FILE, CHECKPOINT_DIR, ENDING_FILE, LOCK_FILE, LOG_FILE, MEMORY_FILE, METRICS_FILE,
    RESERVE_FILE, RUN_FILE, _ENDING_BYTES, _LOCK_FD_ENV, _RESERVE_BYTES, _unknown_task_hint,
    registered_tasks,
)
from cgviz.jobs._locks import fcntl, _FileLock, _control
from cgviz.jobs.spec import RunSpec, parse_device
from cgviz.jobs.status import (
    RunStatus, _atomic_write, _last_checkpoint_info, _read_metrics_rows, _read_owner,
    _read_status_file, _read_status_safely, _rebuild_status, _try_write_status, _write_status,
)
from cgviz.jobs.control import _preallocate, _queue_keys, _queue_place, _take_slots


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
