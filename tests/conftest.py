"""Shared pytest fixtures: tiny all-atom and bead systems built with the mdtraj Topology API,
and headless Chromium for the browser tests."""

from __future__ import annotations

import os
from pathlib import Path

import mdtraj as md
import numpy as np
import pytest

# The jobs tests' tiny training task (tests/jobtasks.py) is an operator-registered task: run
# files name it "linear_regression". Set at import time so every driver process inherits it.
_TEST_TASK = "linear_regression=jobtasks:linear_regression"
if _TEST_TASK not in os.environ.get("CGVIZ_TASKS", "").split(","):
    os.environ["CGVIZ_TASKS"] = ",".join(
        filter(None, [os.environ.get("CGVIZ_TASKS", ""), _TEST_TASK]))


@pytest.fixture(autouse=True)
def _one_torch_thread_for_tiny_networks(request):
    """MEMnets tests train tiny networks: extra intra-op threads only add overhead (and stall
    on a busy 2-core runner), so they run with one torch thread."""
    if not request.module.__name__.startswith("test_memnets"):
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build_peptide_topology(n_alanines: int = 3) -> md.Topology:
    """ACE-(ALA)n-NME with heavy atoms, amide H and bonds: 3 + 6 n + 2 atoms."""
    element = md.element
    topology = md.Topology()
    chain = topology.add_chain()
    cap = topology.add_residue("ACE", chain, resSeq=1)
    methyl = topology.add_atom("CH3", element.carbon, cap)
    carbon = topology.add_atom("C", element.carbon, cap)
    oxygen = topology.add_atom("O", element.oxygen, cap)
    topology.add_bond(methyl, carbon)
    topology.add_bond(carbon, oxygen)
    previous_carbon = carbon
    for number in range(n_alanines):
        residue = topology.add_residue("ALA", chain, resSeq=2 + number)
        nitrogen = topology.add_atom("N", element.nitrogen, residue)
        hydrogen = topology.add_atom("H", element.hydrogen, residue)
        alpha = topology.add_atom("CA", element.carbon, residue)
        beta = topology.add_atom("CB", element.carbon, residue)
        carbon = topology.add_atom("C", element.carbon, residue)
        oxygen = topology.add_atom("O", element.oxygen, residue)
        for first, second in [
            (previous_carbon, nitrogen),
            (nitrogen, hydrogen),
            (nitrogen, alpha),
            (alpha, beta),
            (alpha, carbon),
            (carbon, oxygen),
        ]:
            topology.add_bond(first, second)
        previous_carbon = carbon
    cap = topology.add_residue("NME", chain, resSeq=2 + n_alanines)
    nitrogen = topology.add_atom("N", element.nitrogen, cap)
    methyl = topology.add_atom("C", element.carbon, cap)
    topology.add_bond(previous_carbon, nitrogen)
    topology.add_bond(nitrogen, methyl)
    return topology


def build_bead_topology(n_monomers: int = 4) -> md.Topology:
    """A bead copolymer: per monomer a backbone bead (B1/B2) and a side bead (S1/S2)."""
    topology = md.Topology()
    chain = topology.add_chain()
    previous = None
    for number in range(n_monomers):
        kind = 1 + number % 2
        residue = topology.add_residue(f"MN{'AB'[kind - 1]}", chain, resSeq=number + 1)
        backbone = topology.add_atom(f"B{kind}", md.element.virtual_site, residue)
        side = topology.add_atom(f"S{kind}", md.element.virtual_site, residue)
        topology.add_bond(backbone, side)
        if previous is not None:
            topology.add_bond(previous, backbone)
        previous = backbone
    return topology


def random_coil(n_frames: int, n_atoms: int, seed: int = 0) -> np.ndarray:
    """(n_frames, n_atoms, 3) float32 nm: a random-walk structure plus per-frame jitter."""
    rng = np.random.default_rng(seed)
    base = np.cumsum(rng.normal(0.0, 0.09, size=(1, n_atoms, 3)), axis=1) + 1.5
    return (base + rng.normal(0.0, 0.03, size=(n_frames, n_atoms, 3))).astype(np.float32)


@pytest.fixture
def peptide_traj() -> md.Trajectory:
    """ACE-ALA3-NME, 23 atoms, 20 frames every 2 ps from t = 0, 3 nm cubic box."""
    topology = build_peptide_topology(3)
    n_frames = 20
    return md.Trajectory(
        random_coil(n_frames, topology.n_atoms),
        topology,
        time=np.arange(n_frames) * 2.0,
        unitcell_lengths=np.full((n_frames, 3), 3.0),
        unitcell_angles=np.full((n_frames, 3), 90.0),
    )


@pytest.fixture
def bead_traj() -> md.Trajectory:
    """A 4-monomer bead chain (8 virtual-site beads), 15 frames every 5 ps, no box."""
    topology = build_bead_topology(4)
    return md.Trajectory(
        random_coil(15, topology.n_atoms, seed=1), topology, time=np.arange(15) * 5.0
    )


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium (no GPU: WebGL falls back to SwiftShader), one per module."""
    from browser_support import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        handle = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield handle
        handle.close()
