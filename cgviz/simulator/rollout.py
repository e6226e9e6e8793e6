"""Rollouts: run a trained CGSimulator forward for many systems at once (docs/science.md 1.4)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from cgviz.errors import CgvizError


def bead_chain_topology(n_beads: int, bonds, bead_types: Sequence[str] | None = None):
    """An md.Topology of ``n_beads`` virtual-site beads joined by ``bonds``: one chain per
    bonded molecule, one residue "CG" per bead (resSeq = bead index + 1).

    Atom names are the bead types from the mapping when each has at most 4 characters
    (e.g. "B1", "S2"), else "B<k>" with k the type's index in the sorted list of types
    (as ``CGMapping.bead_topology`` names them); without types, "CG<i>"."""
    import mdtraj as md
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    n_beads = int(n_beads)
    pairs = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
    if bead_types is not None and len(bead_types) == n_beads:
        vocabulary = sorted(set(bead_types))
        short = ({t: t for t in vocabulary} if all(len(t) <= 4 for t in vocabulary)
                 else {t: f"B{k}"[:4] for k, t in enumerate(vocabulary)})
        names = [short[t] for t in bead_types]
    else:
        names = [f"CG{i}" for i in range(n_beads)]
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                              shape=(n_beads, n_beads))
    _, molecule = connected_components(graph, directed=False)
    topology = md.Topology()
    chains: dict[int, object] = {}
    atoms = []
    for i in range(n_beads):
        key = int(molecule[i])
        if key not in chains:
            chains[key] = topology.add_chain()
        atoms.append(topology.add_atom(names[i], md.element.virtual_site,
                                       topology.add_residue("CG", chains[key], resSeq=i + 1)))
    for a, b in pairs.tolist():
        topology.add_bond(atoms[a], atoms[b])
    return topology


@dataclass(frozen=True)
class Rollout:
    """The result of :func:`rollout`.

    Attributes
    ----------
    names: one name per system.
    positions: per system (n_frames, n_beads, 3) float32 nm: the history_length start frames
        followed by the generated ones (n_frames = history_length + n_steps_completed).
    bead_bonds: per system (n_bonds, 2) CG bonds (for topologies and analysis).
    bead_masses: per system (n_beads,) amu.
    frame_time_ps: one model step, ps.
    history_length: the number of start frames at the front of ``positions``.
    n_steps_requested, n_steps_completed: model steps asked for and done.
    stop_reason: None if every step was done, else why the rollout stopped.
    wall_time_s: seconds spent stepping.
    bead_types: per system the mapping's bead types (or None), for written files.
    boxes: per system the (3,) periodic box the rollout ran in (or None).
    """

    names: tuple[str, ...]
    positions: tuple[np.ndarray, ...]
    bead_bonds: tuple[np.ndarray, ...]
    bead_masses: tuple[np.ndarray, ...]
    frame_time_ps: float
    history_length: int
    n_steps_requested: int
    n_steps_completed: int
    stop_reason: str | None
    wall_time_s: float
    bead_types: tuple = ()
    boxes: tuple = ()

    @property
    def n_systems(self) -> int:
        return len(self.names)

    @property
    def simulated_ns_per_wall_second(self) -> float:
        """Simulated time per wall-clock second, summed over the systems in the batch."""
        simulated = self.n_steps_completed * self.frame_time_ps * 1e-3 * self.n_systems
        return simulated / self.wall_time_s if self.wall_time_s > 0 else float("nan")

    def generated(self, system: int) -> np.ndarray:
        """Only the generated frames of one system (n_steps_completed, n_beads, 3)."""
        return self.positions[system][self.history_length:]

    def to_mdtraj(self, system: int = 0, include_start: bool = True):
        """One system as an md.Trajectory with a bead topology (virtual-site beads, CG bonds)."""
        import mdtraj as md

        xyz = self.positions[system] if include_start else self.generated(system)
        types = self.bead_types[system] if system < len(self.bead_types) else None
        topology = bead_chain_topology(xyz.shape[1], self.bead_bonds[system], types)
        box = self.boxes[system] if system < len(self.boxes) else None
        cell = {} if box is None else {
            "unitcell_lengths": np.tile(np.asarray(box, np.float32), (len(xyz), 1)),
            "unitcell_angles": np.full((len(xyz), 3), 90.0, dtype=np.float32)}
        first = 0 if include_start else 1
        return md.Trajectory(xyz, topology, time=(np.arange(len(xyz)) + first)
                             * self.frame_time_ps, **cell)

    def save(self, system: int, trajectory_path: str | Path, topology_path: str | Path | None = None
             ) -> None:
        """Write one system's rollout as XTC (or any mdtraj format) and its first frame as PDB."""
        traj = self.to_mdtraj(system)
        traj.save(str(trajectory_path))
        if topology_path is not None:
            traj[0].save_pdb(str(topology_path))


def rollout(model, systems: Sequence, n_steps: int, seed: int = 0,
            start_frames: Sequence[int] | None = None, stochastic: bool = True,
            refine_steps: int = 0, refine_epsilon: float | None = None, device: str = "cpu",
            progress: Callable[[int, int], None] | None = None,
            refine_levels: int | None = None,
            blowup_factor: float = 25.0, should_stop: Callable[[], bool] | None = None
            ) -> Rollout:
    """Roll a batch of systems forward by ``n_steps`` model steps.

    Parameters
    ----------
    model: a CGSimulator (moved to ``device`` here).
    systems: BeadSystems; each needs ``history_length`` frames at its start frame.
    n_steps: model steps to take (one step = one frame of the training data).
    seed: seeds every random draw (same seed, same device -> same rollout).
    start_frames: per system, the index of the last history frame (default: the first
        possible, history_length - 1).
    stochastic: sample a ~ N(mu, sigma) (True) or take mu (False).
    refine_steps: annealed-Langevin steps per noise level after each step (0 = off).
    refine_epsilon: step-size factor, eta_i = refine_epsilon * s_i^2 (s_i in nm); default
        ``model.REFINE_EPSILON``, chosen with 7 steps per level on validation frames
        (docs/evaluation.md, benchmarks/refinement_tuning.py).
    refine_levels: how many of the smallest noise levels refinement uses (default
        ``model.default_refine_levels``: the lower 60 %).
    progress: called as progress(steps_done, n_steps) now and then.
    blowup_factor: stop when a bead moves more than this many velocity scales in one step.
    should_stop: polled every step; returning True stops the rollout (reason "stopped").
    """
    import torch

    from cgviz.simulator.data import collate_systems

    if n_steps < 1:
        raise CgvizError(f"n_steps must be at least 1, got {n_steps}.",
                         hint="Ask for one or more model steps.")
    if not systems:
        raise CgvizError("A rollout needs at least one system.")
    k = model.config.history_length
    if start_frames is None:
        start_frames = [k - 1] * len(systems)
    if len(start_frames) != len(systems):
        raise CgvizError("Give one start frame per system.")
    histories, boxes = [], []
    for system, start in zip(systems, start_frames):
        if not k - 1 <= start < system.n_frames:
            raise CgvizError(
                f"{system.name}: start frame {start} needs {k} frames of history "
                f"(valid: {k - 1}..{system.n_frames - 1}).",
                hint="Pick a later start frame or a model with a shorter history.")
        histories.append(system.positions[start - k + 1 : start + 1])
        boxes.append(None if system.box is None else system.box[start])
    # A periodic system keeps the box of its last history frame (constant volume).
    batch = collate_systems(list(systems), histories,
                            boxes if all(b is not None for b in boxes) else None).to(device)
    model = model.to(device).eval()
    generator = torch.Generator().manual_seed(int(seed))
    offsets = np.cumsum([0] + [s.n_beads for s in systems])
    total = int(offsets[-1])
    frames = np.empty((k + n_steps, total, 3), dtype=np.float32)
    frames[:k] = batch.positions.cpu().numpy()
    history = batch.positions.clone()
    limit = blowup_factor * float(model.velocity_scale)
    stop_reason, done = None, 0
    started = time.perf_counter()
    with torch.inference_mode():
        embeddings = model.bead_embeddings(batch)
        for step in range(n_steps):
            if should_stop is not None and should_stop():
                stop_reason = f"stopped on request after {step} steps"
                break
            out = model.step(embeddings, history, batch, stochastic=stochastic,
                             generator=generator, refine_steps=refine_steps,
                             refine_epsilon=refine_epsilon, refine_levels=refine_levels)
            x = out.positions
            if not torch.isfinite(x).all():
                stop_reason = f"non-finite positions at step {step + 1}"
                break
            jump = float((x - history[-1]).norm(dim=-1).max())
            if jump > limit:
                stop_reason = (f"blow-up at step {step + 1}: a bead moved {jump:.2f} nm in one "
                               f"step (limit {limit:.2f} nm)")
                break
            history = torch.cat([history[1:], x[None]], dim=0)
            frames[k + step] = x.cpu().numpy()
            done = step + 1
            if progress is not None and (done % 10 == 0 or done == n_steps):
                progress(done, n_steps)
    wall = time.perf_counter() - started
    frames = frames[: k + done]
    return Rollout(
        names=tuple(s.name for s in systems),
        positions=tuple(np.ascontiguousarray(frames[:, offsets[i] : offsets[i + 1]])
                        for i in range(len(systems))),
        bead_bonds=tuple(np.asarray(s.bead_bonds) for s in systems),
        bead_masses=tuple(np.asarray(s.bead_masses) for s in systems),
        frame_time_ps=float(systems[0].frame_time_ps),
        history_length=k,
        n_steps_requested=int(n_steps),
        n_steps_completed=done,
        stop_reason=stop_reason,
        wall_time_s=wall,
        bead_types=tuple(getattr(s, "bead_types", None) for s in systems),
        boxes=tuple(boxes),
    )


def write_rollout(result: Rollout, out_dir: str | Path) -> dict:
    """Write a rollout for mdtraj, VMD, nglview: per system ``system_NNN.pdb`` (bead
    topology with the mapping's names and CG bonds, first model frame, box),
    ``system_NNN_start.xtc`` (the MD history frames the model started from),
    ``system_NNN.xtc`` (only the model's frames; the first is one model step after the
    last start frame) and ``system_NNN.atoms.json`` (bead types and masses), plus
    ``rollout.json`` describing them. Returns that description."""
    import json

    from cgviz import io

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CgvizError(f"Cannot create the output folder '{out}' ({error.strerror}).",
                         hint="Pick a folder you can write to.") from None
    entries = []
    for i in range(result.n_systems):
        stem = f"system_{i:03d}"
        full = result.to_mdtraj(i, include_start=True)
        start, generated = full[: result.history_length], full[result.history_length:]
        generated.time = np.arange(1, generated.n_frames + 1) * result.frame_time_ps
        first = generated[0] if generated.n_frames else start[-1]
        first.save_pdb(str(out / f"{stem}.pdb"))
        start.save_xtc(str(out / f"{stem}_start.xtc"))
        if generated.n_frames:
            generated.save_xtc(str(out / f"{stem}.xtc"))
        types = result.bead_types[i] if i < len(result.bead_types) else None
        io.write_atom_properties(out / f"{stem}.atoms.json", io.AtomProperties(
            tuple(types) if types else tuple(a.name for a in full.topology.atoms),
            np.asarray(result.bead_masses[i], dtype=np.float64)))
        entries.append({"name": result.names[i], "topology": f"{stem}.pdb",
                        "start_frames": f"{stem}_start.xtc",
                        "model_frames": f"{stem}.xtc" if generated.n_frames else None,
                        "atom_properties": f"{stem}.atoms.json",
                        "n_beads": int(full.n_atoms), "n_model_frames": int(generated.n_frames)})
    description = {
        "format": "cgviz-rollout", "version": 1,
        "frame_time_ps": result.frame_time_ps, "history_length": result.history_length,
        "n_steps_requested": result.n_steps_requested,
        "n_steps_completed": result.n_steps_completed, "stop_reason": result.stop_reason,
        "simulated_ns_per_wall_second": result.simulated_ns_per_wall_second,
        "note": "<stem>_start.xtc holds the reference MD frames the model started from; "
                "<stem>.xtc holds only the model's frames, frame j at time (j + 1) x "
                "frame_time_ps after the last start frame.",
        "systems": entries,
    }
    (out / "rollout.json").write_text(json.dumps(description, indent=1) + "\n")
    return description
