"""``python -m cgviz train-memnets``: the seed's flags, its output files, run files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from cgviz.memnets import figures

ROOT = Path(__file__).resolve().parents[1]



def _write_data(directory: Path) -> None:
    directory.mkdir()
    rng = np.random.default_rng(0)
    for name in ("traj_a.npy", "traj_b.npy"):
        x = np.cumsum(rng.normal(size=(3000, 3)), axis=0) * 0.05
        x -= x.mean(axis=0)
        np.save(directory / name, (x + rng.normal(size=x.shape)).astype(np.float32))


def _cli(*args: str) -> subprocess.CompletedProcess:
    # one intra-op thread: the networks are tiny, and a busy 2-core runner makes extra
    # threads wait on each other
    return subprocess.run([sys.executable, "-m", "cgviz", "train-memnets", *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_seed_command_writes_the_seed_outputs_and_a_repeatable_run_file(tmp_path):
    data = tmp_path / "data"
    _write_data(data)
    out = tmp_path / "out"
    # the seed's example command, with small sizes
    result = _cli("--seed", "1", "--device", "cpu", "--lagtimes", "1", "7", "8", "9", "10",
                  "--encoder_sizes", "3", "10", "10", "2", "--decay_rate", "0.002",
                  "--thres", "0.05", "--learning_rate", "0.001", "--n_epochs", "2",
                  "--train_split", "0.9", "--train_batch_size", "2000",
                  "--data_directory", str(data), "--saving_directory", str(out))
    assert result.returncode == 0, result.stderr
    (run,) = list(out.iterdir())
    assert run.name.endswith("_memnets_lr_0.001_bsz_2000_lagtime_[1, 7, 8, 9, 10]_decay_rate_"
                             "0.002_thres_0.05_n_epochs_2")
    checkpoints = run / "checkpoints"
    results = checkpoints / "model_2epochs_results"
    assert np.load(checkpoints / "validation_lm.npy").shape == (2, 2)
    assert np.load(checkpoints / "validation_Y.npy").shape == (2, 4, 2)
    assert np.load(checkpoints / "training_loss.npy").shape == (2,)
    time_scales = np.load(results / "model_2epochs_time_scales.npy")
    log_lambda_hat = np.load(results / "model_2epochs_log_lambda_hat.npy")
    np.testing.assert_allclose(time_scales, 1 / np.abs(log_lambda_hat))
    assert np.load(results / "model_2epochs_Y.npy").shape == (4, 2)
    for name in ("m0_tilde", "lm", "Y_predict", "rmse"):
        assert (results / f"model_2epochs_{name}.npy").is_file()
    for name in ("traj_a.npy", "traj_b.npy"):
        assert np.load(checkpoints / "model_2epochs_cvs" / f"cvs_{name}").shape == (3000, 2)
    table = (checkpoints / "model_2epochs_cvs" / "cvs.csv").read_text().splitlines()
    assert table[0] == "cvs,trajectory,frame,time_ps,cv1,cv2" and len(table) == 1 + 3000 * 2
    import torch

    state = torch.load(checkpoints / "model_2epochs.pytorch", weights_only=True)
    assert "encoder.0.running_mean" in state
    run_file = run / "logs" / "run.yaml"
    assert yaml.safe_load(run_file.read_text())["lagtimes"] == [1, 7, 8, 9, 10]
    # the run file repeats the run; a flag overrides it
    from cgviz.cli import main

    assert main(["train-memnets", "--run_file", str(run_file), "--name", "again",
                 "--n_epochs", "1", "--no_progress"]) == 0
    assert (out / "again" / "checkpoints" / "model_1epochs_results").is_dir()


@pytest.mark.parametrize("args, message", [
    (["--lagtimes", "1", "2", "3", "--encoder_sizes", "3", "2", "--data_directory", "missing"],
     "does not exist"),
    (["--lagtimes", "1", "2", "3", "--encoder_sizes", "5", "2", "--data_directory", "{data}"],
     "first encoder size"),
    (["--encoder_sizes", "3", "2", "--data_directory", "{data}"], "--lagtimes is required"),
    (["--lagtimes", "3", "2", "4", "--encoder_sizes", "3", "2", "--data_directory", "{data}"],
     "increasing"),
])
def test_user_errors_are_one_line(tmp_path, capsys, args, message):
    from cgviz.cli import main

    data = tmp_path / "data"
    _write_data(data)
    code = main(["train-memnets", *[a.format(data=data) for a in args],
                 "--saving_directory", str(tmp_path), "--no_progress"])
    stderr = capsys.readouterr().err
    assert code == 2
    assert stderr.startswith("error:") and message in stderr and "Traceback" not in stderr


def test_figures_render_from_training_and_analysis():
    from cgviz.memnets import MEMnets, MEMnetsConfig
    from cgviz.memnets.igme import igme_analysis, igme_window_scan, tica_baseline

    rng = np.random.default_rng(1)
    trajectories = [np.cumsum(rng.normal(size=(2000, 2)), axis=0).astype(np.float32) * 0.02
                    + rng.normal(size=(2000, 2)).astype(np.float32) for _ in range(2)]
    config = MEMnetsConfig(lagtimes=[1, 4, 5, 6], encoder_sizes=[2, 6, 2], n_epochs=2,
                           train_batch_size=1000)
    model = MEMnets(config).fit(trajectories).fetch_model()
    cvs = model.cvs(trajectories)
    mem = igme_analysis(cvs, range(1, 9), dt=2.0, label="MEMnets")
    tica = igme_analysis(tica_baseline(trajectories, 6, 2).cvs, range(1, 9), dt=2.0, label="TICA")
    built = [
        figures.training_curves(model.history),
        figures.training_curves(model.history, "m0"),
        figures.cv_free_energy(cvs),
        figures.cv_scatter(cvs, color=[np.where(c[:, 0] > 0, "A", "B") for c in cvs]),
        figures.log_lambda_figure([mem, tica]),
        figures.memory_term_figure([mem, tica]),
        figures.timescales_figure([mem, tica]),
        figures.window_scan_figure(igme_window_scan(cvs, [1, 2, 3], [2, 4]), dt=2.0),
    ]
    assert [len(f.data) for f in built] == [2, 4, 1, 2, 12, 4, 8, 2]
    # time axes in ps: lag 8 frames at 2 ps
    assert max(built[4].data[0].x) == 16.0
    assert built[6].layout.yaxis.type == "log"


def test_dashed_flags_and_the_seed_underscore_aliases_parse_alike():
    from cgviz.cli import build_parser

    parser = build_parser()
    dashed = parser.parse_args(["train-memnets", "--lagtimes", "1", "7", "8",
                                "--encoder-sizes", "3", "2", "--learning-rate", "0.01",
                                "--n-epochs", "2", "--data-directory", "d", "--no-progress"])
    seed = parser.parse_args(["train-memnets", "--lagtimes", "1", "7", "8",
                              "--encoder_sizes", "3", "2", "--learning_rate", "0.01",
                              "--n_epochs", "2", "--data_directory", "d", "--no_progress"])
    assert vars(dashed) == vars(seed)
    assert dashed.encoder_sizes == [3, 2] and dashed.progress is False
    text = parser._subparsers._group_actions[0].choices["train-memnets"].format_help()
    assert "--learning-rate" in text and "(default: 0.015)" in text  # thres
    train = parser._subparsers._group_actions[0].choices["train-simulator"].format_help()
    assert "(default: 250)" in train and "default: True" not in train
