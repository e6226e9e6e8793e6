"""Portable file locks (fcntl on POSIX, msvcrt on Windows) and the control lock."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from cgviz.jobs._paths import CONTROL_LOCK_FILE

try:  # POSIX; on Windows runs are locked with msvcrt (and the launcher hands over no lock)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None
    import msvcrt


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


