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

Modules: ``_paths`` (run folders, file names, the task registry), ``_locks`` (portable file
locks), ``spec`` (run files, devices), ``status`` (status, metrics, log, checkpoints on
disk), ``control`` (owners, queue, create/start/resume/cancel/delete/wait), ``driver``
(:class:`RunContext`, :func:`drive`); every public name is importable from ``cgviz.jobs``.
"""

from __future__ import annotations

from cgviz.jobs._paths import (  # noqa: F401
    CANCEL_FILE,
    CHECKPOINT_DIR,
    CONTROL_LOCK_FILE,
    ENDING_FILE,
    FINISHED_STATES,
    LOCK_FILE,
    LOG_FILE,
    MAX_RUNS_ENV,
    MEMORY_FILE,
    METRICS_FILE,
    OWNER_FILE,
    QUEUE_DIR,
    RESERVE_FILE,
    RESUMABLE_STATES,
    RUN_FILE,
    SHARED_CONTROL_ENV,
    STATES,
    STATUS_FILE,
    TASKS,
    TASKS_ENV,
    default_runs_dir,
    registered_tasks,
    run_dir,
    sanitize_name,
)
from cgviz.jobs.spec import (  # noqa: F401
    CudaDevice,
    RunSpec,
    device_summary,
    devices,
    parse_device,
)
from cgviz.jobs.status import (  # noqa: F401
    RunStatus,
    list_runs,
    metrics,
    metrics_csv,
    queue,
    read_log,
    status,
    take_away_files,
)
from cgviz.jobs.control import (  # noqa: F401
    can_control,
    cancel,
    create,
    delete,
    local_owner,
    queue_limits,
    resume,
    shared_control,
    start,
    wait,
)
from cgviz.jobs.driver import (  # noqa: F401
    NonFiniteLossError,
    RunContext,
    drive,
    load_checkpoint,
    resolve_task,
)
