"""MEMnets building blocks: config, multi-lag data, CV post-processing, estimator, checkpoints."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from cgviz.errors import CgvizError
from cgviz.memnets.config import MEMnetsConfig
from cgviz.memnets.cvs import fit_cv_projection, rblw_shrinkage
from cgviz.memnets.data import MultiLagData
from cgviz.memnets.estimator import MEMnets, MEMnetsModel
from cgviz.memnets.lobe import MEMnetsLobe



def test_import_of_memnets_is_light():
    code = ("import sys, cgviz, cgviz.memnets; "
            "print(','.join(m for m in ('torch', 'deeptime', 'lightning', 'torch_geometric', "
            "'streamlit', 'plotly') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_config_validates_and_round_trips_yaml(tmp_path):
    config = MEMnetsConfig(lagtimes=[1, 7, 8, 9, 10], encoder_sizes=[4, 30, 3], seeds=[1, 2],
                           split="blocks", block_length=500)
    assert config.lagtimes == (1, 7, 8, 9, 10) and config.n_cvs == 3 and config.n_features == 4
    path = tmp_path / "memnets.yaml"
    config.to_yaml(path)
    assert MEMnetsConfig.from_yaml(path) == config
    assert MEMnetsConfig.from_yaml(config.to_yaml()) == config
    for bad, match in [({"lagtimes": [1, 7]}, "at least two long lags"),
                       ({"lagtimes": [5, 3, 8]}, "increasing"),
                       ({"lagtimes": [1, 7, 7]}, "increasing"),
                       ({"encoder_sizes": [4]}, "encoder_sizes"),
                       ({"optimizer": "Adamax"}, "Unknown optimizer"),
                       ({"train_split": 1.5}, "train_split"),
                       ({"split": "sideways"}, "Unknown split"),
                       ({"seeds": [1, 1]}, "distinct"),
                       ({"n_epochs": 0}, "n_epochs"),
                       ({"block_length": 8}, "not longer than the longest lag")]:
        values = {"lagtimes": [1, 7, 8], "encoder_sizes": [4, 3], **bad}
        with pytest.raises(CgvizError, match=match):
            MEMnetsConfig(**values)
    with pytest.raises(CgvizError, match="Unknown MEMnets setting"):
        MEMnetsConfig.from_dict({"lagtimes": [1, 2, 3], "encoder_sizes": [2, 1], "lr": 1})


def test_multilag_samples_are_index_views_over_the_frames():
    trajectories = [np.arange(40, dtype=np.float32).reshape(20, 2),
                    100 + np.arange(30, dtype=np.float32).reshape(15, 2)]
    data = MultiLagData(trajectories, [1, 3, 4])
    assert data.n_samples == (20 - 4) + (15 - 4)
    assert data.frames.shape == (35, 2)               # every frame stored once
    batch = data.gather()
    assert batch.shape == (4, data.n_samples, 2)
    # sample 0 is x_0 and its lagged frames, never crossing into trajectory 2
    np.testing.assert_array_equal(batch[:, 0, 0].numpy(), [0, 2, 6, 8])
    assert (batch[-1, :, 0] - batch[0, :, 0] == 8).all()   # tau_K = 4 frames = 8 in col 0
    train, validation = data.split(0.7, "random", seed=0)
    assert train.frames.data_ptr() == data.frames.data_ptr()   # no copy
    both = np.concatenate([train.starts.numpy(), validation.starts.numpy()])
    assert sorted(both.tolist()) == sorted(data.starts.tolist())
    assert set(train.starts.tolist()).isdisjoint(validation.starts.tolist())


def test_block_split_shares_no_frame_between_train_and_validation():
    rng = np.random.default_rng(0)
    data = MultiLagData([rng.normal(size=(3000, 2)), rng.normal(size=(2000, 2))], [1, 5, 10])
    train, validation = data.split(0.8, "blocks", seed=3, block_length=100)
    def frames(view):
        return set((view.starts[:, None] + view.offsets[None, :]).flatten().tolist())
    assert frames(train).isdisjoint(frames(validation))
    assert 0.1 < validation.n_samples / (train.n_samples + validation.n_samples) < 0.3
    with pytest.raises(CgvizError, match="longest lag"):
        data.split(0.8, "blocks", block_length=5)


def test_multilag_data_rejects_bad_input():
    with pytest.raises(CgvizError, match="longest lag"):
        MultiLagData(np.zeros((5, 2)), [1, 4, 8])
    bad = np.zeros((50, 2))
    bad[7, 1] = np.nan
    with pytest.raises(CgvizError, match="NaN"):
        MultiLagData(bad, [1, 2, 3])
    with pytest.raises(CgvizError, match="different numbers of features"):
        MultiLagData([np.zeros((50, 2)), np.zeros((50, 3))], [1, 2, 3])


def test_rblw_shrinkage_matches_the_formula():
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(8, 5))
    s = np.cov(samples.T, bias=True)
    n, p = 8, 5
    tr, tr2 = np.trace(s), np.trace(s @ s)
    rho = min(1.0, ((n - 2) / n * tr2 + tr ** 2) / ((n + 2) * (tr2 - tr ** 2 / p)))
    shrunk, got = rblw_shrinkage(s, n)
    assert got == pytest.approx(rho)
    np.testing.assert_allclose(shrunk, (1 - rho) * s + rho * tr / p * np.eye(p))
    assert np.linalg.eigvalsh(shrunk).min() > 0     # p < n: S alone would be near singular
    anisotropic = rng.normal(size=(100000, 3)) * [1.0, 3.0, 0.2]
    _, small = rblw_shrinkage(np.cov(anisotropic.T), 100000)
    assert small < 1e-3                 # plenty of data, far from isotropic: ~no shrinkage
    _, isotropic = rblw_shrinkage(np.cov(rng.normal(size=(100000, 3)).T), 100000)
    assert isotropic > 0.2              # the target is right: shrink a lot


def test_cv_projection_recovers_the_slow_direction_and_time_scale():
    rng = np.random.default_rng(2)
    n = 60000
    slow = np.zeros(n)
    fast = rng.normal(size=n)
    noise = rng.normal(size=n)
    a = np.exp(-1 / 20)
    for t in range(1, n):
        slow[t] = a * slow[t - 1] + np.sqrt(1 - a * a) * noise[t]
    mixed = np.stack([slow + fast, slow - fast], axis=1)
    projection = fit_cv_projection([mixed], tau=5)
    cv = projection.transform(mixed)
    assert abs(np.corrcoef(cv[:, 0], slow)[0, 1]) > 0.99
    assert projection.timescales_frames[0] == pytest.approx(20, rel=0.1)
    np.testing.assert_allclose(np.cov(cv.T), np.eye(2), atol=0.05)   # whitened CVs


def _ou_trajectories(n_frames=8000, n_traj=2, seed=0):
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_traj):
        columns = [lfilter([1.0], [1.0, -a], rng.normal(size=n_frames) * np.sqrt(1 - a * a))
                   for a in (np.exp(-1 / 30), np.exp(-1 / 3))]
        out.append(np.stack(columns, axis=1).astype(np.float32))
    return out


def test_estimator_keeps_the_best_seed_and_records_history(tmp_path):
    config = MEMnetsConfig(lagtimes=[1, 6, 8, 10], encoder_sizes=[2, 8, 1], n_epochs=3,
                           train_batch_size=4000, seeds=[3, 4], save_model_interval=2)
    seen = []
    estimator = MEMnets(config).fit(_ou_trajectories(), callbacks=[seen.append])
    model = estimator.fetch_model()
    assert [p.epoch for p in seen] == [1, 2, 3, 1, 2, 3]
    assert set(model.seed_losses) == {3, 4}
    assert model.seed_losses[model.seed] == min(model.seed_losses.values())
    history = model.history
    assert len(history.train) == len(history.validation) == 3
    assert history.array("log_lambda", "validation").shape == (3, 4, 1)
    gammas = history.array("gamma", "train")
    assert (np.diff(gammas) < 0).all() and gammas[0] < 2.0
    assert history.validation[0].log_lambda.dtype == np.float64
    assert sorted(estimator.snapshots) == [2, 3]
    # checkpoint round trip, weights_only
    path = model.save(tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["config"]["lagtimes"] == [1, 6, 8, 10]
    loaded = MEMnetsModel.load(path)
    data = _ou_trajectories(500, 1, seed=9)[0]
    np.testing.assert_allclose(loaded.transform(data), model.transform(data), rtol=1e-6)


def test_callback_can_stop_training():
    config = MEMnetsConfig(lagtimes=[1, 6, 8, 10], encoder_sizes=[2, 4, 1], n_epochs=10,
                           train_batch_size=4000, seeds=[1, 2])
    estimator = MEMnets(config).fit(_ou_trajectories(), callbacks=[lambda p: p.epoch < 2])
    assert list(estimator.histories) == [1] and len(estimator.histories[1].train) == 2


def test_gamma_schedule_switches_to_one_half_for_good():
    config = MEMnetsConfig(lagtimes=[1, 6, 8, 10], encoder_sizes=[2, 4, 1], n_epochs=6,
                           train_batch_size=1000, decay_rate=0.2, thres=0.05)
    history = MEMnets(config).fit(_ou_trajectories(4000, 1)).fetch_model().history
    gammas = history.array("gamma", "validation")
    # 3990 samples, 3591 for training -> 4 steps per epoch (1000, 1000, 1000, 591)
    warm = 0.5 + 1.5 * np.exp(-0.2 * 4 * np.arange(1, 7))
    # warm-up until the end of the first epoch with gamma <= 0.55 (epoch 5), then 0.5
    expected = np.where(np.arange(1, 7) < 5, warm, 0.5)
    np.testing.assert_allclose(gammas, expected, rtol=1e-12)


def test_estimator_errors_are_user_errors():
    config = MEMnetsConfig(lagtimes=[1, 6, 8, 10], encoder_sizes=[3, 4, 1])
    with pytest.raises(CgvizError, match="first encoder size"):
        MEMnets(config).fit(_ou_trajectories(2000, 1))
    with pytest.raises(CgvizError, match="not available"):
        MEMnets(config, device="nodevice")
    with pytest.raises(CgvizError, match="not been fitted"):
        MEMnets(config).fetch_model()
    lobe = MEMnetsLobe([2, 3])
    assert lobe(torch.zeros(5, 2)).shape == (5, 3)


def test_float64_estimate_uses_only_the_frames_it_needs_and_matches_a_direct_one():
    from cgviz.memnets.estimator import estimate_terms
    from cgviz.memnets.loss import memnets_terms

    rng = np.random.default_rng(4)
    data = MultiLagData([rng.normal(size=(400, 2)), rng.normal(size=(300, 2))], [1, 3, 5])
    _, validation = data.split(0.8, seed=0)
    assert validation.needed_rows().numel() < data.frames.shape[0]
    lobe = MEMnetsLobe([2, 5, 2]).eval()
    terms = estimate_terms(lobe, validation, 0.5, 1e-6)
    with torch.no_grad():
        direct = lobe(validation.gather().reshape(-1, 2)).reshape(4, -1, 2).double()
    expected = memnets_terms(direct, [1, 3, 5], 0.5)
    assert terms.loss.dtype == torch.float64
    np.testing.assert_allclose(terms.log_lambda.numpy(), expected.log_lambda.numpy(), rtol=1e-6)


def test_training_resumes_exactly_from_a_saved_state(tmp_path):
    config = MEMnetsConfig(lagtimes=[1, 6, 8, 10], encoder_sizes=[2, 6, 1], n_epochs=3,
                           train_batch_size=3000, seeds=[1, 2])
    data = _ou_trajectories(6000, 2)
    whole = MEMnets(config).fit(data).fetch_model()
    interrupted = MEMnets(config)
    # stop after epoch 1 of the second seed, save, load with weights_only, resume
    interrupted.fit(data, callbacks=[lambda p: not (p.seed == 2 and p.epoch == 1)])
    torch.save(interrupted.training_state(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    resumed = MEMnets(config).fit(data, resume_state=state).fetch_model()
    assert resumed.seed_losses == pytest.approx(whole.seed_losses, rel=1e-9)
    for key, value in whole.lobe.state_dict().items():
        torch.testing.assert_close(resumed.lobe.state_dict()[key], value)
    assert len(resumed.history.train) == 3
    other = MEMnetsConfig(lagtimes=[1, 6, 8, 10], encoder_sizes=[2, 6, 1], n_epochs=4)
    with pytest.raises(CgvizError, match="another MEMnets config"):
        MEMnets(other).fit(data, resume_state=state)
