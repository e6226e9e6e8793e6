"""Run files (:class:`RunSpec`) and devices (``cpu``, ``cuda:N``, DDP lists)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cgviz.errors import CgvizError
from cgviz.jobs._paths import _unknown_task_hint, registered_tasks, sanitize_name


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


