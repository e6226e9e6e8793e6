"""Fault test for cgviz.jobs: kill -9 a training run at random moments and resume it.

Starts one run, then 20 times: lets it run for a random while, kills its whole process
group with SIGKILL, checks that it is reported ``interrupted`` with a loadable checkpoint,
and resumes it. Finally lets it complete and checks that every step was logged exactly once
and the final checkpoint loads. Prints one row per kill and a summary.

Target: 20/20 clean resumes, at most one checkpoint interval of steps lost per kill.

    python benchmarks/jobs_kill_test.py [--kills 20] [--seed 0]
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

from cgviz import jobs  # noqa: E402


def wait_until(predicate, timeout: float = 120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError("condition not reached")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=25)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    total_steps = 100_000  # never reached before the last kill; lowered for the final leg
    every = args.checkpoint_every
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        spec = jobs.RunSpec(task="linear_regression",
                            config={"steps": total_steps, "sleep_s": 0.004},
                            checkpoint_every=every)
        jobs.start(spec, runs_dir=runs, name="victim")
        rows = []
        for kill in range(1, args.kills + 1):
            # A random moment: sometimes before the driver has even started its loop.
            delay = float(rng.choice([rng.uniform(0.0, 0.3), rng.uniform(0.3, 2.5)]))
            wait_until(lambda: jobs.status("victim", runs).pid)
            time.sleep(delay)
            pid = jobs.status("victim", runs).pid
            logged_before = jobs.metrics("victim", runs)
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            after = wait_until(lambda: (s := jobs.status("victim", runs)).state == "interrupted"
                               and s)
            logged = jobs.metrics("victim", runs)
            step_at_kill = int(logged["step"].max()) if len(logged) else 0
            step_at_kill = max(step_at_kill, int(logged_before["step"].max())
                               if len(logged_before) else 0)
            checkpoint = after.last_checkpoint_step or 0
            ckpt_ok = True
            if after.last_checkpoint_step is not None:
                try:
                    ckpt_ok = jobs.load_checkpoint(
                        runs / "victim" / "checkpoints" / "last.pt")["step"] == checkpoint
                except Exception:  # noqa: BLE001 - a failed load is what we count
                    ckpt_ok = False
            jobs.resume("victim", runs)
            resumed = wait_until(lambda: (s := jobs.status("victim", runs)).state == "running"
                                 and s.step >= checkpoint and s)
            clean = ckpt_ok and resumed.resumes == kill
            rows.append((kill, delay, step_at_kill, checkpoint, step_at_kill - checkpoint, clean))
        # Final leg: let it finish a short way past the current step.
        current = jobs.status("victim", runs).step
        jobs.cancel("victim", runs)
        run_file = runs / "victim" / "run.yaml"
        final_spec = jobs.RunSpec.from_file(run_file)
        final_steps = max(current, jobs.status("victim", runs).step) + 3 * every
        final_spec = jobs.RunSpec(task=final_spec.task, checkpoint_every=every,
                                  config={**final_spec.config, "steps": final_steps},
                                  device=final_spec.device, name=final_spec.name)
        run_file.write_text(final_spec.to_yaml())
        jobs.resume("victim", runs)
        final = jobs.wait("victim", runs, timeout_s=300)
        steps = [int(s) for s in jobs.metrics("victim", runs)["step"]]
        contiguous = steps == list(range(1, final_steps + 1))
        final_ckpt = jobs.load_checkpoint(runs / "victim" / "checkpoints" / "last.pt")

    print(f"{'kill':>4s} {'after (s)':>9s} {'step at kill':>12s} {'checkpoint':>10s} "
          f"{'steps lost':>10s} {'clean resume':>12s}")
    for kill, delay, at, ckpt, lost, clean in rows:
        print(f"{kill:4d} {delay:9.2f} {at:12d} {ckpt:10d} {lost:10d} {str(clean):>12s}")
    n_clean = sum(r[5] for r in rows)
    max_lost = max(r[4] for r in rows)
    print(f"\nclean resumes: {n_clean}/{len(rows)}; most steps lost in one kill: {max_lost} "
          f"(checkpoint interval {every}); final state {final.state} at step {final.step}; "
          f"metrics contiguous 1..{final_steps}: {contiguous}; final checkpoint step "
          f"{final_ckpt['step']}")
    ok = n_clean == len(rows) and max_lost <= every and contiguous and final.state == "completed"
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
