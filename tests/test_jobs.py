"""Training runs on disk: start, watch, kill -9, resume, cancel, corrupt files, bad names."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cgviz import CgvizError, jobs

TESTS = Path(__file__).resolve().parent
TASK = "linear_regression"  # tests/conftest.py registers it in $CGVIZ_TASKS


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

    resumed = jobs.resume("victim", runs)
    # The status shows the step the run continues from, not the step it was killed at.
    assert resumed.state == "queued" and resumed.step == checkpoint_step <= interrupted.step
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



def read_status_file(run_dir):
    return json.loads((run_dir / "status.json").read_text())


def kill_and_wait(pid):
    """SIGKILL and wait until the process is gone (a zombie holds no locks)."""
    import psutil

    def gone():
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    os.kill(pid, signal.SIGKILL)
    wait_for(gone)


# ----------------------------------------------------------------------------- run files


def test_run_files_name_only_registered_tasks(tmp_path):
    runs = tmp_path / "runs"
    marker = tmp_path / "marker"
    for task in ("os:getcwd", "jobtasks:touch_marker", "shutil:rmtree", "linear_regression "):
        with pytest.raises(CgvizError, match="Unknown task") as info:
            jobs.RunSpec.from_yaml(f"task: '{task}'\n")
        assert "simulator" in str(info.value) and "memnets" in str(info.value)
    run_file = tmp_path / "evil.yaml"
    run_file.write_text(f"task: 'jobtasks:touch_marker'\nconfig: {{path: '{marker}'}}\n")
    out = subprocess.run([sys.executable, "-m", "cgviz", "runs", "start", str(run_file),
                          "--runs-dir", str(runs)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Unknown task" in out.stderr and "simulator" in out.stderr
    assert not runs.exists() or not any(runs.iterdir())
    # A run file edited after its run was created: the driver refuses it as well.
    jobs.create(spec(steps=5), runs_dir=runs, name="edited")
    (runs / "edited" / "run.yaml").write_text(run_file.read_text())
    result = subprocess.run([sys.executable, "-m", "cgviz", "run", str(runs / "edited")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    final = jobs.status("edited", runs)
    assert final.state == "failed" and "Unknown task" in final.reason
    assert not marker.exists()


def test_cancel_resume_delete_act_only_inside_the_runs_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default runs folder is ./runs
    runs, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    jobs.start(spec(steps=3), runs_dir=elsewhere, name="precious")
    assert jobs.wait("precious", elsewhere, timeout_s=120).state == "completed"
    outside = elsewhere / "precious"
    runs.mkdir()
    (runs / "link").symlink_to(outside, target_is_directory=True)
    attempts = [(outside, runs), (str(outside), None), ("link", runs), (runs / "link", runs),
                (runs / ".." / "elsewhere" / "precious", runs)]
    for action in (jobs.delete, jobs.resume, jobs.cancel):
        for target, folder in attempts:
            with pytest.raises(CgvizError, match="not a run in the runs folder"):
                action(target, folder)
    assert (outside / "run.yaml").exists() and jobs.status(outside).state == "completed"
    # The same actions inside the runs folder work, by name and by path.
    jobs.start(spec(steps=3), runs_dir=runs, name="mine")
    jobs.wait("mine", runs, timeout_s=120)
    jobs.delete(runs / "mine", runs)
    assert not (runs / "mine").exists()


@pytest.mark.parametrize("bad", ["../../x", "/tmp/cgviz-abs", "a/../../x", ".."])
def test_train_memnets_name_cannot_leave_the_saving_directory(tmp_path, capsys, bad):
    import numpy as np

    from cgviz.cli import main

    data = tmp_path / "features"
    data.mkdir()
    np.save(data / "traj.npy", np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32))
    save = tmp_path / "deep" / "save"
    code = main(["train-memnets", "--name", bad, "--saving_directory", str(save),
                 "--lagtimes", "1", "2", "3", "--encoder_sizes", "2", "4", "1", "--n_epochs", "1",
                 "--data_directory", str(data), "--train_batch_size", "64"])
    assert code == 2 and "not allowed" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["features", "traj.npy"]
    assert not Path("/tmp/cgviz-abs").exists()


# ----------------------------------------------------------------------------- one driver


def test_concurrent_resumes_launch_one_driver(tmp_path):
    runs = tmp_path / "runs"
    jobs.start(spec(steps=100_000, sleep_s=0.005, every=10), runs_dir=runs, name="race")
    running = wait_for(lambda: (s := jobs.status("race", runs)).step >= 25 and s)
    os.kill(running.pid, signal.SIGKILL)
    wait_for(lambda: jobs.status("race", runs).state == "interrupted")
    barrier = threading.Barrier(5)
    resumed, refused, status_errors = [], [], []
    watching = threading.Event()

    def resume():
        barrier.wait()
        try:
            resumed.append(jobs.resume("race", runs))
        except CgvizError as error:
            refused.append(str(error))

    def watch():  # status() is asked all the while and must never raise
        barrier.wait()
        while not watching.is_set():
            try:
                jobs.status("race", runs)
            except Exception as error:  # noqa: BLE001 - what we count
                status_errors.append(repr(error))

    threads = [threading.Thread(target=resume) for _ in range(4)] + [threading.Thread(target=watch)]
    for thread in threads:
        thread.start()
    for thread in threads[:4]:
        thread.join(120)
    running = wait_for(lambda: (s := jobs.status("race", runs)).state == "running"
                       and s.step > resumed[0].step + 5 and s)
    watching.set()
    threads[4].join(60)
    assert len(resumed) == 1 and len(refused) == 3, (resumed, refused)
    assert all("queued" in e or "running" in e for e in refused), refused
    assert status_errors == []
    assert running.pid == resumed[0].pid and running.resumes == 1
    log = jobs.read_log("race", runs)
    assert log.count("resumed at step") == 1 and "already driven" not in log
    assert jobs.cancel("race", runs).state == "cancelled"
    steps = logged_steps("race", runs)
    assert steps == list(range(1, len(steps) + 1))


@pytest.mark.parametrize("damage", ["garbage", "foreign object"])
def test_an_unloadable_checkpoint_fails_the_resume_with_its_reason(tmp_path, damage):
    import datetime

    import torch

    runs = tmp_path / "runs"
    jobs.start(spec(steps=100_000, sleep_s=0.005), runs_dir=runs, name="bad")
    wait_for(lambda: jobs.status("bad", runs).step >= 12)
    assert jobs.cancel("bad", runs).state == "cancelled"
    last = runs / "bad" / "checkpoints" / "last.pt"
    if damage == "garbage":
        last.write_bytes(b"this is not a checkpoint")
    else:  # loading it would call datetime's constructor: weights_only refuses
        torch.save({"model": datetime.datetime.now(), "step": 10}, last)
    jobs.resume("bad", runs)
    final = jobs.wait("bad", runs, timeout_s=120)
    assert final.state == "failed" and final.resumable
    assert "last.pt" in final.reason and "cannot be loaded" in final.reason, final.reason
    assert "weights_only" not in final.reason and "likely succeed" not in final.reason


# ----------------------------------------------------------------------------- full disk


def _fill(disk: Path) -> Path:
    """Write a file until the file system is full (ENOSPC); returns it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (needs root and mount); skipped where none can be mounted."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if (not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None
            or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                              capture_output=True).returncode != 0):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_full_disk_keeps_the_reason_and_status_never_raises(small_disk):
    runs = small_disk / "runs"
    jobs.start(spec(steps=100_000, sleep_s=0.005, every=10), runs_dir=runs, name="full")
    # 1. A driver killed while the disk is full: reported, without raising, though the
    #    disk has no room to record it.
    running = wait_for(lambda: (s := jobs.status("full", runs)).step >= 15 and s)
    kill_and_wait(running.pid)
    filler = _fill(small_disk)
    # (the OS may free a killed process's locks a moment after it is gone)
    seen = wait_for(lambda: (s := jobs.status("full", runs)).state != "running" and s)
    assert seen.state == "interrupted" and "Resume" in seen.reason
    assert [s.state for s in jobs.list_runs(runs)] == ["interrupted"]
    assert read_status_file(runs / "full")["state"] == "running"  # no room to write it
    filler.unlink()
    assert jobs.status("full", runs).state == "interrupted"
    assert read_status_file(runs / "full")["state"] == "interrupted"  # recorded now
    # 2. The disk fills up during training: the run ends failed, and says why.
    resumed = jobs.resume("full", runs)
    wait_for(lambda: (s := jobs.status("full", runs)).state == "running"
             and s.step > resumed.step + 5)
    filler = _fill(small_disk)
    final = wait_for(lambda: (s := jobs.status("full", runs)).finished and s)
    assert final.state == "failed" and "disk is full" in final.reason, final.reason
    assert read_status_file(runs / "full")["state"] == "failed"
    filler.unlink()
    # 3. After freeing space the reason is still there, and resume continues.
    after = jobs.status("full", runs)
    assert after.state == "failed" and "disk is full" in after.reason
    resumed = jobs.resume("full", runs)
    wait_for(lambda: jobs.status("full", runs).step > resumed.step + 5)
    assert jobs.cancel("full", runs).state == "cancelled"
    steps = logged_steps("full", runs)
    assert steps == list(range(1, len(steps) + 1))


def test_a_simulated_full_disk_ends_the_run_failed_with_its_reason(tmp_path):
    """The same as the tmpfs test where none can be mounted: the driver sees its disk as
    full (an audit hook in the driver process, tests/jobtasks.simulate_full_disk)."""
    disk = tmp_path / "disk"
    runs = disk / "runs"
    run_dir = jobs.create(spec(steps=100_000, sleep_s=0.005, every=10), runs_dir=runs,
                          name="sim")
    size = 4 << 20
    code = ("import sys, jobtasks; "
            f"jobtasks.simulate_full_disk({str(disk)!r}, {size}); "
            "from cgviz.cli import main; "
            f"sys.exit(main(['run', {str(run_dir)!r}]))")
    driver = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: jobs.status("sim", runs).step >= 20)
        used = sum(p.stat().st_size for p in disk.rglob("*") if p.is_file())
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (size - used))  # the disk is full now
        output, _ = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert driver.returncode == 1, output
    final = jobs.status("sim", runs)
    assert final.state == "failed" and "disk is full" in final.reason, (final, output)
    assert read_status_file(run_dir)["state"] == "failed"
    filler.unlink()
    assert jobs.status("sim", runs).reason == final.reason


# ----------------------------------------------------------------------------- queue


def states(runs):
    return {s.name: (s.state, s.place) for s in jobs.list_runs(runs)}


def test_runs_beyond_the_cpu_slot_wait_queued_and_start_by_themselves(tmp_path, monkeypatch):
    monkeypatch.delenv("CGVIZ_MAX_RUNS", raising=False)
    runs = tmp_path / "runs"
    for name in ("q1", "q2", "q3"):
        jobs.start(spec(steps=100_000, sleep_s=0.005), runs_dir=runs, name=name)
    wait_for(lambda: states(runs) == {"q1": ("running", None), "q2": ("queued", 1),
                                      "q3": ("queued", 2)})
    assert [(s.name, s.place) for s in jobs.queue(runs)] == [("q2", 1), ("q3", 2)]
    out = subprocess.run([sys.executable, "-m", "cgviz", "runs", "list", "--runs-dir", str(runs)],
                         capture_output=True, text=True, timeout=120)
    assert "queued #1" in out.stdout and "queued #2" in out.stdout
    # A queued run can be cancelled: it leaves the queue without having run.
    cancelled = jobs.cancel("q2", runs)
    assert cancelled.state == "cancelled" and "queued" in cancelled.reason
    assert len(jobs.metrics("q2", runs)) == 0
    wait_for(lambda: states(runs)["q3"] == ("queued", 1))
    # When the slot frees, the next run starts by itself.
    first = jobs.cancel("q1", runs)
    third = wait_for(lambda: (s := jobs.status("q3", runs)).state == "running" and s)
    assert third.started >= first.ended  # never two at once on the CPU
    assert jobs.cancel("q3", runs).state == "cancelled"


def test_the_queue_limit_is_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("CGVIZ_MAX_RUNS", "cpu=2")
    runs = tmp_path / "runs"
    for name in ("c1", "c2", "c3"):
        jobs.start(spec(steps=100_000, sleep_s=0.005), runs_dir=runs, name=name)
    wait_for(lambda: states(runs) == {"c1": ("running", None), "c2": ("running", None),
                                      "c3": ("queued", 1)})
    for name in ("c3", "c2", "c1"):
        assert jobs.cancel(name, runs).state == "cancelled"
    assert jobs.queue_limits() == {"cpu": 2, "cuda": 1}
    monkeypatch.setenv("CGVIZ_MAX_RUNS", "cuda=2,cuda:1=3")
    assert jobs.queue_limits() == {"cpu": 1, "cuda": 2, "cuda:1": 3}
    monkeypatch.setenv("CGVIZ_MAX_RUNS", "cpu=0")
    with pytest.raises(CgvizError, match="CGVIZ_MAX_RUNS"):
        jobs.queue_limits()


# ----------------------------------------------------------------------------- owners


def test_visitors_control_only_their_own_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("CGVIZ_SHARED_CONTROL", raising=False)
    runs = tmp_path / "runs"
    jobs.start(spec(steps=100_000, sleep_s=0.005), runs_dir=runs, name="alices",
               owner="session:alice")
    running = wait_for(lambda: (s := jobs.status("alices", runs)).state == "running" and s)
    assert running.owner == "session:alice"
    assert jobs.can_control(running, "session:alice") and jobs.can_control(running, None)
    assert not jobs.can_control(running, "session:bob") and not jobs.can_control(running, "")
    for action in (jobs.cancel, jobs.resume, jobs.delete):
        with pytest.raises(CgvizError, match="started by someone else"):
            action("alices", runs, owner="session:bob")
    assert jobs.status("alices", runs).state == "running"
    assert jobs.cancel("alices", runs, owner="session:alice").state == "cancelled"
    # The owner survives a status.json that has to be rebuilt.
    (runs / "alices" / "status.json").write_text("{")
    assert jobs.status("alices", runs).owner == "session:alice"
    # The operator can allow shared control.
    monkeypatch.setenv("CGVIZ_SHARED_CONTROL", "1")
    assert jobs.can_control(jobs.status("alices", runs), "session:bob")
    jobs.delete("alices", runs, owner="session:bob")
    assert not (runs / "alices").exists()
    # Runs started from the CLI belong to the CLI user.
    monkeypatch.delenv("CGVIZ_SHARED_CONTROL")
    run_file = tmp_path / "run.yaml"
    run_file.write_text(spec(steps=3).to_yaml())
    out = subprocess.run([sys.executable, "-m", "cgviz", "runs", "start", str(run_file),
                          "--runs-dir", str(runs), "--name", "from-cli"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    cli_run = jobs.wait("from-cli", runs, timeout_s=120)
    assert cli_run.owner == jobs.local_owner() and cli_run.owner.startswith("cli")
    assert not jobs.can_control(cli_run, "session:alice")


def test_take_away_files_and_a_clean_metrics_csv(tmp_path):
    runs = tmp_path / "runs"
    jobs.start(spec(steps=30), runs_dir=runs, name="keep")
    assert jobs.wait("keep", runs, timeout_s=120).state == "completed"
    files = jobs.take_away_files("keep", runs)
    assert list(files) == ["run file", "last checkpoint", "metrics"]
    assert jobs.load_checkpoint(files["last checkpoint"])["step"] == 30
    text = jobs.metrics_csv("keep", runs)
    assert text.splitlines()[0].startswith("step,")
    assert len(text.splitlines()) == 31
    # A line torn by a kill is left out of the CSV a user downloads.
    with open(files["metrics"], "a") as handle:
        handle.write("31,0,0.12")
    assert jobs.metrics_csv("keep", runs) == text
    with pytest.raises(CgvizError):
        jobs.take_away_files("no-such-run", runs)
