"""Demo systems simulated with OpenMM, and the registry of the files bundled with cgviz.

Bundled demos (``list_demos()``) load offline with ``load_demo(name)``; each is described in
``data/manifest.json`` (system, frames, frame time, seed, generator version, the command
that made it, and a SHA-256 checksum per file). New data sets, up to paper scale, are made by
``generate_polymer`` / ``generate_alanine`` or the CLI ``python -m cgviz demo-data ...``,
which writes the same layout (files + ``manifest.json``) into any directory; ``load_demo``
reads such a directory with ``data_dir=``. Beside the manifest, ``previews.json`` holds a
small picture of each demo (``preview(name)``, see :mod:`cgviz.datasets.previews`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform as _platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cgviz.datasets.previews import (PREVIEWS_NAME, DemoPreview, compute_preview, preview,
                                    write_preview)
from cgviz.errors import CgvizError

BUNDLED_DATA_DIR = Path(__file__).resolve().parent / "data"
MANIFEST_NAME = "manifest.json"
GENERATOR_VERSION = "cgviz-datasets/1"

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class DemoInfo:
    """One entry of a manifest: what a demo is and how it was made."""

    name: str
    system: str
    description: str
    topology: str
    trajectories: tuple[str, ...]
    n_atoms: int
    n_frames: tuple[int, ...]
    frame_time_ps: float
    seed: int
    generator_version: str
    atom_properties: str | None = None
    n_molecules: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def total_time_ns(self) -> float:
        return sum(self.n_frames) * self.frame_time_ps / 1000.0


@dataclass(frozen=True)
class Demo:
    """A loaded demo: trajectories (nm, ps) plus per-atom types and masses."""

    info: DemoInfo
    trajectories: list  # list[md.Trajectory]
    atom_types: tuple[str, ...]
    masses: np.ndarray  # (n_atoms,) amu

    @property
    def topology(self):
        return self.trajectories[0].topology


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_manifest(data_dir: Path) -> dict[str, Any]:
    path = data_dir / MANIFEST_NAME
    if not path.exists():
        hint = (
            "Restore cgviz/datasets/data from git, or remake it with "
            "`python -m cgviz demo-data --preset bundle`."
            if data_dir == BUNDLED_DATA_DIR
            else "Generate demo data there with `python -m cgviz demo-data --out DIR ...`, "
            "or leave data_dir unset to use the bundled demos."
        )
        raise CgvizError(f"No demo manifest at {path}.", hint=hint)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CgvizError(f"The demo manifest {path} is unreadable ({exc}).",
                         hint="Regenerate the data, or restore the file from git.") from exc
    if manifest.get("format") != "cgviz-demo-manifest":
        raise CgvizError(f"{path} is not a cgviz demo manifest.")
    return manifest


def _write_manifest_entry(data_dir: Path, entry: dict[str, Any]) -> None:
    path = data_dir / MANIFEST_NAME
    manifest = (
        _read_manifest(data_dir)
        if path.exists()
        else {"format": "cgviz-demo-manifest", "version": 1, "demos": {}}
    )
    manifest["demos"][entry["name"]] = entry
    manifest["demos"] = dict(sorted(manifest["demos"].items()))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, path)


def _info_from_entry(entry: dict[str, Any]) -> DemoInfo:
    known = {f for f in DemoInfo.__dataclass_fields__}
    kwargs = {k: v for k, v in entry.items() if k in known}
    kwargs["trajectories"] = tuple(kwargs["trajectories"])
    kwargs["n_frames"] = tuple(kwargs["n_frames"])
    return DemoInfo(**kwargs)


def list_demos(data_dir: str | Path | None = None) -> list[DemoInfo]:
    """The demos in ``data_dir`` (default: the ones bundled with cgviz), sorted by name."""
    manifest = _read_manifest(Path(data_dir) if data_dir else BUNDLED_DATA_DIR)
    return [_info_from_entry(entry) for entry in manifest["demos"].values()]


def demo_info(name: str, data_dir: str | Path | None = None) -> DemoInfo:
    """The manifest entry of one demo; CgvizError listing the known names if absent."""
    demos = {info.name: info for info in list_demos(data_dir)}
    if name not in demos:
        raise CgvizError(f"There is no demo called {name!r}.",
                         hint=f"Known demos: {', '.join(sorted(demos)) or 'none'}.")
    return demos[name]


def demo_paths(name: str, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Absolute paths of a demo's files: {'topology', 'trajectories', 'atom_properties'}."""
    directory = Path(data_dir) if data_dir else BUNDLED_DATA_DIR
    info = demo_info(name, directory)
    return {
        "topology": directory / info.topology,
        "trajectories": [directory / t for t in info.trajectories],
        "atom_properties": directory / info.atom_properties if info.atom_properties else None,
    }


def verify_demo(name: str, data_dir: str | Path | None = None) -> None:
    """Check that each of a demo's files is there and matches its manifest checksum
    (CgvizError with what to do otherwise)."""
    directory = Path(data_dir) if data_dir else BUNDLED_DATA_DIR
    for relative, expected in demo_info(name, directory).checksums.items():
        path = directory / relative
        if not path.exists():
            raise CgvizError(f"Demo file {path} is missing.",
                             hint="Restore it from git or regenerate the demo data.")
        if _sha256(path) != expected:
            raise CgvizError(f"Demo file {path} does not match its checksum (changed or corrupt).",
                             hint="Restore it from git or regenerate the demo data.")


def load_demo(name: str, data_dir: str | Path | None = None, verify: bool = True) -> Demo:
    """Load a demo system: every trajectory, with per-atom types and masses.

    Parameters
    ----------
    name: a name from ``list_demos()`` (e.g. "alanine-dipeptide", "polymer-train").
    data_dir: a directory written by ``python -m cgviz demo-data``; default: the bundled one.
    verify: check each file's SHA-256 against the manifest first (a few ms per MB).
    """
    from cgviz import io

    directory = Path(data_dir) if data_dir else BUNDLED_DATA_DIR
    info = demo_info(name, directory)
    paths = demo_paths(name, directory)
    if verify:
        verify_demo(name, directory)
    trajectories = io.load_trajectory(
        [str(p) for p in paths["trajectories"]], topology=str(paths["topology"]),
        concatenate=False, frame_time_ps=info.frame_time_ps,
    )
    for path, traj, n_frames in zip(paths["trajectories"], trajectories, info.n_frames):
        if traj.n_frames != n_frames:
            raise CgvizError(f"Demo file {path} has {traj.n_frames} frames, the manifest says "
                             f"{n_frames}.", hint="Regenerate the demo data.")
    props = io.atom_properties(trajectories[0].topology, paths["atom_properties"])
    return Demo(info=info, trajectories=trajectories, atom_types=props.type_names,
                masses=props.masses)


# --------------------------------------------------------------------------- generation


def _provenance(seed: int, command: str | None, wall_time_s: float) -> dict[str, Any]:
    import openmm

    from cgviz import __version__

    return {
        "seed": int(seed),
        "generator_version": GENERATOR_VERSION,
        "extra_provenance": {
            "cgviz": __version__,
            "openmm": openmm.version.short_version,
            "command": command,
            "wall_time_s": round(wall_time_s, 1),
            "machine": f"{_platform.machine()}, {os.cpu_count()} CPUs",
            "generated": time.strftime("%Y-%m-%d"),
        },
    }


def generate_polymer(
    out_dir: str | Path,
    name: str,
    n_chains: int,
    n_monomers: int = 50,
    sequence_kind: str = "blocky",
    n_frames: int = 1000,
    seed: int = 0,
    chains_per_system: int = 32,
    equilibration_tau: float = 1500.0,
    platform: str = "CPU",
    progress: ProgressCallback | None = None,
    command: str | None = None,
    box_nm: float | None = None,
) -> DemoInfo:
    """Simulate copolymer chains and write ``<name>.pdb/.xtc/.atoms.json`` + manifest entry.

    With ``box_nm`` all chains are one interacting system in a periodic cubic box (wrapped
    coordinates and the box in every frame; ``extra.periodic`` in the manifest).

    Chains are simulated ``chains_per_system`` at a time as non-interacting copies in one
    OpenMM system. ``sequence_kind`` is "blocky" (training) or "random" (held-out test).
    ``progress(done, total)`` counts equilibration and recorded frames over all batches, in
    frame intervals of MD steps.
    """
    import mdtraj as md

    from cgviz import io
    from cgviz.datasets import polymer

    if sequence_kind not in ("blocky", "random"):
        raise CgvizError(f"sequence_kind must be 'blocky' or 'random', got {sequence_kind!r}.")
    if n_chains < 1 or n_monomers < 2:
        raise CgvizError("Need at least one chain of at least two monomers.")
    if chains_per_system < 1:
        raise CgvizError("chains_per_system must be at least 1.")
    if box_nm is not None and n_chains > chains_per_system:
        raise CgvizError("Interacting chains in a box are one system: give n_chains <= "
                         "chains_per_system.")
    settings = polymer.PolymerSimulationSettings(
        n_frames=n_frames, equilibration_tau=equilibration_tau, platform=platform
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    make = polymer.blocky_sequence if sequence_kind == "blocky" else polymer.random_sequence
    sequences = [make(n_monomers, rng) for _ in range(n_chains)]

    started = time.time()
    batches = [sequences[i : i + chains_per_system] for i in range(0, n_chains, chains_per_system)]
    parts = []
    for b, batch in enumerate(batches):
        def batch_progress(done: int, per_batch: int, _b: int = b) -> None:
            if progress is not None:
                progress(_b * per_batch + done, per_batch * len(batches))

        parts.append(polymer.simulate_chains(batch, settings, seed=seed * 1000 + b,
                                             progress=batch_progress, box_nm=box_nm))
    xyz = np.concatenate(parts, axis=1)
    wall = time.time() - started

    topology = polymer.make_topology(sequences)
    box = {} if box_nm is None else {
        "unitcell_lengths": np.full((n_frames, 3), box_nm, dtype=np.float32),
        "unitcell_angles": np.full((n_frames, 3), 90.0, dtype=np.float32)}
    traj = md.Trajectory(xyz, topology, time=np.arange(n_frames) * settings.frame_time_ps,
                         **box)
    stem = name.replace("-", "_")
    files = {"topology": f"{stem}.pdb", "trajectory": f"{stem}.xtc",
             "atom_properties": f"{stem}.atoms.json"}
    traj[0].save_pdb(str(out / files["topology"]))
    traj.save_xtc(str(out / files["trajectory"]))
    types = polymer.atom_type_names(sequences)
    io.write_atom_properties(out / files["atom_properties"], io.AtomProperties(
        tuple(types), np.full(len(types), polymer.BEAD_MASS_AMU)))
    entry = {
        "name": name,
        "system": "copolymer",
        "description": (
            f"{n_chains} {sequence_kind} A/B copolymer chains of {n_monomers} monomers "
            f"({2 * n_monomers} beads: backbone B1/B2 + side chain S1/S2) in implicit solvent, "
            f"FENE + WCA + type-dependent LJ, Langevin at 300 K; one chain per mdtraj chain, "
            + ("chains do not interact with each other." if box_nm is None else
               f"chains interact in a periodic {box_nm:g} nm cubic box (coordinates "
               "wrapped into the box, as MD engines write them).")
        ),
        "topology": files["topology"],
        "trajectories": [files["trajectory"]],
        "atom_properties": files["atom_properties"],
        "n_atoms": int(traj.n_atoms),
        "n_frames": [int(n_frames)],
        "frame_time_ps": float(settings.frame_time_ps),
        "n_molecules": n_chains,
        "extra": {
            "sequences": sequences,
            "sequence_kind": sequence_kind,
            "units": {"sigma_nm": polymer.SIGMA_NM, "bead_mass_amu": polymer.BEAD_MASS_AMU,
                      "tau_ps": polymer.TAU_PS, "temperature_K": polymer.TEMPERATURE_K},
            "bead_epsilon_kT": polymer.BEAD_EPSILON_KT,
            "time_step_tau": settings.time_step_tau,
            "frame_interval_tau": settings.frame_interval_tau,
            "equilibration_tau": settings.equilibration_tau,
            "platform": platform,
            **({} if box_nm is None else {"periodic": True, "box_nm": float(box_nm)}),
        },
    }
    return _finish_entry(out, entry, files.values(), seed, command, wall)


def generate_alanine(
    out_dir: str | Path,
    name: str = "alanine-dipeptide",
    n_trajectories: int = 4,
    n_frames: int = 10_000,
    frame_interval_ps: float = 1.0,
    seed: int = 0,
    solvent: str = "obc2",
    platform: str = "Reference",
    progress: ProgressCallback | None = None,
    command: str | None = None,
    temperature_K: float = 300.0,  # noqa: N803 (the unit in the name)
) -> DemoInfo:
    """Simulate independent alanine dipeptide trajectories; write PDB + one XTC each."""
    import mdtraj as md

    from cgviz.datasets import alanine

    if n_trajectories < 1:
        raise CgvizError("n_trajectories must be at least 1.")
    settings = alanine.AlanineSimulationSettings(
        n_frames=n_frames, frame_interval_ps=frame_interval_ps, platform=platform,
        solvent=solvent, temperature_K=float(temperature_K),
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    stem = name.replace("-", "_")
    files = [f"{stem}.pdb"]
    topology = None
    total = n_frames * n_trajectories
    for i in range(n_trajectories):
        def traj_progress(done: int, _n: int, _i: int = i) -> None:
            if progress is not None:
                progress(_i * n_frames + done, total)

        omm_topology, frames = alanine.simulate(settings, seed=seed * 1000 + i,
                                                progress=traj_progress)
        topology = md.Topology.from_openmm(omm_topology)
        traj = md.Trajectory(frames, topology, time=np.arange(n_frames) * frame_interval_ps)
        if i == 0:
            traj[0].save_pdb(str(out / files[0]))
        files.append(f"{stem}_{i:02d}.xtc")
        traj.save_xtc(str(out / files[-1]))
    wall = time.time() - started
    entry = {
        "name": name,
        "system": "alanine-dipeptide",
        "description": (
            f"{n_trajectories} independent trajectories of ACE-ALA-NME (L-alanine, 22 atoms), "
            f"amber14, {solvent}, Langevin {temperature_K:g} K (1/ps), 2 fs steps with H-bond "
            f"constraints, "
            f"a frame every {frame_interval_ps:g} ps."
        ),
        "topology": files[0],
        "trajectories": files[1:],
        "atom_properties": None,
        "n_atoms": int(topology.n_atoms),
        "n_frames": [int(n_frames)] * n_trajectories,
        "frame_time_ps": float(frame_interval_ps),
        "n_molecules": 1,
        "extra": {"solvent": solvent, "forcefield": "amber14-all", "platform": platform,
                  "temperature_K": float(temperature_K), "time_step_fs": alanine.TIME_STEP_FS},
    }
    return _finish_entry(out, entry, files, seed, command, wall)


def _finish_entry(out: Path, entry: dict[str, Any], files, seed: int, command: str | None,
                  wall: float) -> DemoInfo:
    prov = _provenance(seed, command, wall)
    entry["seed"] = prov["seed"]
    entry["generator_version"] = prov["generator_version"]
    entry["extra"]["provenance"] = prov["extra_provenance"]
    entry["checksums"] = {f: _sha256(out / f) for f in files if f}
    _write_manifest_entry(out, entry)
    write_preview(out, entry["name"])
    return _info_from_entry(entry)


#: What ``python -m cgviz demo-data bundle`` makes (the files shipped in cgviz/datasets/data)
#: and ``--preset paper`` (a paper-scale polymer set: 100 training and 40 test chains of
#: 10,000 frames; hours on 2 cores, use a machine with more cores or run overnight).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "bundle": {
        "polymer-train": dict(kind="polymer", n_chains=24, sequence_kind="blocky",
                              n_frames=1000, seed=1),
        "polymer-test": dict(kind="polymer", n_chains=12, sequence_kind="random",
                             n_frames=1000, seed=2),
        # the multi-component case: interacting chains in a periodic box
        "polymer-box": dict(kind="polymer", n_chains=8, n_monomers=20, sequence_kind="blocky",
                            n_frames=600, seed=5, box_nm=6.0, equilibration_tau=500.0),
        "alanine-dipeptide": dict(kind="alanine", n_trajectories=4, n_frames=10_000, seed=3),
        # hot, so that the rare phi flip (to alpha_L / C7ax) is sampled often enough to be
        # the slowest process a CV method must find (at 300 K: 5 brief visits in 40 ns)
        "alanine-dipeptide-450k": dict(kind="alanine", n_trajectories=4, n_frames=5_000,
                                       frame_interval_ps=2.0, seed=4, temperature_K=450.0),
    },
    "paper": {
        "polymer-train": dict(kind="polymer", n_chains=100, sequence_kind="blocky",
                              n_frames=10_000, seed=1),
        "polymer-test": dict(kind="polymer", n_chains=40, sequence_kind="random",
                             n_frames=10_000, seed=2),
        "alanine-dipeptide": dict(kind="alanine", n_trajectories=10, n_frames=100_000, seed=3),
    },
    "tiny": {
        "polymer-train": dict(kind="polymer", n_chains=2, n_monomers=10, sequence_kind="blocky",
                              n_frames=20, seed=1, equilibration_tau=10.0),
        "polymer-test": dict(kind="polymer", n_chains=2, n_monomers=10, sequence_kind="random",
                             n_frames=20, seed=2, equilibration_tau=10.0),
        "alanine-dipeptide": dict(kind="alanine", n_trajectories=2, n_frames=50, seed=3),
    },
}


def generate_preset(out_dir: str | Path, preset: str, progress_factory=None,
                    command: str | None = None, only: list[str] | None = None) -> list[DemoInfo]:
    """Generate every demo of a preset ("bundle", "paper" or "tiny") into ``out_dir``.

    ``progress_factory(name, total)`` may return a progress(done, total) callback per demo.
    """
    if preset not in PRESETS:
        raise CgvizError(f"Unknown preset {preset!r}.", hint=f"Choose one of {sorted(PRESETS)}.")
    infos = []
    for name, spec in PRESETS[preset].items():
        if only and name not in only:
            continue
        spec = dict(spec)
        kind = spec.pop("kind")
        progress = progress_factory(name) if progress_factory else None
        if kind == "polymer":
            infos.append(generate_polymer(out_dir, name, progress=progress, command=command,
                                          **spec))
        else:
            infos.append(generate_alanine(out_dir, name, progress=progress, command=command,
                                          **spec))
    return infos
