"""RunMonitor: live curves, progress, cancel and resume for a background run (cgviz.jobs)."""

from __future__ import annotations

import html

import asyncio
import threading
import time
from pathlib import Path

import ipywidgets as widgets

from cgviz import jobs
from cgviz.errors import CgvizError

__all__ = ["RunMonitor"]


class RunMonitor(widgets.VBox):
    """Watch a background run from a notebook without blocking the kernel.

    Every ``interval_s`` seconds the run directory is read (the run itself is a separate
    process, so nothing here slows it down) and the progress bar, the status line and the
    loss curves are updated; polling stops by itself when the run finishes. In a Jupyter
    kernel this is an asyncio task on the kernel's own loop, so every widget update happens
    on the kernel's thread between cells (updates from a second thread raced other widgets
    being created: a plot drawn in a later cell could come up empty). Without a running
    loop (a plain script) a daemon thread polls instead. The
    **Cancel** and **Resume** buttons call :func:`cgviz.jobs.cancel` and
    :func:`cgviz.jobs.resume`. :meth:`wait` blocks until the run ends, refreshing as it goes
    (for a notebook that needs the result in the next cell).
    """

    def __init__(self, run: str | Path, runs_dir: str | Path | None = None,
                 interval_s: float = 1.0, autostart: bool = True):
        import plotly.graph_objects as go

        if interval_s <= 0:
            raise CgvizError(f"interval_s must be positive, got {interval_s}.")
        self.runs_dir = runs_dir
        self.run_dir = jobs.run_dir(run, runs_dir)  # CgvizError if there is no such run
        self.run = self.run_dir.name
        self.interval_s = float(interval_s)
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress",
                                              layout=widgets.Layout(width="60%"))
        self.status_label = widgets.HTML()
        self.cancel_button = widgets.Button(description="Cancel", icon="stop",
                                            button_style="warning")
        self.resume_button = widgets.Button(description="Resume", icon="play")
        self.message = widgets.HTML()
        self.figure = go.FigureWidget()
        self.figure.update_layout(height=320, xaxis_title="step", yaxis_title="loss",
                                  title=f"run {self.run}", margin=dict(l=10, r=10, t=40, b=10))
        self.cancel_button.on_click(lambda _: self._act(self.cancel))
        self.resume_button.on_click(lambda _: self._act(self.resume))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task | None = None
        self._failures = 0
        self.status: jobs.RunStatus | None = None
        super().__init__([widgets.HBox([self.progress, self.status_label]), self.figure,
                          widgets.HBox([self.cancel_button, self.resume_button, self.message])])
        self.refresh()
        if autostart:
            self.start()

    # -- polling
    def refresh(self) -> jobs.RunStatus:
        """Read the run's status and metrics once and update every part of the widget."""
        from cgviz.figures import loss_curves

        with self._lock:
            status = jobs.status(self.run_dir)
            self.status = status
            self.progress.value = float(status.progress or (1.0 if status.state == "completed"
                                                            else 0.0))
            self.progress.bar_style = {"completed": "success", "failed": "danger",
                                       "cancelled": "warning", "interrupted": "warning"
                                       }.get(status.state, "info")
            steps = f"step {status.step}" + (f" of {status.total_steps}"
                                             if status.total_steps else "")
            eta = (f", about {status.eta_s / 60:.1f} min left"
                   if status.eta_s and not status.finished else "")
            place = (f" (place {status.place} in the queue)"
                     if getattr(status, "place", None) else "")
            self.status_label.value = f"<b>{status.state}</b>{place}: {steps}{eta}"
            if status.reason:
                self.status_label.value += f"<br>{html.escape(status.reason)}"
            self.cancel_button.disabled = status.finished
            self.resume_button.disabled = not status.resumable
            curves = loss_curves(jobs.metrics(self.run_dir))
            with self.figure.batch_update():
                for name, (x, y) in curves.items():
                    trace = next((t for t in self.figure.data if t.name == name), None)
                    if trace is None:
                        self.figure.add_scatter(x=x, y=y, mode="lines", name=name)
                    else:
                        trace.x, trace.y = x, y
            return status

    def start(self) -> None:
        """Poll until the run finishes or :meth:`stop` is called (never blocks)."""
        if self.polling:
            return
        self._stop.clear()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:  # a Jupyter kernel: stay on its thread
            self._task = loop.create_task(self._poll_async())
        else:
            self._thread = threading.Thread(target=self._poll_thread,
                                            name=f"RunMonitor-{self.run}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop polling (the run itself goes on)."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5 * self.interval_s + 5)

    @property
    def polling(self) -> bool:
        task_running = self._task is not None and not self._task.done()
        return task_running or (self._thread is not None and self._thread.is_alive())

    def _poll_once(self) -> bool:
        """One refresh; False when polling should end (run finished, or gone)."""
        try:
            status = self.refresh()
            self._failures = 0
        except CgvizError as error:  # the run directory is gone or unreadable
            self.message.value = f"<span style='color:#b00'>{error}</span>"
            return False
        except Exception as error:  # noqa: BLE001 - keep watching; say what happened
            self._failures += 1
            self.message.value = (f"<span style='color:#b00'>update failed "
                                  f"({type(error).__name__}: {error}); retrying</span>")
            return self._failures < 20
        return not status.finished

    def _poll_thread(self) -> None:
        while not self._stop.is_set() and self._poll_once():
            self._stop.wait(self.interval_s)

    async def _poll_async(self) -> None:
        while not self._stop.is_set() and self._poll_once():
            await asyncio.sleep(self.interval_s)

    def wait(self, timeout_s: float | None = None) -> jobs.RunStatus:
        """Block until the run is finished, refreshing (the monitor's bar and curves keep
        moving meanwhile); with ``timeout_s``, CgvizError after that long. Without one it
        waits for the run however busy the machine is: the run ends by itself (completed,
        failed or cancelled), and an interrupted one ends the wait too."""
        deadline = None if timeout_s is None else time.time() + timeout_s
        while True:
            status = self.refresh()
            if status.finished:
                return status
            if deadline is not None and time.time() > deadline:
                raise CgvizError(f"Run {self.run!r} still {status.state} after {timeout_s:g} s.",
                                 hint="Call wait() again, or cancel the run.")
            left = self.interval_s if deadline is None else max(0.0, deadline - time.time())
            time.sleep(min(self.interval_s, left) or 0.05)

    # -- buttons
    def cancel(self) -> jobs.RunStatus:
        """Cancel the run (as the Cancel button does) and refresh."""
        jobs.cancel(self.run_dir, self._runs_folder(), timeout_s=30)
        return self.refresh()

    def resume(self) -> jobs.RunStatus:
        """Resume an interrupted, cancelled or failed run (as the Resume button does)."""
        jobs.resume(self.run_dir, self._runs_folder())
        status = self.refresh()
        self.start()
        return status

    def _runs_folder(self) -> Path:
        """The runs folder that cancel and resume are confined to: the one given, else the
        folder of the run that this monitor was opened on."""
        return Path(self.runs_dir) if self.runs_dir is not None else self.run_dir.parent

    def _act(self, action) -> None:
        try:
            action()
            self.message.value = ""
        except CgvizError as error:
            self.message.value = f"<span style='color:#b00'>{error}</span>"
