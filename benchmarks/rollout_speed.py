"""Learned simulator vs OpenMM on the same copolymer chains, measured in one run.

For 1, 16 and 64 chains in a batch: simulated nanoseconds per wall-clock second of the
bundled cpu-demo simulator (one step = 5 tau = 15.8 ps), without and with annealed-Langevin
refinement; and of OpenMM integrating the same chains at the fine level (100 beads each,
dt = 0.01 tau, non-interacting copies in one system, CPU platform); and the ratio.
Prints one table. Target: >= 100x at 64 chains on 2 CPU cores.

    python benchmarks/rollout_speed.py [--checkpoint PATH] [--steps 60] [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def openmm_ns_per_second(sequences, seconds: float) -> float:
    import openmm
    from openmm import unit

    from cgviz.datasets import polymer

    system, *_ = polymer.build_system(sequences)
    rng = np.random.default_rng(0)
    coils = [polymer._random_coil(len(s), rng) + 60.0 * i for i, s in enumerate(sequences)]
    dt_ps = polymer.TIME_STEP_TAU * polymer.TAU_PS
    integrator = openmm.LangevinMiddleIntegrator(polymer.TEMPERATURE_K, 1 / polymer.TAU_PS, dt_ps)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"))
    context.setPositions(np.concatenate(coils) * polymer.SIGMA_NM * unit.nanometer)
    openmm.LocalEnergyMinimizer.minimize(context, 1.0, 500)
    integrator.step(500)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        integrator.step(500)  # one model step's worth of MD steps
        context.getState(getPositions=True)
        steps += 500
    per_chain = steps / (time.perf_counter() - started) * dt_ps / 1000.0
    return per_chain * len(sequences)


def main() -> None:
    import torch

    from cgviz import datasets
    from cgviz.simulator import evaluate
    from cgviz.simulator.model import load_simulator
    from cgviz.simulator.rollout import rollout

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(datasets.BUNDLED_DATA_DIR / "simulator_cpu_demo.pt"))
    parser.add_argument("--steps", type=int, default=60, help="model steps per measurement")
    parser.add_argument("--seconds", type=float, default=5.0, help="OpenMM timing window")
    args = parser.parse_args()

    model, meta = load_simulator(args.checkpoint)
    pool = evaluate.test_systems_for(meta, "polymer-test")
    sequences = datasets.demo_info("polymer-test").extra["sequences"]
    rows = []
    for n_chains in (1, 16, 64):
        systems = [pool[i % len(pool)] for i in range(n_chains)]
        learned = {}
        for refine in (0, 2):
            rollout(model, systems, 3, seed=0, refine_steps=refine)  # warm up
            result = rollout(model, systems, args.steps, seed=0, refine_steps=refine,
                             blowup_factor=1e9)
            learned[refine] = result.simulated_ns_per_wall_second
        reference = openmm_ns_per_second([sequences[i % len(sequences)] for i in range(n_chains)],
                                         args.seconds)
        rows.append((n_chains, learned[0], learned[2], reference))
    print(f"{'chains':>6s} {'learned ns/s':>13s} {'+refine ns/s':>13s} {'OpenMM ns/s':>12s} "
          f"{'ratio':>7s} {'ratio refined':>14s}")
    for n, plain, refined, reference in rows:
        print(f"{n:6d} {plain:13.2f} {refined:13.2f} {reference:12.3f} {plain / reference:7.1f} "
              f"{refined / reference:14.1f}")
    print(f"(torch threads {torch.get_num_threads()}; one model step = 500 MD steps = 15.8 ps)")


if __name__ == "__main__":
    main()
