"""A run's peak memory, written down while it runs, so that a killed run can be explained.

The kernel's out-of-memory killer ends a process with SIGKILL and leaves no message in
it. :class:`PeakMemoryWatch` samples the resident memory of the run's process and its
children (DDP ranks, data workers) once a second and writes the peak, with the machine's
total, into a small JSON file of the run folder whenever it grows by 5 %. When a run is
later found dead, :func:`killed_reason` reads it back: a run that had grown to most of the
machine's memory was, almost surely, ended by the out-of-memory killer.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

#: A dead run that last used at least this fraction of the machine's memory is reported
#: as ended by the out-of-memory killer.
OOM_FRACTION = 0.6


def _rss_bytes(process) -> int:
    total = 0
    with contextlib.suppress(Exception):
        total += process.memory_info().rss
        for child in process.children(recursive=True):
            with contextlib.suppress(Exception):
                total += child.memory_info().rss
    return total


class PeakMemoryWatch:
    """Context manager: a daemon thread that keeps ``path`` up to date with the peak."""

    def __init__(self, path: str | Path, interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self.interval_s = float(interval_s)
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self, total: int) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps({"peak_bytes": self.peak, "total_bytes": total}))
            os.replace(tmp, self.path)

    def _loop(self) -> None:
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil is a pinned requirement
            return
        process = psutil.Process()
        total = int(psutil.virtual_memory().total)
        written = 0
        while True:
            self.peak = max(self.peak, _rss_bytes(process))
            if self.peak > written * 1.05:
                self._write(total)
                written = self.peak
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> PeakMemoryWatch:
        self._thread = threading.Thread(target=self._loop, name="cgviz-peak-memory",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


def read_peak(path: str | Path) -> tuple[int, int] | None:
    """(peak bytes, machine total bytes) from a watch file, or None."""
    try:
        data = json.loads(Path(path).read_text())
        return int(data["peak_bytes"]), int(data["total_bytes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def killed_reason(path: str | Path) -> str:
    """A sentence on why a dead run died, when its peak memory tells (else '')."""
    peak = read_peak(path)
    if peak is None or peak[1] <= 0:
        return ""
    used, total = peak
    if used < OOM_FRACTION * total:
        return ""
    return (f" It had grown to {used / 1e9:.1f} GB of this machine's {total / 1e9:.1f} GB, "
            "so the out-of-memory killer most likely ended it: use more atoms per bead or "
            "a smaller batch size (the Training page and the CLI estimate the memory a run "
            "needs before it starts).")
