"""Copolymer chains in implicit solvent, simulated with OpenMM (docs/science.md 1.6).

The model is a bead-spring copolymer in the spirit of Webb et al. (Sci. Adv. 2020), the
data behind the multi-scale GNN paper. Each monomer is a backbone bead with one side-chain
bead; monomer type A is (B1, S1), monomer type B is (B2, S2):

* bonds (backbone-backbone and backbone-side chain): FENE, k = 30 eps/sigma^2, R0 = 1.5 sigma,
  plus the WCA repulsion (LJ cut and shifted at 2^(1/6) sigma, depth 1 kT);
* every non-bonded pair of the same chain: Lennard-Jones cut at 2.5 sigma and shifted to zero
  there, with a type-dependent depth eps_ij = sqrt(eps_i eps_j) (Lorentz-Berthelot);
  S1 is solvophobic (1.0 kT), S2 solvophilic (0.3 kT), backbones B1 0.5 kT and B2 0.3 kT;
* Langevin thermostat at 300 K with friction 1/tau and dt = 0.01 tau; a frame every 5 tau.

Reduced units are mapped onto mdtraj's units with sigma = 0.5 nm, bead mass m = 100 amu and
eps = kT at 300 K (2.494 kJ/mol), which gives tau = sigma sqrt(m / eps) = 3.166 ps.

Several chains are packed into one OpenMM system as non-interacting copies (the non-bonded
energy is switched off between different chains), which runs many chains at the speed of
one larger system. Chains start as self-avoiding random coils with bonds shorter than R0
(FENE is undefined beyond R0), are minimised, and are equilibrated before recording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cgviz.errors import CgvizError

BOLTZMANN_KJ_PER_MOL_K = 0.0083144626
TEMPERATURE_K = 300.0
SIGMA_NM = 0.5
BEAD_MASS_AMU = 100.0
EPSILON_KJ_PER_MOL = BOLTZMANN_KJ_PER_MOL_K * TEMPERATURE_K
TAU_PS = SIGMA_NM * math.sqrt(BEAD_MASS_AMU / EPSILON_KJ_PER_MOL)

BEAD_TYPES = ("B1", "B2", "S1", "S2")
#: LJ depth of each bead type in units of kT; pair depths combine as sqrt(eps_i eps_j).
BEAD_EPSILON_KT = {"B1": 0.5, "B2": 0.3, "S1": 1.0, "S2": 0.3}
MONOMER_BEADS = {"A": ("B1", "S1"), "B": ("B2", "S2")}
MONOMER_RESIDUE_NAMES = {"A": "MNA", "B": "MNB"}

FENE_K = 30.0  # eps / sigma^2
FENE_R0 = 1.5  # sigma
LJ_CUTOFF = 2.5  # sigma
TIME_STEP_TAU = 0.01
FRAME_INTERVAL_TAU = 5.0


@dataclass(frozen=True)
class PolymerSimulationSettings:
    """How one batch of chains is simulated.

    Attributes
    ----------
    n_frames: frames recorded per chain.
    frame_interval_tau: time between recorded frames, in tau (one frame = this * 3.166 ps).
    equilibration_tau: Langevin time run after minimisation and before recording, in tau.
    time_step_tau: integration time step, in tau.
    platform: OpenMM platform name ("CPU" or "Reference"; "CUDA" where available).
    """

    n_frames: int = 1000
    frame_interval_tau: float = FRAME_INTERVAL_TAU
    equilibration_tau: float = 1500.0
    time_step_tau: float = TIME_STEP_TAU
    platform: str = "CPU"

    def __post_init__(self) -> None:
        if self.n_frames < 1:
            raise CgvizError(f"n_frames must be at least 1, got {self.n_frames}.")
        if self.time_step_tau <= 0 or self.time_step_tau > 0.02:
            raise CgvizError(
                f"time_step_tau = {self.time_step_tau} is outside (0, 0.02]; the bead-spring "
                "model is only stable with small steps (0.01 tau is the standard)."
            )
        if self.frame_interval_tau < self.time_step_tau:
            raise CgvizError("frame_interval_tau must be at least one time step.")
        if self.equilibration_tau < 0:
            raise CgvizError("equilibration_tau must be >= 0.")

    @property
    def steps_per_frame(self) -> int:
        return max(1, int(round(self.frame_interval_tau / self.time_step_tau)))

    @property
    def frame_time_ps(self) -> float:
        return self.steps_per_frame * self.time_step_tau * TAU_PS


def blocky_sequence(n_monomers: int, rng: np.random.Generator) -> str:
    """A blocky A/B sequence: alternating blocks whose lengths are drawn per chain.

    The mean block length (2 to 12) and the A fraction (0.3 to 0.7) are drawn once per
    chain, so a training set spans many block structures and compositions.
    """
    mean_block = rng.uniform(2.0, 12.0)
    fraction_a = rng.uniform(0.3, 0.7)
    letters: list[str] = []
    current = "A" if rng.random() < fraction_a else "B"
    while len(letters) < n_monomers:
        mean_len = mean_block * (fraction_a if current == "A" else 1.0 - fraction_a) * 2.0
        length = max(1, int(rng.poisson(max(mean_len, 1.0))))
        letters.extend(current * length)
        current = "B" if current == "A" else "A"
    return "".join(letters[:n_monomers])


def random_sequence(n_monomers: int, rng: np.random.Generator) -> str:
    """An uncorrelated random A/B sequence with an A fraction drawn in (0.3, 0.7)."""
    fraction_a = rng.uniform(0.3, 0.7)
    return "".join(np.where(rng.random(n_monomers) < fraction_a, "A", "B"))


def chain_beads(sequence: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Bead types and bonds of one chain, backbone bead of monomer i at index 2i.

    Returns (bead type names, bonds as (i, j) index pairs within the chain).
    """
    if not sequence or set(sequence) - set(MONOMER_BEADS):
        raise CgvizError(f"A sequence is a non-empty string of 'A' and 'B', got {sequence!r}.")
    types: list[str] = []
    bonds: list[tuple[int, int]] = []
    for i, letter in enumerate(sequence):
        backbone, side = MONOMER_BEADS[letter]
        types.extend((backbone, side))
        bonds.append((2 * i, 2 * i + 1))
        if i > 0:
            bonds.append((2 * (i - 1), 2 * i))
    return types, bonds


def _random_coil(n_monomers: int, rng: np.random.Generator) -> np.ndarray:
    """Self-avoiding random-walk positions (n_monomers * 2, 3) in sigma, bonds 0.97 sigma."""
    bond = 0.97
    for _attempt in range(200):
        backbone = [np.zeros(3)]
        ok = True
        for _ in range(1, n_monomers):
            for _try in range(100):
                step = rng.normal(size=3)
                step *= bond / np.linalg.norm(step)
                candidate = backbone[-1] + step
                if all(np.linalg.norm(candidate - p) > 1.3 for p in backbone[:-1]):
                    backbone.append(candidate)
                    break
            else:
                ok = False
                break
        if not ok:
            continue
        positions = np.zeros((2 * n_monomers, 3))
        placed: list[np.ndarray] = list(backbone)
        for i, b in enumerate(backbone):
            positions[2 * i] = b
            for _try in range(200):
                step = rng.normal(size=3)
                step *= bond / np.linalg.norm(step)
                candidate = b + step
                if all(np.linalg.norm(candidate - p) > 0.9 for p in placed if p is not b):
                    break
            positions[2 * i + 1] = candidate
            placed.append(candidate)
        return positions
    raise CgvizError("Could not grow a self-avoiding start coil; try a shorter chain.")


def _insert_coils(coils: list[np.ndarray], box: float, rng: np.random.Generator,
                  min_distance: float = 1.0, tries: int = 2000) -> np.ndarray:
    """Place coils (sigma units) one by one at random orientations and positions in a
    periodic cubic box of edge ``box`` sigma, so that no two beads of different coils are
    closer than ``min_distance`` (minimum image): a start without overlaps to minimise."""
    from scipy.spatial import cKDTree
    from scipy.spatial.transform import Rotation

    placed: list[np.ndarray] = []
    for coil in coils:
        centred = coil - coil.mean(axis=0)
        others = np.concatenate(placed) % box if placed else None
        tree = None if others is None else cKDTree(others, boxsize=box)
        for _ in range(tries):
            rotation = Rotation.random(random_state=int(rng.integers(2**31 - 1)))
            candidate = rotation.apply(centred) + rng.uniform(0, box, size=3)
            if tree is None or not any(tree.query_ball_point(candidate % box, min_distance)):
                placed.append(candidate)
                break
        else:
            raise CgvizError("Could not place the chains in the box without overlaps.",
                             hint="Use a larger box or fewer or shorter chains.")
    return np.concatenate(placed)


def build_system(sequences: list[str], box_nm: float | None = None):
    """An OpenMM System with one chain per sequence.

    Without ``box_nm`` the chains do not interact with each other (many independent chains
    at the speed of one system). With ``box_nm`` they sit in a periodic cubic box of that
    edge and interact through the same type-dependent LJ as within a chain (the paper's
    multi-component case).

    Returns (system, per-bead type names, bonds (global indices), chain index per bead).
    """
    import openmm
    from openmm import unit

    system = openmm.System()
    types: list[str] = []
    bonds: list[tuple[int, int]] = []
    chain_of_bead: list[int] = []
    for chain_index, sequence in enumerate(sequences):
        chain_types, chain_bonds = chain_beads(sequence)
        offset = len(types)
        types.extend(chain_types)
        bonds.extend((a + offset, b + offset) for a, b in chain_bonds)
        chain_of_bead.extend([chain_index] * len(chain_types))
    for _ in types:
        system.addParticle(BEAD_MASS_AMU * unit.amu)

    sigma, eps = SIGMA_NM, EPSILON_KJ_PER_MOL
    fene = openmm.CustomBondForce("-0.5*kfene*r0^2*log(1-(r/r0)^2)")
    fene.addGlobalParameter("kfene", FENE_K * eps / sigma**2)
    fene.addGlobalParameter("r0", FENE_R0 * sigma)
    wca = openmm.CustomBondForce(
        "step(rwca-r)*(4*epswca*((sig/r)^12-(sig/r)^6)+epswca)"
    )
    wca.addGlobalParameter("epswca", eps)
    wca.addGlobalParameter("sig", sigma)
    wca.addGlobalParameter("rwca", 2 ** (1 / 6) * sigma)
    for a, b in bonds:
        fene.addBond(a, b, [])
        wca.addBond(a, b, [])
    system.addForce(fene)
    system.addForce(wca)

    n_types = len(BEAD_TYPES)
    depth = np.array(
        [
            [math.sqrt(BEAD_EPSILON_KT[a] * BEAD_EPSILON_KT[b]) * eps for b in BEAD_TYPES]
            for a in BEAD_TYPES
        ]
    )
    shift = (1 / LJ_CUTOFF) ** 12 - (1 / LJ_CUTOFF) ** 6
    same_chain_only = "delta(c1-c2)*" if box_nm is None else ""
    lj = openmm.CustomNonbondedForce(
        f"{same_chain_only}4*epsilon*((sig/r)^12-(sig/r)^6-ljshift);"
        "epsilon=depth(t1,t2)"
    )
    lj.addGlobalParameter("sig", sigma)
    lj.addGlobalParameter("ljshift", shift)
    lj.addTabulatedFunction(
        "depth", openmm.Discrete2DFunction(n_types, n_types, depth.T.ravel().tolist())
    )
    lj.addPerParticleParameter("t")
    lj.addPerParticleParameter("c")
    for bead_type, chain_index in zip(types, chain_of_bead):
        lj.addParticle([float(BEAD_TYPES.index(bead_type)), float(chain_index)])
    for a, b in bonds:
        lj.addExclusion(a, b)
    if box_nm is None:
        lj.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffNonPeriodic)
    else:
        if box_nm <= 2 * LJ_CUTOFF * sigma:
            raise CgvizError(f"A {box_nm} nm box is too small for the {LJ_CUTOFF * sigma} nm "
                             "LJ cutoff.", hint="Use a box larger than twice the cutoff.")
        lj.setNonbondedMethod(openmm.CustomNonbondedForce.CutoffPeriodic)
        edge = box_nm * unit.nanometer
        system.setDefaultPeriodicBoxVectors(openmm.Vec3(edge, 0 * edge, 0 * edge),
                                            openmm.Vec3(0 * edge, edge, 0 * edge),
                                            openmm.Vec3(0 * edge, 0 * edge, edge))
        fene.setUsesPeriodicBoundaryConditions(True)
        wca.setUsesPeriodicBoundaryConditions(True)
    lj.setCutoffDistance(LJ_CUTOFF * sigma)
    system.addForce(lj)
    return system, types, bonds, chain_of_bead


def simulate_chains(
    sequences: list[str],
    settings: PolymerSimulationSettings,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    box_nm: float | None = None,
) -> np.ndarray:
    """Simulate chains together and return their frames: non-interacting copies, or with
    ``box_nm`` interacting chains in a periodic cubic box, recorded wrapped into the box
    (atom by atom, as MD engines write them).

    Parameters
    ----------
    sequences: one A/B string per chain.
    settings: run lengths and platform.
    seed: seeds the start coils and the Langevin noise (same seed, same platform and
        thread count give the same trajectory).
    progress: called as progress(done, total) with equilibration and recording counted in
        units of one frame interval of MD steps (total = equilibration units + n_frames).

    Returns
    -------
    positions: (n_frames, n_beads_total, 3) float32, nm; chains in the order given.
    """
    import openmm
    from openmm import unit

    rng = np.random.default_rng(seed)
    system, _types, _bonds, _chains = build_system(sequences, box_nm)
    # Chains sit on a grid far apart (they do not interact, but spacing keeps the
    # neighbour list short and the pictures readable); in a box, on a grid filling it.
    coils = [_random_coil(len(s), rng) for s in sequences]
    if box_nm is None:
        side = math.ceil(len(sequences) ** (1 / 3))
        spacing = 4.0 * max(math.sqrt(len(s)) * 2.0 for s in sequences) + 2 * LJ_CUTOFF
        start = []
        for i, coil in enumerate(coils):
            cell = np.array([i % side, (i // side) % side, i // (side * side)], dtype=float)
            start.append(coil - coil.mean(axis=0) + cell * spacing)
        positions_nm = np.concatenate(start) * SIGMA_NM
    else:
        for attempt in range(20):  # a crowded start: grow new coils and try again
            try:
                positions_nm = _insert_coils(coils, box_nm / SIGMA_NM, rng) * SIGMA_NM
                break
            except CgvizError:
                if attempt == 19:
                    raise
                coils = [_random_coil(len(s), rng) for s in sequences]

    tau = TAU_PS
    integrator = openmm.LangevinMiddleIntegrator(
        TEMPERATURE_K * unit.kelvin,
        (1.0 / tau) / unit.picosecond,
        settings.time_step_tau * tau * unit.picosecond,
    )
    integrator.setRandomNumberSeed(int(rng.integers(1, 2**31 - 1)))
    try:
        platform = openmm.Platform.getPlatformByName(settings.platform)
    except Exception as exc:  # OpenMMException
        raise CgvizError(
            f"OpenMM platform {settings.platform!r} is not available here.",
            hint="Use 'CPU' or 'Reference'.",
        ) from exc
    properties = {"Threads": "0"} if settings.platform == "CPU" else {}
    context = openmm.Context(system, integrator, platform, properties)
    context.setPositions(positions_nm * unit.nanometer)
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, 2000)
    context.setVelocitiesToTemperature(
        TEMPERATURE_K * unit.kelvin, int(rng.integers(1, 2**31 - 1))
    )

    # Progress counts equilibration too, in units of one frame's worth of MD steps.
    n_equil = int(round(settings.equilibration_tau / settings.time_step_tau))
    equil_units = -(-n_equil // settings.steps_per_frame)
    total_units = equil_units + settings.n_frames
    for unit_index in range(equil_units):
        integrator.step(min(settings.steps_per_frame,
                            n_equil - unit_index * settings.steps_per_frame))
        if progress is not None:
            progress(unit_index + 1, total_units)

    frames = np.empty((settings.n_frames, system.getNumParticles(), 3), dtype=np.float32)
    for frame in range(settings.n_frames):
        integrator.step(settings.steps_per_frame)
        state = context.getState(getPositions=True, enforcePeriodicBox=box_nm is not None)
        xyz = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        if not np.all(np.isfinite(xyz)):
            raise CgvizError(
                f"The polymer simulation blew up at frame {frame} (non-finite positions).",
                hint="Use a smaller time_step_tau or the default settings.",
            )
        frames[frame] = xyz
        if progress is not None:
            progress(equil_units + frame + 1, total_units)
    return frames


def make_topology(sequences: list[str]):
    """An mdtraj Topology: one chain per sequence, one residue per monomer, bonds set.

    Bead atoms use the virtual-site element (mdtraj has no element for a bead); their types
    and masses travel in the cgviz atom-properties sidecar (``atom_properties``).
    """
    import mdtraj as md

    topology = md.Topology()
    for sequence in sequences:
        chain = topology.add_chain()
        atoms = []
        for letter in sequence:
            residue = topology.add_residue(MONOMER_RESIDUE_NAMES[letter], chain)
            for bead_type in MONOMER_BEADS[letter]:
                atoms.append(topology.add_atom(bead_type, md.element.virtual_site, residue))
        _types, bonds = chain_beads(sequence)
        for a, b in bonds:
            topology.add_bond(atoms[a], atoms[b])
    return topology


def atom_type_names(sequences: list[str]) -> list[str]:
    """Per-bead type names of the chains, in topology order."""
    names: list[str] = []
    for sequence in sequences:
        names.extend(chain_beads(sequence)[0])
    return names
