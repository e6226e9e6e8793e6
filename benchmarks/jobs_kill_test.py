"""Fault test for cgviz.jobs: kill -9 a training run at random training steps and resume it.

Starts one run, then 20 times: picks a random step past the step the run continues from,
waits until the run has logged that step (so every kill lands during training, never
before the first step of a leg), kills its whole process group with SIGKILL, checks that
it is reported ``interrupted`` with a loadable checkpoint, resumes it, and checks that the
status right after the resume shows the checkpoint's step. Finally lets it complete and
checks that every step was logged exactly once and the final checkpoint loads. Prints one
row per kill (with the step of each kill) and a summary table.

Target: 20/20 kills during training survived, at most one checkpoint interval of steps
lost per kill, 0 corrupt runs.

    python benchmarks/jobs_kill_test.py [--kills 20] [--seed 0] [--checkpoint-every 25]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
# The tiny task of the tests, registered by the operator's environment (as tests/conftest.py).
os.environ["CGVIZ_TASKS"] = ",".join(filter(None, [os.environ.get("CGVIZ_TASKS", ""),
                                                   "linear_regression=jobtasks:linear_regression"]))

from cgviz import jobs  # noqa: E402


def wait_until(predicate, timeout: float = 180.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise TimeoutError("condition not reached")


def last_logged_step(run_dir: Path) -> int:
    """The step of the last whole line of metrics.csv (cheap: reads the file's end)."""
    path = run_dir / jobs.METRICS_FILE
    try:
        with open(path, "rb") as handle:
            size = path.stat().st_size
            handle.seek(max(0, size - 512))
            lines = handle.read().decode(errors="replace").split("\n")[:-1]
    except OSError:
        return 0
    for line in reversed(lines):
        head = line.split(",", 1)[0]
        if head.isdigit():
            return int(head)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=25)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    total_steps = 100_000  # never reached before the last kill; lowered for the final leg
    every = args.checkpoint_every
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        run_dir = runs / "victim"
        spec = jobs.RunSpec(task="linear_regression",
                            config={"steps": total_steps, "sleep_s": 0.004},
                            checkpoint_every=every)
        jobs.start(spec, runs_dir=runs, name="victim")
        continues_from = 0
        for kill in range(1, args.kills + 1):
            # A random training step of this leg: 1 to 3 checkpoint intervals past its start.
            target = continues_from + int(rng.integers(1, 3 * every + 1))
            wait_until(lambda: last_logged_step(run_dir) >= target)
            pid = jobs.status("victim", runs).pid
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            after = wait_until(lambda: (s := jobs.status("victim", runs)).state == "interrupted"
                               and s)
            step_at_kill = last_logged_step(run_dir)
            checkpoint = after.last_checkpoint_step or 0
            intact = True
            try:
                if after.last_checkpoint_step is not None:
                    loaded = jobs.load_checkpoint(run_dir / "checkpoints" / "last.pt")
                    intact = loaded["step"] == checkpoint
            except Exception:  # noqa: BLE001 - a checkpoint that fails to load is what we count
                intact = False
            resumed = jobs.resume("victim", runs)
            shows_checkpoint = resumed.step == checkpoint
            running = wait_until(lambda: (s := jobs.status("victim", runs)).state == "running"
                                 and s)
            survived = (intact and shows_checkpoint and running.resumes == kill
                        and step_at_kill > 0)
            rows.append((kill, target, step_at_kill, checkpoint, step_at_kill - checkpoint,
                         survived, intact, step_at_kill > continues_from))
            continues_from = checkpoint
        # Final leg: let it finish a short way past the current step.
        jobs.cancel("victim", runs)
        run_file = run_dir / "run.yaml"
        final_spec = jobs.RunSpec.from_file(run_file)
        final_steps = jobs.status("victim", runs).step + 3 * every
        final_spec = jobs.RunSpec(task=final_spec.task, checkpoint_every=every,
                                  config={**final_spec.config, "steps": final_steps},
                                  device=final_spec.device, name=final_spec.name)
        run_file.write_text(final_spec.to_yaml())
        jobs.resume("victim", runs)
        final = jobs.wait("victim", runs, timeout_s=300)
        steps = [int(s) for s in jobs.metrics("victim", runs)["step"]]
        contiguous = steps == list(range(1, final_steps + 1))
        final_ckpt = jobs.load_checkpoint(run_dir / "checkpoints" / "last.pt")
        final_ok = final_ckpt["step"] == final_steps

    print(f"{'kill':>4s} {'aimed at':>8s} {'step at kill':>12s} {'checkpoint':>10s} "
          f"{'steps lost':>10s} {'survived':>8s}")
    for kill, aimed, at, ckpt, lost, survived, _, _ in rows:
        print(f"{kill:4d} {aimed:8d} {at:12d} {ckpt:10d} {lost:10d} {str(survived):>8s}")
    n_survived = sum(r[5] for r in rows)
    during_training = sum(r[7] for r in rows)  # past the step its leg started from
    max_lost = max(r[4] for r in rows)
    # corrupt: a checkpoint that did not load after a kill, or a final run with gaps,
    # duplicate steps or a wrong final checkpoint
    corrupt = sum(not r[6] for r in rows)
    corrupt += int(not (contiguous and final_ok and final.state == "completed"))
    print()
    print("| kills during training survived / total | steps lost (max) | checkpoint interval "
          "| corrupt runs |")
    print("| --- | --- | --- | --- |")
    print(f"| {n_survived} / {len(rows)} | {max_lost} | {every} | {corrupt} |")
    print(f"\n(kills at a step > 0: {during_training}/{len(rows)}; final state {final.state} at "
          f"step {final.step}; metrics contiguous 1..{final_steps}: {contiguous}; final "
          f"checkpoint step {final_ckpt['step']})")
    ok = (n_survived == len(rows) and max_lost <= every and corrupt == 0
          and during_training == len(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
