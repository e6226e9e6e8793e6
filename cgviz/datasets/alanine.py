"""All-atom alanine dipeptide (ACE-ALA-NME) simulated with OpenMM (docs/science.md 1.6, 2.6).

The molecule is built here from internal coordinates (no download, no bundled input
structure): heavy atoms are placed with the natural-extension reference frame method, the
chirality of C-alpha is set to L, hydrogens are added by OpenMM's Modeller with the
amber14 templates, and the structure is minimised. Dynamics: amber14 with implicit water
(default "obc2": OpenMM's native GBSAOBCForce, OBC II, mbondi2 radii), or in vacuum, or with
amber14's GBn2 file; Langevin at 300 K, friction 1/ps, 2 fs steps with constrained H bonds,
a frame every 1 ps. Measured here on 2 cores, Reference platform: about 15,000 ns/day in
vacuum, 3,500 ns/day with native OBC2, 120-200 ns/day with GBn2 (a CustomGBForce). In
vacuum the dipeptide almost never leaves phi < 0 at 300 K, so the slow phi flip that MEMnets
and TICA should find needs the solvent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from cgviz.errors import CgvizError

TEMPERATURE_K = 300.0
TIME_STEP_FS = 2.0
FRICTION_PER_PS = 1.0

# Internal coordinates: (atom name, residue index, element, bond partner, angle partner,
# dihedral partner, bond nm, angle deg, dihedral deg). Residues: 0 ACE, 1 ALA, 2 NME.
# Backbone starts extended-ish (phi -80, psi 150: the C7eq/beta basin).
_PHI_START, _PSI_START = -80.0, 150.0
_HEAVY_ATOMS = [
    ("CH3", 0, "C", None, None, None, 0.0, 0.0, 0.0),
    ("C", 0, "C", "0:CH3", None, None, 0.152, 0.0, 0.0),
    ("O", 0, "O", "0:C", "0:CH3", None, 0.123, 121.0, 0.0),
    ("N", 1, "N", "0:C", "0:CH3", "0:O", 0.133, 116.0, 180.0),
    ("CA", 1, "C", "1:N", "0:C", "0:CH3", 0.146, 122.0, 180.0),
    ("C", 1, "C", "1:CA", "1:N", "0:C", 0.152, 111.0, _PHI_START),
    ("O", 1, "O", "1:C", "1:CA", "1:N", 0.123, 121.0, _PSI_START + 180.0),
    # C-beta: the improper-like dihedral C(i-1)... fixed so that C-alpha is L (checked below).
    ("CB", 1, "C", "1:CA", "1:N", "1:C", 0.153, 110.0, -122.0),
    ("N", 2, "N", "1:C", "1:CA", "1:N", 0.133, 116.0, _PSI_START),
    ("C", 2, "C", "2:N", "1:C", "1:CA", 0.146, 122.0, 180.0),
]


def _place(a: np.ndarray, b: np.ndarray, c: np.ndarray, bond: float, angle_deg: float,
           dihedral_deg: float) -> np.ndarray:
    """Position of atom d bonded to c, with angle b-c-d and dihedral a-b-c-d (NeRF)."""
    angle, dihedral = np.radians(angle_deg), np.radians(dihedral_deg)
    bc = c - b
    bc /= np.linalg.norm(bc)
    normal = np.cross(b - a, bc)
    normal /= np.linalg.norm(normal)
    m = np.stack([bc, np.cross(normal, bc), normal], axis=1)
    local = bond * np.array(
        [-np.cos(angle), np.sin(angle) * np.cos(dihedral), np.sin(angle) * np.sin(dihedral)]
    )
    return c + m @ local


def _heavy_atom_positions() -> dict[str, np.ndarray]:
    pos: dict[str, np.ndarray] = {}
    for name, res, _el, b_ref, a_ref, d_ref, bond, angle, dihedral in _HEAVY_ATOMS:
        key = f"{res}:{name}"
        if b_ref is None:
            pos[key] = np.zeros(3)
        elif a_ref is None:
            pos[key] = pos[b_ref] + np.array([bond, 0.0, 0.0])
        elif d_ref is None:
            # Third atom, in the xy plane: the angle a-b-new is ``angle`` (a lies along -x
            # from b, so the new bond points at 180 - angle from +x).
            ang = np.radians(180.0 - angle)
            pos[key] = pos[b_ref] + bond * np.array([np.cos(ang), np.sin(ang), 0.0])
        else:
            pos[key] = _place(pos[d_ref], pos[a_ref], pos[b_ref], bond, angle, dihedral)
    return pos


def _pdb_text(positions: dict[str, np.ndarray]) -> str:
    residue_names = ["ACE", "ALA", "NME"]
    lines = []
    for serial, (name, res, element, *_rest) in enumerate(_HEAVY_ATOMS, start=1):
        x, y, z = positions[f"{res}:{name}"] * 10.0  # nm -> Angstrom for PDB
        lines.append(
            f"ATOM  {serial:5d} {name:<4s} {residue_names[res]:>3s} A{res + 1:4d}    "
            f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {element:>2s}"
        )
    lines.append("TER")
    lines.append("END")
    return "\n".join(lines) + "\n"


SOLVENTS = ("obc2", "vacuum", "gbn2")

#: mbondi2 intrinsic radii (nm) and OBC/HCT descreening scale factors by element; hydrogens
#: bonded to nitrogen get 0.13 nm (the mbondi2 rule).
_OBC_RADIUS_NM = {"H": 0.12, "C": 0.17, "N": 0.155, "O": 0.15, "S": 0.18}
_OBC_SCALE = {"H": 0.85, "C": 0.72, "N": 0.79, "O": 0.85, "S": 0.96}


def _add_obc2(system, topology) -> None:
    """Add OpenMM's native GBSAOBCForce (OBC II, water dielectric 78.5) with amber charges.

    The amber14 ``implicit/*.xml`` files build a CustomGBForce, which ran 25-100x slower here
    for this 22-atom molecule; the native force gives the same kind of model at about
    3,500 ns/day on the Reference platform.
    """
    import openmm

    nonbonded = next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))
    gb = openmm.GBSAOBCForce()
    gb.setSolventDielectric(78.5)
    gb.setSoluteDielectric(1.0)
    gb.setNonbondedMethod(openmm.GBSAOBCForce.NoCutoff)
    neighbours: dict[int, list] = {atom.index: [] for atom in topology.atoms()}
    for a, b in topology.bonds():
        neighbours[a.index].append(b)
        neighbours[b.index].append(a)
    for atom in topology.atoms():
        element = atom.element.symbol
        if element not in _OBC_RADIUS_NM:
            raise CgvizError(f"No OBC parameters for element {element}.")
        radius = _OBC_RADIUS_NM[element]
        if element == "H" and any(n.element.symbol == "N" for n in neighbours[atom.index]):
            radius = 0.13
        charge = nonbonded.getParticleParameters(atom.index)[0]
        gb.addParticle(charge, radius, _OBC_SCALE[element])
    system.addForce(gb)


def _create_system(topology, solvent: str):
    from openmm import app

    system = _forcefield(solvent).createSystem(topology, nonbondedMethod=app.NoCutoff,
                                               constraints=app.HBonds)
    if solvent == "obc2":
        _add_obc2(system, topology)
    return system


def _forcefield(solvent: str = "obc2"):
    from openmm import app

    if solvent in ("vacuum", "obc2"):
        return app.ForceField("amber14-all.xml")
    if solvent == "gbn2":
        return app.ForceField("amber14-all.xml", "implicit/gbn2.xml")
    raise CgvizError(f"Unknown solvent {solvent!r}.", hint=f"Choose one of {SOLVENTS}.")


def build_structure():
    """Minimised ACE-ALA-NME with hydrogens as (openmm Topology, positions in nm (22, 3)).

    Raises CgvizError if the built molecule is not L-alanine (a guard on the geometry code).
    """
    import io

    import openmm
    from openmm import app, unit

    pdb = app.PDBFile(io.StringIO(_pdb_text(_heavy_atom_positions())))
    forcefield = _forcefield()
    modeller = app.Modeller(pdb.topology, pdb.positions)
    modeller.addHydrogens(forcefield)
    system = forcefield.createSystem(modeller.topology, nonbondedMethod=app.NoCutoff,
                                     constraints=app.HBonds)
    integrator = openmm.VerletIntegrator(0.001)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(modeller.positions)
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, 1000)
    positions = context.getState(getPositions=True).getPositions(asNumpy=True)
    positions = np.asarray(positions.value_in_unit(unit.nanometer))
    if chirality_of_alanine(modeller.topology, positions) != "L":
        raise CgvizError("Internal error: the alanine dipeptide builder made D-alanine.")
    return modeller.topology, positions


def chirality_of_alanine(topology, positions: np.ndarray) -> str:
    """'L' or 'D' for the ALA residue, from the signed volume of (N, C, CB) about C-alpha.

    For L-amino acids, (N - CA) . ((C - CA) x (CB - CA)) is positive.
    """
    index = {}
    for atom in topology.atoms():
        if atom.residue.name == "ALA":
            index[atom.name] = atom.index
    ca, n, c, cb = (positions[index[k]] for k in ("CA", "N", "C", "CB"))
    volume = np.dot(n - ca, np.cross(c - ca, cb - ca))
    return "L" if volume > 0 else "D"


@dataclass(frozen=True)
class AlanineSimulationSettings:
    """Run lengths of the alanine dipeptide simulations (times in ps)."""

    n_frames: int = 5000
    frame_interval_ps: float = 1.0
    equilibration_ps: float = 100.0
    platform: str = "Reference"
    solvent: str = "obc2"
    temperature_K: float = TEMPERATURE_K  # noqa: N815 (the unit in the name)

    def __post_init__(self) -> None:
        if self.n_frames < 1:
            raise CgvizError(f"n_frames must be at least 1, got {self.n_frames}.")
        if not 200.0 <= self.temperature_K <= 800.0:
            raise CgvizError(f"temperature_K = {self.temperature_K} is outside 200-800 K.",
                             hint="amber14 is parametrised near 300 K; a hotter run samples "
                                  "rare transitions faster.")
        if self.solvent not in SOLVENTS:
            raise CgvizError(f"Unknown solvent {self.solvent!r}.", hint=f"Choose one of {SOLVENTS}.")
        steps = self.frame_interval_ps * 1000.0 / TIME_STEP_FS
        if steps < 1 or abs(steps - round(steps)) > 1e-9:
            raise CgvizError(
                f"frame_interval_ps = {self.frame_interval_ps} is not a whole number of "
                f"{TIME_STEP_FS} fs steps."
            )

    @property
    def steps_per_frame(self) -> int:
        return int(round(self.frame_interval_ps * 1000.0 / TIME_STEP_FS))


def simulate(settings: AlanineSimulationSettings, seed: int,
             progress: Callable[[int, int], None] | None = None):
    """One independent trajectory: returns (openmm Topology, positions (n_frames, 22, 3) nm).

    Each seed draws its own initial velocities and Langevin noise.
    """
    import openmm
    from openmm import unit

    topology, start = build_structure()
    system = _create_system(topology, settings.solvent)
    integrator = openmm.LangevinMiddleIntegrator(
        settings.temperature_K * unit.kelvin, FRICTION_PER_PS / unit.picosecond,
        TIME_STEP_FS * unit.femtosecond,
    )
    rng = np.random.default_rng(seed)
    integrator.setRandomNumberSeed(int(rng.integers(1, 2**31 - 1)))
    try:
        platform = openmm.Platform.getPlatformByName(settings.platform)
    except Exception as exc:
        raise CgvizError(f"OpenMM platform {settings.platform!r} is not available.",
                         hint="Use 'Reference' or 'CPU'.") from exc
    context = openmm.Context(system, integrator, platform)
    context.setPositions(start * unit.nanometer)
    context.setVelocitiesToTemperature(settings.temperature_K * unit.kelvin,
                                       int(rng.integers(1, 2**31 - 1)))
    integrator.step(int(round(settings.equilibration_ps * 1000.0 / TIME_STEP_FS)))
    frames = np.empty((settings.n_frames, system.getNumParticles(), 3), dtype=np.float32)
    for frame in range(settings.n_frames):
        integrator.step(settings.steps_per_frame)
        xyz = context.getState(getPositions=True).getPositions(asNumpy=True)
        frames[frame] = xyz.value_in_unit(unit.nanometer)
        if progress is not None:
            progress(frame + 1, settings.n_frames)
    if not np.all(np.isfinite(frames)):
        raise CgvizError("The alanine dipeptide simulation produced non-finite positions.")
    return topology, frames


#: Conformational basins of alanine dipeptide on the Ramachandran plane (labels for plots).
STATE_NAMES = ("C7eq/beta", "alpha_R", "alpha_L/C7ax")


def conformational_states(phi: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """State index per frame from backbone dihedrals in radians: 2 = alpha_L/C7ax (phi > 0),
    1 = alpha_R (phi < 0 and -120 deg < psi < 50 deg), 0 = C7eq/beta (the rest)."""
    phi, psi = np.degrees(np.ravel(phi)), np.degrees(np.ravel(psi))
    states = np.zeros(phi.shape, dtype=np.int64)
    states[(phi < 0) & (psi > -120) & (psi < 50)] = 1
    states[phi > 0] = 2
    return states
