"""Your own system through the real CLI: train-simulator, rollout and evaluate-simulator
with --topology/--trajectory on a real protein (with non-standard residues), a periodic
box of interacting chains, and alanine dipeptide (heavy atoms, a stride)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest
import yaml

from cgviz import datasets, io

ROOT = Path(__file__).resolve().parents[1]
NGLVIEW_DATA = Path(__import__("nglview").__file__).parent / "datafiles"

pytestmark = pytest.mark.slow

#: A small network and a short history so that a few steps run in seconds on 2 cores.
SMALL = {"preset": "cpu-demo", "batch_size": 4, "log_every": 1, "validate_every": 2,
         "model": {"history_length": 3, "embedding_latent_size": 16, "embedding_size": 16,
                   "embedding_steps": 2, "dynamics_latent_size": 16, "dynamics_layers": 2,
                   "score_latent_size": 16, "score_layers": 1}}


def cgviz(*args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "cgviz", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def train_roll_evaluate(tmp: Path, files: list, extra: list, n_steps: int = 5):
    config = tmp / "small.yaml"
    config.write_text(yaml.safe_dump(SMALL))
    trained = cgviz("train-simulator", config, *files, *extra, "--max-steps", 4,
                    "--name", "mine", "--runs-dir", tmp / "runs", cwd=tmp)
    checkpoint = tmp / "runs" / "mine" / "checkpoints" / "last.pt"
    assert checkpoint.exists(), trained.stdout
    rolled = cgviz("rollout", checkpoint, *files, "--n-steps", n_steps, "--out", tmp / "out",
                   cwd=tmp)
    description = json.loads((tmp / "out" / "rollout.json").read_text())
    evaluated = cgviz("evaluate-simulator", checkpoint, *files, "--n-steps", n_steps,
                      "--out", tmp / "report.json", cwd=tmp)
    report = json.loads((tmp / "report.json").read_text())
    return trained, rolled, description, evaluated, report


def check_rollout_files(out: Path, description: dict, n_steps: int) -> md.Trajectory:
    entry = description["systems"][0]
    model = md.load(str(out / entry["model_frames"]), top=str(out / entry["topology"]))
    start = md.load(str(out / entry["start_frames"]), top=str(out / entry["topology"]))
    assert model.n_frames == n_steps and start.n_frames == description["history_length"]
    assert np.all(np.isfinite(model.xyz))
    # Bead names and types come from the mapping, not CG0/BEA.
    types = io.read_atom_properties(out / entry["atom_properties"]).type_names
    assert all(not a.name.startswith("CG") for a in model.topology.atoms)
    assert len(types) == model.n_atoms and model.topology.n_bonds > 0
    # Model frames start one step after the last MD start frame.
    assert model.time[0] == pytest.approx(description["frame_time_ps"])
    return model


def test_a_real_protein_end_to_end(tmp_path):
    """md_1u19 (5,547 atoms, 51 frames of 20 ps, non-standard residues and a gro
    topology that lacks their bonds): one system, trained, rolled out and judged on the
    test block of its own trajectory."""
    files = ["--topology", NGLVIEW_DATA / "md_1u19.gro",
             "--trajectory", NGLVIEW_DATA / "md_1u19.xtc"]
    trained, rolled, description, evaluated, report = train_roll_evaluate(
        tmp_path, files, ["--atoms-per-bead", 60])
    assert "inferred" in trained.stdout and "5547 atoms" in trained.stdout
    assert "model step 20 ps" in trained.stdout
    assert len(description["systems"]) == 1  # one system, not 152
    model = check_rollout_files(tmp_path / "out", description, 5)
    assert model.n_atoms == pytest.approx(5547 / 60, rel=0.2)
    # Judged on the test block (the last 10 % of frames), so no training-data warning.
    assert "test part" in report["systems"][0]["name"] and not report["warnings"]
    assert "WARNING" not in evaluated.stderr


def test_a_periodic_box_of_interacting_chains_end_to_end(tmp_path):
    data = tmp_path / "data"
    datasets.generate_polymer(data, "polymer-box", n_chains=6, n_monomers=8, n_frames=40,
                              seed=3, box_nm=4.0, equilibration_tau=20.0)
    paths = datasets.demo_paths("polymer-box", data)
    files = ["--topology", paths["topology"], "--trajectory", paths["trajectories"][0]]
    trained, _rolled, description, _evaluated, report = train_roll_evaluate(
        tmp_path, files, ["--atoms-per-bead", 4])
    assert "periodic" in trained.stdout and "not periodic" not in trained.stdout
    model = check_rollout_files(tmp_path / "out", description, 5)
    assert model.unitcell_lengths is not None and np.allclose(model.unitcell_lengths, 4.0)
    assert model.topology.n_chains == 6  # six molecules in one graph
    assert report["n_steps_requested"] == 5


def test_alanine_heavy_atoms_with_a_stride_and_a_training_data_warning(tmp_path):
    paths = datasets.demo_paths("alanine-dipeptide-450k")
    files = ["--topology", paths["topology"], "--trajectory", *paths["trajectories"],
             "--selection", "not element H", "--stride", 2]
    trained, _rolled, description, evaluated, report = train_roll_evaluate(
        tmp_path, files, ["--atoms-per-bead", 2])
    assert "Kept 10 of 22 atoms" in trained.stdout and "4 ps (stride 2 x 2 ps" in trained.stdout
    assert description["frame_time_ps"] == pytest.approx(4.0)
    check_rollout_files(tmp_path / "out", description, 5)
    # Four files split by trajectory: the last is the test set; the others were seen in
    # training and are left out of the judgement, with a warning.
    names = [s["name"] for s in report["systems"]]
    assert names == ["alanine_dipeptide_450k_03.xtc (test part)"]
    assert "3 of the given trajectories were used to train" in report["warnings"][0]
    assert "WARNING" in evaluated.stderr
    # Only a training file (selection and stride come from the checkpoint): judged, with
    # a loud warning that says so.
    only_seen = cgviz("evaluate-simulator", tmp_path / "runs" / "mine" / "checkpoints" /
                      "last.pt", "--topology", paths["topology"], "--trajectory",
                      paths["trajectories"][0], "--n-steps", 5, "--out", tmp_path / "seen.json",
                      cwd=tmp_path)
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert "TRAINING DATA" in seen["systems"][0]["name"]
    assert "training data, optimistic" in seen["warnings"][0] and "WARNING" in only_seen.stderr


def test_cli_errors_are_clear(tmp_path):
    paths = datasets.demo_paths("alanine-dipeptide")
    done = cgviz("train-simulator", "--topology", paths["topology"], "--trajectory",
                 paths["trajectories"][0], "--selection", "resname XYZ", "--max-steps", 1,
                 cwd=tmp_path, check=False)
    assert done.returncode == 2 and "matches no atom" in done.stderr
    done = cgviz("train-simulator", "--topology", paths["topology"], "--trajectory",
                 paths["trajectories"][0], "--atoms-per-bead", 100, "--max-steps", 1,
                 "--runs-dir", tmp_path / "runs", cwd=tmp_path, check=False)
    assert done.returncode != 0
    assert "two beads" in (done.stdout + done.stderr)
    assert "Traceback" not in (done.stdout + done.stderr)
    done = cgviz("train-simulator", "--topology", paths["topology"], "--max-steps", 1,
                 cwd=tmp_path, check=False)
    assert done.returncode == 2 and "--trajectory" in done.stderr


def test_history_length_and_batch_size_flags_reach_the_run(tmp_path):
    """The short-trajectory error says to shorten the history: the flags to do it work."""
    paths = datasets.demo_paths("alanine-dipeptide")
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump(SMALL))
    cgviz("train-simulator", config, "--topology", paths["topology"], "--trajectory",
          paths["trajectories"][0], "--history-length", 2, "--batch-size", 3,
          "--max-steps", 1, "--name", "flags", "--runs-dir", tmp_path / "runs", cwd=tmp_path)
    run = yaml.safe_load((tmp_path / "runs" / "flags" / "run.yaml").read_text())["config"]
    assert run["model"]["history_length"] == 2 and run["batch_size"] == 3
    assert run["model"]["embedding_latent_size"] == 16  # the rest of the config is kept
