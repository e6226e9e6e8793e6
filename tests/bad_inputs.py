"""A catalogue of bad inputs a user can give cgviz, shared by tests/test_bad_inputs.py and
benchmarks/safety_report.py.

``library_cases(tmp)`` returns (name, callable) pairs: each callable must raise a
``CgvizError`` whose hint says what to do. ``cli_cases(tmp)`` returns (name, argv) pairs:
``python -m cgviz ARGV`` must exit with 2 and an ``error:`` line, no traceback.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import mdtraj as md
import numpy as np

from cgviz import datasets

ALANINE = datasets.demo_paths("alanine-dipeptide")
TOPOLOGY = str(ALANINE["topology"])
XTC = str(ALANINE["trajectories"][0])
CHECKPOINT = str(datasets.BUNDLED_DATA_DIR / "simulator_cpu_demo.pt")


class _Evil:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (exec, (f"open({str(self.sentinel)!r}, 'w').close()",))


def _files(tmp: Path) -> dict[str, Path]:
    """Bad files, written once into ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    frames = md.load(XTC, top=TOPOLOGY)[:20]
    files: dict[str, Path] = {}

    def write(name: str, data: bytes) -> Path:
        path = tmp / name
        path.write_bytes(data)
        files[name] = path
        return path

    frames.save_xtc(str(tmp / "good.xtc"))
    frames.save_dcd(str(tmp / "good.dcd"))
    frames.save_hdf5(str(tmp / "good.h5"))
    write("empty.xtc", b"")
    write("noise.xtc", os.urandom(4000))
    write("truncated.dcd", (tmp / "good.dcd").read_bytes()[:-500])
    write("notes.txt", b"hello")
    write("notes.foo", b"\x00" * 64)
    write("broken.pdb", b"ATOM  garbage\nEND\n")
    write("stack.stk", b"/etc\n")
    nan = frames.xyz.copy()
    nan[3, 0, 0] = np.nan
    md.Trajectory(nan, frames.topology).save_dcd(str(tmp / "nan.dcd"))
    huge = frames.xyz.copy()
    huge[2, 1, 1] = 1e30
    md.Trajectory(huge, frames.topology).save_dcd(str(tmp / "huge.dcd"))
    import h5py

    evil = tmp / "evil.h5"
    evil.write_bytes((tmp / "good.h5").read_bytes())
    with h5py.File(evil, "a") as f:
        f.attrs["title"] = np.bytes_(pickle.dumps(_Evil(tmp / "RAN_CODE"), protocol=0))
    linked = tmp / "linked.h5"
    linked.write_bytes((tmp / "good.h5").read_bytes())
    with h5py.File(linked, "a") as f:
        f["elsewhere"] = h5py.ExternalLink("/etc/hostname", "/x")
    np.save(tmp / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(tmp / "nan_features.npy", np.array([[0.0, np.nan]] * 10, dtype=np.float32))
    np.savez(tmp / "features.npz", a=np.zeros((10, 2)))
    write("mapping.json", b"{not json")
    write("random.pt", os.urandom(2000))
    import torch

    torch.save({"model": _Evil(tmp / "RAN_CODE")}, tmp / "pickled.pt")
    write("run.yaml", b"task: os:getcwd\nconfig: {}\n")
    write("notmapping.yaml", b"- a\n- b\n")
    write("config.yaml", b"bogus_setting: 1\n")
    write("runsfile", b"x")
    files.update({p.name: p for p in tmp.iterdir()})
    return files


def library_cases(tmp: Path) -> list[tuple[str, object]]:
    from cgviz import io, jobs, mapping, system
    from cgviz.simulator import evaluate
    from cgviz.simulator.model import CGSimulator, load_checkpoint, load_simulator
    from cgviz.simulator.rollout import rollout
    from cgviz.training import simulator as training
    from cgviz.training.config import SimulatorTrainingConfig

    f = _files(tmp)
    frames = md.load(XTC, top=TOPOLOGY)[:20]
    cg = mapping.metis_mapping(frames.topology, 4)
    ala = system.load(XTC, TOPOLOGY)
    model, meta = load_simulator(CHECKPOINT)
    import torch

    raw = torch.load(CHECKPOINT, weights_only=True)
    bad_key = {**raw, "config": {**raw["config"], "bogus": 1}}
    bad_shape = {**raw, "state_dict": {**raw["state_dict"],
                                       "velocity_scale": torch.zeros(3, 3)}}
    short = system.from_trajectories([frames[:8]], label="short")
    poly = system.from_demo("polymer-test")
    return [
        # --- files into io
        ("missing trajectory", lambda: io.load_trajectory(str(tmp / "nope.xtc"), TOPOLOGY)),
        ("a folder as trajectory", lambda: io.load_trajectory(str(tmp), TOPOLOGY)),
        ("empty file", lambda: io.load_trajectory(str(f["empty.xtc"]), TOPOLOGY)),
        ("random bytes as xtc", lambda: io.load_trajectory(str(f["noise.xtc"]), TOPOLOGY)),
        ("truncated dcd", lambda: io.load_trajectory(str(f["truncated.dcd"]), TOPOLOGY)),
        ("unsupported extension", lambda: io.load_trajectory(str(f["notes.foo"]))),
        ("text file as trajectory", lambda: io.load_trajectory(str(f["notes.txt"]))),
        ("NaN coordinates", lambda: io.load_trajectory(str(f["nan.dcd"]), TOPOLOGY)),
        ("coordinates of 1e30 nm", lambda: io.load_trajectory(str(f["huge.dcd"]), TOPOLOGY)),
        ("xtc without topology", lambda: io.load_trajectory(str(tmp / "good.xtc"))),
        ("topology of another system", lambda: io.load_trajectory(
            str(tmp / "good.xtc"), str(datasets.demo_paths("polymer-test")["topology"]))),
        ("a trajectory format as topology", lambda: io.load_trajectory(
            str(tmp / "good.xtc"), str(tmp / "good.dcd"))),
        ("corrupt pdb topology", lambda: io.load_trajectory(str(tmp / "good.xtc"),
                                                            str(f["broken.pdb"]))),
        ("stride 0", lambda: io.load_trajectory(str(tmp / "good.xtc"), TOPOLOGY, stride=0)),
        ("more frames needed than stored", lambda: io.load_trajectory(
            str(tmp / "good.xtc"), TOPOLOGY, min_frames=1000)),
        ("a DESRES stack file", lambda: io.load_trajectory(str(f["stack.stk"]))),
        ("HDF5 with a pickled title", lambda: io.load_trajectory(str(f["evil.h5"]))),
        ("HDF5 topology with a pickled title", lambda: io.load_trajectory(
            str(tmp / "good.xtc"), str(f["evil.h5"]))),
        ("HDF5 with an external link", lambda: io.load_trajectory(str(f["linked.h5"]))),
        ("features holding Python objects", lambda: io.load_features(str(f["objects.npy"]))),
        ("features with NaN", lambda: io.load_features(str(f["nan_features.npy"]))),
        ("missing key in features npz", lambda: io.load_features(str(f["features.npz"]),
                                                                  key="b")),
        ("negative masses", lambda: io.AtomProperties(("C",) * 3, -np.ones(3))),
        ("masses of another length", lambda: io.AtomProperties(("C",) * 3, np.ones(2))),
        # --- the system
        ("selection matching nothing", lambda: system.load(XTC, TOPOLOGY,
                                                           selection="resname XYZ")),
        ("selection with bad syntax", lambda: system.load(XTC, TOPOLOGY,
                                                          selection="name CA and (")),
        ("system stride 0", lambda: system.load(XTC, TOPOLOGY, stride=0)),
        ("periodic without a box", lambda: system.load(XTC, TOPOLOGY, periodic=True)),
        ("split fractions too large", lambda: system.Split(validation=0.45, test=0.45)),
        ("split by trajectory with 2 files", lambda: system.Split(by="trajectory").blocks(
            [10, 10])),
        ("unknown split key", lambda: system.Split.from_dict({"by": "time", "train": 1})),
        ("system description without a source", lambda: system.from_dict({"label": "x"})),
        ("unknown system source key", lambda: system.from_dict(
            {"source": {"demo": "alanine-dipeptide", "bogus": 1}})),
        ("mapping of another system", lambda: ala.with_mapping(
            mapping.metis_mapping(md.load(str(datasets.demo_paths("polymer-test")[
                "topology"])).topology, 4))),
        ("trajectories of different systems", lambda: system.load(
            [TOPOLOGY, str(datasets.demo_paths("polymer-test")["topology"])])),
        # --- mappings
        ("atoms_per_bead negative", lambda: mapping.metis_mapping(frames.topology, -1)),
        ("atoms_per_bead 1e9 for training", lambda: training.check_mapping(
            mapping.metis_mapping(frames.topology, 1e9), ala)),
        ("one-bead molecules of independent chains", lambda: training.check_mapping(
            mapping.metis_mapping(poly.topology, 1e9, properties=poly.properties), poly)),
        ("atoms_per_bead and n_beads", lambda: mapping.metis_mapping(frames.topology, 4,
                                                                     n_beads=3)),
        ("n_beads above the atoms", lambda: mapping.metis_mapping(frames.topology,
                                                                  n_beads=100)),
        ("coordinates as strings", lambda: cg.map_positions([["a", "b", "c"]] * 22)),
        ("NaN coordinates into a mapping", lambda: cg.map_positions(np.full((22, 3),
                                                                            np.nan))),
        ("coordinates of another shape", lambda: cg.map_positions(np.zeros((5, 3)))),
        ("assignment with a negative bead", lambda: mapping.mapping_from_assignment(
            frames.topology, -np.ones(22, dtype=int))),
        ("assignment of another length", lambda: mapping.mapping_from_assignment(
            frames.topology, np.zeros(5, dtype=int))),
        ("corrupt mapping file", lambda: mapping.load_mapping(f["mapping.json"])),
        # --- the simulator
        ("missing checkpoint", lambda: load_checkpoint(tmp / "nope.pt")),
        ("random bytes as checkpoint", lambda: load_checkpoint(f["random.pt"])),
        ("checkpoint with a pickled object", lambda: load_checkpoint(f["pickled.pt"])),
        ("checkpoint config with an unknown key", lambda: CGSimulator.from_checkpoint(
            bad_key)),
        ("checkpoint weights of the wrong shape", lambda: CGSimulator.from_checkpoint(
            bad_shape)),
        ("rollout of 0 steps", lambda: rollout(model, evaluate.test_systems_for(
            meta, "polymer-test")[:1], 0)),
        ("rollout start frame out of range", lambda: rollout(
            model, evaluate.test_systems_for(meta, "polymer-test")[:1], 5,
            start_frames=[10_000])),
        ("unknown training setting", lambda: SimulatorTrainingConfig.from_dict(
            {"bogus": 1})),
        ("negative learning rate", lambda: SimulatorTrainingConfig(learning_rate=-1.0)),
        ("batch size 0", lambda: SimulatorTrainingConfig(batch_size=0)),
        ("unknown precision", lambda: SimulatorTrainingConfig(precision="fp8")),
        ("validation fraction 0.7", lambda: SimulatorTrainingConfig(validation_fraction=0.7)),
        ("training config that is not YAML", lambda: SimulatorTrainingConfig.from_yaml(
            "a: [1, 2")),
        ("a mapping with one bead", lambda: training.check_mapping(
            mapping.metis_mapping(frames.topology, n_beads=1), ala)),
        ("frames too few for the history", lambda: training.check_system(
            short, SimulatorTrainingConfig.from_dict({"preset": "cpu-demo"}))),
        # --- runs
        ("a task that is not registered", lambda: jobs.RunSpec(task="nonsense")),
        ("a module:function task", lambda: jobs.RunSpec(task="os:getcwd")),
        ("a run name leaving the runs folder", lambda: jobs.sanitize_name("../../x")),
        ("a runs folder that is a file", lambda: jobs.create(
            jobs.RunSpec(task="simulator", config={}), runs_dir=f["runsfile"])),
        ("run file with unknown keys", lambda: jobs.RunSpec.from_yaml(
            "task: simulator\nbogus: 1\n")),
        ("run file that is not a mapping", lambda: jobs.RunSpec.from_yaml("- a\n")),
        ("cancel a run that does not exist", lambda: jobs.cancel("nope", tmp / "runs")),
        ("a GPU that is not there", lambda: jobs.create(
            jobs.RunSpec(task="simulator", config={}, device="cuda:7"), runs_dir=tmp / "r")),
    ]


def cli_cases(tmp: Path) -> list[tuple[str, list[str]]]:
    f = _files(tmp)
    return [
        ("info on a missing file", ["info", str(tmp / "nope.xtc")]),
        ("info on a crafted HDF5 file", ["info", str(f["evil.h5"])]),
        ("train with a topology but no trajectory", ["train-simulator", "--topology",
                                                     TOPOLOGY, "--max-steps", "1"]),
        ("train with a selection matching nothing", [
            "train-simulator", "--topology", TOPOLOGY, "--trajectory", XTC, "--selection",
            "resname XYZ", "--max-steps", "1", "--runs-dir", str(tmp / "cli-runs")]),
        ("train from a config with unknown keys", ["train-simulator", str(f["config.yaml"]),
                                                   "--runs-dir", str(tmp / "cli-runs")]),
        ("roll out a missing checkpoint", ["rollout", str(tmp / "nope.pt")]),
        ("roll out a checkpoint with a pickled object", ["rollout", str(f["pickled.pt"])]),
        ("evaluate with a bad selection", ["evaluate-simulator", CHECKPOINT, "--topology",
                                           TOPOLOGY, "--trajectory", XTC, "--selection",
                                           "name CA and ("]),
        ("start a run file that names os:getcwd", ["runs", "start", str(f["run.yaml"]),
                                                   "--runs-dir", str(tmp / "cli-runs")]),
        ("start a run file that is not a mapping", ["runs", "start",
                                                    str(f["notmapping.yaml"]),
                                                    "--runs-dir", str(tmp / "cli-runs")]),
        ("delete a run outside the runs folder", ["runs", "delete", str(tmp),
                                                  "--runs-dir", str(tmp / "cli-runs")]),
        ("train-memnets with a name leaving its folder", [
            "train-memnets", "--name", "../../escape", "--data_directory", str(tmp),
            "--saving_directory", str(tmp / "memnets-out")]),
    ]


def sentinel_created(tmp: Path) -> bool:
    return (tmp / "RAN_CODE").exists()


def as_json(cases) -> str:  # pragma: no cover - for debugging the catalogue
    return json.dumps([name for name, _ in cases], indent=1)
