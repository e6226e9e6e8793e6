"""Training runs on disk: start, watch, kill -9, resume, cancel, corrupt files, bad names."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cgviz import CgvizError, jobs

TESTS = Path(__file__).resolve().parent
TASK = "linear_regression"


@pytest.fixture(autouse=True)
def task_on_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))


def spec(**config):
    return jobs.RunSpec(task=TASK, config=config, checkpoint_every=config.pop("every", 10))


def wait_for(predicate, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def logged_steps(name, runs):
    return [int(s) for s in jobs.metrics(name, runs)["step"]]


def test_start_poll_complete(tmp_path):
    runs = tmp_path / "runs"
    started = jobs.start(spec(steps=60), runs_dir=runs, name="fit one")
    assert started.name == "fit-one" and started.state in ("queued", "running", "completed")
    final = jobs.wait("fit-one", runs, timeout_s=120)
    assert final.state == "completed", (final.reason, jobs.read_log("fit-one", runs))
    assert final.step == 60 and final.progress == 1.0 and final.last_checkpoint_step == 60
    frame = jobs.metrics("fit-one", runs)
    assert list(frame["step"]) == list(range(1, 61))
    assert frame["loss"].iloc[-1] < 0.1 * frame["loss"].iloc[0], "the model really learns"
    ckpt = jobs.load_checkpoint(runs / "fit-one" / "checkpoints" / "last.pt")
    assert ckpt["step"] == 60 and "model" in ckpt
    assert sorted(p.name for p in (runs / "fit-one" / "checkpoints").glob("step_*.pt")) == [
        f"step_{s:09d}.pt" for s in range(10, 61, 10)]
    # The run file repeats the run from the CLI.
    repeated = jobs.RunSpec.from_file(runs / "fit-one" / "run.yaml")
    assert repeated.task == TASK and repeated.config == {"steps": 60}
    assert "[cgviz] completed" in jobs.read_log("fit-one", runs)
    assert [s.name for s in jobs.list_runs(runs)] == ["fit-one"]


def test_kill9_is_interrupted_and_resume_continues(tmp_path):
    runs = tmp_path / "runs"
    jobs.start(spec(steps=300, sleep_s=0.01, every=20), runs_dir=runs, name="victim")
    running = wait_for(lambda: (s := jobs.status("victim", runs)).step >= 70 and s)
    os.kill(running.pid, signal.SIGKILL)
    interrupted = wait_for(lambda: (s := jobs.status("victim", runs)).state == "interrupted" and s)
    assert "Resume" in interrupted.reason and interrupted.resumable
    checkpoint_step = interrupted.last_checkpoint_step
    assert checkpoint_step is not None and checkpoint_step % 20 == 0
    assert interrupted.step - checkpoint_step <= 20 + 5  # at most one interval lost (+ lag)

    jobs.resume("victim", runs)
    final = jobs.wait("victim", runs, timeout_s=120)
    assert final.state == "completed", final.reason
    assert final.step == 300 and final.resumes == 1
    assert logged_steps("victim", runs) == list(range(1, 301)), "no gaps, no duplicates"
    assert jobs.load_checkpoint(runs / "victim" / "checkpoints" / "last.pt")["step"] == 300


def test_cancel_then_resume(tmp_path):
    runs = tmp_path / "runs"
    jobs.start(spec(steps=100_000, sleep_s=0.005), runs_dir=runs, name="long")
    wait_for(lambda: jobs.status("long", runs).step >= 30)
    cancelled = jobs.cancel("long", runs, timeout_s=30)
    assert cancelled.state == "cancelled" and "resume" in cancelled.reason.lower()
    stopped_at = cancelled.step
    assert jobs.load_checkpoint(runs / "long" / "checkpoints" / "last.pt")["step"] == stopped_at
    with pytest.raises(CgvizError, match="exists already"):
        jobs.start(spec(steps=5), runs_dir=runs, name="long")  # name taken
    jobs.resume("long", runs)
    wait_for(lambda: jobs.status("long", runs).step > stopped_at + 20)
    assert jobs.cancel("long", runs).state == "cancelled"
    steps = logged_steps("long", runs)
    assert steps == list(range(1, len(steps) + 1))
    jobs.delete("long", runs)
    assert not (runs / "long").exists()


def test_unnamed_runs_get_a_unique_name(tmp_path):
    first = jobs.start(spec(steps=3), runs_dir=tmp_path)
    assert first.name.startswith("linear_regression-")
    assert jobs.wait(first.name, tmp_path, timeout_s=120).state == "completed"


def test_two_runs_at_once_do_not_interfere(tmp_path):
    runs = tmp_path / "runs"
    jobs.start(spec(steps=40, seed=1), runs_dir=runs, name="a")
    jobs.start(spec(steps=55, seed=2), runs_dir=runs, name="b")
    assert jobs.wait("a", runs, timeout_s=120).state == "completed"
    assert jobs.wait("b", runs, timeout_s=120).state == "completed"
    assert logged_steps("a", runs) == list(range(1, 41))
    assert logged_steps("b", runs) == list(range(1, 56))


def test_a_second_driver_is_refused(tmp_path):
    runs = tmp_path / "runs"
    jobs.start(spec(steps=100_000, sleep_s=0.01), runs_dir=runs, name="busy")
    wait_for(lambda: jobs.status("busy", runs).state == "running")
    result = subprocess.run([sys.executable, "-m", "cgviz", "run", str(runs / "busy")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3 and "already driven" in result.stderr
    assert jobs.cancel("busy", runs).state == "cancelled"


def test_corrupt_status_is_reported_and_repaired(tmp_path):
    runs = tmp_path / "runs"
    jobs.start(spec(steps=30), runs_dir=runs, name="done")
    jobs.wait("done", runs, timeout_s=120)
    (runs / "done" / "status.json").write_text('{"state": "runn')
    repaired = jobs.status("done", runs)
    assert repaired.state == "completed" and repaired.step == 30
    assert "unreadable" in repaired.reason and "rebuilt" in repaired.reason
    assert json.loads((runs / "done" / "status.json").read_text())["state"] == "completed"


def test_nan_loss_ends_failed_with_reason(tmp_path):
    runs = tmp_path / "runs"
    jobs.start(spec(steps=200, lr=1e6), runs_dir=runs, name="boom")
    final = jobs.wait("boom", runs, timeout_s=120)
    assert final.state == "failed"
    assert "loss" in final.reason and ("inf" in final.reason or "nan" in final.reason)
    assert "learning rate" in final.reason


def test_disk_full_ends_failed_with_reason(tmp_path):
    runs = tmp_path / "runs"
    run_dir = runs / "full"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "run.yaml").write_text(spec(steps=5000).to_yaml())
    (run_dir / "status.json").write_text(json.dumps({"name": "full", "state": "queued"}))

    def small_files():  # every file this process writes is capped at 8 kB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    result = subprocess.run([sys.executable, "-m", "cgviz", "run", str(run_dir)],
                            preexec_fn=small_files, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    final = jobs.status("full", runs)
    assert final.state == "failed" and "disk is full" in final.reason


@pytest.mark.parametrize("bad", ["../evil", "a/b", "..", ".hidden", "x" * 200, "a\\b", "~"])
def test_path_traversal_names_are_refused(tmp_path, bad):
    with pytest.raises(CgvizError, match="not allowed"):
        jobs.start(spec(steps=1), runs_dir=tmp_path / "runs", name=bad)
    assert not (tmp_path / "evil").exists()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_devices_and_device_validation(tmp_path):
    import torch

    if not torch.cuda.is_available():
        assert jobs.devices() == []
        with pytest.raises(CgvizError, match="not available"):
            jobs.start(spec(steps=1), runs_dir=tmp_path, device="cuda:0", name="gpu")
    assert jobs.parse_device("cuda:0,1") == ["cuda:0", "cuda:1"]
    with pytest.raises(CgvizError, match="Unknown device"):
        jobs.parse_device("gpu0")
    with pytest.raises(CgvizError, match="twice"):
        jobs.parse_device("cuda:1,1")


def test_bad_run_files_and_unknown_runs(tmp_path):
    with pytest.raises(CgvizError, match="Unknown task"):
        jobs.RunSpec(task="nonsense")
    with pytest.raises(CgvizError, match="unknown keys"):
        jobs.RunSpec.from_yaml("task: memnets\nepochs: 3\n")
    with pytest.raises(CgvizError, match="not valid YAML"):
        jobs.RunSpec.from_yaml("task: [memnets\n")
    with pytest.raises(CgvizError, match="no run"):
        jobs.status("ghost", tmp_path)


def test_cli_runs_list_show(tmp_path):
    runs = tmp_path / "runs"
    jobs.start(spec(steps=12), runs_dir=runs, name="cli")
    jobs.wait("cli", runs, timeout_s=120)
    out = subprocess.run([sys.executable, "-m", "cgviz", "runs", "list", "--runs-dir", str(runs)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "cli" in out.stdout and "completed" in out.stdout
    out = subprocess.run([sys.executable, "-m", "cgviz", "runs", "show", "cli", "--runs-dir",
                          str(runs)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "loss" in out.stdout
    out = subprocess.run([sys.executable, "-m", "cgviz", "runs", "show", "../x", "--runs-dir",
                          str(runs)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "not allowed" in out.stderr


def test_run_survives_the_starting_process_exiting(tmp_path):
    runs = tmp_path / "runs"
    code = (
        "from cgviz import jobs; "
        f"jobs.start(jobs.RunSpec(task={TASK!r}, config={{'steps': 80, 'sleep_s': 0.01}}), "
        f"runs_dir={str(runs)!r}, name='orphan')"
    )
    launcher = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)
    assert launcher.returncode == 0, launcher.stderr
    # The launcher is gone; the run goes on and is watched from this (third) process.
    final = jobs.wait("orphan", runs, timeout_s=120)
    assert final.state == "completed" and final.step == 80
