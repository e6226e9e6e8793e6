"""The ``memnets`` task of cgviz.jobs: a MEMnets training as a run directory."""

from __future__ import annotations

import numpy as np
import pytest

from cgviz import jobs
from cgviz.errors import CgvizError



def _features(directory):
    directory.mkdir()
    rng = np.random.default_rng(0)
    for index in range(2):
        slow = np.cumsum(rng.normal(size=3000)) * 0.05
        np.save(directory / f"t{index}.npy",
                np.stack([slow + rng.normal(size=3000), rng.normal(size=3000)], 1))


def test_memnets_run_logs_epochs_checkpoints_state_and_writes_seed_outputs(tmp_path):
    _features(tmp_path / "features")
    spec = jobs.RunSpec(task="memnets", checkpoint_every=2, config={
        "data_directory": str(tmp_path / "features"), "lagtimes": [1, 4, 5, 6],
        "encoder_sizes": [2, 8, 2], "n_epochs": 3, "train_batch_size": 2000, "seeds": [1, 2]})
    run_dir = jobs.create(spec, runs_dir=tmp_path / "runs", name="mem")
    assert jobs.drive(run_dir) == 0, jobs.read_log("mem", tmp_path / "runs")
    status = jobs.status("mem", tmp_path / "runs")
    assert status.state == "completed", status.reason
    frame = jobs.metrics("mem", tmp_path / "runs")
    assert list(frame["step"]) == list(range(1, 7))            # 2 seeds x 3 epochs
    assert {"loss", "val_loss", "gamma", "val_timescale_1", "val_m0_2"} <= set(frame.columns)
    state = jobs.load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["format"] == "cgviz-memnets-training/1" and set(state["finished"]) == {"1", "2"}
    results = run_dir / "checkpoints" / "model_3epochs_results"
    assert np.load(results / "model_3epochs_time_scales.npy").shape == (2,)
    assert np.load(run_dir / "checkpoints" / "model_3epochs_cvs" / "cvs_t1.npy").shape == (3000, 2)


def test_memnets_run_rejects_unknown_settings(tmp_path):
    from cgviz.memnets.task import run

    class Context:
        config = {"lagtimes": [1, 2, 3], "encoder_sizes": [2, 1], "epochs": 3}

    with pytest.raises(CgvizError, match="Unknown memnets run setting"):
        run(Context())
    Context.config = {"lagtimes": [1, 2, 3], "encoder_sizes": [2, 1]}
    with pytest.raises(CgvizError, match="data_directory"):
        run(Context())


def test_memnets_refuses_several_devices_instead_of_using_one(tmp_path):
    from cgviz import CgvizError, jobs
    from cgviz.memnets.task import check_single_device

    check_single_device(jobs.parse_device("cpu"))
    with pytest.raises(CgvizError, match="one device"):
        check_single_device(jobs.parse_device("cpu:2"))
    with pytest.raises(CgvizError, match="one device"):
        check_single_device(jobs.parse_device("cuda:0,1"))
