"""Simulator training: config files, a run that learns, resume after cancel, DDP on 2 CPUs."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
import torch

from cgviz import CgvizError, datasets, jobs
from cgviz.simulator.model import load_checkpoint
from cgviz.training import simulator as training
from cgviz.training.config import SimulatorTrainingConfig, preset


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    datasets.generate_preset(out, "tiny", only=["polymer-train"])
    return out


def tiny_config(data_dir, **changes):
    base = preset("cpu-demo").to_dict()
    # 20 frames per tiny chain: too short to hold a validation window of 7 frames.
    base.update({"train_demo": "polymer-train", "data_dir": str(data_dir), "batch_size": 4,
                 "validate_every": 4, "log_every": 2, "validation_fraction": 0.0, **changes})
    base["model"] = {**base["model"], "history_length": 6}  # the tiny chains are short
    return SimulatorTrainingConfig.from_dict(base)


def test_config_round_trips_and_presets_validate():
    for name in ("cpu-demo", "paper"):
        config = preset(name)
        again = SimulatorTrainingConfig.from_yaml(config.to_yaml())
        assert again == config
    paper = preset("paper").model_config(("B1",))
    assert paper.history_length == 30 and paper.dynamics_layers == 7
    merged = SimulatorTrainingConfig.from_yaml("preset: cpu-demo\nmax_steps: 7\nmodel:\n  sigma_min: 0.2\n")
    assert merged.max_steps == 7 and merged.model["sigma_min"] == 0.2
    assert merged.model["history_length"] == preset("cpu-demo").model["history_length"]
    with pytest.raises(CgvizError, match="Unknown training settings"):
        SimulatorTrainingConfig.from_yaml("max_stepz: 3\n")
    with pytest.raises(CgvizError, match="Unknown model settings"):
        SimulatorTrainingConfig.from_yaml("model: {layers: 3}\n")
    with pytest.raises(CgvizError, match="precision"):
        SimulatorTrainingConfig(precision="fp8")


@pytest.mark.slow
def test_training_learns_on_the_bundled_polymers(tmp_path):
    config = SimulatorTrainingConfig.from_dict(
        {**preset("cpu-demo").to_dict(), "max_steps": 120, "validate_every": 60})
    data = training.prepare_data(config)
    torch.manual_seed(0)
    untrained = training.build_model(config, data)
    before = training.validation_loss(untrained, data.validation)
    spec = jobs.RunSpec(task="simulator", config=config.to_dict(), checkpoint_every=60)
    target = jobs.create(spec, runs_dir=tmp_path, name="learn")
    assert jobs.drive(target) == 0
    final = jobs.status(target)
    assert final.state == "completed" and final.step == 120
    model, checkpoint = load_checkpoint(target / "checkpoints" / "last.pt")
    after = training.validation_loss(model, data.validation)
    assert after["nll"] < before["nll"] - 0.1, (before, after)
    assert after["mse"] < before["mse"], (before, after)
    frame = jobs.metrics("learn", tmp_path)
    assert {"loss", "nll", "score_loss", "val_loss"} <= set(frame.columns)
    assert checkpoint["cgviz_mapping"]["method"] == "metis"


@pytest.mark.slow
def test_bf16_mixed_precision_training_learns_and_keeps_fp32_weights(tmp_path):
    """precision: bf16-mixed runs the forward pass in bfloat16 (CPU autocast here, the same
    Lightning plugin as on a GPU); it must still learn, and the weights stay float32."""
    config = SimulatorTrainingConfig.from_dict(
        {**preset("cpu-demo").to_dict(), "max_steps": 120, "validate_every": 60,
         "precision": "bf16-mixed"})
    data = training.prepare_data(config)
    torch.manual_seed(0)
    before = training.validation_loss(training.build_model(config, data), data.validation)
    spec = jobs.RunSpec(task="simulator", config=config.to_dict(), checkpoint_every=60)
    target = jobs.create(spec, runs_dir=tmp_path, name="bf16")
    assert jobs.drive(target) == 0, jobs.read_log("bf16", tmp_path)
    model, checkpoint = load_checkpoint(target / "checkpoints" / "last.pt")
    assert checkpoint["cgviz_training_config"]["precision"] == "bf16-mixed"
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    after = training.validation_loss(model, data.validation)
    assert after["nll"] < before["nll"] - 0.1, (before, after)
    losses = jobs.metrics("bf16", tmp_path).dropna(subset=["loss"])["loss"]
    assert losses.notna().all() and losses.iloc[-5:].mean() < losses.iloc[:5].mean()


def test_validation_too_short_for_the_history_is_an_error_not_a_silent_skip(tiny_data):
    config = tiny_config(tiny_data, validation_fraction=0.1)  # 2 frames, 7 needed
    with pytest.raises(CgvizError, match="history_length \\+ 1 = 7"):
        training.prepare_data(config)


def test_data_too_short_for_one_batch_fail_the_run_with_a_reason(tiny_data, tmp_path):
    config = tiny_config(tiny_data, max_steps=5, batch_size=100_000)
    target = jobs.create(jobs.RunSpec(task="simulator", config=config.to_dict()),
                         runs_dir=tmp_path, name="short")
    assert jobs.drive(target) != 0
    final = jobs.status(target)
    assert final.state == "failed" and "too few for one batch" in final.reason, final.reason


@pytest.mark.slow
def test_cancel_and_resume_continue_the_step_counter(tiny_data, tmp_path):
    config = tiny_config(tiny_data, max_steps=400)
    spec = jobs.RunSpec(task="simulator", config=config.to_dict(), checkpoint_every=5)
    jobs.start(spec, runs_dir=tmp_path, name="resume-me")
    deadline = time.time() + 120
    while (jobs.status("resume-me", tmp_path).last_checkpoint_step or 0) < 10:
        assert time.time() < deadline, jobs.read_log("resume-me", tmp_path)
        time.sleep(0.2)
    cancelled = jobs.cancel("resume-me", tmp_path)
    assert cancelled.state == "cancelled", cancelled.reason
    stopped = jobs.load_checkpoint(tmp_path / "resume-me" / "checkpoints" / "last.pt")
    assert stopped["global_step"] == cancelled.step >= 10
    # Finish soon after the point where it stopped.
    run_file = tmp_path / "resume-me" / "run.yaml"
    spec = jobs.RunSpec.from_file(run_file)
    run_file.write_text(jobs.RunSpec(
        task=spec.task, config={**spec.config, "max_steps": cancelled.step + 6},
        checkpoint_every=5, name=spec.name).to_yaml())
    jobs.resume("resume-me", tmp_path)
    final = jobs.wait("resume-me", tmp_path, timeout_s=180)
    assert final.state == "completed", final.reason
    assert final.step == cancelled.step + 6 and final.resumes == 1
    steps = [int(s) for s in jobs.metrics("resume-me", tmp_path).dropna(subset=["loss"])["step"]]
    assert steps == sorted(set(steps)), "no step logged twice after the resume"
    assert load_checkpoint(tmp_path / "resume-me" / "checkpoints" / "last.pt")[1][
        "global_step"] == final.step


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_keeps_the_ranks_in_step(tiny_data, tmp_path):
    config_file = tmp_path / "ddp.yaml"
    config_file.write_text(tiny_config(tiny_data, max_steps=6).to_yaml())
    result = subprocess.run(
        [sys.executable, "-m", "cgviz", "train-simulator", str(config_file), "--device", "cpu:2",
         "--runs-dir", str(tmp_path / "runs"), "--name", "ddp", "--checkpoint-every", "3"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    log = (tmp_path / "runs" / "ddp" / "log.txt").read_text() if (
        tmp_path / "runs" / "ddp" / "log.txt").exists() else result.stdout + result.stderr
    sums = dict(re.findall(r"rank (\d) of 2: step 6, parameter checksum (\S+)", log))
    assert set(sums) == {"0", "1"}, log[-3000:]
    assert sums["0"] == sums["1"], "both ranks hold the same parameters"
    assert jobs.status("ddp", tmp_path / "runs").state == "completed"
