"""A training run's memory: the estimate made before launch, the refusal with what to
change, and a killed run's peak memory in its status (the out-of-memory killer)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cgviz import CgvizError, jobs, mapping, peak_memory
from cgviz import system as cg_system
from cgviz.training import memory
from cgviz.training.config import preset
from cgviz.training.simulator import check_system

TESTS = Path(__file__).resolve().parent
NGLVIEW_DATA = Path(__import__("nglview").__file__).parent / "datafiles"


@pytest.fixture(scope="module")
def protein():
    """md_1u19: 5,547 atoms, a compact protein (every bead near every other)."""
    return cg_system.load([NGLVIEW_DATA / "md_1u19.xtc"], NGLVIEW_DATA / "md_1u19.gro")


def short(config=None, **changes):
    config = config or preset("cpu-demo")
    data = config.to_dict() | changes
    data["model"] = {**config.model, "history_length": 3}
    return type(config).from_dict(data)


def brute_force_edges(x, cutoff, box=None, groups=None):
    n = 0
    for i, j in itertools.permutations(range(len(x)), 2):
        d = x[i] - x[j]
        if box is not None:
            d -= box * np.round(d / box)
        if np.linalg.norm(d) < cutoff and (groups is None or groups[i] == groups[j]):
            n += 1
    return n


def test_edge_count_matches_brute_force_with_and_without_a_box():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3.0, size=(60, 3))
    box = np.array([3.0, 3.0, 3.0])
    groups = rng.integers(0, 3, size=60)
    assert memory.count_edges(x, 0.9) == brute_force_edges(x, 0.9)
    assert memory.count_edges(x, 0.9, box=box) == brute_force_edges(x, 0.9, box)
    assert memory.count_edges(x, 0.9, box=box) > memory.count_edges(x, 0.9)
    assert memory.count_edges(x, 0.9, groups=groups) == brute_force_edges(x, 0.9, None, groups)
    # A bond longer than the cutoff is an edge too (both directions), a short one is not
    # counted twice.
    far = int(np.argmax(np.linalg.norm(x - x[0], axis=1)))
    near = int(np.argsort(np.linalg.norm(x - x[0], axis=1))[1])
    bonds = np.array([[0, far], [0, near]])
    assert memory.count_edges(x, 0.9, bonds=bonds) == brute_force_edges(x, 0.9) + 2


def test_the_estimate_grows_with_beads_and_batch(protein):
    coarse = mapping.metis_mapping(protein.topology, 60, properties=protein.properties)
    fine = mapping.metis_mapping(protein.topology, 10, properties=protein.properties)
    small = memory.estimate_training_memory(protein, coarse, short(batch_size=4), 1e12)
    big_batch = memory.estimate_training_memory(protein, coarse, short(batch_size=16), 1e12)
    finer = memory.estimate_training_memory(protein, fine, short(batch_size=4), 1e12)
    assert small.n_beads == coarse.n_beads and finer.n_beads == fine.n_beads
    assert finer.edges_per_window > 10 * small.edges_per_window
    per_window = (big_batch.peak_bytes - small.peak_bytes) / 12
    assert small.peak_bytes - memory.BASE_BYTES == pytest.approx(4 * per_window, rel=1e-6)
    assert finer.peak_bytes > small.peak_bytes and small.fits
    assert "92 beads" not in finer.text() and f"{fine.n_beads:,} beads" in finer.text()


def test_page_two_default_mapping_of_a_protein_is_refused_with_what_fits(protein):
    """The bug: 4 atoms per bead (1,387 beads) at batch 16 grew the driver to 23 GB
    until the kernel killed it. With 23 GB free it is now refused before launch."""
    fine = mapping.metis_mapping(protein.topology, 4, properties=protein.properties)
    with pytest.raises(CgvizError, match="killed for lack of memory") as error:
        memory.check_training_memory(protein, fine, short(), available_bytes=23e9)
    assert "1,387 beads" in str(error.value)
    batch = int(str(error.value.hint).split("a batch size of ")[1].split()[0])
    assert 1 <= batch < 16
    # The batch size it names fits; one more does not.
    memory.check_training_memory(protein, fine, short(batch_size=batch), available_bytes=23e9)
    with pytest.raises(CgvizError):
        memory.check_training_memory(protein, fine, short(batch_size=batch + 1),
                                     available_bytes=23e9)
    # Nothing fits in 1 GB: the hint asks for a much coarser mapping.
    with pytest.raises(CgvizError, match="killed") as error:
        memory.check_training_memory(protein, fine, short(), available_bytes=1e9)
    assert "many more atoms per bead" in error.value.hint


def test_check_system_uses_the_operator_cap_and_can_be_switched_off(protein, monkeypatch):
    coarse = mapping.metis_mapping(protein.topology, 60, properties=protein.properties)
    with_mapping = protein.with_mapping(coarse)
    monkeypatch.setenv(memory.RUN_MEMORY_VARIABLE, "0.5")
    with pytest.raises(CgvizError, match="CGVIZ_MAX_RUN_MEMORY_GB"):
        check_system(with_mapping, short(batch_size=4), coarse)
    # Without a mapping, the METIS one the run would build (atoms_per_bead) is estimated.
    with pytest.raises(CgvizError, match="92 beads"):
        check_system(protein, short(batch_size=4, atoms_per_bead=60.0), None)
    check_system(with_mapping, short(batch_size=4, memory_check=False), coarse)
    monkeypatch.setenv(memory.RUN_MEMORY_VARIABLE, "200")
    check_system(with_mapping, short(batch_size=4), coarse)
    monkeypatch.setenv(memory.RUN_MEMORY_VARIABLE, "lots")
    with pytest.raises(CgvizError, match="number of GB"):
        check_system(with_mapping, short(batch_size=4), coarse)


def test_the_cli_refuses_before_making_a_run_folder(tmp_path):
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "cgviz", "train-simulator",
               "--topology", str(NGLVIEW_DATA / "md_1u19.gro"),
               "--trajectory", str(NGLVIEW_DATA / "md_1u19.xtc"), "--history-length", "3",
               "--max-steps", "2", "--runs-dir", str(runs)]
    env = os.environ | {memory.RUN_MEMORY_VARIABLE: "8"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode != 0
    assert "killed for lack of memory" in done.stderr and "--batch-size" in done.stderr
    assert "Traceback" not in done.stderr
    assert not runs.exists() or not any(runs.iterdir())


def test_killed_reason_names_the_oom_killer_only_near_the_machine_total(tmp_path):
    path = tmp_path / "peak.json"
    assert peak_memory.killed_reason(path) == ""  # no file
    path.write_text(json.dumps({"peak_bytes": 20e9, "total_bytes": 23e9}))
    assert "out-of-memory killer" in peak_memory.killed_reason(path)
    assert "20.0 GB" in peak_memory.killed_reason(path)
    path.write_text(json.dumps({"peak_bytes": 2e9, "total_bytes": 23e9}))
    assert peak_memory.killed_reason(path) == ""
    path.write_text("{torn")
    assert peak_memory.killed_reason(path) == ""


def test_a_killed_run_reports_the_peak_memory_it_reached(tmp_path, monkeypatch):
    """A real driver holding 300 MB is killed with SIGKILL (what the OOM killer sends);
    its status then names the memory it had reached."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS),
                                                      os.environ.get("PYTHONPATH", "")]))
    runs = tmp_path / "runs"
    spec = jobs.RunSpec(task="linear_regression",
                        config={"steps": 100_000, "sleep_s": 0.01, "hold_mb": 300},
                        checkpoint_every=1000)
    jobs.start(spec, runs_dir=runs, name="greedy")
    watch_file = runs / "greedy" / jobs.MEMORY_FILE
    deadline = time.time() + 120
    while time.time() < deadline:
        peak = peak_memory.read_peak(watch_file)
        if peak and peak[0] > 300e6:
            break
        time.sleep(0.2)
    assert peak and peak[0] > 300e6, peak
    running = jobs.status("greedy", runs)
    assert running.state == "running"
    os.kill(running.pid, signal.SIGKILL)
    # The reason says what the memory was when it grew to most of the machine (here: the
    # threshold is lowered below this run's share of the machine).
    monkeypatch.setattr(peak_memory, "OOM_FRACTION", 0.5 * peak[0] / peak[1])
    deadline = time.time() + 60
    while (state := jobs.status("greedy", runs)).state != "interrupted":
        assert time.time() < deadline, state
        time.sleep(0.1)
    assert "out-of-memory killer" in state.reason and "Resume" in state.reason
