"""Your own system, judged: alanine dipeptide (flagship) and a periodic box of chains.

Alanine dipeptide at 450 K (the bundled demo: 4 runs x 5,000 frames of 2 ps): heavy atoms
(10) into 5 METIS beads, a model step of 5 saved frames (10 ps); trained on runs 0-1 (run 2
validation), judged on run 3, never seen. A rollout of ``--steps`` model steps (default
10^4 = 100 ns) from the start of run 3 against run 3's MD, both at bead level:

* JS divergence of every bead-pair distance and every CG bond angle distribution;
* the slow time scale: ``cgviz.simulator.compare.rollout_msm``: TICA on the bead-pair
  distances (fitted on the MD), k-means into 30 states (on the MD), reversible MSMs of the
  MD and of an equally long part of the rollout on those states; their slowest implied
  time scale at the same lag with 95 % block-bootstrap intervals, and the ratio (goal:
  within 2x), plus the CK test of the MD's MSM;
* stability: steps done before any blow-up;
* speed: simulated ns per wall second of ``--batch`` copies rolled out in one batch (how
  the method is used), and of one copy alone, against OpenMM on the same molecule
  (amber14, OBC2, 2 fs, all 22 atoms, the faster of the Reference and CPU platforms),
  measured in this run (goal: >= 100x on 2 cores).

Periodic box (the bundled polymer-box: 8 interacting chains in a 6 nm box, 600 frames of
15.8 ps): trained on the first 80 % of frames, rolled out from the test block's start for
``--box-steps`` steps; does the model keep the chains apart and the local density? Compared
with the MD: inter-chain collisions (beads of different chains closer than half a bond),
the inter-chain bead-bead pair distribution g(r) up to 1.5 nm (minimum image; JS), the mean
number of other-chain beads within 1 nm of a bead, and the chain Rg.

Prints the tables; ``--markdown docs/evaluation.md`` writes them there. About 20-40 min
on 2 cores (two trainings of ``--train-steps``).

    python benchmarks/own_system_quality.py [--train-steps 1500] [--steps 10000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import machine, table, write_section  # noqa: E402


def train(system, steps: int, atoms_per_bead: float, runs_dir: Path, name: str):
    """Train the cpu-demo preset on ``system`` through the jobs driver; (model, meta)."""
    from cgviz import jobs
    from cgviz.simulator.model import load_simulator
    from cgviz.training.config import SimulatorTrainingConfig, preset

    config = SimulatorTrainingConfig.from_dict(
        preset("cpu-demo").to_dict() | {"max_steps": steps, "atoms_per_bead": atoms_per_bead,
                                        "validate_every": max(50, steps // 5),
                                        "system": system.to_dict()})
    target = jobs.create(jobs.RunSpec(task="simulator", config=config.to_dict(),
                                      checkpoint_every=max(50, steps // 5)),
                         runs_dir=runs_dir, name=name)
    started = time.perf_counter()
    code = jobs.drive(target)
    if code != 0:
        raise SystemExit(jobs.read_log(name, runs_dir)[-3000:])
    print(f"[{name}] trained {steps} steps in {time.perf_counter() - started:.0f} s",
          flush=True)
    return load_simulator(target / "checkpoints" / "last.pt")


def openmm_alanine_ns_per_second(seconds: float = 8.0) -> tuple[float, str]:
    import openmm
    from openmm import unit

    from cgviz.datasets import alanine

    topology, start = alanine.build_structure()
    best, best_platform = 0.0, ""
    for platform in ("Reference", "CPU"):
        system = alanine._create_system(topology, "obc2")
        integrator = openmm.LangevinMiddleIntegrator(450 * unit.kelvin, 1 / unit.picosecond,
                                                     2 * unit.femtosecond)
        context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform))
        context.setPositions(start * unit.nanometer)
        integrator.step(500)
        steps, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            integrator.step(1000)  # one saved frame of the demo (2 ps)
            context.getState(getPositions=True)
            steps += 1000
        rate = steps * 2e-6 / (time.perf_counter() - began)
        if rate > best:
            best, best_platform = rate, platform
    return best, best_platform


def alanine_case(args, runs_dir: Path) -> tuple[str, list]:
    from cgviz import analysis, datasets, system
    from cgviz.simulator.compare import rollout_msm
    from cgviz.simulator.evaluate import held_out_systems
    from cgviz.simulator.rollout import rollout

    paths = datasets.demo_paths("alanine-dipeptide-450k")
    ala = system.load(paths["trajectories"], paths["topology"], selection="not element H",
                      stride=args.stride,
                      split={"by": "trajectory", "validation": 0.25, "test": 0.25})
    model, meta = train(ala, args.train_steps, 2.0, runs_dir, "alanine")
    held = held_out_systems(meta, ala)
    test = held.systems[0]
    reference = test.positions
    pairs = analysis.atom_pairs(test.n_beads)
    triples = analysis.angle_triples_from_bonds(test.bead_bonds, test.n_beads)
    measured = {}
    for refine in (0, args.refine):
        result = rollout(model, [test], args.steps, seed=0, refine_steps=refine)
        generated = result.generated(0)
        distance_js = [analysis.distribution_js(
            analysis.pairwise_distances(reference, [p]).ravel(),
            analysis.pairwise_distances(generated, [p]).ravel()) for p in pairs]
        angle_js = [analysis.distribution_js(
            analysis.compute_bond_angles(reference, [t]).ravel(),
            analysis.compute_bond_angles(generated, [t]).ravel()) for t in triples]
        n = min(len(reference), len(generated))  # equal lengths: like with like
        msms = {lag: rollout_msm(reference[:n], generated[:n], lag, result.frame_time_ps)
                for lag in args.msm_lags}
        measured[refine] = (result, distance_js, angle_js, msms)
    openmm_rate, platform = openmm_alanine_ns_per_second()
    # Speed as the method is used: many independent copies in one batch (no refinement),
    # on every core (the training driver leaves torch on one thread).
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    batch = rollout(model, [test] * args.batch, args.speed_steps, seed=1)
    speed = batch.simulated_ns_per_wall_second
    plain, refined = measured[0], measured[args.refine]

    def timescale(msm):
        value, low, high = msm.timescale(0)
        return f"{value:,.0f} ps ({low:,.0f}-{high:,.0f})"

    def ratio(comparison):
        return (f"{comparison.ratio:.2f} ({comparison.ratio_lower:.2f}-"
                f"{comparison.ratio_upper:.2f})")

    def both(fmt, index):
        return f"{fmt(plain[index])} / {fmt(refined[index])}"

    result = plain[0]
    rows = [
        ["system", f"alanine dipeptide 450 K, 10 heavy atoms -> {test.n_beads} beads, "
                   f"model step {result.frame_time_ps:g} ps", ""],
        ["judged on", f"{held.description}: {test.name} ({len(reference):,} MD frames)", ""],
        ["steps done (unrefined / refined)",
         f"{plain[0].n_steps_completed:,} / {refined[0].n_steps_completed:,} of "
         f"{args.steps:,}", "no blow-up"],
        ["bead-pair distance JS, mean (unrefined / refined)",
         both(lambda v: f"{np.mean(v):.3f}", 1) + " nats", "small"],
        ["CG bond angle JS, mean (unrefined / refined)",
         both(lambda v: f"{np.mean(v):.3f}", 2) + " nats", "small"],
        *[[f"slowest MSM time scale, lag {lag} steps ({lag * result.frame_time_ps:g} ps), "
           "95 % intervals (unrefined / refined)",
           f"MD {timescale(plain[3][lag].reference)}; model {timescale(plain[3][lag].model)}"
           f" / {timescale(refined[3][lag].model)}; ratio {ratio(plain[3][lag])} / "
           f"{ratio(refined[3][lag])}", "within 2x"] for lag in args.msm_lags],
        *[[f"CK test of the MD's MSM at lag {lag} steps (entries outside the intervals)",
           f"{plain[3][lag].reference.ck.outside_fraction:.0%}", "small"]
          for lag in args.msm_lags],
        [f"speed, {args.batch} copies in a batch", f"{speed:.2f} simulated ns/s (one copy "
         f"alone: {result.simulated_ns_per_wall_second:.3f}) vs OpenMM {openmm_rate:.3f} "
         f"ns/s ({platform}, 22 atoms): {speed / openmm_rate:,.0f}x", ">= 100x"],
    ]
    return table(["alanine dipeptide", "result", "goal"], rows), [
        plain[3][lag].ratio for lag in args.msm_lags]


def _interchain(xyz: np.ndarray, chain: np.ndarray, box: np.ndarray, r_max: float = 1.5,
                bins: int = 30):
    """Inter-chain pair-distance histogram (counts), mean neighbours within 1 nm."""
    edges = np.linspace(0, r_max, bins + 1)
    other = chain[:, None] != chain[None, :]
    iu = np.triu_indices(len(chain), 1)
    mask = other[iu]
    counts = np.zeros(bins)
    neighbours, collisions = [], []
    for frame, lengths in zip(xyz, box):
        d = frame[:, None, :] - frame[None, :, :]
        d -= lengths * np.round(d / lengths)
        r = np.linalg.norm(d, axis=-1)
        counts += np.histogram(r[iu][mask], bins=edges)[0]
        neighbours.append(((r < 1.0) & other).sum(axis=1).mean())
        collisions.append(r[iu][mask].min())
    return counts, float(np.mean(neighbours)), np.asarray(collisions)


def box_case(args, runs_dir: Path) -> str:
    from cgviz import analysis, system
    from cgviz.simulator.compare import mean_bond_length
    from cgviz.simulator.evaluate import held_out_systems
    from cgviz.simulator.rollout import rollout

    boxed = system.from_demo("polymer-box")
    model, meta = train(boxed, args.train_steps, 4.0, runs_dir, "box")
    held = held_out_systems(meta, boxed)
    test = held.systems[0]
    k = model.config.history_length
    reference = test.positions[k:]
    bonds = test.bead_bonds
    chain = np.asarray(analysis_chain_labels(test.n_beads, bonds))
    bond = mean_bond_length(test.positions, bonds)
    box = np.repeat(test.box[k - 1][None], args.box_steps + len(reference), axis=0)
    ref_counts, ref_neighbours, ref_min = _interchain(reference, chain, box)

    def chain_rg(xyz):
        return float(np.mean([analysis.compute_rg(xyz[:, chain == c],
                                                  test.bead_masses[chain == c]).mean()
                              for c in np.unique(chain)]))

    models = {}
    for refine in (0, args.refine):
        result = rollout(model, [test], args.box_steps, seed=0, refine_steps=refine)
        generated = result.generated(0)
        counts, neighbours, minimum = _interchain(generated, chain, box)
        models[refine] = (result, np.mean(minimum < 0.5 * bond), neighbours,
                          analysis.jensen_shannon_divergence(ref_counts + 1e-9, counts + 1e-9),
                          chain_rg(generated))
    plain, refined = models[0], models[args.refine]
    rows = [
        ["system", f"polymer-box: {len(np.unique(chain))} chains, {test.n_beads} beads, "
                   f"{test.box[0][0]:g} nm box, model step {plain[0].frame_time_ps:.1f} ps", ""],
        ["judged on", f"{held.description}: {len(reference)} MD frames; rollouts of "
                      f"{plain[0].n_steps_completed} / {refined[0].n_steps_completed} steps "
                      "(unrefined / refined)", ""],
        ["inter-chain collisions (< half a bond)",
         f"MD {np.mean(ref_min < 0.5 * bond):.1%}; model {plain[1]:.1%} / {refined[1]:.1%}",
         "as MD"],
        ["other-chain beads within 1 nm",
         f"MD {ref_neighbours:.2f}; model {plain[2]:.2f} / {refined[2]:.2f}", "as MD"],
        ["inter-chain g(r) JS (0-1.5 nm)", f"{plain[3]:.3f} / {refined[3]:.3f} nats", "small"],
        ["mean chain Rg", f"MD {chain_rg(reference):.3f} nm; model {plain[4]:.3f} / "
                          f"{refined[4]:.3f} nm", "as MD"],
    ]
    return table(["periodic box", "result", "goal"], rows)


def analysis_chain_labels(n_beads: int, bonds: np.ndarray) -> np.ndarray:
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    bonds = np.asarray(bonds).reshape(-1, 2)
    graph = sparse.coo_matrix((np.ones(len(bonds)), (bonds[:, 0], bonds[:, 1])),
                              shape=(n_beads, n_beads))
    return connected_components(graph, directed=False)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=1500)
    parser.add_argument("--steps", type=int, default=10_000, help="alanine rollout steps")
    parser.add_argument("--box-steps", type=int, default=500)
    parser.add_argument("--msm-lags", type=int, nargs="+", default=[2, 5],
                        help="MSM lags, model steps (a row each)")
    parser.add_argument("--stride", type=int, default=5,
                        help="alanine: model step = stride x 2 ps (default 10 ps)")
    parser.add_argument("--batch", type=int, default=64, help="copies in the speed batch")
    parser.add_argument("--refine", type=int, default=3,
                        help="Langevin refinement steps per noise level of the refined rows")
    parser.add_argument("--speed-steps", type=int, default=200)
    parser.add_argument("--only", choices=["alanine", "box"])
    parser.add_argument("--markdown", help="write the tables into this docs page")
    args = parser.parse_args()
    tables = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "alanine"):
            tables["alanine"], _ = alanine_case(args, Path(tmp))
            print(tables["alanine"], flush=True)
        if args.only in (None, "box"):
            tables["box"] = box_case(args, Path(tmp))
            print(tables["box"], flush=True)
    titles = {"alanine": "Your own system: alanine dipeptide (flagship)",
              "box": "Your own system: a periodic box of interacting chains"}
    for name, body in tables.items():
        body += (f"\n\ncpu-demo preset, {args.train_steps} training steps. Machine: "
                 f"{machine()}. `python benchmarks/own_system_quality.py --only {name} "
                 f"--train-steps {args.train_steps}"
                 + (f" --steps {args.steps}`." if name == "alanine" else
                    f" --box-steps {args.box_steps}`."))
        if args.markdown:
            write_section(args.markdown, f"own_system_{name}", titles[name], body)


if __name__ == "__main__":
    main()
