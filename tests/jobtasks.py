"""A tiny real training task for the jobs tests: least-squares fit of a linear model.

Run files name it as ``task: linear_regression``: tests/conftest.py registers it in
``$CGVIZ_TASKS`` (``linear_regression=jobtasks:linear_regression``; the tests put this folder
on PYTHONPATH). It follows the task contract of ``cgviz.jobs``: resumes from
``ctx.resume_state``, logs every step, checkpoints every ``ctx.checkpoint_every`` steps,
stops cleanly when ``ctx.should_stop()``.
"""

from __future__ import annotations

import time


def linear_regression(ctx) -> None:
    import torch

    steps = int(ctx.config.get("steps", 50))
    sleep_s = float(ctx.config.get("sleep_s", 0.0))
    # Memory held for the whole run (written, so the pages are really resident).
    held = b"\x01" * int(float(ctx.config.get("hold_mb", 0)) * 1e6)
    generator = torch.Generator().manual_seed(int(ctx.config.get("seed", 0)))
    x = torch.randn(256, 4, generator=generator)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.01 * torch.randn(256, generator=generator)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=float(ctx.config.get("lr", 0.05)))
    step = 0
    if ctx.resume_state is not None:
        model.load_state_dict(ctx.resume_state["model"])
        optimizer.load_state_dict(ctx.resume_state["optimizer"])
        step = int(ctx.resume_state["step"])

    def state():
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict()}

    while step < steps:
        if ctx.should_stop():
            ctx.save_checkpoint(state(), step, total_steps=steps)
            return
        loss = torch.mean((model(x).squeeze(-1) - y) ** 2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        ctx.log(step, loss=float(loss))
        ctx.progress(step, steps)
        if step % ctx.checkpoint_every == 0:
            ctx.save_checkpoint(state(), step, total_steps=steps)
        if sleep_s:
            time.sleep(sleep_s)
    ctx.save_checkpoint(state(), step, total_steps=steps, final=True)
    ctx.progress(step, steps, force=True)
    del held


def touch_marker(ctx) -> None:
    """Not a registered task: a run file that names ``jobtasks:touch_marker`` must be
    refused, so the marker file never appears."""
    from pathlib import Path

    Path(ctx.config["path"]).write_text("this task ran\n")


def simulate_full_disk(root: str, size_bytes: int) -> None:
    """Make this process see ``root`` as a disk of ``size_bytes`` (for machines where no
    small tmpfs can be mounted): an audit hook refuses, with ENOSPC, every open under
    ``root`` that creates, appends to or truncates a file while the files under ``root``
    already take ``size_bytes``. Overwriting an existing file in place is allowed, as on
    a real disk whose blocks are already allocated."""
    import errno
    import os
    import sys

    root = os.path.realpath(root)
    growing = os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def used() -> int:
        total = 0
        for folder, _, files in os.walk(root):
            for name in files:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_size
                except OSError:
                    pass
        return total

    def hook(event, args):
        if event != "open" or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path = os.path.realpath(os.fsdecode(args[0]))
        mode, flags = args[1], args[2]
        grows = bool(flags & growing) or (isinstance(mode, str) and any(c in mode for c in "wax"))
        if grows and path.startswith(root + os.sep) and used() >= size_bytes:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    sys.addaudithook(hook)
